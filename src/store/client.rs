//! The COS HTTP client: one pooled reqwest client, every request signed (docs/architecture.md §5), COS's
//! answers turned into the `ObjectStore` types and typed errors.
//!
//! One request per call: no retries and no policy here (the engine owns both); the only loop
//! is GET Service, whose trait method returns every bucket. With an endpoint override every
//! connection goes to that one address while the `Host` header (and so the signature) keeps
//! COS's canonical host name: haul never resolves or contacts another host. Secrets are used
//! for signing and the token header only; they never reach a record, an error or a log.

use std::sync::atomic::{AtomicI64, Ordering};
#[cfg(test)]
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest, Md5};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use time::OffsetDateTime;

use super::encode::{cos_encode, key_to_url_path, validate_key};
use super::endpoint::SERVICE_HOST;
use super::sign::cos::{self as sign, KeyTime, SignRequest};
use super::xml::{self, XmlError};
use super::{
    BucketInfo, BucketName, ByteRange, CompleteResult, CompletedPart, CopyObjectRequest,
    CopyResult, CopySourceConditions, CredentialSource, Credentials, Dialect, Error,
    ListObjectsPage, ListObjectsRequest, ListPartsPage, ListUploadsPage, ListUploadsRequest,
    MetadataDirective, NetworkKind, ObjectHeaders, ObjectMeta, ObjectRef, ObjectStore, Op,
    PartResult, PutResult, RequestObserver, RequestRecord, Result, ServiceError,
    UploadPartCopyRequest,
};

/// Signatures are valid from a minute before now (clock slack, as the Python SDK does) …
const SIGN_SLACK_BEFORE: i64 = 60;
/// … to fifteen minutes after.
const SIGN_VALIDITY: i64 = 15 * 60;
/// GET Service pages followed at most (2,000 buckets a page).
const MAX_BUCKET_PAGES: usize = 100;
/// Buckets GET Service may list in all (COS allows an account 1,000): past this the endpoint is
/// not COS, and keeping its answer would grow without bound across pages.
pub const MAX_BUCKETS: usize = 100_000;
/// How much of a non-XML error body is quoted in a message.
const BODY_SNIPPET: usize = 200;
/// The most haul reads of a successful answer other than GET Object's data: the XML of
/// ListObjects / ListMultipartUploads / ListParts / GET Service and Complete's streamed body.
/// The largest legitimate answer is a 1,000-entry page of 850-byte keys URL-encoded (up to
/// 2,550 bytes each) with their ETag, size, date, class and owner: about 3 MB.
pub const ANSWER_CAP: u64 = 8 << 20;
/// The most haul reads of an error answer: COS's `<Error>` documents are under 2 KiB even
/// with an 850-byte key quoted in `<Resource>`.
pub const ERROR_BODY_CAP: u64 = 64 << 10;

/// How to build a `CosClient`.
#[derive(Clone)]
pub struct ClientOptions {
    pub credentials: Credentials,
    /// Send every request to this address (`http://127.0.0.1:9000`), keeping COS host names.
    pub endpoint: Option<String>,
    pub connect_timeout: Duration,
    /// Whole-request limit for ordinary requests (listing, HEAD, Initiate, Abort …).
    pub request_timeout: Duration,
    /// Limit for Complete Multipart Upload, which COS may answer by streaming spaces for
    /// minutes before the result.
    pub complete_timeout: Duration,
    /// Limit for server-side copies (PUT Object - Copy, Upload Part - Copy of up to 5 GB),
    /// which answer only when the copy is done.
    pub copy_timeout: Duration,
    pub observer: Option<RequestObserver>,
    /// Where the credentials came from, named by authentication errors' hints.
    pub credential_source: CredentialSource,
}

impl ClientOptions {
    /// Defaults: connect 10 s, requests 2 min, copies 15 min, Complete 20 min, no endpoint
    /// override, no observer.
    pub fn new(credentials: Credentials) -> Self {
        ClientOptions {
            credentials,
            endpoint: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            complete_timeout: Duration::from_secs(20 * 60),
            copy_timeout: Duration::from_secs(15 * 60),
            observer: None,
            credential_source: CredentialSource::default(),
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("credentials", &self.credentials)
            .field("endpoint", &self.endpoint)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("complete_timeout", &self.complete_timeout)
            .field("copy_timeout", &self.copy_timeout)
            .field("observer", &self.observer.is_some())
            .field("credential_source", &self.credential_source)
            .finish()
    }
}

/// A validated endpoint override: scheme and authority only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http://127.0.0.1:9000`, without a trailing slash.
    pub base: String,
}

impl Endpoint {
    /// Accepts `http://HOST[:PORT]` or `https://HOST[:PORT]` (a trailing `/` is fine); the
    /// error says what to write instead.
    pub fn parse(s: &str) -> std::result::Result<Endpoint, String> {
        let s = s.trim();
        let url = reqwest::Url::parse(s).map_err(|e| {
            format!("{s:?} is not a URL ({e}): write it like http://127.0.0.1:9000")
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!(
                "{s:?} uses scheme {:?}: the endpoint must start with http:// or https://",
                url.scheme()
            ));
        }
        let Some(host) = url.host_str() else {
            return Err(format!(
                "{s:?} names no host: write it like http://127.0.0.1:9000"
            ));
        };
        if url.path() != "/" && !url.path().is_empty() {
            return Err(format!(
                "{s:?} has a path ({:?}): the endpoint is only scheme, host and port, e.g. http://127.0.0.1:9000",
                url.path()
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(format!(
                "{s:?} has a query, fragment or user name: the endpoint is only scheme, host and port"
            ));
        }
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        Ok(Endpoint {
            base: format!("{}://{host}{port}", url.scheme()),
        })
    }
}

/// The COS client. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct CosClient {
    http: reqwest::Client,
    credentials: Credentials,
    endpoint: Option<Endpoint>,
    request_timeout: Duration,
    complete_timeout: Duration,
    copy_timeout: Duration,
    observer: Option<RequestObserver>,
    credential_source: CredentialSource,
    /// Server time minus local time, in seconds, learnt from `correct_clock`.
    clock_offset: AtomicI64,
    /// Parsed `scheme://host` of each host asked so far: a request then sets only its path and
    /// query instead of parsing (and IDNA-checking) a whole URL every time.
    bases: std::sync::Mutex<std::collections::HashMap<String, reqwest::Url>>,
}

impl std::fmt::Debug for CosClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosClient")
            .field("secret_id", &self.credentials.secret_id)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl CosClient {
    pub fn new(opts: ClientOptions) -> Result<CosClient, Error> {
        let endpoint = opts
            .endpoint
            .as_deref()
            .map(Endpoint::parse)
            .transpose()
            .map_err(|m| Error::InvalidInput(format!("endpoint {m}")))?;
        if opts.credentials.secret_id.trim().is_empty()
            || opts.credentials.secret_key.expose().trim().is_empty()
        {
            return Err(Error::InvalidInput(format!(
                "the secret id or secret key is empty: set {} and {}",
                opts.credential_source.secret_id, opts.credential_source.secret_key
            )));
        }
        let http = http_client(endpoint.is_some(), opts.connect_timeout)?;
        Ok(CosClient {
            http,
            credentials: opts.credentials,
            endpoint,
            request_timeout: opts.request_timeout,
            complete_timeout: opts.complete_timeout,
            copy_timeout: opts.copy_timeout,
            observer: opts.observer,
            credential_source: opts.credential_source,
            clock_offset: AtomicI64::new(0),
            bases: Default::default(),
        })
    }

    /// The validated endpoint override, if any.
    pub fn endpoint(&self) -> Option<&Endpoint> {
        self.endpoint.as_ref()
    }

    /// Local time corrected by what the server told us, in Unix seconds.
    pub fn now_unix(&self) -> i64 {
        let local = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        local + self.clock_offset.load(Ordering::Relaxed)
    }

    /// The current clock correction in seconds (server minus local).
    pub fn clock_offset_secs(&self) -> i64 {
        self.clock_offset.load(Ordering::Relaxed)
    }

    async fn send(&self, req: Req<'_>) -> Result<Answer> {
        let started = Instant::now();
        let resource = req.resource.clone();
        let op = req.op;
        let method_str = method_name(&req.method);
        let result = self.exchange(req).await;
        if let Some(observer) = &self.observer {
            observer(request_record(
                op,
                method_str,
                resource,
                started,
                &result,
                "x-cos-request-id",
            ));
        }
        result
    }

    /// `https://HOST` (or the endpoint override), parsed once per host.
    fn base_url(&self, host: &str) -> std::result::Result<reqwest::Url, String> {
        let mut bases = self.bases.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = bases.get(host) {
            return Ok(u.clone());
        }
        let url = match &self.endpoint {
            Some(e) => reqwest::Url::parse(&e.base),
            None => reqwest::Url::parse(&format!("https://{host}")),
        }
        .map_err(|e| e.to_string())?;
        bases.insert(host.to_string(), url.clone());
        Ok(url)
    }

    async fn exchange(&self, req: Req<'_>) -> Result<Answer> {
        let Req {
            op,
            method,
            host,
            key,
            params,
            mut headers,
            body,
            timeout,
            resource,
            body_cap,
        } = req;
        let path = match key {
            Some(k) => key_to_url_path(k),
            None => "/".to_string(),
        };
        let query = query_string(&params);
        let mut url = self.base_url(&host).map_err(|e| {
            Error::InvalidInput(format!("{op} {resource}: cannot build the URL: {e}"))
        })?;
        url.set_path(&path);
        url.set_query((!query.is_empty()).then_some(query.as_str()));

        headers.push(("host".to_string(), host.clone()));
        if let Some(token) = &self.credentials.token {
            headers.push((
                "x-cos-security-token".to_string(),
                token.expose().to_string(),
            ));
        }
        if let Some(b) = &body {
            headers.push(("content-length".to_string(), b.len().to_string()));
        }
        let signed_headers: Vec<(String, String)> = headers
            .iter()
            .filter(|(n, _)| sign::should_sign_header(n))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        let signed_params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
            .collect();
        let sign_path = match key {
            Some(k) => format!("/{k}"),
            None => "/".to_string(),
        };
        let now = self.now_unix();
        let key_time = KeyTime::new(now - SIGN_SLACK_BEFORE, now + SIGN_VALIDITY);
        let signed = sign::sign(
            self.credentials.secret_key.expose(),
            &key_time,
            &SignRequest {
                method: method.as_str(),
                path: &sign_path,
                params: &signed_params,
                headers: &signed_headers,
            },
        );
        let authorization = sign::authorization(&self.credentials.secret_id, &key_time, &signed);

        let headers = header_map(
            op,
            &resource,
            headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .chain(std::iter::once(("authorization", authorization.as_str()))),
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
            also_accept: &[],
            credential_source: &self.credential_source,
        })
        .await
    }

    fn req<'a>(&self, op: Op, method: Method, host: String, resource: String) -> Req<'a> {
        Req {
            op,
            method,
            host,
            key: None,
            params: Vec::new(),
            headers: Vec::new(),
            body: None,
            timeout: self.request_timeout,
            resource,
            body_cap: Some(ANSWER_CAP),
        }
    }

    fn object_req<'a>(&self, op: Op, method: Method, obj: &'a ObjectRef) -> Result<Req<'a>> {
        Error::check_dialect(op, &obj.bucket, Dialect::Cos)?;
        validate_key(&obj.key).map_err(|e| Error::InvalidInput(format!("{op} {obj}: {e}")))?;
        let mut r = self.req(op, method, obj.host(), obj.to_string());
        r.key = Some(&obj.key);
        Ok(r)
    }

    fn bucket_req<'a>(
        &self,
        op: Op,
        method: Method,
        bucket: &BucketName,
        region: &str,
    ) -> Result<Req<'a>> {
        Error::check_dialect(op, bucket, Dialect::Cos)?;
        Ok(self.req(op, method, bucket.host(region), format!("cos://{bucket}/")))
    }
}

/// One request before signing.
struct Req<'a> {
    op: Op,
    method: Method,
    /// COS's canonical host name (the `Host` header, signed).
    host: String,
    /// The raw object key; `None` for bucket and service requests (path `/`).
    key: Option<&'a str>,
    /// Decoded query parameters; `None` values are sent bare (`?uploads`) and signed empty.
    params: Vec<(String, Option<String>)>,
    /// Extra headers (lowercase names).
    headers: Vec<(String, String)>,
    body: Option<Bytes>,
    timeout: Duration,
    resource: String,
    /// The most of a successful answer's body to read (`None`: GET Object's data, which the
    /// caller sized with its range). Error bodies always stop at `ERROR_BODY_CAP`.
    body_cap: Option<u64>,
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
    fn uncapped(mut self) -> Self {
        self.body_cap = None;
        self
    }
}

/// The HTTP client both dialects use.
pub(super) fn http_client(
    has_endpoint: bool,
    connect_timeout: Duration,
) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    if has_endpoint {
        // The override is the one address haul talks to: no proxy in between.
        builder = builder.no_proxy();
    }
    builder
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(50))
        .tcp_nodelay(true)
        // One Host header we control and sign, on HTTP/1.1.
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        // The engine retries (engine::retry) with its own policy and messages; reqwest's own
        // retry layer would also clone every request's headers in case it retries.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .user_agent(concat!("haul/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::InvalidInput(format!("cannot build the HTTP client: {e}")))
}

/// `k=v&flag&…`, each part encoded; the parameters' order is kept.
pub(super) fn query_string(params: &[(String, Option<String>)]) -> String {
    let mut q = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            q.push('&');
        }
        q.push_str(&cos_encode(k));
        if let Some(v) = v {
            q.push('=');
            q.push_str(&cos_encode(v));
        }
    }
    q
}

/// The request's headers as HTTP carries them; a name or value it cannot carry is an error
/// naming the header.
pub(super) fn header_map<'a>(
    op: Op,
    resource: &str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let hn = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Error::InvalidInput(format!(
                "{op} {resource}: {name:?} is not a valid header name"
            ))
        })?;
        let hv = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
            Error::InvalidInput(format!(
                "{op} {resource}: the value of header {name} contains characters HTTP cannot carry"
            ))
        })?;
        map.append(hn, hv);
    }
    Ok(map)
}

/// One signed request, ready to go.
pub(super) struct Exchange<'a> {
    pub http: &'a reqwest::Client,
    pub op: Op,
    pub method: Method,
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    pub timeout: Duration,
    pub resource: String,
    /// The most of a successful answer's body to read (`None`: GET Object's data).
    pub body_cap: Option<u64>,
    /// Statuses besides 2xx handed back as answers (S3's HEAD Bucket reads a 301's region).
    pub also_accept: &'static [u16],
    pub credential_source: &'a CredentialSource,
}

/// Sends a request and reads its answer within the caps: a network failure, an answer over its
/// cap and an error status each become their typed `Error`.
pub(super) async fn perform(x: Exchange<'_>) -> Result<Answer> {
    let Exchange {
        http,
        op,
        method,
        url,
        headers,
        body,
        timeout,
        resource,
        body_cap,
        also_accept,
        credential_source,
    } = x;
    let head = method == Method::HEAD;
    let mut builder = http.request(method, url).headers(headers).timeout(timeout);
    if let Some(b) = body {
        builder = builder.body(b);
    }
    let net = |e: reqwest::Error| Error::Network {
        op,
        resource: resource.clone(),
        kind: network_kind(&e),
        message: error_chain(&e),
    };
    let mut response = builder.send().await.map_err(net)?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let cap = if status.is_success() {
        body_cap
    } else {
        Some(ERROR_BODY_CAP)
    };
    let too_large = |cap: u64| Error::TooLarge {
        op,
        resource: resource.clone(),
        status: status.as_u16(),
        cap,
    };
    let body = match cap {
        None => response.bytes().await.map_err(net)?,
        // A HEAD answer's Content-Length is the object's size, not a body to read.
        Some(cap) => read_capped(response, cap, !head)
            .await
            .map_err(|e| e.map_or_else(|| too_large(cap), net))?,
    };
    if !status.is_success() && !also_accept.contains(&status.as_u16()) {
        return Err(service_error(
            op,
            &resource,
            status,
            &headers,
            &body,
            false,
            credential_source,
        ));
    }
    Ok(Answer {
        status,
        headers,
        body,
        op,
        resource,
        credential_source: credential_source.clone(),
    })
}

/// What the Log shows of one request.
pub(super) fn request_record(
    op: Op,
    method: &'static str,
    resource: String,
    started: Instant,
    result: &Result<Answer>,
    request_id_header: &str,
) -> RequestRecord {
    match result {
        Ok(a) => RequestRecord {
            op,
            method,
            resource,
            status: Some(a.status.as_u16()),
            code: None,
            latency: started.elapsed(),
            request_id: header_str(&a.headers, request_id_header),
        },
        Err(e) => RequestRecord {
            op,
            method,
            resource,
            status: e.status(),
            code: e.code().map(str::to_string),
            latency: started.elapsed(),
            request_id: e.request_id().map(str::to_string),
        },
    }
}

/// Reads a body chunk by chunk, stopping as soon as it would pass `cap` (and before reading
/// anything when `check_length` and the declared Content-Length is already over it), so memory
/// stays under the cap plus one chunk. `Err(None)` means over the cap; `Err(Some(_))` is the
/// network failing mid-body. Dropping the response closes the connection.
pub(super) async fn read_capped(
    mut response: reqwest::Response,
    cap: u64,
    check_length: bool,
) -> std::result::Result<Bytes, Option<reqwest::Error>> {
    if check_length && response.content_length().is_some_and(|n| n > cap) {
        return Err(None);
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(Some)? {
        if (buf.len() + chunk.len()) as u64 > cap {
            return Err(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A successful (2xx) answer, body read to the end.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    pub(super) op: Op,
    pub(super) resource: String,
    pub(super) credential_source: CredentialSource,
}

impl Answer {
    fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    fn protocol(&self, e: XmlError) -> Error {
        Error::Protocol {
            op: self.op,
            resource: self.resource.clone(),
            message: e.to_string(),
        }
    }

    /// Parses a document that may instead be an `<Error>` inside the 200.
    pub(super) fn parse<T>(
        &self,
        parse: impl Fn(&str) -> std::result::Result<T, XmlError>,
    ) -> Result<T> {
        let text = self.text();
        if xml::root_name(&text).as_deref() == Some("Error") {
            return Err(service_error(
                self.op,
                &self.resource,
                self.status,
                &self.headers,
                &self.body,
                true,
                &self.credential_source,
            ));
        }
        parse(&text).map_err(|e| self.protocol(e))
    }

    pub(super) fn header(&self, name: &str) -> Option<String> {
        header_str(&self.headers, name)
    }

    fn crc64(&self) -> Option<u64> {
        self.header("x-cos-hash-crc64ecma")
            .and_then(|v| v.trim().parse().ok())
    }

    pub(super) fn etag(&self) -> Result<String> {
        self.header("etag")
            .map(|e| xml::unquote_etag(&e))
            .filter(|e| !e.is_empty())
            .ok_or_else(|| Error::Protocol {
                op: self.op,
                resource: self.resource.clone(),
                message: "the answer has no ETag header".to_string(),
            })
    }
}

pub(super) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

pub(super) fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

/// The code COS would have sent, for answers without an `<Error>` body (HEAD, proxies).
fn code_for_status(op: Op, status: StatusCode) -> &'static str {
    let bucket_level = matches!(
        op,
        Op::ListObjects | Op::HeadBucket | Op::ListMultipartUploads | Op::PutBucket
    );
    match status.as_u16() {
        404 if bucket_level => "NoSuchBucket",
        404 if matches!(
            op,
            Op::ListParts | Op::AbortMultipartUpload | Op::CompleteMultipartUpload
        ) =>
        {
            "NoSuchUpload"
        }
        404 => "NoSuchKey",
        403 => "AccessDenied",
        412 => "PreconditionFailed",
        304 => "NotModified",
        400 => "BadRequest",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        416 => "InvalidRange",
        503 => "ServiceUnavailable",
        500..=599 => "InternalError",
        _ => "UnexpectedStatus",
    }
}

pub(super) fn service_error(
    op: Op,
    resource: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    in_200: bool,
    credential_source: &CredentialSource,
) -> Error {
    let text = String::from_utf8_lossy(body);
    let parsed = xml::parse_error(&text);
    let (code, message, body_rid) = match parsed {
        Some(b) if !b.code.is_empty() => {
            let message = if b.message.is_empty() {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                b.message
            };
            (b.code, message, b.request_id)
        }
        _ => {
            let snippet: String = text.trim().chars().take(BODY_SNIPPET).collect();
            let reason = status.canonical_reason().unwrap_or("error");
            let message = if snippet.is_empty() {
                reason.to_string()
            } else {
                format!("{reason}: {snippet}")
            };
            (code_for_status(op, status).to_string(), message, None)
        }
    };
    Error::service(ServiceError {
        op,
        resource: resource.to_string(),
        status: status.as_u16(),
        code,
        message,
        // COS sends x-cos-request-id; the S3 dialect (store::s3) x-amz-request-id.
        request_id: body_rid
            .or_else(|| header_str(headers, "x-cos-request-id"))
            .or_else(|| header_str(headers, "x-amz-request-id")),
        in_200,
        server_date: header_str(headers, "date").and_then(|d| httpdate::parse_http_date(&d).ok()),
        credential_source: (*credential_source != CredentialSource::default())
            .then(|| credential_source.clone()),
    })
}

pub(super) fn network_kind(e: &reqwest::Error) -> NetworkKind {
    if e.is_timeout() {
        return NetworkKind::Timeout;
    }
    if e.is_connect() {
        return NetworkKind::Connect;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                TimedOut => return NetworkKind::Timeout,
                ConnectionRefused => return NetworkKind::Connect,
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    return NetworkKind::Reset
                }
                _ => {}
            }
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_closed() || h.is_canceled() {
                return NetworkKind::Reset;
            }
            if h.is_timeout() {
                return NetworkKind::Timeout;
            }
        }
        source = s.source();
    }
    if e.is_body() || e.is_decode() || e.is_request() {
        return NetworkKind::Reset;
    }
    NetworkKind::Other
}

pub(super) fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        source = s.source();
    }
    parts.join(": ")
}

pub(super) fn http_date(t: OffsetDateTime) -> String {
    httpdate::fmt_http_date(SystemTime::from(t))
}

fn content_md5(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(body))
}

/// Content headers, `x-cos-meta-*` and the storage class, as request headers.
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
    push("x-cos-storage-class", &h.storage_class);
    for (k, v) in &h.meta {
        out.push((format!("x-cos-meta-{}", k.to_ascii_lowercase()), v.clone()));
    }
    out
}

fn copy_conditions(c: &CopySourceConditions) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(etag) = &c.if_match {
        out.push((
            "x-cos-copy-source-if-match".to_string(),
            format!("\"{}\"", xml::unquote_etag(etag)),
        ));
    }
    if let Some(etag) = &c.if_none_match {
        out.push((
            "x-cos-copy-source-if-none-match".to_string(),
            format!("\"{}\"", xml::unquote_etag(etag)),
        ));
    }
    if let Some(t) = c.if_modified_since {
        out.push((
            "x-cos-copy-source-if-modified-since".to_string(),
            http_date(t),
        ));
    }
    if let Some(t) = c.if_unmodified_since {
        out.push((
            "x-cos-copy-source-if-unmodified-since".to_string(),
            http_date(t),
        ));
    }
    out
}

/// HEAD Object's headers as `ObjectMeta`.
fn object_meta(a: &Answer) -> Result<ObjectMeta> {
    let size = a
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Protocol {
            op: a.op,
            resource: a.resource.clone(),
            message: "HEAD answered without a Content-Length".to_string(),
        })?;
    let storage_class = a.header("x-cos-storage-class");
    let mut meta = std::collections::BTreeMap::new();
    for (name, value) in &a.headers {
        if let Some(m) = name.as_str().strip_prefix("x-cos-meta-") {
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
        crc64: a.crc64(),
        crc64nvme: None,
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

#[async_trait]
impl ObjectStore for CosClient {
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let mut buckets = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_BUCKET_PAGES {
            let req = self
                .req(
                    Op::ListBuckets,
                    Method::GET,
                    SERVICE_HOST.to_string(),
                    "cos://".to_string(),
                )
                .opt_param("marker", marker.clone());
            let answer = self.send(req).await?;
            let page = answer.parse(xml::parse_list_buckets)?;
            if buckets.len() + page.buckets.len() > MAX_BUCKETS {
                return Err(Error::Protocol {
                    op: Op::ListBuckets,
                    resource: "cos://".to_string(),
                    message: format!(
                        "GET Service listed more than {MAX_BUCKETS} buckets (COS allows an account 1,000): check --endpoint"
                    ),
                });
            }
            buckets.extend(page.buckets);
            match page.next_marker {
                Some(next) if page.is_truncated && Some(&next) != marker.as_ref() => {
                    marker = Some(next)
                }
                _ => break,
            }
        }
        Ok(buckets)
    }

    async fn head_bucket(&self, bucket: &BucketName, region: &str) -> Result<String> {
        let answer = self
            .send(self.bucket_req(Op::HeadBucket, Method::HEAD, bucket, region)?)
            .await?;
        Ok(answer
            .header("x-cos-bucket-region")
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| region.to_string()))
    }

    async fn list_objects(
        &self,
        bucket: &BucketName,
        region: &str,
        req: &ListObjectsRequest,
    ) -> Result<ListObjectsPage> {
        let r = self
            .bucket_req(Op::ListObjects, Method::GET, bucket, region)?
            .param("prefix", req.prefix.clone())
            .opt_param("delimiter", req.delimiter.clone())
            .opt_param("marker", req.marker.clone())
            .opt_param("max-keys", req.max_keys.map(|n| n.to_string()))
            .param("encoding-type", "url");
        let answer = self.send(r).await?;
        answer.parse(xml::parse_list_objects)
    }

    async fn head_object(&self, obj: &ObjectRef) -> Result<ObjectMeta> {
        let answer = self
            .send(self.object_req(Op::HeadObject, Method::HEAD, obj)?)
            .await?;
        object_meta(&answer)
    }

    async fn get_object(&self, obj: &ObjectRef, range: Option<ByteRange>) -> Result<Bytes> {
        let r = self
            .object_req(Op::GetObject, Method::GET, obj)?
            .opt_header("range", range.map(|r| r.header_value()))
            .uncapped();
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
            crc64: answer.crc64(),
        })
    }

    async fn delete_object(&self, obj: &ObjectRef) -> Result<()> {
        self.send(self.object_req(Op::DeleteObject, Method::DELETE, obj)?)
            .await?;
        Ok(())
    }

    async fn copy_object(&self, req: &CopyObjectRequest) -> Result<CopyResult> {
        Error::check_dialect(Op::PutObjectCopy, &req.source.bucket, Dialect::Cos)?;
        validate_key(&req.source.key).map_err(|e| {
            Error::InvalidInput(format!("PutObjectCopy source {}: {e}", req.source))
        })?;
        let directive = match req.directive {
            MetadataDirective::Copy => "Copy",
            MetadataDirective::Replaced => "Replaced",
        };
        let mut r = self
            .object_req(Op::PutObjectCopy, Method::PUT, &req.destination)?
            .header("x-cos-copy-source", req.source.copy_source())
            .header("x-cos-metadata-directive", directive)
            .body(Bytes::new())
            .timeout(self.copy_timeout);
        match req.directive {
            MetadataDirective::Replaced => r.headers.extend(object_headers(&req.headers)),
            MetadataDirective::Copy => {
                if let Some(class) = &req.headers.storage_class {
                    r = r.header("x-cos-storage-class", class.clone());
                }
            }
        }
        r.headers.extend(copy_conditions(&req.conditions));
        let answer = self.send(r).await?;
        let mut result = answer.parse(xml::parse_copy_object)?;
        if result.crc64.is_none() {
            result.crc64 = answer.crc64();
        }
        Ok(result)
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
            crc64: answer.crc64(),
        })
    }

    async fn upload_part_copy(&self, req: &UploadPartCopyRequest) -> Result<PartResult> {
        Error::check_dialect(Op::UploadPartCopy, &req.source.bucket, Dialect::Cos)?;
        validate_key(&req.source.key).map_err(|e| {
            Error::InvalidInput(format!("UploadPartCopy source {}: {e}", req.source))
        })?;
        let mut r = self
            .object_req(Op::UploadPartCopy, Method::PUT, &req.destination)?
            .param("partNumber", req.part_number.to_string())
            .param("uploadId", req.upload_id.clone())
            .header("x-cos-copy-source", req.source.copy_source())
            .opt_header(
                "x-cos-copy-source-range",
                req.range.map(|r| r.header_value()),
            )
            .body(Bytes::new())
            .timeout(self.copy_timeout);
        r.headers.extend(copy_conditions(&req.conditions));
        let answer = self.send(r).await?;
        let mut result = answer.parse(xml::parse_copy_part)?;
        if let Some(crc) = answer.crc64() {
            result.crc64 = Some(crc);
        }
        Ok(result)
    }

    async fn complete_multipart(
        &self,
        obj: &ObjectRef,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<CompleteResult> {
        let body = xml::complete_body(parts);
        let r = self
            .object_req(Op::CompleteMultipartUpload, Method::POST, obj)?
            .param("uploadId", upload_id)
            .header("content-type", "application/xml")
            .header("content-md5", content_md5(body.as_bytes()))
            .body(Bytes::from(body))
            .timeout(self.complete_timeout);
        let answer = self.send(r).await?;
        let mut result = answer.parse(xml::parse_complete)?;
        if let Some(crc) = answer.crc64() {
            result.crc64 = Some(crc);
        }
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
            .param("prefix", req.prefix.clone())
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
            .opt_param("max-parts", max_parts.map(|n| n.to_string()))
            .param("encoding-type", "url");
        let answer = self.send(r).await?;
        answer.parse(xml::parse_list_parts)
    }

    fn correct_clock(&self, server_time: SystemTime) {
        let server = match server_time.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(_) => return,
        };
        let local = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.clock_offset.store(server - local, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    //! Wire-level checks against a raw TCP peer on loopback (what the bytes look like, how
    //! failures are classified). Behaviour against a COS-like server lives in
    //! `tests/it/client_api.rs`.
    use super::*;
    use crate::store::Secret;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn creds() -> Credentials {
        Credentials {
            secret_id: "AKIDtest".into(),
            secret_key: Secret::new("very-secret-key"),
            token: Some(Secret::new("session-token-value")),
        }
    }

    fn client(addr: std::net::SocketAddr, observer: Option<RequestObserver>) -> CosClient {
        let mut o = ClientOptions::new(creds());
        o.endpoint = Some(format!("http://{addr}"));
        o.request_timeout = Duration::from_millis(800);
        o.connect_timeout = Duration::from_millis(800);
        o.observer = observer;
        CosClient::new(o).unwrap()
    }

    fn obj(key: &str) -> ObjectRef {
        ObjectRef::new(
            BucketName::parse("dst-1250000000").unwrap(),
            "ap-beijing",
            key,
        )
    }

    /// Accepts one connection, reads the request head (and a body of Content-Length), answers
    /// `response` and returns the request text.
    async fn one_shot(
        head: &'static str,
        body: &'static str,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<String>) {
        let response = if head.contains("Content-Length") {
            format!("{head}\r\n{body}")
        } else {
            format!("{head}Content-Length: {}\r\n\r\n{body}", body.len())
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            sock.write_all(response.as_bytes()).await.unwrap();
            sock.shutdown().await.ok();
            String::from_utf8_lossy(&buf).to_string()
        });
        (addr, task)
    }

    #[tokio::test]
    async fn requests_carry_the_canonical_host_one_length_and_a_signature() {
        let (addr, task) = one_shot(
            "HTTP/1.1 200 OK\r\nx-cos-request-id: rid-1\r\n",
            "<InitiateMultipartUploadResult><Bucket>dst-1250000000</Bucket><Key>a b</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>",
        )
        .await;
        let records = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = records.clone();
        let c = client(
            addr,
            Some(Arc::new(move |r: RequestRecord| {
                sink.lock().unwrap().push(r)
            })),
        );
        let id = c
            .initiate_multipart(&obj("dir/a b+c.bin"), &ObjectHeaders::default())
            .await
            .unwrap();
        assert_eq!(id, "up-1");
        let request = task.await.unwrap();
        let head = request.to_ascii_lowercase();
        assert!(
            request.starts_with("POST /dir/a%20b%2Bc.bin?uploads HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            head.contains("\r\nhost: dst-1250000000.cos.ap-beijing.myqcloud.com\r\n"),
            "{request}"
        );
        assert_eq!(head.matches("content-length:").count(), 1, "{request}");
        assert_eq!(head.matches("\r\nhost:").count(), 1, "{request}");
        assert!(
            head.contains("x-cos-security-token: session-token-value"),
            "{request}"
        );
        let auth = request
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
            .unwrap();
        assert!(auth.contains("q-ak=AKIDtest"), "{auth}");
        assert!(
            auth.contains("q-header-list=content-length;host;x-cos-security-token"),
            "{auth}"
        );
        assert!(auth.contains("q-url-param-list=uploads&"), "{auth}");
        assert!(!request.contains("very-secret-key"));
        let recs = records.lock().unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].op, Op::InitiateMultipartUpload);
        assert_eq!(recs[0].status, Some(200));
        assert_eq!(recs[0].request_id.as_deref(), Some("rid-1"));
        assert_eq!(recs[0].resource, "cos://dst-1250000000/dir/a b+c.bin");
        assert!(!format!("{recs:?}").contains("secret-key"));
    }

    #[tokio::test]
    async fn an_error_inside_200_is_a_service_error() {
        let (addr, _task) = one_shot(
            "HTTP/1.1 200 OK\r\nDate: Wed, 21 Oct 2015 07:28:00 GMT\r\n",
            "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message><RequestId>rid-9</RequestId></Error>        ",
        )
        .await;
        let c = client(addr, None);
        let e = c
            .complete_multipart(
                &obj("big.bin"),
                "up-1",
                &[CompletedPart {
                    part_number: 1,
                    etag: "abc".into(),
                }],
            )
            .await
            .unwrap_err();
        match &e {
            Error::Service(s) => {
                assert!(s.in_200);
                assert_eq!((s.status, s.code.as_str()), (200, "InternalError"));
                assert_eq!(s.request_id.as_deref(), Some("rid-9"));
                assert!(s.server_date.is_some());
            }
            other => panic!("{other:?}"),
        }
        assert!(e.is_transient());
    }

    #[tokio::test]
    async fn head_errors_without_body_get_a_code_from_the_status() {
        let (addr, _task) = one_shot(
            "HTTP/1.1 404 Not Found\r\nx-cos-request-id: rid-404\r\n",
            "",
        )
        .await;
        let e = client(addr, None)
            .head_object(&obj("missing"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("NoSuchKey"));
        assert_eq!(e.request_id(), Some("rid-404"));
        assert!(e.is_not_found());
    }

    #[tokio::test]
    async fn network_failures_are_classified() {
        // Nothing listens: connect failure.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let e = client(closed, None)
            .head_object(&obj("k"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Network {
                    kind: NetworkKind::Connect,
                    ..
                }
            ),
            "{e:?}"
        );

        // Accepts and never answers: timeout.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let (s, _) = silent.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        });
        let e = client(addr, None).head_object(&obj("k")).await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::Network {
                    kind: NetworkKind::Timeout,
                    ..
                }
            ),
            "{e:?}"
        );
        hold.abort();

        // Answers half a response then closes: reset.
        let (addr, _task) = one_shot(
            "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n",
            "<ListBucketResult>",
        )
        .await;
        let e = client(addr, None)
            .list_objects(
                &BucketName::parse("dst-1250000000").unwrap(),
                "ap-beijing",
                &ListObjectsRequest::default(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Network {
                    kind: NetworkKind::Reset,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.is_transient());
    }

    /// A peer that answers every request on one connection with `head` and then body bytes
    /// (chunked, without end, or `declared` bytes of Content-Length) until the client hangs
    /// up or `limit` bytes are out. Returns how many body bytes it managed to write.
    async fn endless(
        status: &'static str,
        declared: Option<u64>,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<u64>) {
        const LIMIT: u64 = 1 << 30;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 8192];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return 0,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let framing = match declared {
                Some(n) => format!("Content-Length: {n}"),
                None => "Transfer-Encoding: chunked".to_string(),
            };
            let start =
                format!("HTTP/1.1 {status}\r\nContent-Type: application/xml\r\n{framing}\r\n\r\n");
            if sock.write_all(start.as_bytes()).await.is_err() {
                return 0;
            }
            let piece = "<Bucket><Name>b-1250000000</Name><Location>ap-beijing</Location></Bucket>"
                .repeat(800);
            let mut chunk = Vec::new();
            if declared.is_none() {
                chunk.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            }
            chunk.extend_from_slice(piece.as_bytes());
            if declared.is_none() {
                chunk.extend_from_slice(b"\r\n");
            }
            let mut written = 0u64;
            while written < LIMIT {
                if sock.write_all(&chunk).await.is_err() {
                    break;
                }
                written += piece.len() as u64;
            }
            written
        });
        (addr, task)
    }

    #[tokio::test]
    async fn an_endless_listing_stops_at_the_cap_with_an_error_that_names_it() {
        let (addr, task) = endless("200 OK", None).await;
        let mut o = ClientOptions::new(creds());
        o.endpoint = Some(format!("http://{addr}"));
        let started = Instant::now();
        let e = CosClient::new(o).unwrap().list_buckets().await.unwrap_err();
        let elapsed = started.elapsed();
        assert!(
            matches!(
                e,
                Error::TooLarge {
                    op: Op::ListBuckets,
                    cap: ANSWER_CAP,
                    status: 200,
                    ..
                }
            ),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(text.starts_with("ListBuckets cos://: "), "{text}");
        assert!(text.contains("8.00 MiB"), "{text}");
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        // The client hung up soon after the cap: the peer could not push much more than the
        // cap plus what the loopback socket buffers hold.
        let written = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the client hung up")
            .unwrap();
        assert!(written < ANSWER_CAP + (32 << 20), "{written}");
    }

    #[tokio::test]
    async fn a_declared_oversized_answer_is_refused_before_reading_it() {
        let (addr, task) = endless("200 OK", Some(10 << 30)).await;
        let mut o = ClientOptions::new(creds());
        o.endpoint = Some(format!("http://{addr}"));
        let bucket = BucketName::parse("dst-1250000000").unwrap();
        let e = CosClient::new(o)
            .unwrap()
            .list_objects(&bucket, "ap-beijing", &ListObjectsRequest::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::TooLarge {
                    op: Op::ListObjects,
                    cap: ANSWER_CAP,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("ListObjects cos://dst-1250000000/: "),
            "{e}"
        );
        task.abort();
    }

    #[tokio::test]
    async fn an_endless_error_body_stops_at_the_error_cap() {
        let (addr, task) = endless("404 Not Found", None).await;
        let mut o = ClientOptions::new(creds());
        o.endpoint = Some(format!("http://{addr}"));
        let e = CosClient::new(o)
            .unwrap()
            .list_parts(&obj("k"), "up-1", None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::TooLarge {
                    op: Op::ListParts,
                    cap: ERROR_BODY_CAP,
                    status: 404,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("64.0 KiB"), "{e}");
        let written = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the client hung up")
            .unwrap();
        assert!(written < ERROR_BODY_CAP + (32 << 20), "{written}");
    }

    #[tokio::test]
    async fn bucket_lists_past_the_total_cap_are_refused() {
        // Every answer is a truncated page of 2,000 buckets with a new marker, forever.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let entries =
                "<Bucket><Name>b-1250000000</Name><Location>ap-beijing</Location></Bucket>"
                    .repeat(2000);
            let mut pages = 0u32;
            let mut pending = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    pending.drain(..end + 4);
                    pages += 1;
                    let body = format!(
                        "<ListAllMyBucketsResult><IsTruncated>true</IsTruncated><NextMarker>m{pages}</NextMarker><Buckets>{entries}</Buckets></ListAllMyBucketsResult>"
                    );
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    if sock.write_all(head.as_bytes()).await.is_err()
                        || sock.write_all(body.as_bytes()).await.is_err()
                    {
                        return pages;
                    }
                }
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return pages,
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                }
            }
        });
        let mut o = ClientOptions::new(creds());
        o.endpoint = Some(format!("http://{addr}"));
        let e = CosClient::new(o).unwrap().list_buckets().await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::Protocol {
                    op: Op::ListBuckets,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("more than 100000 buckets"), "{e}");
        let pages = task.await.unwrap();
        assert_eq!(pages as usize, MAX_BUCKETS / 2000 + 1);
    }

    #[test]
    fn endpoints_are_validated() {
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:9000/").unwrap().base,
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            Endpoint::parse("https://cos.example.com").unwrap().base,
            "https://cos.example.com"
        );
        assert!(Endpoint::parse("ftp://x").unwrap_err().contains("http://"));
        assert!(Endpoint::parse("http://x/p").unwrap_err().contains("path"));
        assert!(Endpoint::parse("127.0.0.1:9000").is_err());
        let mut o = ClientOptions::new(creds());
        o.endpoint = Some("http://h:1/x?y".into());
        let e = CosClient::new(o).unwrap_err().to_string();
        assert!(e.contains("endpoint"), "{e}");
    }

    #[tokio::test]
    async fn an_s3_bucket_is_refused_before_any_request() {
        // Nothing listens there: a request sent would fail as a network error instead.
        let mut o = ClientOptions::new(creds());
        o.endpoint = Some("http://127.0.0.1:1".into());
        let c = CosClient::new(o).unwrap();
        let s3 = BucketName::parse_s3("media").unwrap();
        let s3_obj = ObjectRef::new(s3.clone(), "us-east-1", "k");
        let wrong = |e: Error| {
            assert!(
                matches!(
                    &e,
                    Error::WrongDialect {
                        bucket_dialect: Dialect::S3,
                        client_dialect: Dialect::Cos,
                        ..
                    }
                ),
                "{e}"
            );
            assert!(e.to_string().contains("provider = \"s3\""), "{e}");
        };
        wrong(c.head_object(&s3_obj).await.unwrap_err());
        wrong(c.head_bucket(&s3, "us-east-1").await.unwrap_err());
        // An s3:// source copied into a cos:// destination is refused too.
        let req = CopyObjectRequest {
            source: s3_obj,
            destination: obj("k"),
            directive: MetadataDirective::Copy,
            headers: ObjectHeaders::default(),
            conditions: CopySourceConditions::default(),
        };
        wrong(c.copy_object(&req).await.unwrap_err());
    }

    #[test]
    fn clock_correction_shifts_the_signing_window() {
        let c = CosClient::new(ClientOptions::new(creds())).unwrap();
        let before = c.now_unix();
        c.correct_clock(SystemTime::now() + Duration::from_secs(3600));
        let shift = c.now_unix() - before;
        assert!((3599..=3601).contains(&shift), "{shift}");
        assert!(!format!("{c:?}").contains("very-secret"));
    }

    #[test]
    fn copy_conditions_quote_etags_and_format_dates() {
        let c = copy_conditions(&CopySourceConditions {
            if_match: Some("abc-3".into()),
            if_none_match: None,
            if_modified_since: None,
            if_unmodified_since: Some(time::macros::datetime!(2019-05-16 06:45:51 UTC)),
        });
        assert_eq!(
            c,
            vec![
                (
                    "x-cos-copy-source-if-match".to_string(),
                    "\"abc-3\"".to_string()
                ),
                (
                    "x-cos-copy-source-if-unmodified-since".to_string(),
                    "Thu, 16 May 2019 06:45:51 GMT".to_string()
                ),
            ]
        );
    }
}
