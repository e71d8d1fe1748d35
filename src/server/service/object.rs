//! The object operations: GET/HEAD Object (ranges, `response-*` overrides, `versionId`), PUT
//! Object (streamed body, Content-MD5), PUT Object - Copy with its `x-cos-copy-source-If-*`
//! conditions, and the object metadata read from request headers — in either dialect, whose
//! header names (`x-cos-…` / `x-amz-…`) and copy-source forms differ.
//!
//! Must not route or authenticate (`mod.rs`), nor parse body sizes itself (`body`); DELETE
//! Object and HEAD Bucket are short enough to live in `mod.rs`'s dispatch.

use super::*;

/// An object's headers as `d` spells them: metadata kept as `x-cos-meta-*` goes out as
/// `x-amz-meta-*` in S3, and COS's CRC-64 only in COS (S3's checksums are other algorithms).
fn object_headers(r: &mut Response<Body>, o: &Object, d: Dialect) {
    if d == Dialect::S3 && o.meta.storage_class != STANDARD {
        set_header(r, d.header("storage-class"), &o.meta.storage_class);
    }
    let h = r.headers_mut();
    h.insert("etag", hv(&format!("\"{}\"", o.etag)));
    h.insert("last-modified", hv(&http_date(o.last_modified)));
    if d == Dialect::Cos {
        h.insert("x-cos-hash-crc64ecma", hv(&o.crc64.to_string()));
    }
    h.insert("accept-ranges", HeaderValue::from_static("bytes"));
    h.insert(
        "content-type",
        hv(o.meta
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream")),
    );
    if d == Dialect::Cos && o.meta.storage_class != STANDARD {
        h.insert("x-cos-storage-class", hv(&o.meta.storage_class));
    }
    for (k, v) in &o.meta.headers {
        let k = match k.strip_prefix(Dialect::Cos.meta_prefix()) {
            Some(rest) => format!("{}{rest}", d.meta_prefix()),
            None => k.clone(),
        };
        if let Ok(name) = http::HeaderName::from_bytes(k.as_bytes()) {
            h.append(name, hv(v));
        }
    }
}

pub(super) fn unquote(s: &str) -> &str {
    s.trim().trim_matches('"')
}

enum Range {
    Whole,
    Part(u64, u64),
}

fn parse_range(v: Option<&str>, size: u64) -> Result<Range, CosError> {
    let invalid = || {
        CosError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The requested range is not satisfiable.",
        )
        // RFC 9110 §15.5.17: a 416 names the current length.
        .with_header("content-range", format!("bytes */{size}"))
    };
    let Some(spec) = v.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ok(Range::Whole);
    };
    if spec.contains(',') {
        return Ok(Range::Whole);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(Range::Whole);
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(Range::Whole);
        };
        if n == 0 || size == 0 {
            return Err(invalid());
        }
        return Ok(Range::Part(size - n.min(size), size - 1));
    }
    let Ok(first) = a.parse::<u64>() else {
        return Ok(Range::Whole);
    };
    let last = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(l) if l >= first => l,
            _ => return Ok(Range::Whole),
        }
    };
    if first >= size {
        return Err(invalid());
    }
    Ok(Range::Part(first, last.min(size - 1)))
}

/// `?versionId=`: haul serve keeps one version of an object, COS's `null` version (that of a
/// bucket that never had versioning), so `null` names it and any other id names nothing.
pub(super) fn only_version(q: &[(String, String)]) -> Result<(), CosError> {
    match param(q, "versionId") {
        None | Some("null") => Ok(()),
        Some(v) => Err(CosError::new(
            StatusCode::NOT_FOUND,
            "NoSuchVersion",
            format!("The specified version does not exist: {v:?} (haul serve keeps only the \"null\" version of an object)."),
        )),
    }
}

/// GET Object's `response-*` parameters and the headers they set on a successful answer.
const RESPONSE_OVERRIDES: [(&str, &str); 6] = [
    ("response-content-type", "content-type"),
    ("response-content-language", "content-language"),
    ("response-expires", "expires"),
    ("response-cache-control", "cache-control"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-encoding", "content-encoding"),
];

pub(super) fn get_object(
    sh: &Shared,
    b: &BucketRef,
    key: &str,
    q: &[(String, String)],
    h: &HeaderMap,
    head: bool,
) -> Answer {
    only_version(q)?;
    let o = with_bucket(sh, b, |bk| {
        bk.objects
            .get(key)
            .cloned()
            .ok_or_else(CosError::no_such_key)
    })?;
    if let Some(m) = header(h, "if-match") {
        if unquote(&m) != o.etag && m.trim() != "*" {
            return Err(CosError::precondition().into());
        }
    }
    if let Some(s) = header(h, "if-unmodified-since").and_then(|v| parse_http_secs(&v)) {
        if o.last_modified > s {
            return Err(CosError::precondition().into());
        }
    }
    let not_modified = header(h, "if-none-match").is_some_and(|m| unquote(&m) == o.etag)
        || header(h, "if-modified-since")
            .and_then(|v| parse_http_secs(&v))
            .is_some_and(|s| o.last_modified <= s);
    if not_modified {
        let mut r = Response::new(empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r.headers_mut()
            .insert("etag", hv(&format!("\"{}\"", o.etag)));
        return Ok(r);
    }
    let range = parse_range(header(h, "range").as_deref(), o.size)?;
    let (first, last, status) = match range {
        Range::Whole => (0, o.size, StatusCode::OK),
        Range::Part(a, z) => (a, z + 1, StatusCode::PARTIAL_CONTENT),
    };
    let len = last - first;
    let body = if head || len == 0 {
        empty()
    } else {
        let chunks = o.content.chunks(first, last - 1, 1 << 20);
        let stream = futures::stream::iter(chunks.map(|b| b.map(Frame::data)));
        BodyExt::boxed(StreamBody::new(stream))
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    object_headers(&mut r, &o, b.dialect);
    r.headers_mut()
        .insert("content-length", hv(&len.to_string()));
    if status == StatusCode::PARTIAL_CONTENT {
        r.headers_mut().insert(
            "content-range",
            hv(&format!("bytes {first}-{}/{}", last - 1, o.size)),
        );
    }
    if !head {
        for (name, header) in RESPONSE_OVERRIDES {
            if let Some(v) = param(q, name) {
                r.headers_mut().insert(header, hv(v));
            }
        }
    }
    Ok(r)
}

/// The metadata a request sets, in `d`'s header names; kept under COS's (`x-cos-meta-*`).
pub(super) fn meta_from_headers(h: &HeaderMap, d: Dialect) -> Result<Meta, CosError> {
    let storage_class = match header(h, &d.header("storage-class")) {
        None => STANDARD.to_string(),
        Some(s) => {
            let up = s.trim().to_ascii_uppercase();
            if !crate::store::STORAGE_CLASSES.contains(&up.as_str()) {
                return Err(CosError::invalid_argument(format!(
                    "The storage class you specified is not valid: {s}."
                )));
            }
            up
        }
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in h {
        let n = name.as_str();
        let kept = if matches!(
            n,
            "cache-control" | "content-disposition" | "content-encoding" | "expires"
        ) {
            Some(n.to_string())
        } else {
            n.strip_prefix(d.meta_prefix())
                .map(|rest| format!("{}{rest}", Dialect::Cos.meta_prefix()))
        };
        if let Some(name) = kept {
            headers.push((name, String::from_utf8_lossy(value.as_bytes()).into_owned()));
        }
    }
    headers.sort();
    Ok(Meta {
        content_type: header(h, "content-type"),
        headers,
        storage_class,
    })
}

/// PUT Object: the bucket and the headers are checked before the body (whose size `serve`
/// checked from Content-Length) is streamed in.
pub(super) async fn put_object(
    sh: &Shared,
    b: &BucketRef,
    key: &str,
    h: &HeaderMap,
    body: Option<Inflow>,
    len: u64,
) -> Answer {
    let meta = meta_from_headers(h, b.dialect)?;
    with_bucket(sh, b, |_| Ok(()))?;
    let Received {
        content,
        md5,
        checksums,
    } = receive(sh, body, len).await?;
    let etag = check_md5(h, &md5)?;
    let o = Object {
        size: content.len(),
        crc64: content.crc64(),
        content,
        etag,
        last_modified: now_secs(),
        meta,
    };
    let mut r = Response::new(empty());
    r.headers_mut()
        .insert("etag", hv(&format!("\"{}\"", o.etag)));
    if b.dialect == Dialect::Cos {
        r.headers_mut()
            .insert("x-cos-hash-crc64ecma", hv(&o.crc64.to_string()));
    }
    for (name, value) in checksums {
        r.headers_mut().insert(name, hv(&value));
    }
    with_bucket(sh, b, |bk| {
        bk.objects.insert(key.to_string(), o);
        Ok(())
    })?;
    sh.changed();
    Ok(r)
}

/// Resolves the copy source (`x-cos-copy-source`, `x-amz-copy-source`) to the source object.
pub(super) fn copy_source(
    sh: &Shared,
    h: &HeaderMap,
    d: Dialect,
) -> Result<(String, String, String, Object), CosError> {
    if d == Dialect::S3 {
        return s3_copy_source(sh, h);
    }
    let v = header(h, "x-cos-copy-source").unwrap_or_default();
    let Some((bucket, region, key)) = parse_copy_source(&v) else {
        return Err(CosError::bad(
            "InvalidArgument",
            "x-cos-copy-source must be <bucket>-<appid>.cos.<region>.myqcloud.com/<url-encoded key>.",
        ));
    };
    let st = sh.lock();
    let bk = match st.buckets.get(bucket.as_str()) {
        Some(bk) if bk.region == region => bk,
        _ => return Err(CosError::no_such_bucket(bucket.as_str())),
    };
    let o = bk.objects.get(&key).cloned().ok_or_else(|| {
        CosError::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified copy source key does not exist.",
        )
    })?;
    Ok((bucket.as_str().to_string(), region, key, o))
}

/// `x-amz-copy-source`: `BUCKET/KEY` of any region (S3 copies across regions the same way).
fn s3_copy_source(
    sh: &Shared,
    h: &HeaderMap,
) -> Result<(String, String, String, Object), CosError> {
    let v = header(h, "x-amz-copy-source").unwrap_or_default();
    let Some((bucket, key)) = s3_routing::parse_copy_source(&v) else {
        return Err(CosError::invalid_argument(
            "x-amz-copy-source must be BUCKET/KEY with the key URL-encoded.",
        ));
    };
    let st = sh.lock();
    let Some(bk) = st.buckets.get(&bucket) else {
        return Err(CosError::no_such_bucket(&bucket));
    };
    let o = bk.objects.get(&key).cloned().ok_or_else(|| {
        CosError::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified copy source key does not exist.",
        )
    })?;
    Ok((bucket, bk.region.clone(), key, o))
}

pub(super) fn check_copy_conditions(h: &HeaderMap, o: &Object, d: Dialect) -> Result<(), CosError> {
    let get = |suffix: &str| header(h, &d.header(suffix));
    if let Some(m) = get("copy-source-if-match") {
        if unquote(&m) != o.etag {
            return Err(CosError::precondition());
        }
    }
    if let Some(m) = get("copy-source-if-none-match") {
        if unquote(&m) == o.etag {
            return Err(CosError::precondition());
        }
    }
    if let Some(s) = get("copy-source-if-modified-since").and_then(|v| parse_http_secs(&v)) {
        if o.last_modified <= s {
            return Err(CosError::precondition());
        }
    }
    if let Some(s) = get("copy-source-if-unmodified-since").and_then(|v| parse_http_secs(&v)) {
        if o.last_modified > s {
            return Err(CosError::precondition());
        }
    }
    Ok(())
}

pub(super) async fn put_object_copy(
    sh: &Shared,
    b: &BucketRef,
    key: &str,
    h: &HeaderMap,
) -> Answer {
    // The destination bucket must exist before anything is copied.
    let dest_region = with_bucket(sh, b, |bk| Ok(bk.region.clone()))?;
    let d = b.dialect;
    let (sb, sregion, skey, src) = copy_source(sh, h, d)?;
    check_copy_conditions(h, &src, d)?;
    let directive = match header(h, &d.header("metadata-directive")) {
        None => Directive::Copy,
        Some(v) => d.metadata_directive(&v).ok_or_else(|| {
            let (copy, replace) = match d {
                Dialect::Cos => ("Copy", "Replaced"),
                Dialect::S3 => ("COPY", "REPLACE"),
            };
            CosError::invalid_argument(format!(
                "{} must be {copy} or {replace}.",
                d.header("metadata-directive")
            ))
        })?,
    };
    let replaced = directive == Directive::Replace;
    if sb == b.name && skey == key && !replaced {
        return Err(CosError::bad(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class or encryption attributes.",
        )
        .into());
    }
    // S3 copies at most 5 GB in one CopyObject, whatever the regions.
    if d == Dialect::S3 && src.size > MAX_SIMPLE {
        return Err(CosError::bad(
            "InvalidRequest",
            format!("The specified copy source is larger than the maximum allowable size for a copy source: {MAX_SIMPLE}; use UploadPartCopy."),
        )
        .into());
    }
    if sregion != dest_region && src.size > MAX_SIMPLE {
        return Err(CosError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The source object size is too large (more thran 5GB) to copy.Please use UploadPart-Copy API.",
        )
        .into());
    }
    let mut meta = if replaced {
        meta_from_headers(h, d)?
    } else {
        Meta {
            storage_class: STANDARD.to_string(),
            ..src.meta.clone()
        }
    };
    if header(h, &d.header("storage-class")).is_some() {
        meta.storage_class = meta_from_headers(h, d)?.storage_class;
    }
    sh.model.copy(src.size).await;
    let o = Object {
        content: src.content.clone(),
        size: src.size,
        etag: src.etag.clone(),
        crc64: src.crc64,
        last_modified: now_secs(),
        meta,
    };
    let mut x = Xml::with_namespace("CopyObjectResult", d.namespace());
    x.elem("ETag", format!("\"{}\"", o.etag));
    if d == Dialect::Cos {
        x.elem("CRC64", o.crc64);
    }
    x.elem("LastModified", iso8601(o.last_modified));
    if d == Dialect::Cos {
        x.elem("VersionId", "");
    }
    let doc = x.finish();
    with_bucket(sh, b, |bk| {
        bk.objects.insert(key.to_string(), o);
        Ok(())
    })?;
    sh.changed();
    Ok(xml_response(StatusCode::OK, doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_http_rules() {
        assert!(matches!(
            parse_range(Some("bytes=0-9"), 100),
            Ok(Range::Part(0, 9))
        ));
        assert!(matches!(
            parse_range(Some("bytes=90-"), 100),
            Ok(Range::Part(90, 99))
        ));
        assert!(matches!(
            parse_range(Some("bytes=-10"), 100),
            Ok(Range::Part(90, 99))
        ));
        assert!(matches!(
            parse_range(Some("bytes=50-500"), 100),
            Ok(Range::Part(50, 99))
        ));
        let Err(e) = parse_range(Some("bytes=100-"), 100) else {
            panic!("a range past the end is satisfiable");
        };
        assert_eq!(e.headers, [("content-range", "bytes */100".to_string())]);
        assert!(matches!(
            parse_range(Some("items=1-2"), 100),
            Ok(Range::Whole)
        ));
    }
}
