//! Figures for `server::content`: CRC-64 of a 40 TB synthetic object, a 10,000-part copy
//! (slice + concat with CRC) of it, and synthetic read throughput.
//!
//! Prints figures, asserts nothing about time. Run with `cargo bench --bench content`
//! (release profile) or `cargo run --bench content`-style via `cargo bench --profile dev`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use haul::crc64;
use haul::server::content::Content;

const TB: u64 = 1_000_000_000_000;
const MIB: usize = 1024 * 1024;

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let out = f();
    (out, started.elapsed())
}

fn main() {
    let len = 40 * TB;

    let (object, cold) = time(|| Content::synthetic(1, len));
    let (_, warm) = time(|| black_box(Content::synthetic(2, len)));
    let (crc, cached) = time(|| black_box(&object).crc64());
    println!("crc64 of 40 TB synthetic: cold {cold:?} (includes building power tables), warm {warm:?} (new object), cached {cached:?} (crc {crc:016x})");

    let part = len.div_ceil(10_000);
    let (parts, sliced) = time(|| {
        (0..10_000u64)
            .map(|i| {
                object
                    .slice(i * part, ((i + 1) * part - 1).min(len - 1))
                    .expect("synthetic")
            })
            .collect::<Vec<_>>()
    });
    let (joined, concat) = time(|| Content::concat(&parts));
    assert_eq!(
        joined.crc64(),
        crc,
        "concat of the parts must give the object's CRC"
    );
    println!(
        "10,000-part copy of 40 TB: slice {sliced:?} ({:?}/part), concat+CRC {concat:?}",
        sliced / 10_000
    );

    // Shuffled parts cannot merge, so concat does 10,000 real CRC combines.
    let mut shuffled = parts.clone();
    shuffled.reverse();
    let (rev, concat_rev) = time(|| Content::concat(&shuffled));
    println!(
        "concat of 10,000 non-adjacent parts: {concat_rev:?} ({} extents)",
        rev.extents().len()
    );

    for (label, first) in [("aligned", 0u64), ("unaligned", 3)] {
        let n = 64 * MIB;
        let (bytes, took) = time(|| object.read(first + 20 * TB, n).expect("synthetic"));
        println!(
            "synthetic read 64 MiB {label}: {took:?} ({:.0} MiB/s)",
            64.0 / took.as_secs_f64()
        );
        black_box(bytes);
    }
    let (streamed, took) = time(|| {
        object
            .chunks(TB, TB + 256 * MIB as u64 - 1, MIB)
            .map(|c| c.map_or(0, |c| c.len()))
            .sum::<usize>()
    });
    println!(
        "synthetic chunks 256 MiB in 1 MiB chunks: {took:?} ({:.0} MiB/s)",
        (streamed / MIB) as f64 / took.as_secs_f64()
    );

    let real = Content::from_bytes(object.read(0, 64 * MIB).expect("synthetic"));
    let (_, took) = time(|| crc64::checksum(&real.read(0, 64 * MIB).expect("in memory")));
    println!(
        "table CRC-64 of 64 MiB real bytes, for comparison: {took:?} ({:.0} MiB/s)",
        64.0 / took.as_secs_f64()
    );
}
