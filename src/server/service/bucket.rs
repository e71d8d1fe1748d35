//! The bucket-level operations: GET Service (ListBuckets with its filters), PUT and DELETE
//! Bucket, GET Bucket (ListObjects) and List Multipart Uploads, each rendering COS's XML (or
//! S3's, for the ones both dialects share: the same elements in S3's namespace).
//!
//! Only reads and changes buckets in `State` through `Shared`; must not route, authenticate
//! or read request bodies (`mod.rs` and `body` do), nor touch object content.

use super::*;

/// GET Service: the buckets in `host_region` (a `cos.<region>` host) that pass the query's
/// filters (`region`, `tagkey`/`tagvalue`, `create-time` + `range`), in name order, after
/// `marker`, at most `max-keys` (default and maximum 2000) a page.
pub(super) fn list_buckets(
    sh: &Shared,
    host_region: Option<&str>,
    q: &[(String, String)],
) -> Answer {
    let filter = BucketFilter::from_query(host_region, q)?;
    let marker = param(q, "marker").unwrap_or("");
    let max = max_param(q, "max-keys", MAX_BUCKET_KEYS)?;
    let st = sh.lock();
    let mut matching = st
        .buckets
        .range::<str, _>((
            std::ops::Bound::Excluded(marker),
            std::ops::Bound::Unbounded,
        ))
        .map(|(_, bk)| bk)
        .filter(|bk| filter.admits(bk));
    let page: Vec<&Bucket> = matching.by_ref().take(max).collect();
    let truncated = matching.next().is_some();
    let mut x = Xml::new("ListAllMyBucketsResult");
    x.open("Owner")
        .elem("ID", "qcs::cam::uin/100000000001:uin/100000000001")
        .elem("DisplayName", "100000000001")
        .close();
    x.elem("Marker", marker);
    if truncated {
        if let Some(last) = page.last() {
            x.elem("NextMarker", &last.name);
        }
    }
    x.elem("IsTruncated", truncated);
    x.open("Buckets");
    for bk in page {
        x.open("Bucket")
            .elem("Name", &bk.name)
            .elem("Location", &bk.region)
            .elem("CreationDate", iso8601(bk.created).replace(".000Z", "Z"))
            .elem("BucketType", "cos")
            .close();
    }
    x.close();
    Ok(xml_response(StatusCode::OK, x.finish()))
}

/// GET Service's `max-keys`: its default and its maximum.
const MAX_BUCKET_KEYS: usize = 2000;

/// Which buckets a GET Service query selects.
struct BucketFilter<'a> {
    regions: Vec<&'a str>,
    /// `tagkey`/`tagvalue` given: haul serve keeps no bucket tags, so no bucket has the tag.
    by_tag: bool,
    created: Option<(TimeRange, i64)>,
}

#[derive(Clone, Copy)]
enum TimeRange {
    Lt,
    Gt,
    Lte,
    Gte,
}

impl<'a> BucketFilter<'a> {
    fn from_query(
        host_region: Option<&'a str>,
        q: &'a [(String, String)],
    ) -> Result<Self, CosError> {
        let given = |name: &str| param(q, name).filter(|v| !v.is_empty());
        let regions = host_region.into_iter().chain(given("region")).collect();
        let by_tag = given("tagkey").is_some() || given("tagvalue").is_some();
        let created = match (given("create-time"), given("range")) {
            (None, None) => None,
            (Some(t), Some(r)) => {
                let t = t.parse::<i64>().map_err(|_| {
                    CosError::invalid_argument(format!(
                        "create-time {t:?} is not a Unix time in seconds (e.g. 1642662645)."
                    ))
                })?;
                let r = match r.to_ascii_lowercase().as_str() {
                    "lt" => TimeRange::Lt,
                    "gt" => TimeRange::Gt,
                    "lte" => TimeRange::Lte,
                    "gte" => TimeRange::Gte,
                    _ => {
                        return Err(CosError::invalid_argument(format!(
                            "range {r:?} is not one of lt, gt, lte, gte."
                        )))
                    }
                };
                Some((r, t))
            }
            _ => {
                return Err(CosError::invalid_argument(
                    "create-time and range go together: give both or neither.",
                ))
            }
        };
        Ok(BucketFilter {
            regions,
            by_tag,
            created,
        })
    }

    fn admits(&self, bk: &Bucket) -> bool {
        let created = match self.created {
            None => true,
            Some((TimeRange::Lt, t)) => bk.created < t,
            Some((TimeRange::Gt, t)) => bk.created > t,
            Some((TimeRange::Lte, t)) => bk.created <= t,
            Some((TimeRange::Gte, t)) => bk.created >= t,
        };
        self.regions.iter().all(|r| *r == bk.region) && !self.by_tag && created
    }
}

/// S3's CreateBucket body: the region to create the bucket in.
#[derive(serde::Deserialize)]
struct CreateBucketConfiguration {
    #[serde(rename = "LocationConstraint", default)]
    location: Option<String>,
}

/// PUT Bucket / CreateBucket. In S3 the region comes from the body's `LocationConstraint`
/// (none: the server's default region); in COS from the host name.
pub(super) fn put_bucket(sh: &Shared, b: &BucketRef, body: &[u8]) -> Answer {
    let requested = if b.dialect == Dialect::S3 && !body.iter().all(u8::is_ascii_whitespace) {
        let parsed: CreateBucketConfiguration =
            quick_xml::de::from_str(&String::from_utf8_lossy(body)).map_err(|_| {
                CosError::bad(
                    "MalformedXML",
                    "The XML you provided was not well-formed or did not validate against our published schema.",
                )
            })?;
        parsed.location.filter(|l| !l.trim().is_empty())
    } else {
        None
    };
    if crate::store::endpoint::BucketName::parse(&b.name).is_err() {
        return Err(CosError::bad(
            "InvalidBucketName",
            "The specified bucket name is not valid: use NAME-APPID.",
        )
        .into());
    }
    let mut st = sh.lock();
    if st.buckets.contains_key(&b.name) {
        // One account owns every bucket here: S3 says so with its own code.
        let e = match b.dialect {
            Dialect::Cos => CosError::new(
                StatusCode::CONFLICT,
                "BucketAlreadyExists",
                "The requested bucket name is not available.",
            ),
            Dialect::S3 => CosError::new(
                StatusCode::CONFLICT,
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it.",
            ),
        };
        return Err(e.into());
    }
    let region = requested
        .or_else(|| b.region.clone())
        .unwrap_or_else(|| sh.default_region.clone());
    st.buckets
        .insert(b.name.clone(), Bucket::new(&b.name, &region, now_secs()));
    drop(st);
    sh.changed();
    Ok(Response::new(empty()))
}

/// DELETE Bucket: only an empty bucket (no objects, no incomplete uploads) goes.
pub(super) fn delete_bucket(sh: &Shared, b: &BucketRef) -> Answer {
    let mut st = sh.lock();
    let (objects, uploads) = match st.buckets.get(&b.name) {
        Some(bk) if b.region.as_deref().is_none_or(|r| r == bk.region) => {
            (bk.objects.len(), bk.uploads.len())
        }
        _ => return Err(CosError::no_such_bucket(&b.name).into()),
    };
    if objects > 0 || uploads > 0 {
        return Err(CosError::new(
            StatusCode::CONFLICT,
            "BucketNotEmpty",
            format!(
                "The bucket you tried to delete is not empty: it holds {objects} object(s) and {uploads} incomplete multipart upload(s); delete the objects and abort the uploads first."
            ),
        )
        .into());
    }
    st.buckets.remove(&b.name);
    drop(st);
    sh.changed();
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

pub(super) fn list_objects(sh: &Shared, b: &BucketRef, q: &[(String, String)]) -> Answer {
    let prefix = param(q, "prefix").unwrap_or("");
    let delimiter = param(q, "delimiter").unwrap_or("");
    let marker = param(q, "marker").unwrap_or("");
    let url = match param(q, "encoding-type") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("url") => true,
        Some(_) => {
            return Err(CosError::invalid_argument("encoding-type must be url.").into());
        }
    };
    let max = max_param(q, "max-keys", 1000)?;
    let (body, region) = with_bucket(sh, b, |bk| {
        let start = if marker > prefix { marker } else { prefix };
        let items = bk
            .objects
            .range::<str, _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
            .map(|(k, v)| (k.as_str(), v));
        let page = list_page(items, prefix, delimiter, marker, max);
        let mut x = Xml::with_namespace("ListBucketResult", b.dialect.namespace());
        x.elem("Name", &bk.name);
        if url {
            x.elem("EncodingType", "url");
        }
        x.elem("Prefix", url_enc(prefix, url))
            .elem("Marker", url_enc(marker, url))
            .elem("MaxKeys", max);
        if !delimiter.is_empty() {
            x.elem("Delimiter", url_enc(delimiter, url));
        }
        x.elem("IsTruncated", page.truncated);
        if page.truncated {
            if let Some(last) = page.entries.last() {
                let m = match last {
                    Entry::Item(k, _) => k.to_string(),
                    Entry::Prefix(p) => p.clone(),
                };
                x.elem("NextMarker", url_enc(&m, url));
            }
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
                    x.open("Owner")
                        .elem("ID", "1250000000")
                        .elem("DisplayName", "1250000000")
                        .close();
                    x.elem("StorageClass", &o.meta.storage_class).close();
                }
            }
        }
        Ok((x.finish(), bk.region.clone()))
    })?;
    let mut r = xml_response(StatusCode::OK, body);
    set_header(&mut r, b.dialect.header("bucket-region"), &region);
    Ok(r)
}

pub(super) fn list_uploads(sh: &Shared, b: &BucketRef, q: &[(String, String)]) -> Answer {
    let prefix = param(q, "prefix").unwrap_or("");
    let delimiter = param(q, "delimiter").unwrap_or("");
    let key_marker = param(q, "key-marker").unwrap_or("");
    let id_marker = if key_marker.is_empty() {
        ""
    } else {
        param(q, "upload-id-marker").unwrap_or("")
    };
    let url = param(q, "encoding-type").is_some_and(|v| v.eq_ignore_ascii_case("url"));
    let max = max_param(q, "max-uploads", 1000)?;
    let body = with_bucket(sh, b, |bk| {
        let mut ups: Vec<&Upload> = bk.uploads.values().collect();
        ups.sort_by(|a, b| (&a.key, &a.id).cmp(&(&b.key, &b.id)));
        let items = ups.into_iter().map(|u| (u.key.as_str(), u));
        let Page { entries, truncated } =
            list_page_after(items, prefix, delimiter, key_marker, max, |key, u| {
                key_marker.is_empty()
                    || key > key_marker
                    || (!id_marker.is_empty() && key == key_marker && u.id.as_str() > id_marker)
            });
        let mut x = Xml::with_namespace("ListMultipartUploadsResult", b.dialect.namespace());
        x.elem("Bucket", &bk.name);
        if url {
            let name = match b.dialect {
                Dialect::Cos => "Encoding-Type",
                Dialect::S3 => "EncodingType",
            };
            x.elem(name, "url");
        }
        x.elem("KeyMarker", url_enc(key_marker, url))
            .elem("UploadIdMarker", id_marker);
        if truncated {
            match entries.last() {
                Some(Entry::Item(k, u)) => {
                    x.elem("NextKeyMarker", url_enc(k, url))
                        .elem("NextUploadIdMarker", &u.id);
                }
                Some(Entry::Prefix(p)) => {
                    x.elem("NextKeyMarker", url_enc(p, url))
                        .elem("NextUploadIdMarker", "");
                }
                None => {}
            }
        }
        x.elem("MaxUploads", max)
            .elem("IsTruncated", truncated)
            .elem("Prefix", url_enc(prefix, url))
            .elem("Delimiter", url_enc(delimiter, url));
        for e in &entries {
            match e {
                Entry::Prefix(p) => {
                    x.open("CommonPrefixes")
                        .elem("Prefix", url_enc(p, url))
                        .close();
                }
                Entry::Item(k, u) => {
                    x.open("Upload")
                        .elem("Key", url_enc(k, url))
                        .elem("UploadId", &u.id)
                        .elem("StorageClass", &u.meta.storage_class);
                    owner(&mut x, "Initiator");
                    owner(&mut x, "Owner");
                    x.elem("Initiated", iso8601(u.initiated)).close();
                }
            }
        }
        Ok(x.finish())
    })?;
    Ok(xml_response(StatusCode::OK, body))
}

pub(super) fn owner(x: &mut Xml, tag: &'static str) {
    x.open(tag)
        .elem("ID", "qcs::cam::uin/100000000001:uin/100000000001")
        .elem("DisplayName", "100000000001")
        .close();
}
