//! Request bodies: Content-Length checks, XML bodies capped at `XML_BODY_MAX`, draining a body
//! a fault replaces, and streaming PUT Object / Upload Part bodies into `Content` (memory or a
//! spill file) while hashing MD5 and CRC-64, then checking Content-MD5.
//!
//! Must not know which operation a body belongs to beyond the sizes it is given, nor change
//! `State`.

use super::*;

/// The largest body a request other than PUT Object and Upload Part may carry: Complete's
/// XML for 10,000 parts at up to 256 bytes a part (a pretty-printed `<Part>` with an
/// entity-escaped, quoted ETag takes about 125), plus 64 KiB for everything else: 2.5 MiB.
pub const XML_BODY_MAX: u64 = MAX_PARTS as u64 * 256 + 64 * 1024;

pub(super) fn xml_too_big(n: u64) -> CosError {
    CosError::bad(
        "MaxMessageLengthExceeded",
        format!(
            "Your request was too big: this request's XML body may be at most {XML_BODY_MAX} bytes, and it has {n} or more."
        ),
    )
}

fn incomplete(e: impl std::fmt::Display) -> CosError {
    CosError::bad(
        "IncompleteBody",
        format!("the request body could not be read: {e}"),
    )
}

/// `Content-Length`, if the request has one.
pub(super) fn declared_length(h: &HeaderMap) -> Result<Option<u64>, CosError> {
    match header(h, "content-length") {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            CosError::invalid_argument(format!("Content-Length {v:?} is not a number of bytes."))
        }),
    }
}

/// Reads an XML body, refusing it once it passes `XML_BODY_MAX` (chunked bodies have no
/// Content-Length to check first).
pub(super) async fn read_xml_body(body: Option<Incoming>) -> Result<Bytes, CosError> {
    let Some(mut body) = body else {
        return Ok(Bytes::new());
    };
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(incomplete)?.into_data() {
            if (buf.len() + data.len()) as u64 > XML_BODY_MAX {
                return Err(xml_too_big((buf.len() + data.len()) as u64));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Reads a body to its end and drops it, a frame at a time.
pub(super) async fn drain(body: Option<Incoming>) -> Result<(), CosError> {
    if let Some(mut body) = body {
        while let Some(frame) = body.frame().await {
            frame.map_err(incomplete)?;
        }
    }
    Ok(())
}

/// A body as stored: its content (in memory up to `spill::IN_MEMORY_MAX`, else in a spill
/// file) and the MD5 computed while it streamed in.
pub(super) struct Received {
    pub(super) content: Content,
    pub(super) md5: [u8; 16],
}

/// Removes a spill file that was not finished.
struct Unfinished(Option<std::path::PathBuf>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Streams exactly `expected` bytes of `body` into content, hashing MD5 and CRC-64 on the
/// way; large bodies go to a spill file 1 MiB at a time, never whole into memory.
pub(super) async fn receive(
    sh: &Shared,
    body: Option<Incoming>,
    expected: u64,
) -> Result<Received, Failure> {
    let Some(mut body) = body else {
        return Err(incomplete("the body was already consumed").into());
    };
    let mut md5 = Md5::new();
    let mut got = 0u64;
    let too_long = || {
        CosError::bad(
            "IncompleteBody",
            format!("the request body is longer than its Content-Length ({expected} bytes)"),
        )
    };
    let short = |got: u64| {
        CosError::bad(
            "IncompleteBody",
            format!("the request body ended after {got} of its {expected} bytes"),
        )
    };
    if expected <= crate::server::spill::IN_MEMORY_MAX {
        let mut buf = bytes::BytesMut::with_capacity(expected as usize);
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map_err(incomplete)?.into_data() {
                got += data.len() as u64;
                if got > expected {
                    return Err(too_long().into());
                }
                md5.update(&data);
                buf.extend_from_slice(&data);
            }
        }
        if got != expected {
            return Err(short(got).into());
        }
        return Ok(Received {
            content: Content::from_bytes(buf.freeze()),
            md5: md5.finalize().into(),
        });
    }
    use tokio::io::AsyncWriteExt as _;
    let internal = |e: std::io::Error| {
        CosError::internal(format!(
            "haul serve cannot write the body to its spill directory {}: {e}",
            sh.spill.path().display()
        ))
    };
    let (file, path) = sh.spill.create().map_err(internal)?;
    let mut guard = Unfinished(Some(path.clone()));
    let mut file = tokio::fs::File::from_std(file);
    let mut crc = 0u64;
    const FLUSH_AT: usize = 1 << 20;
    let mut buf = bytes::BytesMut::with_capacity(FLUSH_AT);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(incomplete)?.into_data() {
            got += data.len() as u64;
            if got > expected {
                return Err(too_long().into());
            }
            md5.update(&data);
            crc = crate::crc64::update(crc, &data);
            buf.extend_from_slice(&data);
            if buf.len() >= FLUSH_AT {
                file.write_all(&buf).await.map_err(internal)?;
                buf.clear();
            }
        }
    }
    if got != expected {
        return Err(short(got).into());
    }
    file.write_all(&buf).await.map_err(internal)?;
    file.flush().await.map_err(internal)?;
    drop(file);
    guard.0 = None;
    let blob = crate::server::spill::Blob::spilled(&sh.spill, path, got, crc);
    Ok(Received {
        content: Content::from_blob(blob),
        md5: md5.finalize().into(),
    })
}

pub(super) fn check_md5(h: &HeaderMap, digest: &[u8; 16]) -> Result<String, CosError> {
    if let Some(v) = header(h, "content-md5") {
        use base64::Engine as _;
        let Ok(want) = base64::engine::general_purpose::STANDARD.decode(v.trim()) else {
            return Err(CosError::bad(
                "InvalidDigest",
                "The Content-MD5 you specified is not valid.",
            ));
        };
        if want.as_slice() != digest.as_slice() {
            return Err(CosError::bad(
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    Ok(hex::encode(digest))
}
