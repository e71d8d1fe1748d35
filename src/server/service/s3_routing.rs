//! Where an S3 request goes and what it may ask: path-style (`/BUCKET/KEY`, always, and the
//! only choice on an IP host) or virtual-hosted (`BUCKET.s3[.REGION].amazonaws.com`,
//! `BUCKET.localhost`, `BUCKET.cos.REGION.myqcloud.com`), the operation a method, query and
//! `x-amz-copy-source` select, and the query parameters each operation accepts (anything else
//! is a 501, never ignored; SigV4's own presigning parameters are accepted everywhere).
//!
//! Pure functions of the request line and headers, like `routing` for COS: must not touch
//! `State`, read a body, or check a signature.

use super::*;

/// Where an S3 request goes. Virtual-hosted names keep the region a COS host name carries,
/// so `BUCKET.cos.REGION.myqcloud.com` is held to its region as in COS.
pub(super) fn route(host: &str, raw_path: &str) -> Result<Target, CosError> {
    let rest = raw_path.trim_start_matches('/');
    if let Some((bucket, region)) = host_bucket(host) {
        return Ok(Target::Bucket {
            bucket,
            region,
            key: percent_decode(rest),
        });
    }
    if rest.is_empty() {
        return Ok(Target::Service(None));
    }
    let (b, k) = rest.split_once('/').unwrap_or((rest, ""));
    Ok(Target::Bucket {
        bucket: percent_decode(b),
        region: None,
        key: percent_decode(k),
    })
}

/// The bucket a virtual-hosted S3 host name names, with the region it requires (COS host
/// names only). `None` for an IP address or any other host: path-style.
fn host_bucket(host: &str) -> Option<(String, Option<String>)> {
    let name = host_without_port(host).to_ascii_lowercase();
    if name.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    if let HostTarget::Bucket { bucket, region } = parse_host(&name) {
        return Some((bucket.as_str().to_string(), Some(region)));
    }
    if let Some(head) = name.strip_suffix(".amazonaws.com") {
        let bucket = match head.strip_suffix(".s3") {
            Some(b) => b,
            None => &head[..head.find(".s3.").or_else(|| head.find(".s3-"))?],
        };
        return (!bucket.is_empty()).then(|| (bucket.to_string(), None));
    }
    let bucket = name.strip_suffix(".localhost")?;
    (!bucket.is_empty()).then(|| (bucket.to_string(), None))
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [v6]:port
        return host
            .split_once(']')
            .map(|(h, _)| h.trim_start_matches('['))
            .unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The S3 operation a request names; `None` is a method the resource does not answer (405).
pub(super) fn operation(
    target: &Target,
    method: &Method,
    query: &[(String, String)],
    h: &HeaderMap,
) -> Option<Call> {
    let has = |n: &str| param(query, n).is_some();
    let copy = h.contains_key("x-amz-copy-source");
    Some(match target {
        Target::Service(_) if method == Method::GET => Call::Op(Op::ListBuckets),
        Target::Service(_) => return None,
        Target::Bucket { key, .. } if key.is_empty() => match *method {
            Method::GET if has("location") => Call::GetBucketLocation,
            Method::GET if has("uploads") => Call::Op(Op::ListMultipartUploads),
            Method::GET if param(query, "list-type") == Some("2") => Call::ListObjectsV2,
            Method::GET => Call::Op(Op::ListObjects),
            Method::HEAD => Call::Op(Op::HeadBucket),
            Method::PUT => Call::Op(Op::PutBucket),
            Method::DELETE => Call::Op(Op::DeleteBucket),
            Method::POST if has("delete") => Call::DeleteObjects,
            _ => return None,
        },
        Target::Bucket { .. } => match *method {
            Method::GET if has("uploadId") => Call::Op(Op::ListParts),
            Method::GET => Call::Op(Op::GetObject),
            Method::HEAD => Call::Op(Op::HeadObject),
            Method::PUT if has("uploadId") || has("partNumber") => Call::Op(if copy {
                Op::UploadPartCopy
            } else {
                Op::UploadPart
            }),
            Method::PUT if copy => Call::Op(Op::PutObjectCopy),
            Method::PUT => Call::Op(Op::PutObject),
            Method::POST if has("uploads") => Call::Op(Op::InitiateMultipartUpload),
            Method::POST if has("uploadId") => Call::Op(Op::CompleteMultipartUpload),
            Method::DELETE if has("uploadId") => Call::Op(Op::AbortMultipartUpload),
            Method::DELETE => Call::Op(Op::DeleteObject),
            _ => return None,
        },
    })
}

/// SigV4's presigning parameters and the SDKs' operation hint (`x-id`, sent by newer AWS
/// SDKs): accepted on every S3 request, and never an operation's input.
const EVERYWHERE: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "x-id",
];

/// The query parameters each S3 operation understands (S3's API reference for each).
fn accepted(call: Call) -> &'static [&'static str] {
    match call {
        Call::ListObjectsV2 => &[
            "list-type",
            "continuation-token",
            "start-after",
            "fetch-owner",
            "prefix",
            "delimiter",
            "max-keys",
            "encoding-type",
        ],
        Call::GetBucketLocation => &["location"],
        Call::DeleteObjects => &["delete"],
        // S3's ListBuckets paginates with max-buckets and continuation-token; haul serve
        // answers every bucket in one page and refuses those parameters instead of ignoring
        // them.
        Call::Op(Op::ListBuckets) => &[],
        Call::Op(op) => accepted_params(op),
    }
}

/// The first query parameter `call` does not understand; with no operation, the first one
/// no S3 operation understands.
pub(super) fn unimplemented_param(
    query: &[(String, String)],
    call: Option<Call>,
) -> Option<String> {
    let known = |name: &str, c: Call| accepted(c).iter().any(|a| a.eq_ignore_ascii_case(name));
    let everywhere = |name: &str| EVERYWHERE.iter().any(|a| a.eq_ignore_ascii_case(name));
    query
        .iter()
        .find(|(k, _)| {
            !everywhere(k)
                && match call {
                    Some(c) => !known(k, c),
                    None => !ALL_CALLS.iter().any(|&c| known(k, c)),
                }
        })
        .map(|(k, _)| k.clone())
}

const ALL_CALLS: [Call; 20] = [
    Call::Op(Op::ListBuckets),
    Call::Op(Op::PutBucket),
    Call::Op(Op::HeadBucket),
    Call::Op(Op::DeleteBucket),
    Call::Op(Op::ListObjects),
    Call::Op(Op::HeadObject),
    Call::Op(Op::GetObject),
    Call::Op(Op::PutObject),
    Call::Op(Op::DeleteObject),
    Call::Op(Op::PutObjectCopy),
    Call::Op(Op::InitiateMultipartUpload),
    Call::Op(Op::UploadPart),
    Call::Op(Op::UploadPartCopy),
    Call::Op(Op::CompleteMultipartUpload),
    Call::Op(Op::AbortMultipartUpload),
    Call::Op(Op::ListMultipartUploads),
    Call::Op(Op::ListParts),
    Call::ListObjectsV2,
    Call::GetBucketLocation,
    Call::DeleteObjects,
];

/// Parses `x-amz-copy-source`: `BUCKET/KEY` or `/BUCKET/KEY`, URL-encoded, with an optional
/// `?versionId=`. Returns the bucket and the decoded key.
pub(super) fn parse_copy_source(value: &str) -> Option<(String, String)> {
    let v = value.trim();
    let v = v.strip_prefix('/').unwrap_or(v);
    let v = match v.split_once("?versionId=") {
        Some((path, _)) => path,
        None => v,
    };
    let (bucket, key) = v.split_once('/')?;
    let (bucket, key) = (percent_decode(bucket), percent_decode(key));
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket_key(t: &Target) -> (String, String) {
        match t {
            Target::Bucket { bucket, key, .. } => (bucket.clone(), key.clone()),
            Target::Service(_) => ("<service>".into(), String::new()),
        }
    }

    #[test]
    fn an_ip_host_is_path_style_and_a_bucket_host_is_virtual_hosted() {
        let t = route("127.0.0.1:9000", "/src-1250000000/a%20b/c").expect("routes");
        assert_eq!(bucket_key(&t), ("src-1250000000".into(), "a b/c".into()));
        assert!(matches!(
            route("127.0.0.1:9000", "/").expect("routes"),
            Target::Service(None)
        ));
        for host in [
            "src-1250000000.s3.amazonaws.com",
            "src-1250000000.s3.us-east-1.amazonaws.com:443",
            "src-1250000000.localhost:9000",
        ] {
            let t = route(host, "/k%2Bx").expect("routes");
            assert_eq!(
                bucket_key(&t),
                ("src-1250000000".into(), "k+x".into()),
                "{host}"
            );
        }
        let t = route("src-1250000000.cos.ap-guangzhou.myqcloud.com", "/k").expect("routes");
        assert!(matches!(t, Target::Bucket { region: Some(ref r), .. } if r == "ap-guangzhou"));
        // s3.amazonaws.com itself and [::1] are path-style.
        let t = route("s3.amazonaws.com", "/b-1250000000/k").expect("routes");
        assert_eq!(bucket_key(&t), ("b-1250000000".into(), "k".into()));
        let t = route("[::1]:9000", "/b-1250000000/k").expect("routes");
        assert_eq!(bucket_key(&t), ("b-1250000000".into(), "k".into()));
    }

    #[test]
    fn copy_sources_are_bucket_slash_encoded_key() {
        assert_eq!(
            parse_copy_source("src-1250000000/a%20b/c%2B"),
            Some(("src-1250000000".into(), "a b/c+".into()))
        );
        assert_eq!(
            parse_copy_source("/src-1250000000/k?versionId=null"),
            Some(("src-1250000000".into(), "k".into()))
        );
        assert_eq!(parse_copy_source("src-1250000000"), None);
        assert_eq!(parse_copy_source("/src-1250000000/"), None);
    }

    #[test]
    fn every_s3_operation_refuses_an_unknown_parameter_but_not_presigning() {
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let v2 = q(&[
            ("list-type", "2"),
            ("X-Amz-Signature", "00"),
            ("x-id", "ListObjectsV2"),
        ]);
        assert_eq!(unimplemented_param(&v2, Some(Call::ListObjectsV2)), None);
        let tagging = q(&[("tagging", "")]);
        assert_eq!(
            unimplemented_param(&tagging, Some(Call::Op(Op::GetObject))).as_deref(),
            Some("tagging")
        );
        assert_eq!(
            unimplemented_param(&tagging, None).as_deref(),
            Some("tagging")
        );
        let buckets = q(&[("max-buckets", "10")]);
        assert!(unimplemented_param(&buckets, Some(Call::Op(Op::ListBuckets))).is_some());
    }
}
