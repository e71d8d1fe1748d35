//! Seeded, reproducible fault injection (`--fault-rate`, `--faults`, `--seed`).
//!
//! A fault replaces the operation: it is decided before anything is applied, so retrying a
//! faulted request is always safe. The decision hashes the seed with what the request is
//! (operation, bucket, key, part) and how many times that same request was seen, so a run is
//! reproducible even when requests interleave differently.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 503 SlowDown.
    SlowDown,
    /// 500 InternalError.
    Internal,
    /// Drop the connection without an answer.
    Reset,
    /// 200 whose body is an `<Error>` (part copies and Complete only).
    Error200,
    /// Stall long enough for the client's timeout to fire, then answer 503.
    Timeout,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::SlowDown => "slowdown",
            Fault::Internal => "internal",
            Fault::Reset => "reset",
            Fault::Error200 => "error200",
            Fault::Timeout => "timeout",
        }
    }

    pub fn parse(s: &str) -> Option<Fault> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "slowdown" => Fault::SlowDown,
            "internal" => Fault::Internal,
            "reset" => Fault::Reset,
            "error200" => Fault::Error200,
            "timeout" => Fault::Timeout,
            _ => return None,
        })
    }

    pub const ALL: [Fault; 5] = [
        Fault::SlowDown,
        Fault::Internal,
        Fault::Reset,
        Fault::Error200,
        Fault::Timeout,
    ];
}

/// SplitMix64-style mixing of a few words into one.
pub fn mix(words: &[u64]) -> u64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
    for &w in words {
        h ^= w;
        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h = z ^ (z >> 31);
    }
    h
}

pub fn hash_str(s: &str) -> u64 {
    let mut words: Vec<u64> = s
        .as_bytes()
        .chunks(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect();
    words.push(s.len() as u64);
    mix(&words)
}

pub struct Faults {
    rate: f64,
    kinds: Vec<Fault>,
    seed: u64,
    seen: Mutex<HashMap<u64, u64>>,
}

impl Faults {
    pub fn new(rate: f64, kinds: Vec<Fault>, seed: u64) -> Self {
        Faults {
            rate: rate.clamp(0.0, 1.0),
            kinds: if kinds.is_empty() {
                Fault::ALL.to_vec()
            } else {
                kinds
            },
            seed,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Decides whether this request fails, and how. `error200_ok` says whether a 200-with-Error
    /// is a possible answer for this operation.
    pub fn decide(&self, identity: &str, error200_ok: bool) -> Option<Fault> {
        if self.rate <= 0.0 {
            return None;
        }
        let id = hash_str(identity);
        let nth = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let n = seen.entry(id).or_insert(0);
            *n += 1;
            *n
        };
        let roll = mix(&[self.seed, id, nth]);
        let unit = (roll >> 11) as f64 / (1u64 << 53) as f64;
        if unit >= self.rate {
            return None;
        }
        let usable: Vec<Fault> = self
            .kinds
            .iter()
            .copied()
            .filter(|k| error200_ok || *k != Fault::Error200)
            .collect();
        if usable.is_empty() {
            return None;
        }
        let pick = mix(&[roll, 0x6b696e64]) % usable.len() as u64;
        Some(usable[pick as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults_and_rate_is_roughly_kept() {
        let run = |seed| {
            let f = Faults::new(0.3, vec![], seed);
            (0..400)
                .map(|i| f.decide(&format!("UploadPartCopy b k {}", i % 40), true))
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        let n = a.iter().filter(|f| f.is_some()).count();
        assert!((80..160).contains(&n), "{n} faults of 400 at rate 0.3");
    }

    #[test]
    fn error200_only_where_allowed() {
        let f = Faults::new(1.0, vec![Fault::Error200], 1);
        assert_eq!(f.decide("HeadObject", false), None);
        assert_eq!(f.decide("UploadPartCopy", true), Some(Fault::Error200));
    }
}
