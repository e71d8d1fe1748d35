//! Signature verification exactly as COS does it (PROTOCOL.md §1.7), on top of
//! `store::sign::cos`.
//!
//! Pure: the caller passes the request's parts and the current time. Secrets never appear in
//! an error: the error shows StringToSign and FormatString (the HttpString), as COS does.

use std::collections::HashMap;

use super::error::CosError;
use crate::store::encode::cos_encode;
use crate::store::sign::cos::{self, KeyTime, SignRequest};

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
    /// Decoded paths the client may have signed (the first is the canonical one).
    pub paths: &'a [String],
    /// Decoded query pairs.
    pub query: &'a [(String, String)],
    /// Header lookup by lowercase name.
    pub header: &'a dyn Fn(&str) -> Option<String>,
}

pub fn verify(creds: &Credentials, req: &RequestParts<'_>, now: i64) -> Result<(), CosError> {
    let Some(value) = (req.header)("authorization") else {
        return Err(CosError::denied(
            "AccessDenied",
            "Access Denied: the request carries no Authorization header; sign it with a SecretId and SecretKey.",
        ));
    };
    let Some(auth) = cos::parse_authorization(&value) else {
        return Err(CosError::denied(
            "AccessDenied",
            "The Authorization header is malformed: expected q-sign-algorithm=sha1&q-ak=…&q-sign-time=…&q-key-time=…&q-header-list=…&q-url-param-list=…&q-signature=….",
        ));
    };
    if !auth.algorithm.eq_ignore_ascii_case("sha1") {
        return Err(CosError::denied(
            "AccessDenied",
            format!(
                "Unsupported q-sign-algorithm {:?}: only sha1 is accepted.",
                auth.algorithm
            ),
        ));
    }
    let Some(cred) = creds.get(&auth.secret_id) else {
        return Err(CosError::denied(
            "InvalidAccessKeyId",
            "The access key Id format you provided is invalid.",
        ));
    };
    if let Some(token) = &cred.token {
        if (req.header)("x-cos-security-token").as_deref() != Some(token.as_str()) {
            return Err(CosError::denied(
                "InvalidAccessKeyId",
                "This is a temporary credential: send its token as x-cos-security-token.",
            ));
        }
    }
    let kt = auth.sign_time;
    if kt.start > now + MAX_SKEW_SECS {
        return Err(CosError::denied(
            "RequestTimeTooSkewed",
            "The difference between the request time and the server's time is too large.",
        ));
    }
    if let Some(date) = (req.header)("date").and_then(|d| httpdate::parse_http_date(&d).ok()) {
        let d = date
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        if (d - now).abs() > MAX_SKEW_SECS {
            return Err(CosError::denied(
                "RequestTimeTooSkewed",
                "The difference between the request time and the server's time is too large.",
            ));
        }
    }
    if now < kt.start || now > kt.end {
        return Err(CosError::denied("AccessDenied", "Request has expired"));
    }
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
    let key_time = KeyTime::new(auth.key_time.start, auth.key_time.end);
    let mut first = None;
    for path in req.paths {
        let signed = cos::sign(
            &cred.secret_key,
            &key_time,
            &SignRequest {
                method: req.method,
                path,
                params: &params,
                headers: &headers,
            },
        );
        if signed.signature.eq_ignore_ascii_case(&auth.signature) {
            return Ok(());
        }
        first.get_or_insert(signed);
    }
    let signed = first.ok_or_else(|| CosError::internal("no path to verify the signature on"))?;
    Err(CosError::denied(
        "SignatureDoesNotMatch",
        "The Signature you specified is invalid.",
    )
    .with("StringToSign", signed.string_to_sign)
    .with("FormatString", signed.http_string))
}
