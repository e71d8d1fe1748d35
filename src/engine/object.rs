//! One object's copy inside a transfer: one PUT Object - Copy for a small object (conditional
//! on the source's ETag, verified from the response alone), or the multipart pipeline for a
//! large one (HEAD for metadata, Initiate, parts through the scheduler, Complete — looking
//! before retrying an ambiguous failure — and verification), journaled as it goes.
//!
//! Never dropped while running: stops cooperatively through the transfer's token, and the
//! clean-up a stop owes (Abort, journal entries) always runs before it returns. Reports
//! through the engine's internal channel.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{mpsc::UnboundedSender, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::{
    CompletedPart, CopyObjectRequest, CopySourceConditions, Error, MetadataDirective, ObjectMeta,
    ObjectRef, ObjectStore, ObjectSummary, UploadPartCopyRequest,
};

use super::journal::{Entry, JournalWriter, UploadRecord};
use super::plan::{choose_strategy, destination_headers, dispatch_order, part_range, Ramp};
use super::region::Regions;
use super::retry::{retry, Stop};
use super::scheduler::{Permit, Scheduler};
use super::verify::{self, Checksums};
use super::{
    CopyOptions, EngineConfig, Event, JobId, JobState, LogLevel, Overwrite, PlanSummary, Strategy,
    Verification,
};

/// No stop requested.
pub const STOP_NONE: u8 = 0;
/// Cancel or shutdown: stop now, keep uploads, journal them.
pub const STOP_CANCEL: u8 = 1;
/// Abort: stop now and Abort Multipart Upload. Dominates a cancel.
pub const STOP_ABORT: u8 = 2;

/// What the engine shares with every transfer.
pub struct Shared {
    pub store: Arc<dyn ObjectStore>,
    pub sched: Arc<Scheduler>,
    pub regions: Regions,
    pub config: EngineConfig,
    pub tx: UnboundedSender<Internal>,
}

/// Transfer tasks → engine task. Events are the bulk of it (a few per object), so they are
/// not boxed: one allocation each would cost more than the bytes the lint counts.
#[allow(clippy::large_enum_variant)]
pub enum Internal {
    Event(Event),
    Finished {
        id: JobId,
        outcome: Outcome,
    },
    /// An abort the engine ran for a transfer that was not running.
    AbortDone {
        id: JobId,
        result: Result<(), String>,
    },
    UploadsAborted {
        upload_ids: Vec<String>,
        failed: Vec<String>,
    },
}

/// How a transfer's run ended.
#[derive(Debug)]
pub struct Outcome {
    pub state: JobState,
    pub verification: Option<Verification>,
    /// The journal still holds the transfer (resumable with `Resume`).
    pub journaled: bool,
    /// This run aborted every upload it owned.
    pub aborted_upload: bool,
}

/// What a running transfer gives each of its objects.
pub struct Ctx {
    pub sh: Arc<Shared>,
    pub id: JobId,
    pub options: CopyOptions,
    pub stop: CancellationToken,
    pub stop_kind: Arc<AtomicU8>,
    pub paused: watch::Receiver<bool>,
    pub journal: Option<Arc<JournalWriter>>,
    /// One object copied as the whole transfer: plan and part events are sent for it.
    pub detailed: bool,
}

impl Ctx {
    pub fn emit(&self, ev: Event) {
        let _ = self.sh.tx.send(Internal::Event(ev));
    }

    pub fn log(&self, level: LogLevel, message: String) {
        self.emit(Event::Log { level, message });
    }

    pub fn journal(&self, e: Entry) {
        if let Some(j) = &self.journal {
            j.append(&e);
        }
    }

    pub fn abort_requested(&self) -> bool {
        self.stop_kind.load(Ordering::SeqCst) == STOP_ABORT
    }

    /// A request with the engine's retry policy; each retry is told to front ends as what the
    /// transfer is waiting for.
    pub async fn call<T, F, Fut>(&self, what: &str, cancel_in_flight: bool, f: F) -> Result<T, Stop>
    where
        F: FnMut(u32) -> Fut,
        Fut: std::future::Future<Output = crate::store::Result<T>>,
    {
        let id = self.id;
        let tx = self.sh.tx.clone();
        let of = self.sh.config.retry.max_attempts;
        retry(
            &*self.sh.store,
            &self.sh.config.retry,
            &self.stop,
            cancel_in_flight,
            |attempt, wait, e| {
                let _ = tx.send(Internal::Event(Event::Waiting {
                    job: id,
                    what: what.to_string(),
                    attempt: attempt + 1,
                    of,
                    after: wait,
                    error: e.to_string(),
                }));
            },
            f,
        )
        .await
    }
}

/// What is known of a source object before its copy.
#[derive(Debug, Clone)]
pub enum Known {
    /// From a listing: size, ETag and storage class, no metadata or CRC64.
    Listed(ObjectSummary),
    /// From a HEAD.
    Head(ObjectMeta),
}

impl Known {
    pub fn size(&self) -> u64 {
        match self {
            Known::Listed(o) => o.size,
            Known::Head(m) => m.size,
        }
    }
    fn etag(&self) -> &str {
        match self {
            Known::Listed(o) => &o.etag,
            Known::Head(m) => &m.etag,
        }
    }
}

/// One object to copy.
pub struct ObjectJob {
    /// The source key (the journal's name for the object).
    pub key: String,
    pub src: ObjectRef,
    pub dst: ObjectRef,
    pub known: Known,
    pub resume: Option<UploadRecord>,
}

/// How one object's copy ended.
#[derive(Debug)]
pub enum ObjectEnd {
    Done {
        bytes: u64,
        verification: Verification,
    },
    /// The destination existed and the transfer does not overwrite.
    Skipped,
    /// `upload_kept`: a multipart upload stays on the server and in the journal.
    Failed { error: String, upload_kept: bool },
    /// Stopped by cancel or shutdown (upload kept and journaled) or abort (upload aborted).
    Stopped,
}

fn failed(error: String, upload_kept: bool) -> ObjectEnd {
    ObjectEnd::Failed { error, upload_kept }
}

enum PartOutcome {
    Done { part: u32, etag: String },
    Stopped,
    Failed { part: u32, error: Error },
}

/// Copies one object to an end. Every error becomes the outcome; never panics on I/O.
pub async fn copy(cx: &Ctx, job: ObjectJob, permit: Option<Permit>) -> ObjectEnd {
    if job.resume.is_none() && cx.options.overwrite == Overwrite::Skip {
        let store = Arc::clone(&cx.sh.store);
        match cx
            .call("HEAD destination", true, |_| store.head_object(&job.dst))
            .await
        {
            Ok(_) => return ObjectEnd::Skipped,
            Err(Stop::Stopped) => return ObjectEnd::Stopped,
            Err(Stop::Failed { error, .. }) if error.is_not_found() => {}
            Err(Stop::Failed { error, .. }) => {
                return failed(
                    format!("cannot check whether {} exists: {error}", job.dst),
                    false,
                )
            }
        }
    }
    if let Some(rec) = job.resume.clone() {
        drop(permit);
        return resume_multipart(cx, &job, rec).await;
    }
    let concurrency = cx
        .sh
        .sched
        .job_limit(cx.id)
        .unwrap_or(cx.sh.config.concurrency);
    let strategy = match choose_strategy(
        job.known.size(),
        cx.options.part_size,
        cx.sh.config.single_copy_threshold,
        concurrency,
    ) {
        Ok(s) => s,
        Err(e) => return failed(format!("cannot copy {}: {e}", job.src), false),
    };
    match strategy {
        Strategy::Single => single(cx, &job, permit).await,
        Strategy::Multipart {
            part_size,
            parts,
            ramp,
        } => {
            drop(permit);
            // A listed object is HEAD'd for its metadata and CRC64; `head_source` refuses a
            // different ETag, so the size, and with it the plan, is the listed one.
            let meta = match &job.known {
                Known::Head(m) => m.clone(),
                Known::Listed(_) => match head_source(cx, &job).await {
                    Ok(m) => m,
                    Err(end) => return end,
                },
            };
            Multipart::start(cx, &job, meta, part_size, parts, ramp).await
        }
    }
}

async fn head_source(cx: &Ctx, job: &ObjectJob) -> Result<ObjectMeta, ObjectEnd> {
    let store = Arc::clone(&cx.sh.store);
    match cx
        .call("HEAD source", true, |_| store.head_object(&job.src))
        .await
    {
        Ok(m) if m.etag != job.known.etag() => Err(failed(
            format!(
                "the source {} changed after it was listed (ETag {} then {}): copy again",
                job.src,
                job.known.etag(),
                m.etag
            ),
            false,
        )),
        Ok(m) => Ok(m),
        Err(Stop::Stopped) => Err(ObjectEnd::Stopped),
        Err(Stop::Failed { error, .. }) => Err(failed(
            format!("cannot read the source {}: {error}", job.src),
            false,
        )),
    }
}

/// One PUT Object - Copy, pinned to the known ETag, verified from its response.
async fn single(cx: &Ctx, job: &ObjectJob, permit: Option<Permit>) -> ObjectEnd {
    let (storage_class, sums) = match &job.known {
        Known::Listed(o) => (o.storage_class.clone(), Checksums::default()),
        Known::Head(m) => (m.storage_class.clone(), Checksums::of_meta(m)),
    };
    let headers = crate::store::ObjectHeaders {
        storage_class: Some(cx.options.storage_class.clone().unwrap_or(storage_class)),
        ..Default::default()
    };
    let req = CopyObjectRequest {
        source: job.src.clone(),
        destination: job.dst.clone(),
        directive: MetadataDirective::Copy,
        headers,
        conditions: CopySourceConditions {
            if_match: Some(job.known.etag().to_string()),
            ..Default::default()
        },
    };
    let size = job.known.size();
    let started = Instant::now();
    if cx.detailed {
        if let Known::Head(m) = &job.known {
            plan_event(cx, m, Strategy::Single, None, vec![]);
        }
        cx.emit(Event::JobState {
            id: cx.id,
            state: JobState::Running,
        });
        cx.emit(Event::PartStarted {
            job: cx.id,
            part: 1,
            attempt: 1,
            at: SystemTime::now(),
        });
    }
    let store = Arc::clone(&cx.sh.store);
    let sched = Arc::clone(&cx.sh.sched);
    let id = cx.id;
    let tx = cx.sh.tx.clone();
    let detailed = cx.detailed;
    let res = retry(
        &*cx.sh.store,
        &cx.sh.config.retry,
        &cx.stop,
        true,
        |attempt, wait, e| {
            if e.is_throttle() {
                sched.on_throttle();
            }
            if detailed {
                let _ = tx.send(Internal::Event(Event::PartRetrying {
                    job: id,
                    part: 1,
                    attempt: attempt + 1,
                    after: wait,
                    error: e.to_string(),
                }));
            }
        },
        |_| store.copy_object(&req),
    )
    .await;
    drop(permit);
    let r = match res {
        Ok(r) => {
            cx.sh.sched.on_success(started.elapsed());
            r
        }
        Err(Stop::Stopped) => return ObjectEnd::Stopped,
        Err(Stop::Failed { error, attempts }) => {
            if error.is_throttle() {
                cx.sh.sched.on_throttle();
            }
            if cx.detailed {
                cx.emit(Event::PartFailed {
                    job: cx.id,
                    part: 1,
                    error: format!("{error} (after {attempts} attempts)"),
                });
            }
            if error.status() == Some(412) {
                return failed(
                    format!("the source {} changed during the copy (412 PreconditionFailed); nothing was written to {}: copy again", job.src, job.dst),
                    false,
                );
            }
            return failed(
                format!("copying {} to {} failed: {error}", job.src, job.dst),
                false,
            );
        }
    };
    if cx.detailed {
        cx.emit(Event::PartDone {
            job: cx.id,
            part: 1,
            bytes: size,
            elapsed: started.elapsed(),
        });
    }
    let verification = if cx.options.verify {
        verify::from_copy_result(job.known.etag(), sums, &r.etag, Checksums::of_copy(&r))
    } else {
        Verification::skipped()
    };
    finish(&job.dst, size, verification)
}

fn finish(dst: &ObjectRef, bytes: u64, v: Verification) -> ObjectEnd {
    if verify::passed(&v) {
        ObjectEnd::Done {
            bytes,
            verification: v,
        }
    } else {
        failed(
            format!("verification of {dst} failed: {}", verify::describe(&v)),
            false,
        )
    }
}

fn plan_event(
    cx: &Ctx,
    meta: &ObjectMeta,
    strategy: Strategy,
    upload_id: Option<String>,
    done: Vec<u32>,
) {
    cx.emit(Event::JobPlanned {
        id: cx.id,
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

/// Resumes a journaled upload: HEAD the source (it must be the same version), reconcile the
/// parts with ListParts, copy the rest.
async fn resume_multipart(cx: &Ctx, job: &ObjectJob, rec: UploadRecord) -> ObjectEnd {
    let store = Arc::clone(&cx.sh.store);
    let meta = match cx
        .call("HEAD source", true, |_| store.head_object(&job.src))
        .await
    {
        Ok(m) => m,
        Err(Stop::Stopped) => return ObjectEnd::Stopped,
        Err(Stop::Failed { error, .. }) => {
            return failed(format!("cannot read the source {}: {error}", job.src), true)
        }
    };
    if rec.source_etag != meta.etag || rec.source_size != meta.size {
        return failed(
            format!(
                "refusing to resume: the source {} changed since the copy started (ETag {} / {} bytes, now {} / {} bytes); discard the upload with `haul jobs abort {}` and copy again",
                job.src, rec.source_etag, rec.source_size, meta.etag, meta.size, cx.id
            ),
            true,
        );
    }
    let done = match reconcile(cx, &job.dst, &rec).await {
        Ok(done) => done,
        Err(Stop::Stopped) => return ObjectEnd::Stopped,
        Err(Stop::Failed { error, .. }) if error.code() == Some("NoSuchUpload") => {
            return upload_gone_on_resume(cx, job, &meta, &rec).await;
        }
        Err(Stop::Failed { error, .. }) => {
            return failed(
                format!("cannot list the parts of upload {}: {error}", rec.upload_id),
                true,
            )
        }
    };
    let m = Multipart {
        cx,
        job,
        meta,
        upload_id: rec.upload_id.clone(),
        part_size: rec.part_size,
        parts: rec.parts,
        ramp: rec.ramp,
    };
    m.run(done).await
}

/// ListParts (paginated) → the parts the server has that fit the plan.
async fn reconcile(
    cx: &Ctx,
    dst: &ObjectRef,
    rec: &UploadRecord,
) -> Result<BTreeMap<u32, String>, Stop> {
    let store = Arc::clone(&cx.sh.store);
    let mut done = BTreeMap::new();
    let mut marker = None;
    loop {
        let page = cx
            .call("ListParts", true, |_| {
                store.list_parts(dst, &rec.upload_id, marker, Some(1000))
            })
            .await?;
        for p in &page.parts {
            if p.part_number == 0 || p.part_number > rec.parts {
                continue;
            }
            let want = part_range(rec.source_size, rec.part_size, rec.ramp, p.part_number).len();
            if p.size == want {
                done.insert(p.part_number, p.etag.clone());
            } else {
                cx.log(
                    LogLevel::Warn,
                    format!(
                        "job {}: part {} of {} on the server is {} bytes, the plan says {want}; copying it again",
                        cx.id, p.part_number, rec.key, p.size
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

/// Resuming an upload the server no longer has: maybe it completed before the crash.
async fn upload_gone_on_resume(
    cx: &Ctx,
    job: &ObjectJob,
    meta: &ObjectMeta,
    rec: &UploadRecord,
) -> ObjectEnd {
    cx.journal(Entry::UploadGone { k: job.key.clone() });
    match look_at_destination(cx, &job.dst, rec.parts, meta.size).await {
        Some(crc) => {
            if cx.detailed {
                plan_event(
                    cx,
                    meta,
                    Strategy::Multipart {
                        part_size: rec.part_size,
                        parts: rec.parts,
                        ramp: rec.ramp,
                    },
                    Some(rec.upload_id.clone()),
                    (1..=rec.parts).collect(),
                );
            }
            verify_destination(cx, &job.dst, meta, crc).await
        }
        None => failed(
            format!(
                "the upload {} to {} no longer exists (aborted or expired) and {} is not its result: copy again",
                rec.upload_id, job.dst, job.dst
            ),
            false,
        ),
    }
}

/// HEAD the destination with the retry policy, never cancelled: the copy has happened (or may
/// have), and what is there now decides the outcome.
async fn head_destination(cx: &Ctx, dst: &ObjectRef) -> Result<ObjectMeta, Error> {
    let store = Arc::clone(&cx.sh.store);
    let never = CancellationToken::new();
    let head = retry(
        &*store,
        &cx.sh.config.retry,
        &never,
        false,
        |_, _, _| {},
        |_| store.head_object(dst),
    )
    .await;
    match head {
        Ok(meta) => Ok(meta),
        Err(Stop::Failed { error, .. }) => Err(error),
        Err(Stop::Stopped) => Err(Error::InvalidInput(
            "a token nobody holds was cancelled".into(),
        )),
    }
}

/// `Some(checksums)` when the destination looks like this upload's completed result
/// (multipart ETag ending in `-<parts>`, right size).
async fn look_at_destination(
    cx: &Ctx,
    dst: &ObjectRef,
    parts: u32,
    size: u64,
) -> Option<Checksums> {
    match head_destination(cx, dst).await {
        Ok(d) if d.size == size && d.etag.ends_with(&format!("-{parts}")) => {
            Some(Checksums::of_meta(&d))
        }
        _ => None,
    }
}

/// After Complete: HEAD the destination and compare size and CRC64 with the source.
async fn verify_destination(
    cx: &Ctx,
    dst: &ObjectRef,
    meta: &ObjectMeta,
    complete_sums: Checksums,
) -> ObjectEnd {
    if !cx.options.verify {
        return finish(dst, meta.size, Verification::skipped());
    }
    if cx.detailed {
        cx.emit(Event::JobState {
            id: cx.id,
            state: JobState::Verifying,
        });
    }
    match head_destination(cx, dst).await {
        Ok(d) => finish(
            dst,
            meta.size,
            verify::compare(
                meta.size,
                Checksums::of_meta(meta),
                d.size,
                Checksums::of_meta(&d).or(complete_sums),
            ),
        ),
        Err(error) => failed(
            format!("the copy completed but {dst} could not be verified: {error}; check it with `haul ls {dst}`"),
            false,
        ),
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

/// What every part of one upload is copied from and to.
struct PartSource {
    src: ObjectRef,
    dst: ObjectRef,
    upload_id: String,
    /// The source's ETag: each part copy is conditional on it.
    etag: String,
    size: u64,
    part_size: u64,
    ramp: Ramp,
    key: String,
}

/// One multipart copy, from Initiate (or a reconciled resume) to verification.
struct Multipart<'a> {
    cx: &'a Ctx,
    job: &'a ObjectJob,
    meta: ObjectMeta,
    upload_id: String,
    part_size: u64,
    parts: u32,
    ramp: Ramp,
}

impl<'a> Multipart<'a> {
    async fn start(
        cx: &'a Ctx,
        job: &'a ObjectJob,
        meta: ObjectMeta,
        part_size: u64,
        parts: u32,
        ramp: Ramp,
    ) -> ObjectEnd {
        let store = Arc::clone(&cx.sh.store);
        let headers = destination_headers(&meta, cx.options.storage_class.as_deref());
        let upload_id = match cx
            .call("Initiate Multipart Upload", false, |_| {
                store.initiate_multipart(&job.dst, &headers)
            })
            .await
        {
            Ok(id) => id,
            Err(Stop::Stopped) => return ObjectEnd::Stopped,
            Err(Stop::Failed { error, .. }) => {
                return failed(
                    format!("cannot start the upload to {}: {error}", job.dst),
                    false,
                )
            }
        };
        if let Some(j) = &cx.journal {
            j.append_sync(&Entry::Upload(UploadRecord {
                key: job.key.clone(),
                dst_key: job.dst.key.clone(),
                source_region: job.src.region.clone(),
                destination_region: job.dst.region.clone(),
                upload_id: upload_id.clone(),
                part_size,
                parts,
                ramp,
                source_etag: meta.etag.clone(),
                source_size: meta.size,
                source_last_modified: meta.last_modified,
                source_crc64: meta.crc64,
                done_parts: vec![],
            }));
        }
        let m = Multipart {
            cx,
            job,
            meta,
            upload_id,
            part_size,
            parts,
            ramp,
        };
        m.run(BTreeMap::new()).await
    }

    /// The part loop, then Complete and verification (or the clean-up a stop owes).
    async fn run(self, mut done: BTreeMap<u32, String>) -> ObjectEnd {
        let cx = self.cx;
        let (parts, part_size, ramp) = (self.parts, self.part_size, self.ramp);
        if cx.detailed {
            plan_event(
                cx,
                &self.meta,
                Strategy::Multipart {
                    part_size,
                    parts,
                    ramp,
                },
                Some(self.upload_id.clone()),
                done.keys().copied().collect(),
            );
            cx.emit(Event::JobState {
                id: cx.id,
                state: JobState::Running,
            });
        } else {
            let resumed: u64 = done
                .keys()
                .map(|n| part_range(self.meta.size, part_size, ramp, *n).len())
                .sum();
            if resumed > 0 {
                cx.emit(Event::Bytes {
                    job: cx.id,
                    bytes: resumed,
                });
            }
        }
        let mut pending: std::collections::VecDeque<u32> = dispatch_order(parts, ramp)
            .into_iter()
            .filter(|n| !done.contains_key(n))
            .collect();
        let part_stop = cx.stop.child_token();
        let mut set: JoinSet<PartOutcome> = JoinSet::new();
        let mut fatal: Option<(u32, Error)> = None;
        let mut paused = cx.paused.clone();
        let of = Arc::new(PartSource {
            src: self.job.src.clone(),
            dst: self.job.dst.clone(),
            upload_id: self.upload_id.clone(),
            etag: self.meta.etag.clone(),
            size: self.meta.size,
            part_size,
            ramp,
            key: self.job.key.clone(),
        });
        loop {
            let want_more = fatal.is_none() && !part_stop.is_cancelled() && !pending.is_empty();
            let finished = if want_more {
                tokio::select! {
                    biased;
                    r = set.join_next(), if !set.is_empty() => r,
                    permit = cx.sh.sched.acquire(cx.id, &mut paused, &part_stop) => {
                        if let (Some(permit), Some(n)) = (permit, pending.pop_front()) {
                            spawn_part(cx, &mut set, permit, Arc::clone(&of), n, part_stop.clone());
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
                    cx.journal(Entry::Part {
                        k: of.key.clone(),
                        n: part,
                        e: etag.clone(),
                    });
                    done.insert(part, etag);
                }
                Some(Ok(PartOutcome::Stopped)) | None => {}
                Some(Ok(PartOutcome::Failed { part, error })) => {
                    fatal.get_or_insert((part, error));
                    part_stop.cancel();
                }
                Some(Err(join_error)) => {
                    fatal.get_or_insert((
                        0,
                        Error::InvalidInput(format!("a part task ended abnormally: {join_error}")),
                    ));
                    part_stop.cancel();
                }
            }
        }
        let (src, dst, upload_id) = (&self.job.src, &self.job.dst, &self.upload_id);
        if cx.abort_requested() {
            return match abort_upload(&cx.sh, dst, upload_id).await {
                Ok(()) => {
                    cx.journal(Entry::UploadGone {
                        k: self.job.key.clone(),
                    });
                    ObjectEnd::Stopped
                }
                Err(e) => failed(e, true),
            };
        }
        if let Some((part, error)) = fatal {
            if error.status() == Some(412) {
                let aborted = abort_upload(&cx.sh, dst, upload_id).await;
                cx.journal(Entry::UploadGone {
                    k: self.job.key.clone(),
                });
                return failed(match aborted {
                    Ok(()) => format!("the source {src} changed during the copy (part {part}: 412 PreconditionFailed); the upload was aborted and nothing was written to {dst}: copy again"),
                    Err(e) => format!("the source {src} changed during the copy (part {part}: 412 PreconditionFailed); aborting the upload failed too: {e}"),
                }, false);
            }
            if error.code() == Some("NoSuchUpload") {
                cx.journal(Entry::UploadGone {
                    k: self.job.key.clone(),
                });
                return failed(format!(
                    "the upload {upload_id} to {dst} disappeared during the copy (NoSuchUpload on part {part}): it was aborted or completed elsewhere; copy again"
                ), false);
            }
            let id = cx.id;
            return failed(
                format!("part {part} of {src} failed: {error}; the upload is kept: `haul jobs resume {id}` continues it, `haul jobs abort {id}` discards it"),
                true,
            );
        }
        if cx.stop.is_cancelled() {
            return ObjectEnd::Stopped;
        }
        let parts: Vec<CompletedPart> = done
            .into_iter()
            .map(|(n, e)| CompletedPart {
                part_number: n,
                etag: e,
            })
            .collect();
        self.complete_and_verify(parts).await
    }

    async fn complete_and_verify(&self, parts: Vec<CompletedPart>) -> ObjectEnd {
        let cx = self.cx;
        let dst = &self.job.dst;
        if cx.detailed {
            cx.emit(Event::JobState {
                id: cx.id,
                state: JobState::Completing,
            });
        }
        let store = Arc::clone(&cx.sh.store);
        let policy = cx.sh.config.retry.clone();
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::from_entropy();
        let mut attempt = 1u32;
        let id = cx.id;
        let crc = loop {
            let err = match store.complete_multipart(dst, &self.upload_id, &parts).await {
                Ok(r) => break Checksums::of_complete(&r),
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
                return failed(
                    format!("Complete Multipart Upload of {dst} failed: {err}; the upload is kept: `haul jobs resume {id}` tries again, `haul jobs abort {id}` discards it"),
                    true,
                );
            }
            // Ambiguous: the merge may have happened. Look before trying again.
            let listed = store.list_parts(dst, &self.upload_id, None, Some(1)).await;
            if let Err(e) = &listed {
                if e.code() == Some("NoSuchUpload") {
                    match look_at_destination(cx, dst, self.parts, self.meta.size).await {
                        Some(crc) => break crc,
                        None => {
                            cx.journal(Entry::UploadGone {
                                k: self.job.key.clone(),
                            });
                            return failed(format!(
                                "the upload {} to {dst} vanished during Complete ({err}) and {dst} is not its result: copy again",
                                self.upload_id
                            ), false);
                        }
                    }
                }
            }
            if attempt >= policy.max_attempts {
                return failed(
                    format!("Complete Multipart Upload of {dst} kept failing ({err}); the upload is kept: `haul jobs resume {id}` tries again"),
                    true,
                );
            }
            let wait = policy.backoff(attempt, &mut rng);
            cx.emit(Event::Waiting {
                job: id,
                what: "Complete Multipart Upload".into(),
                attempt: attempt + 1,
                of: policy.max_attempts,
                after: wait,
                error: err.to_string(),
            });
            tokio::time::sleep(wait).await;
            attempt += 1;
        };
        cx.journal(Entry::UploadGone {
            k: self.job.key.clone(),
        });
        verify_destination(cx, dst, &self.meta, crc).await
    }
}

fn spawn_part(
    cx: &Ctx,
    set: &mut JoinSet<PartOutcome>,
    permit: Permit,
    of: Arc<PartSource>,
    part: u32,
    stop: CancellationToken,
) {
    let sh = Arc::clone(&cx.sh);
    let id = cx.id;
    let detailed = cx.detailed;
    let policy = cx.sh.config.retry.clone();
    let range = part_range(of.size, of.part_size, of.ramp, part);
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
        if detailed {
            send(Event::PartStarted {
                job: id,
                part,
                attempt: 1,
                at: SystemTime::now(),
            });
        }
        let sched = Arc::clone(&sh.sched);
        let send2 = send.clone();
        let res = retry(
            &*sh.store,
            &policy,
            &stop,
            true,
            |attempt, wait, e| {
                if e.is_throttle() {
                    sched.on_throttle();
                }
                if detailed {
                    send2(Event::PartRetrying {
                        job: id,
                        part,
                        attempt: attempt + 1,
                        after: wait,
                        error: e.to_string(),
                    });
                }
            },
            |_| sh.store.upload_part_copy(&req),
        )
        .await;
        drop(permit);
        match res {
            Ok(r) => {
                let elapsed = started.elapsed();
                sh.sched.on_success(elapsed);
                send(if detailed {
                    Event::PartDone {
                        job: id,
                        part,
                        bytes: range.len(),
                        elapsed,
                    }
                } else {
                    Event::Bytes {
                        job: id,
                        bytes: range.len(),
                    }
                });
                PartOutcome::Done { part, etag: r.etag }
            }
            Err(Stop::Stopped) => PartOutcome::Stopped,
            Err(Stop::Failed { error, attempts }) => {
                if error.is_throttle() {
                    sh.sched.on_throttle();
                }
                if detailed {
                    send(Event::PartFailed {
                        job: id,
                        part,
                        error: format!("{error} (after {attempts} attempts)"),
                    });
                }
                PartOutcome::Failed { part, error }
            }
        }
    });
}
