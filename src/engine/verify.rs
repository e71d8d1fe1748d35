//! Verification after Complete: the destination's size equals the source's, and CRC64 equal
//! where both sides have one. Says which checks were made.
//!
//! Pure comparison; the HEAD of the destination is done by the job runner.

use super::Verification;

/// Compares the source's size and CRC64 with the destination's.
pub fn compare(
    source_size: u64,
    source_crc64: Option<u64>,
    dest_size: u64,
    dest_crc64: Option<u64>,
) -> Verification {
    Verification {
        size_matched: source_size == dest_size,
        crc64_matched: match (source_crc64, dest_crc64) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        },
        skipped: false,
    }
}

/// True when every check that was made passed.
pub fn passed(v: &Verification) -> bool {
    v.skipped || (v.size_matched && v.crc64_matched != Some(false))
}

/// One line saying what was checked: "size and CRC64 verified", "size verified (no CRC64)".
pub fn describe(v: &Verification) -> String {
    if v.skipped {
        return "not verified (--no-verify)".into();
    }
    match (v.size_matched, v.crc64_matched) {
        (true, Some(true)) => "size and CRC64 verified".into(),
        (true, None) => "size verified (CRC64 not available on both sides)".into(),
        (true, Some(false)) => "CRC64 MISMATCH (size matched)".into(),
        (false, _) => "SIZE MISMATCH".into(),
    }
}

impl Verification {
    pub fn skipped() -> Self {
        Verification {
            size_matched: false,
            crc64_matched: None,
            skipped: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_reported_individually() {
        let v = compare(10, Some(1), 10, Some(1));
        assert!(passed(&v));
        assert_eq!(describe(&v), "size and CRC64 verified");
        let v = compare(10, None, 10, Some(1));
        assert_eq!(v.crc64_matched, None);
        assert!(passed(&v));
        assert!(!passed(&compare(10, Some(1), 10, Some(2))));
        assert!(!passed(&compare(10, None, 11, None)));
        assert!(passed(&Verification::skipped()));
    }
}
