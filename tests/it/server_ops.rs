//! The local COS server's operational side over real HTTP: seeded faults, the latency model,
//! the access log, `--data` persistence, the demo set and the `haul serve` binary.

use crate::common;

use std::time::{Duration, Instant};

use common::*;

async fn head_statuses(extra: &[&str], n: usize) -> Vec<u16> {
    let s = start_server(args(extra)).await;
    let c = Cos::new(&s);
    let mut out = Vec::new();
    for i in 0..n {
        let r = c
            .obj("HEAD", GZ_BUCKET, GZ, &format!("k{}", i % 7))
            .send()
            .await;
        out.push(r.status);
    }
    out
}

#[tokio::test]
async fn faults_are_reproducible_with_a_seed() {
    let flags = |seed: &'static str| {
        vec![
            "--object",
            "cos://alpha-1250000000/k0=1KiB",
            "--fault-rate",
            "0.5",
            "--faults",
            "slowdown,internal",
            "--seed",
            seed,
        ]
    };
    let a = head_statuses(&flags("42"), 40).await;
    let b = head_statuses(&flags("42"), 40).await;
    let other = head_statuses(&flags("43"), 40).await;
    assert_eq!(a, b, "same seed, same faults");
    assert_ne!(a, other, "another seed, other faults");
    assert!(a.contains(&503) && a.contains(&500), "{a:?}");
    assert!(a.iter().any(|s| *s == 404 || *s == 200));
}

#[tokio::test]
async fn fault_kinds_answer_as_cos_does() {
    let s = start_server(args(&[
        "--object",
        "cos://alpha-1250000000/src.bin=4MiB",
        "--fault-rate",
        "1",
        "--faults",
        "error200",
    ]))
    .await;
    let c = Cos::new(&s);
    // error200 only applies to copies and Complete: other requests pass.
    let init = c.initiate(GZ_BUCKET, GZ, "dst").send().await;
    assert_eq!(init.status, 200, "{}", init.text);
    let id = init.tag("UploadId").expect("UploadId");
    let r = c
        .copy_part(
            GZ_BUCKET,
            GZ,
            "dst",
            &id,
            1,
            &copy_source(GZ_BUCKET, GZ, "src.bin"),
        )
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.code().as_deref(), Some("InternalError"), "{}", r.text);
    let parts = c
        .obj("GET", GZ_BUCKET, GZ, "dst")
        .q("uploadId", &id)
        .send()
        .await;
    assert!(
        parts.tags("PartNumber").is_empty(),
        "a faulted copy changes nothing"
    );

    let reset = start_server(args(&["--fault-rate", "1", "--faults", "reset"])).await;
    let c = Cos::new(&reset);
    let req = c.obj("GET", GZ_BUCKET, GZ, "");
    let mut rb = c.http.get(req.url(&reset.endpoint()));
    for (k, v) in req.signed_headers() {
        rb = rb.header(k, v);
    }
    let err = rb.send().await;
    assert!(err.is_err(), "reset drops the connection: {err:?}");

    let stall = start_server(args(&[
        "--fault-rate",
        "1",
        "--faults",
        "timeout",
        "--fault-stall",
        "2s",
    ]))
    .await;
    let c = Cos::new(&stall);
    let req = c.obj("GET", GZ_BUCKET, GZ, "");
    let url = req.url(&stall.endpoint());
    let mut rb = c.http.get(url).timeout(Duration::from_millis(200));
    for (k, v) in req.signed_headers() {
        rb = rb.header(k, v);
    }
    let e = rb.send().await.expect_err("the client's timeout fires");
    assert!(e.is_timeout(), "{e}");
}

#[tokio::test]
async fn part_copies_take_latency_plus_bytes_over_rate() {
    let s = start_server(args(&[
        "--object",
        "cos://alpha-1250000000/src.bin=20MiB",
        "--latency",
        "20ms",
        "--copy-rate",
        "100MiB/s",
    ]))
    .await;
    let c = Cos::new(&s);
    let init = c.initiate(GZ_BUCKET, GZ, "dst").send().await;
    let id = init.tag("UploadId").expect("UploadId");
    let t = Instant::now();
    let r = c
        .copy_part(
            GZ_BUCKET,
            GZ,
            "dst",
            &id,
            1,
            &copy_source(GZ_BUCKET, GZ, "src.bin"),
        )
        .h("x-cos-copy-source-range", "bytes=0-10485759")
        .send()
        .await;
    let took = t.elapsed();
    assert_eq!(r.status, 200, "{}", r.text);
    // 20 ms + 10 MiB / 100 MiB/s = 120 ms.
    assert!(
        took >= Duration::from_millis(115) && took < Duration::from_millis(1000),
        "{took:?}"
    );
}

#[tokio::test]
async fn access_log_has_a_json_line_per_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("access.jsonl");
    let s = start_server(args(&[
        "--access-log",
        path.to_str().expect("utf-8 path"),
        "--object",
        "cos://alpha-1250000000/a b=2KiB",
    ]))
    .await;
    let c = Cos::new(&s);
    let ok = c
        .obj("GET", GZ_BUCKET, GZ, "a b")
        .h("range", "bytes=0-9")
        .send()
        .await;
    let missing = c.obj("HEAD", GZ_BUCKET, GZ, "nope").send().await;
    let text = std::fs::read_to_string(&path).expect("access log written");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let first = &lines[0];
    assert_eq!(first["op"], "GetObject");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["bucket"], GZ_BUCKET);
    assert_eq!(first["key"], "a b");
    assert_eq!(first["range"], "bytes=0-9");
    assert_eq!(first["status"], 206);
    assert!(first["code"].is_null() && first["fault"].is_null());
    assert_eq!(first["request_id"].as_str(), ok.header("x-cos-request-id"));
    assert!(first["latency_ms"].as_f64().is_some());
    assert!(time::OffsetDateTime::parse(
        first["ts"].as_str().expect("ts"),
        &time::format_description::well_known::Rfc3339
    )
    .is_ok());
    assert_eq!(lines[1]["op"], "HeadObject");
    assert_eq!(lines[1]["status"], 404);
    assert_eq!(lines[1]["code"], "NoSuchKey");
    assert_eq!(
        lines[1]["request_id"].as_str(),
        missing.header("x-cos-request-id")
    );
}

#[tokio::test]
async fn data_dir_keeps_objects_and_uploads_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path").to_string();
    let s = start_server(args(&["--data", &data])).await;
    let c = Cos::new(&s);
    let put = c
        .obj("PUT", GZ_BUCKET, GZ, "kept.txt")
        .body("still here")
        .send()
        .await;
    assert_eq!(put.status, 200);
    let init = c.initiate(SH_BUCKET, SH, "pending").send().await;
    let id = init.tag("UploadId").expect("UploadId");
    let part = c
        .obj("PUT", SH_BUCKET, SH, "pending")
        .q("partNumber", "1")
        .q("uploadId", &id)
        .body("part bytes")
        .send()
        .await;
    assert_eq!(part.status, 200);
    s.shutdown().await;

    let blobs: Vec<Vec<u8>> = std::fs::read_dir(dir.path().join("blobs"))
        .expect("blobs dir")
        .map(|e| std::fs::read(e.expect("entry").path()).expect("blob"))
        .collect();
    assert!(
        blobs.contains(&b"still here".to_vec()),
        "real bytes live beside the state"
    );
    assert!(blobs.contains(&b"part bytes".to_vec()));

    let s = start_server(args(&["--data", &data])).await;
    let c = Cos::new(&s);
    let get = c.obj("GET", GZ_BUCKET, GZ, "kept.txt").send().await;
    assert_eq!(get.text, "still here");
    assert_eq!(get.header("etag"), put.header("etag"));
    let ups = c
        .obj("GET", SH_BUCKET, SH, "")
        .q("uploads", "")
        .send()
        .await;
    assert_eq!(ups.tags("UploadId"), vec![id.clone()]);
    let parts = c
        .obj("GET", SH_BUCKET, SH, "pending")
        .q("uploadId", &id)
        .send()
        .await;
    assert_eq!(parts.tags("ETag"), [part.header("etag").expect("etag")]);
    let del = c.obj("DELETE", GZ_BUCKET, GZ, "kept.txt").send().await;
    assert_eq!(del.status, 204);
    s.shutdown().await;
    let left = std::fs::read_dir(dir.path().join("blobs"))
        .expect("blobs dir")
        .count();
    assert_eq!(left, 1, "the deleted object's blob is removed");
}

#[tokio::test]
async fn demo_set_serves_huge_objects_and_many_small_ones() {
    let s = start_server(args(&["--demo"])).await;
    let c = Cos::new(&s);
    let t = Instant::now();
    let head = c
        .obj(
            "HEAD",
            "media-1250000000",
            GZ,
            "masters/feature-film-8k.mov",
        )
        .send()
        .await;
    let took = t.elapsed();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("40000000000000"));
    assert!(head.header("x-cos-hash-crc64ecma").is_some());
    println!("HEAD of a 40 TB synthetic object: {took:?}");
    let page = c
        .obj("GET", "media-1250000000", GZ, "")
        .q("prefix", "thumbs/")
        .send()
        .await;
    assert_eq!(page.tags("Key").len(), 1000);
    assert_eq!(page.tag("IsTruncated").as_deref(), Some("true"));
    let again = start_server(args(&["--demo"])).await;
    let c2 = Cos::new(&again);
    let head2 = c2
        .obj(
            "HEAD",
            "media-1250000000",
            GZ,
            "masters/feature-film-8k.mov",
        )
        .send()
        .await;
    assert_eq!(
        head.header("x-cos-hash-crc64ecma"),
        head2.header("x-cos-hash-crc64ecma"),
        "synthetic content is stable across runs"
    );
    assert_eq!(head.header("etag"), head2.header("etag"));
}

#[test]
fn serve_binary_prints_listening_first_and_exits_zero_on_sigterm() {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_haul"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--bucket",
            "x-1250000000",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("haul serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().expect("a first line").expect("utf-8");
    assert!(
        first.starts_with("listening http://127.0.0.1:") && !first.ends_with(":0"),
        "{first}"
    );
    let second = lines.next().expect("credentials line").expect("utf-8");
    assert!(second.contains(haul::server::DEMO_SECRET_ID), "{second}");
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn abort_during_the_merge_fails_complete_in_its_body_and_the_log_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("access.jsonl");
    let s = start_server(args(&[
        "--access-log",
        path.to_str().expect("utf-8 path"),
        "--object",
        "cos://alpha-1250000000/src.bin=64MiB",
        "--latency",
        "100ms",
    ]))
    .await;
    let c = Cos::new(&s);
    let init = c.initiate(GZ_BUCKET, GZ, "dst").send().await;
    let id = init.tag("UploadId").expect("UploadId");
    let mut tasks = Vec::new();
    for n in 1..=40u64 {
        let c = c.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let first = (n - 1) << 20;
            let r = c
                .copy_part(
                    GZ_BUCKET,
                    GZ,
                    "dst",
                    &id,
                    n as u32,
                    &copy_source(GZ_BUCKET, GZ, "src.bin"),
                )
                .h(
                    "x-cos-copy-source-range",
                    &format!("bytes={first}-{}", first + (1 << 20) - 1),
                )
                .send()
                .await;
            (n as u32, r.tag("ETag").expect("part ETag"))
        }));
    }
    let mut parts = Vec::new();
    for t in tasks {
        parts.push(t.await.expect("part"));
    }
    let mut body = String::from("<CompleteMultipartUpload>");
    for (n, e) in &parts {
        body.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    // The merge of 40 parts takes 100 ms × (1 + 40/20) = 300 ms; abort lands in the middle.
    let complete = {
        let c = c.clone();
        let id = id.clone();
        tokio::spawn(async move {
            c.obj("POST", GZ_BUCKET, GZ, "dst")
                .q("uploadId", &id)
                .body(body)
                .send()
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let abort = c
        .obj("DELETE", GZ_BUCKET, GZ, "dst")
        .q("uploadId", &id)
        .send()
        .await;
    assert_eq!(abort.status, 204);
    let done = complete.await.expect("complete");
    assert_eq!(done.status, 200, "Complete had already answered 200");
    assert_eq!(
        done.code().as_deref(),
        Some("NoSuchUpload"),
        "{}",
        done.text
    );
    let head = c.obj("HEAD", GZ_BUCKET, GZ, "dst").send().await;
    assert_eq!(head.status, 404, "no object appears from an aborted merge");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = std::fs::read_to_string(&path).expect("access log");
    let line = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .find(|v| v["op"] == "CompleteMultipartUpload")
        .expect("a Complete line");
    assert_eq!(line["status"], 200);
    assert_eq!(line["code"], "NoSuchUpload");
}

/// Reads the access log until `want` lines are there or 3 s pass.
async fn log_lines(path: &std::path::Path, want: usize) -> Vec<serde_json::Value> {
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        if lines.len() >= want || t.elapsed() > Duration::from_secs(3) {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn access_log_records_a_request_the_client_abandoned_once_as_499() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("access.jsonl");
    let s = start_server(args(&[
        "--access-log",
        path.to_str().expect("utf-8 path"),
        "--fault-rate",
        "1",
        "--faults",
        "timeout",
        "--fault-stall",
        "5s",
    ]))
    .await;
    let c = Cos::new(&s);
    let req = c
        .obj("PUT", GZ_BUCKET, GZ, "gone/away")
        .q("partNumber", "7")
        .q("uploadId", "u1")
        .body("abc");
    let url = req.url(&s.endpoint());
    let mut rb = c
        .http
        .put(url)
        .body("abc")
        .timeout(Duration::from_millis(300));
    for (k, v) in req.signed_headers() {
        rb = rb.header(k, v);
    }
    let e = rb.send().await.expect_err("the client gives up first");
    assert!(e.is_timeout(), "{e}");
    let lines = log_lines(&path, 1).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let l = &lines[0];
    assert_eq!(l["status"], 499);
    assert_eq!(l["op"], "UploadPart");
    assert_eq!(l["method"], "PUT");
    assert_eq!(l["bucket"], GZ_BUCKET);
    assert_eq!(l["key"], "gone/away");
    assert_eq!(l["part"], 7);
    assert_eq!(l["upload_id"], "u1");
    assert_eq!(l["fault"], "timeout");
    let ms = l["latency_ms"].as_f64().expect("latency");
    assert!((250.0..4000.0).contains(&ms), "{ms}");
    // Logged exactly once: nothing more appears, not even when the stall would have ended.
    s.shutdown().await;
    let text = std::fs::read_to_string(&path).expect("log");
    assert_eq!(text.lines().count(), 1, "{text}");
}

/// Two different 16-byte strings with the same CRC-64: CRC is affine over GF(2), so flipping
/// a set of bits whose CRC differences cancel keeps it (found by Gaussian elimination).
fn crc64_twins() -> (Vec<u8>, Vec<u8>) {
    let a = b"haul blob twin A".to_vec();
    let base = haul::crc64::checksum(&a);
    // Rows: (CRC difference of flipping these bits, which bits).
    let mut rows: Vec<(u64, u128)> = Vec::new();
    for bit in 0..128u32 {
        let mut flipped = a.clone();
        flipped[(bit / 8) as usize] ^= 1 << (bit % 8);
        let mut v = haul::crc64::checksum(&flipped) ^ base;
        let mut mask = 1u128 << bit;
        for (rv, rm) in &rows {
            let pivot = 63 - rv.leading_zeros();
            if v >> pivot & 1 == 1 {
                v ^= rv;
                mask ^= rm;
            }
        }
        if v == 0 {
            let mut b = a.clone();
            for i in 0..128 {
                if mask >> i & 1 == 1 {
                    b[i / 8] ^= 1 << (i % 8);
                }
            }
            return (a, b);
        }
        rows.push((v, mask));
        // Highest pivot first, so each reduction step only touches lower bits.
        rows.sort_by_key(|r| r.0.leading_zeros());
    }
    panic!("128 vectors in a 64-dimensional space are dependent");
}

#[tokio::test]
async fn data_dir_keeps_blobs_with_equal_crc_and_length_apart() {
    let (a, b) = crc64_twins();
    assert_ne!(a, b);
    assert_eq!(haul::crc64::checksum(&a), haul::crc64::checksum(&b));
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path").to_string();
    let s = start_server(args(&["--data", &data])).await;
    let c = Cos::new(&s);
    for (key, body) in [("a.bin", &a), ("b.bin", &b)] {
        let put = c
            .obj("PUT", GZ_BUCKET, GZ, key)
            .body(body.clone())
            .send()
            .await;
        assert_eq!(put.status, 200, "{}", put.text);
    }
    s.shutdown().await;
    let blobs = std::fs::read_dir(dir.path().join("blobs"))
        .expect("blobs dir")
        .count();
    assert_eq!(blobs, 2, "one file each");
    // Twice: after a plain restart, and after a restart that saved again.
    for round in 0..2 {
        let s = start_server(args(&["--data", &data])).await;
        let c = Cos::new(&s);
        let ga = c.obj("GET", GZ_BUCKET, GZ, "a.bin").send().await;
        let gb = c.obj("GET", GZ_BUCKET, GZ, "b.bin").send().await;
        assert_eq!(ga.bytes, a, "round {round}");
        assert_eq!(gb.bytes, b, "round {round}");
        let put = c
            .obj("PUT", GZ_BUCKET, GZ, &format!("more{round}"))
            .body(b.clone())
            .send()
            .await;
        assert_eq!(put.status, 200);
        s.shutdown().await;
    }
    let blobs = std::fs::read_dir(dir.path().join("blobs"))
        .expect("blobs dir")
        .count();
    assert_eq!(blobs, 2, "equal bytes still share a file");
}

// --- `haul serve` credentials, files and flags (issue 8, part 6) ---

/// `haul serve` with `args`, nothing inherited that could supply credentials.
fn serve_cmd(args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_haul"));
    c.arg("serve")
        .args(args)
        .env_remove(haul::server::CREDENTIALS_ENV);
    c
}

/// The first line of a finished command's stderr.
fn first_err_line(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// A running `haul serve`: killed (SIGTERM) and reaped on drop.
struct Served {
    child: std::process::Child,
    /// stdout lines up to and including the `try:` hint.
    banner: Vec<String>,
}

impl Served {
    fn start(mut cmd: std::process::Command) -> Served {
        use std::io::BufRead as _;
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("haul serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut banner = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.expect("utf-8");
            let done = line.starts_with("try:");
            banner.push(line);
            if done {
                break;
            }
        }
        assert!(
            banner.first().is_some_and(|l| l.starts_with("listening ")),
            "{banner:?}"
        );
        Served { child, banner }
    }

    fn endpoint(&self) -> String {
        self.banner[0]["listening ".len()..].to_string()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

#[test]
fn serve_refuses_to_listen_beyond_loopback_with_the_public_demo_key() {
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let o = serve_cmd(&["--listen", listen]).output().expect("runs");
        assert_eq!(o.status.code(), Some(2), "{listen}");
        let line = first_err_line(&o);
        assert!(
            line.starts_with(&format!(
                "haul: refusing to listen on {listen} without credentials"
            )),
            "{line}"
        );
        assert!(line.contains("--credentials-file"), "{line}");
        assert!(o.stdout.is_empty(), "nothing was served");
    }
}

#[test]
fn serve_takes_credentials_from_a_file_and_the_environment_and_prints_no_secret() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("creds");
    std::fs::write(
        &file,
        "# accepted keys\nAKIDfile:fileSecret0001\n\nAKIDtemp:tempSecret0002:tempToken0003\n",
    )
    .expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let mut cmd = serve_cmd(&[
        "--listen",
        "127.0.0.1:0",
        "--bucket",
        "x-1250000000",
        "--credentials-file",
        file.to_str().expect("utf-8"),
        "--credentials",
        "AKIDarg:argSecret0004",
    ]);
    cmd.env(haul::server::CREDENTIALS_ENV, "AKIDenv:envSecret0005");
    let s = Served::start(cmd);
    let banner = s.banner.join("\n");
    for secret in [
        "fileSecret0001",
        "tempSecret0002",
        "tempToken0003",
        "argSecret0004",
        "envSecret0005",
        haul::server::DEMO_SECRET_KEY,
    ] {
        assert!(!banner.contains(secret), "{secret} printed:\n{banner}");
    }
    for id in ["AKIDfile", "AKIDtemp", "AKIDarg", "AKIDenv"] {
        assert!(banner.contains(id), "{id} missing:\n{banner}");
    }
    assert!(banner.contains("--credentials-file"), "{banner}");
    assert!(banner.contains("HAUL_SERVE_CREDENTIALS"), "{banner}");

    // The file's and the environment's keys are the ones the server accepts.
    for (id, key, ok) in [
        ("AKIDfile", "fileSecret0001", true),
        ("AKIDenv", "envSecret0005", true),
        ("AKIDfile", "envSecret0005", false),
    ] {
        let home = tempfile::tempdir().expect("tempdir");
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_haul"))
            .args(["--endpoint", &s.endpoint(), "ls"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .env("HAUL_STATE_DIR", home.path())
            .env("TENCENTCLOUD_SECRET_ID", id)
            .env("TENCENTCLOUD_SECRET_KEY", key)
            .output()
            .expect("haul ls runs");
        assert_eq!(o.status.success(), ok, "{id}: {}", first_err_line(&o));
        if ok {
            assert!(String::from_utf8_lossy(&o.stdout).contains("x-1250000000"));
        }
    }
}

#[test]
fn a_bad_credentials_file_is_refused_by_line_without_echoing_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("creds");
    std::fs::write(&file, "AKIDok:okSecret\nnoColonSecretValue\n").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let path = file.to_str().expect("utf-8");
    let o = serve_cmd(&["--listen", "127.0.0.1:0", "--credentials-file", path])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    let mut lines = err.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "warning: --credentials-file {path} is readable by other users; `chmod 600` it"
            )
            .as_str()
        )
    );
    let line = lines.next().unwrap_or("");
    assert!(
        line.starts_with(&format!(
            "haul: --credentials-file {path} line 2: expected ID:KEY"
        )),
        "{line}"
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("noColonSecretValue"));

    let missing = dir.path().join("absent");
    let o = serve_cmd(&["--credentials-file", missing.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        first_err_line(&o).starts_with("haul: --credentials-file "),
        "{}",
        first_err_line(&o)
    );

    let o = serve_cmd(&["--credentials", "AKIDonly"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        first_err_line(&o),
        "haul: --credentials: expected ID:KEY or ID:KEY:TOKEN, found no ':'"
    );
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused_naming_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8");
    let mut cmd = serve_cmd(&["--listen", "127.0.0.1:0", "--data", data]);
    cmd.env_remove("HAUL_SERVE_CREDENTIALS");
    let first = Served::start(cmd);
    let o = serve_cmd(&["--listen", "127.0.0.1:0", "--data", data])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    let line = first_err_line(&o);
    assert!(
        line.starts_with(&format!(
            "haul: --data {data} is in use by process {}",
            first.child.id()
        )),
        "{line}"
    );
    drop(first);
    let again = Served::start(serve_cmd(&["--listen", "127.0.0.1:0", "--data", data]));
    assert!(again.endpoint().starts_with("http://127.0.0.1:"));
}

#[test]
fn fractions_outside_zero_to_one_are_refused() {
    for (flag, value) in [
        ("--fault-rate", "2"),
        ("--fault-rate", "-0.1"),
        ("--jitter", "1.5"),
        ("--jitter", "NaN"),
    ] {
        let o = serve_cmd(&[&format!("{flag}={value}")])
            .output()
            .expect("runs");
        assert_eq!(o.status.code(), Some(2), "{flag} {value}");
        let line = first_err_line(&o);
        assert!(
            line.starts_with(&format!("error: invalid value '{value}' for '{flag}")),
            "{line}"
        );
        assert!(line.contains("0.0"), "{line}");
    }
}

#[tokio::test]
async fn what_the_server_writes_is_private_to_its_user() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("new").join("data");
    let log = dir.path().join("access.jsonl");
    let s = start_server(args(&[
        "--data",
        data.to_str().expect("utf-8"),
        "--access-log",
        log.to_str().expect("utf-8"),
    ]))
    .await;
    let c = Cos::new(&s);
    let put = c
        .obj("PUT", GZ_BUCKET, GZ, "secret-plans")
        .body("x")
        .send()
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    s.shutdown().await;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&data), 0o700, "data dir");
    assert_eq!(mode(&data.join("blobs")), 0o700, "blobs dir");
    assert_eq!(mode(&data.join("state.json")), 0o600, "state");
    assert_eq!(mode(&log), 0o600, "access log");
    let blobs: Vec<_> = std::fs::read_dir(data.join("blobs"))
        .expect("blobs")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(!blobs.is_empty());
    for b in blobs {
        assert_eq!(mode(&b), 0o600, "{}", b.display());
    }
}

// ---- bounded memory: sizes checked from Content-Length, bodies streamed ----

/// A signed request head (no body) for a raw socket: `extra` headers are sent and signed.
fn raw_head(
    s: &haul::server::ServerHandle,
    method: &str,
    key: &str,
    query: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> String {
    use haul::store::sign::cos::{self as sign, KeyTime, SignRequest};
    let (id, secret) = s.credentials[0].clone();
    let mut headers: Vec<(String, String)> = vec![("host".into(), host(GZ_BUCKET, GZ))];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let params: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let kt = KeyTime::new(now() - 60, now() + 3600);
    let to_sign: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| sign::should_sign_header(k))
        .cloned()
        .collect();
    let path = format!("/{key}");
    let signed = sign::sign(
        &secret,
        &kt,
        &SignRequest {
            method,
            path: &path,
            params: &params,
            headers: &to_sign,
        },
    );
    headers.push((
        "authorization".into(),
        sign::authorization(&id, &kt, &signed),
    ));
    let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let target = if q.is_empty() {
        path.clone()
    } else {
        format!("{path}?{}", q.join("&"))
    };
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out
}

/// Sends `head` (and `body`) on a new connection and reads the answer's head and body, or
/// panics after `within`.
async fn raw_exchange(
    s: &haul::server::ServerHandle,
    head: &str,
    body: &[u8],
    within: Duration,
) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut sock = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    sock.write_all(head.as_bytes()).await.expect("send head");
    sock.write_all(body).await.expect("send body");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got);
                    if text.contains("</Error>")
                        || (text.contains("\r\n\r\n")
                            && !text.contains("<?xml")
                            && text.starts_with("HTTP/1.1 2"))
                    {
                        break;
                    }
                }
            }
        }
    };
    tokio::time::timeout(within, read)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no answer within {within:?}; got {:?}",
                String::from_utf8_lossy(&got)
            )
        });
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn upload_part_to_an_unknown_upload_is_refused_before_its_body_is_sent() {
    let s = start_server(serve_args()).await;
    // 100 MiB announced, none sent: the answer must not wait for the body.
    let head = raw_head(
        &s,
        "PUT",
        "k",
        &[("partNumber", "1"), ("uploadId", "bogus")],
        &[("content-length", "104857600")],
    );
    let answer = raw_exchange(&s, &head, b"", Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("<Code>NoSuchUpload</Code>"), "{answer}");
}

#[tokio::test]
async fn a_put_over_5_gb_is_refused_from_its_content_length_alone() {
    let s = start_server(serve_args()).await;
    let head = raw_head(&s, "PUT", "huge", &[], &[("content-length", "6000000000")]);
    let answer = raw_exchange(&s, &head, b"", Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("<Code>EntityTooLarge</Code>"), "{answer}");
}

#[tokio::test]
async fn a_put_without_content_length_is_refused_with_411() {
    let s = start_server(serve_args()).await;
    let head = raw_head(
        &s,
        "PUT",
        "chunked",
        &[],
        &[("transfer-encoding", "chunked")],
    );
    let answer = raw_exchange(
        &s,
        &head,
        b"5\r\nhello\r\n0\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 411"), "{answer}");
    assert!(
        answer.contains("<Code>MissingContentLength</Code>"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_complete_body_over_the_xml_cap_is_refused_before_it_is_read() {
    let s = start_server(serve_args()).await;
    let c = Cos::new(&s);
    let id = c
        .initiate(GZ_BUCKET, GZ, "k")
        .send()
        .await
        .tag("UploadId")
        .expect("UploadId");
    let too_big = (haul::server::service::XML_BODY_MAX + 1).to_string();
    let head = raw_head(
        &s,
        "POST",
        "k",
        &[("uploadId", &id)],
        &[("content-length", &too_big)],
    );
    let answer = raw_exchange(&s, &head, b"", Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("<Code>MaxMessageLengthExceeded</Code>"),
        "{answer}"
    );
    // The cap fits 10,000 parts as the SDKs write them.
    let part = "<Part><PartNumber>10000</PartNumber><ETag>&quot;0123456789abcdef0123456789abcdef&quot;</ETag></Part>\n";
    assert!((part.len() * 10_000 + 200) as u64 <= haul::server::service::XML_BODY_MAX);
}

#[tokio::test]
async fn large_bodies_stream_to_disk_and_read_back_exact_with_md5_and_crc64() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path").to_string();
    let s = start_server(args(&["--data", &data])).await;
    let c = Cos::new(&s);
    let body: Vec<u8> = (0..3 * 1024 * 1024 + 17u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let put = c
        .obj("PUT", GZ_BUCKET, GZ, "big.bin")
        .body(body.clone())
        .send()
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let md5 = {
        use md5::Digest as _;
        hex::encode(md5::Md5::digest(&body))
    };
    assert_eq!(put.header("etag"), Some(format!("\"{md5}\"").as_str()));
    let crc = haul::crc64::checksum(&body).to_string();
    assert_eq!(put.header("x-cos-hash-crc64ecma"), Some(crc.as_str()));
    let spilled = std::fs::read_dir(dir.path().join("spill"))
        .expect("spill dir")
        .count();
    assert_eq!(spilled, 1, "the body went to a spill file, not memory");
    let get = c.obj("GET", GZ_BUCKET, GZ, "big.bin").send().await;
    assert_eq!(get.bytes, body);
    let part = c
        .obj("GET", GZ_BUCKET, GZ, "big.bin")
        .h("range", "bytes=1048570-2097160")
        .send()
        .await;
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes, &body[1_048_570..=2_097_160]);
    // A part copy slices the file: its CRC is that of the range.
    let id = c
        .initiate(GZ_BUCKET, GZ, "copy")
        .send()
        .await
        .tag("UploadId")
        .expect("id");
    let pc = c
        .copy_part(
            GZ_BUCKET,
            GZ,
            "copy",
            &id,
            1,
            &copy_source(GZ_BUCKET, GZ, "big.bin"),
        )
        .h("x-cos-copy-source-range", "bytes=5-1048580")
        .send()
        .await;
    assert_eq!(pc.status, 200, "{}", pc.text);
    assert_eq!(
        pc.tag("CRC64"),
        Some(haul::crc64::checksum(&body[5..=1_048_580]).to_string())
    );
    s.shutdown().await;
    // Saved with --data: hard-linked into blobs/, and served from there after a restart.
    let s = start_server(args(&["--data", &data])).await;
    let c = Cos::new(&s);
    let get = c.obj("GET", GZ_BUCKET, GZ, "big.bin").send().await;
    assert_eq!(get.bytes, body);
    assert_eq!(get.header("etag"), Some(format!("\"{md5}\"").as_str()));
    s.shutdown().await;
}

// ---- connections: header timeout, idle timeout, cap with eviction ----

async fn closed_within(sock: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 1024];
    matches!(
        tokio::time::timeout(within, sock.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn a_half_open_connection_is_closed_after_the_header_timeout() {
    use tokio::io::AsyncWriteExt as _;
    let s = start_server(args(&["--header-timeout", "300ms"])).await;
    let mut sock = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    sock.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("partial head");
    let t = Instant::now();
    assert!(
        closed_within(&mut sock, Duration::from_secs(5)).await,
        "the server still holds a connection that never finished its head"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    // A complete request on a fresh connection is still served.
    let r = Cos::new(&s).obj("HEAD", GZ_BUCKET, GZ, "").send().await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    use tokio::io::AsyncWriteExt as _;
    let s = start_server(args(&[
        "--idle-timeout",
        "300ms",
        "--header-timeout",
        "30s",
    ]))
    .await;
    let mut sock = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    sock.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    // The answer (403: unsigned) arrives, then the connection idles and is closed.
    use tokio::io::AsyncReadExt as _;
    let mut buf = vec![0u8; 8192];
    let n = sock.read(&mut buf).await.expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 "));
    let mut closed = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), sock.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(
        closed,
        "an idle keep-alive connection outlived the idle timeout"
    );
}

#[tokio::test]
async fn at_the_connection_cap_a_new_client_is_served_by_evicting_a_half_open_one() {
    use tokio::io::AsyncWriteExt as _;
    let s = start_server(args(&["--max-connections", "4", "--header-timeout", "60s"])).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut sock = tokio::net::TcpStream::connect(s.addr)
            .await
            .expect("connect");
        sock.write_all(b"GET / HTTP/1.1\r\n")
            .await
            .expect("partial head");
        held.push(sock);
        // Accepted in this order, so the first is the oldest.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = Cos::new(&s);
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        c.obj("HEAD", GZ_BUCKET, GZ, "").send(),
    )
    .await
    .expect("a new client is served at the cap");
    assert_eq!(r.status, 200);
    assert!(
        closed_within(&mut held[0], Duration::from_secs(2)).await,
        "the oldest half-open connection was evicted to make room"
    );
}

// ---- --objects: many synthetic objects ----

#[tokio::test]
async fn objects_flag_lists_heads_and_copies_thousands_of_synthetic_objects() {
    let s = start_server(args(&[
        "--objects",
        "cos://src-1250000000/small/=2500x1KiB",
    ]))
    .await;
    let c = Cos::new(&s);
    let bucket = "src-1250000000";
    let mut keys = Vec::new();
    let mut etags = Vec::new();
    let mut marker = String::new();
    let mut pages = 0;
    loop {
        let mut req = c
            .obj("GET", bucket, GZ, "")
            .q("prefix", "small/")
            .q("max-keys", "1000");
        if !marker.is_empty() {
            req = req.q("marker", &marker);
        }
        let page = req.send().await;
        assert_eq!(page.status, 200, "{}", page.text);
        pages += 1;
        keys.extend(page.tags("Key"));
        etags.extend(page.tags("ETag"));
        if page.tag("IsTruncated").as_deref() != Some("true") {
            break;
        }
        marker = page
            .tag("NextMarker")
            .expect("NextMarker on a truncated page");
    }
    assert_eq!(pages, 3);
    let want: Vec<String> = (0..2500).map(|i| format!("small/{i:08}")).collect();
    assert_eq!(keys, want);
    assert!(etags.iter().all(|e| e.len() == 34 && e.starts_with('"')));
    assert_ne!(etags[0], etags[1], "each object has its own content");

    let head = c.obj("HEAD", bucket, GZ, "small/00001234").send().await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("1024"));
    assert_eq!(head.header("etag"), Some(etags[1234].as_str()));
    let get = c.obj("GET", bucket, GZ, "small/00001234").send().await;
    assert_eq!(
        head.header("x-cos-hash-crc64ecma"),
        Some(haul::crc64::checksum(&get.bytes).to_string().as_str()),
        "HEAD reports the CRC64 of the bytes GET returns"
    );

    let copy = c
        .obj("PUT", GZ_BUCKET, GZ, "copied")
        .h(
            "x-cos-copy-source",
            &copy_source(bucket, GZ, "small/00001234"),
        )
        .send()
        .await;
    assert_eq!(copy.status, 200, "{}", copy.text);
    let copied = c.obj("HEAD", GZ_BUCKET, GZ, "copied").send().await;
    assert_eq!(copied.header("etag"), head.header("etag"));
    assert_eq!(
        copied.header("x-cos-hash-crc64ecma"),
        head.header("x-cos-hash-crc64ecma")
    );
}
