//! Where a COS request goes and what it may ask: routing by Host (virtual-hosted,
//! `cos.<region>`, path-style, `service.cos`) to a bucket/key and the path its signature
//! covers, the operation it names, query-string parsing (form-encoded `+`), and which query
//! parameters each operation accepts (anything else is a 501, never ignored). Also the key
//! rules, the 405 answer and `Call`, what a request of either dialect asks for (S3's own
//! routing is `s3_routing`).
//!
//! Pure functions of the request line and headers: must not touch `State`, read a body, or
//! decide an operation's outcome.

use super::*;

/// Where a request goes.
pub(super) enum Target {
    /// GET Service, all regions or one.
    Service(Option<String>),
    /// A bucket (key empty) or an object; `region` is the one the host name requires.
    Bucket {
        bucket: String,
        region: Option<String>,
        key: String,
    },
}

/// What a request asks for: one of the operations both dialects share, or one only S3 has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Call {
    Op(Op),
    ListObjectsV2,
    GetBucketLocation,
    DeleteObjects,
}

impl Call {
    /// The access log's `op`.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Call::Op(op) => op.as_str(),
            Call::ListObjectsV2 => "ListObjectsV2",
            Call::GetBucketLocation => "GetBucketLocation",
            Call::DeleteObjects => "DeleteObjects",
        }
    }
}

/// The COS operation a request names; `None` is a method the resource does not answer
/// (405), once its query is known to name nothing unimplemented (501).
pub(super) fn operation(
    target: &Target,
    method: &Method,
    query: &[(String, String)],
    h: &HeaderMap,
) -> Option<Op> {
    let has = |n: &str| param(query, n).is_some();
    match target {
        Target::Service(_) if method == Method::GET => Some(Op::ListBuckets),
        Target::Service(_) => None,
        Target::Bucket { key, .. } if key.is_empty() => match *method {
            Method::GET if has("uploads") => Some(Op::ListMultipartUploads),
            Method::GET => Some(Op::ListObjects),
            Method::HEAD => Some(Op::HeadBucket),
            Method::PUT => Some(Op::PutBucket),
            Method::DELETE => Some(Op::DeleteBucket),
            _ => None,
        },
        Target::Bucket { .. } => match *method {
            Method::GET if has("uploadId") => Some(Op::ListParts),
            Method::GET => Some(Op::GetObject),
            Method::HEAD => Some(Op::HeadObject),
            Method::PUT if has("uploadId") || has("partNumber") => {
                if h.contains_key("x-cos-copy-source") {
                    Some(Op::UploadPartCopy)
                } else {
                    Some(Op::UploadPart)
                }
            }
            Method::PUT if h.contains_key("x-cos-copy-source") => Some(Op::PutObjectCopy),
            Method::PUT => Some(Op::PutObject),
            Method::POST if has("uploads") => Some(Op::InitiateMultipartUpload),
            Method::POST if has("uploadId") => Some(Op::CompleteMultipartUpload),
            Method::DELETE if has("uploadId") => Some(Op::AbortMultipartUpload),
            Method::DELETE => Some(Op::DeleteObject),
            _ => None,
        },
    }
}

pub(super) fn split_query(q: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = q else { return Vec::new() };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            // Query strings are form-encoded by some SDKs (Python's requests): `+` is a
            // space there, and a real plus arrives as `%2B`. Paths never get this treatment.
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// Where a request goes, and the path its signature must cover: the decoded path as sent,
/// so a path-style signature names its bucket and cannot be replayed on another.
pub(super) fn route(host: &str, raw_path: &str) -> Result<(Target, String), CosError> {
    let decoded = percent_decode(raw_path);
    let signed_path = if decoded.is_empty() {
        "/".to_string()
    } else {
        decoded.clone()
    };
    let path_style = |region: Option<String>| -> Result<(Target, String), CosError> {
        let rest = raw_path.trim_start_matches('/');
        if rest.is_empty() {
            return Ok((Target::Service(region), "/".to_string()));
        }
        let (b, k) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket = percent_decode(b);
        let key = percent_decode(k);
        Ok((
            Target::Bucket {
                bucket,
                region,
                key,
            },
            signed_path.clone(),
        ))
    };
    match parse_host(host) {
        HostTarget::Service => {
            if raw_path == "/" || raw_path.is_empty() {
                Ok((Target::Service(None), "/".to_string()))
            } else {
                Err(CosError::bad(
                    "InvalidURI",
                    "service.cos.myqcloud.com only answers GET Service: address a bucket by its own host name",
                ))
            }
        }
        HostTarget::Region(r) => path_style(Some(r)),
        HostTarget::Other => path_style(None),
        HostTarget::Bucket { bucket, region } => {
            let key = decoded.strip_prefix('/').unwrap_or(&decoded).to_string();
            Ok((
                Target::Bucket {
                    bucket: bucket.as_str().to_string(),
                    region: Some(region),
                    key,
                },
                signed_path.clone(),
            ))
        }
    }
}

pub(super) fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub(super) fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The query parameters each operation understands: every one COS documents for it (checked
/// against COS's API documentation and cos-python-sdk-v5's request builders). Any other parameter names a
/// sub-resource or an option haul serve does not implement (`?acl`, `?tagging`, `?cors`,
/// `?ci-process`, …) and is answered 501 instead of being ignored, which would, say, turn
/// `PUT /key?acl` into an overwrite with an empty body. Names compare case-insensitively, as
/// `param` reads them.
pub(super) fn accepted_params(op: Op) -> &'static [&'static str] {
    match op {
        Op::ListObjects => &["prefix", "delimiter", "marker", "max-keys", "encoding-type"],
        Op::ListMultipartUploads => &[
            "uploads",
            "prefix",
            "delimiter",
            "key-marker",
            "upload-id-marker",
            "max-uploads",
            "encoding-type",
        ],
        Op::ListParts => &[
            "uploadId",
            "part-number-marker",
            "max-parts",
            "encoding-type",
        ],
        Op::UploadPart | Op::UploadPartCopy => &["partNumber", "uploadId"],
        Op::InitiateMultipartUpload => &["uploads"],
        Op::CompleteMultipartUpload | Op::AbortMultipartUpload => &["uploadId"],
        Op::ListBuckets => &[
            "marker",
            "max-keys",
            "region",
            "tagkey",
            "tagvalue",
            "create-time",
            "range",
        ],
        Op::GetObject => &[
            "versionId",
            "response-content-type",
            "response-content-language",
            "response-expires",
            "response-cache-control",
            "response-content-disposition",
            "response-content-encoding",
        ],
        Op::HeadObject | Op::DeleteObject => &["versionId"],
        Op::PutBucket | Op::HeadBucket | Op::DeleteBucket | Op::PutObject | Op::PutObjectCopy => {
            &[]
        }
    }
}

/// The first query parameter `op` does not understand; with no operation (a method the
/// resource does not answer), the first one no operation understands.
pub(super) fn unimplemented_param(query: &[(String, String)], op: Option<Op>) -> Option<String> {
    const ALL: [Op; 17] = [
        Op::ListBuckets,
        Op::PutBucket,
        Op::HeadBucket,
        Op::DeleteBucket,
        Op::ListObjects,
        Op::HeadObject,
        Op::GetObject,
        Op::PutObject,
        Op::DeleteObject,
        Op::PutObjectCopy,
        Op::InitiateMultipartUpload,
        Op::UploadPart,
        Op::UploadPartCopy,
        Op::CompleteMultipartUpload,
        Op::AbortMultipartUpload,
        Op::ListMultipartUploads,
        Op::ListParts,
    ];
    let known = |name: &str, op: Op| {
        accepted_params(op)
            .iter()
            .any(|a| a.eq_ignore_ascii_case(name))
    };
    query
        .iter()
        .find(|(k, _)| match op {
            Some(op) => !known(k, op),
            None => !ALL.iter().any(|&op| known(k, op)),
        })
        .map(|(k, _)| k.clone())
}

pub(super) fn not_implemented(name: &str, op: Option<Call>) -> CosError {
    let what = match op {
        Some(op) => format!(" on {}", op.as_str()),
        None => String::new(),
    };
    CosError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        format!(
            "A header or query you provided implies functionality that is not implemented: haul serve does not implement the {name:?} query parameter{what}."
        ),
    )
}

pub(super) fn method_not_allowed() -> CosError {
    CosError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
}

pub(super) fn check_key(key: &str) -> Result<(), CosError> {
    validate_key(key).map_err(|e| match e {
        KeyError::TooLong(n) => CosError::bad(
            "KeyTooLong",
            format!("Your key is too long: {n} bytes, at most 850 are allowed."),
        ),
        other => CosError::bad("InvalidObjectName", other.to_string()),
    })
}

pub(super) fn url_enc(s: &str, on: bool) -> String {
    if on {
        cos_encode(s)
    } else {
        s.to_string()
    }
}

pub(super) fn max_param(
    q: &[(String, String)],
    name: &str,
    limit: usize,
) -> Result<usize, CosError> {
    match param(q, name) {
        None | Some("") => Ok(limit),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n <= limit => Ok(n),
            Ok(_) => Ok(limit),
            Err(_) => Err(CosError::invalid_argument(format!(
                "{name} must be an integer between 0 and {limit}."
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_plus_is_a_space_and_percent_2b_a_plus() {
        let q = split_query(Some("prefix=with+space%2Bplus&uploads&marker=a%20b"));
        assert_eq!(
            q,
            [
                ("prefix".to_string(), "with space+plus".to_string()),
                ("uploads".to_string(), String::new()),
                ("marker".to_string(), "a b".to_string()),
            ]
        );
    }

    #[test]
    fn routes_virtual_hosted_path_style_and_service() {
        let (t, path) = route(
            "alpha-1250000000.cos.ap-guangzhou.myqcloud.com:9000",
            "/a%2Bb/c+d",
        )
        .expect("routes");
        assert!(
            matches!(t, Target::Bucket { ref key, ref region, .. } if key == "a+b/c+d" && region.as_deref() == Some("ap-guangzhou"))
        );
        assert_eq!(path, "/a+b/c+d");
        let (t, path) = route("127.0.0.1:9000", "/alpha-1250000000/k%20x").expect("routes");
        assert!(
            matches!(t, Target::Bucket { ref bucket, ref key, region: None } if bucket == "alpha-1250000000" && key == "k x")
        );
        assert_eq!(path, "/alpha-1250000000/k x", "path-style signs the bucket");
        assert!(matches!(
            route("service.cos.myqcloud.com", "/").expect("routes").0,
            Target::Service(None)
        ));
        assert!(matches!(
            route("cos.ap-shanghai.myqcloud.com", "/").expect("routes").0,
            Target::Service(Some(ref r)) if r == "ap-shanghai"
        ));
    }
}
