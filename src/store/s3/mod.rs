//! The S3 dialect: an `ObjectStore` that speaks the S3 API with Signature V4 (`crate::sigv4`)
//! to AWS S3, MinIO, Ceph RGW, Cloudflare R2, COS's S3 endpoint or `haul serve`.
//!
//! One request per call, like the COS client: no retries and no policy here (the engine owns
//! both). The transport pieces are the COS client's (`store::client`): capped body reads,
//! error typing from `<Error>` documents (inside a 200 too), network-failure classes. Only
//! addressing (`address`), signing and the S3 spellings (`x-amz-*`, ListObjectsV2) are its own.
//! Secrets are used for signing and the token header only; they never reach a record, an
//! error or a log. It never reports a checksum as `crc64`: that field is COS's CRC-64/XZ, and
//! S3's full-object CRC64NVME (HEAD with `x-amz-checksum-mode: ENABLED`, CopyObject and
//! Complete answers) goes to `crc64nvme`, so the engine compares only like with like.

pub mod address;
pub mod tokens;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest, Md5};
use reqwest::Method;
use time::OffsetDateTime;

use self::address::{Addressing, Target};
use self::tokens::{ContinuationTokens, ListingAt};
use super::client::{
    header_map, http_client, http_date, method_name, perform, query_string, request_record,
    service_error, Answer, ClientOptions, Endpoint, Exchange, ANSWER_CAP,
};
use super::encode::{encode_copy_source_key, validate_key};
use super::xml::{self, XmlError};
use super::{
    BucketInfo, BucketName, ByteRange, CompleteResult, CompletedPart, CopyObjectRequest,
    CopyResult, CopySourceConditions, CredentialSource, Credentials, Dialect, Error,
    ListObjectsPage, ListObjectsRequest, ListPartsPage, ListUploadsPage, ListUploadsRequest,
    MetadataDirective, ObjectHeaders, ObjectMeta, ObjectRef, ObjectStore, Op, PartResult,
    PutResult, RequestObserver, Result, UploadPartCopyRequest,
};
use crate::sigv4::{self, Scope, SigningKey};

/// S3's limits (AWS's documented quotas; the other stores keep to them or are looser).
pub const MAX_COPY_PART: u64 = 5 << 30;
/// CopyObject copies at most 5 GiB in one request.
pub const MAX_COPY_OBJECT: u64 = 5 << 30;
pub const MAX_PARTS: u32 = 10_000;
pub const MAX_OBJECT_SIZE: u64 = 5 << 40;
/// S3's storage classes, as `x-amz-storage-class` spells them (AWS's list; other stores take
/// a subset, usually STANDARD).
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
];
/// Bodies up to this size are signed with their SHA-256; larger ones (object data) are sent
/// as `UNSIGNED-PAYLOAD` with a Content-MD5 instead, so no body is hashed twice.
const HASHED_BODY_MAX: usize = 1 << 20;
/// The service name in the credential scope.
const SERVICE: &str = "s3";

/// How to build an `S3Client`: the COS client's options (credentials, endpoint, timeouts,
/// observer) plus the region to sign for and how to address buckets.
#[derive(Clone, Debug)]
pub struct S3Options {
    pub base: ClientOptions,
    /// The signing region when a request names none, and AWS's endpoint region.
    pub region: String,
    pub addressing: Addressing,
}

impl S3Options {
    pub fn new(credentials: Credentials, region: impl Into<String>) -> Self {
        let mut base = ClientOptions::new(credentials);
        base.credential_source = CredentialSource {
            secret_id: "AWS_ACCESS_KEY_ID".into(),
            secret_key: "AWS_SECRET_ACCESS_KEY".into(),
            session_token: "AWS_SESSION_TOKEN".into(),
        };
        S3Options {
            base,
            region: region.into(),
            addressing: Addressing::Auto,
        }
    }
}

/// The S3 client. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct S3Client {
    http: reqwest::Client,
    credentials: Credentials,
    /// `None`: AWS's regional endpoint for each request's region.
    endpoint: Option<Endpoint>,
    region: String,
    addressing: Addressing,
    request_timeout: Duration,
    complete_timeout: Duration,
    copy_timeout: Duration,
    observer: Option<RequestObserver>,
    credential_source: CredentialSource,
    clock_offset: AtomicI64,
    /// The last signing key: valid for a day and a region, so derived once per scope.
    key: Mutex<Option<SigningKey>>,
    tokens: ContinuationTokens,
}

impl std::fmt::Debug for S3Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Client")
            .field("access_key_id", &self.credentials.secret_id)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("addressing", &self.addressing)
            .finish_non_exhaustive()
    }
}

/// One request before signing.
struct Req<'a> {
    op: Op,
    method: Method,
    region: String,
    bucket: Option<&'a str>,
    key: Option<&'a str>,
    /// Decoded query parameters; `None` values are sent bare (`?uploads`) and signed empty.
    params: Vec<(String, Option<String>)>,
    /// Extra headers (lowercase names); all are signed.
    headers: Vec<(String, String)>,
    body: Option<Bytes>,
    timeout: Duration,
    resource: String,
    body_cap: Option<u64>,
    /// Statuses besides 2xx handed back as answers (HEAD Bucket reads the region of a 301).
    also_accept: &'static [u16],
}

impl Req<'_> {
    fn param(mut self, k: &str, v: impl Into<String>) -> Self {
        self.params.push((k.to_string(), Some(v.into())));
        self
    }
    fn opt_param(self, k: &str, v: Option<impl Into<String>>) -> Self {
        match v {
            Some(v) => self.param(k, v),
            None => self,
        }
    }
    fn flag(mut self, k: &str) -> Self {
        self.params.push((k.to_string(), None));
        self
    }
    fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_string(), v.into()));
        self
    }
    fn opt_header(self, k: &str, v: Option<impl Into<String>>) -> Self {
        match v {
            Some(v) => self.header(k, v),
            None => self,
        }
    }
    fn body(mut self, b: Bytes) -> Self {
        self.body = Some(b);
        self
    }
    fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
}

impl S3Client {
    pub fn new(opts: S3Options) -> Result<S3Client> {
        let base = opts.base;
        let endpoint = base
            .endpoint
            .as_deref()
            .map(Endpoint::parse)
            .transpose()
            .map_err(|m| Error::InvalidInput(format!("endpoint {m}")))?;
        if base.credentials.secret_id.trim().is_empty()
            || base.credentials.secret_key.expose().trim().is_empty()
        {
            return Err(Error::InvalidInput(format!(
                "the access key id or secret access key is empty: set {} and {}",
                base.credential_source.secret_id, base.credential_source.secret_key
            )));
        }
        let http = http_client(endpoint.is_some(), base.connect_timeout)?;
        Ok(S3Client {
            http,
            credentials: base.credentials,
            endpoint,
            region: opts.region,
            addressing: opts.addressing,
            request_timeout: base.request_timeout,
            complete_timeout: base.complete_timeout,
            copy_timeout: base.copy_timeout,
            observer: base.observer,
            credential_source: base.credential_source,
            clock_offset: AtomicI64::new(0),
            key: Mutex::new(None),
            tokens: ContinuationTokens::default(),
        })
    }

    /// The endpoint requests go to (`https://s3.REGION.amazonaws.com` when none was given).
    pub fn endpoint_for(&self, region: &str) -> Endpoint {
        self.endpoint
            .clone()
            .unwrap_or_else(|| address::aws_endpoint(region))
    }

    /// The endpoint override, if any.
    pub fn endpoint(&self) -> Option<&Endpoint> {
        self.endpoint.as_ref()
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    fn now_unix(&self) -> i64 {
        let local = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        local + self.clock_offset.load(Ordering::Relaxed)
    }

    fn signing_key(&self, scope: &Scope) -> SigningKey {
        let mut g = self.key.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_ref() {
            Some(k) if k.scope() == scope => k.clone(),
            _ => {
                let k = SigningKey::derive(self.credentials.secret_key.expose(), scope);
                *g = Some(k.clone());
                k
            }
        }
    }

    fn req<'a>(&self, op: Op, method: Method, resource: String) -> Req<'a> {
        Req {
            op,
            method,
            region: self.region.clone(),
            bucket: None,
            key: None,
            params: Vec::new(),
            headers: Vec::new(),
            body: None,
            timeout: self.request_timeout,
            resource,
            body_cap: Some(ANSWER_CAP),
            also_accept: &[],
        }
    }

    fn bucket_req<'a>(
        &self,
        op: Op,
        method: Method,
        bucket: &'a BucketName,
        region: &str,
    ) -> Result<Req<'a>> {
        s3_bucket(op, bucket)?;
        let mut r = self.req(op, method, format!("s3://{bucket}/"));
        r.bucket = Some(bucket.as_str());
        r.region = region.to_string();
        Ok(r)
    }

    fn object_req<'a>(&self, op: Op, method: Method, obj: &'a ObjectRef) -> Result<Req<'a>> {
        s3_bucket(op, &obj.bucket)?;
        validate_key(&obj.key).map_err(|e| Error::InvalidInput(format!("{op} {obj}: {e}")))?;
        let mut r = self.req(op, method, obj.to_string());
        r.bucket = Some(obj.bucket.as_str());
        r.key = Some(&obj.key);
        r.region = obj.region.clone();
        Ok(r)
    }

    async fn send(&self, req: Req<'_>) -> Result<Answer> {
        let started = Instant::now();
        let (op, resource, method) = (req.op, req.resource.clone(), method_name(&req.method));
        let result = self.exchange(req).await;
        if let Some(observer) = &self.observer {
            observer(request_record(
                op,
                method,
                resource,
                started,
                &result,
                "x-amz-request-id",
            ));
        }
        result
    }

    async fn exchange(&self, req: Req<'_>) -> Result<Answer> {
        let Req {
            op,
            method,
            region,
            bucket,
            key,
            params,
            headers: extra,
            body,
            timeout,
            resource,
            body_cap,
            also_accept,
        } = req;
        let endpoint = self.endpoint_for(&region);
        let Target {
            url,
            host,
            sign_path,
        } = address::target(&endpoint, self.addressing, bucket, key);
        let query = query_string(&params);
        let url = if query.is_empty() {
            url
        } else {
            format!("{url}?{query}")
        };
        let url = reqwest::Url::parse(&url).map_err(|e| {
            Error::InvalidInput(format!("{op} {resource}: cannot build the URL: {e}"))
        })?;

        let payload_hash = match &body {
            None => sigv4::EMPTY_PAYLOAD_SHA256.to_string(),
            Some(b) if b.len() <= HASHED_BODY_MAX => sigv4::sha256_hex(b),
            Some(_) => sigv4::UNSIGNED_PAYLOAD.to_string(),
        };
        let amz_date = sigv4::amz_date(self.now_unix());
        let mut headers = sigv4::standard_headers(
            &host,
            &amz_date,
            &payload_hash,
            self.credentials.token.as_ref().map(|t| t.expose()),
        );
        headers.extend(extra);
        let signed_params: Vec<(String, String)> = params
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
        let key = self.signing_key(&Scope::new(&amz_date, &region, SERVICE));
        let signed = sigv4::sign(
            &sigv4::Request {
                method: method.as_str(),
                path: &sign_path,
                query: &signed_params,
                headers: &headers,
                payload_hash: &payload_hash,
            },
            &self.credentials.secret_id,
            &key,
            &amz_date,
        );

        let headers = header_map(
            op,
            &resource,
            headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .chain(std::iter::once((
                    "authorization",
                    signed.authorization.as_str(),
                ))),
        )?;
        perform(Exchange {
            http: &self.http,
            op,
            method,
            url,
            headers,
            body,
            timeout,
            resource,
            body_cap,
            also_accept,
            credential_source: &self.credential_source,
        })
        .await
    }
}

/// Refuses a `cos://` bucket (a journaled COS job resumed on an S3 profile, say) with
/// `Error::WrongDialect`: it lives behind another endpoint and another signature.
fn s3_bucket(op: Op, bucket: &BucketName) -> Result<()> {
    Error::check_dialect(op, bucket, Dialect::S3)
}

fn protocol(a: &Answer, message: String) -> Error {
    Error::Protocol {
        op: a.op,
        resource: a.resource.clone(),
        message,
    }
}

fn content_md5(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(body))
}

/// Content headers, `x-amz-meta-*` and the storage class, as request headers.
fn object_headers(h: &ObjectHeaders) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut push = |n: &str, v: &Option<String>| {
        if let Some(v) = v {
            out.push((n.to_string(), v.clone()));
        }
    };
    push("content-type", &h.content_type);
    push("cache-control", &h.cache_control);
    push("content-disposition", &h.content_disposition);
    push("content-encoding", &h.content_encoding);
    push("expires", &h.expires);
    push("x-amz-storage-class", &h.storage_class);
    for (k, v) in &h.meta {
        out.push((format!("x-amz-meta-{}", k.to_ascii_lowercase()), v.clone()));
    }
    out
}

/// `x-amz-copy-source-if-*` headers.
fn copy_conditions(c: &CopySourceConditions) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let quoted = |e: &str| format!("\"{}\"", xml::unquote_etag(e));
    if let Some(etag) = &c.if_match {
        out.push(("x-amz-copy-source-if-match".to_string(), quoted(etag)));
    }
    if let Some(etag) = &c.if_none_match {
        out.push(("x-amz-copy-source-if-none-match".to_string(), quoted(etag)));
    }
    if let Some(t) = c.if_modified_since {
        out.push((
            "x-amz-copy-source-if-modified-since".to_string(),
            http_date(t),
        ));
    }
    if let Some(t) = c.if_unmodified_since {
        out.push((
            "x-amz-copy-source-if-unmodified-since".to_string(),
            http_date(t),
        ));
    }
    out
}

/// `x-amz-copy-source`: `/bucket/key`, the key URL-encoded with `/` kept.
fn copy_source(obj: &ObjectRef) -> String {
    format!("/{}/{}", obj.bucket, encode_copy_source_key(&obj.key))
}

/// A full-object CRC-64/NVME: S3's base64 of the 8 big-endian bytes, when `checksum_type` is
/// `FULL_OBJECT` or not given (CRC64NVME is never composite); `None` for anything else.
fn crc64nvme(value: Option<&str>, checksum_type: Option<&str>) -> Option<u64> {
    if checksum_type.is_some_and(|t| !t.trim().eq_ignore_ascii_case("FULL_OBJECT")) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value?.trim())
        .ok()?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// The `<ChecksumCRC64NVME>` (and `<ChecksumType>`) of a CopyObject or Complete answer.
fn crc64nvme_in(body: &str) -> Option<u64> {
    let root = xml::parse_tree(body).ok()?;
    crc64nvme(
        root.text_of(&["ChecksumCRC64NVME"]),
        root.text_of(&["ChecksumType"]),
    )
}

/// HEAD Object's headers as `ObjectMeta` (never a `crc64`: see the module doc; S3's own
/// `x-amz-checksum-crc64nvme` goes to `crc64nvme`).
fn object_meta(a: &Answer) -> Result<ObjectMeta> {
    let size = a
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| protocol(a, "HEAD answered without a Content-Length".to_string()))?;
    let storage_class = a.header("x-amz-storage-class");
    let mut meta = std::collections::BTreeMap::new();
    for (name, value) in &a.headers {
        if let Some(m) = name.as_str().strip_prefix("x-amz-meta-") {
            let v = value
                .to_str()
                .map(str::to_string)
                .unwrap_or_else(|_| String::from_utf8_lossy(value.as_bytes()).into_owned());
            meta.insert(m.to_string(), v);
        }
    }
    Ok(ObjectMeta {
        size,
        etag: a
            .header("etag")
            .map(|e| xml::unquote_etag(&e))
            .unwrap_or_default(),
        last_modified: a
            .header("last-modified")
            .and_then(|d| httpdate::parse_http_date(&d).ok())
            .map(OffsetDateTime::from),
        crc64: None,
        crc64nvme: crc64nvme(
            a.header("x-amz-checksum-crc64nvme").as_deref(),
            a.header("x-amz-checksum-type").as_deref(),
        ),
        storage_class: storage_class
            .clone()
            .unwrap_or_else(|| "STANDARD".to_string()),
        headers: ObjectHeaders {
            content_type: a.header("content-type"),
            cache_control: a.header("cache-control"),
            content_disposition: a.header("content-disposition"),
            content_encoding: a.header("content-encoding"),
            expires: a.header("expires"),
            meta,
            storage_class,
        },
    })
}

/// A ListObjectsV2 page and its continuation token.
fn parse_list_objects_v2(
    body: &str,
) -> std::result::Result<(ListObjectsPage, Option<String>), XmlError> {
    let page = xml::parse_list_objects(body)?;
    let token = xml::parse_tree(body)?
        .non_empty(&["NextContinuationToken"])
        .map(str::to_string);
    Ok((page, token))
}

/// Checks a multipart ETag's shape against the parts sent: `<hex>-<N>` must say N parts.
/// Other shapes (a store that answers a plain hex) pass: they say nothing about the count.
pub fn check_multipart_etag(etag: &str, parts: usize) -> std::result::Result<(), String> {
    if let Some((hex, n)) = etag.rsplit_once('-') {
        if hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Ok(n) = n.parse::<usize>() {
                if n != parts {
                    return Err(format!(
                        "Complete answered ETag {etag:?}, the ETag of {n} parts, for {parts} parts sent"
                    ));
                }
            }
        }
    }
    Ok(())
}

fn check_part_number(op: Op, obj: &ObjectRef, n: u32) -> Result<()> {
    if (1..=MAX_PARTS).contains(&n) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{op} {obj}: part number {n} is outside S3's 1 to {MAX_PARTS}"
        )))
    }
}

#[async_trait]
impl ObjectStore for S3Client {
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let answer = self
            .send(self.req(Op::ListBuckets, Method::GET, "s3://".to_string()))
            .await?;
        let list = answer.parse(xml::parse_list_buckets)?;
        Ok(list
            .buckets
            .into_iter()
            .map(|mut b| {
                if b.region.is_empty() {
                    b.region = self.region.clone();
                }
                b
            })
            .collect())
    }

    async fn head_bucket(&self, bucket: &BucketName, region: &str) -> Result<String> {
        let mut r = self.bucket_req(Op::HeadBucket, Method::HEAD, bucket, region)?;
        // AWS names the bucket's region even when the request went to the wrong one.
        r.also_accept = &[301, 400, 403];
        let answer = self.send(r).await?;
        if let Some(found) = answer
            .header("x-amz-bucket-region")
            .filter(|r| !r.is_empty())
        {
            return Ok(found);
        }
        if !answer.status.is_success() {
            return Err(service_error(
                answer.op,
                &answer.resource,
                answer.status,
                &answer.headers,
                &answer.body,
                false,
                &answer.credential_source,
            ));
        }
        Ok(region.to_string())
    }

    async fn list_objects(
        &self,
        bucket: &BucketName,
        region: &str,
        req: &ListObjectsRequest,
    ) -> Result<ListObjectsPage> {
        let at = |marker: &str| ListingAt {
            bucket: bucket.to_string(),
            prefix: req.prefix.clone(),
            delimiter: req.delimiter.clone(),
            marker: marker.to_string(),
        };
        let mut r = self
            .bucket_req(Op::ListObjects, Method::GET, bucket, region)?
            .param("list-type", "2")
            .param("prefix", req.prefix.clone())
            .opt_param("delimiter", req.delimiter.clone())
            .opt_param("max-keys", req.max_keys.map(|n| n.to_string()))
            .param("encoding-type", "url");
        if let Some(marker) = &req.marker {
            r = match self.tokens.get(&at(marker)) {
                Some(token) => r.param("continuation-token", token),
                None => r.param("start-after", marker.clone()),
            };
        }
        let answer = self.send(r).await?;
        let (page, token) = answer.parse(parse_list_objects_v2)?;
        if let (true, Some(next), Some(token)) = (page.is_truncated, &page.next_marker, token) {
            self.tokens.remember(at(next), token);
        }
        Ok(page)
    }

    async fn head_object(&self, obj: &ObjectRef) -> Result<ObjectMeta> {
        // Without checksum mode S3 keeps an object's checksum to itself.
        let r = self
            .object_req(Op::HeadObject, Method::HEAD, obj)?
            .header("x-amz-checksum-mode", "ENABLED");
        let answer = self.send(r).await?;
        object_meta(&answer)
    }

    async fn get_object(&self, obj: &ObjectRef, range: Option<ByteRange>) -> Result<Bytes> {
        let mut r = self
            .object_req(Op::GetObject, Method::GET, obj)?
            .opt_header("range", range.map(|r| r.header_value()));
        r.body_cap = None;
        Ok(self.send(r).await?.body)
    }

    async fn put_object(
        &self,
        obj: &ObjectRef,
        body: Bytes,
        headers: &ObjectHeaders,
    ) -> Result<PutResult> {
        let mut r = self
            .object_req(Op::PutObject, Method::PUT, obj)?
            .header("content-md5", content_md5(&body))
            .body(body)
            .timeout(self.copy_timeout);
        r.headers.extend(object_headers(headers));
        let answer = self.send(r).await?;
        Ok(PutResult {
            etag: answer.etag()?,
            crc64: None,
        })
    }

    async fn delete_object(&self, obj: &ObjectRef) -> Result<()> {
        self.send(self.object_req(Op::DeleteObject, Method::DELETE, obj)?)
            .await?;
        Ok(())
    }

    async fn copy_object(&self, req: &CopyObjectRequest) -> Result<CopyResult> {
        s3_bucket(Op::PutObjectCopy, &req.source.bucket)?;
        validate_key(&req.source.key).map_err(|e| {
            Error::InvalidInput(format!("PutObjectCopy source {}: {e}", req.source))
        })?;
        let directive = match req.directive {
            MetadataDirective::Copy => "COPY",
            MetadataDirective::Replaced => "REPLACE",
        };
        let mut r = self
            .object_req(Op::PutObjectCopy, Method::PUT, &req.destination)?
            .header("x-amz-copy-source", copy_source(&req.source))
            .header("x-amz-metadata-directive", directive)
            .body(Bytes::new())
            .timeout(self.copy_timeout);
        match req.directive {
            MetadataDirective::Replaced => r.headers.extend(object_headers(&req.headers)),
            MetadataDirective::Copy => {
                if let Some(class) = &req.headers.storage_class {
                    r = r.header("x-amz-storage-class", class.clone());
                }
            }
        }
        r.headers.extend(copy_conditions(&req.conditions));
        let answer = self.send(r).await?;
        answer.parse(|body| {
            xml::parse_copy_object(body).map(|r| CopyResult {
                crc64: None,
                crc64nvme: crc64nvme_in(body),
                ..r
            })
        })
    }

    async fn initiate_multipart(&self, obj: &ObjectRef, headers: &ObjectHeaders) -> Result<String> {
        let mut r = self
            .object_req(Op::InitiateMultipartUpload, Method::POST, obj)?
            .flag("uploads")
            .body(Bytes::new());
        r.headers.extend(object_headers(headers));
        let answer = self.send(r).await?;
        answer.parse(xml::parse_initiate)
    }

    async fn upload_part(
        &self,
        obj: &ObjectRef,
        upload_id: &str,
        part_number: u32,
        body: Bytes,
    ) -> Result<PartResult> {
        check_part_number(Op::UploadPart, obj, part_number)?;
        let r = self
            .object_req(Op::UploadPart, Method::PUT, obj)?
            .param("partNumber", part_number.to_string())
            .param("uploadId", upload_id)
            .header("content-md5", content_md5(&body))
            .body(body)
            .timeout(self.copy_timeout);
        let answer = self.send(r).await?;
        Ok(PartResult {
            etag: answer.etag()?,
            crc64: None,
        })
    }

    async fn upload_part_copy(&self, req: &UploadPartCopyRequest) -> Result<PartResult> {
        let op = Op::UploadPartCopy;
        check_part_number(op, &req.destination, req.part_number)?;
        s3_bucket(op, &req.source.bucket)?;
        validate_key(&req.source.key)
            .map_err(|e| Error::InvalidInput(format!("{op} source {}: {e}", req.source)))?;
        if let Some(range) = req.range {
            if range.len() > MAX_COPY_PART {
                return Err(Error::InvalidInput(format!(
                    "{op} {}: part {} copies {} bytes, over S3's 5 GiB per UploadPartCopy",
                    req.destination,
                    req.part_number,
                    range.len()
                )));
            }
        }
        let mut r = self
            .object_req(op, Method::PUT, &req.destination)?
            .param("partNumber", req.part_number.to_string())
            .param("uploadId", req.upload_id.clone())
            .header("x-amz-copy-source", copy_source(&req.source))
            .opt_header(
                "x-amz-copy-source-range",
                req.range.map(|r| r.header_value()),
            )
            .body(Bytes::new())
            .timeout(self.copy_timeout);
        r.headers.extend(copy_conditions(&req.conditions));
        let answer = self.send(r).await?;
        let mut part = answer.parse(xml::parse_copy_part)?;
        part.crc64 = None;
        Ok(part)
    }

    async fn complete_multipart(
        &self,
        obj: &ObjectRef,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<CompleteResult> {
        if parts.is_empty() || parts.len() > MAX_PARTS as usize {
            return Err(Error::InvalidInput(format!(
                "CompleteMultipartUpload {obj}: {} parts, S3 takes 1 to {MAX_PARTS}",
                parts.len()
            )));
        }
        let r = self
            .object_req(Op::CompleteMultipartUpload, Method::POST, obj)?
            .param("uploadId", upload_id)
            .header("content-type", "application/xml")
            .body(Bytes::from(xml::complete_body(parts)))
            .timeout(self.complete_timeout);
        let answer = self.send(r).await?;
        // A 200 whose body is an <Error> (S3 streams spaces, then the outcome) is an error.
        let result = answer.parse(|body| {
            xml::parse_complete(body).map(|r| CompleteResult {
                crc64: None,
                crc64nvme: crc64nvme_in(body),
                ..r
            })
        })?;
        check_multipart_etag(&result.etag, parts.len()).map_err(|m| protocol(&answer, m))?;
        Ok(result)
    }

    async fn abort_multipart(&self, obj: &ObjectRef, upload_id: &str) -> Result<()> {
        let r = self
            .object_req(Op::AbortMultipartUpload, Method::DELETE, obj)?
            .param("uploadId", upload_id);
        self.send(r).await?;
        Ok(())
    }

    async fn list_multipart_uploads(
        &self,
        bucket: &BucketName,
        region: &str,
        req: &ListUploadsRequest,
    ) -> Result<ListUploadsPage> {
        let r = self
            .bucket_req(Op::ListMultipartUploads, Method::GET, bucket, region)?
            .flag("uploads")
            .opt_param("prefix", Some(req.prefix.clone()).filter(|p| !p.is_empty()))
            .opt_param("delimiter", req.delimiter.clone())
            .opt_param("key-marker", req.key_marker.clone())
            .opt_param("upload-id-marker", req.upload_id_marker.clone())
            .opt_param("max-uploads", req.max_uploads.map(|n| n.to_string()))
            .param("encoding-type", "url");
        let answer = self.send(r).await?;
        answer.parse(xml::parse_list_uploads)
    }

    async fn list_parts(
        &self,
        obj: &ObjectRef,
        upload_id: &str,
        part_number_marker: Option<u32>,
        max_parts: Option<u32>,
    ) -> Result<ListPartsPage> {
        let r = self
            .object_req(Op::ListParts, Method::GET, obj)?
            .param("uploadId", upload_id)
            .opt_param(
                "part-number-marker",
                part_number_marker.map(|n| n.to_string()),
            )
            .opt_param("max-parts", max_parts.map(|n| n.to_string()));
        let answer = self.send(r).await?;
        answer.parse(xml::parse_list_parts)
    }

    fn correct_clock(&self, server_time: SystemTime) {
        let server = server_time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let local = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.clock_offset.store(server - local, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
