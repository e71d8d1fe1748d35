//! Names and addresses: `cos://` and `s3://` URIs, bucket names (each knowing its dialect),
//! COS's canonical host names and the `x-cos-copy-source` form.
//!
//! Pure: no I/O. The server parses the same host names to route requests.

use std::fmt;

use super::encode::{encode_copy_source_key, percent_decode, validate_key};

/// The host that answers GET Service for every region.
pub const SERVICE_HOST: &str = "service.cos.myqcloud.com";
const DOMAIN: &str = "myqcloud.com";
/// COS's newer domain, the default of cos-nodejs-sdk-v5 3.x (and of the Python SDK with
/// `EnableOldDomain=False`): `<bucket>.cos.<region>.tencentcos.cn`, `service.cos.tencentcos.cn`.
const NEW_DOMAIN: &str = "tencentcos.cn";

/// Which API a bucket is spoken to in: COS's own (`cos://`) or S3's (`s3://`, Signature V4),
/// whether the S3 endpoint is AWS, MinIO, Ceph RGW, R2 or COS's own S3 endpoint.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    #[default]
    Cos,
    S3,
}

impl Dialect {
    /// The URI scheme, without `://`.
    pub fn scheme(self) -> &'static str {
        match self {
            Dialect::Cos => "cos",
            Dialect::S3 => "s3",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme())
    }
}

/// A bucket name and the dialect it is spoken to in. A COS name is `<name>-<appid>`, e.g.
/// `media-1250000000`; an S3 name follows S3's rules (`media`, `logs.example.com`). The same
/// name in two dialects is two different buckets (they sit behind different endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketName {
    name: String,
    dialect: Dialect,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("{0:?} is not a cos:// or s3:// URI: write cos://BUCKET-APPID/KEY, e.g. cos://media-1250000000/video/raw.mov, or s3://BUCKET/KEY")]
    NotCos(String),
    #[error("{0:?} is not an S3 bucket name: 3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit, e.g. media-archive")]
    BadS3Bucket(String),
    #[error("{0:?} is not a COS bucket name: it must look like NAME-APPID (lowercase letters, digits and '-', then '-' and the numeric APPID), e.g. media-1250000000")]
    BadBucket(String),
    #[error(transparent)]
    Key(#[from] super::encode::KeyError),
}

impl BucketName {
    /// Checks COS's rules: `name-appid`, lowercase letters, digits and `-`, APPID numeric,
    /// whole name at most 50 characters before the APPID.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let bad = || UriError::BadBucket(s.to_string());
        let (name, appid) = s.rsplit_once('-').ok_or_else(bad)?;
        let name_ok = !name.is_empty()
            && name.len() <= 50
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        let appid_ok =
            !appid.is_empty() && appid.len() <= 12 && appid.bytes().all(|b| b.is_ascii_digit());
        if name_ok && appid_ok {
            Ok(BucketName {
                name: s.to_string(),
                dialect: Dialect::Cos,
            })
        } else {
            Err(bad())
        }
    }

    /// Checks S3's rules for a bucket spoken to in the S3 dialect: 3–63 characters of
    /// lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit, no
    /// `..`, not an IP address.
    pub fn parse_s3(s: &str) -> Result<Self, UriError> {
        let b = s.as_bytes();
        let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        let ok = (3..=63).contains(&b.len())
            && b.iter().all(|&c| edge(c) || c == b'.' || c == b'-')
            && edge(b[0])
            && edge(b[b.len() - 1])
            && !s.contains("..")
            && s.parse::<std::net::Ipv4Addr>().is_err();
        if ok {
            Ok(BucketName {
                name: s.to_string(),
                dialect: Dialect::S3,
            })
        } else {
            Err(UriError::BadS3Bucket(s.to_string()))
        }
    }

    /// Parses a name in `dialect`'s rules.
    pub fn parse_in(dialect: Dialect, s: &str) -> Result<Self, UriError> {
        match dialect {
            Dialect::Cos => Self::parse(s),
            Dialect::S3 => Self::parse_s3(s),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn appid(&self) -> &str {
        self.name.rsplit_once('-').map(|(_, a)| a).unwrap_or("")
    }

    /// `<bucket>.cos.<region>.myqcloud.com`
    pub fn host(&self, region: &str) -> String {
        format!("{}.cos.{region}.{DOMAIN}", self.name)
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// `cos://BUCKET-APPID/KEY` or `s3://BUCKET/KEY`: an object, a prefix (key ends in `/` or is
/// empty) or a bucket. The scheme is the bucket's dialect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CosUri {
    pub bucket: BucketName,
    /// Raw key or prefix, possibly empty.
    pub key: String,
}

impl CosUri {
    pub fn parse(s: &str) -> Result<Self, UriError> {
        let (dialect, rest) = if let Some(rest) = s.strip_prefix("cos://") {
            (Dialect::Cos, rest)
        } else if let Some(rest) = s.strip_prefix("s3://") {
            (Dialect::S3, rest)
        } else {
            return Err(UriError::NotCos(s.to_string()));
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket = BucketName::parse_in(dialect, bucket)?;
        if !key.is_empty() && !key.ends_with('/') {
            validate_key(key)?;
        } else if key.starts_with('/') {
            return Err(super::encode::KeyError::LeadingSlash(key.to_string()).into());
        }
        Ok(CosUri {
            bucket,
            key: key.to_string(),
        })
    }

    /// True for a bucket root or a key ending in `/`.
    pub fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }

    pub fn dialect(&self) -> Dialect {
        self.bucket.dialect()
    }
}

impl fmt::Display for CosUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}/{}", self.bucket.dialect, self.bucket, self.key)
    }
}

impl std::str::FromStr for CosUri {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CosUri::parse(s)
    }
}

/// A concrete object: bucket, the bucket's region, key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub bucket: BucketName,
    pub region: String,
    pub key: String,
}

impl ObjectRef {
    pub fn new(bucket: BucketName, region: impl Into<String>, key: impl Into<String>) -> Self {
        ObjectRef {
            bucket,
            region: region.into(),
            key: key.into(),
        }
    }

    pub fn host(&self) -> String {
        self.bucket.host(&self.region)
    }

    pub fn uri(&self) -> CosUri {
        CosUri {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
        }
    }

    /// The canonical `x-cos-copy-source` value for this object as a copy source:
    /// `<bucket>.cos.<region>.myqcloud.com/<url-encoded key>`, no scheme.
    pub fn copy_source(&self) -> String {
        format!("{}/{}", self.host(), encode_copy_source_key(&self.key))
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}/{}", self.bucket.dialect, self.bucket, self.key)
    }
}

/// What a request's `Host` addresses, as COS routes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostTarget {
    /// `service.cos.myqcloud.com`: GET Service for all regions.
    Service,
    /// `cos.<region>.myqcloud.com`: GET Service for one region, or path-style requests.
    Region(String),
    /// `<bucket>.cos.<region>.myqcloud.com`
    Bucket { bucket: BucketName, region: String },
    /// Anything else (a bare IP, `localhost`): path-style `/<bucket>/<key>`.
    Other,
}

/// Parses a `Host` header value (any port is ignored).
pub fn parse_host(host: &str) -> HostTarget {
    let host = strip_port(host).to_ascii_lowercase();
    let Some(front) = [DOMAIN, NEW_DOMAIN]
        .iter()
        .find_map(|d| host.strip_suffix(d).and_then(|f| f.strip_suffix('.')))
    else {
        return HostTarget::Other;
    };
    if front == "service.cos" {
        return HostTarget::Service;
    }
    if let Some(region) = front.strip_prefix("cos.") {
        if !region.contains('.') && !region.is_empty() {
            return HostTarget::Region(region.to_string());
        }
    }
    if let Some((bucket, region)) = front.split_once(".cos.") {
        if !region.contains('.') {
            if let Ok(bucket) = BucketName::parse(bucket) {
                return HostTarget::Bucket {
                    bucket,
                    region: region.to_string(),
                };
            }
        }
    }
    HostTarget::Other
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map(|(h, _)| &host[..h.len() + 1])
            .unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Parses an `x-cos-copy-source` value: `<bucket>.cos.<region>.myqcloud.com/<encoded key>`
/// (an optional `http(s)://` and `?versionId=` are tolerated). Returns the decoded key.
pub fn parse_copy_source(value: &str) -> Option<(BucketName, String, String)> {
    let v = value
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let (host, key) = v.split_once('/')?;
    let key = key.split_once("?versionId=").map(|(k, _)| k).unwrap_or(key);
    match parse_host(host) {
        HostTarget::Bucket { bucket, region } => Some((bucket, region, percent_decode(key))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_cos_domains_route_alike() {
        for d in ["myqcloud.com", "tencentcos.cn"] {
            assert_eq!(parse_host(&format!("service.cos.{d}")), HostTarget::Service);
            assert_eq!(
                parse_host(&format!("cos.ap-beijing.{d}:443")),
                HostTarget::Region("ap-beijing".into())
            );
            assert_eq!(
                parse_host(&format!("media-1250000000.cos.ap-beijing.{d}")),
                HostTarget::Bucket {
                    bucket: BucketName::parse("media-1250000000").unwrap(),
                    region: "ap-beijing".into()
                }
            );
        }
        assert_eq!(
            parse_host("media-1250000000.cos.ap-beijing.example.cn"),
            HostTarget::Other
        );
        assert_eq!(parse_host("evilmyqcloud.com"), HostTarget::Other);
    }

    #[test]
    fn parses_uris() {
        let u = CosUri::parse("cos://media-1250000000/video/raw 1.mov").unwrap();
        assert_eq!(u.bucket.as_str(), "media-1250000000");
        assert_eq!(u.bucket.appid(), "1250000000");
        assert_eq!(u.key, "video/raw 1.mov");
        assert!(!u.is_prefix());
        assert!(CosUri::parse("cos://media-1250000000").unwrap().is_prefix());
        assert!(CosUri::parse("cos://media-1250000000/a/")
            .unwrap()
            .is_prefix());
        assert_eq!(u.to_string(), "cos://media-1250000000/video/raw 1.mov");
    }

    #[test]
    fn s3_uris_keep_their_dialect_and_s3_bucket_rules() {
        let u = CosUri::parse("s3://media.archive/a b/c.bin").unwrap();
        assert_eq!(u.dialect(), Dialect::S3);
        assert_eq!(u.bucket.as_str(), "media.archive");
        assert_eq!(u.key, "a b/c.bin");
        assert_eq!(u.to_string(), "s3://media.archive/a b/c.bin");
        assert_eq!(CosUri::parse(&u.to_string()).unwrap(), u);
        // The same name in the two dialects is two buckets.
        let cos = CosUri::parse("cos://media-1250000000/k").unwrap();
        let s3 = CosUri::parse("s3://media-1250000000/k").unwrap();
        assert_ne!(cos.bucket, s3.bucket);
        assert_eq!(
            ObjectRef::new(s3.bucket.clone(), "us-east-1", "k").to_string(),
            "s3://media-1250000000/k"
        );
        assert!(CosUri::parse("s3://media").unwrap().is_prefix());
        for bad in [
            "s3://ab/k",
            "s3://Media/k",
            "s3://a..b/k",
            "s3://-ab/k",
            "s3://10.0.0.1/k",
        ] {
            assert!(
                matches!(CosUri::parse(bad), Err(UriError::BadS3Bucket(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_malformed_uris_with_the_fix() {
        let e = CosUri::parse("gs://x/y").unwrap_err().to_string();
        assert!(e.contains("cos://BUCKET-APPID/KEY"), "{e}");
        assert!(matches!(
            CosUri::parse("cos://media/x"),
            Err(UriError::BadBucket(_))
        ));
        assert!(matches!(
            CosUri::parse("cos://Media-125/x"),
            Err(UriError::BadBucket(_))
        ));
        assert!(matches!(
            CosUri::parse("cos://media-12a/x"),
            Err(UriError::BadBucket(_))
        ));
        assert!(matches!(
            CosUri::parse("cos://media-125//x"),
            Err(UriError::Key(_))
        ));
        let long = format!("cos://media-125/{}", "k".repeat(851));
        assert!(matches!(CosUri::parse(&long), Err(UriError::Key(_))));
    }

    #[test]
    fn hosts_are_canonical() {
        let b = BucketName::parse("examplebucket-1250000000").unwrap();
        assert_eq!(
            b.host("ap-beijing"),
            "examplebucket-1250000000.cos.ap-beijing.myqcloud.com"
        );
        let o = ObjectRef::new(b, "ap-shanghai", "src/example-腾讯云.jpg");
        assert_eq!(
            o.copy_source(),
            "examplebucket-1250000000.cos.ap-shanghai.myqcloud.com/src/example-%E8%85%BE%E8%AE%AF%E4%BA%91.jpg"
        );
    }

    #[test]
    fn routes_hosts_like_cos() {
        assert_eq!(parse_host("service.cos.myqcloud.com"), HostTarget::Service);
        assert_eq!(
            parse_host("cos.ap-guangzhou.myqcloud.com:9000"),
            HostTarget::Region("ap-guangzhou".into())
        );
        assert_eq!(
            parse_host("b-125.cos.ap-guangzhou.myqcloud.com"),
            HostTarget::Bucket {
                bucket: BucketName::parse("b-125").unwrap(),
                region: "ap-guangzhou".into()
            }
        );
        assert_eq!(parse_host("127.0.0.1:9000"), HostTarget::Other);
        assert_eq!(parse_host("[::1]:9000"), HostTarget::Other);
    }

    #[test]
    fn copy_source_round_trips() {
        let o = ObjectRef::new(
            BucketName::parse("src-1250000000").unwrap(),
            "ap-shanghai",
            "视频/a b+c%.mov",
        );
        let (b, r, k) = parse_copy_source(&o.copy_source()).unwrap();
        assert_eq!(
            (b, r.as_str(), k.as_str()),
            (o.bucket.clone(), "ap-shanghai", "视频/a b+c%.mov")
        );
        assert!(parse_copy_source("nonsense").is_none());
    }
}
