//! `haul jobs ls|resume|abort`: journaled copy jobs (those with a multipart upload that did
//! not finish: cancelled, interrupted, failed with the upload kept).
//!
//! `ls` reads the journal only (no network). `resume` and `abort` start the engine, which loads
//! the journal, and send it `Resume` / `Abort`; progress renders as in `haul cp`.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use super::cp::{runtime, setup, state_dir, watch, Output, Target};
use super::{exit, fail, GlobalArgs};
use crate::engine::journal::Journal;
use crate::engine::{Command as EngineCommand, Engine, JobId, JobState};
use crate::store::ObjectStore;

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
    /// Abort a journaled job's multipart upload (its copied parts are discarded).
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
        eprintln!("haul: warn: {p}");
    }
    if records.is_empty() && !json {
        println!("no journaled jobs in {}", journal.dir().display());
    }
    for r in records {
        if json {
            println!(
                "{}",
                json!({
                    "id": r.id, "state": r.state, "source": r.source, "destination": r.destination,
                    "upload_id": r.upload_id, "parts_done": r.done_parts.len(), "parts_total": r.parts,
                    "part_size": r.part_size, "size": r.source_size, "source_etag": r.source_etag,
                    "error": r.error, "updated": r.updated.format(&time::format_description::well_known::Rfc3339).ok(),
                })
            );
        } else {
            println!(
                "{:>5}  {:<9}  {:>5}/{:<5} parts  {} → {}{}",
                r.id,
                r.state,
                r.done_parts.len(),
                r.parts,
                r.source,
                r.destination,
                r.error
                    .as_deref()
                    .map(|e| format!("\n       {e}"))
                    .unwrap_or_default()
            );
        }
    }
    exit::OK
}

fn drive(global: &GlobalArgs, id: Option<JobId>, json: bool, quiet: bool, abort: bool) -> i32 {
    let setup = match setup(global) {
        Ok(s) => s,
        Err(e) => return fail(exit::USAGE, e),
    };
    let Some(dir) = setup.engine.state_dir.clone() else {
        return fail(
            exit::USAGE,
            "no state directory: set HAUL_STATE_DIR or [engine] state_dir",
        );
    };
    let journal = match Journal::open(&dir) {
        Ok(j) => j,
        Err(e) => return fail(exit::FAILED, e),
    };
    let ids: HashSet<JobId> = match id {
        Some(id) => {
            if !journal.exists(id) {
                return fail(
                    exit::USAGE,
                    format!(
                        "no journaled job {id} in {}: see `haul jobs ls`",
                        journal.dir().display()
                    ),
                );
            }
            HashSet::from([id])
        }
        None => journal.load_all().0.iter().map(|r| r.id).collect(),
    };
    if ids.is_empty() {
        println!("no journaled jobs to resume");
        return exit::OK;
    }
    let rt = match runtime() {
        Ok(r) => r,
        Err(e) => return fail(exit::FAILED, e),
    };
    let out = Output::new(json, quiet || abort);
    rt.block_on(async move {
        let store: Arc<dyn ObjectStore> = setup.client.clone();
        let mut h = Engine::start(store, setup.engine);
        for id in &ids {
            let _ = h.commands.send(if abort {
                EngineCommand::Abort(*id)
            } else {
                EngineCommand::Resume(*id)
            });
        }
        let result = watch(&mut h, Target::Ids(ids), &out).await;
        if !abort || result.interrupted {
            return result.exit_code(&out);
        }
        let mut code = exit::OK;
        for (id, (state, _)) in &result.finished {
            match state {
                JobState::Aborted => {
                    if !json {
                        println!("job {id}: upload aborted, journal entry removed");
                    }
                }
                JobState::Failed(e) => code = fail(exit::FAILED, format!("job {id}: {e}")),
                other => code = fail(exit::FAILED, format!("job {id} ended {}", other.label())),
            }
        }
        code
    })
}
