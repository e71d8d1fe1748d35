//! S3's additional checksums of a request body (`x-amz-checksum-crc32`, `-crc32c`, `-sha1`,
//! `-sha256`, base64 of the big-endian digest): which ones a request promises, in headers or
//! as `aws-chunked` trailers (`x-amz-trailer`), and the running digests that check them.
//! `x-amz-checksum-crc64nvme` is recognised and left unchecked (no maintained crate computes
//! it here); that limit is in the README.
//!
//! Pure: no I/O. `service::body` feeds the body through and compares at its end.

use base64::Engine as _;
use sha1::Digest as _;

/// A checksum algorithm haul serve verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Crc32,
    Crc32c,
    Sha1,
    Sha256,
}

const ALL: [Algorithm; 4] = [
    Algorithm::Crc32,
    Algorithm::Crc32c,
    Algorithm::Sha1,
    Algorithm::Sha256,
];

impl Algorithm {
    /// The header (and trailer) that carries it.
    pub fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// As S3's error messages name it.
    pub fn label(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    pub fn from_header(name: &str) -> Option<Algorithm> {
        ALL.into_iter()
            .find(|a| a.header().eq_ignore_ascii_case(name.trim()))
    }
}

/// One promised checksum: its algorithm, the value from the header (`None`: it comes as a
/// trailer), and the digest of the body so far.
#[derive(Debug)]
pub struct Check {
    pub algorithm: Algorithm,
    pub promised: Option<String>,
    state: State,
}

#[derive(Debug)]
enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Check {
    pub fn new(algorithm: Algorithm, promised: Option<String>) -> Self {
        let state = match algorithm {
            Algorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            Algorithm::Crc32c => State::Crc32c(0),
            Algorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
        };
        Check {
            algorithm,
            promised,
            state,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32(h) => h.update(data),
            State::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
        }
    }

    /// The checksum of everything fed, as the header spells it.
    pub fn value(&self) -> String {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        match &self.state {
            State::Crc32(h) => b64(&h.clone().finalize().to_be_bytes()),
            State::Crc32c(c) => b64(&c.to_be_bytes()),
            State::Sha1(h) => b64(&h.clone().finalize()),
            State::Sha256(h) => b64(&h.clone().finalize()),
        }
    }
}

/// The checksums a request promises: `x-amz-checksum-*` headers with their values, and the
/// ones `x-amz-trailer` says follow the body.
pub fn promised(header: impl Fn(&str) -> Option<String>) -> Vec<Check> {
    let mut checks: Vec<Check> = ALL
        .into_iter()
        .filter_map(|a| header(a.header()).map(|v| Check::new(a, Some(v.trim().to_string()))))
        .collect();
    if let Some(trailer) = header("x-amz-trailer") {
        for name in trailer.split(',') {
            if let Some(a) = Algorithm::from_header(name) {
                if !checks.iter().any(|c| c.algorithm == a) {
                    checks.push(Check::new(a, None));
                }
            }
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values as botocore 1.44 sends them (`x-amz-checksum-*` for `b"hello"`), and the
    /// standard check values of `123456789` for the CRCs (CRC-32 0xCBF43926, CRC-32C
    /// 0xE3069283).
    #[test]
    fn digests_match_known_values() {
        let value = |a: Algorithm, data: &[u8]| {
            let mut c = Check::new(a, None);
            for piece in data.chunks(3) {
                c.update(piece);
            }
            c.value()
        };
        assert_eq!(value(Algorithm::Crc32, b"hello"), "NhCmhg==");
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        assert_eq!(
            value(Algorithm::Crc32, b"123456789"),
            b64(&0xCBF4_3926u32.to_be_bytes())
        );
        assert_eq!(
            value(Algorithm::Crc32c, b"123456789"),
            b64(&0xE306_9283u32.to_be_bytes())
        );
        assert_eq!(
            value(Algorithm::Sha256, b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(value(Algorithm::Sha1, b""), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    }

    #[test]
    fn headers_and_trailers_name_the_checks() {
        let h = |n: &str| match n {
            "x-amz-checksum-crc32" => Some("NhCmhg==".to_string()),
            "x-amz-trailer" => Some("x-amz-checksum-sha256, x-amz-checksum-crc64nvme".to_string()),
            _ => None,
        };
        let checks = promised(h);
        let named: Vec<(Algorithm, Option<&str>)> = checks
            .iter()
            .map(|c| (c.algorithm, c.promised.as_deref()))
            .collect();
        assert_eq!(
            named,
            [
                (Algorithm::Crc32, Some("NhCmhg==")),
                (Algorithm::Sha256, None)
            ]
        );
    }
}
