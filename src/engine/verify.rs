//! Verification after Complete: the destination's size equals the source's, and a full-object
//! checksum equal where both sides carry one of the same algorithm (COS's CRC-64/XZ, S3's
//! CRC-64/NVME; never one against the other). Says which checks were made.
//!
//! Pure comparison; the HEAD of the destination is done by the job runner.

use super::Verification;
use crate::store::{CompleteResult, CopyResult, ObjectMeta};

/// The full-object checksums one side carries, one field per algorithm, so only like is
/// compared with like: COS's CRC-64/XZ and S3's CRC-64/NVME are different polynomials over
/// the same bytes and never meet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksums {
    /// COS's `x-cos-hash-crc64ecma` (CRC-64/XZ).
    pub crc64: Option<u64>,
    /// S3's full-object `x-amz-checksum-crc64nvme`.
    pub crc64nvme: Option<u64>,
}

impl Checksums {
    pub fn of_meta(m: &ObjectMeta) -> Self {
        Checksums {
            crc64: m.crc64,
            crc64nvme: m.crc64nvme,
        }
    }
    pub fn of_copy(r: &CopyResult) -> Self {
        Checksums {
            crc64: r.crc64,
            crc64nvme: r.crc64nvme,
        }
    }
    pub fn of_complete(r: &CompleteResult) -> Self {
        Checksums {
            crc64: r.crc64,
            crc64nvme: r.crc64nvme,
        }
    }

    /// Each algorithm from `self`, else from `other`.
    pub fn or(self, other: Checksums) -> Checksums {
        Checksums {
            crc64: self.crc64.or(other.crc64),
            crc64nvme: self.crc64nvme.or(other.crc64nvme),
        }
    }

    /// `Some(false)` when an algorithm both sides carry differs, `Some(true)` when one matches
    /// and none differs, `None` when they share no algorithm.
    pub fn matched(self, other: Checksums) -> Option<bool> {
        let same = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| a == b);
        match (
            same(self.crc64, other.crc64),
            same(self.crc64nvme, other.crc64nvme),
        ) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (None, None) => None,
            _ => Some(true),
        }
    }
}

/// Compares the source's size and checksums with the destination's.
pub fn compare(
    source_size: u64,
    source: Checksums,
    dest_size: u64,
    dest: Checksums,
) -> Verification {
    Verification {
        size_matched: source_size == dest_size,
        crc64_matched: source.matched(dest),
        etag_matched: None,
        skipped: false,
    }
}

/// True for an ETag that is the MD5 of the content (a simple upload), which a simple copy keeps;
/// a multipart ETag (`<hex>-<N>`) says nothing about the bytes of a copy.
pub fn is_content_md5(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Verification of a PUT Object - Copy from what its response carries, with no request more:
/// the source was pinned by `If-Match` to the listed ETag and size, and the copy is atomic, so
/// the size holds; the destination ETag must equal a content-MD5 source ETag, and the CRC64 the
/// source's when it is known (from a HEAD).
pub fn from_copy_result(
    source_etag: &str,
    source: Checksums,
    dest_etag: &str,
    dest: Checksums,
) -> Verification {
    Verification {
        size_matched: true,
        crc64_matched: source.matched(dest),
        etag_matched: is_content_md5(source_etag).then(|| source_etag == dest_etag),
        skipped: false,
    }
}

/// True when every check that was made passed.
pub fn passed(v: &Verification) -> bool {
    v.skipped || (v.size_matched && v.crc64_matched != Some(false) && v.etag_matched != Some(false))
}

/// One line saying what was checked: "size and CRC64 verified", "size verified (no CRC64)".
pub fn describe(v: &Verification) -> String {
    if v.skipped {
        return "not verified (--no-verify)".into();
    }
    if v.etag_matched == Some(false) {
        return "ETAG MISMATCH (the copy's MD5 differs from the source's)".into();
    }
    match (v.size_matched, v.crc64_matched) {
        (true, Some(true)) => "size and CRC64 verified".into(),
        (true, None) if v.etag_matched == Some(true) => "size and MD5 ETag verified".into(),
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
            etag_matched: None,
            skipped: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xz(v: Option<u64>) -> Checksums {
        Checksums {
            crc64: v,
            crc64nvme: None,
        }
    }

    fn nvme(v: Option<u64>) -> Checksums {
        Checksums {
            crc64: None,
            crc64nvme: v,
        }
    }

    #[test]
    fn checks_are_reported_individually() {
        let v = compare(10, xz(Some(1)), 10, xz(Some(1)));
        assert!(passed(&v));
        assert_eq!(describe(&v), "size and CRC64 verified");
        let v = compare(10, xz(None), 10, xz(Some(1)));
        assert_eq!(v.crc64_matched, None);
        assert!(passed(&v));
        assert!(!passed(&compare(10, xz(Some(1)), 10, xz(Some(2)))));
        assert!(!passed(&compare(10, xz(None), 11, xz(None))));
        assert!(passed(&Verification::skipped()));
    }

    #[test]
    fn only_checksums_of_one_algorithm_are_compared() {
        // S3's CRC-64/NVME against S3's: compared both ways.
        assert_eq!(nvme(Some(7)).matched(nvme(Some(7))), Some(true));
        assert_eq!(nvme(Some(7)).matched(nvme(Some(8))), Some(false));
        // The same number under two algorithms says nothing: never compared.
        assert_eq!(xz(Some(7)).matched(nvme(Some(7))), None);
        assert_eq!(xz(Some(7)).matched(nvme(Some(8))), None);
        let v = compare(10, xz(Some(7)), 10, nvme(Some(8)));
        assert!(passed(&v) && v.crc64_matched.is_none(), "{v:?}");
        // Both algorithms known: any difference fails.
        let both = Checksums {
            crc64: Some(1),
            crc64nvme: Some(2),
        };
        assert_eq!(both.matched(xz(Some(1)).or(nvme(Some(3)))), Some(false));
        assert_eq!(both.matched(xz(Some(1))), Some(true));
        // An S3 copy verified from its CopyObject answer.
        let v = from_copy_result(
            "0123456789abcdef0123456789abcdef",
            nvme(Some(9)),
            "0123456789abcdef0123456789abcdef",
            nvme(Some(9)),
        );
        assert_eq!((v.crc64_matched, v.etag_matched), (Some(true), Some(true)));
    }
}
