//! One job's run: prepare (regions, HEAD source, plan), copy (single PUT Copy or multipart
//! parts through the scheduler), complete (looking before retrying an ambiguous failure),
//! verify, and journal it all. Reports through the engine's internal channel.
//!
//! Never dropped while running: stops cooperatively through its `CancellationToken`, and the
//! clean-up a stop owes (Abort, journal write) always runs before it returns.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use time::OffsetDateTime;
use tokio::sync::{mpsc::UnboundedSender, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::{
    CompletedPart, CopyObjectRequest, CopySourceConditions, Error, MetadataDirective, ObjectMeta,
    ObjectRef, ObjectStore, UploadPartCopyRequest,
};

use super::journal::{Journal, JournalRecord, FLUSH_INTERVAL, FLUSH_PARTS, FORMAT_VERSION};
use super::plan::{choose_strategy, destination_headers, part_range};
use super::region::Regions;
use super::retry::{retry, Stop};
use super::scheduler::{Permit, Scheduler};
use super::verify;
use super::{
    CopySpec, EngineConfig, Event, JobId, JobState, LogLevel, Overwrite, PlanSummary, Strategy,
    Verification,
};

/// No stop requested.
pub const STOP_NONE: u8 = 0;
/// Cancel or shutdown: stop now, keep the upload, journal it.
pub const STOP_CANCEL: u8 = 1;
/// Abort: stop now and Abort Multipart Upload. Dominates a cancel.
pub const STOP_ABORT: u8 = 2;

/// What the engine shares with every job.
pub struct Shared {
    pub store: Arc<dyn ObjectStore>,
    pub sched: Arc<Scheduler>,
    pub regions: Regions,
    pub config: EngineConfig,
    pub journal: Option<Journal>,
    pub tx: UnboundedSender<Internal>,
}

/// Job tasks → engine task.
pub enum Internal {
    Event(Event),
    Finished {
        id: JobId,
        outcome: Outcome,
    },
    /// An abort the engine ran for a job that was not running.
    AbortDone {
        id: JobId,
        result: Result<(), String>,
    },
    UploadsAborted {
        upload_ids: Vec<String>,
        failed: Vec<String>,
    },
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    pub state: JobState,
    pub verification: Option<Verification>,
    /// The journal record when the upload is kept (resumable), for Retry / Resume.
    pub record: Option<JournalRecord>,
    /// This run sent Abort Multipart Upload.
    pub aborted_upload: bool,
}

/// One run of a job.
pub struct JobRun {
    pub id: JobId,
    pub spec: CopySpec,
    pub resume: Option<JournalRecord>,
    pub stop: CancellationToken,
    pub stop_kind: Arc<AtomicU8>,
    pub paused: watch::Receiver<bool>,
}

/// What every part of one upload is copied from and to.
struct PartSource {
    src: ObjectRef,
    dst: ObjectRef,
    upload_id: String,
    /// The source's ETag: each part copy is conditional on it.
    etag: String,
    size: u64,
    part_size: u64,
}

enum PartOutcome {
    Done { part: u32, etag: String },
    Stopped,
    Failed { part: u32, error: Error },
}

/// Runs the job to an end state. Never panics on I/O; every error becomes the outcome.
pub async fn run(sh: Arc<Shared>, job: JobRun) -> Outcome {
    let mut r = Runner { sh, job };
    r.run().await
}

struct Runner {
    sh: Arc<Shared>,
    job: JobRun,
}

fn outcome(state: JobState) -> Outcome {
    Outcome {
        state,
        verification: None,
        record: None,
        aborted_upload: false,
    }
}

impl Runner {
    fn id(&self) -> JobId {
        self.job.id
    }

    fn emit(&self, ev: Event) {
        let _ = self.sh.tx.send(Internal::Event(ev));
    }

    fn state(&self, state: JobState) {
        self.emit(Event::JobState {
            id: self.id(),
            state,
        });
    }

    fn log(&self, level: LogLevel, message: String) {
        self.emit(Event::Log { level, message });
    }

    fn abort_requested(&self) -> bool {
        self.job.stop_kind.load(Ordering::SeqCst) == STOP_ABORT
    }

    /// The end state when stopped before anything exists on the server.
    fn stopped_early(&self) -> Outcome {
        let mut o = outcome(if self.abort_requested() {
            JobState::Aborted
        } else {
            JobState::Cancelled
        });
        o.record = self.job.resume.clone();
        o
    }

    /// Fails the job; a kept upload's record is journaled as failed, with the message.
    fn failed(&self, message: String, record: Option<JournalRecord>) -> Outcome {
        let mut o = outcome(JobState::Failed(message.clone()));
        if let Some(mut rec) = record {
            rec.state = "failed".into();
            rec.error = Some(message);
            self.write_journal(&mut rec);
            o.record = Some(rec);
        }
        o
    }

    fn write_journal(&self, rec: &mut JournalRecord) {
        rec.updated = OffsetDateTime::now_utc();
        if let Some(j) = &self.sh.journal {
            if let Err(e) = j.write(rec) {
                self.log(
                    LogLevel::Warn,
                    format!(
                        "job {}: journal not written ({e}); a crash now would lose its progress",
                        rec.id
                    ),
                );
            }
        }
    }

    fn remove_journal(&self) {
        if let Some(j) = &self.sh.journal {
            if let Err(e) = j.remove(self.id()) {
                self.log(LogLevel::Warn, format!("job {}: {e}", self.id()));
            }
        }
    }

    /// A request with the engine's retry policy; retries are logged.
    async fn call<T, F, Fut>(&self, what: &str, cancel_in_flight: bool, f: F) -> Result<T, Stop>
    where
        F: FnMut(u32) -> Fut,
        Fut: std::future::Future<Output = crate::store::Result<T>>,
    {
        let id = self.id();
        let tx = self.sh.tx.clone();
        retry(
            &*self.sh.store,
            &self.sh.config.retry,
            &self.job.stop,
            cancel_in_flight,
            |attempt, wait, e| {
                let _ = tx.send(Internal::Event(Event::Log {
                    level: LogLevel::Warn,
                    message: format!(
                        "job {id}: {what} attempt {attempt} failed ({e}); retrying in {wait:?}"
                    ),
                }));
            },
            f,
        )
        .await
    }

    async fn run(&mut self) -> Outcome {
        self.state(JobState::Preparing);
        let spec = self.job.spec.clone();
        let (store, sh) = (Arc::clone(&self.sh.store), Arc::clone(&self.sh));
        let mut regions = Vec::new();
        for bucket in [&spec.source.bucket, &spec.destination.bucket] {
            match sh
                .regions
                .resolve(&*store, bucket, &sh.config.retry, &self.job.stop)
                .await
            {
                Ok(r) => regions.push(r),
                Err(Stop::Stopped) => return self.stopped_early(),
                Err(Stop::Failed { error, .. }) => {
                    return self.failed(
                        format!("cannot find the region of {bucket}: {error}"),
                        self.job.resume.clone(),
                    )
                }
            }
        }
        let src = ObjectRef::new(
            spec.source.bucket.clone(),
            regions[0].clone(),
            spec.source.key.clone(),
        );
        let dst = ObjectRef::new(
            spec.destination.bucket.clone(),
            regions[1].clone(),
            spec.destination.key.clone(),
        );
        let meta = match self
            .call("HEAD source", true, |_| store.head_object(&src))
            .await
        {
            Ok(m) => m,
            Err(Stop::Stopped) => return self.stopped_early(),
            Err(Stop::Failed { error, .. }) => {
                return self.failed(
                    format!("cannot read the source {src}: {error}"),
                    self.job.resume.clone(),
                )
            }
        };
        if let Some(rec) = &self.job.resume {
            if rec.source_etag != meta.etag || rec.source_size != meta.size {
                return self.failed(
                    format!(
                        "refusing to resume: the source {src} changed since the copy started (ETag {} / {} bytes, now {} / {} bytes); discard the upload with `haul jobs abort {}` and copy again",
                        rec.source_etag, rec.source_size, meta.etag, meta.size, rec.id
                    ),
                    Some(rec.clone()),
                );
            }
        } else if spec.options.overwrite == Overwrite::Skip {
            match self
                .call("HEAD destination", true, |_| store.head_object(&dst))
                .await
            {
                Ok(_) => return outcome(JobState::Skipped),
                Err(Stop::Stopped) => return self.stopped_early(),
                Err(Stop::Failed { error, .. }) if error.is_not_found() => {}
                Err(Stop::Failed { error, .. }) => {
                    return self.failed(format!("cannot check whether {dst} exists: {error}"), None)
                }
            }
        }
        let concurrency = sh
            .sched
            .job_limit(self.id())
            .unwrap_or(sh.config.concurrency_per_job);
        let strategy = match &self.job.resume {
            Some(rec) => Strategy::Multipart {
                part_size: rec.part_size,
                parts: rec.parts,
            },
            None => match choose_strategy(
                meta.size,
                spec.options.part_size,
                sh.config.single_copy_threshold,
                concurrency,
            ) {
                Ok(s) => s,
                Err(e) => return self.failed(format!("cannot copy {src}: {e}"), None),
            },
        };
        match strategy {
            Strategy::Single => self.single(&src, &dst, &meta).await,
            Strategy::Multipart { part_size, parts } => {
                self.multipart(&src, &dst, &regions, &meta, part_size, parts)
                    .await
            }
        }
    }

    fn plan_event(
        &self,
        meta: &ObjectMeta,
        strategy: Strategy,
        upload_id: Option<String>,
        done: Vec<u32>,
    ) {
        self.emit(Event::JobPlanned {
            id: self.id(),
            plan: PlanSummary {
                size: meta.size,
                strategy,
                upload_id,
                parts_done: done,
                source_etag: meta.etag.clone(),
                source_crc64: meta.crc64,
            },
        });
    }

    async fn single(&mut self, src: &ObjectRef, dst: &ObjectRef, meta: &ObjectMeta) -> Outcome {
        self.plan_event(meta, Strategy::Single, None, vec![]);
        self.state(JobState::Running);
        let req = CopyObjectRequest {
            source: src.clone(),
            destination: dst.clone(),
            directive: MetadataDirective::Copy,
            headers: destination_headers(meta, self.job.spec.options.storage_class.as_deref()),
            conditions: CopySourceConditions {
                if_match: Some(meta.etag.clone()),
                ..Default::default()
            },
        };
        let started = Instant::now();
        self.emit(Event::PartStarted {
            job: self.id(),
            part: 1,
            attempt: 1,
            at: SystemTime::now(),
        });
        let store = Arc::clone(&self.sh.store);
        let res = self
            .call("PUT Object - Copy", true, |_| store.copy_object(&req))
            .await;
        let crc = match res {
            Ok(r) => r.crc64,
            Err(Stop::Stopped) => return self.stopped_early(),
            Err(Stop::Failed { error, .. }) => {
                self.emit(Event::PartFailed {
                    job: self.id(),
                    part: 1,
                    error: error.to_string(),
                });
                if error.status() == Some(412) {
                    return self.failed(
                        format!("the source {src} changed during the copy (412 PreconditionFailed); nothing was written to {dst}: copy again"),
                        None,
                    );
                }
                return self.failed(format!("copying {src} to {dst} failed: {error}"), None);
            }
        };
        self.emit(Event::PartDone {
            job: self.id(),
            part: 1,
            bytes: meta.size,
            elapsed: started.elapsed(),
        });
        self.verify_and_finish(dst, meta, crc).await
    }

    async fn verify_and_finish(
        &mut self,
        dst: &ObjectRef,
        meta: &ObjectMeta,
        complete_crc: Option<u64>,
    ) -> Outcome {
        let v = if self.job.spec.options.verify {
            self.state(JobState::Verifying);
            match self.head_destination(dst).await {
                Ok(d) => verify::compare(meta.size, meta.crc64, d.size, d.crc64.or(complete_crc)),
                Err(error) => {
                    self.remove_journal();
                    return self.failed(
                        format!("the copy completed but {dst} could not be verified: {error}; check it with `haul ls {dst}`"),
                        None,
                    );
                }
            }
        } else {
            Verification::skipped()
        };
        self.remove_journal();
        if verify::passed(&v) {
            Outcome {
                state: JobState::Done,
                verification: Some(v),
                record: None,
                aborted_upload: false,
            }
        } else {
            Outcome {
                state: JobState::Failed(format!(
                    "verification of {dst} failed: {}",
                    verify::describe(&v)
                )),
                verification: Some(v),
                record: None,
                aborted_upload: false,
            }
        }
    }

    /// Abort Multipart Upload, retried, never cancelled; NoSuchUpload counts as done.
    async fn abort_upload(&self, dst: &ObjectRef, upload_id: &str) -> Result<(), String> {
        abort_upload(&self.sh, dst, upload_id).await
    }

    /// ListParts (paginated) → the parts the server has that fit the plan.
    async fn reconcile(
        &self,
        dst: &ObjectRef,
        rec: &JournalRecord,
    ) -> Result<BTreeMap<u32, String>, Stop> {
        let store = Arc::clone(&self.sh.store);
        let mut done = BTreeMap::new();
        let mut marker = None;
        loop {
            let page = self
                .call("ListParts", true, |_| {
                    store.list_parts(dst, &rec.upload_id, marker, Some(1000))
                })
                .await?;
            for p in &page.parts {
                if p.part_number == 0 || p.part_number > rec.parts {
                    continue;
                }
                let want = part_range(rec.source_size, rec.part_size, p.part_number).len();
                if p.size == want {
                    done.insert(p.part_number, p.etag.clone());
                } else {
                    self.log(
                        LogLevel::Warn,
                        format!(
                            "job {}: part {} on the server is {} bytes, the plan says {want}; copying it again",
                            rec.id, p.part_number, p.size
                        ),
                    );
                }
            }
            match (page.is_truncated, page.next_part_number_marker) {
                (true, Some(m)) if Some(m) != marker => marker = Some(m),
                _ => break,
            }
        }
        Ok(done)
    }

    async fn multipart(
        &mut self,
        src: &ObjectRef,
        dst: &ObjectRef,
        regions: &[String],
        meta: &ObjectMeta,
        part_size: u64,
        parts: u32,
    ) -> Outcome {
        let store = Arc::clone(&self.sh.store);
        let spec = self.job.spec.clone();
        let (upload_id, mut done) = match self.job.resume.clone() {
            Some(rec) => match self.reconcile(dst, &rec).await {
                Ok(done) => (rec.upload_id.clone(), done),
                Err(Stop::Stopped) => return self.stopped_early(),
                Err(Stop::Failed { error, .. }) if error.code() == Some("NoSuchUpload") => {
                    return self.upload_gone_on_resume(dst, meta, &rec).await;
                }
                Err(Stop::Failed { error, .. }) => {
                    return self.failed(
                        format!("cannot list the parts of upload {}: {error}", rec.upload_id),
                        Some(rec),
                    )
                }
            },
            None => {
                let headers = destination_headers(meta, spec.options.storage_class.as_deref());
                match self
                    .call("Initiate Multipart Upload", false, |_| {
                        store.initiate_multipart(dst, &headers)
                    })
                    .await
                {
                    Ok(id) => (id, BTreeMap::new()),
                    Err(Stop::Stopped) => return self.stopped_early(),
                    Err(Stop::Failed { error, .. }) => {
                        return self
                            .failed(format!("cannot start the upload to {dst}: {error}"), None)
                    }
                }
            }
        };
        let mut rec = JournalRecord {
            version: FORMAT_VERSION,
            id: self.id(),
            source: spec.source.to_string(),
            destination: spec.destination.to_string(),
            source_region: regions[0].clone(),
            destination_region: regions[1].clone(),
            options: spec.options.clone(),
            upload_id: upload_id.clone(),
            part_size,
            parts,
            source_etag: meta.etag.clone(),
            source_size: meta.size,
            source_last_modified: meta.last_modified,
            source_crc64: meta.crc64,
            done_parts: vec![],
            state: "running".into(),
            error: None,
            updated: OffsetDateTime::now_utc(),
        };
        let sync = |rec: &mut JournalRecord, done: &BTreeMap<u32, String>| {
            rec.done_parts = done
                .iter()
                .map(|(n, e)| CompletedPart {
                    part_number: *n,
                    etag: e.clone(),
                })
                .collect();
        };
        sync(&mut rec, &done);
        self.write_journal(&mut rec);
        self.plan_event(
            meta,
            Strategy::Multipart { part_size, parts },
            Some(upload_id.clone()),
            done.keys().copied().collect(),
        );
        self.state(JobState::Running);

        // The part loop.
        let mut pending: std::collections::VecDeque<u32> =
            (1..=parts).filter(|n| !done.contains_key(n)).collect();
        let part_stop = self.job.stop.child_token();
        let mut set: JoinSet<PartOutcome> = JoinSet::new();
        let mut fatal: Option<(u32, Error)> = None;
        let mut unwritten = 0usize;
        let mut last_write = Instant::now();
        let mut paused = self.job.paused.clone();
        let parts_of = PartSource {
            src: src.clone(),
            dst: dst.clone(),
            upload_id: upload_id.clone(),
            etag: meta.etag.clone(),
            size: meta.size,
            part_size,
        };
        loop {
            let want_more = fatal.is_none() && !part_stop.is_cancelled() && !pending.is_empty();
            let finished = if want_more {
                tokio::select! {
                    biased;
                    r = set.join_next(), if !set.is_empty() => r,
                    permit = self.sh.sched.acquire(self.id(), &mut paused, &part_stop) => {
                        if let (Some(permit), Some(n)) = (permit, pending.pop_front()) {
                            self.spawn_part(&mut set, permit, &parts_of, n, part_stop.clone());
                        }
                        continue;
                    }
                }
            } else if set.is_empty() {
                break;
            } else {
                set.join_next().await
            };
            match finished {
                Some(Ok(PartOutcome::Done { part, etag })) => {
                    done.insert(part, etag);
                    unwritten += 1;
                    if unwritten >= FLUSH_PARTS || last_write.elapsed() >= FLUSH_INTERVAL {
                        sync(&mut rec, &done);
                        self.write_journal(&mut rec);
                        unwritten = 0;
                        last_write = Instant::now();
                    }
                }
                Some(Ok(PartOutcome::Stopped)) | None => {}
                Some(Ok(PartOutcome::Failed { part, error })) => {
                    if fatal.is_none() {
                        fatal = Some((part, error));
                    }
                    part_stop.cancel();
                }
                Some(Err(join_error)) => {
                    if fatal.is_none() {
                        fatal = Some((
                            0,
                            Error::InvalidInput(format!(
                                "a part task ended abnormally: {join_error}"
                            )),
                        ));
                    }
                    part_stop.cancel();
                }
            }
        }
        sync(&mut rec, &done);

        if self.abort_requested() {
            let mut o = match self.abort_upload(dst, &upload_id).await {
                Ok(()) => outcome(JobState::Aborted),
                Err(e) => self.failed(e, Some(rec.clone())),
            };
            o.aborted_upload = true;
            if o.state == JobState::Aborted {
                self.remove_journal();
            }
            return o;
        }
        if let Some((part, error)) = fatal {
            if error.status() == Some(412) {
                let aborted = self.abort_upload(dst, &upload_id).await;
                self.remove_journal();
                let mut o = outcome(JobState::Failed(match aborted {
                    Ok(()) => format!("the source {src} changed during the copy (part {part}: 412 PreconditionFailed); the upload was aborted and nothing was written to {dst}: copy again"),
                    Err(e) => format!("the source {src} changed during the copy (part {part}: 412 PreconditionFailed); aborting the upload failed too: {e}"),
                }));
                o.aborted_upload = true;
                return o;
            }
            if error.code() == Some("NoSuchUpload") {
                self.remove_journal();
                return outcome(JobState::Failed(format!(
                    "the upload {upload_id} to {dst} disappeared during the copy (NoSuchUpload on part {part}): it was aborted or completed elsewhere; copy again"
                )));
            }
            let id = self.id();
            return self.failed(
                format!("part {part} failed: {error}; the upload is kept: `haul jobs resume {id}` continues it, `haul jobs abort {id}` discards it"),
                Some(rec),
            );
        }
        if self.job.stop.is_cancelled() {
            rec.state = "cancelled".into();
            self.write_journal(&mut rec);
            let mut o = outcome(JobState::Cancelled);
            o.record = Some(rec);
            return o;
        }
        self.write_journal(&mut rec);
        self.complete_and_verify(dst, meta, rec).await
    }

    fn spawn_part(
        &self,
        set: &mut JoinSet<PartOutcome>,
        permit: Permit,
        of: &PartSource,
        part: u32,
        stop: CancellationToken,
    ) {
        let sh = Arc::clone(&self.sh);
        let id = self.id();
        let range = part_range(of.size, of.part_size, part);
        let req = UploadPartCopyRequest {
            destination: of.dst.clone(),
            upload_id: of.upload_id.clone(),
            part_number: part,
            source: of.src.clone(),
            range: Some(range),
            conditions: CopySourceConditions {
                if_match: Some(of.etag.clone()),
                ..Default::default()
            },
        };
        set.spawn(async move {
            let started = Instant::now();
            let tx = sh.tx.clone();
            let send = move |ev: Event| {
                let _ = tx.send(Internal::Event(ev));
            };
            send(Event::PartStarted {
                job: id,
                part,
                attempt: 1,
                at: SystemTime::now(),
            });
            let sched = Arc::clone(&sh.sched);
            let send2 = send.clone();
            let res = retry(
                &*sh.store,
                &sh.config.retry,
                &stop,
                true,
                |attempt, wait, e| {
                    if e.is_throttle() {
                        sched.on_throttle();
                    }
                    send2(Event::PartRetrying {
                        job: id,
                        part,
                        attempt: attempt + 1,
                        after: wait,
                        error: e.to_string(),
                    });
                },
                |_| sh.store.upload_part_copy(&req),
            )
            .await;
            drop(permit);
            match res {
                Ok(r) => {
                    let elapsed = started.elapsed();
                    sh.sched.on_success(elapsed);
                    send(Event::PartDone {
                        job: id,
                        part,
                        bytes: range.len(),
                        elapsed,
                    });
                    PartOutcome::Done { part, etag: r.etag }
                }
                Err(Stop::Stopped) => PartOutcome::Stopped,
                Err(Stop::Failed { error, attempts }) => {
                    if error.is_throttle() {
                        sh.sched.on_throttle();
                    }
                    send(Event::PartFailed {
                        job: id,
                        part,
                        error: format!("{error} (after {attempts} attempts)"),
                    });
                    PartOutcome::Failed { part, error }
                }
            }
        });
    }

    /// Resuming an upload the server no longer has: maybe it completed before the crash.
    async fn upload_gone_on_resume(
        &mut self,
        dst: &ObjectRef,
        meta: &ObjectMeta,
        rec: &JournalRecord,
    ) -> Outcome {
        match self.look_at_destination(dst, rec.parts, meta.size).await {
            Some(crc) => {
                self.plan_event(
                    meta,
                    Strategy::Multipart {
                        part_size: rec.part_size,
                        parts: rec.parts,
                    },
                    Some(rec.upload_id.clone()),
                    (1..=rec.parts).collect(),
                );
                self.verify_and_finish(dst, meta, crc).await
            }
            None => {
                self.remove_journal();
                outcome(JobState::Failed(format!(
                    "the upload {} to {dst} no longer exists (aborted or expired) and {dst} is not its result: copy again",
                    rec.upload_id
                )))
            }
        }
    }

    /// HEAD the destination with the retry policy, never cancelled: the copy has happened (or
    /// may have), and what is there now decides the outcome.
    async fn head_destination(&self, dst: &ObjectRef) -> Result<ObjectMeta, Error> {
        let store = Arc::clone(&self.sh.store);
        let never = CancellationToken::new();
        let head = retry(
            &*store,
            &self.sh.config.retry,
            &never,
            false,
            |_, _, _| {},
            |_| store.head_object(dst),
        )
        .await;
        match head {
            Ok(meta) => Ok(meta),
            Err(Stop::Failed { error, .. }) => Err(error),
            Err(Stop::Stopped) => unreachable!("a token nobody holds is never cancelled"),
        }
    }

    /// `Some(crc64)` when the destination looks like this upload's completed result
    /// (multipart ETag ending in `-<parts>`, right size).
    async fn look_at_destination(
        &self,
        dst: &ObjectRef,
        parts: u32,
        size: u64,
    ) -> Option<Option<u64>> {
        match self.head_destination(dst).await {
            Ok(d) if d.size == size && d.etag.ends_with(&format!("-{parts}")) => Some(d.crc64),
            _ => None,
        }
    }

    async fn complete_and_verify(
        &mut self,
        dst: &ObjectRef,
        meta: &ObjectMeta,
        rec: JournalRecord,
    ) -> Outcome {
        self.state(JobState::Completing);
        let store = Arc::clone(&self.sh.store);
        let policy = self.sh.config.retry.clone();
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::from_entropy();
        let parts = rec.done_parts.clone();
        let mut attempt = 1u32;
        let crc = loop {
            let err = match store.complete_multipart(dst, &rec.upload_id, &parts).await {
                Ok(r) => break r.crc64,
                Err(e) => e,
            };
            if err.is_clock_skew() && attempt < policy.max_attempts {
                if let Some(d) = err.server_date() {
                    store.correct_clock(d);
                }
                attempt += 1;
                continue;
            }
            let ambiguous =
                err.is_transient() || (attempt > 1 && err.code() == Some("NoSuchUpload"));
            if !ambiguous {
                let id = self.id();
                return self.failed(
                    format!("Complete Multipart Upload of {dst} failed: {err}; the upload is kept: `haul jobs resume {id}` tries again, `haul jobs abort {id}` discards it"),
                    Some(rec),
                );
            }
            // Ambiguous: the merge may have happened. Look before trying again.
            let listed = store.list_parts(dst, &rec.upload_id, None, Some(1)).await;
            match listed {
                Err(e) if e.code() == Some("NoSuchUpload") => {
                    match self.look_at_destination(dst, rec.parts, meta.size).await {
                        Some(crc) => break crc,
                        None => {
                            self.remove_journal();
                            return outcome(JobState::Failed(format!(
                                "the upload {} to {dst} vanished during Complete ({err}) and {dst} is not its result: copy again",
                                rec.upload_id
                            )));
                        }
                    }
                }
                _ => {}
            }
            if attempt >= policy.max_attempts {
                let id = self.id();
                return self.failed(
                    format!("Complete Multipart Upload of {dst} kept failing ({err}); the upload is kept: `haul jobs resume {id}` tries again"),
                    Some(rec),
                );
            }
            let wait = policy.backoff(attempt, &mut rng);
            self.log(LogLevel::Warn, format!("job {}: Complete failed ({err}); the upload is still there, retrying in {wait:?}", self.id()));
            tokio::time::sleep(wait).await;
            attempt += 1;
        };
        self.verify_and_finish(dst, meta, crc).await
    }
}

/// Abort Multipart Upload, retried, never cancelled; NoSuchUpload counts as done.
pub async fn abort_upload(sh: &Shared, dst: &ObjectRef, upload_id: &str) -> Result<(), String> {
    let never = CancellationToken::new();
    let store = Arc::clone(&sh.store);
    match retry(&*store, &sh.config.retry, &never, false, |_, _, _| {}, |_| {
        store.abort_multipart(dst, upload_id)
    })
    .await
    {
        Ok(()) => Ok(()),
        Err(Stop::Failed { error, .. }) if error.code() == Some("NoSuchUpload") => Ok(()),
        Err(Stop::Failed { error, .. }) => Err(format!(
            "Abort Multipart Upload {upload_id} on {dst} failed: {error}; try `haul uploads abort` later"
        )),
        Err(Stop::Stopped) => Err("abort interrupted".into()),
    }
}
