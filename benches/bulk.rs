//! Figures for bulk copies, run as a user runs them: `haul serve` and `haul cp` as child
//! processes on loopback, with haul's default options.
//!
//! - `a`: 2,000 × 100 KiB at 20 ms latency, 256 MiB/s per copy request: objects/s, requests per
//!   object (access log), and objects/s ÷ the limit (concurrency ÷ (latency + copy time)); next
//!   to coscmd `copy -r` on the same server when coscmd is found (`COSCMD=path` or on PATH).
//! - `b`: 200,000 × 1 KiB at zero latency: wall, client CPU per object, peak RSS, peak files in
//!   the state dir, listing pages answered before the first copy.
//! - `c`: `kill -9` in the middle of a 20,000-object transfer, then `haul jobs resume --all`:
//!   every object present, how many were copied twice, nothing left in the journal.
//! - `d`: `--fault-rate 0.2` with every fault kind: three 8 GiB copies and one 2,000-object
//!   prefix copy, each checked for size and CRC64 against its source, and no upload left.
//! - `ramp`: time to the first progress on a 10.9 TiB copy at 40 ms / 256 MiB/s.
//!
//! Prints figures; asserts nothing about time. `cargo bench --bench bulk [-- a|b|c|d|ramp]`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};

const HAUL: &str = env!("CARGO_BIN_EXE_haul");
const ID: &str = "AKIDbulkBench0000000000000000000000";
const KEY: &str = "bulkBenchSecretKey00000000000000";
const SRC: &str = "src-1250000000";
const DST: &str = "dst-1250000000";

struct Server {
    child: Child,
    endpoint: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, extra: &[String]) -> anyhow::Result<Server> {
    let log = dir.join("access.log");
    let mut cmd = Command::new(HAUL);
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--credentials", &format!("{ID}:{KEY}")])
        .args(["--bucket", &format!("{SRC}@ap-guangzhou")])
        .args(["--bucket", &format!("{DST}@ap-guangzhou")])
        .arg("--access-log")
        .arg(&log)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().context("starting haul serve")?;
    let out = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut first = String::new();
    BufReader::new(out).read_line(&mut first)?;
    let endpoint = first
        .trim()
        .strip_prefix("listening ")
        .ok_or_else(|| anyhow!("unexpected first line {first:?}"))?
        .to_string();
    Ok(Server {
        child,
        endpoint,
        log,
    })
}

fn haul(server: &Server, state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(HAUL);
    cmd.env("TENCENTCLOUD_SECRET_ID", ID)
        .env("TENCENTCLOUD_SECRET_KEY", KEY)
        .env("HAUL_STATE_DIR", state)
        .env_remove("HAUL_CONFIG")
        .env("XDG_CONFIG_HOME", state.join("config"))
        .env("HOME", state)
        .env_remove("HAUL_PROFILE")
        .args(["--endpoint", &server.endpoint])
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// `haul cp -r -q cos://SRC/PREFIX cos://DST/PREFIX` with haul's defaults.
fn cp_prefix(server: &Server, state: &Path, prefix: &str) -> Command {
    haul(
        server,
        state,
        &[
            "cp",
            "-r",
            "-q",
            &format!("cos://{SRC}/{prefix}"),
            &format!("cos://{DST}/{prefix}"),
        ],
    )
}

/// A haul command's stdout, or an error with its stderr when it failed: a figure is never
/// read from a command that did not work.
fn stdout_of(mut cmd: Command, what: &str) -> anyhow::Result<String> {
    let out = cmd.output()?;
    if !out.status.success() {
        bail!(
            "{what} exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What a finished child used: wall, CPU seconds, peak RSS (KiB), exit code.
struct Usage {
    wall: Duration,
    cpu: f64,
    max_rss_kib: i64,
    code: i32,
}

/// Waits for `child` with `wait4`, which reports the child's own CPU time and peak RSS.
fn wait_usage(child: Child, started: Instant) -> anyhow::Result<Usage> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data filled in by the kernel for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if r != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    std::mem::forget(child);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Usage {
        wall: started.elapsed(),
        cpu: secs(ru.ru_utime) + secs(ru.ru_stime),
        max_rss_kib: ru.ru_maxrss,
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        },
    })
}

/// Access-log lines as (op, key, status).
fn access(log: &Path) -> anyhow::Result<Vec<(String, String, u16)>> {
    let text = std::fs::read_to_string(log)?;
    let mut out = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        out.push((
            v["op"].as_str().unwrap_or("").to_string(),
            v["key"].as_str().unwrap_or("").to_string(),
            v["status"].as_u64().unwrap_or(0) as u16,
        ));
    }
    Ok(out)
}

/// How many listing pages had been answered when the first copy request was *sent* (its
/// answer time minus its latency): the access log is written as requests end, so counting the
/// lines before the first copy's would also count pages fetched while it was in flight.
fn pages_ended_before_first_copy(log: &Path) -> anyhow::Result<usize> {
    use time::format_description::well_known::Rfc3339;
    let text = std::fs::read_to_string(log)?;
    let mut pages = Vec::new();
    let mut first_copy_sent = None;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let ended = time::OffsetDateTime::parse(v["ts"].as_str().unwrap_or(""), &Rfc3339)?;
        match v["op"].as_str() {
            Some("ListObjects") => pages.push(ended),
            Some("PutObjectCopy") => {
                let took =
                    time::Duration::seconds_f64(v["latency_ms"].as_f64().unwrap_or(0.0) / 1e3);
                let sent = ended - took;
                first_copy_sent =
                    Some(first_copy_sent.map_or(sent, |t: time::OffsetDateTime| t.min(sent)));
            }
            _ => {}
        }
    }
    let first = first_copy_sent.ok_or_else(|| anyhow!("no PutObjectCopy in the access log"))?;
    Ok(pages.iter().filter(|t| **t <= first).count())
}

/// Counts files under `dir` every 20 ms while `running`; returns the peak.
fn watch_files(dir: PathBuf, running: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while running.load(Ordering::Relaxed) {
            peak = peak.max(count_files(&dir));
            std::thread::sleep(Duration::from_millis(20));
        }
        peak.max(count_files(&dir))
    })
}

fn count_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

fn bench_a() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let n = 2000u64;
    let server = serve(
        dir.path(),
        &[
            "--objects".into(),
            format!("cos://{SRC}/small/={n}x100KiB"),
            "--latency".into(),
            "20ms".into(),
            "--copy-rate".into(),
            "256MiB/s".into(),
        ],
    )?;
    let state = dir.path().join("state");
    let started = Instant::now();
    let child = cp_prefix(&server, &state, "small/").spawn()?;
    let u = wait_usage(child, started)?;
    if u.code != 0 {
        bail!("haul cp exited {}", u.code);
    }
    let log = access(&server.log)?;
    let rate = n as f64 / u.wall.as_secs_f64();
    let copy_time = 100.0 * 1024.0 / (256.0 * 1024.0 * 1024.0);
    let limit = haul::engine::DEFAULT_CONCURRENCY as f64 / (0.020 + copy_time);
    println!("a) 2,000 × 100 KiB, 20 ms latency, haul cp -r with its defaults");
    println!(
        "   wall {:.2} s, {:.0} objects/s, {:.3} requests per object ({} requests), {:.2} of the limit ({:.0} objects/s = {} ÷ (20 ms + {:.2} ms))",
        u.wall.as_secs_f64(),
        rate,
        log.len() as f64 / n as f64,
        log.len(),
        rate / limit,
        limit,
        haul::engine::DEFAULT_CONCURRENCY,
        copy_time * 1000.0
    );
    match coscmd(&server, dir.path(), n) {
        Ok(Some(c)) => println!(
            "   coscmd copy -r: {:.2} s, {:.0} objects/s; haul is {:.1}× faster",
            c,
            n as f64 / c,
            c / u.wall.as_secs_f64()
        ),
        Ok(None) => println!("   coscmd: not found (set COSCMD=path or put coscmd on PATH)"),
        Err(e) => println!("   coscmd failed: {e:#}"),
    }
    Ok(())
}

/// coscmd `copy -r` of the same prefix to another prefix, timed; `None` when not installed.
fn coscmd(server: &Server, dir: &Path, n: u64) -> anyhow::Result<Option<f64>> {
    let exe = std::env::var("COSCMD").unwrap_or_else(|_| "coscmd".into());
    if Command::new(&exe).arg("--version").output().is_err() {
        return Ok(None);
    }
    let port = server
        .endpoint
        .rsplit(':')
        .next()
        .ok_or_else(|| anyhow!("no port"))?;
    let conf = dir.join("cos.conf");
    std::fs::write(
        &conf,
        format!(
            "[common]\nsecret_id = {ID}\nsecret_key = {KEY}\nbucket = {DST}\nregion = ap-guangzhou\nmax_thread = 5\npart_size = 1\nschema = http\n"
        ),
    )?;
    let started = Instant::now();
    let out = Command::new(&exe)
        .arg("-c")
        .arg(&conf)
        .args([
            "copy",
            "-r",
            &format!("{SRC}.cos.ap-guangzhou.myqcloud.com/small/"),
            "coscmd/",
        ])
        .env("HTTP_PROXY", format!("http://127.0.0.1:{port}"))
        .output()?;
    let secs = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "coscmd exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = n;
    Ok(Some(secs))
}

fn bench_b() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let n = 200_000u64;
    let server = serve(
        dir.path(),
        &["--objects".into(), format!("cos://{SRC}/tiny/={n}x1KiB")],
    )?;
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state)?;
    let running = Arc::new(AtomicBool::new(true));
    let files = watch_files(state.clone(), Arc::clone(&running));
    let started = Instant::now();
    let child = cp_prefix(&server, &state, "tiny/").spawn()?;
    let u = wait_usage(child, started)?;
    running.store(false, Ordering::Relaxed);
    let peak_files = files.join().map_err(|_| anyhow!("file watcher panicked"))?;
    if u.code != 0 {
        bail!("haul cp exited {}", u.code);
    }
    let log = access(&server.log)?;
    let pages_before = pages_ended_before_first_copy(&server.log)?;
    println!("b) 200,000 × 1 KiB, zero latency, haul cp -r with its defaults");
    println!(
        "   wall {:.2} s ({:.0} objects/s), client CPU {:.2} s = {:.4} ms per object, peak RSS {:.1} MiB, peak files in the state dir {}, listing pages answered before the first copy was sent {}, {:.3} requests per object",
        u.wall.as_secs_f64(),
        n as f64 / u.wall.as_secs_f64(),
        u.cpu,
        u.cpu * 1000.0 / n as f64,
        u.max_rss_kib as f64 / 1024.0,
        peak_files,
        pages_before,
        log.len() as f64 / n as f64,
    );
    Ok(())
}

fn bench_c() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let n = 20_000u64;
    let server = serve(
        dir.path(),
        &[
            "--objects".into(),
            format!("cos://{SRC}/k/={n}x1KiB"),
            "--latency".into(),
            "2ms".into(),
        ],
    )?;
    let state = dir.path().join("state");
    let mut child = cp_prefix(&server, &state, "k/").spawn()?;
    // Kill once about half the objects are copied.
    let copies = || -> usize {
        access(&server.log)
            .map(|l| l.iter().filter(|(op, _, _)| op == "PutObjectCopy").count())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while copies() < (n / 2) as usize && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    child.wait()?;
    let at_kill = copies();
    let started = Instant::now();
    let out = haul(&server, &state, &["jobs", "resume", "--all", "-q"]).output()?;
    let resume_wall = started.elapsed();
    if !out.status.success() {
        bail!(
            "haul jobs resume exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = access(&server.log)?;
    let mut per_key: HashMap<&str, usize> = HashMap::new();
    for (op, key, status) in &log {
        if op == "PutObjectCopy" && *status == 200 {
            *per_key.entry(key.as_str()).or_default() += 1;
        }
    }
    let twice = per_key.values().filter(|c| **c > 1).count();
    let left = stdout_of(
        haul(&server, &state, &["jobs", "ls", "--json"]),
        "haul jobs ls",
    )?;
    let listed = stdout_of(
        haul(
            &server,
            &state,
            &["ls", "--json", &format!("cos://{DST}/k/")],
        ),
        "haul ls",
    )?;
    let present = listed.lines().filter(|l| l.contains("\"key\"")).count();
    println!("c) kill -9 in the middle of a 20,000-object transfer, then haul jobs resume --all");
    println!(
        "   {at_kill} copies before the kill; resume took {:.2} s; {present} of {n} objects present; {twice} copied twice ({:.2} %); journal after: {}",
        resume_wall.as_secs_f64(),
        twice as f64 * 100.0 / n as f64,
        if left.trim().is_empty() {
            "empty".to_string()
        } else {
            left.trim().to_string()
        }
    );
    Ok(())
}

/// (size, CRC64) of an object, by HEAD through haul's client, retried: the server injects
/// faults into these requests too.
fn stat(server: &Server, key_uri: (&str, &str)) -> anyhow::Result<(u64, Option<u64>)> {
    use haul::store::client::{ClientOptions, CosClient};
    use haul::store::{BucketName, Credentials, ObjectRef, ObjectStore, Secret};
    let mut o = ClientOptions::new(Credentials {
        secret_id: ID.to_string(),
        secret_key: Secret::new(KEY),
        token: None,
    });
    o.endpoint = Some(server.endpoint.clone());
    let client = CosClient::new(o)?;
    let obj = ObjectRef::new(BucketName::parse(key_uri.0)?, "ap-guangzhou", key_uri.1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut last = None;
    for _ in 0..20 {
        match rt.block_on(client.head_object(&obj)) {
            Ok(m) => return Ok((m.size, m.crc64)),
            Err(e) => last = Some(e),
        }
    }
    bail!("HEAD {}/{}: {:?}", key_uri.0, key_uri.1, last)
}

fn bench_d() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut extra: Vec<String> = vec![
        "--fault-rate".into(),
        "0.2".into(),
        "--fault-stall".into(),
        "2s".into(),
        "--objects".into(),
        format!("cos://{SRC}/many/=2000x10KiB"),
    ];
    for i in 0..3 {
        extra.push("--object".into());
        extra.push(format!("cos://{SRC}/big{i}=8GiB"));
    }
    let server = serve(dir.path(), &extra)?;
    let state = dir.path().join("state");
    println!("d) --fault-rate 0.2, every fault kind");
    let started = Instant::now();
    let mut children = Vec::new();
    for i in 0..3 {
        children.push((
            format!("big{i}"),
            haul(
                &server,
                &state,
                &[
                    "cp",
                    "-q",
                    &format!("cos://{SRC}/big{i}"),
                    &format!("cos://{DST}/big{i}"),
                ],
            )
            .spawn()?,
        ));
    }
    children.push(("many/".into(), cp_prefix(&server, &state, "many/").spawn()?));
    let mut ok = 0;
    for (what, mut c) in children {
        let status = c.wait()?;
        println!("   {what}: exit {}", status.code().unwrap_or(-1));
        if status.success() {
            ok += 1;
        }
    }
    let mut exact = 0;
    for i in 0..3 {
        let key = format!("big{i}");
        let a = stat(&server, (SRC, &key))?;
        let b = stat(&server, (DST, &key))?;
        if a == b && a.1.is_some() {
            exact += 1;
        }
    }
    let mut copied = 0;
    for i in 0..2000 {
        let key = format!("many/{i:08}");
        if stat(&server, (DST, &key)).is_ok_and(|(size, _)| size == 10 * 1024) {
            copied += 1;
        }
    }
    let uploads = stdout_of(
        haul(
            &server,
            &state,
            &["uploads", "ls", "--json", &format!("cos://{DST}/")],
        ),
        "haul uploads ls",
    )?;
    let left = uploads.lines().count();
    let faults = access(&server.log)?
        .iter()
        .filter(|(_, _, s)| *s >= 500)
        .count();
    println!(
        "   {ok} of 4 commands exit 0 in {:.1} s; {exact} of 3 big copies equal in size and CRC64; {copied} of 2000 small objects present; {left} uploads left; {faults} answers were 5xx faults",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn bench_ramp() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = serve(
        dir.path(),
        &[
            "--object".into(),
            format!("cos://{SRC}/huge=12TB"),
            "--latency".into(),
            "40ms".into(),
            "--copy-rate".into(),
            "256MiB/s".into(),
        ],
    )?;
    let state = dir.path().join("state");
    let started = Instant::now();
    let mut child = haul(
        &server,
        &state,
        &[
            "cp",
            "--json",
            &format!("cos://{SRC}/huge"),
            &format!("cos://{DST}/huge"),
        ],
    )
    .stdout(Stdio::piped())
    .spawn()?;
    let out = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut first = None;
    let parts = AtomicUsize::new(0);
    for line in BufReader::new(out).lines() {
        let line = line?;
        if line.contains("\"part_done\"") {
            parts.fetch_add(1, Ordering::Relaxed);
            if first.is_none() {
                first = Some(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(10) {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    println!("ramp) 12 TB (10.9 TiB) at 40 ms and 256 MiB/s per copy request");
    match first {
        Some(t) => println!(
            "   first finished part after {:.2} s; {} parts done in the first {:.1} s",
            t.as_secs_f64(),
            parts.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        ),
        None => println!("   no part finished within the watch"),
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = which.is_empty();
    let want = |k: &str| all || which.iter().any(|w| w == k);
    if want("a") {
        bench_a()?;
    }
    if want("b") {
        bench_b()?;
    }
    if want("c") {
        bench_c()?;
    }
    if want("d") {
        bench_d()?;
    }
    if want("ramp") {
        bench_ramp()?;
    }
    Ok(())
}
