//! Signature checks for the S3 dialect, as strict as S3 (and as `auth` is for COS), on top of
//! `crate::sigv4` (which owns every SigV4 computation: canonical request, string to sign,
//! keys, parsing the `Authorization` header).
//!
//! Pure: the caller passes the request's parts and the current time. What this module adds:
//! - which key: an unknown access key is `InvalidAccessKeyId`; the COS SecretId/SecretKey
//!   pairs are the S3 access key/secret pairs, a temporary one's token comes as
//!   `x-amz-security-token`;
//! - when: `x-amz-date` (or `Date`) more than 15 minutes from the server's clock is
//!   `RequestTimeTooSkewed`; a presigned URL (`X-Amz-*` in the query) is refused before its
//!   date or after `X-Amz-Expires`;
//! - what is covered: every `x-amz-*` header sent must be signed (one of them,
//!   `x-amz-copy-source`, turns a PUT into a copy), and so must `x-amz-content-sha256`;
//! - the body: `x-amz-content-sha256` becomes a `Payload` promise that `service::body` keeps
//!   (a hash to match, or an `aws-chunked` body whose chunk signatures `ChunkSigner` checks).
//!
//! A mismatch answers `SignatureDoesNotMatch` with the StringToSign and CanonicalRequest the
//! server computed, as S3 does. Must not log, echo or store a secret.

use super::auth::{ct_eq, Credentials, MAX_SKEW_SECS};
use super::error::CosError;
use crate::sigv4::{self, AuthError, Authorization, SigningKey};

/// An S3 request as verification needs it.
pub struct S3Request<'a> {
    pub method: &'a str,
    /// The decoded request path as sent (`/BUCKET/KEY` path-style, `/KEY` virtual-hosted).
    pub path: &'a str,
    /// Decoded query pairs.
    pub query: &'a [(String, String)],
    /// Every header received, lower-case names.
    pub headers: &'a [(String, String)],
}

impl S3Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a verified request's signature promised about its body.
#[derive(Debug)]
pub enum Payload {
    /// Nothing (`UNSIGNED-PAYLOAD`, a presigned URL, or a COS request).
    Unchecked,
    /// The body must hash to this SHA-256 (lowercase hex).
    Sha256(String),
    /// An `aws-chunked` body; signed chunk by chunk when a signer is given.
    Chunked(Option<ChunkSigner>),
}

/// Verifies the chain of chunk signatures of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body, each
/// seeded by the one before, the first by the request's own signature.
#[derive(Debug)]
pub struct ChunkSigner {
    key: SigningKey,
    amz_date: String,
    previous: String,
}

impl ChunkSigner {
    /// Checks the signature a chunk claims, given the hex SHA-256 of its data.
    pub fn check_chunk(&mut self, data_sha256: &str, claimed: &str) -> bool {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.key.scope(),
            self.previous,
            sigv4::EMPTY_PAYLOAD_SHA256,
            data_sha256
        );
        self.advance(&sts, claimed)
    }

    /// Checks `x-amz-trailer-signature` over the trailer lines (`name:value\n` each).
    pub fn check_trailer(&mut self, trailers: &[(String, String)], claimed: &str) -> bool {
        let text: String = trailers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.key.scope(),
            self.previous,
            sigv4::sha256_hex(text.as_bytes())
        );
        self.advance(&sts, claimed)
    }

    fn advance(&mut self, string_to_sign: &str, claimed: &str) -> bool {
        let want = self.key.sign(string_to_sign);
        let ok = ct_eq(want.as_bytes(), claimed.trim().as_bytes());
        self.previous = want;
        ok
    }
}

fn denied(code: &'static str, message: impl Into<String>) -> CosError {
    CosError::denied(code, message)
}

fn malformed(e: impl std::fmt::Display) -> CosError {
    CosError::bad(
        "AuthorizationHeaderMalformed",
        format!("The authorization header is malformed: {e}."),
    )
}

/// Verifies a SigV4 request (header or presigned) and returns what it promised of its body.
pub fn verify(creds: &Credentials, req: &S3Request<'_>, now: i64) -> Result<Payload, CosError> {
    if req.query("X-Amz-Algorithm").is_some() {
        return verify_presigned(creds, req, now);
    }
    let Some(value) = req.header("authorization") else {
        return Err(denied(
            "AccessDenied",
            "Access Denied: the request carries no Authorization header.",
        ));
    };
    let auth = sigv4::parse_authorization(value).map_err(malformed)?;
    let secret = credential(creds, &auth, req.header(sigv4::HEADER_SECURITY_TOKEN))?;
    if auth.scope.service != "s3" {
        return Err(malformed(format!(
            "the credential scope names service {:?}, expected \"s3\"",
            auth.scope.service
        )));
    }
    let time = req
        .header(sigv4::HEADER_DATE)
        .and_then(sigv4::parse_amz_date)
        .or_else(|| {
            req.header("date")
                .and_then(|d| httpdate::parse_http_date(d).ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64)
        })
        .ok_or_else(|| {
            denied(
                "AccessDenied",
                "AWS authentication requires a valid Date or x-amz-date header.",
            )
        })?;
    check_skew(time, now)?;
    let Some(content_sha) = req.header(sigv4::HEADER_CONTENT_SHA256) else {
        return Err(CosError::bad(
            "InvalidRequest",
            "Missing required header for this request: x-amz-content-sha256.",
        ));
    };
    check_headers_signed(&auth, req)?;
    let incoming = sigv4::Incoming {
        method: req.method,
        path: req.path,
        query: req.query,
        headers: req.headers,
        payload_hash: content_sha,
    };
    let signed = compare(&auth, &incoming, secret)?;
    payload(content_sha, &auth, secret, &sigv4::amz_date(time), signed)
}

/// The secret of the credential `auth` names, once its token (if any) matches.
fn credential<'c>(
    creds: &'c Credentials,
    auth: &Authorization,
    token: Option<&str>,
) -> Result<&'c str, CosError> {
    let Some(cred) = creds.get(&auth.access_key_id) else {
        return Err(denied(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
        .with("AWSAccessKeyId", auth.access_key_id.clone()));
    };
    match (&cred.token, token) {
        (None, None) => Ok(&cred.secret_key),
        (Some(want), Some(got)) if ct_eq(want.as_bytes(), got.as_bytes()) => Ok(&cred.secret_key),
        (Some(_), None) => Err(denied(
            "InvalidAccessKeyId",
            "This access key is a temporary credential: send its session token as x-amz-security-token.",
        )),
        (Some(_), Some(_)) => Err(denied(
            "InvalidToken",
            "The provided token is malformed or otherwise invalid: send the session token issued with this access key.",
        )),
        (None, Some(_)) => Err(denied(
            "InvalidToken",
            "A session token was sent with a permanent access key: send no token, or the temporary key it belongs to.",
        )),
    }
}

fn check_skew(time: i64, now: i64) -> Result<(), CosError> {
    if (time - now).abs() > MAX_SKEW_SECS {
        return Err(denied(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
        .with("RequestTime", sigv4::amz_date(time))
        .with("ServerTime", sigv4::amz_date(now))
        .with(
            "MaxAllowedSkewMilliseconds",
            (MAX_SKEW_SECS * 1000).to_string(),
        ));
    }
    Ok(())
}

/// Every `x-amz-*` header sent must be among the signed ones: they choose the operation
/// (`x-amz-copy-source`), its source range, metadata and the body's promise.
fn check_headers_signed(auth: &Authorization, req: &S3Request<'_>) -> Result<(), CosError> {
    let unsigned = req.headers.iter().find(|(n, _)| {
        let n = n.to_ascii_lowercase();
        n.starts_with("x-amz-") && !auth.signed_headers.contains(&n)
    });
    match unsigned {
        None => Ok(()),
        Some((n, _)) => Err(denied(
            "AccessDenied",
            format!("There were headers present in the request which were not signed: {n}."),
        )
        .with("HeadersNotSigned", n.clone())),
    }
}

/// Recomputes the signature and compares it in constant time.
fn compare(
    auth: &Authorization,
    incoming: &sigv4::Incoming<'_>,
    secret: &str,
) -> Result<sigv4::Signed, CosError> {
    let signed = sigv4::expected_signature(auth, incoming, secret).map_err(|e| match e {
        AuthError::DateOutOfScope { .. } => malformed(e),
        other => denied("AccessDenied", format!("Access Denied: {other}.")),
    })?;
    if ct_eq(signed.signature.as_bytes(), auth.signature.as_bytes()) {
        return Ok(signed);
    }
    Err(denied(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
    .with("AWSAccessKeyId", auth.access_key_id.clone())
    .with("StringToSign", signed.string_to_sign)
    .with("SignatureProvided", auth.signature.clone())
    .with("CanonicalRequest", signed.canonical_request))
}

/// What `x-amz-content-sha256` promises about the body.
/// `amz_date` is the request time as signed (`x-amz-date`, or `Date` in that form): chunk
/// signatures carry it too.
fn payload(
    content_sha: &str,
    auth: &Authorization,
    secret: &str,
    amz_date: &str,
    signed: sigv4::Signed,
) -> Result<Payload, CosError> {
    let v = content_sha.trim();
    match v {
        sigv4::UNSIGNED_PAYLOAD => Ok(Payload::Unchecked),
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" | "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => {
            Ok(Payload::Chunked(Some(ChunkSigner {
                key: SigningKey::derive(secret, &auth.scope),
                amz_date: amz_date.to_string(),
                previous: signed.signature,
            })))
        }
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Ok(Payload::Chunked(None)),
        hash if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Payload::Sha256(hash.to_ascii_lowercase()))
        }
        other => Err(CosError::bad(
            "InvalidArgument",
            format!("x-amz-content-sha256 {other:?} must be a hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-… value."),
        )
        .with("ArgumentName", "x-amz-content-sha256")),
    }
}

/// The longest a presigned URL may live: seven days.
const MAX_EXPIRES_SECS: i64 = 7 * 24 * 3600;

/// A presigned request: the signature and its parameters are in the query; the payload is
/// unsigned.
fn verify_presigned(
    creds: &Credentials,
    req: &S3Request<'_>,
    now: i64,
) -> Result<Payload, CosError> {
    let q = |name: &str| {
        req.query(name).ok_or_else(|| {
            denied(
                "AuthorizationQueryParametersError",
                format!("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters; {name} is missing."),
            )
        })
    };
    let algorithm = q("X-Amz-Algorithm")?;
    if algorithm != sigv4::ALGORITHM {
        return Err(denied(
            "AuthorizationQueryParametersError",
            format!("X-Amz-Algorithm {algorithm:?} is not {}.", sigv4::ALGORITHM),
        ));
    }
    let (credential_param, signed_headers, signature) = (
        q("X-Amz-Credential")?,
        q("X-Amz-SignedHeaders")?,
        q("X-Amz-Signature")?,
    );
    let (date, expires) = (q("X-Amz-Date")?, q("X-Amz-Expires")?);
    // The query's parts, said the way the header says them, parsed by the one parser.
    let auth = sigv4::parse_authorization(&format!(
        "{} Credential={credential_param}, SignedHeaders={signed_headers}, Signature={signature}",
        sigv4::ALGORITHM
    ))
    .map_err(malformed)?;
    let secret = credential(creds, &auth, req.query("X-Amz-Security-Token"))?;
    let time = sigv4::parse_amz_date(date).ok_or_else(|| {
        denied(
            "AuthorizationQueryParametersError",
            format!("X-Amz-Date {date:?} is not YYYYMMDDTHHMMSSZ."),
        )
    })?;
    let expires: i64 = match expires.parse() {
        Ok(n) if (1..=MAX_EXPIRES_SECS).contains(&n) => n,
        _ => {
            return Err(denied(
                "AuthorizationQueryParametersError",
                format!("X-Amz-Expires must be 1 to {MAX_EXPIRES_SECS} seconds."),
            ))
        }
    };
    if time > now + MAX_SKEW_SECS {
        return Err(denied("AccessDenied", "Request is not valid yet"));
    }
    if now > time + expires {
        return Err(denied("AccessDenied", "Request has expired")
            .with("X-Amz-Expires", expires.to_string())
            .with("Expires", sigv4::amz_date(time + expires))
            .with("ServerTime", sigv4::amz_date(now)));
    }
    // As in the header form: an added x-amz-copy-source must not turn a presigned PUT into a
    // copy of something the URL never named.
    check_headers_signed(&auth, req)?;
    let query: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .cloned()
        .collect();
    let mut headers = vec![(sigv4::HEADER_DATE.to_string(), date.to_string())];
    headers.extend(
        req.headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(sigv4::HEADER_DATE))
            .cloned(),
    );
    let incoming = sigv4::Incoming {
        method: req.method,
        path: req.path,
        query: &query,
        headers: &headers,
        payload_hash: sigv4::UNSIGNED_PAYLOAD,
    };
    compare(&auth, &incoming, secret)?;
    Ok(Payload::Unchecked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::auth::Credential;
    use crate::sigv4::Scope;

    /// AWS's published streaming example ("Signature Calculations for the Authorization
    /// Header: Transferring Payload in Multiple Chunks"): a 66,560-byte body of `a` in a
    /// 65,536-byte chunk, a 1,024-byte chunk and the final empty one.
    #[test]
    fn chunk_signatures_match_the_aws_streaming_example() {
        let scope = Scope::new("20130524T000000Z", "us-east-1", "s3");
        let mut signer = ChunkSigner {
            key: SigningKey::derive("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &scope),
            amz_date: "20130524T000000Z".into(),
            previous: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        };
        let first = sigv4::sha256_hex(&[b'a'; 65536]);
        let second = sigv4::sha256_hex(&[b'a'; 1024]);
        assert!(signer.check_chunk(
            &first,
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        ));
        assert!(signer.check_chunk(
            &second,
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
        ));
        assert!(signer.check_chunk(
            sigv4::EMPTY_PAYLOAD_SHA256,
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
        ));
    }

    #[test]
    fn a_chunk_signed_for_other_data_or_out_of_order_is_refused() {
        let scope = Scope::new("20130524T000000Z", "us-east-1", "s3");
        let fresh = || ChunkSigner {
            key: SigningKey::derive("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &scope),
            amz_date: "20130524T000000Z".into(),
            previous: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        };
        let mut s = fresh();
        assert!(!s.check_chunk(
            &sigv4::sha256_hex(&[b'b'; 65536]),
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        ));
        // The second chunk's signature is chained to the first: it fails first.
        let mut s = fresh();
        assert!(!s.check_chunk(
            &sigv4::sha256_hex(&[b'a'; 1024]),
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
        ));
    }

    fn creds() -> Credentials {
        let mut c = Credentials::new();
        c.insert(
            "AKIDx".into(),
            Credential {
                secret_key: "secret".into(),
                token: None,
            },
        );
        c
    }

    /// A signed GET of `/b/k` at `t`, with `extra` headers signed or not.
    fn request(
        t: i64,
        signed_extra: &[(&str, &str)],
        unsigned_extra: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let amz_date = sigv4::amz_date(t);
        let key = SigningKey::derive("secret", &Scope::new(&amz_date, "us-east-1", "s3"));
        let mut headers = sigv4::standard_headers(
            "127.0.0.1:9000",
            &amz_date,
            sigv4::EMPTY_PAYLOAD_SHA256,
            None,
        );
        headers.extend(
            signed_extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let signed = sigv4::sign(
            &sigv4::Request {
                method: "GET",
                path: "/b/k",
                query: &[],
                headers: &headers,
                payload_hash: sigv4::EMPTY_PAYLOAD_SHA256,
            },
            "AKIDx",
            &key,
            &amz_date,
        );
        headers.extend(
            unsigned_extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        headers.push(("authorization".into(), signed.authorization));
        headers
    }

    fn check(headers: &[(String, String)], now: i64) -> Result<Payload, CosError> {
        verify(
            &creds(),
            &S3Request {
                method: "GET",
                path: "/b/k",
                query: &[],
                headers,
            },
            now,
        )
    }

    #[test]
    fn skew_beyond_fifteen_minutes_is_refused_either_way() {
        let t = 1_700_000_000;
        assert!(matches!(
            check(&request(t, &[], &[]), t + 899),
            Ok(Payload::Sha256(_))
        ));
        for now in [t + 901, t - 901] {
            let e = check(&request(t, &[], &[]), now).expect_err("skewed");
            assert_eq!(e.code, "RequestTimeTooSkewed");
        }
    }

    #[test]
    fn an_x_amz_header_sent_but_not_signed_is_refused() {
        let t = 1_700_000_000;
        let signed = request(t, &[("x-amz-copy-source", "b/secret")], &[]);
        assert!(check(&signed, t).is_ok());
        let unsigned = request(t, &[], &[("x-amz-copy-source", "b/secret")]);
        let e = check(&unsigned, t).expect_err("unsigned x-amz header");
        assert_eq!(e.code, "AccessDenied");
        assert!(e.message.contains("x-amz-copy-source"), "{}", e.message);
    }
}
