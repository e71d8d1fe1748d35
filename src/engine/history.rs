//! The history: one compact JSON line per transfer that ended (done, failed, aborted, skipped)
//! in `<state dir>/history.jsonl`, so front ends can show what finished and how it went after
//! a restart, until the user clears it (`haul jobs clear`, `C` on the Queue).
//!
//! The journal (`journal.rs`) deletes a transfer's log once nothing in it can be resumed; the
//! history keeps only the result: URIs, end state and error, counts, bytes, times and the first
//! `FAILURES_KEPT` failed objects — a few hundred bytes however many objects were copied.
//! It never holds a credential and is never needed to resume anything: a lost or corrupt line
//! costs only that line.
//!
//! Blocking file I/O, small and rare (one append per ended transfer, a rewrite on clear):
//! the engine task calls it directly.

use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{CopySpec, JobId, JobState};

/// Failed objects kept per record (all are counted).
pub const FAILURES_KEPT: usize = 20;
/// Records kept; older ones are dropped when the file is next rewritten.
pub const RECORDS_KEPT: usize = 1000;

/// How one transfer ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: JobId,
    pub source: String,
    pub destination: String,
    /// `JobState::label` of the end state (`done`, `failed`, `aborted`, `skipped`).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A one-object transfer's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default)]
    pub listed: u64,
    #[serde(default)]
    pub listed_bytes: u64,
    #[serde(default)]
    pub done: u64,
    #[serde(default)]
    pub skipped: u64,
    #[serde(default)]
    pub failed: u64,
    /// Bytes copied by the runs of this process (and earlier runs' done bytes on resume).
    #[serde(default)]
    pub bytes: u64,
    /// Unix seconds.
    pub started: i64,
    pub finished: i64,
    /// Time spent running in this process.
    pub elapsed_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<(String, String)>,
}

impl Record {
    /// The end state as the engine names it.
    pub fn job_state(&self) -> JobState {
        match self.state.as_str() {
            "done" => JobState::Done,
            "aborted" => JobState::Aborted,
            "skipped" => JobState::Skipped,
            "cancelled" => JobState::Cancelled,
            _ => JobState::Failed(
                self.error
                    .clone()
                    .unwrap_or_else(|| "failed (no reason recorded)".into()),
            ),
        }
    }

    pub fn spec(&self) -> Option<CopySpec> {
        Some(CopySpec {
            source: crate::store::CosUri::parse(&self.source).ok()?,
            destination: crate::store::CosUri::parse(&self.destination).ok()?,
            options: Default::default(),
        })
    }
}

/// What the engine counts of a running transfer for its record: a handful of integers per
/// transfer, one addition per event.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub size: Option<u64>,
    pub listed: u64,
    pub listed_bytes: u64,
    pub done: u64,
    pub skipped: u64,
    pub failed: u64,
    pub bytes: u64,
    pub failures: Vec<(String, String)>,
    /// Unix seconds of the first start, and time run so far in this process.
    pub started: Option<i64>,
    pub run_since: Option<std::time::Instant>,
    pub ran: std::time::Duration,
}

impl Tally {
    /// Folds the events that change a record's figures.
    pub fn apply(&mut self, ev: &super::Event) {
        use super::Event as E;
        match ev {
            E::JobPlanned { plan, .. } => self.size = Some(plan.size),
            E::PartDone { bytes, .. } | E::Bytes { bytes, .. } => self.bytes += bytes,
            E::ObjectsListed { objects, bytes, .. } => {
                self.listed = *objects;
                self.listed_bytes = *bytes;
            }
            E::ObjectDone { bytes, skipped, .. } => {
                self.bytes += bytes;
                if *skipped {
                    self.skipped += 1
                } else {
                    self.done += 1
                }
            }
            E::ObjectFailed { key, error, .. } => {
                self.failed += 1;
                if self.failures.len() < FAILURES_KEPT {
                    self.failures.push((key.clone(), error.clone()));
                }
            }
            E::TransferProgress {
                done,
                done_bytes,
                skipped,
                ..
            } => {
                self.done = *done;
                self.skipped = *skipped;
                self.bytes = *done_bytes;
            }
            _ => {}
        }
    }

    pub fn running(&mut self, now: std::time::Instant, unix: i64) {
        self.started.get_or_insert(unix);
        self.run_since.get_or_insert(now);
    }

    pub fn stopped(&mut self, now: std::time::Instant) {
        if let Some(s) = self.run_since.take() {
            self.ran += now.saturating_duration_since(s);
        }
    }

    pub fn record(&self, id: JobId, spec: &CopySpec, state: &JobState, finished: i64) -> Record {
        Record {
            id,
            source: spec.source.to_string(),
            destination: spec.destination.to_string(),
            state: state.label().into(),
            error: match state {
                JobState::Failed(e) => Some(e.clone()),
                _ => None,
            },
            size: self.size,
            listed: self.listed,
            listed_bytes: self.listed_bytes,
            done: self.done,
            skipped: self.skipped,
            failed: self.failed,
            bytes: self.bytes,
            started: self.started.unwrap_or(finished),
            finished,
            elapsed_ms: self.ran.as_millis() as u64,
            failures: self.failures.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot {what} the transfer history {path}: {source}; check the state directory's permissions"
)]
pub struct HistoryError {
    what: &'static str,
    path: PathBuf,
    source: io::Error,
}

/// The history file.
#[derive(Debug, Clone)]
pub struct History {
    path: PathBuf,
}

impl History {
    /// The history in `state_dir` (the file is created on the first append).
    pub fn new(state_dir: &Path) -> History {
        History {
            path: state_dir.join("history.jsonl"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, what: &'static str) -> impl FnOnce(io::Error) -> HistoryError + '_ {
        move |source| HistoryError {
            what,
            path: self.path.clone(),
            source,
        }
    }

    pub fn append(&self, r: &Record) -> Result<(), HistoryError> {
        let mut line = serde_json::to_vec(r).unwrap_or_default();
        line.push(b'\n');
        let mut f = crate::private_files::open_append(&self.path).map_err(self.err("append to"))?;
        f.write_all(&line).map_err(self.err("append to"))
    }

    /// Every record, one per id (a later line replaces an earlier one: a failed transfer
    /// retried), ascending by id, and how many lines could not be read.
    pub fn load(&self) -> Result<(Vec<Record>, usize), HistoryError> {
        let f = match fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(self.err("read")(e)),
        };
        let mut by_id = std::collections::BTreeMap::new();
        let mut bad = 0;
        for line in io::BufReader::new(f).lines() {
            let line = line.map_err(self.err("read"))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Record>(&line) {
                Ok(r) => {
                    by_id.insert(r.id, r);
                }
                Err(_) => bad += 1,
            }
        }
        let mut v: Vec<Record> = by_id.into_values().collect();
        if v.len() > RECORDS_KEPT {
            v.drain(..v.len() - RECORDS_KEPT);
        }
        Ok((v, bad))
    }

    /// Rewrites the file without the records `drop` selects; returns how many went.
    pub fn remove(&self, drop: impl Fn(&Record) -> bool) -> Result<usize, HistoryError> {
        let (records, _) = self.load()?;
        let before = records.len();
        let keep: Vec<&Record> = records.iter().filter(|r| !drop(r)).collect();
        let removed = before - keep.len();
        if removed == 0 {
            return Ok(0);
        }
        let mut text = Vec::new();
        for r in keep {
            text.extend(serde_json::to_vec(r).unwrap_or_default());
            text.push(b'\n');
        }
        let tmp = self.path.with_extension("jsonl.tmp");
        {
            let mut f = crate::private_files::with_file_mode(
                fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true),
            )
            .open(&tmp)
            .map_err(self.err("rewrite"))?;
            f.write_all(&text).map_err(self.err("rewrite"))?;
            f.sync_data().map_err(self.err("rewrite"))?;
        }
        fs::rename(&tmp, &self.path).map_err(self.err("rewrite"))?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: JobId, state: &str) -> Record {
        Record {
            id,
            source: "cos://a-1250000000/p/".into(),
            destination: "cos://b-1250000000/q/".into(),
            state: state.into(),
            error: (state == "failed").then(|| "2 objects failed".into()),
            size: None,
            listed: 10,
            listed_bytes: 1000,
            done: 8,
            skipped: 0,
            failed: 2,
            bytes: 800,
            started: 1_795_000_000,
            finished: 1_795_000_060,
            elapsed_ms: 60_000,
            failures: vec![("p/x".into(), "AccessDenied".into())],
        }
    }

    #[test]
    fn records_survive_a_reload_and_a_later_line_replaces_an_earlier_one() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        assert_eq!(h.load().unwrap().0, vec![]);
        h.append(&record(3, "failed")).unwrap();
        h.append(&record(1, "done")).unwrap();
        h.append(&record(3, "done")).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(h.path())
            .unwrap()
            .write_all(b"{torn\n")
            .unwrap();
        let (v, bad) = h.load().unwrap();
        assert_eq!(bad, 1);
        assert_eq!(v.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(v[1].job_state(), JobState::Done);
        assert_eq!(
            record(4, "failed").job_state(),
            JobState::Failed("2 objects failed".into())
        );
    }

    #[test]
    fn remove_rewrites_without_the_chosen_records() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path());
        for id in 1..=3 {
            h.append(&record(id, if id == 2 { "failed" } else { "done" }))
                .unwrap();
        }
        assert_eq!(h.remove(|r| r.state == "done").unwrap(), 2);
        let (v, _) = h.load().unwrap();
        assert_eq!(v.iter().map(|r| r.id).collect::<Vec<_>>(), vec![2]);
        assert_eq!(h.remove(|_| false).unwrap(), 0);
    }

    /// Through the engine: a done and a failed prefix transfer come back after a restart as
    /// they ended (the failed one from the journal, resumable), ids are not reused, and
    /// `ClearFinished` forgets the done one for good.
    #[tokio::test(start_paused = true)]
    async fn ended_transfers_come_back_after_a_restart_until_cleared() {
        use crate::engine::testing::{service_error, MemStore};
        use crate::engine::{Command, CopyOptions, Engine, EngineConfig, EngineHandle, Event};
        use crate::store::{CosUri, Op};

        let dir = tempfile::tempdir().unwrap();
        let s = MemStore::new();
        s.add_bucket("src-1250000000", "ap-guangzhou");
        s.add_bucket("dst-1250000000", "ap-guangzhou");
        for i in 0..5 {
            s.put("src-1250000000", &format!("ok/{i}"), 1000, i);
            s.put("src-1250000000", &format!("bad/{i}"), 1000, i);
        }
        s.set_fault(|c| {
            (c.op == Op::PutObjectCopy && c.key == "bad-out/3")
                .then(|| service_error(Op::PutObjectCopy, 403, "AccessDenied"))
        });
        let cfg = EngineConfig {
            state_dir: Some(dir.path().to_path_buf()),
            default_region: "ap-guangzhou".into(),
            ..Default::default()
        };
        let spec = |src: &str, dst: &str| crate::engine::CopySpec {
            source: CosUri::parse(&format!("cos://src-1250000000/{src}")).unwrap(),
            destination: CosUri::parse(&format!("cos://dst-1250000000/{dst}")).unwrap(),
            options: CopyOptions::default(),
        };
        async fn drain_until(h: &mut EngineHandle, n: usize) -> Vec<Event> {
            let mut seen = vec![];
            let mut finished = 0;
            while finished < n {
                let ev = h.events.recv().await.expect("engine stopped");
                if matches!(ev, Event::JobFinished { .. }) {
                    finished += 1;
                }
                seen.push(ev);
            }
            seen
        }
        async fn stop(mut h: EngineHandle) -> Vec<Event> {
            h.commands.send(Command::Shutdown).unwrap();
            let mut seen = vec![];
            while let Some(ev) = h.events.recv().await {
                seen.push(ev);
            }
            seen
        }

        let mut h = Engine::start(s.clone(), cfg.clone());
        h.commands
            .send(Command::Enqueue(spec("ok/", "ok-out/")))
            .unwrap();
        h.commands
            .send(Command::Enqueue(spec("bad/", "bad-out/")))
            .unwrap();
        drain_until(&mut h, 2).await;
        stop(h).await;

        let h = Engine::start(s.clone(), cfg.clone());
        let seen = stop(h).await;
        let added: Vec<(JobId, JobState, bool)> = seen
            .iter()
            .filter_map(|e| match e {
                Event::JobAdded {
                    id,
                    state,
                    journaled,
                    ..
                } => Some((*id, state.clone(), *journaled)),
                _ => None,
            })
            .collect();
        let mut added = added;
        added.sort_by_key(|a| a.0);
        assert_eq!(added.len(), 2, "{added:?}");
        assert_eq!(added[0].1, JobState::Done);
        assert!(!added[0].2, "a done transfer is history, not journal");
        assert!(
            matches!(&added[1].1, JobState::Failed(e) if e.contains("1 of 5 objects failed")),
            "{added:?}"
        );
        assert!(added[1].2, "the failed one is still resumable");
        let record = seen
            .iter()
            .find_map(|e| match e {
                Event::JobHistory { record } => Some(record.clone()),
                _ => None,
            })
            .expect("the done transfer's figures");
        assert_eq!(
            (record.id, record.done, record.failed, record.bytes),
            (added[0].0, 5, 0, 5000)
        );

        let mut h = Engine::start(s.clone(), cfg.clone());
        h.commands.send(Command::ClearFinished).unwrap();
        h.commands
            .send(Command::Enqueue(spec("ok/", "again/")))
            .unwrap();
        let seen = drain_until(&mut h, 1).await;
        let new_id = seen
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::JobAdded { id, .. } => Some(*id),
                _ => None,
            })
            .unwrap();
        assert!(new_id > added[1].0, "ids are not reused: {new_id}");
        assert!(seen
            .iter()
            .any(|e| matches!(e, Event::JobRemoved { id } if *id == added[0].0)));
        stop(h).await;
        let (left, _) = History::new(dir.path()).load().unwrap();
        assert!(
            left.iter().all(|r| r.id != added[0].0),
            "the cleared transfer is gone: {left:?}"
        );
    }
}
