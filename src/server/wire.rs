//! How `haul serve` spells response header names on the wire: as COS does (`ETag`,
//! `Content-Length`, `Last-Modified`, `x-cos-request-id`), from one table, `SPELLING`.
//!
//! Why it matters: cos-python-sdk-v5 hands headers back as a plain dict keyed by the names as
//! they came on the wire, and its users (and the SDK itself, in `download_file`) write
//! `r['ETag']` and `r['Content-Length']`.
//!
//! How: hyper 1 writes HTTP/1 header names in lower case, and its `title_case_headers` gives
//! `Etag`, not `ETag`. But a response that carries the header-case map hyper records when it
//! parses a message with `preserve_header_case` is written with the spellings in that map (the
//! way hyper lets a proxy forward a message's spelling). The map's type is private to hyper,
//! so this module lets hyper itself record it: once per process it parses, in memory, two
//! requests that spell every name in `SPELLING` (one with `Content-Length`, one with
//! `Transfer-Encoding`, which cannot share a request) and keeps their extensions; `spell`
//! gives every response a copy. A name the table lacks goes out in lower case, which is how
//! COS spells its own `x-cos-*` headers. If hyper ever stops honouring the map, headers fall
//! back to lower case and the raw-socket tests in tests/it/server_api.rs fail.
//!
//! Only names: this never touches values, status codes or bodies, and does no network I/O.

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{Extensions, Request, Response};
use http_body_util::Empty;
use hyper::body::{Body, Incoming};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt as _;

/// Every response header name `haul serve` sends, spelled as COS spells it on the wire: the
/// one place that decides the case of a header name.
pub const SPELLING: &[&str] = &[
    "Accept-Ranges",
    "Cache-Control",
    "Connection",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Range",
    "Content-Type",
    "Date",
    "ETag",
    "Expires",
    "Last-Modified",
    "Server",
    "Transfer-Encoding",
    "x-cos-bucket-region",
    "x-cos-hash-crc64ecma",
    "x-cos-request-id",
    "x-cos-storage-class",
    "x-cos-trace-id",
];

/// The two header-case maps hyper recorded, as response extensions.
struct Spellings {
    /// For a response with a length (`Content-Length`).
    sized: Extensions,
    /// For a streamed response (`Transfer-Encoding: chunked`).
    chunked: Extensions,
}

static SPELLINGS: tokio::sync::OnceCell<Option<Spellings>> = tokio::sync::OnceCell::const_new();

/// Makes hyper write `resp`'s header names as `SPELLING` spells them.
pub async fn spell<B: Body>(resp: &mut Response<B>) {
    let Some(s) = SPELLINGS.get_or_init(learn).await else {
        return;
    };
    let sized =
        resp.headers().contains_key(CONTENT_LENGTH) || resp.body().size_hint().exact().is_some();
    let map = if sized { &s.sized } else { &s.chunked };
    resp.extensions_mut().extend(map.clone());
}

async fn learn() -> Option<Spellings> {
    let learned = async {
        Some(Spellings {
            sized: record("Content-Length: 0", "").await?,
            chunked: record("Transfer-Encoding: chunked", "0\r\n\r\n").await?,
        })
    }
    .await;
    if learned.is_none() {
        tracing::warn!(
            "hyper did not record header spellings: response header names go out in lower case"
        );
    }
    learned
}

/// The extensions hyper gives a request that spells every `SPELLING` name but the two framing
/// headers, plus `framing` (one of them) and `body`.
async fn record(framing: &str, body: &str) -> Option<Extensions> {
    let mut head = String::from("POST / HTTP/1.1\r\nhost: spelling\r\n");
    for name in SPELLING {
        if !name.eq_ignore_ascii_case("content-length")
            && !name.eq_ignore_ascii_case("transfer-encoding")
        {
            head.push_str(name);
            head.push_str(": x\r\n");
        }
    }
    head.push_str(framing);
    head.push_str("\r\n\r\n");
    head.push_str(body);

    let (mut client, server) = tokio::io::duplex(16 * 1024);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
            let _ = tx.send(req.extensions().clone());
        }
        async { Ok::<_, std::convert::Infallible>(Response::new(Empty::<Bytes>::new())) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .preserve_header_case(true)
        .serve_connection(TokioIo::new(server), svc);
    client.write_all(head.as_bytes()).await.ok()?;
    tokio::select! {
        ext = rx => ext.ok(),
        _ = conn => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};
    use tokio::io::AsyncReadExt as _;

    #[test]
    fn spelling_names_each_header_once_and_validly() {
        let mut seen = std::collections::HashSet::new();
        for name in SPELLING {
            let parsed = http::HeaderName::from_bytes(name.as_bytes());
            assert!(parsed.is_ok(), "{name} is not a header name");
            assert!(
                seen.insert(name.to_ascii_lowercase()),
                "{name} is in SPELLING twice"
            );
        }
    }

    /// The head hyper writes for `resp`, given `spell`.
    async fn head_written(
        mut resp: Response<http_body_util::combinators::BoxBody<Bytes, std::io::Error>>,
    ) -> String {
        spell(&mut resp).await;
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let resp = std::sync::Mutex::new(Some(resp));
        let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
            let r = resp.lock().ok().and_then(|mut r| r.take());
            async move { r.ok_or(std::io::Error::other("one response only")) }
        });
        let conn =
            hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(server), svc);
        let task = tokio::spawn(conn);
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("the in-memory pipe takes the request");
        let mut out = Vec::new();
        client
            .read_to_end(&mut out)
            .await
            .expect("the in-memory pipe gives the response");
        let _ = task.await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn a_sized_response_spells_names_as_cos_does() {
        let mut r = Response::new(
            Full::new(Bytes::from_static(b"hello"))
                .map_err(|never| match never {})
                .boxed(),
        );
        r.headers_mut()
            .insert("etag", http::HeaderValue::from_static("\"abc\""));
        r.headers_mut()
            .insert("x-cos-request-id", http::HeaderValue::from_static("r1"));
        r.headers_mut()
            .insert("x-cos-meta-color", http::HeaderValue::from_static("red"));
        let head = head_written(r).await;
        assert!(head.contains("\r\nETag: \"abc\"\r\n"), "{head}");
        assert!(head.contains("\r\nContent-Length: 5\r\n"), "{head}");
        assert!(head.contains("\r\nx-cos-request-id: r1\r\n"), "{head}");
        assert!(head.contains("\r\nx-cos-meta-color: red\r\n"), "{head}");
        assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
        assert!(head.ends_with("\r\n\r\nhello"), "{head}");
    }

    #[tokio::test]
    async fn a_streamed_response_spells_transfer_encoding_as_cos_does() {
        let chunks = futures::stream::iter([Ok::<_, std::io::Error>(hyper::body::Frame::data(
            Bytes::from_static(b" "),
        ))]);
        let mut r = Response::new(BodyExt::boxed(StreamBody::new(chunks)));
        r.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/xml"),
        );
        let head = head_written(r).await;
        assert!(
            head.contains("\r\nTransfer-Encoding: chunked\r\n"),
            "{head}"
        );
        assert!(
            head.contains("\r\nContent-Type: application/xml\r\n"),
            "{head}"
        );
    }
}
