//! The `aws-chunked` framing of S3 request bodies (`x-amz-content-sha256:
//! STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, `STREAMING-UNSIGNED-PAYLOAD-TRAILER` and
//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`): a sequence of
//! `HEX-SIZE[;chunk-signature=SIG]\r\n DATA \r\n`, a final chunk of size 0, then optional
//! trailer lines `name:value\r\n` and an empty line.
//!
//! Pure and incremental: `Decoder::feed` takes the body as it arrives and returns what it
//! found (chunk heads, data, trailers, the end), holding at most one header line. It checks
//! the framing only; whether a chunk's signature is right is `s3_auth`'s job, and storing the
//! data is `service::body`'s.

use bytes::Bytes;

/// The longest chunk header or trailer line accepted (a signed header is about 85 bytes).
const MAX_LINE: usize = 4096;
/// The most trailer bytes accepted in all.
const MAX_TRAILERS: usize = 16 * 1024;

/// What the decoder found, in body order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A chunk starts: its size and, when signed, its signature.
    Chunk {
        size: u64,
        signature: Option<String>,
    },
    /// Some of the current chunk's data.
    Data(Bytes),
    /// A trailer line after the final chunk, name lower-cased.
    Trailer { name: String, value: String },
    /// The body ended where its framing says it ends.
    End,
}

/// Why a body is not valid `aws-chunked`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("a chunk header is not HEX-SIZE[;chunk-signature=SIGNATURE]: {0:?}")]
    BadHeader(String),
    #[error("a chunk header or trailer line is longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("chunk data is not followed by CRLF")]
    MissingCrlf,
    #[error("the trailers are longer than {MAX_TRAILERS} bytes")]
    TrailersTooLong,
    #[error("a trailer line is not name:value: {0:?}")]
    BadTrailer(String),
    #[error("bytes follow the end of the aws-chunked body")]
    AfterEnd,
    #[error("the body ended inside its aws-chunked framing")]
    Truncated,
}

#[derive(Debug)]
enum State {
    /// Reading a chunk header line.
    Header(Vec<u8>),
    /// Inside a chunk's data.
    Data(u64),
    /// After a chunk's data: how many of its CRLF bytes were seen.
    Crlf(u8),
    /// After the final chunk: reading trailer lines until an empty one.
    Trailers {
        line: Vec<u8>,
        total: usize,
    },
    Done,
}

/// An incremental `aws-chunked` decoder.
#[derive(Debug)]
pub struct Decoder {
    state: State,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            state: State::Header(Vec::new()),
        }
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the body; returns what they complete.
    pub fn feed(&mut self, mut input: Bytes) -> Result<Vec<Piece>, FramingError> {
        let mut out = Vec::new();
        while !input.is_empty() {
            match &mut self.state {
                State::Header(line) => {
                    let Some(end) = take_line(line, &mut input)? else {
                        continue;
                    };
                    let (size, signature) = parse_header(&end)?;
                    out.push(Piece::Chunk { size, signature });
                    self.state = if size == 0 {
                        State::Trailers {
                            line: Vec::new(),
                            total: 0,
                        }
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    let n = (*left).min(input.len() as u64) as usize;
                    out.push(Piece::Data(input.split_to(n)));
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = State::Crlf(0);
                    }
                }
                State::Crlf(seen) => {
                    let want = if *seen == 0 { b'\r' } else { b'\n' };
                    if input[0] != want {
                        return Err(FramingError::MissingCrlf);
                    }
                    let _ = input.split_to(1);
                    *seen += 1;
                    if *seen == 2 {
                        self.state = State::Header(Vec::new());
                    }
                }
                State::Trailers { line, total } => {
                    let before = input.len();
                    let got = take_line(line, &mut input)?;
                    *total += before - input.len();
                    if *total > MAX_TRAILERS {
                        return Err(FramingError::TrailersTooLong);
                    }
                    let Some(text) = got else { continue };
                    if text.is_empty() {
                        out.push(Piece::End);
                        self.state = State::Done;
                        continue;
                    }
                    let (name, value) = text
                        .split_once(':')
                        .ok_or_else(|| FramingError::BadTrailer(text.clone()))?;
                    out.push(Piece::Trailer {
                        name: name.trim().to_ascii_lowercase(),
                        value: value.trim().to_string(),
                    });
                }
                State::Done => return Err(FramingError::AfterEnd),
            }
        }
        Ok(out)
    }

    /// Called when the body ends: an error unless the framing ended too.
    pub fn finish(&self) -> Result<(), FramingError> {
        match self.state {
            State::Done => Ok(()),
            _ => Err(FramingError::Truncated),
        }
    }
}

/// Moves bytes from `input` into `line` up to and including `\n`; returns the line without
/// its CRLF once complete (and clears `line`).
fn take_line(line: &mut Vec<u8>, input: &mut Bytes) -> Result<Option<String>, FramingError> {
    match input.iter().position(|&b| b == b'\n') {
        Some(i) => {
            line.extend_from_slice(&input.split_to(i + 1));
            if line.len() > MAX_LINE {
                return Err(FramingError::LineTooLong);
            }
            let mut text = std::mem::take(line);
            text.pop();
            if text.last() == Some(&b'\r') {
                text.pop();
            }
            Ok(Some(String::from_utf8_lossy(&text).into_owned()))
        }
        None => {
            line.extend_from_slice(input);
            input.clear();
            if line.len() > MAX_LINE {
                return Err(FramingError::LineTooLong);
            }
            Ok(None)
        }
    }
}

fn parse_header(line: &str) -> Result<(u64, Option<String>), FramingError> {
    let bad = || FramingError::BadHeader(line.chars().take(120).collect());
    let (size, ext) = match line.split_once(';') {
        Some((s, e)) => (s, Some(e)),
        None => (line, None),
    };
    let size = size.trim();
    if size.is_empty() || size.len() > 16 {
        return Err(bad());
    }
    let size = u64::from_str_radix(size, 16).map_err(|_| bad())?;
    let signature = match ext {
        None => None,
        Some(e) => {
            let sig = e
                .trim()
                .strip_prefix("chunk-signature=")
                .ok_or_else(bad)?
                .trim();
            if sig.len() != 64 || !sig.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            Some(sig.to_ascii_lowercase())
        }
    };
    Ok((size, signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(body: &[u8], step: usize) -> Result<Vec<Piece>, FramingError> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for c in body.chunks(step) {
            out.extend(d.feed(Bytes::copy_from_slice(c))?);
        }
        d.finish()?;
        Ok(out)
    }

    fn data(pieces: &[Piece]) -> Vec<u8> {
        pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Data(b) => Some(b.to_vec()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    const SIG: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";

    #[test]
    fn a_signed_body_decodes_the_same_whatever_the_network_splits() {
        let body = format!(
            "5;chunk-signature={SIG}\r\nhello\r\n3;chunk-signature={SIG}\r\n ab\r\n0;chunk-signature={SIG}\r\n\r\n"
        );
        for step in [1, 2, 7, 1000] {
            let p = decode_in_pieces(body.as_bytes(), step).expect("valid framing");
            assert_eq!(data(&p), b"hello ab", "step {step}");
            assert_eq!(
                p.iter()
                    .filter(|x| matches!(x, Piece::Chunk { signature: Some(s), .. } if s == SIG))
                    .count(),
                3
            );
            assert_eq!(p.last(), Some(&Piece::End));
        }
    }

    #[test]
    fn an_unsigned_body_with_a_trailer_yields_the_trailer() {
        let body = b"4\r\nabcd\r\n0\r\nx-amz-checksum-crc32:7ZZ8Xw==\r\n\r\n";
        let p = decode_in_pieces(body, 3).expect("valid framing");
        assert_eq!(data(&p), b"abcd");
        assert!(p.contains(&Piece::Trailer {
            name: "x-amz-checksum-crc32".into(),
            value: "7ZZ8Xw==".into()
        }));
    }

    #[test]
    fn broken_framing_is_refused() {
        assert_eq!(
            decode_in_pieces(b"5\r\nhello\r\n", 4),
            Err(FramingError::Truncated)
        );
        assert_eq!(
            decode_in_pieces(b"5\r\nhelloXX0\r\n\r\n", 4),
            Err(FramingError::MissingCrlf)
        );
        assert!(matches!(
            decode_in_pieces(b"zz\r\n", 4),
            Err(FramingError::BadHeader(_))
        ));
        assert!(matches!(
            decode_in_pieces(b"1;chunk-signature=short\r\na\r\n0\r\n\r\n", 4),
            Err(FramingError::BadHeader(_))
        ));
        assert_eq!(
            decode_in_pieces(b"0\r\n\r\nmore", 100),
            Err(FramingError::AfterEnd)
        );
        let long = vec![b'1'; MAX_LINE + 10];
        assert_eq!(decode_in_pieces(&long, 100), Err(FramingError::LineTooLong));
    }
}
