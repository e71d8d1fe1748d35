//! Percent-encoding as COS wants it, and object-key validation.
//!
//! Pure: no I/O. Shared by the client (building URLs, signing) and the server (verifying).
//! COS's rule (docs/architecture.md §5) differs from form encoding: only `A-Z a-z 0-9 - _ . ~` stay
//! as they are, everything else is `%XX` with uppercase hex, a space is `%20`, never `+`.

use std::fmt::Write as _;

/// Longest object key COS accepts, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 850;

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Encodes every byte except `A-Z a-z 0-9 - _ . ~` (the signing rule).
pub fn cos_encode(s: &str) -> String {
    encode_keeping(s, |_| false)
}

fn encode_keeping(s: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for &b in s.as_bytes() {
        if is_unreserved(b) || keep(b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes `%XX` sequences (any hex case). `+` stays a plus: COS paths never use form encoding.
/// Invalid escapes are kept literally; bytes that are not UTF-8 are replaced.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hi = (bytes[i + 1] as char).to_digit(16);
            let lo = (bytes[i + 2] as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a key cannot be an object key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the object key is empty: name an object after the bucket, e.g. cos://bucket-1250000000/path/file.bin")]
    Empty,
    #[error(
        "the object key {0:?} starts with '/' or '\\', which COS forbids: drop the leading slash"
    )]
    LeadingSlash(String),
    #[error("the object key is {0} bytes long; COS allows at most 850 bytes of UTF-8")]
    TooLong(usize),
    #[error("the object key {0:?} is a bare dot segment, which no HTTP path can carry: rename the object")]
    DotSegment(String),
}

/// Checks a key against COS's rules (docs/architecture.md §5): non-empty, ≤ 850 bytes, no leading `/`
/// or `\`, and not `.` or `..` alone (those cannot survive URL normalisation).
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.starts_with('/') || key.starts_with('\\') {
        return Err(KeyError::LeadingSlash(key.to_string()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong(key.len()));
    }
    if key == "." || key == ".." {
        return Err(KeyError::DotSegment(key.to_string()));
    }
    Ok(())
}

/// The URL path for an object key, as the official Python SDK builds it: `/` + the key encoded
/// with `/` kept, except that a `/` after a `.` or `..` segment (or before a final one) becomes
/// `%2F`, so that no URL library can collapse the segment (`a/./b` → `/a/.%2Fb`, as the SDK does).
pub fn key_to_url_path(key: &str) -> String {
    let segments: Vec<&str> = key.split('/').collect();
    let is_dot = |s: &str| s == "." || s == "..";
    let mut out = String::with_capacity(key.len() * 3 / 2 + 1);
    out.push('/');
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            let last = i == segments.len() - 1;
            if is_dot(segments[i - 1]) || (last && is_dot(seg)) {
                out.push_str("%2F");
            } else {
                out.push('/');
            }
        }
        out.push_str(&cos_encode(seg));
    }
    out
}

/// The key part of an `x-cos-copy-source` value: encoded like a URL path with `/` kept
/// (Python SDK: `quote(key, safe='/-_.~')`).
pub fn encode_copy_source_key(key: &str) -> String {
    encode_keeping(key, |b| b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_only_unreserved_characters_unescaped() {
        assert_eq!(cos_encode("aZ09-_.~"), "aZ09-_.~");
        assert_eq!(cos_encode("a b+c/d"), "a%20b%2Bc%2Fd");
        assert_eq!(cos_encode("!'()*"), "%21%27%28%29%2A");
        assert_eq!(cos_encode("腾"), "%E8%85%BE");
    }

    #[test]
    fn decodes_what_it_encodes() {
        for s in ["a b+c/d%e", "视频/母带 final(1).mov", "%", "%zz", "100%"] {
            assert_eq!(percent_decode(&cos_encode(s)), s);
        }
        assert_eq!(percent_decode("a+b"), "a+b");
        assert_eq!(percent_decode("%2f%2F"), "//");
        assert_eq!(percent_decode("50%"), "50%");
        assert_eq!(percent_decode("%4"), "%4");
    }

    #[test]
    fn url_paths_match_the_python_sdk() {
        assert_eq!(
            key_to_url_path("视频/母带 final(1).mov"),
            "/%E8%A7%86%E9%A2%91/%E6%AF%8D%E5%B8%A6%20final%281%29.mov"
        );
        assert_eq!(
            key_to_url_path("a/b c+d%e&f=g;h:i@j,k$l!m'n(o)p*q~r.bin"),
            "/a/b%20c%2Bd%25e%26f%3Dg%3Bh%3Ai%40j%2Ck%24l%21m%27n%28o%29p%2Aq~r.bin"
        );
        assert_eq!(key_to_url_path("a/./b/../c.txt"), "/a/.%2Fb/..%2Fc.txt");
        assert_eq!(key_to_url_path("a/.."), "/a%2F..");
        assert_eq!(key_to_url_path("./x"), "/.%2Fx");
        assert_eq!(key_to_url_path("dir/"), "/dir/");
    }

    #[test]
    fn url_paths_survive_url_normalisation() {
        for key in [
            "a/./b/../c.txt",
            "a/..",
            "./x",
            "../../etc/passwd",
            "q?x#y",
            "dir//x",
        ] {
            let url = reqwest::Url::parse(&format!("http://h{}", key_to_url_path(key))).unwrap();
            assert_eq!(percent_decode(&url.path()[1..]), key, "{key}");
        }
    }

    #[test]
    fn rejects_keys_cos_rejects() {
        assert_eq!(validate_key(""), Err(KeyError::Empty));
        assert!(matches!(validate_key("/a"), Err(KeyError::LeadingSlash(_))));
        assert!(matches!(
            validate_key("\\a"),
            Err(KeyError::LeadingSlash(_))
        ));
        assert!(matches!(validate_key(".."), Err(KeyError::DotSegment(_))));
        assert_eq!(validate_key(&"x".repeat(850)), Ok(()));
        assert_eq!(validate_key(&"x".repeat(851)), Err(KeyError::TooLong(851)));
        assert_eq!(validate_key("a/../b"), Ok(()));
    }

    #[test]
    fn copy_source_keys_keep_slashes() {
        assert_eq!(
            encode_copy_source_key("src/example-腾讯云.jpg"),
            "src/example-%E8%85%BE%E8%AE%AF%E4%BA%91.jpg"
        );
    }
}
