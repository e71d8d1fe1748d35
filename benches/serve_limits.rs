//! `haul serve` under load it must survive, as a separate `haul serve` process on loopback:
//!
//! 1. four concurrent 1 GiB PUT Objects (bodies streamed by the client, never held whole):
//!    the server's RSS before, its peak (VmHWM) and the growth, and each stored object's size
//!    and ETag checked against the MD5 the client computed;
//! 2. `haul ls` latency while 25,000 half-open connections (a partial request head each) are
//!    held against the same server.
//!
//! Run: `cargo bench --bench serve_limits` (about a minute; needs ~4 GiB free in the temp
//! dir for the stored bodies, and root or a hard fd limit above 26,000 for part 2). Bounded:
//! every wait has a deadline.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use haul::store::sign::cos::{self as sign, KeyTime, SignRequest};
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt as _;

const BUCKET: &str = "bench-1250000000";
const REGION: &str = "ap-guangzhou";
const GIB: u64 = 1 << 30;
const CHUNK: usize = 1 << 20;
const PUTS: usize = 4;
const HALF_OPEN: usize = 25_000;
const HOLDERS: usize = 2;

struct Server {
    child: Child,
    endpoint: String,
    id: String,
    key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_haul"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--bucket",
            &format!("{BUCKET}@{REGION}"),
            // Long enough that the half-open connections stay half-open while `haul ls` is
            // timed: the connection cap, not the header timeout, is what must keep it served.
            "--header-timeout",
            "120s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start haul serve");
    let out = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(out).lines();
    let mut endpoint = String::new();
    let mut creds = String::new();
    for line in lines.by_ref().take(3) {
        let line = line.expect("read haul serve's banner");
        if let Some(e) = line.strip_prefix("listening ") {
            endpoint = e.to_string();
        }
        if let Some(c) = line.strip_prefix("credentials ") {
            creds = c.to_string();
        }
    }
    let (id, key) = creds.split_once(':').expect("a credentials line");
    Server {
        child,
        endpoint,
        id: id.to_string(),
        key: key.to_string(),
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Byte `i` of object `n`'s body: cheap to generate, different per object and position.
fn chunk(n: usize, index: u64) -> Bytes {
    let mut v = vec![0u8; CHUNK];
    for (j, w) in v.chunks_exact_mut(8).enumerate() {
        let x = (index << 20 | j as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n as u64;
        w.copy_from_slice(&x.to_le_bytes());
    }
    Bytes::from(v)
}

fn md5_of(n: usize) -> String {
    let mut h = Md5::new();
    for i in 0..GIB / CHUNK as u64 {
        h.update(chunk(n, i));
    }
    hex::encode(h.finalize())
}

fn signed(srv: &Server, method: &str, key: &str, len: Option<u64>) -> Vec<(String, String)> {
    let mut headers = vec![(
        "host".to_string(),
        format!("{BUCKET}.cos.{REGION}.myqcloud.com"),
    )];
    if let Some(n) = len {
        headers.push(("content-length".into(), n.to_string()));
    }
    let kt = KeyTime::new(now() - 60, now() + 3600);
    let to_sign: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| sign::should_sign_header(k))
        .cloned()
        .collect();
    let path = format!("/{key}");
    let s = sign::sign(
        &srv.key,
        &kt,
        &SignRequest {
            method,
            path: &path,
            params: &[],
            headers: &to_sign,
        },
    );
    headers.push((
        "authorization".into(),
        sign::authorization(&srv.id, &kt, &s),
    ));
    headers
}

async fn put_gib(
    http: reqwest::Client,
    srv_endpoint: String,
    headers: Vec<(String, String)>,
    n: usize,
) -> (u16, String) {
    let stream = futures::stream::iter(
        (0..GIB / CHUNK as u64).map(move |i| Ok::<_, std::io::Error>(chunk(n, i))),
    );
    let mut rb = http.put(format!("{srv_endpoint}/big-{n}"));
    for (k, v) in headers {
        rb = rb.header(k, v);
    }
    let r = rb
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("PUT 1 GiB");
    let status = r.status().as_u16();
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim_matches('"')
        .to_string();
    (status, etag)
}

fn raise_own_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain rlimit calls on structs we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_max < want {
            let up = libc::rlimit {
                rlim_cur: want,
                rlim_max: want,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &up) == 0 {
                lim = up;
            }
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

fn haul_ls(srv: &Server, home: &std::path::Path) -> (Duration, bool) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_haul"))
        .args(["--endpoint", &srv.endpoint, "ls"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("TENCENTCLOUD_SECRET_ID", &srv.id)
        .env("TENCENTCLOUD_SECRET_KEY", &srv.key)
        .output()
        .expect("run haul ls");
    let ok = out.status.success() && String::from_utf8_lossy(&out.stdout).contains(BUCKET);
    (t.elapsed(), ok)
}

async fn bench() {
    let srv = start_server();
    let pid = srv.child.id();
    let home = tempfile::tempdir().expect("a temp HOME for haul ls");

    // ---- 1. four concurrent 1 GiB PUTs ----
    let expected: Vec<String> = (0..PUTS).map(md5_of).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = status_kib(pid, "VmRSS:");
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..PUTS {
        let headers = signed(&srv, "PUT", &format!("big-{n}"), Some(GIB));
        tasks.push(tokio::spawn(put_gib(
            http.clone(),
            srv.endpoint.clone(),
            headers,
            n,
        )));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(
            tokio::time::timeout(Duration::from_secs(300), t)
                .await
                .expect("the PUTs finish within 5 minutes")
                .expect("PUT task"),
        );
    }
    let took = started.elapsed();
    let peak = status_kib(pid, "VmHWM:");
    let after = status_kib(pid, "VmRSS:");
    for (n, (status, etag)) in results.iter().enumerate() {
        assert_eq!(*status, 200, "PUT big-{n}");
        assert_eq!(
            etag, &expected[n],
            "ETag of big-{n} is the MD5 of its bytes"
        );
    }
    println!(
        "4 concurrent 1 GiB PUTs: {:.1} s ({:.0} MiB/s total); server RSS before {} MiB, peak {} MiB, after {} MiB: grew by {} MiB at peak (limit 256 MiB)",
        took.as_secs_f64(),
        (PUTS as u64 * 1024) as f64 / took.as_secs_f64(),
        before / 1024,
        peak / 1024,
        after / 1024,
        peak.saturating_sub(before) / 1024
    );
    for n in 0..PUTS {
        let key = format!("big-{n}");
        let mut rb = http.head(format!("{}/{key}", srv.endpoint));
        for (k, v) in signed(&srv, "HEAD", &key, None) {
            rb = rb.header(k, v);
        }
        let r = rb.send().await.expect("HEAD");
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            r.headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok()),
            Some(GIB.to_string().as_str())
        );
    }
    println!("  HEAD of each: 200, 1 GiB, ETag = client-side MD5");

    // ---- 2. haul ls while 25,000 half-open connections are held ----
    // Held by child processes (this bench binary again, `--hold`), HOLDERS of them, so that
    // no process needs more file descriptors than a usual hard limit (20,000 here) allows.
    let (quiet, ok) = haul_ls(&srv, home.path());
    assert!(ok, "haul ls answers before the flood");
    let addr = srv.endpoint.trim_start_matches("http://").to_string();
    let opened = Instant::now();
    let exe = std::env::current_exe().expect("this bench's path");
    let mut holders = Vec::new();
    for _ in 0..HOLDERS {
        holders.push(
            Command::new(&exe)
                .args(["--hold", &addr, &(HALF_OPEN / HOLDERS).to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start a connection holder"),
        );
    }
    let mut held = 0usize;
    for h in &mut holders {
        let out = h.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .expect("read the holder's count");
        held += line
            .trim()
            .strip_prefix("held ")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
    }
    println!(
        "opened and holding {held} of {HALF_OPEN} half-open connections ({HOLDERS} processes) after {:.1} s; server: {} fds open, RSS {} MiB",
        opened.elapsed().as_secs_f64(),
        open_fds(pid),
        status_kib(pid, "VmRSS:") / 1024
    );
    let mut times = Vec::new();
    for _ in 0..5 {
        let (t, ok) = haul_ls(&srv, home.path());
        assert!(ok, "haul ls answers while the connections are held");
        times.push(t);
    }
    times.sort();
    println!(
        "haul ls latency: {:.0} ms without load; with {held} half-open connections held: min {:.0} ms, median {:.0} ms, max {:.0} ms (5 runs, each a new process); server after: {} fds, peak RSS {} MiB",
        quiet.as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[2].as_secs_f64() * 1000.0,
        times[4].as_secs_f64() * 1000.0,
        open_fds(pid),
        status_kib(pid, "VmHWM:") / 1024
    );
    for mut h in holders {
        drop(h.stdin.take());
        let _ = h.wait();
    }
}

/// `--hold ADDR N`: opens N connections to ADDR, sends each a partial request head, prints
/// `held K` (how many opened) and keeps them until stdin closes.
fn hold(addr: &str, n: usize) {
    raise_own_fd_limit(n as u64 + 1024);
    let addr: std::net::SocketAddr = addr.parse().expect("holder address");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let held = rt.block_on(async {
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(256));
        let mut opens = Vec::with_capacity(n);
        for _ in 0..n {
            let sem = sem.clone();
            opens.push(tokio::spawn(async move {
                let _p = sem.acquire_owned().await.ok()?;
                let mut s = tokio::time::timeout(
                    Duration::from_secs(10),
                    tokio::net::TcpStream::connect(addr),
                )
                .await
                .ok()?
                .ok()?;
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.ok()?;
                Some(s)
            }));
        }
        let mut held = Vec::with_capacity(n);
        for o in opens {
            if let Ok(Some(s)) = o.await {
                held.push(s);
            }
        }
        held
    });
    println!("held {}", held.len());
    let mut sink = String::new();
    let _ = std::io::stdin().read_line(&mut sink);
    drop(held);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--hold") {
        let n = args
            .get(i + 2)
            .and_then(|n| n.parse().ok())
            .expect("--hold ADDR N");
        hold(&args[i + 1], n);
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(600), bench())
            .await
            .expect("the bench finishes within 10 minutes")
    });
}
