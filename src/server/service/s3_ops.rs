//! The operations only S3 has, or answers in its own shape: ListBuckets (S3's document),
//! ListObjectsV2 (continuation tokens, `start-after`, `fetch-owner`), GetBucketLocation and
//! DeleteObjects (multi-delete), on the same `State` COS requests see.
//!
//! Must not route or authenticate (`mod.rs`, `s3_routing`, `s3_auth`) nor read request bodies
//! (`body`); the operations both dialects share live in `bucket`, `object` and `multipart`.

use base64::Engine as _;

use super::*;

/// The owner every S3 listing names (haul serve has one account).
fn s3_owner(x: &mut Xml) {
    x.open("Owner")
        .elem("ID", "100000000001")
        .elem("DisplayName", "100000000001")
        .close();
}

/// ListBuckets: every bucket, in name order, in one page.
pub(super) fn list_buckets(sh: &Shared) -> Answer {
    let st = sh.lock();
    let mut x = Xml::with_namespace("ListAllMyBucketsResult", Dialect::S3.namespace());
    s3_owner(&mut x);
    x.open("Buckets");
    for bk in st.buckets.values() {
        x.open("Bucket")
            .elem("Name", &bk.name)
            .elem("CreationDate", iso8601(bk.created))
            .elem("BucketRegion", &bk.region)
            .close();
    }
    x.close();
    Ok(xml_response(StatusCode::OK, x.finish()))
}

/// GetBucketLocation: the bucket's region, as a bare `LocationConstraint`.
pub(super) fn bucket_location(sh: &Shared, b: &BucketRef) -> Answer {
    let region = with_bucket(sh, b, |bk| Ok(bk.region.clone()))?;
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{}\">{}</LocationConstraint>",
        crate::server::dialect::S3_NAMESPACE,
        crate::server::xml::escape(&region)
    );
    Ok(xml_response(StatusCode::OK, doc))
}

/// A continuation token: the last key or common prefix of the page before, opaque to the
/// client (base64url), so a token is never mistaken for `start-after`.
fn token_for(marker: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(marker.as_bytes())
}

fn marker_from_token(token: &str) -> Result<String, CosError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            CosError::invalid_argument("The continuation token provided is incorrect.")
                .with("ArgumentName", "continuation-token")
        })
}

/// ListObjectsV2.
pub(super) fn list_objects_v2(sh: &Shared, b: &BucketRef, q: &[(String, String)]) -> Answer {
    let prefix = param(q, "prefix").unwrap_or("");
    let delimiter = param(q, "delimiter").unwrap_or("");
    let start_after = param(q, "start-after").unwrap_or("");
    let token = param(q, "continuation-token").filter(|t| !t.is_empty());
    let fetch_owner = param(q, "fetch-owner").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let url = match param(q, "encoding-type") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("url") => true,
        Some(_) => {
            return Err(
                CosError::invalid_argument("Invalid Encoding Method specified in Request")
                    .with("ArgumentName", "encoding-type")
                    .into(),
            );
        }
    };
    let max = max_param(q, "max-keys", 1000)?;
    // A token carries on from where the last page ended; start-after counts on the first page
    // only.
    let marker = match token {
        Some(t) => marker_from_token(t)?,
        None => start_after.to_string(),
    };
    let (body, region) = with_bucket(sh, b, |bk| {
        let start = if marker.as_str() > prefix {
            marker.as_str()
        } else {
            prefix
        };
        let items = bk
            .objects
            .range::<str, _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
            .map(|(k, v)| (k.as_str(), v));
        let page = list_page(items, prefix, delimiter, &marker, max);
        let mut x = Xml::with_namespace("ListBucketResult", Dialect::S3.namespace());
        x.elem("Name", &bk.name)
            .elem("Prefix", url_enc(prefix, url))
            .elem("KeyCount", page.entries.len())
            .elem("MaxKeys", max);
        if !delimiter.is_empty() {
            x.elem("Delimiter", url_enc(delimiter, url));
        }
        if url {
            x.elem("EncodingType", "url");
        }
        x.elem("IsTruncated", page.truncated);
        if let Some(t) = token {
            x.elem("ContinuationToken", t);
        }
        if page.truncated {
            if let Some(last) = page.entries.last() {
                let m = match last {
                    Entry::Item(k, _) => k.to_string(),
                    Entry::Prefix(p) => p.clone(),
                };
                x.elem("NextContinuationToken", token_for(&m));
            }
        }
        if !start_after.is_empty() {
            x.elem("StartAfter", url_enc(start_after, url));
        }
        for e in &page.entries {
            match e {
                Entry::Prefix(p) => {
                    x.open("CommonPrefixes")
                        .elem("Prefix", url_enc(p, url))
                        .close();
                }
                Entry::Item(k, o) => {
                    x.open("Contents")
                        .elem("Key", url_enc(k, url))
                        .elem("LastModified", iso8601(o.last_modified))
                        .elem("ETag", format!("\"{}\"", o.etag))
                        .elem("Size", o.size);
                    if fetch_owner {
                        s3_owner(&mut x);
                    }
                    x.elem("StorageClass", &o.meta.storage_class).close();
                }
            }
        }
        Ok((x.finish(), bk.region.clone()))
    })?;
    let mut r = xml_response(StatusCode::OK, body);
    r.headers_mut().insert("x-amz-bucket-region", hv(&region));
    Ok(r)
}

#[derive(serde::Deserialize)]
struct DeleteBody {
    #[serde(rename = "Quiet", default)]
    quiet: Option<String>,
    #[serde(rename = "Object", default)]
    objects: Vec<DeleteEntry>,
}

#[derive(serde::Deserialize)]
struct DeleteEntry {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "VersionId", default)]
    version: Option<String>,
}

/// The most keys one DeleteObjects may name.
const MAX_DELETE_KEYS: usize = 1000;

/// DeleteObjects: deletes up to 1,000 keys; a key that does not exist counts as deleted, as
/// in S3. Each key's outcome is in the answer (only failures when `Quiet`).
pub(super) fn delete_objects(sh: &Shared, b: &BucketRef, h: &HeaderMap, body: Bytes) -> Answer {
    // S3 insists on an integrity check of this body: Content-MD5 or an x-amz-checksum-*.
    let has_checksum = h.keys().any(|k| k.as_str().starts_with("x-amz-checksum-"));
    if header(h, "content-md5").is_none() && !has_checksum {
        return Err(CosError::bad(
            "InvalidRequest",
            "Missing required header for this request: Content-MD5 (or an x-amz-checksum-* header).",
        )
        .into());
    }
    check_md5(h, &Md5::digest(&body).into())?;
    let text = String::from_utf8_lossy(&body);
    let parsed: DeleteBody = quick_xml::de::from_str(&text).map_err(|_| {
        CosError::bad(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    })?;
    if parsed.objects.is_empty() || parsed.objects.len() > MAX_DELETE_KEYS {
        return Err(CosError::bad(
            "MalformedXML",
            format!(
                "A DeleteObjects request names 1 to {MAX_DELETE_KEYS} objects; this one names {}.",
                parsed.objects.len()
            ),
        )
        .into());
    }
    let quiet = parsed
        .quiet
        .as_deref()
        .is_some_and(|q| q.trim().eq_ignore_ascii_case("true"));
    let outcomes = with_bucket(sh, b, |bk| {
        Ok(parsed
            .objects
            .iter()
            .map(|o| {
                let refused = check_key(&o.key)
                    .err()
                    .or_else(|| only_version_id(o.version.as_deref()).err());
                if refused.is_none() {
                    bk.objects.remove(&o.key);
                }
                (o.key.clone(), refused)
            })
            .collect::<Vec<_>>())
    })?;
    sh.changed();
    let mut x = Xml::with_namespace("DeleteResult", Dialect::S3.namespace());
    for (key, refused) in outcomes {
        match refused {
            None if quiet => {}
            None => {
                x.open("Deleted").elem("Key", &key).close();
            }
            Some(e) => {
                x.open("Error")
                    .elem("Key", &key)
                    .elem("Code", e.code)
                    .elem("Message", &e.message)
                    .close();
            }
        }
    }
    Ok(xml_response(StatusCode::OK, x.finish()))
}

/// A DeleteObjects entry's `VersionId`: haul serve keeps only the `null` version.
fn only_version_id(v: Option<&str>) -> Result<(), CosError> {
    match v {
        None | Some("null") | Some("") => Ok(()),
        Some(v) => Err(CosError::new(
            StatusCode::NOT_FOUND,
            "NoSuchVersion",
            format!("The specified version does not exist: {v:?}."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continuation_token_round_trips_any_key_and_a_forged_one_is_refused() {
        for k in ["", "a/b", "ключ with space+plus/&"] {
            assert_eq!(marker_from_token(&token_for(k)).expect("round trip"), k);
        }
        let e = marker_from_token("not base64!").expect_err("forged");
        assert_eq!(e.code, "InvalidArgument");
    }
}
