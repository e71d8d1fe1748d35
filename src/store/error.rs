//! Typed storage errors: what failed, where, COS's own words, and whether trying again can help.
//!
//! The engine decides retries from `Error::is_transient` and `Error::is_clock_skew`, never from
//! message strings. No variant ever carries a credential.

use std::time::SystemTime;

use super::Op;

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
    /// The request could not be built (bad key, bad header value); nothing was sent.
    #[error("{0}")]
    InvalidInput(String),
}

fn describe_service(e: &ServiceError) -> String {
    let hint = match e.code.as_str() {
        "NoSuchBucket" => ": check the bucket name (NAME-APPID) and its region",
        "NoSuchKey" => ": check the key",
        "SignatureDoesNotMatch" => ": check the secret key (TENCENTCLOUD_SECRET_KEY)",
        "InvalidAccessKeyId" => ": check the secret id (TENCENTCLOUD_SECRET_ID)",
        "AccessDenied" => ": check the credentials and the bucket's permissions",
        "RequestTimeTooSkewed" => ": the local clock is off; haul corrects for it and retries",
        "NoSuchUpload" => ": the multipart upload no longer exists (completed or aborted)",
        "PreconditionFailed" => ": the source object changed",
        _ => "",
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

    /// Whether the same request may succeed if sent again: network failures, timeouts, 5xx,
    /// `SlowDown` and transient codes, including inside a 200 body. Never a plain 4xx.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Service(e) => {
                TRANSIENT_CODES.contains(&e.code.as_str()) || (e.status >= 500 && !e.in_200)
            }
            Error::Network { .. } => true,
            Error::Protocol { .. } | Error::InvalidInput(_) => false,
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
}
