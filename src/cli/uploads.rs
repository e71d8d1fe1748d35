//! `haul uploads ls|abort`: incomplete multipart uploads under a bucket or prefix, with parts
//! and bytes so far and the haul job that owns each (from the journal).
//!
//! A front end on the engine's `Browse(Uploads)` and `AbortUploads`; asks before aborting on a
//! terminal, refuses without `--yes` off one.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::shared::{headless_runtime, setup_for};
use super::{exit, fail, GlobalArgs};
use crate::engine::{
    BrowseRequest, Command as EngineCommand, Engine, Event, Listing, UploadSummary,
};
use crate::store::{CosUri, ObjectStore};
use crate::text::escape_control;
use crate::units::{format_size, parse_duration};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List incomplete multipart uploads under cos://BUCKET-APPID/[PREFIX].
    Ls {
        uri: String,
        /// One JSON object a line.
        #[arg(long)]
        json: bool,
    },
    /// Abort incomplete multipart uploads under cos://BUCKET-APPID/[PREFIX].
    Abort {
        uri: String,
        /// The upload to abort.
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        upload_id: Option<String>,
        /// Every upload under the URI.
        #[arg(long)]
        all: bool,
        /// Only uploads initiated longer ago than this (e.g. 7d, 12h).
        #[arg(long, value_name = "DUR")]
        older_than: Option<String>,
        /// Do not ask.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

pub fn run(global: &GlobalArgs, cmd: Command) -> i32 {
    let (uri, older) = match &cmd {
        Command::Ls { uri, .. } => (uri, None),
        Command::Abort {
            uri, older_than, ..
        } => (uri, older_than.as_deref()),
    };
    let uri = match CosUri::parse(uri) {
        Ok(u) => u,
        Err(e) => return fail(exit::USAGE, e),
    };
    let older = match older.map(parse_duration).transpose() {
        Ok(d) => d,
        Err(e) => return fail(exit::USAGE, format!("--older-than: {e}")),
    };
    if let Command::Abort { yes: false, .. } = &cmd {
        if !std::io::stdin().is_terminal() {
            return fail(
                exit::USAGE,
                "refusing to abort uploads without confirmation: add --yes",
            );
        }
    }
    let setup = match setup_for(global, Some(uri.dialect())) {
        Ok(s) => s,
        Err(e) => return fail(exit::USAGE, e),
    };
    let rt = match headless_runtime() {
        Ok(r) => r,
        Err(e) => return fail(exit::FAILED, e),
    };
    rt.block_on(async move {
        let store: Arc<dyn ObjectStore> = setup.client.clone();
        let mut h = Engine::start(store, setup.engine);
        let _ = h
            .commands
            .send(EngineCommand::Browse(BrowseRequest::Uploads {
                bucket: uri.bucket.clone(),
                prefix: uri.key.clone(),
            }));
        let uploads = loop {
            match h.events.recv().await {
                Some(Event::Listing(Listing::Uploads { uploads, .. })) => break uploads,
                Some(_) => continue,
                None => return fail(exit::FAILED, "the engine stopped unexpectedly"),
            }
        };
        let uploads = match uploads {
            Ok(u) => u,
            Err(e) => {
                return fail(
                    exit::FAILED,
                    format!("cannot list uploads under {uri}: {e}"),
                )
            }
        };
        let code = match cmd {
            Command::Ls { json, .. } => {
                print_uploads(&uploads, json);
                exit::OK
            }
            Command::Abort { upload_id, yes, .. } => {
                let now = OffsetDateTime::now_utc();
                let chosen: Vec<&UploadSummary> = uploads
                    .iter()
                    .filter(|u| {
                        upload_id
                            .as_ref()
                            .is_none_or(|id| *id == u.upload.upload_id)
                    })
                    .filter(|u| older.is_none_or(|d| is_older(u, now, d)))
                    .collect();
                if let (true, Some(id)) = (chosen.is_empty(), &upload_id) {
                    // A named upload that is not there is a mistake to report, not success.
                    fail(
                        exit::FAILED,
                        format!(
                            "no incomplete upload {id} under {uri}{}: see `haul uploads ls {uri}`",
                            if older.is_some() {
                                " old enough for --older-than"
                            } else {
                                ""
                            }
                        ),
                    )
                } else if chosen.is_empty() {
                    println!("no matching uploads under {uri}");
                    exit::OK
                } else if !yes && !confirm(&chosen, &uri) {
                    println!("nothing aborted");
                    exit::OK
                } else {
                    let _ = h.commands.send(EngineCommand::AbortUploads {
                        bucket: uri.bucket.clone(),
                        uploads: chosen
                            .iter()
                            .map(|u| (u.upload.key.clone(), u.upload.upload_id.clone()))
                            .collect(),
                    });
                    loop {
                        match h.events.recv().await {
                            Some(Event::UploadsAborted { aborted, failed }) => {
                                println!("aborted {aborted} upload(s)");
                                for f in &failed {
                                    eprintln!("haul: {}", escape_control(f));
                                }
                                break if failed.is_empty() {
                                    exit::OK
                                } else {
                                    exit::FAILED
                                };
                            }
                            Some(_) => continue,
                            None => break fail(exit::FAILED, "the engine stopped unexpectedly"),
                        }
                    }
                }
            }
        };
        let _ = h.commands.send(EngineCommand::Shutdown);
        while h.events.recv().await.is_some() {}
        code
    })
}

fn is_older(u: &UploadSummary, now: OffsetDateTime, d: Duration) -> bool {
    u.upload
        .initiated
        .is_some_and(|t| (now - t).whole_seconds() >= d.as_secs() as i64)
}

fn confirm(chosen: &[&UploadSummary], uri: &CosUri) -> bool {
    let bytes: u64 = chosen.iter().map(|u| u.bytes).sum();
    eprint!(
        "abort {} upload(s) under {uri}, discarding {} of copied parts? [y/N] ",
        chosen.len(),
        format_size(bytes)
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes" | "YES")
}

fn print_uploads(uploads: &[UploadSummary], json: bool) {
    let stdout = std::io::stdout();
    // A closed stdout (`| head`) ends the listing quietly.
    let _ = write_uploads(uploads, json, &mut stdout.lock());
}

/// One line an upload: keys and ids escaped for people, exact in `--json`.
fn write_uploads(
    uploads: &[UploadSummary],
    json: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    for u in uploads {
        let initiated = u.upload.initiated.and_then(|t| t.format(&Rfc3339).ok());
        if json {
            writeln!(
                out,
                "{}",
                json!({
                    "key": u.upload.key, "upload_id": u.upload.upload_id, "initiated": initiated,
                    "parts": u.parts, "bytes": u.bytes, "job": u.job,
                    "storage_class": u.upload.storage_class,
                })
            )?;
        } else {
            writeln!(
                out,
                "{:<20}  {:>5} parts  {:>10}  {}  {}  {}",
                initiated.unwrap_or_else(|| "-".into()),
                u.parts,
                format_size(u.bytes),
                u.job
                    .map(|j| format!("job {j}"))
                    .unwrap_or_else(|| "not haul's".into()),
                escape_control(&u.upload.upload_id),
                escape_control(&u.upload.key)
            )?;
        }
    }
    if uploads.is_empty() && !json {
        writeln!(out, "no incomplete uploads")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UploadInfo;

    #[test]
    fn control_characters_in_keys_are_escaped_in_text_and_exact_in_json() {
        let uploads = [UploadSummary {
            upload: UploadInfo {
                key: "evil\u{1b}[2J\r\nkey".into(),
                upload_id: "up\u{7}1".into(),
                initiated: None,
                storage_class: None,
            },
            parts: 2,
            bytes: 10,
            job: None,
        }];
        let mut out = Vec::new();
        write_uploads(&uploads, false, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert!(
            text.trim_end().ends_with("up\\x071  evil\\x1b[2J\\r\\nkey"),
            "{text:?}"
        );
        assert!(!text.contains('\u{1b}'));
        let mut out = Vec::new();
        write_uploads(&uploads, true, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["key"], "evil\u{1b}[2J\r\nkey");
        assert_eq!(v["upload_id"], "up\u{7}1");
    }
}
