//! The shared integration-test harness: start `haul serve` in-process on 127.0.0.1:0 and talk
//! to it with real, signed HTTP (reqwest + `store::sign::cos`).
//!
//! Test support only: no assertions live here, and nothing here is mocked.
#![allow(dead_code)]

pub mod s3;

use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use haul::server::{ServeConfig, ServerHandle};
use haul::store::encode::{cos_encode, key_to_url_path};
use haul::store::sign::cos::{self as sign, KeyTime, SignRequest};
use haul::store::{Credentials, Secret};

/// The bucket `serve_args()` creates in ap-guangzhou.
pub const GZ_BUCKET: &str = "alpha-1250000000";
pub const GZ: &str = "ap-guangzhou";
/// The bucket `serve_args()` creates in ap-shanghai.
pub const SH_BUCKET: &str = "beta-1250000000";
pub const SH: &str = "ap-shanghai";

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    args: haul::cli::serve::Args,
}

/// Parses `haul serve` flags, e.g. `args(&["--latency", "5ms"])`, on top of the test
/// defaults of `serve_args()`.
pub fn args(extra: &[&str]) -> ServeConfig {
    match Wrap::try_parse_from(serve_argv(extra)).map(|w| w.args.into_config()) {
        Ok(Ok(config)) => config,
        Ok(Err(e)) => panic!("test server flags are refused: {e}"),
        Err(e) => panic!("test server flags do not parse: {e}"),
    }
}

/// `haul serve` on 127.0.0.1:0 with `GZ_BUCKET` and `SH_BUCKET`, then `extra`: the command
/// line both the in-process server and a `haul serve` process start from.
pub fn serve_argv<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut argv = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--bucket",
        "alpha-1250000000@ap-guangzhou",
        "--bucket",
        "beta-1250000000@ap-shanghai",
    ];
    argv.extend_from_slice(extra);
    argv
}

/// Defaults: 127.0.0.1:0, the fixed demo credentials, one bucket in ap-guangzhou
/// (`GZ_BUCKET`) and one in ap-shanghai (`SH_BUCKET`), no latency, no faults.
pub fn serve_args() -> ServeConfig {
    args(&[])
}

pub async fn start_server(args: ServeConfig) -> ServerHandle {
    match haul::server::start(args).await {
        Ok(h) => h,
        Err(e) => panic!("the test server did not start: {e:#}"),
    }
}

/// The server's first key pair, as the client takes it.
pub fn credentials(h: &ServerHandle) -> Credentials {
    let (id, key) = h.credentials[0].clone();
    Credentials {
        secret_id: id,
        secret_key: Secret::new(key),
        token: None,
    }
}

/// `<bucket>.cos.<region>.myqcloud.com`
pub fn host(bucket: &str, region: &str) -> String {
    format!("{bucket}.cos.{region}.myqcloud.com")
}

/// The `x-cos-copy-source` value naming `key` in `bucket`.
pub fn copy_source(bucket: &str, region: &str, key: &str) -> String {
    format!("{}/{key}", host(bucket, region))
}

/// A signing raw client for one server.
#[derive(Clone)]
pub struct Cos {
    pub http: reqwest::Client,
    pub endpoint: String,
    pub id: String,
    pub key: String,
    pub token: Option<String>,
}

impl Cos {
    pub fn new(h: &ServerHandle) -> Self {
        let (id, key) = h.credentials[0].clone();
        Cos {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap_or_else(|e| panic!("reqwest client: {e}")),
            endpoint: h.endpoint(),
            id,
            key,
            token: None,
        }
    }

    /// A request on `host` for object `key` (empty: the bucket or service), path encoded as
    /// the SDKs do and signed as the decoded key.
    pub fn req(&self, method: &str, host: &str, key: &str) -> Req {
        let path = if key.is_empty() {
            "/".to_string()
        } else {
            key_to_url_path(key)
        };
        Req {
            cos: self.clone(),
            method: method.to_string(),
            host: host.to_string(),
            wire_path: path,
            sign_path: format!("/{key}"),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            sign: true,
            key_time: None,
            secret: None,
            unsigned_query: Vec::new(),
            unsigned_headers: Vec::new(),
            auth_edits: Vec::new(),
        }
    }

    /// Object request on a bucket in its region.
    pub fn obj(&self, method: &str, bucket: &str, region: &str, key: &str) -> Req {
        self.req(method, &host(bucket, region), key)
    }

    /// Initiate Multipart Upload of `key` (no extra headers).
    pub fn initiate(&self, bucket: &str, region: &str, key: &str) -> Req {
        self.obj("POST", bucket, region, key).q("uploads", "")
    }

    /// Upload Part - Copy of part `part` of `upload_id`, from `source` (see `copy_source`).
    pub fn copy_part(
        &self,
        bucket: &str,
        region: &str,
        key: &str,
        upload_id: &str,
        part: u32,
        source: &str,
    ) -> Req {
        self.obj("PUT", bucket, region, key)
            .q("partNumber", &part.to_string())
            .q("uploadId", upload_id)
            .h("x-cos-copy-source", source)
    }
}

pub struct Req {
    pub cos: Cos,
    pub method: String,
    pub host: String,
    pub wire_path: String,
    pub sign_path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub sign: bool,
    pub key_time: Option<KeyTime>,
    pub secret: Option<(String, String)>,
    /// Query parameters sent after the signed ones but left out of the signature.
    pub unsigned_query: Vec<(String, String)>,
    /// Headers sent but left out of the signature (not in `q-header-list`).
    pub unsigned_headers: Vec<(String, String)>,
    /// (from, to) replacements applied to the finished Authorization header.
    pub auth_edits: Vec<(String, String)>,
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Req {
    pub fn q(mut self, k: &str, v: &str) -> Self {
        self.query.push((k.to_string(), v.to_string()));
        self
    }
    pub fn h(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_ascii_lowercase(), v.to_string()));
        self
    }
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.body = b.into();
        self
    }
    pub fn unsigned(mut self) -> Self {
        self.sign = false;
        self
    }
    pub fn key_time(mut self, start: i64, end: i64) -> Self {
        self.key_time = Some(KeyTime::new(start, end));
        self
    }
    /// Sign with these credentials instead of the server's.
    pub fn creds(mut self, id: &str, key: &str) -> Self {
        self.secret = Some((id.to_string(), key.to_string()));
        self
    }
    /// Send `k=v` on the wire without signing it (not in `q-url-param-list`).
    pub fn q_unsigned(mut self, k: &str, v: &str) -> Self {
        self.unsigned_query.push((k.to_string(), v.to_string()));
        self
    }
    /// Send header `k: v` without signing it (not in `q-header-list`).
    pub fn h_unsigned(mut self, k: &str, v: &str) -> Self {
        self.unsigned_headers
            .push((k.to_ascii_lowercase(), v.to_string()));
        self
    }
    /// Replace `from` with `to` in the Authorization header after signing, as an attacker
    /// holding a captured header would.
    pub fn edit_auth(mut self, from: &str, to: &str) -> Self {
        self.auth_edits.push((from.to_string(), to.to_string()));
        self
    }
    /// Send the path as given on the wire (already encoded) and sign `sign_path`.
    pub fn raw_path(mut self, wire: &str, sign_path: &str) -> Self {
        self.wire_path = wire.to_string();
        self.sign_path = sign_path.to_string();
        self
    }

    pub fn url(&self, base: &str) -> String {
        let mut url = format!("{base}{}", self.wire_path);
        if !self.query.is_empty() || !self.unsigned_query.is_empty() {
            url.push('?');
            let q: Vec<String> = self
                .query
                .iter()
                .chain(&self.unsigned_query)
                .map(|(k, v)| {
                    if v.is_empty() && (k == "uploads") {
                        cos_encode(k)
                    } else {
                        format!("{}={}", cos_encode(k), cos_encode(v))
                    }
                })
                .collect();
            url.push_str(&q.join("&"));
        }
        url
    }

    /// The headers to send, with Host, Content-Length (for PUT/POST) and Authorization.
    pub fn signed_headers(&self) -> Vec<(String, String)> {
        let mut headers = self.headers.clone();
        headers.push(("host".into(), self.host.clone()));
        if matches!(self.method.as_str(), "PUT" | "POST") {
            headers.push(("content-length".into(), self.body.len().to_string()));
        }
        if let Some(t) = &self.cos.token {
            headers.push(("x-cos-security-token".into(), t.clone()));
        }
        if self.sign {
            let (id, key) = self
                .secret
                .clone()
                .unwrap_or((self.cos.id.clone(), self.cos.key.clone()));
            let kt = self
                .key_time
                .unwrap_or_else(|| KeyTime::new(now() - 60, now() + 3600));
            let to_sign: Vec<(String, String)> = headers
                .iter()
                .filter(|(k, _)| sign::should_sign_header(k))
                .cloned()
                .collect();
            let signed = sign::sign(
                &key,
                &kt,
                &SignRequest {
                    method: &self.method,
                    path: &self.sign_path,
                    params: &self.query,
                    headers: &to_sign,
                },
            );
            let mut authorization = sign::authorization(&id, &kt, &signed);
            for (from, to) in &self.auth_edits {
                authorization = authorization.replace(from, to);
            }
            headers.push(("authorization".into(), authorization));
        }
        headers.extend(self.unsigned_headers.iter().cloned());
        headers
    }

    pub async fn send(self) -> Resp {
        let url = self.url(&self.cos.endpoint);
        let http = self.cos.http.clone();
        self.send_to(&http, &url).await
    }

    pub async fn send_to(self, http: &reqwest::Client, url: &str) -> Resp {
        let method = reqwest::Method::from_bytes(self.method.as_bytes())
            .unwrap_or_else(|e| panic!("bad method {}: {e}", self.method));
        let mut rb = http.request(method, url);
        for (k, v) in self.signed_headers() {
            rb = rb.header(k, v);
        }
        let r = rb
            .body(self.body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} {url}: {e}", self.method));
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("reading the body of {url}: {e}"));
        Resp {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes: bytes.to_vec(),
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The text of the first `<tag>…</tag>` in the body, unescaped.
    pub fn tag(&self, tag: &str) -> Option<String> {
        tags(&self.text, tag).into_iter().next()
    }

    pub fn tags(&self, tag: &str) -> Vec<String> {
        tags(&self.text, tag)
    }

    /// COS's error code, if the body is an `<Error>`.
    pub fn code(&self) -> Option<String> {
        if self.text.contains("<Error>") {
            self.tag("Code")
        } else {
            None
        }
    }
}

pub fn tags(text: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(unescape(&after[..j]));
        rest = &after[j + close.len()..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
