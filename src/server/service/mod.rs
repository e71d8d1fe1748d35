//! The HTTP side of the server: routing by Host like COS, authentication, the latency model
//! and faults around every operation, and the operations themselves on `state`.
//!
//! A request signed with SigV4 speaks S3, any other COS (`dialect`): both see the same state,
//! model and faults. Every COS response carries `x-cos-request-id` and `Server:
//! tencent-cos`, every S3 one `x-amz-request-id`; every error is the dialect's XML (no body
//! for HEAD). Header names go out spelled as COS spells them (`wire`). A fault
//! replaces an operation before anything is applied. Every query parameter COS documents for
//! an operation is honoured; one the operation does not implement is a 501, never ignored
//! (`accepted_params`). Every request is logged exactly once, as 499 if the client hangs up
//! first.
//!
//! This file is the hyper entry point (`handle`): the request context, access logging, faults
//! and the dispatch of each operation; it must not grow operation bodies. The rest, one job a
//! file: `routing` (Host/path, query, accepted parameters), `s3_routing` (the same for S3),
//! `bucket`, `object`, `multipart` (the operations both dialects share), `s3_ops` (S3's own),
//! `body` (reading, decoding and bounding request bodies).

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
use super::dialect::{Dialect, Directive};
use super::error::CosError;
use super::faults::{Fault, Faults};
use super::model::Model;
use super::s3_auth::{self, Payload};
use super::state::*;
use super::xml::{error_document, s3_error_document, Xml};
use crate::store::encode::{cos_encode, percent_decode, validate_key, KeyError};
use crate::store::endpoint::{parse_copy_source, parse_host, HostTarget};
use crate::store::Op;

mod body;
mod bucket;
mod multipart;
mod object;
mod routing;
mod s3_ops;
mod s3_routing;

pub use body::XML_BODY_MAX;
use body::{
    check_md5, declared_length, drain, read_xml_body, receive, xml_too_big, Inflow, Received,
};
use bucket::{delete_bucket, list_buckets, list_objects, list_uploads, owner, put_bucket};
use multipart::{complete, initiate, list_parts, streamed, upload_part, upload_part_copy};
use object::{
    check_copy_conditions, copy_source, get_object, meta_from_headers, only_version, put_object,
    put_object_copy, unquote,
};
use routing::{
    accepted_params, check_key, header, max_param, method_not_allowed, not_implemented, operation,
    param, route, split_query, unimplemented_param, url_enc, Call, Target,
};

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

/// Sets a header whose name is built at run time (a dialect's `x-cos-…` / `x-amz-…`).
fn set_header(r: &mut Response<Body>, name: String, value: &str) {
    if let Ok(name) = http::HeaderName::try_from(name) {
        r.headers_mut().insert(name, hv(value));
    }
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// What one request is, for the log and for errors.
#[derive(Clone)]
struct Ctx {
    rid: String,
    dialect: Dialect,
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
    let dialect = Dialect::detect(
        parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        |name| param(&split_query(parts.uri.query()), name).is_some(),
    );
    let mut p = Pending {
        sh: sh.clone(),
        ctx: Ctx {
            rid,
            dialect,
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
                    error_body(ctx.dialect, &e, &ctx.resource, &ctx.rid, true),
                )
            };
            if ctx.dialect == Dialect::Cos {
                r.headers_mut().insert("x-cos-trace-id", hv(&ctx.rid));
            }
            for (name, value) in &e.headers {
                r.headers_mut().insert(*name, hv(value));
            }
            (r, Some(code))
        }
    };
    let h = resp.headers_mut();
    match ctx.dialect {
        Dialect::Cos => {
            h.insert("x-cos-request-id", hv(&ctx.rid));
            h.insert("server", HeaderValue::from_static("tencent-cos"));
        }
        Dialect::S3 => {
            h.insert("x-amz-request-id", hv(&ctx.rid));
            h.insert("x-amz-id-2", hv(&ctx.rid));
            h.insert("server", HeaderValue::from_static("AmazonS3"));
        }
    }
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
        dialect: ctx.dialect.as_str(),
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
    let method = parts.method.clone();
    let h = &parts.headers;
    let d = ctx.dialect;
    // `None`: a method this resource does not answer (405), once its query is known to
    // name nothing unimplemented (501).
    let (target, call, cos_sign_path) = match d {
        Dialect::Cos => {
            let (target, sign_path) = route(&host, raw_path)?;
            let op = operation(&target, &method, &query, h).map(Call::Op);
            (target, op, sign_path)
        }
        Dialect::S3 => {
            let target = s3_routing::route(&host, raw_path)?;
            let call = s3_routing::operation(&target, &method, &query, h);
            (target, call, String::new())
        }
    };
    if let Some(c) = call {
        ctx.op = c.as_str();
    }
    if let Target::Bucket { bucket, key, .. } = &target {
        ctx.bucket = Some(bucket.clone());
        if !key.is_empty() {
            ctx.key = Some(key.clone());
        }
    }
    ctx.upload_id = param(&query, "uploadId").map(str::to_string);
    ctx.part = param(&query, "partNumber").and_then(|p| p.parse().ok());
    ctx.range = header(h, &d.header("copy-source-range")).or_else(|| header(h, "range"));

    // Authenticate before anything else is answered: an unsigned or badly signed request
    // learns nothing about what the server implements.
    let payload = match d {
        Dialect::Cos => {
            let header_fn = |name: &str| header(h, name);
            auth::verify(
                &sh.creds,
                &RequestParts {
                    method: method.as_str(),
                    path: &cos_sign_path,
                    query: &query,
                    header: &header_fn,
                },
                now_secs(),
            )?;
            Payload::Unchecked
        }
        Dialect::S3 => {
            let headers: Vec<(String, String)> = h
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            s3_auth::verify(
                &sh.creds,
                &s3_auth::S3Request {
                    method: method.as_str(),
                    path: &percent_decode(raw_path),
                    query: &query,
                    headers: &headers,
                },
                now_secs(),
            )?
        }
    };
    let unimplemented = match d {
        Dialect::Cos => unimplemented_param(
            &query,
            call.and_then(|c| match c {
                Call::Op(op) => Some(op),
                _ => None,
            }),
        ),
        Dialect::S3 => s3_routing::unimplemented_param(&query, call),
    };
    if let Some(name) = unimplemented {
        return Err(not_implemented(&name, call).into());
    }
    let Some(call) = call else {
        return Err(method_not_allowed().into());
    };

    // Sizes are checked from Content-Length (S3's x-amz-decoded-content-length for an
    // aws-chunked body) before a byte of the body is read: PUT Object and Upload Part stream
    // their bodies later (after their bucket or upload is found), any other body is an XML
    // document under `XML_BODY_MAX`.
    let streams_body = matches!(call, Call::Op(Op::PutObject | Op::UploadPart));
    let declared = declared_length(h, &payload)?;
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
            let what = if call == Call::Op(Op::UploadPart) {
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
    let checks = match d {
        Dialect::Cos => Vec::new(),
        Dialect::S3 => super::checksum::promised(|name| header(h, name)),
    };
    let mut body = Some(Inflow::new(body, payload, checks));
    let xml_body = if streams_body || !matches!(method, Method::PUT | Method::POST) {
        Bytes::new()
    } else {
        read_xml_body(body.take()).await?
    };

    let error200_ok = matches!(
        call,
        Call::Op(Op::UploadPartCopy | Op::CompleteMultipartUpload | Op::PutObjectCopy)
    );
    let identity = format!(
        "{} {} {} {}",
        call.as_str(),
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
                let e = CosError::internal("We encountered an internal error. Please try again.");
                let doc = error_body(d, &e, &ctx.resource, &ctx.rid, true);
                if call == Call::Op(Op::CompleteMultipartUpload) {
                    return Ok(streamed(sh, 1, None, async move {
                        (doc, Some("InternalError"))
                    }));
                }
                return Ok(xml_response(StatusCode::OK, doc));
            }
        });
    }

    let (bucket, region, key) = match target {
        Target::Service(region) => {
            sh.model.request().await;
            return match d {
                Dialect::Cos => list_buckets(sh, region.as_deref(), &query),
                Dialect::S3 => s3_ops::list_buckets(sh),
            };
        }
        Target::Bucket {
            bucket,
            region,
            key,
        } => (bucket, region, key),
    };
    if !key.is_empty() {
        check_key(&key)?;
    }
    let b = BucketRef {
        name: bucket,
        region,
        dialect: d,
    };
    let op = match call {
        Call::Op(op) => op,
        Call::ListObjectsV2 => {
            sh.model.request().await;
            return s3_ops::list_objects_v2(sh, &b, &query);
        }
        Call::GetBucketLocation => {
            sh.model.request().await;
            return s3_ops::bucket_location(sh, &b);
        }
        Call::DeleteObjects => {
            sh.model.request().await;
            return s3_ops::delete_objects(sh, &b, h, xml_body);
        }
    };
    match op {
        Op::PutBucket => {
            sh.model.request().await;
            put_bucket(sh, &b, &xml_body)
        }
        Op::DeleteBucket => {
            sh.model.request().await;
            delete_bucket(sh, &b)
        }
        Op::HeadBucket => {
            sh.model.request().await;
            let region = with_bucket(sh, &b, |bk| Ok(bk.region.clone()))?;
            let mut r = Response::new(empty());
            set_header(&mut r, d.header("bucket-region"), &region);
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

/// A bucket as a request addressed it: its name, the region its host name requires (if
/// any), and the dialect the request speaks, which decides how answers about it are spelled.
struct BucketRef {
    name: String,
    region: Option<String>,
    dialect: Dialect,
}

/// An error document in `d`'s shape (COS's or S3's).
fn error_body(d: Dialect, e: &CosError, resource: &str, rid: &str, declaration: bool) -> String {
    match d {
        Dialect::Cos => error_document(e.code, &e.message, &e.extra, resource, rid, declaration),
        Dialect::S3 => s3_error_document(e.code, &e.message, &e.extra, resource, rid, declaration),
    }
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
