//! A raw S3 client for the tests: requests signed with SigV4 (`haul::sigv4`, the signer the S3
//! client uses) and sent path-style to `haul serve` on 127.0.0.1, with knobs to send them
//! wrong (another time, another secret, an edited signature, an `aws-chunked` body).
//!
//! Test support only: no assertions live here.

use haul::server::ServerHandle;
use haul::sigv4::{self, Scope, SigningKey};
use haul::store::encode::cos_encode;

use super::{now, Resp};

#[derive(Clone)]
pub struct S3 {
    pub http: reqwest::Client,
    pub endpoint: String,
    pub host: String,
    pub id: String,
    pub key: String,
}

impl S3 {
    pub fn new(h: &ServerHandle) -> Self {
        let (id, key) = h.credentials[0].clone();
        S3 {
            http: reqwest::Client::new(),
            endpoint: h.endpoint(),
            host: h.addr.to_string(),
            id,
            key,
        }
    }

    /// A path-style request for `/BUCKET/KEY` (`bucket` empty: the service), the key encoded
    /// as the SDKs encode it.
    pub fn req(&self, method: &str, bucket: &str, key: &str) -> S3Req {
        let mut path = String::from("/");
        if !bucket.is_empty() {
            path.push_str(bucket);
            if !key.is_empty() {
                path.push('/');
                path.push_str(&key.split('/').map(cos_encode).collect::<Vec<_>>().join("/"));
            }
        }
        S3Req {
            s3: self.clone(),
            method: method.to_string(),
            host: self.host.clone(),
            path,
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            time: None,
            secret: None,
            payload_hash: None,
            chunked: None,
            edit_signature: false,
            unsigned_headers: Vec::new(),
            corrupt_chunk_byte: false,
        }
    }

    /// A virtual-hosted request: Host `BUCKET.localhost:PORT`, path `/KEY` (sent to the
    /// server's address, so no name is resolved).
    pub fn req_virtual(&self, method: &str, bucket: &str, key: &str) -> S3Req {
        let mut r = self.req(method, bucket, key);
        r.path = r.path[1 + bucket.len()..].to_string();
        if r.path.is_empty() {
            r.path = "/".to_string();
        }
        r.host = format!(
            "{bucket}.localhost:{}",
            self.host.rsplit(':').next().unwrap_or("")
        );
        r
    }

    /// A presigned URL for `METHOD /BUCKET/KEY`, signed as of `t`, valid `expires` seconds.
    pub fn presigned_url(
        &self,
        method: &str,
        bucket: &str,
        key: &str,
        t: i64,
        expires: u64,
    ) -> String {
        let path = self.req(method, bucket, key).path;
        let amz_date = sigv4::amz_date(t);
        let scope = Scope::new(&amz_date, "us-east-1", "s3");
        let key = SigningKey::derive(&self.key, &scope);
        let mut query = vec![
            ("X-Amz-Algorithm".to_string(), sigv4::ALGORITHM.to_string()),
            (
                "X-Amz-Credential".to_string(),
                format!("{}/{scope}", self.id),
            ),
            ("X-Amz-Date".to_string(), amz_date.clone()),
            ("X-Amz-Expires".to_string(), expires.to_string()),
            ("X-Amz-SignedHeaders".to_string(), "host".to_string()),
        ];
        let headers = [("host".to_string(), self.host.clone())];
        let decoded = haul::store::encode::percent_decode(&path);
        let signed = sigv4::sign(
            &sigv4::Request {
                method,
                path: &decoded,
                query: &query,
                headers: &headers,
                payload_hash: sigv4::UNSIGNED_PAYLOAD,
            },
            &self.id,
            &key,
            &amz_date,
        );
        query.push(("X-Amz-Signature".to_string(), signed.signature));
        format!("{}{path}?{}", self.endpoint, sigv4::canonical_query(&query))
    }
}

pub struct S3Req {
    pub s3: S3,
    pub method: String,
    /// The Host header sent and signed.
    pub host: String,
    /// Encoded path, as sent.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub time: Option<i64>,
    pub secret: Option<(String, String)>,
    pub payload_hash: Option<String>,
    /// Send the body `aws-chunked` in chunks of this size, each chunk signed.
    pub chunked: Option<usize>,
    /// Flip the last digit of the signature after signing.
    pub edit_signature: bool,
    /// Headers sent but not signed.
    pub unsigned_headers: Vec<(String, String)>,
    /// Flip a data byte of the first chunk after the chunks are signed.
    pub corrupt_chunk_byte: bool,
}

impl S3Req {
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
    /// Sign as of this Unix time.
    pub fn at(mut self, t: i64) -> Self {
        self.time = Some(t);
        self
    }
    pub fn creds(mut self, id: &str, key: &str) -> Self {
        self.secret = Some((id.to_string(), key.to_string()));
        self
    }
    /// Claim this `x-amz-content-sha256` instead of the body's hash.
    pub fn payload_hash(mut self, v: &str) -> Self {
        self.payload_hash = Some(v.to_string());
        self
    }
    /// Send the body as `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` in chunks of `n` bytes.
    pub fn chunked(mut self, n: usize) -> Self {
        self.chunked = Some(n);
        self
    }
    pub fn bad_signature(mut self) -> Self {
        self.edit_signature = true;
        self
    }
    /// Send header `k: v` without signing it.
    pub fn h_unsigned(mut self, k: &str, v: &str) -> Self {
        self.unsigned_headers
            .push((k.to_ascii_lowercase(), v.to_string()));
        self
    }
    /// With `chunked`: change a byte of the first chunk's data after it was signed.
    pub fn corrupt_chunk(mut self) -> Self {
        self.corrupt_chunk_byte = true;
        self
    }

    pub async fn send(self) -> Resp {
        let t = self.time.unwrap_or_else(now);
        let amz_date = sigv4::amz_date(t);
        let (id, secret) = self
            .secret
            .clone()
            .unwrap_or((self.s3.id.clone(), self.s3.key.clone()));
        let key = SigningKey::derive(&secret, &Scope::new(&amz_date, "us-east-1", "s3"));
        let payload_hash = match (&self.payload_hash, self.chunked) {
            (Some(h), _) => h.clone(),
            (None, Some(_)) => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_string(),
            (None, None) => sigv4::sha256_hex(&self.body),
        };
        let mut headers = self.headers.clone();
        if self.chunked.is_some() {
            headers.push(("content-encoding".into(), "aws-chunked".into()));
            headers.push((
                "x-amz-decoded-content-length".into(),
                self.body.len().to_string(),
            ));
        }
        headers.extend(sigv4::standard_headers(
            &self.host,
            &amz_date,
            &payload_hash,
            None,
        ));
        let decoded_path = haul::store::encode::percent_decode(&self.path);
        let signed = sigv4::sign(
            &sigv4::Request {
                method: &self.method,
                path: &decoded_path,
                query: &self.query,
                headers: &headers,
                payload_hash: &payload_hash,
            },
            &id,
            &key,
            &amz_date,
        );
        let mut authorization = signed.authorization.clone();
        if self.edit_signature {
            let last = if authorization.ends_with('0') {
                "1"
            } else {
                "0"
            };
            authorization.pop();
            authorization.push_str(last);
        }
        let body = match self.chunked {
            None => self.body.clone(),
            Some(n) => {
                let mut b = chunk_body(&self.body, n, &key, &amz_date, &signed.signature);
                if self.corrupt_chunk_byte {
                    let data = b.iter().position(|&c| c == b'\n').map_or(0, |i| i + 1);
                    b[data] ^= 0x20;
                }
                b
            }
        };
        let mut url = format!("{}{}", self.s3.endpoint, self.path);
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(&sigv4::canonical_query(&self.query));
        }
        let method = reqwest::Method::from_bytes(self.method.as_bytes())
            .unwrap_or_else(|e| panic!("bad method {}: {e}", self.method));
        let mut rb = self.s3.http.request(method, &url);
        for (k, v) in headers
            .iter()
            .filter(|(k, v)| k != "host" || *v != self.s3.host)
        {
            rb = rb.header(k, v);
        }
        rb = rb.header("authorization", authorization);
        for (k, v) in &self.unsigned_headers {
            rb = rb.header(k, v);
        }
        let r = rb
            .body(body)
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

/// `body` as `aws-chunked` with chunk signatures chained from `seed`, as the AWS SDKs send it.
pub fn chunk_body(body: &[u8], n: usize, key: &SigningKey, amz_date: &str, seed: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut previous = seed.to_string();
    let mut chunks: Vec<&[u8]> = body.chunks(n.max(1)).collect();
    chunks.push(&[]);
    for c in chunks {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{}\n{previous}\n{}\n{}",
            key.scope(),
            sigv4::EMPTY_PAYLOAD_SHA256,
            sigv4::sha256_hex(c)
        );
        let sig = key.sign(&sts);
        out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
        previous = sig;
    }
    out
}
