//! Which of the two wire dialects a request speaks, and the names that differ between them.
//!
//! `haul serve` answers COS and S3 on one port, from one state: a request signed with
//! `AWS4-HMAC-SHA256` (in the `Authorization` header, or presigned with `X-Amz-Algorithm` in
//! the query) is S3; anything else is COS, and is checked and refused as COS would. The two
//! dialects share buckets, objects, uploads, credentials, the latency model and faults; they
//! differ in header prefixes (`x-cos-` / `x-amz-`), XML namespaces, error bodies and a few
//! operations (`service::s3`).
//!
//! Pure: decides from values and returns names. Must not touch state, bodies or the network.

/// The wire dialect of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Cos,
    S3,
}

/// The namespace of every S3 XML document (requests and answers).
pub const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// How SigV4 names its algorithm, in the header and in a presigned query.
pub const SIGV4_ALGORITHM: &str = "AWS4-HMAC-SHA256";

impl Dialect {
    /// S3 when the request is signed with SigV4 (header or presigned query), else COS.
    /// `query_has` answers whether a (case-insensitive) query parameter is present.
    pub fn detect(authorization: Option<&str>, query_has: impl Fn(&str) -> bool) -> Dialect {
        let sigv4_header =
            authorization.is_some_and(|a| a.trim_start().starts_with(SIGV4_ALGORITHM));
        if sigv4_header || query_has("X-Amz-Algorithm") {
            Dialect::S3
        } else {
            Dialect::Cos
        }
    }

    /// The access log's `dialect` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Cos => "cos",
            Dialect::S3 => "s3",
        }
    }

    /// The dialect's own header for `suffix`: `copy-source` is `x-cos-copy-source` in COS and
    /// `x-amz-copy-source` in S3.
    pub fn header(self, suffix: &str) -> String {
        match self {
            Dialect::Cos => format!("x-cos-{suffix}"),
            Dialect::S3 => format!("x-amz-{suffix}"),
        }
    }

    /// The prefix of user metadata headers. Objects keep metadata under COS's names
    /// (`x-cos-meta-`), so an object written in one dialect shows it in the other.
    pub fn meta_prefix(self) -> &'static str {
        match self {
            Dialect::Cos => "x-cos-meta-",
            Dialect::S3 => "x-amz-meta-",
        }
    }

    /// The XML namespace of the dialect's documents, if it uses one.
    pub fn namespace(self) -> Option<&'static str> {
        match self {
            Dialect::Cos => None,
            Dialect::S3 => Some(S3_NAMESPACE),
        }
    }

    /// A metadata directive as the dialect spells it, as COS's: `Copy` or `Replaced` (S3 says
    /// `COPY` and `REPLACE`). `None` for anything else.
    pub fn metadata_directive(self, value: &str) -> Option<Directive> {
        let v = value.trim();
        match self {
            Dialect::Cos if v.eq_ignore_ascii_case("Copy") => Some(Directive::Copy),
            Dialect::Cos if v.eq_ignore_ascii_case("Replaced") => Some(Directive::Replace),
            Dialect::S3 if v.eq_ignore_ascii_case("COPY") => Some(Directive::Copy),
            Dialect::S3 if v.eq_ignore_ascii_case("REPLACE") => Some(Directive::Replace),
            _ => None,
        }
    }
}

/// What a copy does with the source's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    Copy,
    Replace,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigv4_in_the_header_or_the_query_is_s3_and_anything_else_cos() {
        let none = |_: &str| false;
        let presigned = |n: &str| n == "X-Amz-Algorithm";
        assert_eq!(
            Dialect::detect(
                Some("AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"),
                none
            ),
            Dialect::S3
        );
        assert_eq!(Dialect::detect(None, presigned), Dialect::S3);
        assert_eq!(
            Dialect::detect(Some("q-sign-algorithm=sha1&q-ak=AKID"), none),
            Dialect::Cos
        );
        assert_eq!(Dialect::detect(None, none), Dialect::Cos);
        // SigV2 is not S3 here: it is refused as a malformed COS signature.
        assert_eq!(Dialect::detect(Some("AWS AKID:c2ln"), none), Dialect::Cos);
    }

    #[test]
    fn names_differ_only_in_prefix_and_directive_spelling() {
        assert_eq!(Dialect::Cos.header("copy-source"), "x-cos-copy-source");
        assert_eq!(Dialect::S3.header("copy-source"), "x-amz-copy-source");
        assert_eq!(
            Dialect::S3.metadata_directive("REPLACE"),
            Some(Directive::Replace)
        );
        assert_eq!(Dialect::S3.metadata_directive("Replaced"), None);
        assert_eq!(
            Dialect::Cos.metadata_directive("Replaced"),
            Some(Directive::Replace)
        );
    }
}
