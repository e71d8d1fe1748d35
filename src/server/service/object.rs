//! The object operations: GET/HEAD Object (ranges, `response-*` overrides, `versionId`), PUT
//! Object (streamed body, Content-MD5), PUT Object - Copy with its `x-cos-copy-source-If-*`
//! conditions, and the object metadata read from request headers.
//!
//! Must not route or authenticate (`mod.rs`), nor parse body sizes itself (`body`); DELETE
//! Object and HEAD Bucket are short enough to live in `mod.rs`'s dispatch.

use super::*;

fn object_headers(r: &mut Response<Body>, o: &Object) {
    let h = r.headers_mut();
    h.insert("etag", hv(&format!("\"{}\"", o.etag)));
    h.insert("last-modified", hv(&http_date(o.last_modified)));
    h.insert("x-cos-hash-crc64ecma", hv(&o.crc64.to_string()));
    h.insert("accept-ranges", HeaderValue::from_static("bytes"));
    h.insert(
        "content-type",
        hv(o.meta
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream")),
    );
    if o.meta.storage_class != STANDARD {
        h.insert("x-cos-storage-class", hv(&o.meta.storage_class));
    }
    for (k, v) in &o.meta.headers {
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
    object_headers(&mut r, &o);
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

pub(super) fn meta_from_headers(h: &HeaderMap) -> Result<Meta, CosError> {
    let storage_class = match header(h, "x-cos-storage-class") {
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
        if matches!(
            n,
            "cache-control" | "content-disposition" | "content-encoding" | "expires"
        ) || n.starts_with("x-cos-meta-")
        {
            headers.push((
                n.to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ));
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
    body: Option<Incoming>,
    len: u64,
) -> Answer {
    let meta = meta_from_headers(h)?;
    with_bucket(sh, b, |_| Ok(()))?;
    let Received { content, md5 } = receive(sh, body, len).await?;
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
    r.headers_mut()
        .insert("x-cos-hash-crc64ecma", hv(&o.crc64.to_string()));
    with_bucket(sh, b, |bk| {
        bk.objects.insert(key.to_string(), o);
        Ok(())
    })?;
    sh.changed();
    Ok(r)
}

/// Resolves `x-cos-copy-source` to the source object.
pub(super) fn copy_source(
    sh: &Shared,
    h: &HeaderMap,
) -> Result<(String, String, String, Object), CosError> {
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

pub(super) fn check_copy_conditions(h: &HeaderMap, o: &Object) -> Result<(), CosError> {
    if let Some(m) = header(h, "x-cos-copy-source-if-match") {
        if unquote(&m) != o.etag {
            return Err(CosError::precondition());
        }
    }
    if let Some(m) = header(h, "x-cos-copy-source-if-none-match") {
        if unquote(&m) == o.etag {
            return Err(CosError::precondition());
        }
    }
    if let Some(s) =
        header(h, "x-cos-copy-source-if-modified-since").and_then(|v| parse_http_secs(&v))
    {
        if o.last_modified <= s {
            return Err(CosError::precondition());
        }
    }
    if let Some(s) =
        header(h, "x-cos-copy-source-if-unmodified-since").and_then(|v| parse_http_secs(&v))
    {
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
    let (sb, sregion, skey, src) = copy_source(sh, h)?;
    check_copy_conditions(h, &src)?;
    let directive = header(h, "x-cos-metadata-directive").unwrap_or_else(|| "Copy".to_string());
    let replaced = directive.eq_ignore_ascii_case("Replaced");
    if !replaced && !directive.eq_ignore_ascii_case("Copy") {
        return Err(CosError::invalid_argument(
            "x-cos-metadata-directive must be Copy or Replaced.",
        )
        .into());
    }
    if sb == b.name && skey == key && !replaced {
        return Err(CosError::bad(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class or encryption attributes.",
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
        meta_from_headers(h)?
    } else {
        Meta {
            storage_class: STANDARD.to_string(),
            ..src.meta.clone()
        }
    };
    if let Some(sc) = header(h, "x-cos-storage-class") {
        meta.storage_class = meta_from_headers(h)?.storage_class;
        let _ = sc;
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
    let mut x = Xml::new("CopyObjectResult");
    x.elem("ETag", format!("\"{}\"", o.etag))
        .elem("CRC64", o.crc64)
        .elem("LastModified", iso8601(o.last_modified))
        .elem("VersionId", "");
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
