//! The copy engine end to end: `Engine` + the real `CosClient` + the real server on
//! 127.0.0.1:0, in-process (and, for `kill -9` and resume, the `haul` binary as processes).
//!
//! Each test asserts what the user would check by hand: the destination's size and CRC64, that
//! no incomplete upload is left behind, and what the server's access log says was sent.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{GZ, GZ_BUCKET, SH, SH_BUCKET};
use haul::engine::{
    Command, CopyOptions, CopySpec, Engine, EngineConfig, EngineHandle, Event, JobId, JobState,
    PartSize, RetryPolicy, Strategy, Verification,
};
use haul::server::ServerHandle;
use haul::store::client::{ClientOptions, CosClient};
use haul::store::{
    BucketName, CopyObjectRequest, CopySourceConditions, CosUri, Credentials, ListUploadsRequest,
    MetadataDirective, ObjectHeaders, ObjectMeta, ObjectRef, ObjectStore, Secret, UploadInfo,
};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// No single test may take longer than this before it is declared hung.
const TEST_LIMIT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// Helpers

/// The real client pointed at the test server; `tweak` may shorten its timeouts.
fn client_with(h: &ServerHandle, tweak: impl FnOnce(&mut ClientOptions)) -> Arc<CosClient> {
    let mut o = ClientOptions::new(common::credentials(h));
    o.endpoint = Some(h.endpoint());
    tweak(&mut o);
    match CosClient::new(o) {
        Ok(c) => Arc::new(c),
        Err(e) => panic!("the client does not build: {e}"),
    }
}

fn client(h: &ServerHandle) -> Arc<CosClient> {
    client_with(h, |_| {})
}

fn bucket(name: &str) -> BucketName {
    BucketName::parse(name).unwrap_or_else(|e| panic!("bucket {name}: {e}"))
}

fn uri(b: &str, key: &str) -> CosUri {
    CosUri {
        bucket: bucket(b),
        key: key.to_string(),
    }
}

fn obj(b: &str, region: &str, key: &str) -> ObjectRef {
    ObjectRef::new(bucket(b), region, key)
}

/// Quick retries, so fault tests take seconds; as many attempts as the default.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(100),
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        default_region: GZ.to_string(),
        retry: fast_retry(),
        ..EngineConfig::default()
    }
}

fn spec(src: CosUri, dst: CosUri, part_size: PartSize, concurrency: Option<usize>) -> CopySpec {
    CopySpec {
        source: src,
        destination: dst,
        options: CopyOptions {
            part_size,
            concurrency,
            ..CopyOptions::default()
        },
    }
}

async fn head(store: &CosClient, o: &ObjectRef) -> ObjectMeta {
    match store.head_object(o).await {
        Ok(m) => m,
        Err(e) => panic!("HEAD {o}: {e}"),
    }
}

async fn uploads(store: &CosClient, b: &str, region: &str) -> Vec<UploadInfo> {
    match store
        .list_multipart_uploads(&bucket(b), region, &ListUploadsRequest::default())
        .await
    {
        Ok(p) => p.uploads,
        Err(e) => panic!("ListMultipartUploads on {b}: {e}"),
    }
}

/// The next engine event, or a panic naming what was awaited.
async fn next(h: &mut EngineHandle, waiting_for: &str) -> Event {
    match tokio::time::timeout(TEST_LIMIT, h.events.recv()).await {
        Ok(Some(ev)) => ev,
        Ok(None) => panic!("the engine stopped while waiting for {waiting_for}"),
        Err(_) => panic!("no engine event within {TEST_LIMIT:?} while waiting for {waiting_for}"),
    }
}

/// How one job ended, with everything the engine said on the way.
struct Finished {
    id: JobId,
    state: JobState,
    verification: Option<Verification>,
    events: Vec<Event>,
}

impl Finished {
    fn strategy(&self) -> Strategy {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::JobPlanned { plan, .. } => Some(plan.strategy.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("job {} was never planned: {:?}", self.id, self.state))
    }

    fn retries(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::PartRetrying { .. }))
            .count()
    }

    fn logs(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Log { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Reads events until the job `id` (or, with `None`, the first job) finishes.
async fn finish(h: &mut EngineHandle, mut id: Option<JobId>, mut events: Vec<Event>) -> Finished {
    loop {
        let ev = next(h, "the job to finish").await;
        events.push(ev.clone());
        match ev {
            Event::JobAdded { id: j, .. } if id.is_none() => id = Some(j),
            Event::JobFinished {
                id: j,
                state,
                verification,
            } if Some(j) == id => {
                return Finished {
                    id: j,
                    state,
                    verification,
                    events,
                }
            }
            _ => {}
        }
    }
}

/// Reads events until `n` parts of job `id` are done; returns them.
async fn parts_done(h: &mut EngineHandle, n: usize) -> (JobId, Vec<Event>) {
    let mut events = Vec::new();
    let mut done = 0;
    let mut id = None;
    while done < n {
        let ev = next(h, "parts to finish").await;
        match &ev {
            Event::JobAdded { id: j, .. } => id = Some(*j),
            Event::PartDone { .. } => done += 1,
            Event::JobFinished { state, .. } => {
                panic!("the job finished ({state:?}) before {n} parts were done")
            }
            _ => {}
        }
        events.push(ev);
    }
    (
        id.unwrap_or_else(|| panic!("parts done before JobAdded")),
        events,
    )
}

/// Shuts the engine down and waits for its event stream to close.
async fn shutdown(mut h: EngineHandle) {
    let _ = h.commands.send(Command::Shutdown);
    let drained = tokio::time::timeout(TEST_LIMIT, async {
        while h.events.recv().await.is_some() {}
    })
    .await;
    assert!(drained.is_ok(), "the engine did not stop after Shutdown");
}

/// Runs one copy to its end on a fresh engine.
async fn copy(store: Arc<CosClient>, config: EngineConfig, spec: CopySpec) -> Finished {
    let h = Engine::start(store, config);
    copy_on(h, spec).await
}

async fn copy_on(mut h: EngineHandle, spec: CopySpec) -> Finished {
    let _ = h.commands.send(Command::Enqueue(spec));
    let f = finish(&mut h, None, Vec::new()).await;
    shutdown(h).await;
    f
}

/// A server holding a 2 GiB `alpha/big.bin`, 30 ms per request, logging to `log`: a copy
/// long enough to stop in the middle.
async fn big_server(log: &str) -> ServerHandle {
    common::start_server(common::args(&[
        "--object",
        "cos://alpha-1250000000/big.bin=2GiB",
        "--latency",
        "30ms",
        "--access-log",
        log,
    ]))
    .await
}

/// One line of the server's `--access-log`.
#[derive(Debug, Clone, serde::Deserialize)]
struct LogLine {
    op: String,
    part: Option<u32>,
    status: u16,
    code: Option<String>,
    fault: Option<String>,
}

impl LogLine {
    /// A request that really did what it asked (not a fault, not a 200 carrying an error).
    fn succeeded(&self) -> bool {
        (200..300).contains(&self.status) && self.code.is_none() && self.fault.is_none()
    }
}

fn access_log(path: &Path) -> Vec<LogLine> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading the access log {}: {e}", path.display()));
    text.lines()
        // The last line may be half-written while the server runs.
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn count_op(log: &[LogLine], op: &str) -> usize {
    log.iter().filter(|l| l.op == op).count()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))
}

fn log_arg(dir: &Path) -> (String, std::path::PathBuf) {
    let p = dir.join("access.jsonl");
    (p.display().to_string(), p)
}

fn assert_done(f: &Finished) {
    assert_eq!(
        f.state,
        JobState::Done,
        "job {} should be done; log: {:?}",
        f.id,
        f.logs()
    );
    let v = f
        .verification
        .as_ref()
        .unwrap_or_else(|| panic!("job {} finished without a verification", f.id));
    assert!(!v.skipped, "verification was skipped: {v:?}");
    assert!(v.size_matched, "sizes differ: {v:?}");
    assert_eq!(
        v.crc64_matched,
        Some(true),
        "CRC64 not compared equal: {v:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Copies that must succeed

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_40_tb_object_is_copied_with_auto_parts_and_verified() {
    let server = common::start_server(common::args(&[
        "--object",
        "cos://alpha-1250000000/huge/40tb.bin=40TB",
    ]))
    .await;
    let store = client(&server);
    let src = obj(GZ_BUCKET, GZ, "huge/40tb.bin");
    let dst = obj(GZ_BUCKET, GZ, "copies/40tb.bin");
    let source = head(&store, &src).await;
    assert_eq!(source.size, 40_000_000_000_000);
    let source_crc = source
        .crc64
        .expect("the server reports a CRC64 for synthetic objects");

    let f = copy(
        store.clone(),
        config(),
        spec(
            uri(GZ_BUCKET, "huge/40tb.bin"),
            uri(GZ_BUCKET, "copies/40tb.bin"),
            PartSize::Auto,
            None,
        ),
    )
    .await;
    assert_done(&f);
    let Strategy::Multipart {
        part_size,
        parts,
        ramp,
    } = f.strategy()
    else {
        panic!("a 40 TB object must be copied in parts")
    };
    assert!(
        parts <= 10_000 && part_size <= 5 * GIB,
        "{parts} parts of {part_size}"
    );
    let last = haul::engine::plan::part_range(source.size, part_size, ramp, parts);
    assert!(
        last.last + 1 == source.size && last.first < source.size,
        "{parts} parts of {part_size} bytes ({ramp:?}) do not tile {} bytes",
        source.size
    );
    let done: BTreeSet<u32> = f
        .events
        .iter()
        .filter_map(|e| match e {
            Event::PartDone { part, .. } => Some(*part),
            _ => None,
        })
        .collect();
    assert_eq!(done, (1..=parts).collect(), "every part done exactly once");

    let d = head(&store, &dst).await;
    assert_eq!(d.size, source.size);
    assert_eq!(d.crc64, Some(source_crc), "destination CRC64");
    assert!(
        d.etag.ends_with(&format!("-{parts}")),
        "a multipart ETag: {}",
        d.etag
    );
    assert!(uploads(&store, GZ_BUCKET, GZ).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_6_gib_object_is_copied_across_regions() {
    let server = common::start_server(common::args(&[
        "--object",
        "cos://alpha-1250000000/video/6g.mov=6GiB",
    ]))
    .await;
    let store = client(&server);
    let source = head(&store, &obj(GZ_BUCKET, GZ, "video/6g.mov")).await;

    let f = copy(
        store.clone(),
        config(),
        spec(
            uri(GZ_BUCKET, "video/6g.mov"),
            uri(SH_BUCKET, "from-gz/6g.mov"),
            PartSize::Auto,
            None,
        ),
    )
    .await;
    assert_done(&f);
    assert!(
        matches!(f.strategy(), Strategy::Multipart { parts, .. } if parts > 1),
        "above 5 GB across regions only a multipart copy works: {:?}",
        f.strategy()
    );
    // The destination exists in Shanghai (and only there).
    let d = head(&store, &obj(SH_BUCKET, SH, "from-gz/6g.mov")).await;
    assert_eq!(d.size, 6 * GIB);
    assert_eq!(d.crc64, source.crc64);
    assert!(store
        .head_object(&obj(GZ_BUCKET, GZ, "from-gz/6g.mov"))
        .await
        .is_err_and(|e| e.is_not_found()));
    assert!(uploads(&store, SH_BUCKET, SH).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_under_every_kind_of_fault_completes_and_leaves_nothing_behind() {
    let dir = tempdir();
    let (log, log_path) = log_arg(dir.path());
    let server = common::start_server(common::args(&[
        "--object",
        "cos://alpha-1250000000/faulty/1g.bin=1GiB",
        "--fault-rate",
        "0.2",
        "--faults",
        "slowdown,internal,reset,error200,timeout",
        "--fault-stall",
        "3s",
        "--seed",
        "7",
        "--access-log",
        &log,
    ]))
    .await;
    // The `timeout` fault stalls 3 s; the client gives up well before.
    let store = client_with(&server, |o| {
        o.request_timeout = Duration::from_millis(400);
        o.copy_timeout = Duration::from_millis(400);
        o.complete_timeout = Duration::from_millis(400);
    });
    let source = head(&store, &obj(GZ_BUCKET, GZ, "faulty/1g.bin")).await;

    let f = copy(
        store.clone(),
        config(),
        spec(
            uri(GZ_BUCKET, "faulty/1g.bin"),
            uri(SH_BUCKET, "faulty/1g.bin"),
            PartSize::Fixed(8 * MIB),
            Some(16),
        ),
    )
    .await;
    assert_done(&f);
    assert!(
        f.retries() > 0,
        "faults at rate 0.2 must cause part retries"
    );
    let timed_out = f
        .events
        .iter()
        .filter(|e| matches!(e, Event::PartRetrying { error, .. } if error.contains("timed out")))
        .count();
    assert!(
        timed_out > 0,
        "the `timeout` fault must make the client time out and retry"
    );

    let d = head(&store, &obj(SH_BUCKET, SH, "faulty/1g.bin")).await;
    assert_eq!(d.size, GIB);
    assert_eq!(d.crc64, source.crc64);
    assert!(
        uploads(&store, SH_BUCKET, SH).await.is_empty(),
        "no incomplete upload may be left (a retried Initiate or Complete must not leak one)"
    );

    // The test means something only if every fault kind really happened. A `timeout` fault
    // shows in the engine's retries above: the server logs a request only when it answers, and
    // the client has hung up long before the stall ends.
    let lines = access_log(&log_path);
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for l in &lines {
        if let Some(k) = &l.fault {
            *kinds.entry(k.clone()).or_default() += 1;
        }
    }
    for k in ["slowdown", "internal", "reset", "error200"] {
        assert!(
            kinds.get(k).copied().unwrap_or(0) > 0,
            "no {k} fault was injected: {kinds:?}"
        );
    }
    // Exactly one upload was completed and none was abandoned.
    let initiated = lines
        .iter()
        .filter(|l| l.op == "InitiateMultipartUpload" && l.succeeded())
        .count();
    assert_eq!(initiated, 1, "one upload initiated");
    server.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Copies that must fail or stop cleanly

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_overwritten_mid_copy_fails_clearly_and_leaves_nothing() {
    let dir = tempdir();
    let (log, log_path) = log_arg(dir.path());
    let server = common::start_server(common::args(&[
        "--object",
        "cos://alpha-1250000000/changing.bin=1GiB",
        "--object",
        "cos://alpha-1250000000/other.bin=1GiB",
        "--latency",
        "40ms",
        "--access-log",
        &log,
    ]))
    .await;
    let store = client(&server);
    let src = obj(GZ_BUCKET, GZ, "changing.bin");
    let before = head(&store, &src).await;

    let mut h = Engine::start(store.clone(), config());
    let _ = h.commands.send(Command::Enqueue(spec(
        uri(GZ_BUCKET, "changing.bin"),
        uri(SH_BUCKET, "changed.bin"),
        PartSize::Fixed(8 * MIB),
        Some(4),
    )));
    let (id, events) = parts_done(&mut h, 6).await;
    // Overwrite the source with other content of the same size (so only the ETag tells).
    let replaced = store
        .copy_object(&CopyObjectRequest {
            source: obj(GZ_BUCKET, GZ, "other.bin"),
            destination: src.clone(),
            directive: MetadataDirective::Copy,
            headers: ObjectHeaders::default(),
            conditions: CopySourceConditions::default(),
        })
        .await
        .unwrap_or_else(|e| panic!("overwriting the source: {e}"));
    assert_ne!(
        replaced.etag, before.etag,
        "the new source has another ETag"
    );
    let f = finish(&mut h, Some(id), events).await;
    shutdown(h).await;

    let JobState::Failed(message) = &f.state else {
        panic!("the job must fail, not end {:?}", f.state)
    };
    assert!(
        message.contains("changed"),
        "the error says the source changed: {message}"
    );
    assert!(message.contains("changing.bin"), "and names it: {message}");
    assert!(store
        .head_object(&obj(SH_BUCKET, SH, "changed.bin"))
        .await
        .is_err_and(|e| e.is_not_found()));
    assert!(uploads(&store, SH_BUCKET, SH).await.is_empty());
    let lines = access_log(&log_path);
    assert!(
        lines
            .iter()
            .any(|l| l.op == "UploadPartCopy" && l.status == 412),
        "a part copy was refused by If-Match"
    );
    assert_eq!(count_op(&lines, "CompleteMultipartUpload"), 0);
    assert_eq!(count_op(&lines, "AbortMultipartUpload"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_mid_copy_sends_one_abort_and_leaves_no_upload() {
    let dir = tempdir();
    let (log, log_path) = log_arg(dir.path());
    let server = big_server(&log).await;
    let store = client(&server);
    let mut h = Engine::start(store.clone(), config());
    let _ = h.commands.send(Command::Enqueue(spec(
        uri(GZ_BUCKET, "big.bin"),
        uri(GZ_BUCKET, "aborted.bin"),
        PartSize::Fixed(8 * MIB),
        Some(8),
    )));
    let (id, events) = parts_done(&mut h, 10).await;
    let _ = h.commands.send(Command::Abort(id));
    // A second abort while the first runs must not send a second request.
    let _ = h.commands.send(Command::Abort(id));
    let f = finish(&mut h, Some(id), events).await;
    shutdown(h).await;
    assert_eq!(f.state, JobState::Aborted);
    assert!(uploads(&store, GZ_BUCKET, GZ).await.is_empty());
    assert!(store
        .head_object(&obj(GZ_BUCKET, GZ, "aborted.bin"))
        .await
        .is_err_and(|e| e.is_not_found()));
    let lines = access_log(&log_path);
    assert_eq!(
        count_op(&lines, "AbortMultipartUpload"),
        1,
        "exactly one Abort"
    );
    assert_eq!(count_op(&lines, "CompleteMultipartUpload"), 0);
    let copied = lines
        .iter()
        .filter(|l| l.op == "UploadPartCopy" && l.succeeded())
        .count();
    assert!(
        copied < 256,
        "the abort stopped the copy ({copied} parts copied)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_mid_copy_keeps_the_upload_and_resume_finishes_it_without_recopying() {
    let dir = tempdir();
    let (log, log_path) = log_arg(dir.path());
    let state = dir.path().join("state");
    let server = big_server(&log).await;
    let store = client(&server);
    let cfg = EngineConfig {
        state_dir: Some(state.clone()),
        ..config()
    };
    let mut h = Engine::start(store.clone(), cfg.clone());
    let _ = h.commands.send(Command::Enqueue(spec(
        uri(GZ_BUCKET, "big.bin"),
        uri(GZ_BUCKET, "resumed.bin"),
        PartSize::Fixed(8 * MIB),
        Some(8),
    )));
    let (id, events) = parts_done(&mut h, 10).await;
    let _ = h.commands.send(Command::Cancel(id));
    let f = finish(&mut h, Some(id), events).await;
    shutdown(h).await;
    assert_eq!(f.state, JobState::Cancelled);

    let listed = uploads(&store, GZ_BUCKET, GZ).await;
    assert_eq!(listed.len(), 1, "the cancelled upload stays: {listed:?}");
    assert_eq!(listed[0].key, "resumed.bin");
    let dst = obj(GZ_BUCKET, GZ, "resumed.bin");
    let on_server = store
        .list_parts(&dst, &listed[0].upload_id, None, Some(1000))
        .await
        .unwrap_or_else(|e| panic!("ListParts: {e}"));
    assert!(on_server.parts.len() >= 10, "{}", on_server.parts.len());
    let lines = access_log(&log_path);
    assert_eq!(
        count_op(&lines, "AbortMultipartUpload"),
        0,
        "cancel is no abort"
    );
    let before: BTreeSet<u32> = lines
        .iter()
        .filter(|l| l.op == "UploadPartCopy" && l.succeeded())
        .filter_map(|l| l.part)
        .collect();
    let cut = lines.len();

    // A new engine on the same state directory finds the job and resumes it.
    let mut h = Engine::start(store.clone(), cfg);
    let mut found = None;
    while found.is_none() {
        if let Event::JobAdded {
            id: j,
            state: JobState::Interrupted,
            ..
        } = next(&mut h, "the journaled job").await
        {
            found = Some(j);
        }
    }
    assert_eq!(found, Some(id), "the journal keeps the job id");
    let _ = h.commands.send(Command::Resume(id));
    let f = finish(&mut h, Some(id), Vec::new()).await;
    shutdown(h).await;
    assert_done(&f);
    let d = head(&store, &dst).await;
    let s = head(&store, &obj(GZ_BUCKET, GZ, "big.bin")).await;
    assert_eq!((d.size, d.crc64), (s.size, s.crc64));
    assert!(uploads(&store, GZ_BUCKET, GZ).await.is_empty());
    let after = access_log(&log_path);
    let recopied: BTreeSet<u32> = after[cut..]
        .iter()
        .filter(|l| l.op == "UploadPartCopy")
        .filter_map(|l| l.part)
        .filter(|p| before.contains(p))
        .collect();
    assert!(
        recopied.is_empty(),
        "parts copied before the cancel were copied again: {recopied:?}"
    );
    assert!(
        !state.join("jobs").join(format!("{id}.json")).exists(),
        "a done job leaves the journal"
    );
}

// ---------------------------------------------------------------------------------------------
// kill -9 and `haul jobs resume`, as processes

/// A child process killed (SIGKILL) and reaped when dropped, so a failing test leaves none.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `haul serve` as a process; returns it and its endpoint from the first stdout line.
fn serve_process(extra: &[&str]) -> (Child, String) {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_haul"))
        .args(common::serve_argv(extra))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start haul serve: {e}"));
    let stdout = child.stdout.take();
    let child = Child(child);
    let mut first = String::new();
    if let Some(out) = stdout {
        if let Err(e) = std::io::BufReader::new(out).read_line(&mut first) {
            panic!("haul serve printed nothing readable: {e}");
        }
    }
    let endpoint = first
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("haul serve's first line is not `listening URL`: {first:?}"))
        .to_string();
    (child, endpoint)
}

/// A `haul` command against `endpoint` with the demo credentials, a private state directory
/// and an empty config file (nothing from the user's environment leaks in).
fn haul(dir: &Path, endpoint: &str, args: &[&str]) -> std::process::Command {
    let mut all = vec!["--endpoint", endpoint];
    all.extend_from_slice(args);
    haul_plain(dir, &all)
}

/// `haul` as above, but with no `--endpoint`: the profile (from `dir/config.toml`, written
/// empty when missing) or the journal says where to go.
fn haul_plain(dir: &Path, args: &[&str]) -> std::process::Command {
    let config = dir.join("config.toml");
    if !config.exists() {
        std::fs::write(&config, "").unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
    }
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_haul"));
    c.args(args)
        .env("TENCENTCLOUD_SECRET_ID", haul::server::DEMO_SECRET_ID)
        .env("TENCENTCLOUD_SECRET_KEY", haul::server::DEMO_SECRET_KEY)
        .env("HAUL_STATE_DIR", dir.join("state"))
        .env("HAUL_CONFIG", &config)
        .env_remove("TENCENTCLOUD_SESSION_TOKEN")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("HAUL_PROFILE")
        .env_remove("HAUL_REGION")
        .env_remove("TENCENTCLOUD_REGION");
    c
}

fn run_to_end(mut c: std::process::Command, what: &str) -> (Option<i32>, String, String) {
    let mut child = Child(
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}")),
    );
    let started = std::time::Instant::now();
    loop {
        match child.0.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > TEST_LIMIT => panic!("{what} ran over {TEST_LIMIT:?}"),
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
    let mut out = String::new();
    let mut err = String::new();
    use std::io::Read as _;
    if let Some(mut o) = child.0.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let code = child.0.wait().ok().and_then(|s| s.code());
    (code, out, err)
}

/// Successful UploadPartCopy part numbers in `lines`.
fn copied_parts(lines: &[LogLine]) -> Vec<u32> {
    lines
        .iter()
        .filter(|l| l.op == "UploadPartCopy" && l.succeeded())
        .filter_map(|l| l.part)
        .collect()
}

#[test]
fn kill_9_mid_copy_then_jobs_resume_completes_without_recopying_a_finished_part() {
    const PARTS: u32 = 256;
    let dir = tempdir();
    let (log, log_path) = log_arg(dir.path());
    let (_server, endpoint) = serve_process(&[
        "--object",
        "cos://alpha-1250000000/big.bin=2GiB",
        "--latency",
        "50ms",
        "--access-log",
        &log,
    ]);

    // haul cp, killed with SIGKILL once some parts are done.
    let mut cp = haul(
        dir.path(),
        &endpoint,
        &[
            "cp",
            "cos://alpha-1250000000/big.bin",
            "cos://beta-1250000000/big.bin",
            "--part-size",
            "8MiB",
            "--concurrency",
            "8",
            "--json",
        ],
    );
    let mut cp = Child(
        cp.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start haul cp: {e}")),
    );
    let started = std::time::Instant::now();
    loop {
        let done = if log_path.exists() {
            copied_parts(&access_log(&log_path)).len()
        } else {
            0
        };
        if done >= 40 {
            break;
        }
        if let Ok(Some(status)) = cp.0.try_wait() {
            panic!("haul cp ended ({status}) before it could be killed ({done} parts done)");
        }
        assert!(
            started.elapsed() < TEST_LIMIT,
            "haul cp copied only {done} parts in {TEST_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    cp.0.kill()
        .unwrap_or_else(|e| panic!("SIGKILL haul cp: {e}"));
    let status =
        cp.0.wait()
            .unwrap_or_else(|e| panic!("reaping haul cp: {e}"));
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");

    // Let the requests the dead client left behind settle (answered or dropped).
    let mut settled = access_log(&log_path).len();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = access_log(&log_path).len();
        if now == settled {
            break;
        }
        settled = now;
    }
    let before_lines = access_log(&log_path);
    let before: BTreeSet<u32> = copied_parts(&before_lines).into_iter().collect();
    assert!(
        before.len() >= 40 && before.len() < PARTS as usize,
        "{} parts done before the kill",
        before.len()
    );
    assert_eq!(count_op(&before_lines, "CompleteMultipartUpload"), 0);

    // The journal knows the job.
    let (code, out, err) = run_to_end(
        haul(dir.path(), &endpoint, &["jobs", "ls", "--json"]),
        "haul jobs ls",
    );
    assert_eq!(code, Some(0), "haul jobs ls: {err}");
    let jobs: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert_eq!(jobs.len(), 1, "one journaled job: {out}");
    assert_eq!(jobs[0]["parts_total"], PARTS);
    // The journal is flushed every 200 ms, so it usually knows fewer parts than the server has
    // (25 of 40 in a typical run): resume must ask the server (ListParts), not trust it alone.
    let journaled = jobs[0]["parts_done"].as_u64().unwrap_or(u64::MAX);
    assert!(journaled <= before.len() as u64, "{journaled} journaled");
    let id = jobs[0]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("job id in {out}"));

    // Resume it to the end.
    let (code, _out, err) = run_to_end(
        haul(
            dir.path(),
            &endpoint,
            &["jobs", "resume", &id.to_string(), "--quiet"],
        ),
        "haul jobs resume",
    );
    assert_eq!(code, Some(0), "haul jobs resume {id}: {err}");

    let all = access_log(&log_path);
    let after = &all[before_lines.len()..];
    let recopied: BTreeSet<u32> = after
        .iter()
        .filter(|l| l.op == "UploadPartCopy")
        .filter_map(|l| l.part)
        .filter(|p| before.contains(p))
        .collect();
    assert!(
        recopied.is_empty(),
        "parts finished before the kill were copied again: {recopied:?}"
    );
    let covered: BTreeSet<u32> = before.iter().copied().chain(copied_parts(after)).collect();
    assert_eq!(covered, (1..=PARTS).collect(), "every part copied");
    assert_eq!(count_op(after, "CompleteMultipartUpload"), 1);

    // The journal is empty; the history keeps the result until `haul jobs clear`.
    let (code, out, _) = run_to_end(
        haul(dir.path(), &endpoint, &["jobs", "ls", "--json"]),
        "haul jobs ls",
    );
    assert_eq!(code, Some(0));
    let listed: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert_eq!(listed.len(), 1, "{out}");
    assert_eq!(
        (&listed[0]["id"], &listed[0]["state"], &listed[0]["history"]),
        (
            &serde_json::json!(id),
            &serde_json::json!("done"),
            &serde_json::json!(true)
        ),
        "{out}"
    );
    let (code, out, _) = run_to_end(
        haul(dir.path(), &endpoint, &["jobs", "clear"]),
        "haul jobs clear",
    );
    assert_eq!(
        (code, out.trim()),
        (Some(0), "cleared 1 finished job from the history")
    );
    let (code, out, _) = run_to_end(
        haul(dir.path(), &endpoint, &["jobs", "ls", "--json"]),
        "haul jobs ls",
    );
    assert_eq!((code, out.trim()), (Some(0), ""), "nothing left to list");

    // The destination is the source, and nothing is left behind.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async {
        let mut o = ClientOptions::new(Credentials {
            secret_id: haul::server::DEMO_SECRET_ID.to_string(),
            secret_key: Secret::new(haul::server::DEMO_SECRET_KEY),
            token: None,
        });
        o.endpoint = Some(endpoint.clone());
        let store = CosClient::new(o).unwrap_or_else(|e| panic!("client: {e}"));
        let s = head(&store, &obj(GZ_BUCKET, GZ, "big.bin")).await;
        let d = head(&store, &obj(SH_BUCKET, SH, "big.bin")).await;
        assert_eq!((d.size, d.crc64), (s.size, s.crc64));
        assert!(d.etag.ends_with(&format!("-{PARTS}")), "{}", d.etag);
        assert!(uploads(&store, SH_BUCKET, SH).await.is_empty());
    });
}

/// Starts `haul serve` (a 1 GiB object at 50 ms), writes a config whose default profile points
/// where nothing listens and whose `far` profile (`far_extra` added) reaches the server, runs
/// `haul --profile far cp SCHEME://alpha…/big.bin SCHEME://beta…/big.bin`, kills it with
/// SIGKILL after its first part, and returns the server, its endpoint, the access log and the
/// journaled job's id with its header line.
fn killed_copy_on_profile_far(
    dir: &Path,
    scheme: &str,
    far_extra: &str,
) -> (Child, String, std::path::PathBuf, u64, String) {
    let (log, log_path) = log_arg(dir);
    let (server, endpoint) = serve_process(&[
        "--object",
        "cos://alpha-1250000000/big.bin=1GiB",
        "--latency",
        "50ms",
        "--access-log",
        &log,
    ]);
    std::fs::write(
        dir.join("config.toml"),
        format!("[profiles.default]\nendpoint = \"http://127.0.0.1:1\"\n[profiles.far]\nendpoint = \"{endpoint}\"\n{far_extra}"),
    )
    .unwrap_or_else(|e| panic!("writing the config: {e}"));
    let mut cp = Child(
        haul_plain(
            dir,
            &[
                "--profile",
                "far",
                "cp",
                &format!("{scheme}://alpha-1250000000/big.bin"),
                &format!("{scheme}://beta-1250000000/big.bin"),
                "--part-size",
                "8MiB",
                "--concurrency",
                "2",
                "--quiet",
            ],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start haul cp: {e}")),
    );
    let started = std::time::Instant::now();
    while !log_path.exists() || copied_parts(&access_log(&log_path)).is_empty() {
        if let Ok(Some(status)) = cp.0.try_wait() {
            panic!("haul cp ended ({status}) before a part was copied");
        }
        assert!(
            started.elapsed() < TEST_LIMIT,
            "no part copied in {TEST_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    cp.0.kill()
        .unwrap_or_else(|e| panic!("SIGKILL haul cp: {e}"));
    let _ = cp.0.wait();

    let (code, out, err) = run_to_end(haul_plain(dir, &["jobs", "ls", "--json"]), "haul jobs ls");
    assert_eq!(code, Some(0), "haul jobs ls: {err}");
    let job: serde_json::Value = serde_json::from_str(out.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{out:?}: {e}"));
    let id = job["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("job id in {out}"));
    let text = std::fs::read_to_string(dir.join(format!("state/transfers/{id}.log")))
        .unwrap_or_else(|e| panic!("reading the journal: {e}"));
    let header = text.lines().next().unwrap_or_default().to_string();
    assert!(
        !header.contains(haul::server::DEMO_SECRET_KEY),
        "no secret in {header}"
    );
    (server, endpoint, log_path, id, header)
}

#[test]
fn jobs_abort_goes_back_to_the_profile_the_journal_recorded_without_repeating_it() {
    let dir = tempdir();
    let (_server, endpoint, log_path, id, header) =
        killed_copy_on_profile_far(dir.path(), "cos", "");
    assert!(
        header.contains(&format!(
            r#""store":{{"dialect":"cos","profile":"far","endpoint":"{endpoint}"}}"#
        )),
        "{header}"
    );
    // No --profile, no --endpoint: the journal's profile is used, not the default one.
    let (code, out, err) = run_to_end(
        haul_plain(dir.path(), &["jobs", "abort", &id.to_string()]),
        "haul jobs abort",
    );
    assert_eq!(code, Some(0), "haul jobs abort {id}: {out}{err}");
    assert!(out.contains("uploads aborted"), "{out}");
    assert_eq!(count_op(&access_log(&log_path), "AbortMultipartUpload"), 1);
}

#[test]
fn jobs_resume_of_an_s3_copy_speaks_s3_on_its_journaled_profile_without_repeating_it() {
    let dir = tempdir();
    let (_server, endpoint, log_path, id, header) = killed_copy_on_profile_far(
        dir.path(),
        "s3",
        "provider = \"s3\"\nsecret_id_env = \"TENCENTCLOUD_SECRET_ID\"\nsecret_key_env = \"TENCENTCLOUD_SECRET_KEY\"\n",
    );
    assert!(
        header.contains(&format!(
            r#""store":{{"dialect":"s3","profile":"far","endpoint":"{endpoint}"}}"#
        )),
        "{header}"
    );
    let before = access_log(&log_path).len();
    let (code, out, err) = run_to_end(
        haul_plain(dir.path(), &["jobs", "resume", &id.to_string(), "--quiet"]),
        "haul jobs resume",
    );
    assert_eq!(code, Some(0), "haul jobs resume {id}: {out}{err}");
    let after = &access_log(&log_path)[before..];
    assert_eq!(
        count_op(after, "ListParts"),
        1,
        "resume reconciles with the server"
    );
    assert_eq!(count_op(after, "CompleteMultipartUpload"), 1);
    let raw = std::fs::read_to_string(&log_path).unwrap_or_default();
    let complete = raw
        .lines()
        .find(|l| l.contains(r#""op":"CompleteMultipartUpload""#))
        .unwrap_or_default();
    assert!(complete.contains(r#""dialect":"s3""#), "{complete}");
}

#[tokio::test]
async fn delete_objects_deletes_each_key_given_and_counts_a_missing_one_as_deleted() {
    let h = common::start_server(common::args(&[
        "--object",
        "cos://alpha-1250000000/keep.bin=1KiB",
        "--object",
        "cos://alpha-1250000000/old/a.bin=1KiB",
        "--object",
        "cos://alpha-1250000000/old/b.bin=1KiB",
    ]))
    .await;
    let store = client(&h);
    let mut e = Engine::start(store.clone(), config());
    let _ = e.commands.send(Command::DeleteObjects {
        bucket: bucket("alpha-1250000000"),
        keys: vec![
            "old/a.bin".into(),
            "old/b.bin".into(),
            "old/never.bin".into(),
        ],
    });
    let (deleted, failed) = loop {
        if let Event::ObjectsDeleted {
            deleted, failed, ..
        } = next(&mut e, "ObjectsDeleted").await
        {
            break (deleted, failed);
        }
    };
    assert_eq!(deleted, ["old/a.bin", "old/b.bin", "old/never.bin"]);
    assert!(failed.is_empty(), "{failed:?}");
    let region = store
        .head_bucket(&bucket("alpha-1250000000"), "ap-guangzhou")
        .await
        .expect("HEAD bucket");
    for gone in ["old/a.bin", "old/b.bin"] {
        let r = store
            .head_object(&obj("alpha-1250000000", &region, gone))
            .await;
        assert!(r.is_err_and(|e| e.is_not_found()), "{gone} still exists");
    }
    head(&store, &obj("alpha-1250000000", &region, "keep.bin")).await;
    shutdown(e).await;
}
