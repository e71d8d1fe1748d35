//! The journal: one append-only log per transfer in `<state dir>/transfers/<id>.log`, so a
//! restarted haul resumes a transfer where it stopped: the listing continues from a cursor, no
//! object recorded as done is copied again, and no part the server already has is re-copied.
//!
//! Format: JSON lines. The first line is the transfer's header (URIs, options); then entries:
//! a cursor (every listed key up to it is finished), objects done / skipped / failed, each
//! multipart upload started (its plan and the source's identity) and its parts as they finish,
//! uploads that ended, and state changes. A finished object costs one short line (26 bytes
//! plus its key). Never a credential.
//!
//! Writes go through `JournalWriter`: each entry reaches the file (one `write` of one line, to
//! the page cache) before `append` returns, so a killed process loses nothing it appended; a
//! thread of its own runs `fsync` at most every `SYNC_INTERVAL` (and at every state change and
//! close), which is what a power loss could cost.
//! One process per transfer: the writer holds an exclusive `flock` on the log and records its
//! pid in it, so a second process is refused with a message naming the holder.
//! Blocking file I/O lives only in that thread and in `read`/`load_all`.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, BufRead, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::store::CompletedPart;

use super::{CopyOptions, JobId, StoreOrigin};

/// Entries reach the disk (fsync) at most this long after they were written.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(200);

pub const FORMAT_VERSION: u32 = 2;

/// Errors that front ends branch on (`haul jobs`): what is wrong with which transfer.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("no journaled transfer {id} in {dir}: see `haul jobs ls`")]
    NotFound { id: JobId, dir: PathBuf },
    #[error("{path} is not a usable haul journal ({why}): move it aside, then check the destination with `haul ls` and `haul uploads ls`")]
    Corrupt { path: PathBuf, why: String },
    #[error("transfer {id} is in use by another haul process{}: wait for it to finish or stop it first", holder.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked { id: JobId, holder: Option<u32> },
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// One multipart upload of a transfer, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// Source key and destination key.
    pub key: String,
    pub dst_key: String,
    pub source_region: String,
    pub destination_region: String,
    pub upload_id: String,
    pub part_size: u64,
    pub parts: u32,
    /// Smaller first parts (`plan::RAMP_FIRST`).
    #[serde(default)]
    pub ramp: super::plan::Ramp,
    pub source_etag: String,
    pub source_size: u64,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub source_last_modified: Option<OffsetDateTime>,
    pub source_crc64: Option<u64>,
    /// Parts known done, ascending (rebuilt from `Part` entries; not written in `Upload`).
    #[serde(skip)]
    pub done_parts: Vec<CompletedPart>,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum Entry {
    #[serde(rename = "header")]
    Header {
        v: u32,
        id: JobId,
        source: String,
        destination: String,
        options: CopyOptions,
        #[serde(with = "time::serde::rfc3339")]
        created: OffsetDateTime,
        /// The store's dialect, profile and endpoint (absent in logs of older versions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        store: Option<StoreOrigin>,
    },
    /// The process that holds the transfer now.
    #[serde(rename = "owner")]
    Owner { pid: u32 },
    /// `running`, `cancelled`, `failed`, `paused` (`JobState::label`), with the reason.
    #[serde(rename = "state")]
    State {
        s: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        e: Option<String>,
    },
    /// Objects listed so far (for progress after a restart).
    #[serde(rename = "listed")]
    Listed { n: u64, b: u64, end: bool },
    /// Every listed key up to and including `k` is finished (done, skipped or failed).
    #[serde(rename = "c")]
    Cursor { k: String },
    #[serde(rename = "d")]
    Done { k: String, b: u64 },
    #[serde(rename = "s")]
    Skipped { k: String },
    #[serde(rename = "f")]
    Failed { k: String, e: String },
    #[serde(rename = "u")]
    Upload(UploadRecord),
    #[serde(rename = "p")]
    Part { k: String, n: u32, e: String },
    /// The upload of `k` ended (completed or aborted): nothing to resume or abort.
    #[serde(rename = "ug")]
    UploadGone { k: String },
}

/// A transfer as folded from its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    pub id: JobId,
    pub source: String,
    pub destination: String,
    pub options: CopyOptions,
    pub created: OffsetDateTime,
    /// The store the transfer runs against (`None` in logs written before it was recorded).
    pub store: Option<StoreOrigin>,
    pub state: String,
    pub error: Option<String>,
    pub owner: Option<u32>,
    pub listed: u64,
    pub listed_bytes: u64,
    pub listing_done: bool,
    pub cursor: Option<String>,
    /// Keys finished after the cursor (the listing's window in flight when it was written).
    pub finished_after_cursor: HashSet<String>,
    pub done: u64,
    pub done_bytes: u64,
    pub skipped: u64,
    /// Failed objects not done since, with their last error.
    pub failed: BTreeMap<String, String>,
    /// Open multipart uploads by source key.
    pub uploads: BTreeMap<String, UploadRecord>,
}

impl TransferRecord {
    fn new(
        id: JobId,
        source: String,
        destination: String,
        options: CopyOptions,
        created: OffsetDateTime,
        store: Option<StoreOrigin>,
    ) -> Self {
        TransferRecord {
            id,
            source,
            destination,
            options,
            created,
            store,
            state: "running".into(),
            error: None,
            owner: None,
            listed: 0,
            listed_bytes: 0,
            listing_done: false,
            cursor: None,
            finished_after_cursor: HashSet::new(),
            done: 0,
            done_bytes: 0,
            skipped: 0,
            failed: BTreeMap::new(),
            uploads: BTreeMap::new(),
        }
    }

    fn apply(&mut self, e: Entry) {
        match e {
            Entry::Header { .. } => {}
            Entry::Owner { pid } => self.owner = Some(pid),
            Entry::State { s, e } => {
                self.state = s;
                self.error = e;
            }
            Entry::Listed { n, b, end } => {
                self.listed = n;
                self.listed_bytes = b;
                self.listing_done = end;
            }
            Entry::Cursor { k } => {
                self.finished_after_cursor
                    .retain(|x| x.as_str() > k.as_str());
                self.cursor = Some(k);
            }
            Entry::Done { k, b } => {
                self.done += 1;
                self.done_bytes += b;
                self.failed.remove(&k);
                self.uploads.remove(&k);
                self.finished_after_cursor.insert(k);
            }
            Entry::Skipped { k } => {
                self.skipped += 1;
                self.failed.remove(&k);
                self.finished_after_cursor.insert(k);
            }
            Entry::Failed { k, e } => {
                self.failed.insert(k, e);
            }
            Entry::Upload(u) => {
                self.uploads.insert(u.key.clone(), u);
            }
            Entry::Part { k, n, e } => {
                if let Some(u) = self.uploads.get_mut(&k) {
                    match u.done_parts.binary_search_by_key(&n, |p| p.part_number) {
                        Ok(i) => u.done_parts[i].etag = e,
                        Err(i) => u.done_parts.insert(
                            i,
                            CompletedPart {
                                part_number: n,
                                etag: e,
                            },
                        ),
                    }
                }
            }
            Entry::UploadGone { k } => {
                self.uploads.remove(&k);
            }
        }
    }
}

/// Logs kept in memory by a journal with no directory: a transfer can still be cancelled and
/// resumed within one process, but nothing survives it.
type MemoryLogs = std::sync::Arc<std::sync::Mutex<BTreeMap<JobId, Vec<u8>>>>;

/// The journal directory (or, without one, logs in memory).
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
    memory: Option<MemoryLogs>,
}

impl Journal {
    /// Opens (creating, 0700) `<state_dir>/transfers`.
    pub fn open(state_dir: &Path) -> Result<Journal, JournalError> {
        let dir = state_dir.join("transfers");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err("create the journal directory", &dir))?;
        Ok(Journal { dir, memory: None })
    }

    /// A journal in memory: resumable within this process only (`is_durable` is false).
    pub fn memory() -> Journal {
        Journal {
            dir: PathBuf::from("(memory)"),
            memory: Some(Default::default()),
        }
    }

    /// Whether what is written survives the process.
    pub fn is_durable(&self) -> bool {
        self.memory.is_none()
    }

    fn logs(m: &MemoryLogs) -> std::sync::MutexGuard<'_, BTreeMap<JobId, Vec<u8>>> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, id: JobId) -> PathBuf {
        self.dir.join(format!("{id}.log"))
    }

    pub fn exists(&self, id: JobId) -> bool {
        match &self.memory {
            Some(m) => Self::logs(m).contains_key(&id),
            None => self.path(id).exists(),
        }
    }

    /// Reads and folds one transfer's log; a corrupt or mismatched log is an error that says
    /// so. A torn last line (a crash mid-write) is ignored.
    pub fn read(&self, id: JobId) -> Result<TransferRecord, JournalError> {
        let path = self.path(id);
        if let Some(m) = &self.memory {
            let bytes = Self::logs(m)
                .get(&id)
                .cloned()
                .ok_or(JournalError::NotFound {
                    id,
                    dir: self.dir.clone(),
                })?;
            return fold(id, &path, io::Cursor::new(bytes));
        }
        let f = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(JournalError::NotFound {
                    id,
                    dir: self.dir.clone(),
                })
            }
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        fold(id, &path, io::BufReader::new(f))
    }

    /// Ids of every transfer log, ascending.
    pub fn ids(&self) -> Vec<JobId> {
        if let Some(m) = &self.memory {
            return Self::logs(m).keys().copied().collect();
        }
        let mut ids: Vec<JobId> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".log")?
                    .parse::<JobId>()
                    .ok()
            })
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Every readable transfer; unreadable logs are reported, not fatal.
    pub fn load_all(&self) -> (Vec<TransferRecord>, Vec<String>) {
        let mut records = Vec::new();
        let mut problems = Vec::new();
        for id in self.ids() {
            match self.read(id) {
                Ok(r) => records.push(r),
                Err(e) => problems.push(format!("skipping transfer {id}: {e}")),
            }
        }
        (records, problems)
    }

    /// Creates the log of a new transfer with the lowest free id ≥ `from` (exclusive create, so
    /// two processes on one state directory never share an id) and holds it.
    pub fn create(
        &self,
        from: JobId,
        source: &str,
        destination: &str,
        options: &CopyOptions,
        store: Option<&StoreOrigin>,
    ) -> Result<JournalWriter, JournalError> {
        let mut id = from.max(1);
        if let Some(m) = &self.memory {
            let mut logs = Self::logs(m);
            while logs.contains_key(&id) {
                id += 1;
            }
            let mut head = Vec::new();
            encode(
                &Entry::Header {
                    v: FORMAT_VERSION,
                    id,
                    source: source.to_string(),
                    destination: destination.to_string(),
                    options: options.clone(),
                    created: OffsetDateTime::now_utc(),
                    store: store.cloned(),
                },
                &mut head,
            );
            logs.insert(id, head);
            drop(logs);
            return Ok(JournalWriter::in_memory(id, self.path(id), m.clone()));
        }
        loop {
            let path = self.path(id);
            match fs::OpenOptions::new()
                .append(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(file) => {
                    lock(&file, id, None)?;
                    let header = Entry::Header {
                        v: FORMAT_VERSION,
                        id,
                        source: source.to_string(),
                        destination: destination.to_string(),
                        options: options.clone(),
                        created: OffsetDateTime::now_utc(),
                        store: store.cloned(),
                    };
                    return JournalWriter::start(id, path, file, &[header]);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => id += 1,
                Err(e) => return Err(io_err("create", &path)(e)),
            }
        }
    }

    /// Takes an existing transfer's log for appending (resume, abort); refused while another
    /// process holds it.
    pub fn reopen(&self, id: JobId) -> Result<JournalWriter, JournalError> {
        let path = self.path(id);
        let rec = self.read(id)?;
        if let Some(m) = &self.memory {
            // One engine per memory journal, and it runs a transfer once at a time.
            return Ok(JournalWriter::in_memory(id, path, m.clone()));
        }
        let file = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        lock(&file, id, rec.owner)?;
        JournalWriter::start(id, path, file, &[])
    }
}

/// Folds a log into its record (see `Journal::read`).
fn fold(id: JobId, path: &Path, reader: impl BufRead) -> Result<TransferRecord, JournalError> {
    let corrupt = |why: String| JournalError::Corrupt {
        path: path.to_path_buf(),
        why,
    };
    let mut lines = reader.split(b'\n').peekable();
    let first = match lines.next() {
        Some(l) => l.map_err(io_err("read", path))?,
        None => return Err(corrupt("it is empty".into())),
    };
    let mut rec = match serde_json::from_slice::<Entry>(&first) {
        Ok(Entry::Header {
            v,
            id: hid,
            source,
            destination,
            options,
            created,
            store,
        }) => {
            if v != FORMAT_VERSION {
                return Err(corrupt(format!(
                    "format {v}, this haul reads format {FORMAT_VERSION}"
                )));
            }
            if hid != id {
                return Err(corrupt(format!("it holds transfer {hid}, not {id}")));
            }
            TransferRecord::new(id, source, destination, options, created, store)
        }
        Ok(_) => return Err(corrupt("its first line is not a header".into())),
        Err(e) => return Err(corrupt(format!("bad header: {e}"))),
    };
    let mut n = 1;
    while let Some(line) = lines.next() {
        let line = line.map_err(io_err("read", path))?;
        n += 1;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Entry>(&line) {
            Ok(e) => rec.apply(e),
            // Only the very last line may be torn by a crash.
            Err(_) if lines.peek().is_none() => break,
            Err(e) => return Err(corrupt(format!("line {n}: {e}"))),
        }
    }
    Ok(rec)
}

/// An exclusive, non-blocking `flock` on the log; released when the file closes (even on
/// `kill -9`).
fn lock(file: &fs::File, id: JobId, owner: Option<u32>) -> Result<(), JournalError> {
    // SAFETY: flock on a file descriptor we own; no memory is passed.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Err(JournalError::Locked { id, holder: owner });
    }
    Err(JournalError::Io {
        what: "lock",
        path: PathBuf::from(format!("transfer {id}")),
        source: e,
    })
}

enum Msg {
    /// Something was written since the last sync.
    Dirty,
    /// Write and fsync now (state changes).
    Sync,
    /// Sync and close; `remove` deletes the log first (the transfer needs nothing more).
    Close {
        remove: bool,
        done: std::sync::mpsc::Sender<io::Result<()>>,
    },
}

/// Appends entries to one transfer's log from a thread of its own (see the module doc).
/// Dropping it syncs and closes the log.
#[derive(Debug)]
pub struct JournalWriter {
    id: JobId,
    path: PathBuf,
    tx: std::sync::Mutex<mpsc::Sender<Msg>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The log, for appends (the sync thread holds another handle on the same open file).
    file: std::sync::Mutex<Option<(fs::File, bool)>>,
    /// Set for a memory journal: entries go straight into its log.
    memory: Option<MemoryLogs>,
    /// Whether the sync thread already knows there is something to fsync: appends wake it only
    /// on the first entry after a sync, not once per finished object.
    unsynced: Arc<AtomicBool>,
}

impl JournalWriter {
    fn start(
        id: JobId,
        path: PathBuf,
        mut file: fs::File,
        first: &[Entry],
    ) -> Result<JournalWriter, JournalError> {
        let mut head = Vec::new();
        for e in first.iter().chain([&Entry::Owner {
            pid: std::process::id(),
        }]) {
            encode(e, &mut head);
        }
        file.write_all(&head)
            .and_then(|_| file.sync_data())
            .map_err(io_err("write", &path))?;
        let appender = file.try_clone().map_err(io_err("open", &path))?;
        let (tx, rx) = mpsc::channel();
        let thread_path = path.clone();
        let unsynced = Arc::new(AtomicBool::new(false));
        let thread_unsynced = Arc::clone(&unsynced);
        let thread = std::thread::Builder::new()
            .name(format!("journal-{id}"))
            .spawn(move || writer_loop(file, thread_path, rx, thread_unsynced))
            .map_err(io_err("start the journal writer for", &path))?;
        Ok(JournalWriter {
            id,
            path,
            tx: std::sync::Mutex::new(tx),
            thread: std::sync::Mutex::new(Some(thread)),
            file: std::sync::Mutex::new(Some((appender, false))),
            memory: None,
            unsynced,
        })
    }

    fn in_memory(id: JobId, path: PathBuf, logs: MemoryLogs) -> JournalWriter {
        let mut owner = Vec::new();
        encode(
            &Entry::Owner {
                pid: std::process::id(),
            },
            &mut owner,
        );
        if let Some(log) = Journal::logs(&logs).get_mut(&id) {
            log.extend_from_slice(&owner);
        }
        JournalWriter {
            id,
            path,
            tx: std::sync::Mutex::new(mpsc::channel().0),
            thread: std::sync::Mutex::new(None),
            file: std::sync::Mutex::new(None),
            memory: Some(logs),
            unsynced: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn id(&self) -> JobId {
        self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues an entry; it reaches the file within microseconds and the disk within
    /// `SYNC_INTERVAL`.
    pub fn append(&self, e: &Entry) {
        let mut buf = Vec::with_capacity(64);
        encode(e, &mut buf);
        if let Some(m) = &self.memory {
            if let Some(log) = Journal::logs(m).get_mut(&self.id) {
                log.extend_from_slice(&buf);
            }
            return;
        }
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = file.as_mut() {
            if let Err(e) = f.0.write_all(&buf) {
                if !f.1 {
                    f.1 = true;
                    tracing::warn!(
                        "journal {}: {e}; a crash now would lose this transfer's recent progress",
                        self.path.display()
                    );
                }
            }
        }
        if !self.unsynced.swap(true, Ordering::AcqRel) {
            self.send(Msg::Dirty);
        }
    }

    /// Queues an entry and an fsync right after it.
    pub fn append_sync(&self, e: &Entry) {
        self.append(e);
        self.send(Msg::Sync);
    }

    fn send(&self, m: Msg) {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let _ = tx.send(m);
    }

    /// Syncs and closes the log (blocking until it is on disk); with `remove`, deletes it.
    /// Later appends are dropped.
    pub fn close(&self, remove: bool) -> io::Result<()> {
        if let Some(m) = &self.memory {
            if remove {
                Journal::logs(m).remove(&self.id);
            }
            return Ok(());
        }
        let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(());
        };
        // Appends end here; the sync thread closes the last handle (and with it the lock).
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let (dtx, drx) = mpsc::channel();
        self.send(Msg::Close { remove, done: dtx });
        let r = drx
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("the journal writer stopped")));
        let _ = thread.join();
        r
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        let _ = self.close(false);
    }
}

fn encode(e: &Entry, buf: &mut Vec<u8>) {
    // Serialising these plain structs cannot fail.
    if serde_json::to_writer(&mut *buf, e).is_ok() {
        buf.push(b'\n');
    }
}

fn writer_loop(file: fs::File, path: PathBuf, rx: mpsc::Receiver<Msg>, unsynced: Arc<AtomicBool>) {
    let mut dirty = false;
    let mut last_sync = Instant::now();
    let mut failed = false;
    let report = |e: &io::Error| {
        tracing::warn!(
            "journal {}: {e}; a crash now would lose this transfer's recent progress",
            path.display()
        )
    };
    loop {
        let wait = if dirty {
            SYNC_INTERVAL.saturating_sub(last_sync.elapsed())
        } else {
            Duration::from_secs(3600)
        };
        let mut sync_now = false;
        let mut close = None;
        let mut orphaned = false;
        match rx.recv_timeout(wait) {
            Ok(m) => {
                let mut next = Some(m);
                while let Some(m) = next.take() {
                    match m {
                        Msg::Dirty => dirty = true,
                        Msg::Sync => sync_now = true,
                        Msg::Close { remove, done } => {
                            close = Some((remove, done));
                            break;
                        }
                    }
                    next = rx.try_recv().ok();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => orphaned = true,
        }
        if sync_now {
            dirty = true;
        }
        if orphaned && close.is_none() {
            let _ = file.sync_data();
            return;
        }
        if dirty && (sync_now || close.is_some() || last_sync.elapsed() >= SYNC_INTERVAL) {
            // Cleared before the fsync: an entry written after this point wakes us again.
            unsynced.store(false, Ordering::Release);
            if let Err(e) = file.sync_data() {
                if !failed {
                    report(&e);
                    failed = true;
                }
            }
            dirty = false;
            last_sync = Instant::now();
        }
        if let Some((remove, done)) = close {
            let r = if remove {
                match fs::remove_file(&path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(io::Error::new(
                        e.kind(),
                        format!("cannot remove {}: {e}", path.display()),
                    )),
                }
            } else if failed {
                Err(io::Error::other(format!(
                    "writing {} failed earlier",
                    path.display()
                )))
            } else {
                Ok(())
            };
            drop(file);
            let _ = done.send(r);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(key: &str) -> UploadRecord {
        UploadRecord {
            key: key.into(),
            dst_key: key.into(),
            source_region: "ap-guangzhou".into(),
            destination_region: "ap-shanghai".into(),
            upload_id: format!("u-{key}"),
            part_size: 8 << 20,
            parts: 3,
            ramp: crate::engine::plan::Ramp::NONE,
            source_etag: "abc".into(),
            source_size: 20 << 20,
            source_last_modified: None,
            source_crc64: Some(42),
            done_parts: vec![],
        }
    }

    fn create(j: &Journal) -> JournalWriter {
        j.create(
            1,
            "cos://src-1250000000/p/",
            "cos://dst-1250000000/q/",
            &CopyOptions::default(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn the_header_keeps_the_store_origin_and_never_a_secret_and_older_logs_read_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let origin = StoreOrigin {
            dialect: crate::store::Dialect::S3,
            profile: Some("minio".into()),
            endpoint: Some("http://127.0.0.1:9000".into()),
        };
        let w = j
            .create(
                1,
                "s3://src/a",
                "s3://dst/a",
                &CopyOptions::default(),
                Some(&origin),
            )
            .unwrap();
        w.close(false).unwrap();
        let text = fs::read_to_string(j.path(1)).unwrap();
        let header = text.lines().next().unwrap();
        assert!(
            header.contains(
                r#""store":{"dialect":"s3","profile":"minio","endpoint":"http://127.0.0.1:9000"}"#
            ),
            "{header}"
        );
        assert_eq!(j.read(1).unwrap().store, Some(origin));
        // A header written before the origin was recorded.
        let old = header.replace(
            r#","store":{"dialect":"s3","profile":"minio","endpoint":"http://127.0.0.1:9000"}"#,
            "",
        );
        assert_ne!(old, header);
        fs::write(j.path(1), format!("{old}\n")).unwrap();
        let r = j.read(1).unwrap();
        assert_eq!((r.store, r.source.as_str()), (None, "s3://src/a"));
    }

    #[test]
    fn a_log_folds_into_cursor_done_failed_and_open_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let w = create(&j);
        assert_eq!(w.id(), 1);
        w.append(&Entry::Done {
            k: "p/a".into(),
            b: 5,
        });
        w.append(&Entry::Failed {
            k: "p/b".into(),
            e: "boom".into(),
        });
        w.append(&Entry::Done {
            k: "p/d".into(),
            b: 7,
        });
        w.append(&Entry::Cursor { k: "p/b".into() });
        w.append(&Entry::Upload(upload("p/c")));
        w.append(&Entry::Part {
            k: "p/c".into(),
            n: 2,
            e: "e2".into(),
        });
        w.append(&Entry::Part {
            k: "p/c".into(),
            n: 1,
            e: "e1".into(),
        });
        w.close(false).unwrap();
        let r = j.read(1).unwrap();
        assert_eq!(r.source, "cos://src-1250000000/p/");
        assert_eq!((r.done, r.done_bytes), (2, 12));
        assert_eq!(r.cursor.as_deref(), Some("p/b"), "p/a is below the cursor");
        assert_eq!(
            r.failed.get("p/b").map(String::as_str),
            Some("boom"),
            "failed objects are kept to retry, cursor or not"
        );
        assert!(
            r.finished_after_cursor.contains("p/d"),
            "done after the cursor"
        );
        assert!(!r.finished_after_cursor.contains("p/e"));
        assert_eq!(
            r.finished_after_cursor,
            HashSet::from(["p/d".to_string()]),
            "the cursor drops what it covers"
        );
        let parts: Vec<u32> = r.uploads["p/c"]
            .done_parts
            .iter()
            .map(|p| p.part_number)
            .collect();
        assert_eq!(parts, vec![1, 2]);
        assert_eq!(r.owner, Some(std::process::id()));
    }

    #[test]
    fn a_torn_last_line_is_ignored_but_a_corrupt_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let w = create(&j);
        w.append(&Entry::Done {
            k: "p/a".into(),
            b: 1,
        });
        w.close(false).unwrap();
        let mut f = fs::OpenOptions::new().append(true).open(j.path(1)).unwrap();
        f.write_all(b"{\"t\":\"d\",\"k\":\"p/").unwrap();
        assert_eq!(j.read(1).unwrap().done, 1);
        f.write_all(b"\n{\"t\":\"d\",\"k\":\"p/z\",\"b\":1}\n")
            .unwrap();
        let e = j.read(1).unwrap_err();
        assert!(matches!(e, JournalError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("line 4"), "{e}");
    }

    #[test]
    fn a_log_holding_another_id_or_garbage_is_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        create(&j).close(false).unwrap();
        fs::copy(j.path(1), j.path(2)).unwrap();
        let e = j.read(2).unwrap_err().to_string();
        assert!(e.contains("holds transfer 1, not 2"), "{e}");
        fs::write(j.path(3), b"\x00\x01garbage").unwrap();
        let e = j.read(3).unwrap_err().to_string();
        assert!(e.contains("not a usable haul journal"), "{e}");
        assert!(matches!(
            j.read(9).unwrap_err(),
            JournalError::NotFound { id: 9, .. }
        ));
        let (ok, problems) = j.load_all();
        assert_eq!(ok.len(), 1);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn ids_are_exclusive_and_a_held_transfer_cannot_be_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let a = create(&j);
        let b = create(&j);
        assert_eq!((a.id(), b.id()), (1, 2));
        let e = j.reopen(1).unwrap_err();
        assert!(
            matches!(e, JournalError::Locked { id: 1, holder: Some(p) } if p == std::process::id()),
            "{e}"
        );
        a.close(false).unwrap();
        let again = j.reopen(1).unwrap();
        again.close(true).unwrap();
        assert!(!j.exists(1), "closing with remove deletes the log");
        assert_eq!(j.ids(), vec![2]);
    }

    #[test]
    fn a_finished_object_costs_one_line_of_26_bytes_plus_its_key() {
        let key = "photos/00001234";
        let mut line = Vec::new();
        encode(
            &Entry::Done {
                k: key.into(),
                b: 1024,
            },
            &mut line,
        );
        assert_eq!(
            line.len(),
            26 + key.len(),
            "{}",
            String::from_utf8_lossy(&line)
        );
    }

    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("state")).unwrap();
        let w = create(&j);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(j.dir()), 0o700);
        assert_eq!(mode(w.path()), 0o600);
    }
}
