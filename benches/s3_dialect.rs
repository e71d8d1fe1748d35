//! Issue 10's S3 benchmark: one 20 GiB server-side copy between two buckets in the S3 dialect,
//! with each tool's defaults, against `haul serve` on loopback with one server model (30 ms
//! latency, 200 MiB/s per part copy): `haul cp` vs `aws s3 cp` (pip awscli in
//! `target/s3-interop-venv`, created when missing) vs `rclone copyto` (Debian `rclone`,
//! provider Other, path style, `AWS_CA_BUNDLE` unset). A peer that is not installed (or cannot
//! be installed) is skipped and said so.
//!
//! Prints each tool's wall time and part plan (from the access log) and haul's ratio to the
//! faster peer (issue 10's target: ≤ 0.25). One run; each tool is killed after `TOOL_LIMIT`.
//! Needs `haul serve` to answer S3 (SigV4). Run: `cargo bench --bench s3_dialect`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};

const HAUL: &str = env!("CARGO_BIN_EXE_haul");
const ID: &str = "AKIDs3DialectBench00000000000000000";
const KEY: &str = "s3DialectBenchSecretKey000000000";
const SRC: &str = "bench-src-1250000000";
const DST: &str = "bench-dst-1250000000";
const OBJ: &str = "big/20GiB.bin";
const SIZE: u64 = 20 << 30;
const LATENCY: &str = "30ms";
const COPY_RATE: &str = "200MiB/s";
/// Issue 10's target: haul's time over the faster peer's.
const TARGET_RATIO: f64 = 0.25;
/// The longest one tool may run (rclone 1.60 copies its 5 parts one after another: ~103 s).
const TOOL_LIMIT: Duration = Duration::from_secs(300);
const VENV: &str = "target/s3-interop-venv";
const AWSCLI: &str = "awscli==1.46.3";

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

fn serve(dir: &Path) -> anyhow::Result<Server> {
    let log = dir.join("access.log");
    let mut child = Command::new(HAUL)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--credentials", &format!("{ID}:{KEY}")])
        .args(["--bucket", &format!("{SRC}@ap-guangzhou")])
        .args(["--bucket", &format!("{DST}@ap-guangzhou")])
        .args(["--object", &format!("cos://{SRC}/{OBJ}={SIZE}")])
        .args(["--latency", LATENCY, "--copy-rate", COPY_RATE])
        .arg("--access-log")
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting haul serve")?;
    let out = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut first = String::new();
    BufReader::new(out).read_line(&mut first)?;
    let endpoint = first
        .trim()
        .strip_prefix("listening ")
        .ok_or_else(|| anyhow!("haul serve's first line is {first:?}"))?
        .to_string();
    Ok(Server {
        child,
        endpoint,
        log,
    })
}

/// A command with the S3 credentials and nothing of the user's configuration.
fn isolated(program: &Path, home: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("AWS_ACCESS_KEY_ID", ID)
        .env("AWS_SECRET_ACCESS_KEY", KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("HAUL_STATE_DIR", home.join("state"))
        .env("RCLONE_CONFIG", "/dev/null")
        .env_remove("AWS_CA_BUNDLE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("HAUL_CONFIG")
        .env_remove("HAUL_PROFILE")
        .env_remove("HAUL_REGION")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for v in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        c.env_remove(v);
    }
    c
}

/// Runs `cmd` to its end (killed after `TOOL_LIMIT`); its wall time, or why it failed.
fn timed(mut cmd: Command, what: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if started.elapsed() > TOOL_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} ran over {TOOL_LIMIT:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read as _;
            let _ = e.read_to_string(&mut err);
        }
        bail!(
            "{what} exited {status}: {}",
            err.lines().next().unwrap_or("")
        );
    }
    Ok(wall)
}

/// The part copies that succeeded for `DST/key`: how many, the largest, and the most in flight
/// at once (from each line's time and duration).
fn part_plan(log: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut n = 0u64;
    let mut largest = 0u64;
    let mut edges: BTreeMap<i64, i64> = BTreeMap::new();
    let mut single = 0u64;
    for l in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
            continue;
        };
        if v["bucket"] != DST || v["key"] != key || v["status"] != 200 {
            continue;
        }
        match v["op"].as_str() {
            Some("UploadPartCopy") => {}
            Some("PutObjectCopy") | Some("CopyObject") => {
                single += 1;
                continue;
            }
            _ => continue,
        }
        n += 1;
        if let Some((a, b)) = v["range"]
            .as_str()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.split_once('-'))
        {
            if let (Ok(a), Ok(b)) = (a.parse::<u64>(), b.parse::<u64>()) {
                largest = largest.max(b - a + 1);
            }
        }
        // `ts` is when the answer was logged, `latency_ms` how long the request took.
        let end = v["ts"].as_str().and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        });
        if let (Some(end), Some(ms)) = (end, v["latency_ms"].as_f64()) {
            let end = (end.unix_timestamp_nanos() / 1_000_000) as i64;
            *edges.entry(end - ms as i64).or_default() += 1;
            *edges.entry(end).or_default() -= 1;
        }
    }
    if n == 0 {
        return format!("{single} single copies, no part copies");
    }
    let (mut now, mut peak) = (0i64, 0i64);
    for d in edges.values() {
        now += d;
        peak = peak.max(now);
    }
    let peak = if peak > 0 {
        format!(", up to {peak} at once")
    } else {
        String::new()
    };
    format!(
        "{n} part copies of up to {:.0} MiB{peak}",
        largest as f64 / (1u64 << 20) as f64
    )
}

/// `target/s3-interop-venv/bin/aws`, installing awscli with pip when missing; `None` when
/// that fails (the peer is skipped).
fn awscli() -> Option<PathBuf> {
    let aws = Path::new(VENV).join("bin/aws");
    if aws.exists() {
        return Some(aws);
    }
    eprintln!("s3_dialect: installing {AWSCLI} into {VENV} (once)");
    let ok = Command::new("python3")
        .args(["-m", "venv", VENV])
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(Path::new(VENV).join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", AWSCLI])
            .status()
            .is_ok_and(|s| s.success());
    (ok && aws.exists()).then_some(aws)
}

/// `rclone` on the PATH, if any.
fn rclone() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("rclone"))
            .find(|f| f.is_file())
    })
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` runs benches from the package root; keep paths relative to it.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR"))?;
    let dir = tempfile::tempdir()?;
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home)?;
    let server = serve(dir.path())?;
    println!(
        "s3_dialect: a {} GiB copy in the S3 dialect, {LATENCY} latency, {COPY_RATE} per part copy, each tool's defaults, at {}",
        SIZE >> 30,
        server.endpoint
    );
    let src = format!("s3://{SRC}/{OBJ}");
    let mut times: Vec<(&str, Duration)> = Vec::new();
    let mut report = |tool: &'static str, key: String, r: anyhow::Result<Duration>| match r {
        Ok(t) => {
            println!(
                "{tool:<14} {:>7.1} s   {}",
                t.as_secs_f64(),
                part_plan(&server.log, &key)
            );
            times.push((tool, t));
        }
        Err(e) => println!("{tool:<14}  failed: {e}"),
    };

    let key = format!("haul/{OBJ}");
    let mut c = isolated(Path::new(HAUL), &home);
    c.args(["cp", "--quiet", &src, &format!("s3://{DST}/{key}")])
        .args(["--endpoint", &server.endpoint]);
    report("haul cp", key, timed(c, "haul cp"));

    match awscli() {
        Some(aws) => {
            let key = format!("aws/{OBJ}");
            let mut c = isolated(&aws, &home);
            c.args(["--endpoint-url", &server.endpoint])
                .args(["s3", "cp", "--only-show-errors", &src])
                .arg(format!("s3://{DST}/{key}"));
            report("aws s3 cp", key, timed(c, "aws s3 cp"));
        }
        None => println!("aws s3 cp       skipped: pip could not install {AWSCLI} into {VENV}"),
    }

    match rclone() {
        Some(rclone) => {
            let key = format!("rclone/{OBJ}");
            let mut c = isolated(&rclone, &home);
            c.env("RCLONE_CONFIG_HAUL_TYPE", "s3")
                .env("RCLONE_CONFIG_HAUL_PROVIDER", "Other")
                .env("RCLONE_CONFIG_HAUL_ACCESS_KEY_ID", ID)
                .env("RCLONE_CONFIG_HAUL_SECRET_ACCESS_KEY", KEY)
                .env("RCLONE_CONFIG_HAUL_ENDPOINT", &server.endpoint)
                .env("RCLONE_CONFIG_HAUL_FORCE_PATH_STYLE", "true")
                .args(["copyto", &format!("haul:{SRC}/{OBJ}")])
                .arg(format!("haul:{DST}/{key}"));
            report("rclone copyto", key, timed(c, "rclone copyto"));
        }
        None => println!(
            "rclone copyto   skipped: rclone is not installed (Debian: apt-get install rclone)"
        ),
    }

    let haul = times.iter().find(|(t, _)| *t == "haul cp").map(|(_, d)| *d);
    let peer = times
        .iter()
        .filter(|(t, _)| *t != "haul cp")
        .min_by_key(|(_, d)| *d);
    match (haul, peer) {
        (Some(h), Some((name, p))) => {
            let ratio = h.as_secs_f64() / p.as_secs_f64();
            println!(
                "haul / faster peer ({name}): {ratio:.3} (target ≤ {TARGET_RATIO}: {})",
                if ratio <= TARGET_RATIO {
                    "met"
                } else {
                    "NOT met"
                }
            );
        }
        _ => println!("haul / faster peer: not computed (a side did not finish)"),
    }
    Ok(())
}
