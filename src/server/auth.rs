//! Signature verification as strict as COS (docs/architecture.md §5), on top of
//! `store::sign::cos`.
//!
//! Pure: the caller passes the request's parts and the current time. Secrets never appear in
//! an error: the error shows StringToSign and FormatString (the HttpString), as COS does.
//!
//! What a signature covers, and so what this module insists on:
//! - the key time: SignKey is derived from `q-key-time` and StringToSign carries it (every
//!   official SDK signs this way; Go's `calStringToSign(keyTime)` even when its sign time
//!   differs). `q-sign-time` is not inside the HMAC, so both windows must contain the server's
//!   clock: editing `q-sign-time` can narrow a signature's life, never extend it, and editing
//!   `q-key-time` breaks the HMAC;
//! - the path exactly as sent, decoded: on a path-style request that includes the bucket;
//! - every query parameter that selects the operation or a sub-resource (`uploads`,
//!   `uploadId`, `partNumber`, `acl`, …): one missing from `q-url-param-list` is refused,
//!   since the server would otherwise run an operation nobody signed;
//! - the one header that selects the operation, `x-cos-copy-source` (a PUT becomes a copy):
//!   sent but missing from `q-header-list`, it is refused like an unsigned parameter;
//! - `x-cos-security-token` whenever one is sent or the credential has one.
//!
//! Secrets are compared in constant time (`ct_eq`). Must not log, echo or store a secret.

use std::collections::HashMap;

use super::error::CosError;
use crate::store::encode::cos_encode;
use crate::store::sign::cos::{self, KeyTime, ParsedAuthorization, SignRequest};

/// How far the key time may be from the server's clock before it is called skew, seconds.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

#[derive(Debug, Clone)]
pub struct Credential {
    pub secret_key: String,
    /// A temporary credential's token, which must come as `x-cos-security-token`.
    pub token: Option<String>,
}

pub type Credentials = HashMap<String, Credential>;

/// What verification needs from a request.
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The decoded request path, as the client must have signed it: `/` + key on a bucket's
    /// own host, `/BUCKET/KEY` on a path-style request, `/` for the service.
    pub path: &'a str,
    /// Decoded query pairs.
    pub query: &'a [(String, String)],
    /// Header lookup by lowercase name.
    pub header: &'a dyn Fn(&str) -> Option<String>,
}

/// Query parameters that only shape a listing or an answer, never pick the operation: the
/// only ones a client may leave out of `q-url-param-list`. Every other parameter (`uploads`,
/// `uploadId`, `partNumber`, `acl`, `tagging`, `versionId`, anything unknown) must be signed.
const UNSIGNED_OK: &[&str] = &[
    "prefix",
    "delimiter",
    "marker",
    "max-keys",
    "encoding-type",
    "key-marker",
    "upload-id-marker",
    "max-uploads",
    "part-number-marker",
    "max-parts",
    "region",
    "tagkey",
    "tagvalue",
    "create-time",
    "range",
];

/// Headers that turn one operation into another: when sent they must be in `q-header-list`
/// (every official SDK signs all `x-cos-*` headers, so none is refused for this).
const MUST_SIGN_HEADERS: &[&str] = &["x-cos-copy-source"];

fn denied(code: &'static str, message: impl Into<String>) -> CosError {
    CosError::denied(code, message)
}

pub fn verify(creds: &Credentials, req: &RequestParts<'_>, now: i64) -> Result<(), CosError> {
    let Some(value) = (req.header)("authorization") else {
        return Err(denied(
            "AccessDenied",
            "Access Denied: the request carries no Authorization header; sign it with a SecretId and SecretKey.",
        ));
    };
    let Some(auth) = cos::parse_authorization(&value) else {
        return Err(denied(
            "AccessDenied",
            "The Authorization header is malformed: expected q-sign-algorithm=sha1&q-ak=…&q-sign-time=…&q-key-time=…&q-header-list=…&q-url-param-list=…&q-signature=….",
        ));
    };
    if !auth.algorithm.eq_ignore_ascii_case("sha1") {
        return Err(denied(
            "AccessDenied",
            format!(
                "Unsupported q-sign-algorithm {:?}: only sha1 is accepted.",
                auth.algorithm
            ),
        ));
    }
    let Some(cred) = creds.get(&auth.secret_id) else {
        return Err(denied(
            "InvalidAccessKeyId",
            "The access key Id format you provided is invalid.",
        ));
    };
    check_token(cred, (req.header)("x-cos-security-token"))?;
    check_time(&auth, req, now)?;
    check_params_signed(&auth, req.query)?;
    check_headers_signed(&auth, req)?;

    let params: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| auth.param_list.contains(&cos_encode(k).to_lowercase()))
        .cloned()
        .collect();
    let headers: Vec<(String, String)> = auth
        .header_list
        .iter()
        .map(|name| (name.clone(), (req.header)(name).unwrap_or_default()))
        .collect();
    let signed = cos::sign(
        &cred.secret_key,
        &auth.key_time,
        &SignRequest {
            method: req.method,
            path: req.path,
            params: &params,
            headers: &headers,
        },
    );
    if ct_eq(
        signed.signature.as_bytes(),
        auth.signature.to_ascii_lowercase().as_bytes(),
    ) {
        return Ok(());
    }
    Err(denied(
        "SignatureDoesNotMatch",
        "The Signature you specified is invalid.",
    )
    .with("StringToSign", signed.string_to_sign)
    .with("FormatString", signed.http_string))
}

/// A token is checked whenever one is sent or the credential has one: a temporary
/// credential without its token, a wrong token, and a token sent with a permanent
/// credential are all refused.
fn check_token(cred: &Credential, sent: Option<String>) -> Result<(), CosError> {
    match (&cred.token, sent) {
        (None, None) => Ok(()),
        (Some(want), Some(got)) if ct_eq(want.as_bytes(), got.as_bytes()) => Ok(()),
        (Some(_), None) => Err(denied(
            "InvalidAccessKeyId",
            "This SecretId is a temporary credential: send its token as x-cos-security-token.",
        )),
        (Some(_), Some(_)) => Err(denied(
            "InvalidAccessKeyId",
            "The x-cos-security-token does not belong to this SecretId: send the token issued with it.",
        )),
        (None, Some(_)) => Err(denied(
            "InvalidAccessKeyId",
            "An x-cos-security-token was sent with a permanent SecretId: send no token, or the temporary SecretId it belongs to.",
        )),
    }
}

/// Both windows must hold the server's clock (give or take `MAX_SKEW_SECS` for a start in
/// the future, which COS calls skew); so must the `Date` header when one is sent.
fn check_time(
    auth: &ParsedAuthorization,
    req: &RequestParts<'_>,
    now: i64,
) -> Result<(), CosError> {
    let skewed = || {
        denied(
            "RequestTimeTooSkewed",
            "The difference between the request time and the server's time is too large.",
        )
    };
    let windows = [auth.sign_time, auth.key_time];
    if windows.iter().any(|w| w.start > now + MAX_SKEW_SECS) {
        return Err(skewed());
    }
    if let Some(date) = (req.header)("date").and_then(|d| httpdate::parse_http_date(&d).ok()) {
        let d = date
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        if (d - now).abs() > MAX_SKEW_SECS {
            return Err(skewed());
        }
    }
    if windows
        .iter()
        .any(|w: &KeyTime| now < w.start || now > w.end)
    {
        return Err(denied("AccessDenied", "Request has expired"));
    }
    Ok(())
}

/// Refuses a parameter that can change the operation but is not in `q-url-param-list`.
fn check_params_signed(
    auth: &ParsedAuthorization,
    query: &[(String, String)],
) -> Result<(), CosError> {
    let unsigned = query.iter().find(|(k, _)| {
        !UNSIGNED_OK.iter().any(|ok| ok.eq_ignore_ascii_case(k))
            && !auth.param_list.contains(&cos_encode(k).to_lowercase())
    });
    match unsigned {
        None => Ok(()),
        Some((k, _)) => Err(denied(
            "AccessDenied",
            format!(
                "The query parameter {k:?} is not in q-url-param-list: it selects the operation, so it must be signed."
            ),
        )),
    }
}

/// Refuses an operation-selecting header that is sent but not in `q-header-list`.
fn check_headers_signed(
    auth: &ParsedAuthorization,
    req: &RequestParts<'_>,
) -> Result<(), CosError> {
    for name in MUST_SIGN_HEADERS {
        if (req.header)(name).is_some() && !auth.header_list.iter().any(|h| h == name) {
            return Err(denied(
                "AccessDenied",
                format!(
                    "The header {name} is not in q-header-list: it selects the operation, so it must be signed."
                ),
            ));
        }
    }
    Ok(())
}

/// Equality that takes the same time wherever two equal-length inputs differ, so the
/// answer's timing does not reveal how much of a guessed signature or token was right.
/// Only the length may leak (signatures are always 40 hex digits). Hand-written instead of
/// a crate: it is four lines and `subtle` would be a new direct dependency for them.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_compares_whole_inputs() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"xbc"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
    }

    fn creds() -> Credentials {
        let mut c = Credentials::new();
        c.insert(
            "AKIDx".into(),
            Credential {
                secret_key: "key".into(),
                token: None,
            },
        );
        c
    }

    fn authorization(sign: KeyTime, key: KeyTime, path: &str, q: &[(String, String)]) -> String {
        let signed = cos::sign(
            "key",
            &key,
            &SignRequest {
                method: "GET",
                path,
                params: q,
                headers: &[],
            },
        );
        format!(
            "q-sign-algorithm=sha1&q-ak=AKIDx&q-sign-time={sign}&q-key-time={key}&q-header-list=&q-url-param-list={}&q-signature={}",
            signed.param_list, signed.signature
        )
    }

    fn check(value: &str, path: &str, q: &[(String, String)], now: i64) -> Result<(), CosError> {
        let value = value.to_string();
        let header = move |n: &str| (n == "authorization").then(|| value.clone());
        verify(
            &creds(),
            &RequestParts {
                method: "GET",
                path,
                query: q,
                header: &header,
            },
            now,
        )
    }

    #[test]
    fn a_sign_time_inside_a_longer_key_time_verifies_as_the_go_sdk_signs_it() {
        let now = 1_700_000_000;
        let a = authorization(
            KeyTime::new(now - 10, now + 60),
            KeyTime::new(now - 100, now + 3600),
            "/k",
            &[],
        );
        assert!(check(&a, "/k", &[], now).is_ok());
        let e = check(&a, "/k", &[], now + 61).expect_err("sign time over");
        assert_eq!(e.message, "Request has expired");
    }

    #[test]
    fn a_widened_sign_time_does_not_outlive_the_key_time() {
        let now = 1_700_000_000;
        let old = KeyTime::new(now - 7200, now - 3600);
        let a = authorization(KeyTime::new(now - 10, now + 10), old, "/k", &[]);
        let e = check(&a, "/k", &[], now).expect_err("expired key time");
        assert_eq!(e.code, "AccessDenied");
        assert_eq!(e.message, "Request has expired");
    }

    #[test]
    fn unsigned_list_options_pass_but_an_unsigned_sub_resource_does_not() {
        let now = 1_700_000_000;
        let kt = KeyTime::new(now - 10, now + 10);
        let a = authorization(kt, kt, "/", &[]);
        let prefix = [("prefix".to_string(), "a/".to_string())];
        // The server recomputes over the signed parameters only, so the unsigned prefix is
        // allowed and does not break the signature.
        assert!(check(&a, "/", &prefix, now).is_ok());
        let uploads = [("uploads".to_string(), String::new())];
        let e = check(&a, "/", &uploads, now).expect_err("unsigned uploads");
        assert_eq!(e.code, "AccessDenied");
        assert!(e.message.contains("\"uploads\""), "{}", e.message);
    }
}
