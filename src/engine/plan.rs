//! Planning a copy: single PUT Object - Copy or multipart, part size and count, byte ranges,
//! and the headers the destination inherits from the source.
//!
//! Pure: no I/O, no clock. Every COS limit the engine respects is a constant here.

use crate::store::{ByteRange, ObjectHeaders, ObjectMeta};

use super::{PartSize, Strategy};

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;
/// Smallest part COS accepts (except the last one).
pub const MIN_PART_SIZE: u64 = MIB;
/// Largest part COS accepts.
pub const MAX_PART_SIZE: u64 = 5 * GIB;
/// Most parts in one upload.
pub const MAX_PARTS: u64 = 10_000;
/// Largest object PUT Object - Copy may copy (across regions it refuses anything bigger).
pub const MAX_SINGLE_COPY: u64 = 5 * GIB;
/// Largest object COS stores: 10,000 parts of 5 GiB (48.82 TiB, "50,000 GB").
pub const MAX_OBJECT_SIZE: u64 = MAX_PART_SIZE * MAX_PARTS;
/// Default single-copy threshold: at or below it, one PUT Object - Copy.
pub const DEFAULT_SINGLE_COPY_THRESHOLD: u64 = 64 * MIB;
/// The auto part size never goes below this (per-request latency would dominate)…
pub const AUTO_MIN_PART: u64 = 8 * MIB;
/// …nor above COS's own part limit: bigger parts mean fewer waves, and each wave costs a latency.
pub const AUTO_MAX_PART: u64 = MAX_PART_SIZE;

pub use crate::store::STORAGE_CLASSES;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the object is {size} bytes, larger than COS's maximum of {MAX_OBJECT_SIZE} bytes (48.82 TB)")]
    TooLarge { size: u64 },
    #[error("part size {0} bytes is below COS's minimum of 1 MiB: use --part-size 1MiB or more, or auto")]
    PartTooSmall(u64),
    #[error("part size {0} bytes is above COS's maximum of 5 GiB: use --part-size 5GiB or less, or auto")]
    PartTooLarge(u64),
    #[error("part size {part_size} bytes would split this {size}-byte object into {parts} parts, more than COS's 10,000: use a part size of at least {min} bytes, or auto")]
    TooManyParts {
        size: u64,
        part_size: u64,
        parts: u64,
        min: u64,
    },
    #[error("unknown storage class {0:?}: use one of STANDARD, STANDARD_IA, ARCHIVE, DEEP_ARCHIVE, INTELLIGENT_TIERING, MAZ_STANDARD, MAZ_STANDARD_IA, MAZ_INTELLIGENT_TIERING")]
    UnknownStorageClass(String),
}

/// Checks a user part size on its own (1 MiB ..= 5 GiB).
pub fn check_part_size(part_size: u64) -> Result<u64, PlanError> {
    if part_size < MIN_PART_SIZE {
        return Err(PlanError::PartTooSmall(part_size));
    }
    if part_size > MAX_PART_SIZE {
        return Err(PlanError::PartTooLarge(part_size));
    }
    Ok(part_size)
}

/// Normalises a storage class name (case-insensitive) or says which ones exist.
pub fn check_storage_class(name: &str) -> Result<String, PlanError> {
    let upper = name.trim().to_ascii_uppercase();
    if STORAGE_CLASSES.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(PlanError::UnknownStorageClass(name.to_string()))
    }
}

fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

/// The smallest MiB-rounded part size that keeps `size` within 10,000 parts.
pub fn min_part_size(size: u64) -> u64 {
    round_up(size.div_ceil(MAX_PARTS).max(1), MIB).max(MIN_PART_SIZE)
}

/// The automatic part size: the fewest *full* waves of `concurrency` parts, each part at most
/// `AUTO_MAX_PART` and at least 8 MiB, rounded up to a MiB; raised as needed to stay within
/// 10,000 parts (at most 5 GiB for objects up to 48.82 TB).
///
/// Why: every wave costs at least one request latency whatever its parts' size, Complete costs
/// a little per part, and a half-empty last wave wastes most of a wave. `cargo bench --bench
/// copy -- auto` (benches/README.md) measured this rule at the best fixed part size (ratio
/// 1.000) for 1 GiB, 100 GiB and 10 TiB objects; capping parts at 2 GiB instead measured 1.01,
/// 1.03 and 1.04–1.07, and the earlier rule (4 waves of ≤ 1 GiB parts) 1.68, 1.18 and 1.11.
pub fn auto_part_size(size: u64, concurrency: usize) -> u64 {
    let c = concurrency.max(1) as u64;
    let floor = min_part_size(size).max(AUTO_MIN_PART);
    let cap = AUTO_MAX_PART.max(floor);
    let waves = size.div_ceil(c.saturating_mul(cap)).max(1);
    round_up(size.div_ceil(c.saturating_mul(waves)).max(1), MIB).clamp(floor, MAX_PART_SIZE)
}

/// Single copy at or below `threshold` (never above 5 GiB), multipart above.
pub fn choose_strategy(
    size: u64,
    part_size: PartSize,
    threshold: u64,
    concurrency: usize,
) -> Result<Strategy, PlanError> {
    let part_size_choice = part_size;
    if size > MAX_OBJECT_SIZE {
        return Err(PlanError::TooLarge { size });
    }
    if size <= threshold.min(MAX_SINGLE_COPY) {
        return Ok(Strategy::Single);
    }
    let part_size = match part_size {
        PartSize::Auto => auto_part_size(size, concurrency),
        PartSize::Fixed(p) => {
            let p = check_part_size(p)?;
            let parts = size.div_ceil(p);
            if parts > MAX_PARTS {
                return Err(PlanError::TooManyParts {
                    size,
                    part_size: p,
                    parts,
                    min: min_part_size(size),
                });
            }
            p
        }
    };
    let ramp = match part_size_choice {
        PartSize::Auto => ramp_for(size, part_size, concurrency),
        PartSize::Fixed(_) => Ramp::NONE,
    };
    Ok(Strategy::Multipart {
        part_size,
        parts: part_count(size, part_size, ramp),
        ramp,
    })
}

/// The first part of a ramp. A large auto-sized copy starts with a few small parts — 64 MiB,
/// 128 MiB, … doubling below the part size — so its first bytes are done within a second or two
/// even when a full part takes a minute. Each ramp part is the head of a full part, split in
/// two: parts stay in byte order (Complete joins them by number), and `dispatch_order` sends the
/// heads first and each rest right after the first wave, so the request slot that finishes a
/// head takes its rest next: every slot still copies one full part's bytes in the first wave,
/// and the copy takes no longer.
pub const RAMP_FIRST: u64 = 64 * MIB;

/// How the first parts are split: `parts` full parts split into head and rest (0: none), for a
/// first wave of `lead` requests (the limit the plan was made for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Ramp {
    pub parts: u32,
    pub lead: u32,
}

impl Ramp {
    pub const NONE: Ramp = Ramp { parts: 0, lead: 0 };
}

/// The ramp for a part size and request limit: one split per doubling of `RAMP_FIRST` below the
/// part size (leaving at least 1 MiB of rest); none for parts under 4 × `RAMP_FIRST`, or when
/// the object has no full part after them, or 10,000 parts would be passed.
pub fn ramp_for(size: u64, part_size: u64, concurrency: usize) -> Ramp {
    if part_size < 4 * RAMP_FIRST {
        return Ramp::NONE;
    }
    let grid = size / part_size;
    let mut k = 0u32;
    while (RAMP_FIRST << k) + MIN_PART_SIZE <= part_size {
        k += 1;
    }
    let lead = (concurrency.max(1) as u64).min(size.div_ceil(part_size));
    let k = (k as u64)
        .min(lead)
        .min(grid)
        .min(MAX_PARTS.saturating_sub(size.div_ceil(part_size)));
    Ramp {
        parts: k as u32,
        lead: if k == 0 { 0 } else { lead as u32 },
    }
}

/// Parts of an object of `size` bytes in parts of `part_size` with `ramp`.
pub fn part_count(size: u64, part_size: u64, ramp: Ramp) -> u32 {
    (size.div_ceil(part_size.max(1)) + ramp.parts as u64) as u32
}

/// The byte range of part `number` (1-based), parts in byte order. With a ramp of k, parts
/// 1..=2k are the heads and rests of full parts 1..=k (odd: head of `RAMP_FIRST` × 2^(i−1),
/// even: the rest), then full parts of `part_size`.
pub fn part_range(size: u64, part_size: u64, ramp: Ramp, number: u32) -> ByteRange {
    let n = number.max(1) as u64;
    let k = ramp.parts as u64;
    let (first, len) = if n <= 2 * k {
        let i = n.div_ceil(2);
        let head = RAMP_FIRST << (i - 1);
        if n % 2 == 1 {
            ((i - 1) * part_size, head)
        } else {
            ((i - 1) * part_size + head, part_size - head)
        }
    } else {
        ((n - k - 1) * part_size, part_size)
    };
    let last = first.saturating_add(len).min(size).max(first + 1) - 1;
    ByteRange { first, last }
}

/// The order parts are sent in: with a ramp, the heads, then full parts to fill the first wave
/// of `lead` requests, then the rests (each taken by the slot whose head finished first), then
/// the other full parts; without one, by number.
pub fn dispatch_order(parts: u32, ramp: Ramp) -> Vec<u32> {
    let k = ramp.parts.min(parts / 2);
    if k == 0 {
        return (1..=parts).collect();
    }
    let fill_end = (2 * k + ramp.lead.saturating_sub(k)).min(parts);
    let mut order: Vec<u32> = (1..=k).map(|i| 2 * i - 1).collect();
    order.extend(2 * k + 1..=fill_end);
    order.extend((1..=k).map(|i| 2 * i));
    order.extend(fill_end + 1..=parts);
    order
}

/// What the destination gets: the source's content headers and `x-cos-meta-*`, and its
/// storage class unless `storage_class` overrides it.
pub fn destination_headers(source: &ObjectMeta, storage_class: Option<&str>) -> ObjectHeaders {
    let mut h = source.headers.clone();
    h.storage_class = Some(
        storage_class
            .map(str::to_string)
            .unwrap_or_else(|| source.storage_class.clone()),
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (part size, parts on the grid: the ramp's extra heads not counted).
    fn multipart(s: Strategy) -> (u64, u32) {
        match s {
            Strategy::Multipart {
                part_size,
                parts,
                ramp,
            } => (part_size, parts - ramp.parts),
            Strategy::Single => panic!("expected multipart"),
        }
    }

    const T: u64 = DEFAULT_SINGLE_COPY_THRESHOLD;

    #[test]
    fn zero_byte_object_is_a_single_copy() {
        assert_eq!(
            choose_strategy(0, PartSize::Auto, T, 16),
            Ok(Strategy::Single)
        );
    }

    #[test]
    fn threshold_is_inclusive() {
        assert_eq!(
            choose_strategy(T, PartSize::Auto, T, 16),
            Ok(Strategy::Single)
        );
        let (ps, n) = multipart(choose_strategy(T + 1, PartSize::Auto, T, 16).unwrap());
        assert_eq!(ps, AUTO_MIN_PART);
        assert_eq!(n, 9);
    }

    #[test]
    fn never_a_single_copy_above_5_gib_whatever_the_threshold() {
        let huge = u64::MAX;
        assert_eq!(
            choose_strategy(5 * GIB, PartSize::Auto, huge, 16),
            Ok(Strategy::Single)
        );
        let (ps, n) = multipart(choose_strategy(5 * GIB + 1, PartSize::Auto, huge, 16).unwrap());
        assert!(ps * n as u64 > 5 * GIB);
        assert_eq!(n as u64, (5 * GIB + 1).div_ceil(ps));
        let (_, n) = multipart(choose_strategy(5 * GIB - 1, PartSize::Auto, T, 16).unwrap());
        assert_eq!(
            n, 16,
            "5 GiB over 16-way concurrency: one full wave of 320 MiB parts"
        );
    }

    #[test]
    fn largest_object_uses_5_gib_parts_and_10000_parts() {
        let (ps, n) = multipart(choose_strategy(MAX_OBJECT_SIZE, PartSize::Auto, T, 32).unwrap());
        assert_eq!((ps, n), (5 * GIB, 10_000));
        assert_eq!(
            choose_strategy(MAX_OBJECT_SIZE + 1, PartSize::Auto, T, 32),
            Err(PlanError::TooLarge {
                size: MAX_OBJECT_SIZE + 1
            })
        );
        // 48.82 TB as COS writes it (decimal) is within the limit too.
        let size = 48_820_000_000_000;
        let (ps, n) = multipart(choose_strategy(size, PartSize::Auto, T, 32).unwrap());
        assert!(n as u64 <= MAX_PARTS && ps <= MAX_PART_SIZE && ps.is_multiple_of(MIB));
    }

    #[test]
    fn auto_part_size_uses_the_fewest_full_waves_within_limits() {
        for size in [T + 1, GIB, 100 * GIB, 1 << 40, 20 << 40, MAX_OBJECT_SIZE] {
            for c in [1, 4, 16, 64, 256] {
                let ps = auto_part_size(size, c);
                let parts = size.div_ceil(ps);
                assert!(ps.is_multiple_of(MIB) && (MIN_PART_SIZE..=MAX_PART_SIZE).contains(&ps));
                assert!(parts <= MAX_PARTS, "{size} {c}: {parts} parts");
                assert!(ps >= AUTO_MIN_PART, "{size} {c}: {ps}");
                if ps > AUTO_MAX_PART {
                    assert_eq!(
                        ps,
                        min_part_size(size),
                        "only the part limit goes above the cap"
                    );
                }
                // No fewer waves are possible with parts within the cap…
                let cap = AUTO_MAX_PART.max(min_part_size(size));
                let fewest = size.div_ceil(c as u64 * cap).max(1);
                let waves = parts.div_ceil(c as u64);
                if ps > AUTO_MIN_PART {
                    assert_eq!(waves, fewest, "{size} {c}: {parts} parts of {ps}");
                }
            }
        }
        // …and the waves are full: one wave for 1 GiB, two of 3.12 GiB parts for 100 GiB.
        assert_eq!(auto_part_size(GIB, 16), 64 * MIB);
        assert_eq!(auto_part_size(100 * GIB, 16), 3200 * MIB);
        assert_eq!(
            auto_part_size(10 << 40, 16),
            5 * GIB,
            "10 TiB: 128 full waves of 5 GiB"
        );
        assert_eq!(
            auto_part_size(1 << 40, 16),
            5042 * MIB,
            "1 TiB: 13 full waves of 4.92 GiB"
        );
    }

    #[test]
    fn user_part_sizes_are_checked() {
        assert_eq!(
            check_part_size(MIB - 1),
            Err(PlanError::PartTooSmall(MIB - 1))
        );
        assert_eq!(check_part_size(MIB), Ok(MIB));
        assert_eq!(check_part_size(5 * GIB), Ok(5 * GIB));
        assert!(matches!(
            check_part_size(5 * GIB + 1),
            Err(PlanError::PartTooLarge(_))
        ));
        // 10,000 parts exactly is fine, 10,001 is not.
        let ok = choose_strategy(10_000 * MIB, PartSize::Fixed(MIB), T, 16).unwrap();
        assert_eq!(multipart(ok), (MIB, 10_000));
        let err = choose_strategy(10_000 * MIB + 1, PartSize::Fixed(MIB), T, 16).unwrap_err();
        assert!(
            matches!(err, PlanError::TooManyParts { parts: 10_001, min, .. } if min == 2 * MIB)
        );
        assert!(err.to_string().contains("10,000"), "{err}");
    }

    #[test]
    fn part_ranges_cover_the_object_exactly() {
        let size = 10 * MIB + 5;
        let (ps, n) = multipart(choose_strategy(size, PartSize::Fixed(MIB), 0, 4).unwrap());
        assert_eq!(n, 11);
        let mut next = 0;
        for i in 1..=n {
            let r = part_range(size, ps, Ramp::NONE, i);
            assert_eq!(r.first, next);
            next = r.last + 1;
        }
        assert_eq!(next, size);
        assert_eq!(part_range(size, ps, Ramp::NONE, n).len(), 5);
    }

    #[test]
    fn a_large_auto_copy_ramps_up_and_its_parts_still_cover_it_exactly() {
        let size = 12_000_000_000_000; // the demo's 10.9 TiB object
        let s = choose_strategy(size, PartSize::Auto, T, 64).unwrap();
        let Strategy::Multipart {
            part_size,
            parts,
            ramp,
        } = s
        else {
            panic!("{s:?}")
        };
        assert!(part_size > 4 * GIB && part_size <= MAX_PART_SIZE);
        assert_eq!(ramp, Ramp { parts: 7, lead: 64 }, "64 MiB … 4 GiB");
        assert_eq!(parts as u64, size.div_ceil(part_size) + 7);
        assert_eq!(part_range(size, part_size, ramp, 1).len(), RAMP_FIRST);
        assert_eq!(part_range(size, part_size, ramp, 13).len(), 4 * GIB);
        assert_eq!(part_range(size, part_size, ramp, 15).len(), part_size);
        // Parts are in byte order and tile the object exactly once (Complete joins by number).
        let mut next = 0;
        for i in 1..=parts {
            let r = part_range(size, part_size, ramp, i);
            assert_eq!(r.first, next, "part {i}");
            assert!(r.len() >= MIN_PART_SIZE || i == parts);
            next = r.last + 1;
        }
        assert_eq!(next, size);
        assert!(parts as u64 <= MAX_PARTS);
        // Heads go first, the first wave is filled, then each rest follows its head's slot.
        let order = dispatch_order(parts, ramp);
        assert_eq!(&order[..7], &[1, 3, 5, 7, 9, 11, 13]);
        assert_eq!(&order[7..64], &(15..=71).collect::<Vec<_>>()[..]);
        assert_eq!(&order[64..71], &[2, 4, 6, 8, 10, 12, 14]);
        assert_eq!(order[71], 72);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=parts).collect::<Vec<_>>(), "every part once");
        // One wave (64 GiB at 64 requests: 1 GiB parts): 4 heads split off, 64 slots' worth.
        let one = choose_strategy(64 * GIB, PartSize::Auto, T, 64).unwrap();
        assert!(
            matches!(
                one,
                Strategy::Multipart {
                    parts: 68,
                    ramp: Ramp { parts: 4, lead: 64 },
                    ..
                }
            ),
            "{one:?}"
        );
        // A fixed part size is the user's: no ramp. Small parts need none.
        let fixed = choose_strategy(size, PartSize::Fixed(2 * GIB), T, 64).unwrap();
        assert!(matches!(
            fixed,
            Strategy::Multipart {
                ramp: Ramp::NONE,
                ..
            }
        ));
        assert_eq!(ramp_for(GIB, 32 * MIB, 16), Ramp::NONE);
        assert_eq!(dispatch_order(5, Ramp::NONE), vec![1, 2, 3, 4, 5]);
        // The largest object keeps 10,000 parts of 5 GiB: a ramp would not fit.
        assert_eq!(ramp_for(MAX_OBJECT_SIZE, MAX_PART_SIZE, 64), Ramp::NONE);
    }

    #[test]
    fn storage_classes_are_checked_case_insensitively() {
        assert_eq!(check_storage_class("standard_ia").unwrap(), "STANDARD_IA");
        assert!(check_storage_class("GLACIER").is_err());
    }

    #[test]
    fn destination_inherits_headers_and_storage_class() {
        let mut meta = ObjectMeta {
            size: 1,
            etag: "e".into(),
            last_modified: None,
            crc64: None,
            crc64nvme: None,
            storage_class: "STANDARD_IA".into(),
            headers: ObjectHeaders::default(),
        };
        meta.headers.content_type = Some("text/plain".into());
        meta.headers.meta.insert("a".into(), "b".into());
        let h = destination_headers(&meta, None);
        assert_eq!(h.storage_class.as_deref(), Some("STANDARD_IA"));
        assert_eq!(h.content_type.as_deref(), Some("text/plain"));
        assert_eq!(h.meta.get("a").map(String::as_str), Some("b"));
        let h = destination_headers(&meta, Some("ARCHIVE"));
        assert_eq!(h.storage_class.as_deref(), Some("ARCHIVE"));
    }
}
