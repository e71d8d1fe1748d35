//! Figures for the copy engine against the real server over loopback HTTP:
//!
//! - `pipeline`: achieved / ideal time of a 64 GiB copy in 256 parts at concurrency 16 against
//!   `--latency 50ms --copy-rate 1GiB/s` (the ideal uses the server's own model, Complete's
//!   merge time included);
//! - `parts`: a 10,000-part copy against a zero-latency `haul serve` child process: wall time,
//!   this process's CPU seconds and peak RSS (the client alone);
//! - `auto`: the `auto` part size against a sweep of fixed part sizes for 1 GiB, 100 GiB and
//!   10 TiB objects under the same latency model, time-scaled (see `scaled_model`).
//!
//! Prints figures; asserts nothing about time. `cargo bench --bench copy [-- pipeline|parts|auto]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use clap::Parser;
use haul::engine::plan::{auto_part_size, min_part_size, AUTO_MIN_PART, GIB, MAX_PART_SIZE, MIB};
use haul::engine::{
    Command, CopyOptions, CopySpec, Engine, EngineConfig, Event, JobState, PartSize, Strategy,
};
use haul::server::ServerHandle;
use haul::store::client::{ClientOptions, CosClient};
use haul::store::{BucketName, CosUri, Credentials, Secret};

const BUCKET: &str = "alpha-1250000000";
const REGION: &str = "ap-guangzhou";
const CONCURRENCY: usize = 16;

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    args: haul::cli::serve::Args,
}

/// An in-process server with one synthetic object `src` of `size` bytes and these model flags.
async fn server(size: u64, model: &[String]) -> anyhow::Result<ServerHandle> {
    let object = format!("cos://{BUCKET}/src={size}");
    let mut argv: Vec<String> = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--bucket",
        "alpha-1250000000@ap-guangzhou",
        "--object",
        &object,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(model.iter().cloned());
    let args = Wrap::try_parse_from(argv)
        .map_err(|e| anyhow!("server flags: {e}"))?
        .args
        .into_config()
        .map_err(|e| anyhow!("server flags: {e}"))?;
    haul::server::start(args).await
}

fn client(endpoint: String, id: &str, key: &str) -> anyhow::Result<Arc<CosClient>> {
    let mut o = ClientOptions::new(Credentials {
        secret_id: id.to_string(),
        secret_key: Secret::new(key),
        token: None,
    });
    o.endpoint = Some(endpoint);
    Ok(Arc::new(CosClient::new(o)?))
}

fn client_for(h: &ServerHandle) -> anyhow::Result<Arc<CosClient>> {
    let (id, key) = h
        .credentials
        .first()
        .cloned()
        .ok_or_else(|| anyhow!("the server has no credentials"))?;
    client(h.endpoint(), &id, &key)
}

/// How one copy went.
struct Run {
    elapsed: Duration,
    parts: u32,
    part_size: u64,
}

/// Copies `src` to a new key with these options and times Enqueue → JobFinished(Done).
async fn copy(
    store: Arc<CosClient>,
    part_size: PartSize,
    concurrency: usize,
    verify: bool,
) -> anyhow::Result<Run> {
    let config = EngineConfig {
        default_region: REGION.into(),
        concurrency: concurrency.max(32),
        concurrency_per_job: concurrency,
        ..EngineConfig::default()
    };
    let mut h = Engine::start(store, config);
    let bucket = BucketName::parse(BUCKET)?;
    let started = Instant::now();
    let _ = h.commands.send(Command::Enqueue(CopySpec {
        source: CosUri {
            bucket: bucket.clone(),
            key: "src".into(),
        },
        destination: CosUri {
            bucket,
            key: "dst".into(),
        },
        options: CopyOptions {
            part_size,
            concurrency: Some(concurrency),
            verify,
            ..CopyOptions::default()
        },
    }));
    let mut plan = None;
    let elapsed = loop {
        match h.events.recv().await {
            None => bail!("the engine stopped before the copy finished"),
            Some(Event::JobPlanned { plan: p, .. }) => plan = Some(p.strategy),
            Some(Event::JobFinished { state, .. }) => {
                let elapsed = started.elapsed();
                if state != JobState::Done {
                    bail!("the copy ended {state:?}");
                }
                break elapsed;
            }
            Some(_) => {}
        }
    };
    let _ = h.commands.send(Command::Shutdown);
    while h.events.recv().await.is_some() {}
    let (part_size, parts) = match plan {
        Some(Strategy::Multipart {
            part_size, parts, ..
        }) => (part_size, parts),
        Some(Strategy::Single) => (0, 1),
        None => bail!("the copy was never planned"),
    };
    Ok(Run {
        elapsed,
        parts,
        part_size,
    })
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn size_str(n: u64) -> String {
    haul::units::format_size(n)
}

// ---------------------------------------------------------------------------------------------
// (a) pipeline efficiency

async fn pipeline() -> anyhow::Result<()> {
    let latency = Duration::from_millis(50);
    let rate = GIB as f64; // bytes/s
    let size = 64 * GIB;
    let part = 256 * MIB;
    let parts = size.div_ceil(part);
    let model = ["--latency", "50ms", "--copy-rate", "1GiB/s"].map(String::from);
    let h = server(size, &model).await?;
    let store = client_for(&h)?;
    let run = copy(store, PartSize::Fixed(part), CONCURRENCY, true).await?;
    h.shutdown().await;

    // The server's model (src/server/model.rs): every request waits `latency`; a part copy
    // latency + bytes/rate; Complete latency × (1 + parts/20).
    let waves = parts.div_ceil(CONCURRENCY as u64) as f64;
    let head_initiate = 2.0 * secs(latency);
    let part_time = secs(latency) + part as f64 / rate;
    let complete = secs(latency) * (1.0 + parts as f64 / 20.0);
    let ideal = head_initiate + waves * part_time + complete;
    // What the engine also sends, one request each: HEAD Bucket (region) and HEAD (verify).
    let extra = 2.0 * secs(latency);
    let achieved = secs(run.elapsed);
    println!("(a) pipeline: 64 GiB in {} parts of {}, concurrency {CONCURRENCY}, --latency 50ms --copy-rate 1GiB/s", run.parts, size_str(run.part_size));
    println!(
        "    ideal {ideal:.3} s = HEAD+Initiate {head_initiate:.3} + {waves} waves × {part_time:.3} + Complete {complete:.3}"
    );
    println!(
        "    achieved {achieved:.3} s   ratio {:.4}   (ideal + HEAD Bucket + verify HEAD = {:.3} s, ratio {:.4})",
        achieved / ideal,
        ideal + extra,
        achieved / (ideal + extra)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (b) 10,000 parts: the client's CPU and memory

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF is always valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A line of /proc/self/status in KiB (VmHWM, VmRSS).
fn status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Starts `haul serve` as a child process; returns it and its endpoint.
fn serve_child(args: &[&str]) -> anyhow::Result<(std::process::Child, String)> {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_haul"))
        .arg("serve")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting haul serve")?;
    let mut first = String::new();
    if let Some(out) = child.stdout.take() {
        std::io::BufReader::new(out).read_line(&mut first)?;
    }
    match first.trim().strip_prefix("listening ") {
        Some(e) => Ok((child, e.to_string())),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("haul serve's first line is not `listening URL`: {first:?}")
        }
    }
}

async fn many_parts() -> anyhow::Result<()> {
    let part = 8 * MIB;
    let size = 10_000 * part;
    let object = format!("cos://{BUCKET}/src={size}");
    let (mut child, endpoint) = serve_child(&[
        "--listen",
        "127.0.0.1:0",
        "--bucket",
        "alpha-1250000000@ap-guangzhou",
        "--object",
        &object,
    ])?;
    // Reset the peak RSS so VmHWM covers this copy only.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = status_kib("VmRSS:").unwrap_or(0);
    let store = client(
        endpoint,
        haul::server::DEMO_SECRET_ID,
        haul::server::DEMO_SECRET_KEY,
    )?;
    let cpu0 = cpu_seconds();
    let run = copy(store, PartSize::Fixed(part), 32, true).await;
    let cpu = cpu_seconds() - cpu0;
    let hwm = status_kib("VmHWM:").unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let run = run?;
    println!(
        "(b) 10,000 parts: {} parts of {} at concurrency 32, zero-latency `haul serve` child process",
        run.parts,
        size_str(run.part_size)
    );
    println!(
        "    wall {:.3} s   client CPU {cpu:.3} s (target ≤ 2 s)   peak RSS {:.1} MiB (target ≤ 64 MiB; RSS before the copy {:.1} MiB)",
        secs(run.elapsed),
        hwm as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (c) auto against the best fixed part size

/// The real model (50 ms, 1 GiB/s) sped up `k` times: latency/k and rate×k keep
/// latency × rate (the part size at which latency equals transfer time) unchanged, so every
/// modelled time, Complete's included, is the real one divided by k.
fn scaled_model(k: u64) -> Vec<String> {
    let latency_us = 50_000 / k;
    vec![
        "--latency".into(),
        format!("{latency_us}us"),
        "--copy-rate".into(),
        format!("{k}GiB/s"),
    ]
}

/// A candidate rule for `plan::auto_part_size`, measured beside it: the fewest *full* waves of
/// `concurrency` parts with parts at most `cap`, no smaller than 8 MiB nor than the 10,000-part
/// limit allows. Each wave costs one request latency whatever its parts' size, and Complete
/// costs a little per part, so fewer, fuller waves win; a half-empty last wave wastes a wave.
fn fewest_full_waves(size: u64, concurrency: usize, cap: u64) -> u64 {
    let c = concurrency.max(1) as u64;
    let floor = min_part_size(size).max(AUTO_MIN_PART);
    let cap = cap.max(floor);
    let waves = size.div_ceil(c * cap).max(1);
    size.div_ceil(c * waves)
        .div_ceil(MIB)
        .saturating_mul(MIB)
        .clamp(floor, MAX_PART_SIZE)
}

async fn timed(size: u64, k: u64, part_size: PartSize) -> anyhow::Result<(Run, f64)> {
    let h = server(size, &scaled_model(k)).await?;
    let run = copy(client_for(&h)?, part_size, CONCURRENCY, true).await?;
    h.shutdown().await;
    let t = secs(run.elapsed) * k as f64;
    Ok((run, t))
}

async fn auto_sweep() -> anyhow::Result<()> {
    println!("(c) auto part size against a fixed-size sweep, concurrency {CONCURRENCY}; model 50ms + 1GiB/s sped up k× (latency/k, rate×k), times shown ×k (real-model seconds)");
    println!("    rows marked `waves≤2G` / `waves≤5G`: the candidate rule `fewest_full_waves` with a 2 GiB / 5 GiB part cap");
    let cases: [(u64, &str, u64, Vec<u64>); 3] = [
        (
            GIB,
            "1 GiB",
            1,
            [8, 16, 32, 64, 128, 256, 512].map(|m| m * MIB).to_vec(),
        ),
        (
            100 * GIB,
            "100 GiB",
            5,
            [64, 256, 512, 1024, 2048, 4096, 5120]
                .map(|m| m * MIB)
                .to_vec(),
        ),
        (
            10 << 40,
            "10 TiB",
            20,
            vec![min_part_size(10 << 40), 2 * GIB, 3 * GIB, 5 * GIB],
        ),
    ];
    for (size, name, k, mut sweep) in cases {
        let candidates = [
            ("waves≤2G", fewest_full_waves(size, CONCURRENCY, 2 * GIB)),
            (
                "waves≤5G",
                fewest_full_waves(size, CONCURRENCY, MAX_PART_SIZE),
            ),
        ];
        for (_, ps) in candidates {
            if !sweep.contains(&ps) {
                sweep.push(ps);
            }
        }
        sweep.sort_unstable();
        let mut best: Option<(u64, f64)> = None;
        let mut times = Vec::new();
        println!("  {name} (k = {k}):");
        for ps in sweep {
            let (run, t) = timed(size, k, PartSize::Fixed(ps)).await?;
            let marks: Vec<&str> = candidates
                .iter()
                .filter(|(_, c)| *c == ps)
                .map(|(m, _)| *m)
                .collect();
            println!(
                "    fixed {:>10}  {:>5} parts  {t:>9.3} s  {}",
                size_str(ps),
                run.parts,
                marks.join(" ")
            );
            times.push((ps, t));
            if best.is_none_or(|(_, b)| t < b) {
                best = Some((ps, t));
            }
        }
        let (run, t) = timed(size, k, PartSize::Auto).await?;
        let (best_ps, best_t) = best.ok_or_else(|| anyhow!("empty sweep"))?;
        debug_assert_eq!(run.part_size, auto_part_size(size, CONCURRENCY));
        println!(
            "    auto  {:>10}  {:>5} parts  {t:>9.3} s   best fixed {} {best_t:.3} s   auto/best {:.3} (target ≤ 1.05)",
            size_str(run.part_size),
            run.parts,
            size_str(best_ps),
            t / best_t
        );
        for (mark, ps) in candidates {
            if let Some((_, ct)) = times.iter().find(|(p, _)| *p == ps) {
                println!("    {mark}/best {:.3}", ct / best_t);
            }
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // `parts` first: it reads this process's peak RSS, which the in-process servers of the
    // other benches would inflate.
    if want("parts") {
        rt.block_on(many_parts())?;
    }
    if want("pipeline") {
        rt.block_on(pipeline())?;
    }
    if want("auto") {
        rt.block_on(auto_sweep())?;
    }
    Ok(())
}
