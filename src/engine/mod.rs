//! The copy engine: transfers (an object, a prefix or a bucket), the queue, planner, request
//! scheduler, retries, verification, pause / cancel / abort, journal and resume. Front ends
//! send `Command`s (one `Enqueue` per copy request, checked by `request::check`) and render
//! `Event`s, folded by `progress::TransferProgress`.
//!
//! Talks to storage only through `ObjectStore`; never touches the terminal. All job state lives
//! here; front ends derive rates and estimates from events and the clock.

pub mod history;
pub mod journal;
pub mod object;
pub mod plan;
pub mod progress;
pub mod queue;
pub mod region;
pub mod request;
pub mod retry;
pub mod scheduler;
#[cfg(any(test, feature = "test-double"))]
#[doc(hidden)]
pub mod testing;
#[cfg(test)]
mod tests;
pub mod transfer;
pub mod verify;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::store::{
    BucketInfo, CosUri, ListObjectsPage, ObjectMeta, ObjectStore, RequestRecord, UploadInfo,
};

pub use retry::RetryPolicy;

/// How the engine runs. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Copy requests in flight across all transfers (part copies and PUT Copies; default 64).
    pub concurrency: usize,
    /// Requests in flight per transfer unless its options say otherwise (default: all of
    /// `concurrency`; a transfer is limited only by the global limit and fairness).
    pub concurrency_per_job: usize,
    /// Transfers running at once (default 4).
    pub active_jobs: usize,
    /// Multipart objects of one transfer copied at once (default 4); small objects are limited
    /// only by the request limit.
    pub active_objects: usize,
    /// Objects at or below this size use one PUT Object - Copy (default 64 MiB; never above 5 GiB).
    pub single_copy_threshold: u64,
    /// Where buckets are looked for first (HEAD Bucket), e.g. the profile's region.
    pub default_region: String,
    /// Journal directory; `None` keeps no journal (tests).
    pub state_dir: Option<PathBuf>,
    pub retry: RetryPolicy,
    /// Default for `CopyOptions::verify` in front ends.
    pub verify: bool,
    /// The store this engine's client talks to, written into each new transfer's journal so
    /// `haul jobs resume|abort` can rebuild the same client (`None`: not recorded).
    pub origin: Option<StoreOrigin>,
}

/// Which store a transfer runs against: its dialect, and the profile and endpoint the client
/// was built from. Never a credential (the endpoint is scheme, host and port only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoreOrigin {
    pub dialect: crate::store::Dialect,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            concurrency: DEFAULT_CONCURRENCY,
            concurrency_per_job: DEFAULT_CONCURRENCY,
            active_jobs: 4,
            active_objects: 4,
            single_copy_threshold: plan::DEFAULT_SINGLE_COPY_THRESHOLD,
            default_region: "ap-guangzhou".into(),
            state_dir: None,
            retry: RetryPolicy::default(),
            verify: true,
            origin: None,
        }
    }
}

/// Copy requests in flight by default: tuned on `cargo bench --bench copy -- bulk`.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// A running engine: send `Command`s, receive `Event`s. After `Command::Shutdown` (or when
/// `commands` is dropped) running jobs are cancelled and journaled, and `events` closes.
pub struct EngineHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub events: mpsc::UnboundedReceiver<Event>,
}

/// The copy engine.
pub struct Engine;

impl Engine {
    /// Starts the engine task on the current tokio runtime. Jobs found in the journal appear
    /// first as `JobAdded { state: Interrupted }` (+ `JobPlanned`).
    pub fn start(store: Arc<dyn ObjectStore>, config: EngineConfig) -> EngineHandle {
        let (ctx, crx) = mpsc::unbounded_channel();
        let (etx, erx) = mpsc::unbounded_channel();
        tokio::spawn(queue::run(store, config, crx, etx));
        EngineHandle {
            commands: ctx,
            events: erx,
        }
    }
}

/// `$HAUL_STATE_DIR`, else the platform state dir + `haul` (falling back to the local data dir).
pub fn default_state_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("HAUL_STATE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("haul"))
}

/// A transfer's identity ("job" to users: `haul jobs`), stable across restarts (it names the
/// journal file).
pub type JobId = u64;

/// How big each part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum PartSize {
    /// Chosen by the planner from size and concurrency.
    #[default]
    Auto,
    Fixed(u64),
}

/// What to do when the destination already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Overwrite {
    #[default]
    Always,
    /// Skip the job (`--no-clobber`, "skip" in the dialog).
    Skip,
}

/// Per-job options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyOptions {
    pub part_size: PartSize,
    /// Parts in flight for this job; `None` uses the engine default.
    pub concurrency: Option<usize>,
    /// `None` keeps the source's storage class.
    pub storage_class: Option<String>,
    pub verify: bool,
    pub overwrite: Overwrite,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            part_size: PartSize::Auto,
            concurrency: None,
            storage_class: None,
            verify: true,
            overwrite: Overwrite::Always,
        }
    }
}

/// One copy request: an object, or every object under a prefix (a source key that is empty or
/// ends in `/`; the destination is then a prefix too). Build it with `request::check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    pub source: CosUri,
    pub destination: CosUri,
    pub options: CopyOptions,
}

/// Job lifecycle (docs/architecture.md §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    Queued,
    Preparing,
    Running,
    Paused,
    Completing,
    Verifying,
    Done,
    Failed(String),
    /// Stopped with the upload kept; resumable.
    Cancelled,
    Aborted,
    /// Found in the journal at start-up, not running; resumable.
    Interrupted,
    /// Destination existed and the job was told not to overwrite.
    Skipped,
}

impl JobState {
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed(_) | JobState::Aborted | JobState::Skipped
        )
    }
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            JobState::Preparing | JobState::Running | JobState::Completing | JobState::Verifying
        )
    }
    pub fn label(&self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Preparing => "preparing",
            JobState::Running => "running",
            JobState::Paused => "paused",
            JobState::Completing => "completing",
            JobState::Verifying => "verifying",
            JobState::Done => "done",
            JobState::Failed(_) => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Aborted => "aborted",
            JobState::Interrupted => "interrupted",
            JobState::Skipped => "skipped",
        }
    }
}

/// How a job moves its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    /// One PUT Object - Copy.
    Single,
    Multipart {
        part_size: u64,
        parts: u32,
        /// Smaller first parts (`plan::RAMP_FIRST`): `plan::part_range` knows them.
        #[serde(default)]
        ramp: plan::Ramp,
    },
}

/// What the planner decided, sent once per job (and again on resume).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSummary {
    pub size: u64,
    pub strategy: Strategy,
    pub upload_id: Option<String>,
    /// Parts already done (resume).
    pub parts_done: Vec<u32>,
    pub source_etag: String,
    pub source_crc64: Option<u64>,
}

/// What verification checked after Complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub size_matched: bool,
    /// `None`: one side had no CRC64, so it was not compared.
    pub crc64_matched: Option<bool>,
    /// `None`: not compared (a multipart copy, or a source ETag that is not a content MD5).
    #[serde(default)]
    pub etag_matched: Option<bool>,
    pub skipped: bool,
}

/// A browse request from a front end; answered by `Event::Listing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowseRequest {
    Buckets,
    Objects {
        bucket: crate::store::BucketName,
        prefix: String,
        marker: Option<String>,
    },
    HeadObject(CosUri),
    /// A bucket's region, through the engine's region lookup (cached per engine).
    Region(crate::store::BucketName),
    /// Whether an object exists (HEAD Object): its size, or `None` when there is none.
    Exists(CosUri),
    Uploads {
        bucket: crate::store::BucketName,
        prefix: String,
    },
}

/// The answer to a `BrowseRequest`.
#[derive(Debug, Clone)]
pub enum Listing {
    Buckets(Result<Vec<BucketInfo>, String>),
    Objects {
        bucket: crate::store::BucketName,
        prefix: String,
        marker: Option<String>,
        page: Result<ListObjectsPage, String>,
    },
    Object {
        uri: CosUri,
        meta: Result<ObjectMeta, String>,
    },
    Region {
        bucket: crate::store::BucketName,
        region: Result<String, String>,
    },
    /// `Ok(Some(size))`: the object exists; `Ok(None)`: it does not.
    Exists {
        uri: CosUri,
        size: Result<Option<u64>, String>,
    },
    Uploads {
        bucket: crate::store::BucketName,
        prefix: String,
        /// With each upload: parts and bytes so far, and the journal's job if it knows one.
        uploads: Result<Vec<UploadSummary>, String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSummary {
    pub upload: UploadInfo,
    pub parts: u32,
    pub bytes: u64,
    pub job: Option<JobId>,
}

/// Front end → engine.
#[derive(Debug, Clone)]
pub enum Command {
    Enqueue(CopySpec),
    Pause(JobId),
    Resume(JobId),
    Cancel(JobId),
    Abort(JobId),
    Retry(JobId),
    Remove(JobId),
    /// Removes every finished transfer (done, failed, aborted, skipped) that is not running,
    /// and its history record; journaled failed ones stay in the journal.
    ClearFinished,
    PauseAll,
    ResumeAll,
    /// `job: None` sets the global parts-in-flight limit.
    SetConcurrency {
        job: Option<JobId>,
        n: usize,
    },
    /// Number of jobs that may run at once.
    SetActiveJobs(usize),
    Browse(BrowseRequest),
    /// Abort incomplete uploads found through the Uploads screen.
    AbortUploads {
        bucket: crate::store::BucketName,
        uploads: Vec<(String, String)>,
    },
    /// Delete objects (the Browse screen's `D`, after a confirmation that names them). Folder
    /// prefixes are not expanded: only the keys given are deleted.
    DeleteObjects {
        bucket: crate::store::BucketName,
        keys: Vec<String>,
    },
    Shutdown,
}

/// Engine → front end. Lifecycle events are never dropped; there are a few per part at most.
///
/// What a front end derives from them (`progress::TransferProgress` does it once for all):
/// - A job (a transfer): `JobAdded` (Queued; or Interrupted for a journaled one at start-up),
///   `JobState` changes, and one `JobFinished` per run (Done / Failed / Cancelled / Aborted /
///   Skipped, with the `Verification` of a one-object transfer). A resumed or retried job
///   starts again at `JobState`.
/// - A one-object transfer sends `JobPlanned` (size, strategy, upload id, parts already done
///   on resume — count those parts' bytes as done: `plan::part_range(size, part_size, n)`) and
///   part events. A prefix transfer sends `ObjectsListed`, `ObjectStarted` / `ObjectDone` /
///   `ObjectFailed` per object, `Bytes` for parts of its multipart objects, and on resume one
///   `TransferProgress` with what earlier runs finished.
/// - Bytes done = Σ `PartDone.bytes` (+ resumed parts) + Σ `ObjectDone.bytes` + Σ `Bytes` +
///   `TransferProgress.done_bytes`; a single copy reports as part 1.
///   Rate = bytes done over a sliding window of the clock; in-flight parts report no bytes
///   (estimate them from elapsed × the job's `PartDone` rate, drawn as an estimate).
/// - Parts in flight: +1 on `PartStarted` (attempt 1), −1 on `PartDone` / `PartFailed`;
///   `PartRetrying { attempt, after }` means attempt `attempt` starts after `after` (the part
///   stays in flight and keeps its permit). A stopped job's in-flight parts end silently: reset
///   them on its next `JobState`/`JobFinished`.
/// - `Concurrency { job: None }`: the configured and effective (AIMD) global limit; sent at
///   start and on every change. `job: Some((id, n))`: that job's limit changed.
#[derive(Debug, Clone)]
pub enum Event {
    JobAdded {
        id: JobId,
        spec: CopySpec,
        state: JobState,
        /// The journal holds the transfer: it can be resumed after a crash or a restart.
        journaled: bool,
    },
    /// A copy request the engine refused (front ends check with `request::check` first).
    Rejected {
        spec: CopySpec,
        error: String,
    },
    JobPlanned {
        id: JobId,
        plan: PlanSummary,
    },
    JobState {
        id: JobId,
        state: JobState,
    },
    PartStarted {
        job: JobId,
        part: u32,
        attempt: u32,
        at: SystemTime,
    },
    PartDone {
        job: JobId,
        part: u32,
        bytes: u64,
        elapsed: Duration,
    },
    PartRetrying {
        job: JobId,
        part: u32,
        attempt: u32,
        after: Duration,
        error: String,
    },
    PartFailed {
        job: JobId,
        part: u32,
        error: String,
    },
    JobFinished {
        id: JobId,
        state: JobState,
        verification: Option<Verification>,
    },
    JobRemoved {
        id: JobId,
    },
    /// A transfer that ended in an earlier run, from the history (after its `JobAdded` with
    /// the end state): its figures, for the fold to show.
    JobHistory {
        record: history::Record,
    },
    /// A prefix transfer's listing so far (cumulative); `complete` once it has ended.
    ObjectsListed {
        job: JobId,
        objects: u64,
        bytes: u64,
        complete: bool,
    },
    /// An object of a prefix transfer started (its parts report as `Bytes`).
    ObjectStarted {
        job: JobId,
        key: String,
        size: u64,
    },
    /// An object of a prefix transfer finished; `bytes` are the bytes not yet reported by
    /// `Bytes` events (a small object's size; 0 for a multipart one).
    ObjectDone {
        job: JobId,
        key: String,
        bytes: u64,
        skipped: bool,
    },
    ObjectFailed {
        job: JobId,
        key: String,
        error: String,
    },
    /// Bytes copied by a part of a multipart object inside a prefix transfer.
    Bytes {
        job: JobId,
        bytes: u64,
    },
    /// What an earlier run of a resumed prefix transfer finished.
    TransferProgress {
        job: JobId,
        done: u64,
        done_bytes: u64,
        skipped: u64,
    },
    /// A request the transfer waits on failed and is retried: attempt `attempt` of `of`
    /// starts after `after`.
    Waiting {
        job: JobId,
        what: String,
        attempt: u32,
        of: u32,
        after: Duration,
        error: String,
    },
    /// Effective limits after a change (user or AIMD).
    Concurrency {
        global_limit: usize,
        effective: usize,
        job: Option<(JobId, usize)>,
    },
    Listing(Listing),
    Request(RequestRecord),
    Log {
        level: LogLevel,
        message: String,
    },
    UploadsAborted {
        aborted: usize,
        failed: Vec<String>,
    },
    /// What a `DeleteObjects` did: the keys deleted (or already gone) and each failure.
    ObjectsDeleted {
        bucket: crate::store::BucketName,
        deleted: Vec<String>,
        failed: Vec<String>,
    },
}

impl Event {
    /// The transfer an event is about, if it is about one.
    pub fn job(&self) -> Option<JobId> {
        match self {
            Event::JobAdded { id, .. }
            | Event::JobPlanned { id, .. }
            | Event::JobState { id, .. }
            | Event::JobFinished { id, .. }
            | Event::JobRemoved { id } => Some(*id),
            Event::JobHistory { record } => Some(record.id),
            Event::PartStarted { job, .. }
            | Event::PartDone { job, .. }
            | Event::PartRetrying { job, .. }
            | Event::PartFailed { job, .. }
            | Event::ObjectsListed { job, .. }
            | Event::ObjectStarted { job, .. }
            | Event::ObjectDone { job, .. }
            | Event::ObjectFailed { job, .. }
            | Event::Bytes { job, .. }
            | Event::TransferProgress { job, .. }
            | Event::Waiting { job, .. } => Some(*job),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}
