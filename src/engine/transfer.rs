//! One transfer's run: the unit of the queue, the journal and the events. A transfer copies
//! one object, or every object under a prefix (or a whole bucket): it resolves both buckets'
//! regions, then streams the listing page by page into the request scheduler — the first copy
//! starts as soon as the first page arrives, and memory stays bounded however long the
//! listing is — copying each object with `object::copy`, and journals a cursor and each
//! finished object so a resume continues the listing and copies nothing twice.
//!
//! One failed object does not stop a prefix; the transfer ends Failed with the count and the
//! journal keeps the failed ones for `haul jobs resume`. Reports through the engine's internal
//! channel; never dropped while running (see `object`).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::AtomicU8;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::{CosUri, ListObjectsRequest, ObjectRef, ObjectSummary};

use super::journal::{Entry, JournalWriter, TransferRecord, UploadRecord};
use super::object::{self, Ctx, Internal, Known, ObjectEnd, ObjectJob, Outcome, Shared};
use super::retry::Stop;
use super::{CopySpec, Event, JobId, JobState, LogLevel, Verification};

/// Listed objects dispatched but not all finished before the oldest unfinished one: past this
/// the listing waits (a huge object in flight must not let the window grow without bound).
pub const MAX_WINDOW: usize = 100_000;
/// Pages the listing may run ahead of the copies.
const PAGES_AHEAD: usize = 2;
/// A cursor entry is journaled at most this often (finished keys after it are journaled too).
const CURSOR_INTERVAL: Duration = Duration::from_millis(100);
/// This many objects failing in a row, none copied between, stops the transfer: the cause is
/// not the objects (credentials, a missing bucket, a full quota).
pub const FAILURES_IN_A_ROW: u32 = 50;

/// One run of a transfer.
pub struct TransferRun {
    pub id: JobId,
    pub spec: CopySpec,
    /// The journal's record when resuming.
    pub resume: Option<TransferRecord>,
    pub journal: Option<JournalWriter>,
    pub stop: CancellationToken,
    pub stop_kind: Arc<AtomicU8>,
    pub paused: watch::Receiver<bool>,
}

/// How the run ended, before the journal is closed.
struct End {
    state: JobState,
    verification: Option<Verification>,
    /// The journal is still needed (resume or abort).
    keep: bool,
}

impl End {
    fn new(state: JobState, keep: bool) -> End {
        End {
            state,
            verification: None,
            keep,
        }
    }
}

/// Runs the transfer to an end state. Every error becomes the outcome.
pub async fn run(sh: Arc<Shared>, t: TransferRun) -> Outcome {
    let journaled = t.journal.is_some();
    let cx = Arc::new(Ctx {
        sh,
        id: t.id,
        options: t.spec.options.clone(),
        stop: t.stop,
        stop_kind: t.stop_kind,
        paused: t.paused,
        journal: t.journal.map(Arc::new),
        detailed: !t.spec.source.is_prefix(),
    });
    cx.emit(Event::JobState {
        id: cx.id,
        state: JobState::Preparing,
    });
    if let Some(j) = &cx.journal {
        j.append_sync(&Entry::State {
            s: "running".into(),
            e: None,
        });
    }
    let end = match regions(&cx, &t.spec).await {
        Err(end) => end,
        Ok((sr, dr)) if cx.detailed => one_object(&cx, &t.spec, sr, dr, t.resume).await,
        Ok((sr, dr)) => Prefix::new(&cx, &t.spec, sr, dr, t.resume).run().await,
    };
    let aborted = cx.abort_requested();
    let state = if aborted && !matches!(end.state, JobState::Done | JobState::Skipped) {
        JobState::Aborted
    } else {
        end.state
    };
    let journal = cx.journal.clone();
    drop(cx);
    let mut keep = end.keep && journaled;
    if let Some(j) = journal {
        let result = if keep {
            let (s, e) = match &state {
                JobState::Failed(e) => ("failed", Some(e.clone())),
                other => (other.label(), None),
            };
            j.append_sync(&Entry::State { s: s.into(), e });
            j.close(false)
        } else {
            j.close(true)
        };
        if let Err(e) = result {
            tracing::warn!("transfer {}: journal: {e}", t.id);
            keep = keep || j.path().exists();
        }
    }
    Outcome {
        state,
        verification: end.verification,
        journaled: keep,
        // Uploads still in the journal are aborted by the engine once this run is over.
        aborted_upload: aborted && !keep,
    }
}

/// Both buckets' regions, looked up concurrently (and once per engine).
async fn regions(cx: &Arc<Ctx>, spec: &CopySpec) -> Result<(String, String), End> {
    let lookup = |bucket: crate::store::BucketName| {
        let cx = Arc::clone(cx);
        async move {
            let tx = cx.sh.tx.clone();
            let (id, of) = (cx.id, cx.sh.config.retry.max_attempts);
            let what = format!("region of {bucket}");
            let on_retry = move |attempt: u32, wait: Duration, e: &crate::store::Error| {
                let _ = tx.send(Internal::Event(Event::Waiting {
                    job: id,
                    what: what.clone(),
                    attempt: attempt + 1,
                    of,
                    after: wait,
                    error: e.to_string(),
                }));
            };
            let r = cx
                .sh
                .regions
                .resolve_with(
                    &*cx.sh.store,
                    &bucket,
                    &cx.sh.config.retry,
                    &cx.stop,
                    &on_retry,
                )
                .await;
            (bucket, r)
        }
    };
    let (a, b) = tokio::join!(
        lookup(spec.source.bucket.clone()),
        lookup(spec.destination.bucket.clone())
    );
    let mut out = Vec::new();
    for (bucket, r) in [a, b] {
        match r {
            Ok(r) => out.push(r),
            Err(Stop::Stopped) => return Err(stopped(cx)),
            Err(Stop::Failed { error, .. }) => {
                return Err(End::new(
                    JobState::Failed(format!("cannot find the region of {bucket}: {error}")),
                    true,
                ))
            }
        }
    }
    Ok((out.remove(0), out.remove(0)))
}

fn stopped(cx: &Ctx) -> End {
    if cx.abort_requested() {
        End::new(JobState::Aborted, true)
    } else {
        End::new(JobState::Cancelled, true)
    }
}

/// A transfer of one object: HEAD it (or take the journaled upload), then copy it with plan
/// and part events.
async fn one_object(
    cx: &Arc<Ctx>,
    spec: &CopySpec,
    src_region: String,
    dst_region: String,
    resume: Option<TransferRecord>,
) -> End {
    let src = ObjectRef::new(
        spec.source.bucket.clone(),
        src_region,
        spec.source.key.clone(),
    );
    let dst = ObjectRef::new(
        spec.destination.bucket.clone(),
        dst_region,
        spec.destination.key.clone(),
    );
    let upload = resume.and_then(|r| r.uploads.into_values().next());
    let known = match &upload {
        Some(u) => Known::Listed(ObjectSummary {
            key: src.key.clone(),
            size: u.source_size,
            last_modified: u.source_last_modified,
            etag: u.source_etag.clone(),
            storage_class: String::new(),
        }),
        None => {
            let store = Arc::clone(&cx.sh.store);
            match cx
                .call("HEAD source", true, |_| store.head_object(&src))
                .await
            {
                Ok(m) => Known::Head(m),
                Err(Stop::Stopped) => return stopped(cx),
                Err(Stop::Failed { error, .. }) if error.is_not_found() => {
                    return End::new(
                        JobState::Failed(format!(
                            "the source {} does not exist: check the key (nothing was copied)",
                            spec.source
                        )),
                        false,
                    )
                }
                Err(Stop::Failed { error, .. }) => {
                    return End::new(
                        JobState::Failed(format!("cannot read the source {src}: {error}")),
                        false,
                    )
                }
            }
        }
    };
    let job = ObjectJob {
        key: src.key.clone(),
        src,
        dst,
        known,
        resume: upload,
    };
    match object::copy(cx, job, None).await {
        ObjectEnd::Done { verification, .. } => End {
            state: JobState::Done,
            verification: Some(verification),
            keep: false,
        },
        ObjectEnd::Skipped => End::new(JobState::Skipped, false),
        ObjectEnd::Failed { error, upload_kept } => End::new(JobState::Failed(error), upload_kept),
        ObjectEnd::Stopped => stopped(cx),
    }
}

/// Objects counted so far (resumed ones included).
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    listed: u64,
    listed_bytes: u64,
    done: u64,
    done_bytes: u64,
    skipped: u64,
}

/// A page from the listing task.
enum Page {
    Objects(Vec<ObjectSummary>),
    Failed(String),
}

/// A prefix (or bucket) transfer in progress.
struct Prefix<'a> {
    cx: &'a Arc<Ctx>,
    source: CosUri,
    destination: CosUri,
    src_region: String,
    dst_region: String,
    counts: Counts,
    /// From the journal: where the listing continues, what finished after it, open uploads,
    /// and failed objects to retry.
    cursor: Option<String>,
    finished_after_cursor: HashSet<String>,
    uploads: BTreeMap<String, UploadRecord>,
    retry_failed: VecDeque<String>,
    resumed: bool,
    /// Dispatched keys in listing order, true once finished: the cursor follows the front.
    window: BTreeMap<String, bool>,
    last_cursor_write: Instant,
    cursor_dirty: bool,
    failures_in_a_row: u32,
    failed_now: u64,
}

type Finished = (String, bool, ObjectEnd);

impl<'a> Prefix<'a> {
    fn new(
        cx: &'a Arc<Ctx>,
        spec: &CopySpec,
        src_region: String,
        dst_region: String,
        resume: Option<TransferRecord>,
    ) -> Prefix<'a> {
        let mut p = Prefix {
            cx,
            source: spec.source.clone(),
            destination: spec.destination.clone(),
            src_region,
            dst_region,
            counts: Counts::default(),
            cursor: None,
            finished_after_cursor: HashSet::new(),
            uploads: BTreeMap::new(),
            retry_failed: VecDeque::new(),
            resumed: resume.is_some(),
            window: BTreeMap::new(),
            last_cursor_write: Instant::now(),
            cursor_dirty: false,
            failures_in_a_row: 0,
            failed_now: 0,
        };
        if let Some(r) = resume {
            p.counts = Counts {
                listed: 0,
                listed_bytes: 0,
                done: r.done,
                done_bytes: r.done_bytes,
                skipped: r.skipped,
            };
            // Failed objects the listing will not return again (at or before the cursor) are
            // retried first; later ones come back with the listing.
            p.retry_failed = r
                .failed
                .keys()
                .filter(|k| r.cursor.as_deref().is_some_and(|c| k.as_str() <= c))
                .cloned()
                .collect();
            p.cursor = r.cursor;
            p.finished_after_cursor = r.finished_after_cursor;
            p.uploads = r.uploads;
            cx.emit(Event::TransferProgress {
                job: cx.id,
                done: r.done,
                done_bytes: r.done_bytes,
                skipped: r.skipped,
            });
        }
        p
    }

    fn destination_key(&self, key: &str) -> String {
        format!(
            "{}{}",
            self.destination.key,
            &key[self.source.key.len().min(key.len())..]
        )
    }

    /// Starts the listing task: pages from the cursor on, at most `PAGES_AHEAD` ahead.
    fn start_listing(&self) -> mpsc::Receiver<Page> {
        let (tx, rx) = mpsc::channel(PAGES_AHEAD);
        let cx = Arc::clone(self.cx);
        let bucket = self.source.bucket.clone();
        let region = self.src_region.clone();
        let mut req = ListObjectsRequest {
            prefix: self.source.key.clone(),
            delimiter: None,
            marker: self.cursor.clone(),
            max_keys: Some(1000),
        };
        let uri = self.source.clone();
        tokio::spawn(async move {
            let store = Arc::clone(&cx.sh.store);
            loop {
                let page = match cx
                    .call(&format!("listing {uri}"), true, |_| {
                        store.list_objects(&bucket, &region, &req)
                    })
                    .await
                {
                    Ok(p) => p,
                    Err(Stop::Stopped) => return,
                    Err(Stop::Failed { error, .. }) => {
                        let _ = tx
                            .send(Page::Failed(format!("listing {uri} failed: {error}")))
                            .await;
                        return;
                    }
                };
                let next = page
                    .next_marker
                    .clone()
                    .or_else(|| page.objects.last().map(|o| o.key.clone()));
                let more = page.is_truncated && next.is_some() && next != req.marker;
                if tx.send(Page::Objects(page.objects)).await.is_err() || !more {
                    return;
                }
                // Let the dispatcher start this page's copies before the next page is asked
                // for: on a one-thread runtime the listing would otherwise go first every time.
                tokio::task::yield_now().await;
                req.marker = next;
            }
        });
        rx
    }

    /// Whether a listed object is copied: not finished in an earlier run, and not the
    /// source prefix's own placeholder when it would land on the bucket root. Zero-byte
    /// `dir/` placeholders are copied: the console shows them as folders.
    fn wanted(&self, o: &ObjectSummary) -> bool {
        if !o.key.starts_with(&self.source.key) {
            return false;
        }
        if o.key.len() == self.source.key.len() && self.destination.key.is_empty() {
            return false;
        }
        let earlier = self.cursor.as_deref().is_some_and(|c| o.key.as_str() <= c)
            || self.finished_after_cursor.contains(&o.key);
        !earlier
    }

    async fn run(mut self) -> End {
        let cx = Arc::clone(self.cx);
        let threshold = cx.sh.config.single_copy_threshold;
        let max_large = cx.sh.config.active_objects.max(1);
        let mut pages = self.start_listing();
        let mut buffer: VecDeque<ObjectSummary> = VecDeque::new();
        let mut next: Option<(ObjectSummary, bool)> = None;
        let mut listing_done = false;
        let mut listing_error: Option<String> = None;
        let mut set: JoinSet<Finished> = JoinSet::new();
        let mut large_open = 0usize;
        let mut paused = cx.paused.clone();
        let mut pause_changes = cx.paused.clone();
        let dispatch_stop = cx.stop.child_token();

        loop {
            // The next object: failed ones to retry first (HEAD'd, as the listing no longer
            // returns them), then the listing.
            if next.is_none() && !dispatch_stop.is_cancelled() {
                if let Some(key) = self.retry_failed.pop_front() {
                    if let Some(o) = self.head_failed(&key).await {
                        next = Some((o, true));
                    }
                    continue;
                }
                while let Some(o) = buffer.pop_front() {
                    if self.wanted(&o) {
                        next = Some((o, false));
                        break;
                    }
                }
            }
            let stopping = dispatch_stop.is_cancelled();
            if set.is_empty() && (stopping || (next.is_none() && buffer.is_empty() && listing_done))
            {
                break;
            }
            let can_dispatch = !stopping && next.is_some() && self.window.len() < MAX_WINDOW;
            let small = next.as_ref().is_some_and(|(o, _)| o.size <= threshold);
            let is_paused = *paused.borrow();
            let large_ready = can_dispatch && !small && large_open < max_large && !is_paused;
            let want_page = next.is_none() && buffer.is_empty() && !listing_done;
            tokio::select! {
                biased;
                Some(r) = set.join_next(), if !set.is_empty() => {
                    match r {
                        Ok((key, large, end)) => {
                            if large {
                                large_open -= 1;
                            }
                            self.finished(&key, end, large, &dispatch_stop);
                        }
                        Err(e) => {
                            cx.log(LogLevel::Error, format!("job {}: an object task ended abnormally: {e}", cx.id));
                            self.failed_now += 1;
                        }
                    }
                }
                page = pages.recv(), if want_page => match page {
                    Some(Page::Objects(objects)) => {
                        self.counts.listed += objects.len() as u64;
                        self.counts.listed_bytes += objects.iter().map(|o| o.size).sum::<u64>();
                        buffer.extend(objects);
                        cx.emit(Event::ObjectsListed {
                            job: cx.id,
                            objects: self.counts.listed,
                            bytes: self.counts.listed_bytes,
                            complete: false,
                        });
                    }
                    Some(Page::Failed(e)) => {
                        listing_error = Some(e);
                        listing_done = true;
                    }
                    None => {
                        listing_done = true;
                        cx.emit(Event::ObjectsListed {
                            job: cx.id,
                            objects: self.counts.listed,
                            bytes: self.counts.listed_bytes,
                            complete: listing_error.is_none() && !cx.stop.is_cancelled(),
                        });
                        cx.journal(Entry::Listed {
                            n: self.counts.listed,
                            b: self.counts.listed_bytes,
                            end: listing_error.is_none(),
                        });
                    }
                },
                permit = cx.sh.sched.acquire(cx.id, &mut paused, &dispatch_stop), if can_dispatch && small => {
                    if let (Some(permit), Some((o, retried))) = (permit, next.take()) {
                        self.dispatch(&mut set, o, retried, Some(permit), false);
                    }
                }
                _ = std::future::ready(()), if large_ready => {
                    if let Some((o, retried)) = next.take() {
                        large_open += 1;
                        self.dispatch(&mut set, o, retried, None, true);
                    }
                }
                _ = pause_changes.changed(), if can_dispatch && !small && is_paused => {}
                _ = cx.stop.cancelled(), if !stopping => dispatch_stop.cancel(),
            }
            self.write_cursor(false);
        }
        self.write_cursor(true);
        self.end(listing_error)
    }

    /// A failed object from an earlier run: HEAD it again for its current size and ETag.
    async fn head_failed(&mut self, key: &str) -> Option<ObjectSummary> {
        let src = ObjectRef::new(
            self.source.bucket.clone(),
            self.src_region.clone(),
            key.to_string(),
        );
        let store = Arc::clone(&self.cx.sh.store);
        match self
            .cx
            .call("HEAD source", true, |_| store.head_object(&src))
            .await
        {
            Ok(m) => Some(ObjectSummary {
                key: key.to_string(),
                size: m.size,
                last_modified: m.last_modified,
                etag: m.etag,
                storage_class: m.storage_class,
            }),
            Err(Stop::Stopped) => None,
            Err(Stop::Failed { error, .. }) if error.is_not_found() => {
                self.cx.journal(Entry::Skipped { k: key.to_string() });
                self.cx.log(
                    LogLevel::Info,
                    format!(
                        "job {}: {src} failed earlier and no longer exists; skipped",
                        self.cx.id
                    ),
                );
                None
            }
            Err(Stop::Failed { error, .. }) => {
                let e = format!("cannot read the source {src}: {error}");
                self.object_failed(key, e);
                None
            }
        }
    }

    fn dispatch(
        &mut self,
        set: &mut JoinSet<Finished>,
        o: ObjectSummary,
        retried: bool,
        permit: Option<super::scheduler::Permit>,
        large: bool,
    ) {
        let cx = Arc::clone(self.cx);
        let key = o.key.clone();
        if !retried {
            self.window.insert(key.clone(), false);
        }
        cx.emit(Event::ObjectStarted {
            job: cx.id,
            key: key.clone(),
            size: o.size,
        });
        let job = ObjectJob {
            key: key.clone(),
            src: ObjectRef::new(
                self.source.bucket.clone(),
                self.src_region.clone(),
                key.clone(),
            ),
            dst: ObjectRef::new(
                self.destination.bucket.clone(),
                self.dst_region.clone(),
                self.destination_key(&key),
            ),
            resume: self.uploads.remove(&key),
            known: Known::Listed(o),
        };
        set.spawn(async move {
            let end = object::copy(&cx, job, permit).await;
            (key, large, end)
        });
    }

    fn object_failed(&mut self, key: &str, error: String) {
        self.cx.journal(Entry::Failed {
            k: key.to_string(),
            e: error.clone(),
        });
        self.cx.emit(Event::ObjectFailed {
            job: self.cx.id,
            key: key.to_string(),
            error,
        });
        self.failed_now += 1;
        self.failures_in_a_row += 1;
    }

    /// `large`: a multipart object, whose bytes were reported by its parts (`Bytes`).
    fn finished(
        &mut self,
        key: &str,
        end: ObjectEnd,
        large: bool,
        dispatch_stop: &CancellationToken,
    ) {
        let cx = Arc::clone(self.cx);
        let finished = match end {
            ObjectEnd::Done { bytes, .. } => {
                cx.journal(Entry::Done {
                    k: key.to_string(),
                    b: bytes,
                });
                self.counts.done += 1;
                self.counts.done_bytes += bytes;
                self.failures_in_a_row = 0;
                cx.emit(Event::ObjectDone {
                    job: cx.id,
                    key: key.to_string(),
                    bytes: if large { 0 } else { bytes },
                    skipped: false,
                });
                true
            }
            ObjectEnd::Skipped => {
                cx.journal(Entry::Skipped { k: key.to_string() });
                self.counts.skipped += 1;
                cx.emit(Event::ObjectDone {
                    job: cx.id,
                    key: key.to_string(),
                    bytes: 0,
                    skipped: true,
                });
                true
            }
            ObjectEnd::Failed { error, .. } => {
                self.object_failed(key, error);
                if self.failures_in_a_row >= FAILURES_IN_A_ROW {
                    dispatch_stop.cancel();
                }
                true
            }
            ObjectEnd::Stopped => false,
        };
        if finished {
            if let Some(f) = self.window.get_mut(key) {
                *f = true;
            }
            while let Some(entry) = self.window.first_entry() {
                if !*entry.get() {
                    break;
                }
                let (k, _) = entry.remove_entry();
                self.cursor = Some(k);
                self.cursor_dirty = true;
            }
        }
    }

    fn write_cursor(&mut self, now: bool) {
        if !self.cursor_dirty || (!now && self.last_cursor_write.elapsed() < CURSOR_INTERVAL) {
            return;
        }
        if let Some(k) = &self.cursor {
            self.cx.journal(Entry::Cursor { k: k.clone() });
        }
        self.cursor_dirty = false;
        self.last_cursor_write = Instant::now();
    }

    fn end(self, listing_error: Option<String>) -> End {
        let cx = self.cx;
        let id = cx.id;
        let c = self.counts;
        if cx.stop.is_cancelled() {
            return stopped(cx);
        }
        if self.failures_in_a_row >= FAILURES_IN_A_ROW {
            return End::new(
                JobState::Failed(format!(
                    "stopped after {FAILURES_IN_A_ROW} objects failed in a row (see the failed objects for the cause); {} copied; `haul jobs resume {id}` retries the rest",
                    c.done
                )),
                true,
            );
        }
        if let Some(e) = listing_error {
            return End::new(
                JobState::Failed(format!(
                    "{e}; {} objects copied so far: `haul jobs resume {id}` continues the listing",
                    c.done
                )),
                true,
            );
        }
        if c.listed == 0 && !self.resumed {
            return End::new(
                JobState::Failed(format!(
                    "no objects under {}: check the prefix (nothing was copied)",
                    self.source
                )),
                false,
            );
        }
        if self.failed_now > 0 {
            return End::new(
                JobState::Failed(format!(
                    "{} of {} objects failed; `haul jobs resume {id}` retries them",
                    self.failed_now,
                    c.done + c.skipped + self.failed_now
                )),
                true,
            );
        }
        End::new(JobState::Done, false)
    }
}
