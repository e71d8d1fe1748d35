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
    source_crc64: Option<u64>,
    dest_etag: &str,
    dest_crc64: Option<u64>,
) -> Verification {
    Verification {
        size_matched: true,
        crc64_matched: match (source_crc64, dest_crc64) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        },
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
