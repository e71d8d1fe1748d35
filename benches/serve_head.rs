//! How fast the local server answers: HEAD requests per second from one client process over
//! 16 concurrent connections for ~3 s, and the latency of HEAD on a 40 TB synthetic object
//! (CRC64 included). Prints figures; only checks that the requests succeed.
//!
//! Run: `cargo bench --bench serve_head`

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

fn main() {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(run());
}

async fn run() {
    let s = start_server(args(&[
        "--object",
        "cos://alpha-1250000000/small.bin=4KiB",
        "--object",
        "cos://alpha-1250000000/huge.bin=40TB",
    ]))
    .await;
    let c = Cos::new(&s);

    let mut lat = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let r = c.obj("HEAD", GZ_BUCKET, GZ, "huge.bin").send().await;
        lat.push(t.elapsed());
        assert_eq!(r.status, 200);
    }
    lat.sort();
    println!(
        "HEAD 40 TB synthetic object: median {:?}, max {:?} (20 requests, CRC64 {})",
        lat[lat.len() / 2],
        lat[lat.len() - 1],
        c.obj("HEAD", GZ_BUCKET, GZ, "huge.bin")
            .send()
            .await
            .header("x-cos-hash-crc64ecma")
            .unwrap_or("-")
    );

    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(3);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        // One client per worker: 16 separate keep-alive connections.
        let mut c = Cos::new(&s);
        c.http = reqwest::Client::new();
        let done = done.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let r = c.obj("HEAD", GZ_BUCKET, GZ, "small.bin").send().await;
                if r.status == 200 {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "HEAD small object, 16 connections, {secs:.1} s: {n} ok, {} errors, {:.0} requests/s",
        errors.load(Ordering::Relaxed),
        n as f64 / secs
    );
    s.shutdown().await;
}
