//! Where an S3 request goes: the URL, the `Host` header and the path to sign, for path-style
//! (`host/bucket/key`) or virtual-hosted (`bucket.host/key`) addressing.
//!
//! Pure: no I/O. The URL path keeps `.` and `..` segments from being resolved away (their
//! neighbouring `/` is sent as `%2F`, as the COS client does); the signed path is the decoded
//! `/bucket/key` or `/key`, which `sigv4` encodes once per segment.

use crate::store::client::Endpoint;
use crate::store::encode::key_to_url_path;

/// How bucket names are put in requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Addressing {
    /// Path-style when the endpoint's host is an IP address or `localhost` (or the bucket name
    /// has a `.` over HTTPS, which a wildcard certificate cannot cover); virtual-hosted otherwise.
    #[default]
    Auto,
    /// `https://host/bucket/key` (MinIO, Ceph RGW and most self-hosted stores).
    Path,
    /// `https://bucket.host/key` (AWS, R2, COS's S3 endpoint).
    Virtual,
}

impl Addressing {
    /// Parses a profile's `addressing` value: `auto`, `path` or `virtual`.
    pub fn parse(s: &str) -> Option<Addressing> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Addressing::Auto),
            "path" => Some(Addressing::Path),
            "virtual" | "virtual-hosted" => Some(Addressing::Virtual),
            _ => None,
        }
    }
}

/// One request's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `scheme://host[:port]` followed by the encoded path, without a query.
    pub url: String,
    /// The `Host` header (signed).
    pub host: String,
    /// The decoded path to sign.
    pub sign_path: String,
}

/// AWS's regional endpoint when a profile names none.
pub fn aws_endpoint(region: &str) -> Endpoint {
    Endpoint {
        base: format!("https://s3.{region}.amazonaws.com"),
    }
}

fn split_base(base: &str) -> (&str, &str) {
    base.split_once("://").unwrap_or(("https", base))
}

/// The host without a port (IPv6 keeps its brackets).
fn host_only(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map(|(h, _)| &authority[..h.len() + 1])
            .unwrap_or(authority);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// Whether requests for `bucket` at `endpoint` go path-style.
pub fn path_style(addressing: Addressing, endpoint: &Endpoint, bucket: &str) -> bool {
    match addressing {
        Addressing::Path => true,
        Addressing::Virtual => false,
        Addressing::Auto => {
            let (scheme, authority) = split_base(&endpoint.base);
            let host = host_only(authority);
            host.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok()
                || host.eq_ignore_ascii_case("localhost")
                || (scheme == "https" && bucket.contains('.'))
        }
    }
}

/// The address of a service request (`bucket` `None`), a bucket request (`key` `None`) or an
/// object request.
pub fn target(
    endpoint: &Endpoint,
    addressing: Addressing,
    bucket: Option<&str>,
    key: Option<&str>,
) -> Target {
    let (scheme, authority) = split_base(&endpoint.base);
    let key_path = key.map(key_to_url_path);
    match bucket {
        None => Target {
            url: format!("{scheme}://{authority}/"),
            host: authority.to_string(),
            sign_path: "/".to_string(),
        },
        Some(b) if path_style(addressing, endpoint, b) => Target {
            // key_to_url_path starts with '/'; a bucket request ends in '/' like botocore's.
            url: format!(
                "{scheme}://{authority}/{b}{}",
                key_path.as_deref().unwrap_or("/")
            ),
            host: authority.to_string(),
            sign_path: match key {
                Some(k) => format!("/{b}/{k}"),
                None => format!("/{b}/"),
            },
        },
        Some(b) => {
            let host = format!("{b}.{authority}");
            Target {
                url: format!("{scheme}://{host}{}", key_path.as_deref().unwrap_or("/")),
                host,
                sign_path: match key {
                    Some(k) => format!("/{k}"),
                    None => "/".to_string(),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Endpoint {
        Endpoint::parse(s).unwrap()
    }

    #[test]
    fn an_ip_or_localhost_endpoint_goes_path_style_and_a_name_virtual_hosted() {
        assert!(path_style(
            Addressing::Auto,
            &ep("http://127.0.0.1:9000"),
            "b"
        ));
        assert!(path_style(Addressing::Auto, &ep("http://[::1]:9000"), "b"));
        assert!(path_style(
            Addressing::Auto,
            &ep("http://localhost:9000"),
            "b"
        ));
        assert!(!path_style(
            Addressing::Auto,
            &ep("https://s3.us-east-1.amazonaws.com"),
            "b"
        ));
        assert!(path_style(
            Addressing::Auto,
            &ep("https://s3.example.com"),
            "a.b"
        ));
        assert!(path_style(
            Addressing::Path,
            &ep("https://minio.example.com"),
            "b"
        ));
        assert!(!path_style(
            Addressing::Virtual,
            &ep("http://127.0.0.1:9000"),
            "b"
        ));
    }

    #[test]
    fn path_style_targets_put_the_bucket_in_the_path() {
        let t = target(
            &ep("http://127.0.0.1:9000"),
            Addressing::Auto,
            Some("media"),
            Some("a b/../c"),
        );
        assert_eq!(t.host, "127.0.0.1:9000");
        assert_eq!(t.url, "http://127.0.0.1:9000/media/a%20b/..%2Fc");
        assert_eq!(t.sign_path, "/media/a b/../c");
        let t = target(
            &ep("http://127.0.0.1:9000"),
            Addressing::Auto,
            Some("media"),
            None,
        );
        assert_eq!(t.url, "http://127.0.0.1:9000/media/");
        assert_eq!(t.sign_path, "/media/");
    }

    #[test]
    fn virtual_hosted_targets_put_the_bucket_in_the_host() {
        let t = target(
            &aws_endpoint("eu-west-1"),
            Addressing::Auto,
            Some("media"),
            Some("k+1"),
        );
        assert_eq!(t.host, "media.s3.eu-west-1.amazonaws.com");
        assert_eq!(t.url, "https://media.s3.eu-west-1.amazonaws.com/k%2B1");
        assert_eq!(t.sign_path, "/k+1");
        let svc = target(&aws_endpoint("eu-west-1"), Addressing::Auto, None, None);
        assert_eq!(svc.url, "https://s3.eu-west-1.amazonaws.com/");
        assert_eq!(svc.host, "s3.eu-west-1.amazonaws.com");
    }

    #[test]
    fn addressing_parses_the_profile_words() {
        assert_eq!(Addressing::parse("Path"), Some(Addressing::Path));
        assert_eq!(Addressing::parse("virtual"), Some(Addressing::Virtual));
        assert_eq!(Addressing::parse("auto"), Some(Addressing::Auto));
        assert_eq!(Addressing::parse("dns"), None);
    }
}
