//! `haul jobs ls|resume|abort|clear`: journaled transfers ("jobs") that did not finish:
//! cancelled, interrupted, or failed with objects or uploads left to retry; and the history of
//! transfers that ended (`engine::history`) until `clear` removes it.
//!
//! `ls` and `clear` read the state directory only (no network). `resume` and `abort` start the engine, which loads
//! the journal, and send it `Resume` / `Abort`; progress renders as in `haul cp`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::json;

use super::shared::{headless_runtime, setup_with, state_dir, Output, Setup};
use super::watch::{watch, Target};
use super::{exit, fail, GlobalArgs};
use crate::config::Overrides;
use crate::engine::history::History;
use crate::engine::journal::{Journal, JournalError, TransferRecord};
use crate::engine::{Command as EngineCommand, Engine, JobId, JobState};
use crate::store::{CosUri, Dialect, ObjectStore};
use crate::text::escape_control;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List journaled jobs.
    Ls {
        /// One JSON object a line: id, state, source, destination, upload_id, parts_done, parts_total…
        #[arg(long)]
        json: bool,
    },
    /// Resume a journaled job (or all of them), re-copying no part the server already has.
    Resume {
        /// The job id (see `haul jobs ls`).
        id: Option<JobId>,
        /// Resume every journaled job.
        #[arg(long, conflicts_with = "id")]
        all: bool,
        #[arg(long)]
        json: bool,
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Remove finished jobs (done, failed, aborted, skipped) from the history; journaled ones
    /// that can still be resumed stay.
    Clear,
    /// Abort a journaled job's multipart uploads (their copied parts are discarded; objects
    /// already copied stay).
    Abort {
        id: JobId,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(global: &GlobalArgs, cmd: Command) -> i32 {
    match cmd {
        Command::Ls { json } => ls(global, json),
        Command::Resume {
            id,
            all,
            json,
            quiet,
        } => {
            if id.is_none() && !all {
                return fail(
                    exit::USAGE,
                    "name a job id (see `haul jobs ls`) or pass --all",
                );
            }
            drive(global, id, json, quiet, false)
        }
        Command::Abort { id, json } => drive(global, Some(id), json, false, true),
        Command::Clear => clear(global),
    }
}

fn clear(global: &GlobalArgs) -> i32 {
    let dir = match state_dir(global) {
        Ok(d) => d,
        Err(e) => return fail(exit::USAGE, e),
    };
    match History::new(&dir).remove(|_| true) {
        Ok(n) => {
            println!(
                "cleared {n} finished job{} from the history",
                if n == 1 { "" } else { "s" }
            );
            exit::OK
        }
        Err(e) => fail(exit::FAILED, e),
    }
}

fn ls(global: &GlobalArgs, json: bool) -> i32 {
    let dir = match state_dir(global) {
        Ok(d) => d,
        Err(e) => return fail(exit::USAGE, e),
    };
    let journal = match Journal::open(&dir) {
        Ok(j) => j,
        Err(e) => return fail(exit::FAILED, e),
    };
    let (records, problems) = journal.load_all();
    for p in problems {
        eprintln!("haul: warn: {}", escape_control(&p));
    }
    let history = History::new(&dir);
    let finished = match history.load() {
        Ok((v, _)) => v,
        Err(e) => {
            eprintln!("haul: warn: {}", escape_control(&e.to_string()));
            Vec::new()
        }
    };
    let journaled: HashSet<JobId> = records.iter().map(|r| r.id).collect();
    let finished: Vec<_> = finished
        .into_iter()
        .filter(|r| !journaled.contains(&r.id))
        .collect();
    if records.is_empty() && finished.is_empty() && !json {
        println!("no journaled jobs in {}", journal.dir().display());
    }
    print_journaled(records, json);
    if !finished.is_empty() && !json {
        println!("finished (`haul jobs clear` forgets them):");
    }
    for r in finished {
        if json {
            println!(
                "{}",
                json!({
                    "id": r.id, "state": r.state, "source": r.source, "destination": r.destination,
                    "history": true, "error": r.error, "objects_listed": r.listed,
                    "objects_done": r.done, "objects_skipped": r.skipped,
                    "objects_failed": r.failed, "bytes_done": r.bytes, "size": r.size,
                    "elapsed_ms": r.elapsed_ms, "started": r.started, "finished": r.finished,
                    "failed_objects": r.failures.iter().map(|(k, e)| json!({"key": k, "error": e})).collect::<Vec<_>>(),
                })
            );
            continue;
        }
        let secs = r.elapsed_ms as f64 / 1000.0;
        let what = if r.source.ends_with('/') {
            format!("{} done, {} failed of {}", r.done, r.failed, r.listed)
        } else {
            crate::units::format_size(r.size.unwrap_or(r.bytes))
        };
        println!(
            "{:>5}  {:<11}  {what} in {}{}  {} → {}{}",
            r.id,
            r.state,
            crate::engine::progress::format_eta(std::time::Duration::from_millis(r.elapsed_ms)),
            if secs > 0.0 {
                format!(
                    " ({}/s)",
                    crate::units::format_size((r.bytes as f64 / secs) as u64)
                )
            } else {
                String::new()
            },
            escape_control(&r.source),
            escape_control(&r.destination),
            r.error
                .as_deref()
                .map(|e| format!("\n       {}", escape_control(e)))
                .unwrap_or_default()
        );
    }
    exit::OK
}

fn print_journaled(records: Vec<crate::engine::journal::TransferRecord>, json: bool) {
    for r in records {
        let parts_done: usize = r.uploads.values().map(|u| u.done_parts.len()).sum();
        let parts_total: u64 = r.uploads.values().map(|u| u.parts as u64).sum();
        if json {
            let failed: Vec<_> = r
                .failed
                .iter()
                .map(|(k, e)| json!({"key": k, "error": e}))
                .collect();
            let uploads: Vec<_> = r
                .uploads
                .values()
                .map(|u| {
                    json!({
                        "key": u.key, "destination_key": u.dst_key, "upload_id": u.upload_id,
                        "parts_done": u.done_parts.len(), "parts_total": u.parts,
                        "part_size": u.part_size, "size": u.source_size,
                    })
                })
                .collect();
            println!(
                "{}",
                json!({
                    "id": r.id, "state": r.state, "source": r.source, "destination": r.destination,
                    "objects_listed": r.listed, "listing_complete": r.listing_done,
                    "objects_done": r.done, "bytes_done": r.done_bytes, "objects_skipped": r.skipped,
                    "failed_objects": failed, "uploads": uploads, "error": r.error,
                    "parts_done": parts_done, "parts_total": parts_total,
                    "upload_id": r.uploads.values().next().map(|u| u.upload_id.clone()),
                    "owner_pid": r.owner,
                    "created": r.created.format(&time::format_description::well_known::Rfc3339).ok(),
                })
            );
        } else {
            let progress = if r.source.ends_with('/') {
                format!(
                    "{} done, {} failed{}",
                    r.done,
                    r.failed.len(),
                    if r.listing_done {
                        format!(" of {}", r.listed)
                    } else {
                        String::new()
                    }
                )
            } else {
                format!("{parts_done}/{parts_total} parts")
            };
            println!(
                "{:>5}  {:<11}  {}  {} → {}{}",
                r.id,
                r.state,
                progress,
                escape_control(&r.source),
                escape_control(&r.destination),
                r.error
                    .as_deref()
                    .map(|e| format!("\n       {}", escape_control(e)))
                    .unwrap_or_default()
            );
        }
    }
}

fn drive(global: &GlobalArgs, id: Option<JobId>, json: bool, quiet: bool, abort: bool) -> i32 {
    let dir = match state_dir(global) {
        Ok(d) => d,
        Err(e) => return fail(exit::USAGE, e),
    };
    let journal = match Journal::open(&dir) {
        Ok(j) => j,
        Err(e) => return fail(exit::FAILED, e),
    };
    // Check what is asked for before starting anything: a missing, corrupt or mismatched log,
    // or one another process holds, is an error now rather than a wait forever.
    let records: Vec<TransferRecord> = match id {
        Some(id) => match journal.read(id).and_then(|r| journal.reopen(id).map(|_| r)) {
            Ok(r) => vec![r],
            Err(e) => {
                let code = match e {
                    JournalError::NotFound { .. } => exit::USAGE,
                    _ => exit::FAILED,
                };
                return fail(code, e);
            }
        },
        None => {
            let (records, problems) = journal.load_all();
            for p in problems {
                eprintln!("haul: warn: {}", escape_control(&p));
            }
            records
        }
    };
    if records.is_empty() {
        println!("no journaled jobs to resume");
        return exit::OK;
    }
    // Each transfer goes back to the store it was started on: one client (and engine) per
    // dialect, profile and endpoint the journal recorded; flags given now win.
    let mut groups: BTreeMap<Origin, HashSet<JobId>> = BTreeMap::new();
    for r in &records {
        groups.entry(origin_of(global, r)).or_default().insert(r.id);
    }
    let rt = match headless_runtime() {
        Ok(r) => r,
        Err(e) => return fail(exit::FAILED, e),
    };
    let out = Output::new(json, quiet || abort);
    let mut code = exit::OK;
    for ((dialect, profile, endpoint), ids) in groups {
        let overrides = Overrides {
            profile,
            endpoint,
            ..global.overrides()
        };
        let setup = match setup_with(&overrides, Some(dialect)) {
            Ok(s) => s,
            Err(e) => {
                let mut ids: Vec<_> = ids.into_iter().collect();
                ids.sort_unstable();
                let which = ids.iter().map(|i| i.to_string()).collect::<Vec<_>>();
                code = fail(exit::USAGE, format!("job {}: {e}", which.join(", ")));
                continue;
            }
        };
        let c = rt.block_on(run_group(setup, ids, json, abort, &out));
        if c == exit::INTERRUPTED {
            return c;
        }
        if code == exit::OK {
            code = c;
        }
    }
    code
}

/// The store a journaled transfer goes back to: dialect, profile, endpoint.
type Origin = (Dialect, Option<String>, Option<String>);

/// Where `r` runs: its recorded origin, with `--profile` / `--endpoint` winning; a log written
/// before the origin was recorded speaks its URIs' dialect on the profile given now.
fn origin_of(global: &GlobalArgs, r: &TransferRecord) -> Origin {
    let dialect = match &r.store {
        Some(o) => o.dialect,
        None => CosUri::parse(&r.source)
            .map(|u| u.dialect())
            .unwrap_or_default(),
    };
    let recorded = r.store.clone();
    (
        dialect,
        global
            .profile
            .clone()
            .or_else(|| recorded.as_ref().and_then(|o| o.profile.clone())),
        global
            .endpoint
            .clone()
            .or_else(|| recorded.and_then(|o| o.endpoint)),
    )
}

/// Resumes (or aborts) `ids` on one engine built on `setup`, and reports how they ended.
async fn run_group(
    setup: Setup,
    ids: HashSet<JobId>,
    json: bool,
    abort: bool,
    out: &Output,
) -> i32 {
    let store: Arc<dyn ObjectStore> = setup.client.clone();
    let mut h = Engine::start(store, setup.engine);
    for id in &ids {
        let _ = h.commands.send(if abort {
            EngineCommand::Abort(*id)
        } else {
            EngineCommand::Resume(*id)
        });
    }
    let result = watch(&mut h, Target::Ids(ids), out).await;
    if !abort || result.interrupted {
        return result.exit_code();
    }
    let mut code = exit::OK;
    for (id, p) in &result.ended {
        match &p.state {
            JobState::Aborted => {
                if !json {
                    println!("job {id}: uploads aborted, journal entry removed");
                }
            }
            JobState::Failed(e) => {
                code = fail(exit::FAILED, format!("job {id}: {}", escape_control(e)))
            }
            other => code = fail(exit::FAILED, format!("job {id} ended {}", other.label())),
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{CopyOptions, StoreOrigin};

    fn record(source: &str, store: Option<StoreOrigin>) -> TransferRecord {
        let j = Journal::memory();
        let w = j
            .create(1, source, source, &CopyOptions::default(), store.as_ref())
            .unwrap();
        j.read(w.id()).unwrap()
    }

    #[test]
    fn a_job_goes_back_to_its_recorded_dialect_profile_and_endpoint_unless_flags_say_otherwise() {
        let minio = StoreOrigin {
            dialect: Dialect::S3,
            profile: Some("minio".into()),
            endpoint: Some("http://127.0.0.1:9000".into()),
        };
        let r = record("s3://src/a", Some(minio));
        let none = GlobalArgs::default();
        assert_eq!(
            origin_of(&none, &r),
            (
                Dialect::S3,
                Some("minio".into()),
                Some("http://127.0.0.1:9000".into())
            )
        );
        let flags = GlobalArgs {
            profile: Some("other".into()),
            endpoint: Some("http://10.0.0.1:80".into()),
            ..GlobalArgs::default()
        };
        assert_eq!(
            origin_of(&flags, &r),
            (
                Dialect::S3,
                Some("other".into()),
                Some("http://10.0.0.1:80".into())
            ),
            "flags given now win"
        );
    }

    #[test]
    fn a_log_without_an_origin_speaks_its_uris_dialect_on_the_profile_given_now() {
        let none = GlobalArgs::default();
        assert_eq!(
            origin_of(&none, &record("s3://src/a", None)),
            (Dialect::S3, None, None)
        );
        assert_eq!(
            origin_of(&none, &record("cos://src-1250000000/a", None)),
            (Dialect::Cos, None, None)
        );
    }
}
