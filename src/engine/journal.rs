//! The journal: one JSON file per job that has a multipart upload, written durably (temp file,
//! fsync, rename, fsync of the directory) in `<state dir>/jobs/<id>.json`, so a restarted haul
//! can resume the job and re-copy no part the server already has.
//!
//! Holds URIs, regions, options, the upload id, the plan, the source's identity and the done
//! parts — never a credential. Does blocking file I/O (small files; called from job tasks at
//! most every `FLUSH_INTERVAL`). A finished job's file is removed (Done, Aborted); a failed or
//! cancelled job's file stays with its state so `haul jobs` can resume or abort it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::CompletedPart;

use super::{CopyOptions, JobId};

/// Part completions are written at most this often (and at every state change).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
/// …or after this many unwritten part completions.
pub const FLUSH_PARTS: usize = 64;

pub const FORMAT_VERSION: u32 = 1;

/// One job as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRecord {
    pub version: u32,
    pub id: JobId,
    /// `cos://bucket-appid/key`
    pub source: String,
    pub destination: String,
    pub source_region: String,
    pub destination_region: String,
    pub options: CopyOptions,
    pub upload_id: String,
    pub part_size: u64,
    pub parts: u32,
    pub source_etag: String,
    pub source_size: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub source_last_modified: Option<OffsetDateTime>,
    pub source_crc64: Option<u64>,
    /// Parts known done, ascending.
    pub done_parts: Vec<CompletedPart>,
    /// `running`, `paused`, `cancelled`, `failed` (`JobState::label`).
    pub state: String,
    /// Why it failed, when it did.
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
}

/// The journal directory.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// Opens (creating) `<state_dir>/jobs`.
    pub fn open(state_dir: &Path) -> io::Result<Journal> {
        let dir = state_dir.join("jobs");
        fs::create_dir_all(&dir).map_err(|e| with_path(e, "create the journal directory", &dir))?;
        Ok(Journal { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, id: JobId) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    pub fn exists(&self, id: JobId) -> bool {
        self.path(id).exists()
    }

    /// Writes `rec` durably: temp file, fsync, rename over the old one, fsync the directory.
    pub fn write(&self, rec: &JournalRecord) -> io::Result<()> {
        let path = self.path(rec.id);
        let tmp = self.dir.join(format!(".{}.json.tmp", rec.id));
        let body = serde_json::to_vec(rec).map_err(io::Error::other)?;
        {
            let mut f = fs::File::create(&tmp).map_err(|e| with_path(e, "create", &tmp))?;
            f.write_all(&body)
                .map_err(|e| with_path(e, "write", &tmp))?;
            f.sync_all().map_err(|e| with_path(e, "fsync", &tmp))?;
        }
        fs::rename(&tmp, &path).map_err(|e| with_path(e, "rename into place", &path))?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    pub fn remove(&self, id: JobId) -> io::Result<()> {
        match fs::remove_file(self.path(id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(with_path(e, "remove", &self.path(id))),
        }
    }

    pub fn read(&self, id: JobId) -> io::Result<JournalRecord> {
        read_file(&self.path(id))
    }

    /// Every readable record, by id; unreadable files are reported, not fatal.
    pub fn load_all(&self) -> (Vec<JournalRecord>, Vec<String>) {
        let mut records = Vec::new();
        let mut problems = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("cannot read journal {}: {e}", self.dir.display()));
                return (records, problems);
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            match read_file(&path) {
                Ok(r) => records.push(r),
                Err(e) => problems.push(format!("skipping journal file: {e}")),
            }
        }
        records.sort_by_key(|r| r.id);
        (records, problems)
    }

    /// The highest job id in the journal (records and claims), if any.
    pub fn max_id(&self) -> Option<JobId> {
        fs::read_dir(&self.dir)
            .ok()?
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().to_string();
                n.strip_suffix(".json")
                    .or_else(|| n.strip_suffix(".claim"))?
                    .parse::<JobId>()
                    .ok()
            })
            .max()
    }

    /// Claims `id` for a new job (an exclusive `<id>.claim` file), so two haul processes on one
    /// state directory never share a job id. `Ok(false)`: someone else has it.
    pub fn claim(&self, id: JobId) -> io::Result<bool> {
        if self.exists(id) {
            return Ok(false);
        }
        let path = self.dir.join(format!("{id}.claim"));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(with_path(e, "create", &path)),
        }
    }

    /// Gives a claim up (the job ended or its record now exists).
    pub fn release(&self, id: JobId) {
        let _ = fs::remove_file(self.dir.join(format!("{id}.claim")));
    }
}

fn read_file(path: &Path) -> io::Result<JournalRecord> {
    let body = fs::read(path).map_err(|e| with_path(e, "read", path))?;
    serde_json::from_slice(&body).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a haul journal record: {e}", path.display()),
        )
    })
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn record(id: JobId) -> JournalRecord {
        JournalRecord {
            version: FORMAT_VERSION,
            id,
            source: "cos://src-1250000000/a".into(),
            destination: "cos://dst-1250000000/a".into(),
            source_region: "ap-guangzhou".into(),
            destination_region: "ap-shanghai".into(),
            options: CopyOptions::default(),
            upload_id: "u1".into(),
            part_size: 8 << 20,
            parts: 3,
            source_etag: "abc".into(),
            source_size: 20 << 20,
            source_last_modified: None,
            source_crc64: Some(42),
            done_parts: vec![CompletedPart {
                part_number: 1,
                etag: "p1".into(),
            }],
            state: "running".into(),
            error: None,
            updated: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn records_round_trip_and_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.write(&record(3)).unwrap();
        j.write(&record(7)).unwrap();
        std::fs::write(j.dir().join("9.json"), b"{not json").unwrap();
        let (recs, problems) = j.load_all();
        assert_eq!(recs.iter().map(|r| r.id).collect::<Vec<_>>(), vec![3, 7]);
        assert_eq!(recs[0], record(3));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(j.max_id(), Some(9));
        j.remove(3).unwrap();
        j.remove(3).unwrap();
        assert!(!j.exists(3));
        assert!(!j.claim(7).unwrap(), "a recorded id cannot be claimed");
        assert!(j.claim(10).unwrap());
        assert!(!j.claim(10).unwrap(), "claims are exclusive");
        assert_eq!(j.max_id(), Some(10));
        j.release(10);
        assert!(j.claim(10).unwrap());
    }
}
