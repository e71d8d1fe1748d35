//! The engine task: the transfer table and queue, commands from front ends, events to them,
//! starting transfers within the active-transfers limit, browse requests and upload aborts.
//!
//! Owns all transfer state; runs report to it over an internal channel and it forwards their
//! events, so front ends see one ordered stream. Its only blocking work is the journal's:
//! reading it at start, creating a transfer's log at `Enqueue`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::{
    BucketName, CosUri, ListObjectsRequest, ListUploadsRequest, ObjectRef, ObjectStore,
};

use super::history::{History, Tally};
use super::journal::{Entry, Journal, JournalWriter, TransferRecord};
use super::object::{self, Internal, Outcome, Shared, STOP_ABORT, STOP_CANCEL};
use super::region::Regions;
use super::request::{self, CopyRequest};
use super::retry::{retry, RetryPolicy, Stop};
use super::scheduler::Scheduler;
use super::transfer::{self, TransferRun};
use super::{
    BrowseRequest, Command, CopySpec, EngineConfig, Event, JobId, JobState, Listing, LogLevel,
    PlanSummary, Strategy, UploadSummary,
};

struct Running {
    stop: CancellationToken,
    kind: Arc<AtomicU8>,
    pause: watch::Sender<bool>,
}

struct Slot {
    spec: CopySpec,
    state: JobState,
    running: Option<Running>,
    /// The journal holds this transfer (its log exists).
    journaled: bool,
    /// The log of a transfer that has not run yet in this process (held, so locked).
    writer: Option<JournalWriter>,
    /// A one-object transfer's upload, for the Uploads screen.
    upload_id: Option<String>,
    concurrency: usize,
    paused: bool,
    abort_requested: bool,
    /// Runs so far in this process (a later run, or one of a journaled transfer, resumes).
    runs: u32,
    /// Figures for the transfer's history record.
    tally: Tally,
    /// Restored from the history: it ended in an earlier process and cannot run again.
    from_history: bool,
}

pub async fn run(
    store: Arc<dyn ObjectStore>,
    config: EngineConfig,
    mut commands: UnboundedReceiver<Command>,
    events: UnboundedSender<Event>,
) {
    let (itx, mut irx) = mpsc::unbounded_channel();
    // Without a usable directory the journal lives in memory: cancel and resume still work
    // within this process, and front ends are told nothing survives it (`journaled: false`).
    let journal = match config.state_dir.as_ref().map(|d| Journal::open(d)) {
        Some(Ok(j)) => j,
        Some(Err(e)) => {
            let _ = events.send(Event::Log {
                level: LogLevel::Error,
                message: format!(
                    "journal disabled: {e}; copies will not be resumable after a crash or a restart"
                ),
            });
            Journal::memory()
        }
        None => Journal::memory(),
    };
    let history = sh_history(&config);
    let sh = Arc::new(Shared {
        sched: Scheduler::new(config.concurrency, events.clone()),
        regions: Regions::new(config.default_region.clone()),
        store,
        config,
        tx: itx,
    });
    let mut e = EngineLoop {
        journal,
        history,
        active_jobs: sh.config.active_jobs.max(1),
        sh,
        jobs: BTreeMap::new(),
        next_id: 1,
        events,
        shutting_down: false,
        aborts_in_flight: 0,
    };
    e.load_journal();
    let (g, eff, _) = e.sh.sched.limits();
    e.emit(Event::Concurrency {
        global_limit: g,
        effective: eff,
        job: None,
    });
    loop {
        // Shutdown waits for running jobs and for aborts already sent: an abort dropped with
        // the runtime would leave the upload on the server and the job's record in the journal.
        if e.shutting_down && e.running_count(true) == 0 && e.aborts_in_flight == 0 {
            break;
        }
        tokio::select! {
            cmd = commands.recv(), if !e.shutting_down => match cmd {
                Some(cmd) => e.command(cmd),
                None => e.shutdown(),
            },
            Some(msg) = irx.recv() => e.internal(msg),
        }
    }
}

struct EngineLoop {
    sh: Arc<Shared>,
    journal: Journal,
    /// Results of ended transfers; `None` without a state directory.
    history: Option<History>,
    jobs: BTreeMap<JobId, Slot>,
    next_id: JobId,
    active_jobs: usize,
    events: UnboundedSender<Event>,
    shutting_down: bool,
    /// Background abort tasks (`spawn_abort`, `abort_uploads`) not yet reported back.
    aborts_in_flight: usize,
}

impl EngineLoop {
    fn emit(&self, ev: Event) {
        if let Event::JobFinished { id, state, .. } = &ev {
            if state.is_finished() {
                self.record_history(*id, state);
            }
        }
        let _ = self.events.send(ev);
    }

    /// Appends an ended transfer's result to the history (a failure is logged, not fatal).
    fn record_history(&self, id: JobId, state: &JobState) {
        let (Some(h), Some(s)) = (&self.history, self.jobs.get(&id)) else {
            return;
        };
        if s.from_history {
            return;
        }
        let r = s.tally.record(id, &s.spec, state, unix_now());
        if let Err(e) = h.append(&r) {
            let _ = self.events.send(Event::Log {
                level: LogLevel::Warn,
                message: format!("job {id}: {e}"),
            });
        }
    }

    fn log(&self, level: LogLevel, message: String) {
        self.emit(Event::Log { level, message });
    }

    /// Removes a transfer's log once nothing in it is needed; a log left behind would offer to
    /// resume what no longer exists, so a failure is reported.
    fn forget_record(&mut self, id: JobId) {
        let writer = self.jobs.get_mut(&id).and_then(|s| {
            s.journaled = false;
            s.writer.take()
        });
        let result = match writer {
            Some(w) => w.close(true),
            None => match self.journal.reopen(id) {
                Ok(w) => w.close(true),
                Err(_) if !self.journal.exists(id) => Ok(()),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            },
        };
        if let Err(e) = result {
            self.log(
                LogLevel::Warn,
                format!("job {id}: its journal is no longer needed but {e}; delete it by hand"),
            );
        }
    }

    fn set_state(&mut self, id: JobId, state: JobState) {
        if let Some(s) = self.jobs.get_mut(&id) {
            s.state = state.clone();
        }
        self.emit(Event::JobState { id, state });
    }

    fn load_journal(&mut self) {
        let j = self.journal.clone();
        let (records, problems) = j.load_all();
        for p in problems {
            self.log(LogLevel::Warn, p);
        }
        self.next_id = j.ids().last().copied().unwrap_or(0) + 1;
        for rec in records {
            self.restore(rec);
        }
        self.load_history();
    }

    /// Transfers that ended in earlier runs, as they ended (the journal's record wins for a
    /// transfer in both: it can still be resumed).
    fn load_history(&mut self) {
        let Some(h) = self.history.clone() else {
            return;
        };
        let (records, bad) = match h.load() {
            Ok(x) => x,
            Err(e) => {
                self.log(LogLevel::Warn, e.to_string());
                return;
            }
        };
        if bad > 0 {
            self.log(
                LogLevel::Warn,
                format!("{}: {bad} unreadable line(s) skipped", h.path().display()),
            );
        }
        for r in records {
            // Ids are never reused while a record holds one.
            self.next_id = self.next_id.max(r.id + 1);
            let Some(spec) = r.spec() else { continue };
            if self.jobs.contains_key(&r.id) {
                continue;
            }
            let state = r.job_state();
            self.emit(Event::JobAdded {
                id: r.id,
                spec: spec.clone(),
                state: state.clone(),
                journaled: false,
            });
            let id = r.id;
            self.emit(Event::JobHistory { record: r });
            self.jobs.insert(
                id,
                Slot {
                    concurrency: self.sh.config.concurrency_per_job,
                    spec,
                    state,
                    running: None,
                    journaled: false,
                    writer: None,
                    upload_id: None,
                    paused: false,
                    abort_requested: false,
                    runs: 1,
                    tally: Tally::default(),
                    from_history: true,
                },
            );
        }
    }

    /// Removes finished transfers that are not running, and their history records.
    fn clear_finished(&mut self) {
        let ids: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, s)| s.running.is_none() && s.state.is_finished())
            .map(|(id, _)| *id)
            .collect();
        if let Some(h) = &self.history {
            if let Err(e) = h.remove(|r| ids.contains(&r.id)) {
                self.log(LogLevel::Warn, e.to_string());
            }
        }
        for id in ids {
            self.jobs.remove(&id);
            self.emit(Event::JobRemoved { id });
        }
    }

    /// A journaled transfer found at start-up: shown as Interrupted with what it had done.
    fn restore(&mut self, rec: TransferRecord) {
        let (Ok(source), Ok(destination)) =
            (CosUri::parse(&rec.source), CosUri::parse(&rec.destination))
        else {
            self.log(
                LogLevel::Warn,
                format!("journal: transfer {} has unreadable URIs; skipped", rec.id),
            );
            return;
        };
        let spec = CopySpec {
            source,
            destination,
            options: rec.options.clone(),
        };
        let id = rec.id;
        // A transfer that failed says so (with its reason) rather than "interrupted".
        let state = match (rec.state.as_str(), &rec.error) {
            ("failed", Some(e)) => JobState::Failed(e.clone()),
            _ => JobState::Interrupted,
        };
        self.emit(Event::JobAdded {
            id,
            spec: spec.clone(),
            state: state.clone(),
            journaled: true,
        });
        let upload = rec.uploads.values().next().cloned();
        if spec.source.is_prefix() {
            self.emit(Event::ObjectsListed {
                job: id,
                objects: rec.listed,
                bytes: rec.listed_bytes,
                complete: rec.listing_done,
            });
            self.emit(Event::TransferProgress {
                job: id,
                done: rec.done,
                done_bytes: rec.done_bytes,
                skipped: rec.skipped,
            });
        } else if let Some(u) = &upload {
            self.emit(Event::JobPlanned {
                id,
                plan: PlanSummary {
                    size: u.source_size,
                    strategy: Strategy::Multipart {
                        part_size: u.part_size,
                        parts: u.parts,
                        ramp: u.ramp,
                    },
                    upload_id: Some(u.upload_id.clone()),
                    parts_done: u.done_parts.iter().map(|p| p.part_number).collect(),
                    source_etag: u.source_etag.clone(),
                    source_crc64: u.source_crc64,
                },
            });
        }
        self.jobs.insert(
            id,
            Slot {
                concurrency: rec
                    .options
                    .concurrency
                    .unwrap_or(self.sh.config.concurrency_per_job),
                spec,
                state,
                running: None,
                journaled: true,
                writer: None,
                upload_id: upload.map(|u| u.upload_id),
                paused: false,
                abort_requested: false,
                runs: 1,
                tally: Tally {
                    listed: rec.listed,
                    listed_bytes: rec.listed_bytes,
                    done: rec.done,
                    skipped: rec.skipped,
                    bytes: rec.done_bytes,
                    started: Some(rec.created.unix_timestamp()),
                    ..Tally::default()
                },
                from_history: false,
            },
        );
    }

    fn running_count(&self, include_paused: bool) -> usize {
        self.jobs
            .values()
            .filter(|s| s.running.is_some() && (include_paused || !s.paused))
            .count()
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Enqueue(spec) => self.enqueue(spec),
            Command::Pause(id) => self.pause(id),
            Command::Resume(id) | Command::Retry(id) => self.resume(id),
            Command::Cancel(id) => self.cancel(id),
            Command::Abort(id) => self.abort(id),
            Command::Remove(id) => self.remove(id),
            Command::ClearFinished => self.clear_finished(),
            Command::PauseAll => {
                let ids: Vec<_> = self.jobs.keys().copied().collect();
                ids.into_iter().for_each(|id| self.pause(id));
            }
            Command::ResumeAll => {
                let ids: Vec<_> = self
                    .jobs
                    .iter()
                    .filter(|(_, s)| s.state == JobState::Paused)
                    .map(|(id, _)| *id)
                    .collect();
                ids.into_iter().for_each(|id| self.resume(id));
            }
            Command::SetConcurrency { job: None, n } => self.sh.sched.set_global(n),
            Command::SetConcurrency { job: Some(id), n } => {
                let n = n.max(1);
                if let Some(s) = self.jobs.get_mut(&id) {
                    s.concurrency = n;
                    if s.running.is_some() {
                        self.sh.sched.set_job(id, n);
                    } else {
                        let (g, e, _) = self.sh.sched.limits();
                        self.emit(Event::Concurrency {
                            global_limit: g,
                            effective: e,
                            job: Some((id, n)),
                        });
                    }
                }
            }
            Command::SetActiveJobs(n) => {
                self.active_jobs = n.max(1);
                self.schedule();
            }
            Command::Browse(req) => self.browse(req),
            Command::AbortUploads { bucket, uploads } => self.abort_uploads(bucket, uploads),
            Command::DeleteObjects { bucket, keys } => self.delete_objects(bucket, keys),
            Command::Shutdown => self.shutdown(),
        }
    }

    fn enqueue(&mut self, spec: CopySpec) {
        // Front ends check with the same routine; this keeps the engine's own contract.
        let checked = request::check(CopyRequest {
            recursive: spec.source.is_prefix(),
            source: spec.source.clone(),
            destination: spec.destination.clone(),
            options: spec.options.clone(),
            known_size: None,
        });
        let spec = match checked {
            Ok(s) => s,
            Err(e) => {
                self.emit(Event::Rejected {
                    spec,
                    error: e.to_string(),
                });
                return;
            }
        };
        let from = self.free_id();
        let writer = self.journal.create(
            from,
            &spec.source.to_string(),
            &spec.destination.to_string(),
            &spec.options,
            self.sh.config.origin.as_ref(),
        );
        let (id, writer) = match writer {
            Ok(w) => (w.id(), Some(w)),
            Err(e) => {
                self.log(
                    LogLevel::Warn,
                    format!("this copy is not journaled ({e}): it cannot be resumed after a crash or a restart"),
                );
                (self.free_id(), None)
            }
        };
        self.next_id = self.next_id.max(id + 1);
        self.emit(Event::JobAdded {
            id,
            spec: spec.clone(),
            state: JobState::Queued,
            journaled: writer.is_some() && self.journal.is_durable(),
        });
        self.jobs.insert(
            id,
            Slot {
                concurrency: spec
                    .options
                    .concurrency
                    .unwrap_or(self.sh.config.concurrency_per_job),
                spec,
                state: JobState::Queued,
                running: None,
                journaled: writer.is_some(),
                writer,
                upload_id: None,
                paused: false,
                abort_requested: false,
                runs: 0,
                tally: Tally::default(),
                from_history: false,
            },
        );
        self.schedule();
    }

    fn free_id(&mut self) -> JobId {
        let mut id = self.next_id;
        while self.jobs.contains_key(&id) {
            id += 1;
        }
        id
    }

    fn pause(&mut self, id: JobId) {
        let Some(s) = self.jobs.get_mut(&id) else {
            return;
        };
        match (&s.running, &s.state) {
            (Some(r), st) if !st.is_finished() => {
                s.paused = true;
                let _ = r.pause.send(true);
                self.set_state(id, JobState::Paused);
                self.schedule();
            }
            (None, JobState::Queued) => {
                s.paused = true;
                self.set_state(id, JobState::Paused);
            }
            _ => {}
        }
    }

    fn resume(&mut self, id: JobId) {
        let Some(s) = self.jobs.get_mut(&id) else {
            return;
        };
        if s.from_history {
            self.log(
                LogLevel::Warn,
                format!(
                    "job {id} ended in an earlier run and is only history: copy it again to retry"
                ),
            );
            return;
        }
        if let Some(r) = &s.running {
            if s.paused {
                s.paused = false;
                let _ = r.pause.send(false);
                self.set_state(id, JobState::Running);
            }
            return;
        }
        match &s.state {
            JobState::Paused => {
                s.paused = false;
                self.set_state(id, JobState::Queued);
            }
            JobState::Interrupted | JobState::Cancelled | JobState::Failed(_) => {
                s.paused = false;
                s.abort_requested = false;
                self.set_state(id, JobState::Queued);
            }
            _ => return,
        }
        self.schedule();
    }

    fn cancel(&mut self, id: JobId) {
        let Some(s) = self.jobs.get_mut(&id) else {
            return;
        };
        if let Some(r) = &s.running {
            let _ = r
                .kind
                .compare_exchange(0, STOP_CANCEL, Ordering::SeqCst, Ordering::SeqCst);
            r.stop.cancel();
        } else if matches!(s.state, JobState::Queued | JobState::Paused) {
            s.paused = false;
            self.set_state(id, JobState::Cancelled);
        }
    }

    fn abort(&mut self, id: JobId) {
        let Some(s) = self.jobs.get_mut(&id) else {
            return;
        };
        if s.abort_requested
            || matches!(
                s.state,
                JobState::Aborted | JobState::Done | JobState::Skipped
            )
        {
            return;
        }
        s.abort_requested = true;
        if let Some(r) = &s.running {
            r.kind.store(STOP_ABORT, Ordering::SeqCst);
            r.stop.cancel();
            return;
        }
        let (ran, journaled) = (s.runs > 0, s.journaled);
        if ran && journaled {
            self.spawn_abort(id);
        } else {
            // Never ran: nothing exists on the server.
            self.forget_record(id);
            self.set_state(id, JobState::Aborted);
            self.emit(Event::JobFinished {
                id,
                state: JobState::Aborted,
                verification: None,
            });
        }
    }

    /// Aborts every upload a journaled transfer that is not running still owns, then forgets
    /// it. Any upload that cannot be aborted keeps the transfer in the journal.
    fn spawn_abort(&mut self, id: JobId) {
        let journal = self.journal.clone();
        if let Some(w) = self.jobs.get_mut(&id).and_then(|s| s.writer.take()) {
            let _ = w.close(false);
        }
        self.aborts_in_flight += 1;
        let sh = Arc::clone(&self.sh);
        let tx = self.sh.tx.clone();
        tokio::spawn(async move {
            let result = abort_journaled(&sh, &journal, id).await;
            let _ = tx.send(Internal::AbortDone { id, result });
        });
    }

    fn remove(&mut self, id: JobId) {
        let Some(s) = self.jobs.get(&id) else { return };
        if s.running.is_some() {
            self.log(
                LogLevel::Warn,
                format!("job {id} is running: cancel or abort it before removing it"),
            );
            return;
        }
        if s.runs == 0 {
            // Never ran: its log holds nothing worth keeping.
            self.forget_record(id);
        } else if s.journaled && !s.state.is_finished() {
            self.log(
                LogLevel::Info,
                format!("job {id} removed from the list; what it did stays on the server and in the journal (`haul jobs resume {id}` continues it, `haul jobs abort {id}` discards its uploads)"),
            );
        }
        if self.jobs.get(&id).is_some_and(|s| s.state.is_finished()) {
            if let Some(h) = &self.history {
                if let Err(e) = h.remove(|r| r.id == id) {
                    self.log(LogLevel::Warn, e.to_string());
                }
            }
        }
        self.jobs.remove(&id);
        self.emit(Event::JobRemoved { id });
    }

    fn shutdown(&mut self) {
        self.shutting_down = true;
        // Transfers that never ran stay journaled (resumable at the next start); close them.
        for s in self.jobs.values_mut() {
            if let Some(w) = s.writer.take() {
                let _ = w.close(false);
            }
        }
        for s in self.jobs.values() {
            if let Some(r) = &s.running {
                let _ = r
                    .kind
                    .compare_exchange(0, STOP_CANCEL, Ordering::SeqCst, Ordering::SeqCst);
                r.stop.cancel();
            }
        }
    }

    /// Starts queued jobs while fewer than `active_jobs` run (paused ones do not count).
    fn schedule(&mut self) {
        if self.shutting_down {
            return;
        }
        while self.running_count(false) < self.active_jobs {
            let next = self
                .jobs
                .iter()
                .find(|(_, s)| s.running.is_none() && s.state == JobState::Queued && !s.paused)
                .map(|(id, _)| *id);
            let Some(id) = next else { break };
            self.start(id);
        }
    }

    fn start(&mut self, id: JobId) {
        let Some(s) = self.jobs.get_mut(&id) else {
            return;
        };
        // A first run takes the log created at Enqueue; any other run resumes from the log,
        // which it must hold (another process may be resuming it).
        let j = self.journal.clone();
        let (journal, resume) = match s.writer.take() {
            Some(w) if s.runs > 0 => (Some(w), j.read(id).ok()),
            Some(w) => (Some(w), None),
            None if s.journaled => match j.reopen(id) {
                Ok(w) => match j.read(id) {
                    Ok(rec) => (Some(w), Some(rec)),
                    Err(e) => {
                        drop(w);
                        return self.refuse_start(id, e.to_string());
                    }
                },
                Err(e) => return self.refuse_start(id, e.to_string()),
            },
            None => (None, None),
        };
        let Some(s) = self.jobs.get_mut(&id) else {
            return;
        };
        s.runs += 1;
        let stop = CancellationToken::new();
        let kind = Arc::new(AtomicU8::new(0));
        let (ptx, prx) = watch::channel(false);
        let run = TransferRun {
            id,
            spec: s.spec.clone(),
            resume,
            journal,
            stop: stop.clone(),
            stop_kind: Arc::clone(&kind),
            paused: prx,
        };
        s.running = Some(Running {
            stop,
            kind,
            pause: ptx,
        });
        self.sh.sched.register(id, s.concurrency);
        let sh = Arc::clone(&self.sh);
        tokio::spawn(async move {
            let tx = sh.tx.clone();
            // The run in a task of its own, so that even a panic in it is reported as the job's
            // end: a job left "running" would hold its permits and make shutdown wait forever.
            let outcome = match tokio::spawn(transfer::run(sh, run)).await {
                Ok(outcome) => outcome,
                Err(e) => Outcome {
                    state: JobState::Failed(format!(
                        "job {id} stopped unexpectedly ({e}); uploads it started stay on the server and in the journal: see `haul jobs ls` and `haul uploads ls`"
                    )),
                    verification: None,
                    journaled: true,
                    aborted_upload: false,
                },
            };
            let _ = tx.send(Internal::Finished { id, outcome });
        });
    }

    fn internal(&mut self, msg: Internal) {
        match msg {
            Internal::Event(ev) => self.forward(ev),
            Internal::Finished { id, outcome } => self.finished(id, outcome),
            Internal::AbortDone { id, result } => {
                self.aborts_in_flight -= 1;
                let state = match result {
                    Ok(()) => {
                        if let Some(s) = self.jobs.get_mut(&id) {
                            s.journaled = false;
                        }
                        JobState::Aborted
                    }
                    Err(e) => JobState::Failed(e),
                };
                self.set_state(id, state.clone());
                self.emit(Event::JobFinished {
                    id,
                    state,
                    verification: None,
                });
            }
            Internal::UploadsAborted { upload_ids, failed } => {
                self.aborts_in_flight -= 1;
                let hit: Vec<JobId> = self
                    .jobs
                    .iter()
                    .filter(|(_, s)| {
                        s.running.is_none()
                            && s.upload_id.as_ref().is_some_and(|u| upload_ids.contains(u))
                    })
                    .map(|(id, _)| *id)
                    .collect();
                for id in hit {
                    self.forget_record(id);
                    self.set_state(id, JobState::Aborted);
                    self.emit(Event::JobFinished {
                        id,
                        state: JobState::Aborted,
                        verification: None,
                    });
                }
                self.emit(Event::UploadsAborted {
                    aborted: upload_ids.len(),
                    failed,
                });
            }
        }
    }

    fn forward(&mut self, ev: Event) {
        if let Some(s) = ev.job().and_then(|id| self.jobs.get_mut(&id)) {
            s.tally.apply(&ev);
            if let Event::JobState { state, .. } = &ev {
                if state.is_active() {
                    s.tally.running(std::time::Instant::now(), unix_now());
                } else {
                    s.tally.stopped(std::time::Instant::now());
                }
            }
        }
        match &ev {
            Event::JobState { id, state } => {
                let Some(s) = self.jobs.get_mut(id) else {
                    return;
                };
                if s.paused && *state == JobState::Running {
                    s.state = JobState::Paused;
                    self.emit(Event::JobState {
                        id: *id,
                        state: JobState::Paused,
                    });
                    return;
                }
                s.state = state.clone();
            }
            Event::JobPlanned { id, plan } => {
                if let Some(s) = self.jobs.get_mut(id) {
                    s.upload_id = plan.upload_id.clone();
                }
            }
            _ => {}
        }
        self.emit(ev);
    }

    fn finished(&mut self, id: JobId, outcome: Outcome) {
        self.sh.sched.unregister(id);
        let Some(s) = self.jobs.get_mut(&id) else {
            return;
        };
        s.running = None;
        s.paused = false;
        s.state = outcome.state.clone();
        s.journaled = outcome.journaled;
        // An abort is owed unless this run sent it or nothing is left to abort. A run stopped
        // before its uploads were touched reports Aborted yet may still hold resumed uploads.
        let owe_abort = s.abort_requested
            && !outcome.aborted_upload
            && !matches!(outcome.state, JobState::Done | JobState::Skipped);
        let journaled = s.journaled;
        self.emit(Event::JobState {
            id,
            state: outcome.state.clone(),
        });
        match (owe_abort, journaled) {
            (true, true) => self.spawn_abort(id),
            (true, false) => {
                self.set_state(id, JobState::Aborted);
                self.emit(Event::JobFinished {
                    id,
                    state: JobState::Aborted,
                    verification: None,
                });
            }
            _ => self.emit(Event::JobFinished {
                id,
                state: outcome.state,
                verification: outcome.verification,
            }),
        }
        self.schedule();
    }

    /// A transfer that cannot start (its journal is held elsewhere or unreadable) ends Failed
    /// at once with the reason.
    fn refuse_start(&mut self, id: JobId, error: String) {
        if let Some(s) = self.jobs.get_mut(&id) {
            s.state = JobState::Failed(error.clone());
        }
        self.set_state(id, JobState::Failed(error.clone()));
        self.emit(Event::JobFinished {
            id,
            state: JobState::Failed(error),
            verification: None,
        });
    }

    fn browse(&self, req: BrowseRequest) {
        let sh = Arc::clone(&self.sh);
        let jobs_by_upload: HashMap<String, JobId> = self
            .jobs
            .iter()
            .filter_map(|(id, s)| s.upload_id.clone().map(|u| (u, *id)))
            .collect();
        tokio::spawn(async move {
            let listing = browse(&sh, req, jobs_by_upload).await;
            let _ = sh.tx.send(Internal::Event(Event::Listing(listing)));
        });
    }

    fn abort_uploads(&mut self, bucket: BucketName, uploads: Vec<(String, String)>) {
        self.aborts_in_flight += 1;
        let sh = Arc::clone(&self.sh);
        tokio::spawn(async move {
            let mut ok = Vec::new();
            let mut failed = Vec::new();
            match region(&sh, &bucket).await {
                Ok(region) => {
                    for (key, upload_id) in uploads {
                        let dst = ObjectRef::new(bucket.clone(), region.clone(), key.clone());
                        match object::abort_upload(&sh, &dst, &upload_id).await {
                            Ok(()) => ok.push(upload_id),
                            Err(e) => failed.push(e),
                        }
                    }
                }
                Err(e) => failed.push(e),
            }
            let _ = sh.tx.send(Internal::UploadsAborted {
                upload_ids: ok,
                failed,
            });
        });
    }
}

impl EngineLoop {
    /// Deletes `keys` one by one, each through the retry policy; a key already gone counts as
    /// deleted (DeleteObject answers 204 either way).
    fn delete_objects(&mut self, bucket: BucketName, keys: Vec<String>) {
        let sh = Arc::clone(&self.sh);
        tokio::spawn(async move {
            let mut deleted = Vec::new();
            let mut failed = Vec::new();
            match region(&sh, &bucket).await {
                Ok(region) => {
                    let never = CancellationToken::new();
                    for key in keys {
                        let obj = ObjectRef::new(bucket.clone(), region.clone(), key.clone());
                        let store = Arc::clone(&sh.store);
                        let r = retry(
                            &*store,
                            &sh.config.retry,
                            &never,
                            false,
                            |_, _, _| {},
                            |_| store.delete_object(&obj),
                        )
                        .await;
                        match r {
                            Ok(()) => deleted.push(key),
                            Err(Stop::Failed { error, .. }) if error.is_not_found() => {
                                deleted.push(key)
                            }
                            Err(Stop::Failed { error, .. }) => {
                                failed.push(format!("cannot delete {obj}: {error}"))
                            }
                            Err(Stop::Stopped) => failed.push(format!("{obj}: interrupted")),
                        }
                    }
                }
                Err(e) => failed.push(e),
            }
            let _ = sh.tx.send(Internal::Event(Event::ObjectsDeleted {
                bucket,
                deleted,
                failed,
            }));
        });
    }
}

/// Aborts the uploads a journaled transfer still owns and removes its log.
async fn abort_journaled(sh: &Shared, journal: &Journal, id: JobId) -> Result<(), String> {
    let writer = journal.reopen(id).map_err(|e| e.to_string())?;
    let rec = journal.read(id).map_err(|e| e.to_string())?;
    let bucket = CosUri::parse(&rec.destination)
        .map_err(|e| format!("journal of transfer {id}: {e}"))?
        .bucket;
    let mut errors = Vec::new();
    for u in rec.uploads.values() {
        let dst = ObjectRef::new(
            bucket.clone(),
            u.destination_region.clone(),
            u.dst_key.clone(),
        );
        match object::abort_upload(sh, &dst, &u.upload_id).await {
            Ok(()) => writer.append(&Entry::UploadGone { k: u.key.clone() }),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        writer.close(true).map_err(|e| e.to_string())
    } else {
        let _ = writer.close(false);
        Err(errors.join("; "))
    }
}

async fn region(sh: &Shared, bucket: &BucketName) -> Result<String, String> {
    let never = CancellationToken::new();
    match sh
        .regions
        .resolve(&*sh.store, bucket, &sh.config.retry, &never)
        .await
    {
        Ok(r) => Ok(r),
        Err(Stop::Failed { error, .. }) => Err(error.to_string()),
        Err(Stop::Stopped) => Err("stopped".into()),
    }
}

/// Browsing is interactive: a few quick retries of transient failures (COS throttles listings
/// too), then the error is shown and the user can refresh.
const BROWSE_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base: Duration::from_millis(200),
    cap: Duration::from_secs(2),
};

/// One browse request with `BROWSE_RETRY`; errors become the text the front end shows.
async fn browse_call<T, F, Fut>(sh: &Shared, request: F) -> Result<T, String>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = crate::store::Result<T>>,
{
    let never = CancellationToken::new();
    match retry(
        &*sh.store,
        &BROWSE_RETRY,
        &never,
        false,
        |_, _, _| {},
        request,
    )
    .await
    {
        Ok(v) => Ok(v),
        Err(Stop::Failed { error, .. }) => Err(error.to_string()),
        Err(Stop::Stopped) => Err("stopped".into()),
    }
}

/// Answers one browse request through the store (one request per page; the uploads listing
/// pages through everything under the prefix and asks ListParts for each upload's progress).
pub async fn browse(
    sh: &Shared,
    req: BrowseRequest,
    jobs_by_upload: HashMap<String, JobId>,
) -> Listing {
    let store = &sh.store;
    match req {
        BrowseRequest::Buckets => Listing::Buckets(browse_call(sh, |_| store.list_buckets()).await),
        BrowseRequest::Objects {
            bucket,
            prefix,
            marker,
        } => {
            let page = match region(sh, &bucket).await {
                Ok(r) => {
                    let req = ListObjectsRequest {
                        prefix: prefix.clone(),
                        delimiter: Some("/".into()),
                        marker: marker.clone(),
                        max_keys: Some(1000),
                    };
                    browse_call(sh, |_| store.list_objects(&bucket, &r, &req)).await
                }
                Err(e) => Err(e),
            };
            Listing::Objects {
                bucket,
                prefix,
                marker,
                page,
            }
        }
        BrowseRequest::HeadObject(uri) => {
            let meta = match region(sh, &uri.bucket).await {
                Ok(r) => {
                    let obj = ObjectRef::new(uri.bucket.clone(), r, uri.key.clone());
                    browse_call(sh, |_| store.head_object(&obj)).await
                }
                Err(e) => Err(e),
            };
            Listing::Object { uri, meta }
        }
        BrowseRequest::Region(bucket) => {
            let region = region(sh, &bucket).await;
            Listing::Region { bucket, region }
        }
        BrowseRequest::Exists(uri) => {
            let size = match region(sh, &uri.bucket).await {
                Ok(r) => {
                    let obj = ObjectRef::new(uri.bucket.clone(), r, uri.key.clone());
                    let never = CancellationToken::new();
                    let head = retry(
                        &**store,
                        &BROWSE_RETRY,
                        &never,
                        false,
                        |_, _, _| {},
                        |_| store.head_object(&obj),
                    )
                    .await;
                    match head {
                        Ok(m) => Ok(Some(m.size)),
                        Err(Stop::Failed { error, .. }) if error.is_not_found() => Ok(None),
                        Err(Stop::Failed { error, .. }) => Err(error.to_string()),
                        Err(Stop::Stopped) => Err("stopped".into()),
                    }
                }
                Err(e) => Err(e),
            };
            Listing::Exists { uri, size }
        }
        BrowseRequest::Uploads { bucket, prefix } => {
            let uploads = list_uploads(sh, &bucket, &prefix, &jobs_by_upload).await;
            Listing::Uploads {
                bucket,
                prefix,
                uploads,
            }
        }
    }
}

/// Every incomplete upload under `prefix`, with parts and bytes so far.
pub async fn list_uploads(
    sh: &Shared,
    bucket: &BucketName,
    prefix: &str,
    jobs_by_upload: &HashMap<String, JobId>,
) -> Result<Vec<UploadSummary>, String> {
    let region = region(sh, bucket).await?;
    let store = &sh.store;
    let mut out = Vec::new();
    let mut req = ListUploadsRequest {
        prefix: prefix.to_string(),
        ..Default::default()
    };
    loop {
        let page = browse_call(sh, |_| store.list_multipart_uploads(bucket, &region, &req)).await?;
        for u in page.uploads {
            let obj = ObjectRef::new(bucket.clone(), region.clone(), u.key.clone());
            let (mut parts, mut bytes, mut marker) = (0u32, 0u64, None);
            // An upload that vanishes between the two listings just shows what was counted.
            while let Ok(p) = browse_call(sh, |_| {
                store.list_parts(&obj, &u.upload_id, marker, Some(1000))
            })
            .await
            {
                parts += p.parts.len() as u32;
                bytes += p.parts.iter().map(|x| x.size).sum::<u64>();
                match (p.is_truncated, p.next_part_number_marker) {
                    (true, Some(m)) if Some(m) != marker => marker = Some(m),
                    _ => break,
                }
            }
            out.push(UploadSummary {
                job: jobs_by_upload.get(&u.upload_id).copied(),
                upload: u,
                parts,
                bytes,
            });
        }
        if !page.is_truncated || page.next_key_marker.is_none() {
            break;
        }
        req.key_marker = page.next_key_marker;
        req.upload_id_marker = page.next_upload_id_marker;
    }
    Ok(out)
}

fn sh_history(config: &EngineConfig) -> Option<History> {
    config.state_dir.as_deref().map(History::new)
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
