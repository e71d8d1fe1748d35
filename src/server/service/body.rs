//! Request bodies: Content-Length checks, XML bodies capped at `XML_BODY_MAX`, draining a body
//! a fault replaces, and streaming PUT Object / Upload Part bodies into `Content` (memory or a
//! spill file) while hashing MD5 and CRC-64, then checking Content-MD5. An S3 body is checked
//! against what its signature promised (`s3_auth::Payload`): its `x-amz-content-sha256`, or,
//! `aws-chunked`, decoded (`aws_chunked`) with every chunk's signature verified (`Inflow`).
//!
//! Must not know which operation a body belongs to beyond the sizes it is given, nor change
//! `State`.

use std::collections::VecDeque;

use sha2::{Digest as _, Sha256};

use crate::server::aws_chunked::{Decoder, Piece};
use crate::server::checksum::Check;
use crate::server::s3_auth::ChunkSigner;

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

/// The length of the body as stored: `Content-Length`, if the request has one, or for an
/// `aws-chunked` body `x-amz-decoded-content-length` (its Content-Length counts the framing).
pub(super) fn declared_length(h: &HeaderMap, payload: &Payload) -> Result<Option<u64>, CosError> {
    let name = match payload {
        Payload::Chunked(_) => "x-amz-decoded-content-length",
        _ => "content-length",
    };
    match header(h, name) {
        None => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            CosError::invalid_argument(format!("{name} {v:?} is not a number of bytes."))
        }),
    }
}

/// A request body on its way in: the bytes as stored, after the checks its payload promise
/// asks for. Plain bodies pass through (hashed when `x-amz-content-sha256` names a hash);
/// `aws-chunked` ones are decoded and each chunk's signature checked as it completes. S3's
/// `x-amz-checksum-*` (headers or trailers) are checked at the end.
pub(super) struct Inflow {
    body: Incoming,
    payload: Payload,
    checks: Vec<Check>,
    decoder: Option<Decoder>,
    ready: VecDeque<Bytes>,
    whole: Sha256,
    chunk: Sha256,
    /// The signature the chunk being read claims, checked when it ends.
    pending: Option<String>,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
    chunks: u64,
    saw_end: bool,
    done: bool,
}

/// A body refused before its end: the rest is not read, so the connection cannot carry
/// another request and the answer says it closes.
fn refused_midway(e: CosError) -> CosError {
    e.with_header("connection", "close")
}

fn chunk_mismatch(what: String) -> CosError {
    refused_midway(CosError::denied(
        "SignatureDoesNotMatch",
        format!("The request signature we calculated does not match the signature you provided: {what}."),
    ))
}

fn malformed_chunks(e: crate::server::aws_chunked::FramingError) -> CosError {
    refused_midway(CosError::bad(
        "IncompleteBody",
        format!("the aws-chunked body is malformed: {e}"),
    ))
}

impl Inflow {
    pub(super) fn new(body: Incoming, payload: Payload, checks: Vec<Check>) -> Self {
        let decoder = matches!(payload, Payload::Chunked(_)).then(Decoder::new);
        Inflow {
            body,
            payload,
            checks,
            decoder,
            ready: VecDeque::new(),
            whole: Sha256::new(),
            chunk: Sha256::new(),
            pending: None,
            trailers: Vec::new(),
            trailer_signature: None,
            chunks: 0,
            saw_end: false,
            done: false,
        }
    }

    /// The next bytes of the body as stored; `None` once it ended and every check passed.
    pub(super) async fn next(&mut self) -> Result<Option<Bytes>, CosError> {
        loop {
            if let Some(b) = self.ready.pop_front() {
                return Ok(Some(b));
            }
            if self.done {
                return Ok(None);
            }
            match self.body.frame().await {
                None => {
                    self.finish()?;
                    self.done = true;
                }
                Some(frame) => {
                    if let Ok(data) = frame.map_err(incomplete)?.into_data() {
                        self.take(data)?;
                    }
                }
            }
        }
    }

    fn take(&mut self, data: Bytes) -> Result<(), CosError> {
        let Some(decoder) = &mut self.decoder else {
            if matches!(self.payload, Payload::Sha256(_)) {
                self.whole.update(&data);
            }
            for c in &mut self.checks {
                c.update(&data);
            }
            self.ready.push_back(data);
            return Ok(());
        };
        let pieces = decoder.feed(data).map_err(malformed_chunks)?;
        for piece in pieces {
            match piece {
                Piece::Chunk { signature, .. } => {
                    self.close_chunk()?;
                    self.chunks += 1;
                    if signature.is_none() && self.signer().is_some() {
                        return Err(chunk_mismatch(format!(
                            "chunk {} carries no chunk-signature in a signed aws-chunked body",
                            self.chunks
                        )));
                    }
                    self.pending = signature;
                }
                Piece::Data(b) => {
                    self.chunk.update(&b);
                    for c in &mut self.checks {
                        c.update(&b);
                    }
                    self.ready.push_back(b);
                }
                Piece::Trailer { name, value } if name == "x-amz-trailer-signature" => {
                    self.trailer_signature = Some(value);
                }
                Piece::Trailer { name, value } => self.trailers.push((name, value)),
                Piece::End => {
                    self.close_chunk()?;
                    self.saw_end = true;
                }
            }
        }
        Ok(())
    }

    fn signer(&mut self) -> Option<&mut ChunkSigner> {
        match &mut self.payload {
            Payload::Chunked(Some(s)) => Some(s),
            _ => None,
        }
    }

    /// Checks the signature of the chunk just read against its data.
    fn close_chunk(&mut self) -> Result<(), CosError> {
        let hash = hex::encode(std::mem::take(&mut self.chunk).finalize());
        let Some(claimed) = self.pending.take() else {
            return Ok(());
        };
        let n = self.chunks;
        if let Some(signer) = self.signer() {
            if !signer.check_chunk(&hash, &claimed) {
                return Err(chunk_mismatch(format!(
                    "the chunk-signature of chunk {n} is wrong"
                )));
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), CosError> {
        self.finish_framing()?;
        for c in &self.checks {
            let sent = c.promised.clone().or_else(|| {
                self.trailers
                    .iter()
                    .find(|(n, _)| n == c.algorithm.header())
                    .map(|(_, v)| v.clone())
            });
            let Some(sent) = sent else {
                return Err(CosError::bad(
                    "InvalidRequest",
                    format!(
                        "x-amz-trailer names {} but the body carried no such trailer.",
                        c.algorithm.header()
                    ),
                ));
            };
            if sent != c.value() {
                return Err(CosError::bad(
                    "BadDigest",
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        c.algorithm.label()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The checksums checked, as headers to echo in the answer (as S3 does).
    pub(super) fn checksums(&self) -> Vec<(&'static str, String)> {
        self.checks
            .iter()
            .map(|c| (c.algorithm.header(), c.value()))
            .collect()
    }

    fn finish_framing(&mut self) -> Result<(), CosError> {
        if let Some(decoder) = &self.decoder {
            decoder.finish().map_err(malformed_chunks)?;
            let trailers = self.trailers.clone();
            let claimed = self.trailer_signature.take();
            if let Some(signer) = self.signer() {
                if let Some(claimed) = claimed {
                    if !signer.check_trailer(&trailers, &claimed) {
                        return Err(chunk_mismatch(
                            "the x-amz-trailer-signature is wrong".into(),
                        ));
                    }
                }
            }
            return Ok(());
        }
        if let Payload::Sha256(want) = &self.payload {
            let got = hex::encode(std::mem::take(&mut self.whole).finalize());
            if !got.eq_ignore_ascii_case(want) {
                return Err(CosError::bad(
                    "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                )
                .with("ClientComputedContentSHA256", want.clone())
                .with("S3ComputedContentSHA256", got));
            }
        }
        Ok(())
    }
}

/// Reads an XML body, refusing it once it passes `XML_BODY_MAX` (chunked bodies have no
/// Content-Length to check first).
pub(super) async fn read_xml_body(body: Option<Inflow>) -> Result<Bytes, CosError> {
    let Some(mut body) = body else {
        return Ok(Bytes::new());
    };
    let mut buf = bytes::BytesMut::new();
    while let Some(data) = body.next().await? {
        if (buf.len() + data.len()) as u64 > XML_BODY_MAX {
            return Err(xml_too_big((buf.len() + data.len()) as u64));
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

/// Reads a body to its end and drops it, a frame at a time (unchecked: a fault replaces the
/// operation it belonged to).
pub(super) async fn drain(body: Option<Inflow>) -> Result<(), CosError> {
    if let Some(mut inflow) = body {
        while let Some(frame) = inflow.body.frame().await {
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
    /// S3's `x-amz-checksum-*` the body was checked against, to echo.
    pub(super) checksums: Vec<(&'static str, String)>,
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
    body: Option<Inflow>,
    expected: u64,
) -> Result<Received, Failure> {
    let Some(mut body) = body else {
        return Err(incomplete("the body was already consumed").into());
    };
    let mut md5 = Md5::new();
    let mut got = 0u64;
    let too_long = || {
        refused_midway(CosError::bad(
            "IncompleteBody",
            format!("the request body is longer than its Content-Length ({expected} bytes)"),
        ))
    };
    let short = |got: u64| {
        CosError::bad(
            "IncompleteBody",
            format!("the request body ended after {got} of its {expected} bytes"),
        )
    };
    if expected <= crate::server::spill::IN_MEMORY_MAX {
        let mut buf = bytes::BytesMut::with_capacity(expected as usize);
        while let Some(data) = body.next().await? {
            got += data.len() as u64;
            if got > expected {
                return Err(too_long().into());
            }
            md5.update(&data);
            buf.extend_from_slice(&data);
        }
        if got != expected {
            return Err(short(got).into());
        }
        return Ok(Received {
            content: Content::from_bytes(buf.freeze()),
            md5: md5.finalize().into(),
            checksums: body.checksums(),
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
    while let Some(data) = body.next().await? {
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
        checksums: body.checksums(),
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
