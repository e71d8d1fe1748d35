//! The engine task: the job table and queue, commands from front ends, events to them, starting
//! jobs within the active-jobs limit, browse requests and upload aborts.
//!
//! Owns all job state; job runs report to it over an internal channel and it forwards their
//! events, so front ends see one ordered stream. Does no blocking work itself except reading
//! the journal at start.

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

use super::job::{self, Internal, JobRun, Outcome, Shared, STOP_ABORT, STOP_CANCEL};
use super::journal::{Journal, JournalRecord};
use super::region::Regions;
use super::retry::{retry, RetryPolicy, Stop};
use super::scheduler::Scheduler;
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
    /// For resume / retry: the journal record of the kept upload.
    record: Option<JournalRecord>,
    upload_id: Option<String>,
    concurrency: usize,
    paused: bool,
    abort_requested: bool,
    /// Queued to resume from `record`.
    resume: bool,
}

pub async fn run(
    store: Arc<dyn ObjectStore>,
    config: EngineConfig,
    mut commands: UnboundedReceiver<Command>,
    events: UnboundedSender<Event>,
) {
    let (itx, mut irx) = mpsc::unbounded_channel();
    let journal = config
        .state_dir
        .as_ref()
        .and_then(|d| match Journal::open(d) {
            Ok(j) => Some(j),
            Err(e) => {
                let _ = events.send(Event::Log {
                    level: LogLevel::Error,
                    message: format!(
                        "journal disabled: {e}; copies will not be resumable after a crash"
                    ),
                });
                None
            }
        });
    let sh = Arc::new(Shared {
        sched: Scheduler::new(config.concurrency, events.clone()),
        regions: Regions::new(config.default_region.clone()),
        store,
        config,
        journal,
        tx: itx,
    });
    let mut e = EngineLoop {
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
        let _ = self.events.send(ev);
    }

    fn log(&self, level: LogLevel, message: String) {
        self.emit(Event::Log { level, message });
    }

    /// Removes a job's journal file once its upload is gone; a file left behind would offer to
    /// resume an upload that no longer exists, so a failure is reported.
    fn forget_record(&self, id: JobId) {
        if let Some(j) = &self.sh.journal {
            if let Err(e) = j.remove(id) {
                self.log(
                    LogLevel::Warn,
                    format!("job {id}: its upload is aborted but {e}; delete the file by hand"),
                );
            }
        }
    }

    fn set_state(&mut self, id: JobId, state: JobState) {
        if let Some(s) = self.jobs.get_mut(&id) {
            s.state = state.clone();
        }
        self.emit(Event::JobState { id, state });
    }

    fn load_journal(&mut self) {
        let Some(j) = &self.sh.journal else { return };
        let (records, problems) = j.load_all();
        for p in problems {
            self.log(LogLevel::Warn, p);
        }
        self.next_id = j.max_id().unwrap_or(0) + 1;
        for rec in records {
            let (Ok(source), Ok(destination)) =
                (CosUri::parse(&rec.source), CosUri::parse(&rec.destination))
            else {
                self.log(
                    LogLevel::Warn,
                    format!("journal record {} has unreadable URIs; skipped", rec.id),
                );
                continue;
            };
            let spec = CopySpec {
                source,
                destination,
                options: rec.options.clone(),
            };
            let id = rec.id;
            self.emit(Event::JobAdded {
                id,
                spec: spec.clone(),
                state: JobState::Interrupted,
            });
            self.emit(Event::JobPlanned {
                id,
                plan: PlanSummary {
                    size: rec.source_size,
                    strategy: Strategy::Multipart {
                        part_size: rec.part_size,
                        parts: rec.parts,
                    },
                    upload_id: Some(rec.upload_id.clone()),
                    parts_done: rec.done_parts.iter().map(|p| p.part_number).collect(),
                    source_etag: rec.source_etag.clone(),
                    source_crc64: rec.source_crc64,
                },
            });
            self.jobs.insert(
                id,
                Slot {
                    concurrency: rec
                        .options
                        .concurrency
                        .unwrap_or(self.sh.config.concurrency_per_job),
                    spec,
                    state: JobState::Interrupted,
                    running: None,
                    upload_id: Some(rec.upload_id.clone()),
                    record: Some(rec),
                    paused: false,
                    abort_requested: false,
                    resume: false,
                },
            );
        }
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
            Command::Shutdown => self.shutdown(),
        }
    }

    fn enqueue(&mut self, spec: CopySpec) {
        let mut id = self.next_id;
        while self.jobs.contains_key(&id) {
            id += 1;
        }
        if let Some(j) = &self.sh.journal {
            // Another haul process may share the state directory: claim the id.
            for _ in 0..10_000 {
                match j.claim(id) {
                    Ok(true) => break,
                    Ok(false) => id += 1,
                    Err(e) => {
                        self.log(LogLevel::Warn, format!("cannot claim job id {id}: {e}"));
                        break;
                    }
                }
                while self.jobs.contains_key(&id) {
                    id += 1;
                }
            }
        }
        self.next_id = id + 1;
        self.emit(Event::JobAdded {
            id,
            spec: spec.clone(),
            state: JobState::Queued,
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
                record: None,
                upload_id: None,
                paused: false,
                abort_requested: false,
                resume: false,
            },
        );
        self.schedule();
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
                s.resume = s.record.is_some();
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
        match s.record.clone() {
            Some(rec) => self.spawn_abort(id, rec),
            None => {
                self.set_state(id, JobState::Aborted);
                self.emit(Event::JobFinished {
                    id,
                    state: JobState::Aborted,
                    verification: None,
                });
            }
        }
    }

    fn spawn_abort(&mut self, id: JobId, rec: JournalRecord) {
        self.aborts_in_flight += 1;
        let sh = Arc::clone(&self.sh);
        let tx = self.sh.tx.clone();
        tokio::spawn(async move {
            let result = match (
                CosUri::parse(&rec.destination),
                rec.destination_region.is_empty(),
            ) {
                (Ok(d), false) => {
                    let dst = ObjectRef::new(d.bucket, rec.destination_region.clone(), d.key);
                    job::abort_upload(&sh, &dst, &rec.upload_id).await
                }
                _ => Err(format!("journal record {id} has no usable destination")),
            };
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
        if s.record.is_some() && !s.state.is_finished() {
            self.log(
                LogLevel::Info,
                format!("job {id} removed from the list; its upload stays on the server and in the journal (`haul jobs abort {id}` discards it)"),
            );
        }
        self.jobs.remove(&id);
        self.emit(Event::JobRemoved { id });
    }

    fn shutdown(&mut self) {
        self.shutting_down = true;
        if let Some(j) = &self.sh.journal {
            for (id, s) in &self.jobs {
                if s.running.is_none() {
                    j.release(*id);
                }
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
        let stop = CancellationToken::new();
        let kind = Arc::new(AtomicU8::new(0));
        let (ptx, prx) = watch::channel(false);
        let run = JobRun {
            id,
            spec: s.spec.clone(),
            resume: if s.resume { s.record.clone() } else { None },
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
            let outcome = match tokio::spawn(job::run(sh, run)).await {
                Ok(outcome) => outcome,
                Err(e) => Outcome {
                    state: JobState::Failed(format!(
                        "job {id} stopped unexpectedly ({e}); an upload it started stays on the server and in the journal: see `haul jobs ls` and `haul uploads ls`"
                    )),
                    verification: None,
                    record: None,
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
                        self.forget_record(id);
                        if let Some(s) = self.jobs.get_mut(&id) {
                            s.record = None;
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
                    if let Some(s) = self.jobs.get_mut(&id) {
                        s.record = None;
                    }
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
        if let Some(j) = &self.sh.journal {
            j.release(id);
        }
        let Some(s) = self.jobs.get_mut(&id) else {
            return;
        };
        s.running = None;
        s.paused = false;
        s.resume = false;
        s.state = outcome.state.clone();
        s.record = outcome.record.clone();
        // An abort is owed unless this run sent it or nothing is left to abort. A run stopped
        // before its upload was touched reports Aborted yet still holds the resumed upload.
        let owe_abort = s.abort_requested
            && !outcome.aborted_upload
            && !matches!(outcome.state, JobState::Done | JobState::Skipped);
        let record = s.record.clone();
        self.emit(Event::JobState {
            id,
            state: outcome.state.clone(),
        });
        match (owe_abort, record) {
            (true, Some(rec)) => self.spawn_abort(id, rec),
            (true, None) => {
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
                        match job::abort_upload(&sh, &dst, &upload_id).await {
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
