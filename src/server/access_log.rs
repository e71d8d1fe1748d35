//! `--access-log PATH`: one JSON object a line per request, written and flushed as each
//! request is answered — or, when the client hangs up first, as it is abandoned, with status
//! 499 (see `service::CLIENT_CLOSED`). Every request is logged exactly once.
//!
//! Never logs credentials, signatures or bodies: only what identifies the request and how it
//! ended. A log file it creates is 0600.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Line<'a> {
    pub ts: String,
    /// `cos` or `s3`: the dialect the request spoke (`server::dialect`).
    pub dialect: &'a str,
    pub op: &'a str,
    pub method: &'a str,
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
    pub upload_id: Option<&'a str>,
    pub part: Option<u32>,
    pub range: Option<&'a str>,
    pub status: u16,
    pub code: Option<&'a str>,
    pub fault: Option<&'a str>,
    pub latency_ms: f64,
    pub request_id: &'a str,
}

pub struct AccessLog {
    file: Mutex<File>,
}

impl AccessLog {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        // Requests name buckets, keys and upload ids: readable by this user only.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot open the access log {}: {e}; check the directory exists and is writable",
                path.display()
            )
        })?;
        Ok(AccessLog {
            file: Mutex::new(file),
        })
    }

    pub fn write(&self, line: &Line<'_>) {
        let Ok(mut text) = serde_json::to_string(line) else {
            return;
        };
        text.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = f.write_all(text.as_bytes()) {
            tracing::warn!("access log write failed: {e}");
        }
    }
}
