//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`) as S3 uses it, for the S3 client to sign and
//! for `haul serve` to verify.
//!
//! Pure: no I/O, no clock (the caller passes the `x-amz-date` time), no HTTP types. S3's
//! rules, which differ from other AWS services: the path is never normalised (`//`, `.` and `..`
//! are signed as they are) and each segment is URI-encoded once, not twice. Query pairs and
//! header values come in decoded; encoding, sorting and trimming happen here. The published AWS
//! test-suite cases that apply to S3 and vectors signed by botocore keep it honest
//! (tests/data/sigv4/).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::store::encode::cos_encode;

type HmacSha256 = Hmac<Sha256>;

/// The algorithm name that opens an `Authorization` header and the string to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// `x-amz-content-sha256` for a body that is not hashed (S3 accepts it over any transport).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SHA-256 of the empty body, the payload hash of every body-less request.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Header names a signer adds (lowercase, as signed).
pub const HEADER_DATE: &str = "x-amz-date";
pub const HEADER_CONTENT_SHA256: &str = "x-amz-content-sha256";
pub const HEADER_SECURITY_TOKEN: &str = "x-amz-security-token";

/// Lowercase hex SHA-256 of a body: its `x-amz-content-sha256` when the payload is signed.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// `x-amz-date` for a Unix time: `YYYYMMDDTHHMMSSZ` in UTC.
pub fn amz_date(unix_seconds: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an `x-amz-date` (`YYYYMMDDTHHMMSSZ`) into Unix seconds, for a server's clock-skew check.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(num(0..4)?).ok()?, month, num(6..8)? as u8)
            .ok()?;
    let t = time::Time::from_hms(num(9..11)? as u8, num(11..13)? as u8, num(13..15)? as u8).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// The credential scope: `DATE/REGION/SERVICE/aws4_request`, `DATE` being `YYYYMMDD`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Scope {
    /// The scope of a request signed at `amz_date` (its first eight characters are the date).
    pub fn new(amz_date: &str, region: &str, service: &str) -> Self {
        Self {
            date: amz_date.get(..8).unwrap_or(amz_date).to_string(),
            region: region.to_string(),
            service: service.to_string(),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The key derived from a secret for one scope. Deriving costs four HMACs and the result is
/// valid for the whole day, so a signer keeps it and re-derives only when the scope changes.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    scope: Scope,
    key: [u8; 32],
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key: it signs requests for a whole day.
        f.debug_struct("SigningKey")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
    pub fn derive(secret_access_key: &str, scope: &Scope) -> Self {
        let k_date = hmac(
            format!("AWS4{secret_access_key}").as_bytes(),
            scope.date.as_bytes(),
        );
        let k_region = hmac(&k_date, scope.region.as_bytes());
        let k_service = hmac(&k_region, scope.service.as_bytes());
        let key = hmac(&k_service, b"aws4_request");
        Self {
            scope: scope.clone(),
            key,
        }
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Lowercase hex HMAC of the string to sign: the signature.
    pub fn sign(&self, string_to_sign: &str) -> String {
        hex::encode(hmac(&self.key, string_to_sign.as_bytes()))
    }
}

/// What gets signed. `path` is decoded (`/` for the service, `/bucket/key` path-style,
/// `/key` virtual-hosted); `query` holds decoded pairs (`("uploads", "")` for `?uploads`);
/// `headers` are the headers to sign, names in any case, `host` and `x-amz-date` among them.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    /// `x-amz-content-sha256`'s value: a hex SHA-256 or [`UNSIGNED_PAYLOAD`].
    pub payload_hash: &'a str,
}

/// The canonical request and the `SignedHeaders` list it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    pub text: String,
    pub signed_headers: String,
}

/// S3's canonical URI: each `/`-separated segment URI-encoded once, nothing normalised.
pub fn canonical_uri(decoded_path: &str) -> String {
    if decoded_path.is_empty() {
        return "/".to_string();
    }
    decoded_path
        .split('/')
        .map(cos_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// `k=v&k=v` with names and values URI-encoded, sorted by encoded name then value.
pub fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut items: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (cos_encode(k), cos_encode(v)))
        .collect();
    items.sort();
    items
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header value as signed: trimmed, inner runs of spaces collapsed to one.
fn canonical_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The canonical headers block (`name:value\n` each, names lowercase and sorted, values of a
/// repeated name joined by `,` in their order) and the `a;b;c` signed-headers list.
fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut merged: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in headers {
        merged
            .entry(name.trim().to_ascii_lowercase())
            .or_default()
            .push(canonical_header_value(value));
    }
    let mut block = String::new();
    for (name, values) in &merged {
        block.push_str(name);
        block.push(':');
        block.push_str(&values.join(","));
        block.push('\n');
    }
    let names = merged.keys().cloned().collect::<Vec<_>>().join(";");
    (block, names)
}

/// Method, canonical URI, canonical query, canonical headers, signed headers, payload hash.
pub fn canonical_request(req: &Request<'_>) -> CanonicalRequest {
    let (headers, signed_headers) = canonical_headers(req.headers);
    let text = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_uri(req.path),
        canonical_query(req.query),
        headers,
        signed_headers,
        req.payload_hash
    );
    CanonicalRequest {
        text,
        signed_headers,
    }
}

/// `AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of the canonical request>`.
pub fn string_to_sign(amz_date: &str, scope: &Scope, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// `AWS4-HMAC-SHA256 Credential=KEY/SCOPE, SignedHeaders=a;b, Signature=HEX`.
pub fn authorization_value(
    access_key_id: &str,
    scope: &Scope,
    signed_headers: &str,
    signature: &str,
) -> String {
    format!(
        "{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
}

/// Everything signing produced; `authorization` is the header to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
    pub signed_headers: String,
    pub authorization: String,
}

/// Signs `req` (whose headers already hold `host`, `x-amz-date` = `amz_date` and whatever else
/// is to be signed) with a key derived for `amz_date`'s day.
pub fn sign(req: &Request<'_>, access_key_id: &str, key: &SigningKey, amz_date: &str) -> Signed {
    let canonical = canonical_request(req);
    let sts = string_to_sign(amz_date, key.scope(), &canonical.text);
    let signature = key.sign(&sts);
    let authorization = authorization_value(
        access_key_id,
        key.scope(),
        &canonical.signed_headers,
        &signature,
    );
    Signed {
        canonical_request: canonical.text,
        string_to_sign: sts,
        signature,
        signed_headers: canonical.signed_headers,
        authorization,
    }
}

/// The headers a client adds before signing: `host`, `x-amz-date`, `x-amz-content-sha256`
/// and, with temporary credentials, `x-amz-security-token`. All are signed.
pub fn standard_headers(
    host: &str,
    amz_date: &str,
    payload_hash: &str,
    session_token: Option<&str>,
) -> Vec<(String, String)> {
    let mut h = vec![
        ("host".to_string(), host.to_string()),
        (HEADER_DATE.to_string(), amz_date.to_string()),
        (HEADER_CONTENT_SHA256.to_string(), payload_hash.to_string()),
    ];
    if let Some(token) = session_token.filter(|t| !t.is_empty()) {
        h.push((HEADER_SECURITY_TOKEN.to_string(), token.to_string()));
    }
    h
}

/// Why an incoming `Authorization` header cannot be checked, or does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the Authorization header is not {ALGORITHM}: sign the request with Signature V4")]
    NotSigV4,
    #[error("the Authorization header has no {0}=: expected `{ALGORITHM} Credential=KEY/YYYYMMDD/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX`")]
    MissingPart(&'static str),
    #[error("the credential {0:?} is not KEY/YYYYMMDD/REGION/SERVICE/aws4_request")]
    BadCredential(String),
    #[error("the signature {0:?} is not 64 lowercase hex digits")]
    BadSignature(String),
    #[error("SignedHeaders does not include host: S3 requires the host header to be signed")]
    HostNotSigned,
    #[error("signed header {0:?} is not in the request: send it or stop signing it")]
    MissingSignedHeader(String),
    #[error("the request has no x-amz-date (or Date) header to match its signature")]
    MissingDate,
    #[error("x-amz-date {date:?} is not on the credential's day {scope_date:?}")]
    DateOutOfScope { date: String, scope_date: String },
    #[error("the request signature does not match: check the secret key and the signing method")]
    Mismatch,
}

/// An incoming `Authorization: AWS4-HMAC-SHA256 …` header, split up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    pub scope: Scope,
    /// Lowercase names, in the order the header lists them.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s3/aws4_request,
/// SignedHeaders=host;x-amz-date, Signature=…` (spaces after the commas optional).
pub fn parse_authorization(value: &str) -> Result<Authorization, AuthError> {
    let rest = value
        .trim()
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or(AuthError::NotSigV4)?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => {}
        }
    }
    let credential = credential.ok_or(AuthError::MissingPart("Credential"))?;
    let signed = signed.ok_or(AuthError::MissingPart("SignedHeaders"))?;
    let signature = signature.ok_or(AuthError::MissingPart("Signature"))?;

    // The access key id may itself hold no '/', so split the scope off the right.
    let bad = || AuthError::BadCredential(credential.to_string());
    let mut it = credential.rsplitn(5, '/');
    let terminator = it.next().ok_or_else(bad)?;
    let service = it.next().ok_or_else(bad)?;
    let region = it.next().ok_or_else(bad)?;
    let date = it.next().ok_or_else(bad)?;
    let access_key_id = it.next().ok_or_else(bad)?;
    if terminator != "aws4_request"
        || access_key_id.is_empty()
        || date.len() != 8
        || !date.bytes().all(|b| b.is_ascii_digit())
        || region.is_empty()
        || service.is_empty()
    {
        return Err(bad());
    }
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(AuthError::BadSignature(signature.to_string()));
    }
    let signed_headers: Vec<String> = signed
        .split(';')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(AuthError::HostNotSigned);
    }
    Ok(Authorization {
        access_key_id: access_key_id.to_string(),
        scope: Scope {
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
        },
        signed_headers,
        signature: signature.to_string(),
    })
}

/// An incoming request as a server sees it: `path` decoded, `query` decoded pairs, `headers`
/// every header received (any case, repeated names repeated), `payload_hash` the
/// `x-amz-content-sha256` the client sent.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub payload_hash: &'a str,
}

/// Recomputes the signature `auth` claims for `req` with `secret_access_key`: picks the signed
/// headers out of the request, takes `x-amz-date` (or `Date`) as the request time, and returns
/// what the client should have computed. Use [`verify`] to compare.
pub fn expected_signature(
    auth: &Authorization,
    req: &Incoming<'_>,
    secret_access_key: &str,
) -> Result<Signed, AuthError> {
    let mut headers = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let before = headers.len();
        headers.extend(
            req.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(n, v)| (n.clone(), v.clone())),
        );
        if headers.len() == before {
            return Err(AuthError::MissingSignedHeader(name.clone()));
        }
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let amz_date = header(HEADER_DATE)
        .or_else(|| header("date").and_then(|d| http_date_to_amz(&d)))
        .ok_or(AuthError::MissingDate)?;
    if amz_date.get(..8) != Some(auth.scope.date.as_str()) {
        return Err(AuthError::DateOutOfScope {
            date: amz_date,
            scope_date: auth.scope.date.clone(),
        });
    }
    let key = SigningKey::derive(secret_access_key, &auth.scope);
    let request = Request {
        method: req.method,
        path: req.path,
        query: req.query,
        headers: &headers,
        payload_hash: req.payload_hash,
    };
    Ok(sign(&request, &auth.access_key_id, &key, &amz_date))
}

/// Checks `auth` against `req` signed with `secret_access_key`, in constant time over the
/// signature. Returns the recomputed signing record on success (servers may log its scope).
pub fn verify(
    auth: &Authorization,
    req: &Incoming<'_>,
    secret_access_key: &str,
) -> Result<Signed, AuthError> {
    let signed = expected_signature(auth, req, secret_access_key)?;
    if constant_time_eq(signed.signature.as_bytes(), auth.signature.as_bytes()) {
        Ok(signed)
    } else {
        Err(AuthError::Mismatch)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An RFC 7231 `Date` header as `x-amz-date` (SigV4 accepts either as the request time).
fn http_date_to_amz(date: &str) -> Option<String> {
    let t = httpdate::parse_http_date(date).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(amz_date(i64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests;
