//! Typed storage errors: what failed, where, COS's own words, and whether trying again can help.
//!
//! The engine decides retries from `Error::is_transient` and `Error::is_clock_skew`, never from
//! message strings. No variant ever carries a credential.

use std::time::SystemTime;

use super::{BucketName, CredentialSource, Dialect, Op};

/// An error answered by COS (or an emulator of it): an HTTP error status, or a 200 whose body
/// is an `<Error>` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub op: Op,
    /// What was addressed, e.g. `cos://bucket-1250000000/key`.
    pub resource: String,
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    /// The error arrived inside a `200 OK` body (PUT Copy, Upload Part - Copy, Complete).
    pub in_200: bool,
    /// The server's `Date` header, for correcting the signing clock.
    pub server_date: Option<SystemTime>,
    /// Where the client's credentials came from, so an authentication error names the
    /// variable to check (`None`: the default TENCENTCLOUD_* variables).
    pub credential_source: Option<CredentialSource>,
}

/// How a request failed before COS could answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkKind {
    Connect,
    Timeout,
    /// Connection closed or reset mid-request, or a truncated body.
    Reset,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{}", describe_service(.0))]
    Service(Box<ServiceError>),
    #[error("{op} {resource}: {message} ({kind:?}); check the endpoint and network, haul retries this kind of failure")]
    Network {
        op: Op,
        resource: String,
        kind: NetworkKind,
        message: String,
    },
    /// The server answered something that is not COS's protocol.
    #[error("{op} {resource}: unexpected response: {message}")]
    Protocol {
        op: Op,
        resource: String,
        message: String,
    },
    /// The answer's body is larger than haul reads for this request: the endpoint is not
    /// answering like COS (every legitimate answer fits the cap with room to spare).
    #[error("{op} {resource}: the answer (HTTP {status}) is larger than the {} haul reads for {op}; stopped reading: the endpoint is not answering like COS, check --endpoint", crate::units::format_size(*.cap))]
    TooLarge {
        op: Op,
        resource: String,
        status: u16,
        /// The cap in bytes.
        cap: u64,
    },
    /// The request could not be built (bad key, bad header value); nothing was sent.
    #[error("{0}")]
    InvalidInput(String),
    /// A bucket of one dialect given to the other dialect's client (a `cos://` bucket to the
    /// S3 client, an `s3://` bucket to the COS client): it lives behind another endpoint and
    /// another signature, so nothing was sent.
    #[error("{op} {bucket_dialect}://{bucket}/: this bucket speaks the {bucket_dialect} dialect and the profile speaks {client_dialect}, so nothing was sent: use a profile with provider = \"{bucket_dialect}\"")]
    WrongDialect {
        op: Op,
        bucket: String,
        bucket_dialect: Dialect,
        client_dialect: Dialect,
    },
}

/// COS codes about the session token of temporary keys.
const TOKEN_CODES: &[&str] = &["InvalidToken", "ExpiredToken", "TokenExpired"];

/// Whether an error is about the session token rather than the key pair: a token code, or an
/// authentication code whose message talks about the token (as `haul serve` answers).
fn is_token_error(e: &ServiceError) -> bool {
    TOKEN_CODES.contains(&e.code.as_str())
        || (matches!(e.code.as_str(), "InvalidAccessKeyId" | "AccessDenied")
            && e.message.to_ascii_lowercase().contains("token"))
}

fn describe_service(e: &ServiceError) -> String {
    let default = CredentialSource::default();
    let src = e.credential_source.as_ref().unwrap_or(&default);
    let hint = if is_token_error(e) {
        format!(
            ": check the session token ({}): temporary keys need their token, and all three expire together",
            src.session_token
        )
    } else {
        match e.code.as_str() {
            "NoSuchBucket" if e.resource.starts_with("s3://") => {
                ": check the bucket name, the endpoint and the region".to_string()
            }
            "NoSuchBucket" => ": check the bucket name (NAME-APPID) and its region".to_string(),
            "NoSuchKey" => ": check the key".to_string(),
            "SignatureDoesNotMatch" => format!(": check the secret key ({})", src.secret_key),
            "InvalidAccessKeyId" => format!(": check the secret id ({})", src.secret_id),
            "AccessDenied" => format!(
                ": check the credentials ({} and {}) and the bucket's permissions",
                src.secret_id, src.secret_key
            ),
            "RequestTimeTooSkewed" => {
                ": the local clock is off; haul corrects for it and retries".to_string()
            }
            "NoSuchUpload" => {
                ": the multipart upload no longer exists (completed or aborted)".to_string()
            }
            "PreconditionFailed" => ": the source object changed".to_string(),
            _ => String::new(),
        }
    };
    let rid = e
        .request_id
        .as_deref()
        .map(|r| format!(", request {r}"))
        .unwrap_or_default();
    let in200 = if e.in_200 { " inside 200 OK" } else { "" };
    format!(
        "{} {}: {} ({} {}{in200}{rid}){hint}",
        e.op, e.resource, e.message, e.status, e.code
    )
}

/// COS codes that mean "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "IncompleteBody",
];

impl Error {
    pub fn service(e: ServiceError) -> Self {
        Error::Service(Box::new(e))
    }

    /// `Ok` when `bucket` speaks `client`'s dialect, else `WrongDialect` (checked by each
    /// client before it builds a request).
    pub fn check_dialect(op: Op, bucket: &BucketName, client: Dialect) -> Result<()> {
        if bucket.dialect() == client {
            return Ok(());
        }
        Err(Error::WrongDialect {
            op,
            bucket: bucket.to_string(),
            bucket_dialect: bucket.dialect(),
            client_dialect: client,
        })
    }

    /// Whether the same request may succeed if sent again: network failures, timeouts, 5xx,
    /// `SlowDown` and transient codes, including inside a 200 body. Never a plain 4xx.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Service(e) => {
                TRANSIENT_CODES.contains(&e.code.as_str()) || (e.status >= 500 && !e.in_200)
            }
            Error::Network { .. } => true,
            Error::Protocol { .. }
            | Error::TooLarge { .. }
            | Error::InvalidInput(_)
            | Error::WrongDialect { .. } => false,
        }
    }

    /// Whether COS asks us to slow down (the scheduler lowers its limit on this).
    pub fn is_throttle(&self) -> bool {
        matches!(self, Error::Service(e) if e.code == "SlowDown" || e.status == 503)
    }

    /// A clock problem: correct the signing clock from `server_date` and retry.
    pub fn is_clock_skew(&self) -> bool {
        matches!(self, Error::Service(e)
            if e.code == "RequestTimeTooSkewed"
                || (e.code == "AccessDenied" && e.message.contains("Request has expired")))
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Service(e) => Some(&e.code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Service(e) => Some(e.status),
            _ => None,
        }
    }

    pub fn server_date(&self) -> Option<SystemTime> {
        match self {
            Error::Service(e) => e.server_date,
            _ => None,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Service(e) => e.request_id.as_deref(),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Service(e) if e.status == 404)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(status: u16, code: &str, in_200: bool) -> Error {
        Error::service(ServiceError {
            op: Op::UploadPartCopy,
            resource: "cos://b-1/k".into(),
            status,
            code: code.into(),
            message: "m".into(),
            request_id: Some("rid".into()),
            in_200,
            server_date: None,
            credential_source: None,
        })
    }

    #[test]
    fn transient_errors_are_classified_by_code_and_status() {
        assert!(svc(503, "SlowDown", false).is_transient());
        assert!(svc(503, "SlowDown", false).is_throttle());
        assert!(svc(500, "InternalError", false).is_transient());
        assert!(svc(200, "InternalError", true).is_transient());
        assert!(svc(502, "BadGateway", false).is_transient());
        assert!(!svc(404, "NoSuchKey", false).is_transient());
        assert!(!svc(412, "PreconditionFailed", false).is_transient());
        assert!(!svc(403, "SignatureDoesNotMatch", false).is_transient());
        assert!(!svc(200, "NoSuchUpload", true).is_transient());
    }

    #[test]
    fn clock_skew_is_recognised() {
        assert!(svc(403, "RequestTimeTooSkewed", false).is_clock_skew());
        let expired = Error::service(ServiceError {
            message: "Request has expired".into(),
            ..match svc(403, "AccessDenied", false) {
                Error::Service(e) => *e,
                _ => unreachable!(),
            }
        });
        assert!(expired.is_clock_skew());
        assert!(!svc(403, "AccessDenied", false).is_clock_skew());
    }

    #[test]
    fn messages_name_the_operation_code_and_request() {
        let text = svc(404, "NoSuchKey", false).to_string();
        assert!(text.contains("UploadPartCopy"), "{text}");
        assert!(text.contains("NoSuchKey"), "{text}");
        assert!(text.contains("request rid"), "{text}");
    }

    #[test]
    fn auth_hints_name_the_variable_to_check() {
        let with = |code: &str, message: &str, src: Option<CredentialSource>| {
            Error::service(ServiceError {
                code: code.into(),
                message: message.into(),
                credential_source: src,
                ..match svc(403, "x", false) {
                    Error::Service(e) => *e,
                    _ => unreachable!(),
                }
            })
            .to_string()
        };
        let e = with("InvalidAccessKeyId", "The access key Id is invalid", None);
        assert!(
            e.ends_with("check the secret id (TENCENTCLOUD_SECRET_ID)"),
            "{e}"
        );
        let e = with("SignatureDoesNotMatch", "sig", None);
        assert!(
            e.ends_with("check the secret key (TENCENTCLOUD_SECRET_KEY)"),
            "{e}"
        );
        // A token error names the token variable, not the secret id.
        let e = with(
            "InvalidAccessKeyId",
            "This is a temporary credential: send its token as x-cos-security-token.",
            None,
        );
        assert!(
            e.contains("check the session token (TENCENTCLOUD_SESSION_TOKEN)"),
            "{e}"
        );
        assert!(!e.contains("secret id"), "{e}");
        let custom = CredentialSource {
            secret_id: "PROD_ID (secret_id_env of profile \"prod\")".into(),
            secret_key: "PROD_KEY".into(),
            session_token: "PROD_TOKEN".into(),
        };
        let e = with("ExpiredToken", "expired", Some(custom.clone()));
        assert!(e.contains("(PROD_TOKEN)"), "{e}");
        let e = with("InvalidAccessKeyId", "bad id", Some(custom));
        assert!(
            e.contains("check the secret id (PROD_ID (secret_id_env of profile \"prod\"))"),
            "{e}"
        );
    }

    #[test]
    fn too_large_names_the_cap_and_the_request_and_is_not_retried() {
        let e = Error::TooLarge {
            op: Op::ListBuckets,
            resource: "cos://".into(),
            status: 200,
            cap: 8 << 20,
        };
        let text = e.to_string();
        assert!(text.starts_with("ListBuckets cos://: "), "{text}");
        assert!(text.contains("8.00 MiB"), "{text}");
        assert!(!e.is_transient());
    }
}
