//! The HTTP side of the server: routing by Host like COS, authentication, the latency model
//! and faults around every operation, and the operations themselves on `state`.
//!
//! Every response carries `x-cos-request-id` and `Server: tencent-cos`; every error is COS's
//! XML (no body for HEAD). Header names go out spelled as COS spells them (`wire`). A fault
//! replaces an operation before anything is applied. Every query parameter COS documents for
//! an operation is honoured; one the operation does not implement is a 501, never ignored
//! (`accepted_params`). Every request is logged exactly once, as 499 if the client hangs up
//! first.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use md5::{Digest, Md5};
use tokio::time::Instant;

use super::access_log::{AccessLog, Line};
use super::auth::{self, Credentials, RequestParts};
use super::content::Content;
use super::error::CosError;
use super::faults::{Fault, Faults};
use super::model::Model;
use super::state::*;
use super::xml::{error_document, Xml};
use crate::store::encode::{cos_encode, percent_decode, validate_key, KeyError};
use crate::store::endpoint::{parse_copy_source, parse_host, HostTarget};
use crate::store::Op;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// The final error code of a streamed answer, known only when its body ends.
#[derive(Clone)]
struct Deferred(Arc<Mutex<Option<tokio::sync::oneshot::Receiver<Option<&'static str>>>>>);

/// The connection is dropped without an answer (the `reset` fault).
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Everything the request handlers share.
pub struct Shared {
    pub state: Mutex<State>,
    pub creds: Credentials,
    pub model: Model,
    pub faults: Faults,
    pub log: Option<AccessLog>,
    pub seed: u64,
    pub default_region: String,
    pub seq: AtomicU64,
    /// Woken after every change when `--data` is set.
    pub dirty: Option<Arc<tokio::sync::Notify>>,
    /// How long the `timeout` fault stalls.
    pub stall: Duration,
    /// Where large request bodies are streamed to (`spill.rs`).
    pub spill: Arc<super::spill::SpillDir>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        if let Some(d) = &self.dirty {
            d.notify_one();
        }
    }
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn iso8601(secs: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z");
    t.format(&f).unwrap_or_default()
}

pub fn http_date(secs: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64))
}

fn parse_http_secs(v: &str) -> Option<i64> {
    httpdate::parse_http_date(v)
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn xml_response(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// What one request is, for the log and for errors.
#[derive(Clone)]
struct Ctx {
    rid: String,
    op: &'static str,
    method: String,
    bucket: Option<String>,
    key: Option<String>,
    upload_id: Option<String>,
    part: Option<u32>,
    range: Option<String>,
    fault: Option<Fault>,
    /// Code of a 200-with-Error answer.
    code: Option<&'static str>,
    resource: String,
}

enum Failure {
    Cos(CosError),
    Reset,
}

impl From<CosError> for Failure {
    fn from(e: CosError) -> Self {
        Failure::Cos(e)
    }
}

type Answer = Result<Response<Body>, Failure>;

pub async fn handle(
    sh: Arc<Shared>,
    req: http::Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let started = Instant::now();
    let n = sh.seq.fetch_add(1, Ordering::Relaxed);
    let rid = format!(
        "{:08x}_{:016x}",
        n,
        super::faults::mix(&[sh.seed, n, now_secs() as u64])
    );
    let (parts, body) = req.into_parts();
    let mut p = Pending {
        sh: sh.clone(),
        ctx: Ctx {
            rid,
            op: "Unknown",
            method: parts.method.as_str().to_string(),
            bucket: None,
            key: None,
            upload_id: None,
            part: None,
            range: None,
            fault: None,
            code: None,
            resource: parts.uri.path().to_string(),
        },
        started,
        logged: false,
    };
    let head = parts.method == Method::HEAD;
    // If the client hangs up, hyper drops this future here and `p` logs the request as 499.
    let answer = serve(&sh, &parts, body, &mut p.ctx).await;
    let ctx = &p.ctx;
    let (mut resp, code) = match answer {
        Ok(r) => (r, ctx.code),
        Err(Failure::Reset) => {
            p.log(0, None);
            return Err(Dropped);
        }
        Err(Failure::Cos(e)) => {
            let code = e.code;
            let mut r = if head {
                let mut r = Response::new(empty());
                *r.status_mut() = e.status;
                r
            } else {
                xml_response(
                    e.status,
                    error_document(e.code, &e.message, &e.extra, &ctx.resource, &ctx.rid, true),
                )
            };
            r.headers_mut().insert("x-cos-trace-id", hv(&ctx.rid));
            for (name, value) in &e.headers {
                r.headers_mut().insert(*name, hv(value));
            }
            (r, Some(code))
        }
    };
    let h = resp.headers_mut();
    h.insert("x-cos-request-id", hv(&ctx.rid));
    h.insert("server", HeaderValue::from_static("tencent-cos"));
    if !h.contains_key("date") {
        h.insert("date", hv(&http_date(now_secs())));
    }
    super::wire::spell(&mut resp).await;
    // A streamed Complete is logged when its final body is known, with that body's code.
    let deferred = resp
        .extensions_mut()
        .remove::<Deferred>()
        .and_then(|d| d.0.lock().ok().and_then(|mut g| g.take()));
    match deferred {
        Some(done) if sh.log.is_some() => {
            let status = resp.status().as_u16();
            let ctx = p.ctx.clone();
            p.logged = true;
            tokio::spawn(async move {
                let final_code = done.await.ok().flatten().or(code);
                log(&sh, &ctx, status, final_code, started);
            });
        }
        _ => p.log(resp.status().as_u16(), code),
    }
    Ok(resp)
}

/// Status logged for a request whose client hung up before it was answered (nginx's
/// "client closed request").
pub const CLIENT_CLOSED: u16 = 499;

/// One request on its way through `handle`: logs it exactly once, as answered, or as
/// `CLIENT_CLOSED` when the client hangs up and hyper drops the handler before an answer.
struct Pending {
    sh: Arc<Shared>,
    ctx: Ctx,
    started: Instant,
    logged: bool,
}

impl Pending {
    fn log(&mut self, status: u16, code: Option<&str>) {
        if !self.logged {
            self.logged = true;
            log(&self.sh, &self.ctx, status, code, self.started);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.log(CLIENT_CLOSED, None);
    }
}

fn log(sh: &Shared, ctx: &Ctx, status: u16, code: Option<&str>, started: Instant) {
    let Some(l) = &sh.log else { return };
    let ts = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    l.write(&Line {
        ts,
        op: ctx.op,
        method: &ctx.method,
        bucket: ctx.bucket.as_deref(),
        key: ctx.key.as_deref(),
        upload_id: ctx.upload_id.as_deref(),
        part: ctx.part,
        range: ctx.range.as_deref(),
        status,
        code,
        fault: ctx.fault.map(Fault::as_str),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        request_id: &ctx.rid,
    });
}

/// Where a request goes.
enum Target {
    /// GET Service, all regions or one.
    Service(Option<String>),
    /// A bucket (key empty) or an object; `region` is the one the host name requires.
    Bucket {
        bucket: String,
        region: Option<String>,
        key: String,
    },
}

fn split_query(q: Option<&str>) -> Vec<(String, String)> {
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
fn route(host: &str, raw_path: &str) -> Result<(Target, String), CosError> {
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

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

async fn serve(
    sh: &Arc<Shared>,
    parts: &http::request::Parts,
    body: Incoming,
    ctx: &mut Ctx,
) -> Answer {
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| header(&parts.headers, "host"))
        .unwrap_or_default();
    let raw_path = parts.uri.path();
    let query = split_query(parts.uri.query());
    let (target, sign_path) = route(&host, raw_path)?;
    let method = parts.method.clone();
    let has = |n: &str| param(&query, n).is_some();
    let h = &parts.headers;
    // `None`: a method this resource does not answer (405), once its query is known to
    // name nothing unimplemented (501).
    let op = match &target {
        Target::Service(_) if method == Method::GET => Some(Op::ListBuckets),
        Target::Service(_) => None,
        Target::Bucket { key, .. } if key.is_empty() => match method {
            Method::GET if has("uploads") => Some(Op::ListMultipartUploads),
            Method::GET => Some(Op::ListObjects),
            Method::HEAD => Some(Op::HeadBucket),
            Method::PUT => Some(Op::PutBucket),
            Method::DELETE => Some(Op::DeleteBucket),
            _ => None,
        },
        Target::Bucket { .. } => match method {
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
    };
    if let Some(op) = op {
        ctx.op = op.as_str();
    }
    if let Target::Bucket { bucket, key, .. } = &target {
        ctx.bucket = Some(bucket.clone());
        if !key.is_empty() {
            ctx.key = Some(key.clone());
        }
    }
    ctx.upload_id = param(&query, "uploadId").map(str::to_string);
    ctx.part = param(&query, "partNumber").and_then(|p| p.parse().ok());
    ctx.range = header(h, "x-cos-copy-source-range").or_else(|| header(h, "range"));

    // Authenticate before anything else is answered: an unsigned or badly signed request
    // learns nothing about what the server implements.
    let header_fn = |name: &str| header(h, name);
    auth::verify(
        &sh.creds,
        &RequestParts {
            method: method.as_str(),
            path: &sign_path,
            query: &query,
            header: &header_fn,
        },
        now_secs(),
    )?;
    if let Some(name) = unimplemented_param(&query, op) {
        return Err(not_implemented(&name, op).into());
    }
    let Some(op) = op else {
        return Err(method_not_allowed().into());
    };

    // Sizes are checked from Content-Length before a byte of the body is read: PUT Object
    // and Upload Part stream their bodies later (after their bucket or upload is found), any
    // other body is an XML document under `XML_BODY_MAX`.
    let streams_body = matches!(op, Op::PutObject | Op::UploadPart);
    let declared = declared_length(h)?;
    if streams_body {
        let Some(n) = declared else {
            return Err(CosError::new(
                StatusCode::LENGTH_REQUIRED,
                "MissingContentLength",
                "You must provide the Content-Length HTTP header.",
            )
            .into());
        };
        if n > MAX_SIMPLE {
            let what = if op == Op::UploadPart {
                "A part may be at most 5 GB"
            } else {
                "Your proposed upload exceeds the maximum allowed object size (5 GB); use multipart upload"
            };
            return Err(CosError::bad(
                "EntityTooLarge",
                format!("{what}; Content-Length says {n} bytes."),
            )
            .into());
        }
    } else if matches!(method, Method::PUT | Method::POST) {
        if let Some(n) = declared.filter(|&n| n > XML_BODY_MAX) {
            return Err(xml_too_big(n).into());
        }
    }
    let mut body = Some(body);
    let xml_body = if streams_body || !matches!(method, Method::PUT | Method::POST) {
        Bytes::new()
    } else {
        read_xml_body(body.take()).await?
    };

    let error200_ok = matches!(
        op,
        Op::UploadPartCopy | Op::CompleteMultipartUpload | Op::PutObjectCopy
    );
    let identity = format!(
        "{} {} {} {}",
        op.as_str(),
        ctx.bucket.as_deref().unwrap_or(""),
        ctx.key.as_deref().unwrap_or(""),
        ctx.part.unwrap_or(0)
    );
    if let Some(f) = sh.faults.decide(&identity, error200_ok) {
        ctx.fault = Some(f);
        // Read (and drop) a streamed body first, so a fault never leaves a half-read request.
        drain(body.take()).await?;
        sh.model.request().await;
        return Err(match f {
            Fault::Reset => Failure::Reset,
            Fault::SlowDown => CosError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "Please reduce your request rate.",
            )
            .into(),
            Fault::Internal => {
                CosError::internal("We encountered an internal error. Please try again.").into()
            }
            Fault::Timeout => {
                tokio::time::sleep(sh.stall).await;
                CosError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The server stalled (injected timeout). Please try again.",
                )
                .into()
            }
            Fault::Error200 => {
                ctx.code = Some("InternalError");
                let doc = error_document(
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                    &[],
                    &ctx.resource,
                    &ctx.rid,
                    true,
                );
                if op == Op::CompleteMultipartUpload {
                    return Ok(streamed(sh, 1, None, async move {
                        (doc, Some("InternalError"))
                    }));
                }
                return Ok(xml_response(StatusCode::OK, doc));
            }
        });
    }

    match target {
        Target::Service(region) => {
            sh.model.request().await;
            list_buckets(sh, region.as_deref(), &query)
        }
        Target::Bucket {
            bucket,
            region,
            key,
        } => {
            if !key.is_empty() {
                check_key(&key)?;
            }
            let b = BucketRef {
                name: bucket,
                region,
            };
            match op {
                Op::PutBucket => {
                    sh.model.request().await;
                    put_bucket(sh, &b)
                }
                Op::DeleteBucket => {
                    sh.model.request().await;
                    delete_bucket(sh, &b)
                }
                Op::HeadBucket => {
                    sh.model.request().await;
                    let region = with_bucket(sh, &b, |bk| Ok(bk.region.clone()))?;
                    let mut r = Response::new(empty());
                    r.headers_mut().insert("x-cos-bucket-region", hv(&region));
                    Ok(r)
                }
                Op::ListObjects => {
                    sh.model.request().await;
                    list_objects(sh, &b, &query)
                }
                Op::ListMultipartUploads => {
                    sh.model.request().await;
                    list_uploads(sh, &b, &query)
                }
                Op::HeadObject | Op::GetObject => {
                    sh.model.request().await;
                    get_object(sh, &b, &key, &query, h, op == Op::HeadObject)
                }
                Op::PutObject => {
                    sh.model.request().await;
                    put_object(sh, &b, &key, h, body.take(), declared.unwrap_or(0)).await
                }
                Op::DeleteObject => {
                    sh.model.request().await;
                    only_version(&query)?;
                    with_bucket(sh, &b, |bk| {
                        bk.objects.remove(&key);
                        Ok(())
                    })?;
                    sh.changed();
                    let mut r = Response::new(empty());
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    Ok(r)
                }
                Op::PutObjectCopy => put_object_copy(sh, &b, &key, h).await,
                Op::InitiateMultipartUpload => {
                    sh.model.request().await;
                    initiate(sh, &b, &key, h)
                }
                Op::UploadPart => {
                    sh.model.request().await;
                    upload_part(sh, &b, &key, &query, h, body.take(), declared.unwrap_or(0)).await
                }
                Op::UploadPartCopy => upload_part_copy(sh, &b, &key, &query, h).await,
                Op::CompleteMultipartUpload => complete(sh, &b, &key, &query, xml_body),
                Op::AbortMultipartUpload => {
                    sh.model.request().await;
                    let id = param(&query, "uploadId").unwrap_or_default().to_string();
                    with_bucket(sh, &b, |bk| match bk.uploads.get(&id) {
                        Some(u) if u.key == key => {
                            bk.uploads.remove(&id);
                            Ok(())
                        }
                        _ => Err(CosError::no_such_upload()),
                    })?;
                    sh.changed();
                    let mut r = Response::new(empty());
                    *r.status_mut() = StatusCode::NO_CONTENT;
                    Ok(r)
                }
                Op::ListParts => {
                    sh.model.request().await;
                    list_parts(sh, &b, &key, &query)
                }
                Op::ListBuckets => Err(method_not_allowed().into()),
            }
        }
    }
}

/// The query parameters each operation understands: every one COS documents for it (checked
/// against PROTOCOL.md and cos-python-sdk-v5's request builders). Any other parameter names a
/// sub-resource or an option haul serve does not implement (`?acl`, `?tagging`, `?cors`,
/// `?ci-process`, …) and is answered 501 instead of being ignored, which would, say, turn
/// `PUT /key?acl` into an overwrite with an empty body. Names compare case-insensitively, as
/// `param` reads them.
fn accepted_params(op: Op) -> &'static [&'static str] {
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
fn unimplemented_param(query: &[(String, String)], op: Option<Op>) -> Option<String> {
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

fn not_implemented(name: &str, op: Option<Op>) -> CosError {
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

fn method_not_allowed() -> CosError {
    CosError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
}

fn check_key(key: &str) -> Result<(), CosError> {
    validate_key(key).map_err(|e| match e {
        KeyError::TooLong(n) => CosError::bad(
            "KeyTooLong",
            format!("Your key is too long: {n} bytes, at most 850 are allowed."),
        ),
        other => CosError::bad("InvalidObjectName", other.to_string()),
    })
}

struct BucketRef {
    name: String,
    region: Option<String>,
}

fn with_bucket<T>(
    sh: &Shared,
    b: &BucketRef,
    f: impl FnOnce(&mut Bucket) -> Result<T, CosError>,
) -> Result<T, CosError> {
    let mut st = sh.lock();
    match st.buckets.get_mut(&b.name) {
        Some(bk) if b.region.as_deref().is_none_or(|r| r == bk.region) => f(bk),
        _ => Err(CosError::no_such_bucket(&b.name)),
    }
}

/// GET Service: the buckets in `host_region` (a `cos.<region>` host) that pass the query's
/// filters (`region`, `tagkey`/`tagvalue`, `create-time` + `range`), in name order, after
/// `marker`, at most `max-keys` (default and maximum 2000) a page.
fn list_buckets(sh: &Shared, host_region: Option<&str>, q: &[(String, String)]) -> Answer {
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

fn put_bucket(sh: &Shared, b: &BucketRef) -> Answer {
    if crate::store::endpoint::BucketName::parse(&b.name).is_err() {
        return Err(CosError::bad(
            "InvalidBucketName",
            "The specified bucket name is not valid: use NAME-APPID.",
        )
        .into());
    }
    let mut st = sh.lock();
    if st.buckets.contains_key(&b.name) {
        return Err(CosError::new(
            StatusCode::CONFLICT,
            "BucketAlreadyExists",
            "The requested bucket name is not available.",
        )
        .into());
    }
    let region = b
        .region
        .clone()
        .unwrap_or_else(|| sh.default_region.clone());
    st.buckets
        .insert(b.name.clone(), Bucket::new(&b.name, &region, now_secs()));
    drop(st);
    sh.changed();
    Ok(Response::new(empty()))
}

/// DELETE Bucket: only an empty bucket (no objects, no incomplete uploads) goes.
fn delete_bucket(sh: &Shared, b: &BucketRef) -> Answer {
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

fn url_enc(s: &str, on: bool) -> String {
    if on {
        cos_encode(s)
    } else {
        s.to_string()
    }
}

fn max_param(q: &[(String, String)], name: &str, limit: usize) -> Result<usize, CosError> {
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

fn list_objects(sh: &Shared, b: &BucketRef, q: &[(String, String)]) -> Answer {
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
        let mut x = Xml::new("ListBucketResult");
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
    r.headers_mut().insert("x-cos-bucket-region", hv(&region));
    Ok(r)
}

fn list_uploads(sh: &Shared, b: &BucketRef, q: &[(String, String)]) -> Answer {
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
        let mut x = Xml::new("ListMultipartUploadsResult");
        x.elem("Bucket", &bk.name);
        if url {
            x.elem("Encoding-Type", "url");
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

fn owner(x: &mut Xml, tag: &'static str) {
    x.open(tag)
        .elem("ID", "qcs::cam::uin/100000000001:uin/100000000001")
        .elem("DisplayName", "100000000001")
        .close();
}

fn list_parts(sh: &Shared, b: &BucketRef, key: &str, q: &[(String, String)]) -> Answer {
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
        let mut x = Xml::new("ListPartsResult");
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

fn unquote(s: &str) -> &str {
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
fn only_version(q: &[(String, String)]) -> Result<(), CosError> {
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

fn get_object(
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

fn meta_from_headers(h: &HeaderMap) -> Result<Meta, CosError> {
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

/// The largest body a request other than PUT Object and Upload Part may carry: Complete's
/// XML for 10,000 parts at up to 256 bytes a part (a pretty-printed `<Part>` with an
/// entity-escaped, quoted ETag takes about 125), plus 64 KiB for everything else: 2.5 MiB.
pub const XML_BODY_MAX: u64 = MAX_PARTS as u64 * 256 + 64 * 1024;

fn xml_too_big(n: u64) -> CosError {
    CosError::bad(
        "MaxMessageLengthExceeded",
        format!(
            "Your request was too big: this request's XML body may be at most {XML_BODY_MAX} bytes, and it has {n} or more."
        ),
    )
}

fn incomplete(e: impl std::fmt::Display) -> CosError {
    CosError::bad(
        "IncompleteBody",
        format!("the request body could not be read: {e}"),
    )
}

/// `Content-Length`, if the request has one.
fn declared_length(h: &HeaderMap) -> Result<Option<u64>, CosError> {
    match header(h, "content-length") {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            CosError::invalid_argument(format!("Content-Length {v:?} is not a number of bytes."))
        }),
    }
}

/// Reads an XML body, refusing it once it passes `XML_BODY_MAX` (chunked bodies have no
/// Content-Length to check first).
async fn read_xml_body(body: Option<Incoming>) -> Result<Bytes, CosError> {
    let Some(mut body) = body else {
        return Ok(Bytes::new());
    };
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(incomplete)?.into_data() {
            if (buf.len() + data.len()) as u64 > XML_BODY_MAX {
                return Err(xml_too_big((buf.len() + data.len()) as u64));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Reads a body to its end and drops it, a frame at a time.
async fn drain(body: Option<Incoming>) -> Result<(), CosError> {
    if let Some(mut body) = body {
        while let Some(frame) = body.frame().await {
            frame.map_err(incomplete)?;
        }
    }
    Ok(())
}

/// A body as stored: its content (in memory up to `spill::IN_MEMORY_MAX`, else in a spill
/// file) and the MD5 computed while it streamed in.
struct Received {
    content: Content,
    md5: [u8; 16],
}

/// Removes a spill file that was not finished.
struct Unfinished(Option<std::path::PathBuf>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Streams exactly `expected` bytes of `body` into content, hashing MD5 and CRC-64 on the
/// way; large bodies go to a spill file 1 MiB at a time, never whole into memory.
async fn receive(sh: &Shared, body: Option<Incoming>, expected: u64) -> Result<Received, Failure> {
    let Some(mut body) = body else {
        return Err(incomplete("the body was already consumed").into());
    };
    let mut md5 = Md5::new();
    let mut got = 0u64;
    let too_long = || {
        CosError::bad(
            "IncompleteBody",
            format!("the request body is longer than its Content-Length ({expected} bytes)"),
        )
    };
    let short = |got: u64| {
        CosError::bad(
            "IncompleteBody",
            format!("the request body ended after {got} of its {expected} bytes"),
        )
    };
    if expected <= super::spill::IN_MEMORY_MAX {
        let mut buf = bytes::BytesMut::with_capacity(expected as usize);
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map_err(incomplete)?.into_data() {
                got += data.len() as u64;
                if got > expected {
                    return Err(too_long().into());
                }
                md5.update(&data);
                buf.extend_from_slice(&data);
            }
        }
        if got != expected {
            return Err(short(got).into());
        }
        return Ok(Received {
            content: Content::from_bytes(buf.freeze()),
            md5: md5.finalize().into(),
        });
    }
    use tokio::io::AsyncWriteExt as _;
    let internal = |e: std::io::Error| {
        CosError::internal(format!(
            "haul serve cannot write the body to its spill directory {}: {e}",
            sh.spill.path().display()
        ))
    };
    let (file, path) = sh.spill.create().map_err(internal)?;
    let mut guard = Unfinished(Some(path.clone()));
    let mut file = tokio::fs::File::from_std(file);
    let mut crc = 0u64;
    const FLUSH_AT: usize = 1 << 20;
    let mut buf = bytes::BytesMut::with_capacity(FLUSH_AT);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(incomplete)?.into_data() {
            got += data.len() as u64;
            if got > expected {
                return Err(too_long().into());
            }
            md5.update(&data);
            crc = crate::crc64::update(crc, &data);
            buf.extend_from_slice(&data);
            if buf.len() >= FLUSH_AT {
                file.write_all(&buf).await.map_err(internal)?;
                buf.clear();
            }
        }
    }
    if got != expected {
        return Err(short(got).into());
    }
    file.write_all(&buf).await.map_err(internal)?;
    file.flush().await.map_err(internal)?;
    drop(file);
    guard.0 = None;
    let blob = super::spill::Blob::spilled(&sh.spill, path, got, crc);
    Ok(Received {
        content: Content::from_blob(blob),
        md5: md5.finalize().into(),
    })
}

fn check_md5(h: &HeaderMap, digest: &[u8; 16]) -> Result<String, CosError> {
    if let Some(v) = header(h, "content-md5") {
        use base64::Engine as _;
        let Ok(want) = base64::engine::general_purpose::STANDARD.decode(v.trim()) else {
            return Err(CosError::bad(
                "InvalidDigest",
                "The Content-MD5 you specified is not valid.",
            ));
        };
        if want.as_slice() != digest.as_slice() {
            return Err(CosError::bad(
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    Ok(hex::encode(digest))
}

/// PUT Object: the bucket and the headers are checked before the body (whose size `serve`
/// checked from Content-Length) is streamed in.
async fn put_object(
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
fn copy_source(sh: &Shared, h: &HeaderMap) -> Result<(String, String, String, Object), CosError> {
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

fn check_copy_conditions(h: &HeaderMap, o: &Object) -> Result<(), CosError> {
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

async fn put_object_copy(sh: &Shared, b: &BucketRef, key: &str, h: &HeaderMap) -> Answer {
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

fn initiate(sh: &Shared, b: &BucketRef, key: &str, h: &HeaderMap) -> Answer {
    let meta = meta_from_headers(h)?;
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
    let mut x = Xml::new("InitiateMultipartUploadResult");
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
async fn upload_part(
    sh: &Shared,
    b: &BucketRef,
    key: &str,
    q: &[(String, String)],
    h: &HeaderMap,
    body: Option<Incoming>,
    len: u64,
) -> Answer {
    let id = param(q, "uploadId").unwrap_or_default().to_string();
    let n = part_number(q)?;
    upload_exists(sh, b, key, &id)?;
    let Received { content, md5 } = receive(sh, body, len).await?;
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
    r.headers_mut()
        .insert("x-cos-hash-crc64ecma", hv(&part.crc64.to_string()));
    store_part(sh, b, key, &id, n, part)?;
    Ok(r)
}

fn copy_range(v: Option<&str>, size: u64) -> Result<(u64, u64), CosError> {
    let Some(v) = v else {
        if size == 0 {
            return Err(CosError::invalid_argument("The copy source is empty."));
        }
        return Ok((0, size - 1));
    };
    let bad = || {
        CosError::invalid_argument(format!(
            "x-cos-copy-source-range {v:?} is not bytes=FIRST-LAST within the source's {size} bytes."
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

async fn upload_part_copy(
    sh: &Shared,
    b: &BucketRef,
    key: &str,
    q: &[(String, String)],
    h: &HeaderMap,
) -> Answer {
    let id = param(q, "uploadId").unwrap_or_default().to_string();
    let n = part_number(q)?;
    upload_exists(sh, b, key, &id)?;
    let (_, _, _, src) = copy_source(sh, h)?;
    check_copy_conditions(h, &src)?;
    let (first, last) = copy_range(header(h, "x-cos-copy-source-range").as_deref(), src.size)?;
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
    let mut x = Xml::new("CopyPartResult");
    x.elem("ETag", format!("\"{}\"", part.etag))
        .elem("LastModified", iso8601(part.last_modified))
        .elem("CRC64", part.crc64);
    let crc = part.crc64;
    // The upload may have been aborted while the copy ran: then it fails like on COS.
    store_part(sh, b, key, &id, n, part)?;
    let mut r = xml_response(StatusCode::OK, x.finish());
    r.headers_mut()
        .insert("x-cos-hash-crc64ecma", hv(&crc.to_string()));
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

fn complete(
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
    let key = key.to_string();
    let finish = async move {
        let b = BucketRef {
            name: bucket.clone(),
            region,
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
                let mut x = Xml::bare("CompleteMultipartUploadResult");
                x.elem(
                    "Location",
                    format!(
                        "http://{bucket}.cos.{region}.myqcloud.com/{}",
                        crate::store::encode::key_to_url_path(&key).trim_start_matches('/')
                    ),
                )
                .elem("Bucket", &bucket)
                .elem("Key", &key)
                .elem("ETag", format!("\"{etag}\""));
                (x.finish(), None)
            }
            Err(e) => (
                error_document(e.code, &e.message, &e.extra, &key, "complete", false),
                Some(e.code),
            ),
        }
    };
    Ok(streamed(sh, count, Some(crc), finish))
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
fn streamed(
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

    #[test]
    fn multipart_etag_is_md5_of_part_md5s_with_count() {
        let e = multipart_etag(&["00".repeat(16), "ff".repeat(16)]);
        assert!(e.ends_with("-2") && e.len() == 34, "{e}");
    }
}
