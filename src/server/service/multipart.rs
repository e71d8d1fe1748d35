//! The multipart operations: Initiate, Upload Part, Upload Part - Copy, List Parts, Complete
//! (validated against the stored parts, answered as a streamed 200 like COS) and the
//! multipart ETag.
//!
//! Must not route or authenticate (`mod.rs`) nor stream bodies itself (`body`); Abort is
//! short enough to live in `mod.rs`'s dispatch.

use super::*;

pub(super) fn list_parts(sh: &Shared, b: &BucketRef, key: &str, q: &[(String, String)]) -> Answer {
    let id = param(q, "uploadId").unwrap_or_default();
    let marker: u32 = match param(q, "part-number-marker") {
        None | Some("") => 0,
        Some(v) => v
            .parse()
            .map_err(|_| CosError::invalid_argument("part-number-marker must be an integer."))?,
    };
    let max = max_param(q, "max-parts", 1000)?;
    let url = param(q, "encoding-type").is_some_and(|v| v.eq_ignore_ascii_case("url"));
    let body = with_bucket(sh, b, |bk| {
        let u = match bk.uploads.get(id) {
            Some(u) if u.key == key => u,
            _ => return Err(CosError::no_such_upload()),
        };
        let mut x = Xml::with_namespace("ListPartsResult", b.dialect.namespace());
        x.elem("Bucket", &bk.name);
        if url {
            x.elem("Encoding-type", "url");
        }
        x.elem("Key", url_enc(key, url)).elem("UploadId", &u.id);
        owner(&mut x, "Initiator");
        owner(&mut x, "Owner");
        let parts: Vec<(&u32, &Part)> = u
            .parts
            .range((
                std::ops::Bound::Excluded(marker),
                std::ops::Bound::Unbounded,
            ))
            .take(max + 1)
            .collect();
        let truncated = parts.len() > max;
        let shown = &parts[..parts.len().min(max)];
        x.elem("StorageClass", &u.meta.storage_class)
            .elem("PartNumberMarker", marker);
        if let Some((n, _)) = shown.last() {
            x.elem("NextPartNumberMarker", n);
        }
        x.elem("MaxParts", max).elem("IsTruncated", truncated);
        for (n, p) in shown {
            x.open("Part")
                .elem("PartNumber", n)
                .elem("LastModified", iso8601(p.last_modified))
                .elem("ETag", format!("\"{}\"", p.etag))
                .elem("Size", p.size)
                .close();
        }
        Ok(x.finish())
    })?;
    Ok(xml_response(StatusCode::OK, body))
}

pub(super) fn initiate(sh: &Shared, b: &BucketRef, key: &str, h: &HeaderMap) -> Answer {
    let meta = meta_from_headers(h, b.dialect)?;
    let mut st = sh.lock();
    let id = st.new_upload_id(sh.seed);
    let bk = match st.buckets.get_mut(&b.name) {
        Some(bk) if b.region.as_deref().is_none_or(|r| r == bk.region) => bk,
        _ => return Err(CosError::no_such_bucket(&b.name).into()),
    };
    bk.uploads.insert(
        id.clone(),
        Upload {
            id: id.clone(),
            key: key.to_string(),
            initiated: now_secs(),
            meta,
            parts: BTreeMap::new(),
        },
    );
    let name = bk.name.clone();
    drop(st);
    sh.changed();
    let mut x = Xml::with_namespace("InitiateMultipartUploadResult", b.dialect.namespace());
    x.elem("Bucket", name).elem("Key", key).elem("UploadId", id);
    Ok(xml_response(StatusCode::OK, x.finish()))
}

fn part_number(q: &[(String, String)]) -> Result<u32, CosError> {
    match param(q, "partNumber").and_then(|v| v.parse::<u32>().ok()) {
        Some(n) if (1..=MAX_PARTS).contains(&n) => Ok(n),
        _ => Err(CosError::invalid_argument(
            "partNumber must be an integer between 1 and 10000.",
        )),
    }
}

fn store_part(
    sh: &Shared,
    b: &BucketRef,
    key: &str,
    id: &str,
    n: u32,
    part: Part,
) -> Result<(), CosError> {
    with_bucket(sh, b, |bk| match bk.uploads.get_mut(id) {
        Some(u) if u.key == key => {
            u.parts.insert(n, part);
            Ok(())
        }
        _ => Err(CosError::no_such_upload()),
    })?;
    sh.changed();
    Ok(())
}

fn upload_exists(sh: &Shared, b: &BucketRef, key: &str, id: &str) -> Result<(), CosError> {
    with_bucket(sh, b, |bk| match bk.uploads.get(id) {
        Some(u) if u.key == key => Ok(()),
        _ => Err(CosError::no_such_upload()),
    })
}

/// Upload Part: the part number and the upload are checked before the body (whose size
/// `serve` checked from Content-Length) is streamed in.
pub(super) async fn upload_part(
    sh: &Shared,
    b: &BucketRef,
    key: &str,
    q: &[(String, String)],
    h: &HeaderMap,
    body: Option<Inflow>,
    len: u64,
) -> Answer {
    let id = param(q, "uploadId").unwrap_or_default().to_string();
    let n = part_number(q)?;
    upload_exists(sh, b, key, &id)?;
    let Received {
        content,
        md5,
        checksums,
    } = receive(sh, body, len).await?;
    let etag = check_md5(h, &md5)?;
    let part = Part {
        size: content.len(),
        crc64: content.crc64(),
        content,
        etag,
        last_modified: now_secs(),
    };
    let mut r = Response::new(empty());
    r.headers_mut()
        .insert("etag", hv(&format!("\"{}\"", part.etag)));
    if b.dialect == Dialect::Cos {
        r.headers_mut()
            .insert("x-cos-hash-crc64ecma", hv(&part.crc64.to_string()));
    }
    for (name, value) in checksums {
        r.headers_mut().insert(name, hv(&value));
    }
    store_part(sh, b, key, &id, n, part)?;
    Ok(r)
}

fn copy_range(v: Option<&str>, size: u64, d: Dialect) -> Result<(u64, u64), CosError> {
    let Some(v) = v else {
        if size == 0 {
            return Err(CosError::invalid_argument("The copy source is empty."));
        }
        return Ok((0, size - 1));
    };
    let bad = || {
        CosError::invalid_argument(format!(
            "{} {v:?} is not bytes=FIRST-LAST within the source's {size} bytes.",
            d.header("copy-source-range")
        ))
    };
    let spec = v.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, z) = spec.split_once('-').ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let z: u64 = z.trim().parse().map_err(|_| bad())?;
    if a > z || z >= size {
        return Err(bad());
    }
    Ok((a, z))
}

pub(super) async fn upload_part_copy(
    sh: &Shared,
    b: &BucketRef,
    key: &str,
    q: &[(String, String)],
    h: &HeaderMap,
) -> Answer {
    let id = param(q, "uploadId").unwrap_or_default().to_string();
    let n = part_number(q)?;
    upload_exists(sh, b, key, &id)?;
    let d = b.dialect;
    let (_, _, _, src) = copy_source(sh, h, d)?;
    check_copy_conditions(h, &src, d)?;
    let (first, last) = copy_range(
        header(h, &d.header("copy-source-range")).as_deref(),
        src.size,
        d,
    )?;
    let len = last - first + 1;
    if len > MAX_SIMPLE {
        return Err(CosError::bad(
            "EntityTooLarge",
            format!("A part copy may be at most 5 GB; this range is {len} bytes."),
        )
        .into());
    }
    if len < MIN_PART && last + 1 != src.size {
        return Err(CosError::bad(
            "EntityTooSmall",
            format!("A part copy other than the source's last range must be at least 1 MB; this range is {len} bytes."),
        )
        .into());
    }
    sh.model.copy(len).await;
    let unreadable = |e: std::io::Error| {
        CosError::internal(format!(
            "haul serve cannot read the source's stored bytes: {e}"
        ))
    };
    let content = src.content.slice(first, last).map_err(unreadable)?;
    let part = Part {
        size: len,
        crc64: content.crc64(),
        etag: content.etag_md5_hex().map_err(unreadable)?,
        content,
        last_modified: now_secs(),
    };
    let mut x = Xml::with_namespace("CopyPartResult", d.namespace());
    x.elem("ETag", format!("\"{}\"", part.etag))
        .elem("LastModified", iso8601(part.last_modified));
    if d == Dialect::Cos {
        x.elem("CRC64", part.crc64);
    }
    let crc = part.crc64;
    // The upload may have been aborted while the copy ran: then it fails like on COS.
    store_part(sh, b, key, &id, n, part)?;
    let mut r = xml_response(StatusCode::OK, x.finish());
    if d == Dialect::Cos {
        r.headers_mut()
            .insert("x-cos-hash-crc64ecma", hv(&crc.to_string()));
    }
    Ok(r)
}

#[derive(serde::Deserialize)]
struct CompleteBody {
    #[serde(rename = "Part", default)]
    parts: Vec<CompletePart>,
}

#[derive(serde::Deserialize)]
struct CompletePart {
    #[serde(rename = "PartNumber")]
    number: u32,
    #[serde(rename = "ETag")]
    etag: String,
}

/// The multipart ETag: MD5 of the parts' binary MD5s, then `-N`.
fn multipart_etag(etags: &[String]) -> String {
    let mut h = Md5::new();
    for e in etags {
        match hex::decode(e) {
            Ok(raw) => h.update(raw),
            Err(_) => h.update(e.as_bytes()),
        }
    }
    format!("{}-{}", hex::encode(h.finalize()), etags.len())
}

pub(super) fn complete(
    sh: &Arc<Shared>,
    b: &BucketRef,
    key: &str,
    q: &[(String, String)],
    body: Bytes,
) -> Answer {
    let id = param(q, "uploadId").unwrap_or_default().to_string();
    let text = String::from_utf8_lossy(&body);
    let parsed: CompleteBody = quick_xml::de::from_str(&text).map_err(|_| {
        CosError::bad(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    })?;
    if parsed.parts.is_empty() {
        return Err(CosError::bad("MalformedXML", "The XML you provided lists no parts.").into());
    }
    let (size, crc, etag, count) = with_bucket(sh, b, |bk| {
        let u = match bk.uploads.get(&id) {
            Some(u) if u.key == key => u,
            _ => return Err(CosError::no_such_upload()),
        };
        validate_parts(u, &parsed.parts)
    })?;
    let listed: Vec<(u32, String)> = parsed
        .parts
        .iter()
        .map(|p| (p.number, unquote(&p.etag).to_string()))
        .collect();
    let sh2 = sh.clone();
    let bucket = b.name.clone();
    let region = b.region.clone();
    let d = b.dialect;
    let key = key.to_string();
    let finish = async move {
        let b = BucketRef {
            name: bucket.clone(),
            region,
            dialect: d,
        };
        let applied = with_bucket(&sh2, &b, |bk| {
            let u = match bk.uploads.get(&id) {
                Some(u) if u.key == key => u,
                _ => return Err(CosError::no_such_upload()),
            };
            let mut contents = Vec::with_capacity(listed.len());
            for (n, e) in &listed {
                match u.parts.get(n) {
                    Some(p) if &p.etag == e => contents.push(p.content.clone()),
                    _ => {
                        return Err(CosError::bad(
                            "InvalidPart",
                            "One or more of the specified parts could not be found or changed during the merge.",
                        ))
                    }
                }
            }
            let meta = u.meta.clone();
            let region = bk.region.clone();
            bk.uploads.remove(&id);
            bk.objects.insert(
                key.clone(),
                Object {
                    content: Content::concat(&contents),
                    size,
                    etag: etag.clone(),
                    crc64: crc,
                    last_modified: now_secs(),
                    meta,
                },
            );
            Ok(region)
        });
        match applied {
            Ok(region) => {
                sh2.changed();
                let mut x =
                    Xml::bare_with_namespace("CompleteMultipartUploadResult", d.namespace());
                let path = crate::store::encode::key_to_url_path(&key);
                let location = match d {
                    Dialect::Cos => format!(
                        "http://{bucket}.cos.{region}.myqcloud.com/{}",
                        path.trim_start_matches('/')
                    ),
                    // Path-style, relative: haul serve does not know the name it is reached by.
                    Dialect::S3 => format!("/{bucket}{path}"),
                };
                x.elem("Location", location)
                    .elem("Bucket", &bucket)
                    .elem("Key", &key)
                    .elem("ETag", format!("\"{etag}\""));
                (x.finish(), None)
            }
            Err(e) => (error_body(d, &e, &key, "complete", false), Some(e.code)),
        }
    };
    let crc = (d == Dialect::Cos).then_some(crc);
    Ok(streamed(sh, count, crc, finish))
}

fn validate_parts(
    u: &Upload,
    listed: &[CompletePart],
) -> Result<(u64, u64, String, usize), CosError> {
    let mut prev = 0u32;
    for p in listed {
        if p.number <= prev {
            return Err(CosError::bad(
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
            ));
        }
        prev = p.number;
    }
    let mut size = 0u64;
    let mut crc = 0u64;
    let mut etags = Vec::with_capacity(listed.len());
    for (i, p) in listed.iter().enumerate() {
        let Some(part) = u.parts.get(&p.number) else {
            return Err(CosError::bad(
                "InvalidPart",
                format!("Part {} was never uploaded to this upload.", p.number),
            ));
        };
        if unquote(&p.etag) != part.etag {
            return Err(CosError::bad(
                "InvalidPart",
                format!(
                    "The ETag given for part {} does not match the uploaded part's.",
                    p.number
                ),
            ));
        }
        if i + 1 < listed.len() && part.size < MIN_PART {
            return Err(CosError::bad(
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size. Each part must be at least 1 MB in size, except the last part.",
            ));
        }
        crc = if i == 0 {
            part.crc64
        } else {
            crate::crc64::combine(crc, part.crc64, part.size)
        };
        size += part.size;
        etags.push(part.etag.clone());
    }
    if size > MAX_OBJECT {
        return Err(CosError::bad(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed object size (48.82 TB).",
        ));
    }
    Ok((size, crc, multipart_etag(&etags), listed.len()))
}

/// A 200 whose body is spaces while the "merge" runs, then whatever `finish` renders, as
/// COS's Complete does.
pub(super) fn streamed(
    sh: &Arc<Shared>,
    parts: usize,
    crc: Option<u64>,
    finish: impl std::future::Future<Output = (String, Option<&'static str>)> + Send + 'static,
) -> Response<Body> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let merge = sh.model.complete(parts);
    tokio::spawn(async move {
        let _ = tx.send(Bytes::from_static(b" ")).await;
        let deadline = Instant::now() + merge;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep((deadline - now).min(Duration::from_millis(500))).await;
            if Instant::now() < deadline {
                let _ = tx.send(Bytes::from_static(b" ")).await;
            }
        }
        let (doc, code) = finish.await;
        let _ = tx.send(Bytes::from(doc)).await;
        let _ = done_tx.send(code);
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok(Frame::data(b)), rx))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    r.extensions_mut()
        .insert(Deferred(Arc::new(Mutex::new(Some(done_rx)))));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    if let Some(c) = crc {
        r.headers_mut()
            .insert("x-cos-hash-crc64ecma", hv(&c.to_string()));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etag_is_md5_of_part_md5s_with_count() {
        let e = multipart_etag(&["00".repeat(16), "ff".repeat(16)]);
        assert!(e.ends_with("-2") && e.len() == 34, "{e}");
    }
}
