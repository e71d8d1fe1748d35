//! Object content as a list of extents, so the local server can hold multi-terabyte objects
//! at no memory or disk cost, and a part copy or Complete only re-arranges extents.
//!
//! An extent is either real uploaded bytes (shared `Bytes`, never copied by `slice`) or a run
//! of *synthetic* bytes: a deterministic pseudo-random stream named by a seed, of which the
//! extent holds `[offset, offset + len)`. The stream is xorshift64 (state seeded by
//! splitmix64), one little-endian `u64` word per 8 bytes; its period is 2^64 − 1 words, so it
//! never repeats within COS's 48.82 TB object limit. Both the generator and the CRC register
//! are linear over GF(2), so the CRC-64/XZ of *any* byte range is computed from cached matrix
//! powers in microseconds, without generating the bytes (see [`synthetic_register`]). Every
//! extent carries its own CRC, so `slice` and `concat` cost O(extents · log len).
//!
//! A third kind of extent, *file*, holds uploaded bytes that were streamed to disk
//! (`spill.rs`) instead of memory; reading or slicing one reads that file, so those calls
//! return `io::Result`. Otherwise pure: no clock, no locks beyond the lazily built power tables.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use md5::{Digest, Md5};

use super::spill::Blob;
use crate::crc64::{self, Gf2Map64};

/// Real content up to this size gets a real MD5 as its ETag.
pub const ETAG_MD5_LIMIT: u64 = 64 * 1024 * 1024;

/// One run of bytes, with the CRC-64/XZ of those bytes alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Extent {
    /// Uploaded bytes; slices share the buffer.
    Real { bytes: Bytes, crc: u64 },
    /// Bytes `[offset, offset + len)` of the synthetic stream named by `seed`.
    Synthetic {
        seed: u64,
        offset: u64,
        len: u64,
        crc: u64,
    },
    /// Bytes `[offset, offset + len)` of an uploaded body kept on disk.
    File {
        blob: Arc<Blob>,
        offset: u64,
        len: u64,
        crc: u64,
    },
}

impl Extent {
    fn real(bytes: Bytes) -> Self {
        let crc = crc64::checksum(&bytes);
        Extent::Real { bytes, crc }
    }

    fn synthetic(seed: u64, offset: u64, len: u64) -> Self {
        let crc = synthetic_crc(seed, offset, len);
        Extent::Synthetic {
            seed,
            offset,
            len,
            crc,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Extent::Real { bytes, .. } => bytes.len() as u64,
            Extent::Synthetic { len, .. } | Extent::File { len, .. } => *len,
        }
    }

    /// True for a zero-length extent (never stored inside a `Content`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// CRC-64/XZ of this extent's bytes.
    pub fn crc64(&self) -> u64 {
        match self {
            Extent::Real { crc, .. } | Extent::Synthetic { crc, .. } | Extent::File { crc, .. } => {
                *crc
            }
        }
    }

    /// The sub-extent `[from, from + len)` relative to this extent's start (in bounds). A
    /// file extent's part is read once for its CRC, 1 MiB at a time.
    fn sub(&self, from: u64, len: u64) -> std::io::Result<Extent> {
        if from == 0 && len == self.len() {
            return Ok(self.clone());
        }
        Ok(match self {
            Extent::Real { bytes, .. } => {
                Extent::real(bytes.slice(from as usize..(from + len) as usize))
            }
            Extent::Synthetic { seed, offset, .. } => Extent::synthetic(*seed, offset + from, len),
            Extent::File { blob, offset, .. } => {
                let start = offset + from;
                let mut crc = 0u64;
                let mut buf = vec![0u8; (1usize << 20).min(len as usize)];
                let mut pos = 0u64;
                while pos < len {
                    let take = (len - pos).min(buf.len() as u64) as usize;
                    blob.read_at(start + pos, &mut buf[..take])?;
                    crc = crc64::update(crc, &buf[..take]);
                    pos += take as u64;
                }
                Extent::File {
                    blob: blob.clone(),
                    offset: start,
                    len,
                    crc,
                }
            }
        })
    }

    /// Fills `dst` with this extent's bytes from `from` (relative, in bounds).
    fn fill(&self, from: u64, dst: &mut [u8]) -> std::io::Result<()> {
        match self {
            Extent::Real { bytes, .. } => {
                dst.copy_from_slice(&bytes[from as usize..from as usize + dst.len()])
            }
            Extent::Synthetic { seed, offset, .. } => synthetic_fill(*seed, offset + from, dst),
            Extent::File { blob, offset, .. } => blob.read_at(offset + from, dst)?,
        }
        Ok(())
    }

    /// Joins `next` onto `self` when they are one run of the same stream.
    fn try_merge(&mut self, next: &Extent) -> bool {
        match (self, next) {
            (
                Extent::Synthetic {
                    seed: a_seed,
                    offset: a_offset,
                    len: a_len,
                    crc: a_crc,
                },
                Extent::Synthetic {
                    seed: b_seed,
                    offset: b_offset,
                    len: b_len,
                    crc: b_crc,
                },
            ) if a_seed == b_seed && a_offset.checked_add(*a_len) == Some(*b_offset) => {
                *a_crc = crc64::combine(*a_crc, *b_crc, *b_len);
                *a_len += b_len;
                true
            }
            _ => false,
        }
    }
}

/// The bytes of an object, as extents. Cheap to clone, slice and concatenate; the CRC is
/// computed when the content is built and cached.
///
/// Equality is structural: two contents with the same bytes laid out in different extents
/// compare unequal (compare `len()` and `crc64()` for a content check).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(from = "repr::ContentRepr")]
pub struct Content {
    extents: Vec<Extent>,
    /// `ends[i]` is the offset one past extent `i`.
    ends: Vec<u64>,
    len: u64,
    crc: u64,
}

impl Default for Content {
    fn default() -> Self {
        Content::empty()
    }
}

impl Content {
    /// No bytes.
    pub fn empty() -> Self {
        Content {
            extents: Vec::new(),
            ends: Vec::new(),
            len: 0,
            crc: 0,
        }
    }

    /// Real uploaded bytes (O(len) once, for the CRC).
    pub fn from_bytes(b: Bytes) -> Self {
        Content::from_extents(vec![Extent::real(b)])
    }

    /// The whole of an uploaded body kept on disk.
    pub fn from_blob(blob: Arc<Blob>) -> Self {
        let (len, crc) = (blob.len(), blob.crc64());
        Content::from_extents(vec![Extent::File {
            blob,
            offset: 0,
            len,
            crc,
        }])
    }

    /// Bytes `[offset, offset + len)` of a blob whose CRC over that range is `crc` (as saved).
    pub fn from_blob_range(blob: Arc<Blob>, offset: u64, len: u64, crc: u64) -> Self {
        Content::from_extents(vec![Extent::File {
            blob,
            offset,
            len,
            crc,
        }])
    }

    /// `len` deterministic pseudo-random bytes from the stream named by `seed`.
    /// Any length up to 2^64 − 1 bytes; the CRC takes microseconds.
    pub fn synthetic(seed: u64, len: u64) -> Self {
        Content::from_extents(vec![Extent::synthetic(seed, 0, len)])
    }

    /// Bytes `[offset, offset + len)` of the stream named by `seed`: `synthetic(seed, n)`
    /// sliced, without building the whole. `offset + len` must not overflow `u64`.
    pub fn synthetic_range(seed: u64, offset: u64, len: u64) -> Self {
        let len = len.min(u64::MAX - offset);
        Content::from_extents(vec![Extent::synthetic(seed, offset, len)])
    }

    /// Builds content from extents (whose cached CRCs are trusted, hence private), dropping
    /// empty ones and merging adjacent runs.
    fn from_extents(extents: impl IntoIterator<Item = Extent>) -> Self {
        let mut out = Content::empty();
        for e in extents {
            out.push(e);
        }
        // A pushed-to Vec holds room for 4 extents: 150 bytes per object wasted on the
        // hundreds of thousands of one-extent objects `--objects` makes.
        out.extents.shrink_to_fit();
        out.ends.shrink_to_fit();
        out
    }

    fn push(&mut self, e: Extent) {
        if e.is_empty() {
            return;
        }
        let n = e.len();
        self.crc = crc64::combine(self.crc, e.crc64(), n);
        self.len += n;
        if let Some(last) = self.extents.last_mut() {
            if last.try_merge(&e) {
                if let Some(end) = self.ends.last_mut() {
                    *end = self.len;
                }
                return;
            }
        }
        self.extents.push(e);
        self.ends.push(self.len);
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// CRC-64/XZ (what COS reports as `x-cos-hash-crc64ecma`) of the whole content; cached.
    pub fn crc64(&self) -> u64 {
        self.crc
    }

    /// The extents, in order (never empty ones).
    pub fn extents(&self) -> &[Extent] {
        &self.extents
    }

    /// Index of the extent holding byte `pos` (`pos < len`).
    fn extent_at(&self, pos: u64) -> usize {
        self.ends.partition_point(|&end| end <= pos)
    }

    fn start_of(&self, i: usize) -> u64 {
        if i == 0 {
            0
        } else {
            self.ends[i - 1]
        }
    }

    /// Bytes `first..=last_inclusive`, sharing extents. Out-of-range bounds are clamped
    /// (never panics); the caller is expected to have checked them against `len()`.
    pub fn slice(&self, first: u64, last_inclusive: u64) -> std::io::Result<Content> {
        let Some((first, end)) = self.clamp(first, last_inclusive) else {
            return Ok(Content::empty());
        };
        if first == 0 && end == self.len {
            return Ok(self.clone());
        }
        let mut out = Content::empty();
        let mut i = self.extent_at(first);
        let mut pos = first;
        while pos < end && i < self.extents.len() {
            let start = self.start_of(i);
            let e = &self.extents[i];
            let from = pos - start;
            let take = (e.len() - from).min(end - pos);
            out.push(e.sub(from, take)?);
            pos += take;
            i += 1;
        }
        Ok(out)
    }

    /// Clamps an inclusive range to `[first, end)` inside the content, or `None` if empty.
    fn clamp(&self, first: u64, last_inclusive: u64) -> Option<(u64, u64)> {
        if self.len == 0 || first > last_inclusive || first >= self.len {
            return None;
        }
        let end = last_inclusive.min(self.len - 1) + 1;
        Some((first, end))
    }

    /// The parts one after another; the CRC is combined from the parts' CRCs.
    pub fn concat(parts: &[Content]) -> Content {
        let mut out = Content::empty();
        for part in parts {
            for e in &part.extents {
                out.push(e.clone());
            }
        }
        out
    }

    /// The real bytes of `[first, first + len)`, clamped to the content. A range inside one
    /// real extent is returned without copying.
    pub fn read(&self, first: u64, len: usize) -> std::io::Result<Bytes> {
        if len == 0 || first >= self.len {
            return Ok(Bytes::new());
        }
        let end = first.saturating_add(len as u64).min(self.len);
        let i = self.extent_at(first);
        let start = self.start_of(i);
        if let Some(Extent::Real { bytes, .. }) = self.extents.get(i) {
            if end <= self.ends[i] {
                return Ok(bytes.slice((first - start) as usize..(end - start) as usize));
            }
        }
        // Zeroed allocation is one calloc; filling in place avoids per-byte pushes.
        let mut out = vec![0u8; (end - first) as usize];
        let mut i = i;
        let mut pos = first;
        while pos < end && i < self.extents.len() {
            let start = self.start_of(i);
            let e = &self.extents[i];
            let from = pos - start;
            let take = (e.len() - from).min(end - pos);
            let at = (pos - first) as usize;
            e.fill(from, &mut out[at..at + take as usize])?;
            pos += take;
            i += 1;
        }
        Ok(Bytes::from(out))
    }

    /// The bytes `first..=last_inclusive` (clamped) as a stream of chunks of at most `chunk`
    /// bytes, generated (or read from disk) lazily: for streaming big GETs without holding
    /// them in memory.
    pub fn chunks(
        &self,
        first: u64,
        last_inclusive: u64,
        chunk: usize,
    ) -> impl Iterator<Item = std::io::Result<Bytes>> + Send + 'static {
        let (first, end) = self
            .clamp(first, last_inclusive)
            .unwrap_or((self.len, self.len));
        Chunks {
            content: self.clone(),
            pos: first,
            end,
            chunk: chunk.max(1),
        }
    }

    /// A stable 32-hex-digit ETag.
    ///
    /// - All-real content up to [`ETAG_MD5_LIMIT`] (64 MiB): the real MD5 of the bytes, as
    ///   COS gives for a simple upload. O(len): compute it once when the object is written.
    /// - Anything else (synthetic, mixed or larger): MD5 of the text
    ///   `"haul-etag-v1:{crc64 as 16 hex}:{len}"`. Deterministic, cheap, and different for
    ///   different bytes as far as CRC-64 tells them apart; it is *not* the MD5 of the bytes
    ///   (COS's own multipart ETags are not either).
    ///
    /// Uploaded bytes kept on disk count as real (they are read back for the MD5).
    pub fn etag_md5_hex(&self) -> std::io::Result<String> {
        let all_real = self
            .extents
            .iter()
            .all(|e| matches!(e, Extent::Real { .. } | Extent::File { .. }));
        let mut md5 = Md5::new();
        if all_real && self.len <= ETAG_MD5_LIMIT {
            for e in &self.extents {
                match e {
                    Extent::Real { bytes, .. } => md5.update(bytes),
                    Extent::File { .. } => {
                        let mut buf = vec![0u8; (1usize << 20).min(e.len() as usize)];
                        let mut pos = 0u64;
                        while pos < e.len() {
                            let take = (e.len() - pos).min(buf.len() as u64) as usize;
                            e.fill(pos, &mut buf[..take])?;
                            md5.update(&buf[..take]);
                            pos += take as u64;
                        }
                    }
                    Extent::Synthetic { .. } => {}
                }
            }
        } else {
            md5.update(format!("haul-etag-v1:{:016x}:{}", self.crc, self.len).as_bytes());
        }
        Ok(hex::encode(md5.finalize()))
    }
}

struct Chunks {
    content: Content,
    pos: u64,
    end: u64,
    chunk: usize,
}

impl Iterator for Chunks {
    type Item = std::io::Result<Bytes>;

    fn next(&mut self) -> Option<std::io::Result<Bytes>> {
        if self.pos >= self.end {
            return None;
        }
        let take = (self.end - self.pos).min(self.chunk as u64);
        let out = self.content.read(self.pos, take as usize);
        // A read error ends the stream after it is reported.
        self.pos = if out.is_ok() {
            self.pos + take
        } else {
            self.end
        };
        Some(out)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.end - self.pos).div_ceil(self.chunk as u64);
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

/// Serialized form: the extents without cached CRCs, which are recomputed on load.
mod repr {
    use super::{Content, Extent};
    use base64::Engine as _;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    pub struct ContentRepr {
        extents: Vec<ExtentRepr>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum ExtentRepr {
        Real {
            #[serde(serialize_with = "ser_bytes", deserialize_with = "de_bytes")]
            bytes: Bytes,
        },
        Synthetic {
            seed: u64,
            offset: u64,
            len: u64,
        },
    }

    fn ser_bytes<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
        } else {
            s.serialize_bytes(b)
        }
    }

    fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map(Bytes::from)
                .map_err(|e| serde::de::Error::custom(format!("extent bytes are not base64: {e}")))
        } else {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Bytes;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes::copy_from_slice(v))
                }
                fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                    Ok(Bytes::from(v))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Bytes, A::Error> {
                    let mut out = Vec::new();
                    while let Some(b) = seq.next_element::<u8>()? {
                        out.push(b);
                    }
                    Ok(Bytes::from(out))
                }
            }
            d.deserialize_byte_buf(V)
        }
    }

    /// Bytes on disk are written out inline (`persist.rs` saves them as blob files instead).
    impl Serialize for Content {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut extents = Vec::with_capacity(self.extents.len());
            for e in &self.extents {
                extents.push(match e {
                    Extent::Real { bytes, .. } => ExtentRepr::Real {
                        bytes: bytes.clone(),
                    },
                    Extent::Synthetic {
                        seed, offset, len, ..
                    } => ExtentRepr::Synthetic {
                        seed: *seed,
                        offset: *offset,
                        len: *len,
                    },
                    Extent::File { .. } => {
                        let mut buf = vec![0u8; e.len() as usize];
                        e.fill(0, &mut buf).map_err(|err| {
                            serde::ser::Error::custom(format!(
                                "cannot read uploaded bytes kept on disk: {err}"
                            ))
                        })?;
                        ExtentRepr::Real {
                            bytes: Bytes::from(buf),
                        }
                    }
                });
            }
            ContentRepr { extents }.serialize(s)
        }
    }

    impl From<ContentRepr> for Content {
        fn from(r: ContentRepr) -> Self {
            Content::from_extents(r.extents.into_iter().map(|e| match e {
                ExtentRepr::Real { bytes } => Extent::real(bytes),
                ExtentRepr::Synthetic { seed, offset, len } => Extent::synthetic(seed, offset, len),
            }))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The synthetic stream and its CRC algebra.

/// splitmix64 finaliser: spreads a user seed over the xorshift state space.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The xorshift64 state for word 0 of the stream `seed` (never 0).
fn initial_state(seed: u64) -> u64 {
    match splitmix64(seed) {
        0 => 0x2545_F491_4F6C_DD1D,
        s => s,
    }
}

/// One xorshift64 step: the linear map X.
#[inline(always)]
fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// A linear map over GF(2)^128 as 32 nibble tables: `apply` is 32 lookups.
struct Op128 {
    tables: Box<[[u128; 16]; 32]>,
}

impl Op128 {
    fn from_columns(cols: &[u128; 128]) -> Self {
        let mut tables = Box::new([[0u128; 16]; 32]);
        for (n, table) in tables.iter_mut().enumerate() {
            for v in 1..16usize {
                let low = v.trailing_zeros() as usize;
                table[v] = table[v & (v - 1)] ^ cols[n * 4 + low];
            }
        }
        Op128 { tables }
    }

    #[inline]
    fn apply(&self, v: u128) -> u128 {
        let mut out = 0;
        for (n, table) in self.tables.iter().enumerate() {
            out ^= table[((v >> (n * 4)) & 0xf) as usize];
        }
        out
    }

    fn squared(&self) -> Self {
        let mut cols = [0u128; 128];
        for (i, col) in cols.iter_mut().enumerate() {
            *col = self.apply(self.apply(1u128 << i));
        }
        Op128::from_columns(&cols)
    }
}

const POWERS: usize = 64;

/// `M^(2^k)` for the joint step over one word, M = [[T, W], [0, X]] acting on
/// `z = reg | state << 64`: T feeds 8 zero bytes through the CRC register, W feeds the word,
/// X advances xorshift.
fn word_powers() -> &'static [Op128] {
    static POWERS_M: OnceLock<Vec<Op128>> = OnceLock::new();
    POWERS_M.get_or_init(|| {
        let mut cols = [0u128; 128];
        for (j, col) in cols.iter_mut().enumerate().take(64) {
            *col = crc64::update_register(1u64 << j, &[0u8; 8]) as u128;
        }
        for j in 0..64 {
            let word = 1u64 << j;
            let reg = crc64::update_register(0, &word.to_le_bytes());
            cols[64 + j] = reg as u128 | (xorshift(word) as u128) << 64;
        }
        let mut out = Vec::with_capacity(POWERS);
        out.push(Op128::from_columns(&cols));
        for k in 1..POWERS {
            let next = out[k - 1].squared();
            out.push(next);
        }
        out
    })
}

/// `X^(2^k)`: xorshift64 jumped by `2^k` words.
fn state_powers() -> &'static [Gf2Map64] {
    static POWERS_X: OnceLock<Vec<Gf2Map64>> = OnceLock::new();
    POWERS_X.get_or_init(|| {
        let mut cols = [0u64; 64];
        for (j, col) in cols.iter_mut().enumerate() {
            *col = xorshift(1u64 << j);
        }
        Gf2Map64::from_columns(&cols).powers_of_two()
    })
}

/// Applies `M^n` to the joint state.
fn advance_words(mut z: u128, n: u64) -> u128 {
    let powers = word_powers();
    let mut n = n;
    while n != 0 {
        let k = n.trailing_zeros() as usize;
        z = powers[k].apply(z);
        n &= n - 1;
    }
    z
}

/// The xorshift state that produces word `index` of the stream `seed`.
fn state_at(seed: u64, index: u64) -> u64 {
    crc64::apply_power(state_powers(), initial_state(seed), index)
}

/// Advances the raw CRC register over bytes `[offset, offset + len)` of the stream `seed`,
/// without generating the middle: head and tail partial words byte by byte, whole words by
/// `M^n` from cached powers. O(log len).
pub fn synthetic_register(seed: u64, offset: u64, len: u64, mut reg: u64) -> u64 {
    if len == 0 {
        return reg;
    }
    let mut state = state_at(seed, offset / 8);
    let mut remaining = len;
    let skip = (offset % 8) as usize;
    if skip != 0 {
        let take = (8 - skip).min(remaining as usize);
        reg = crc64::update_register(reg, &state.to_le_bytes()[skip..skip + take]);
        remaining -= take as u64;
        state = xorshift(state);
    }
    let whole = remaining / 8;
    if whole != 0 {
        let z = advance_words(reg as u128 | (state as u128) << 64, whole);
        reg = z as u64;
        state = (z >> 64) as u64;
        remaining -= whole * 8;
    }
    if remaining != 0 {
        reg = crc64::update_register(reg, &state.to_le_bytes()[..remaining as usize]);
    }
    reg
}

/// CRC-64/XZ of bytes `[offset, offset + len)` of the stream `seed`.
pub fn synthetic_crc(seed: u64, offset: u64, len: u64) -> u64 {
    !synthetic_register(seed, offset, len, !0)
}

/// Fills `dst` with bytes `[offset, offset + dst.len())` of the stream `seed`.
fn synthetic_fill(seed: u64, offset: u64, dst: &mut [u8]) {
    let len = dst.len();
    if len == 0 {
        return;
    }
    let mut state = state_at(seed, offset / 8);
    let skip = (offset % 8) as usize;
    let mut pos = 0;
    if skip != 0 {
        let take = (8 - skip).min(len);
        dst[..take].copy_from_slice(&state.to_le_bytes()[skip..skip + take]);
        pos = take;
        state = xorshift(state);
    }
    // Four words per step keeps the loop overhead down in unoptimised (test) builds.
    let mut block = [0u8; 32];
    while dst.len() - pos >= 32 {
        let s1 = xorshift(state);
        let s2 = xorshift(s1);
        let s3 = xorshift(s2);
        block[..8].copy_from_slice(&state.to_le_bytes());
        block[8..16].copy_from_slice(&s1.to_le_bytes());
        block[16..24].copy_from_slice(&s2.to_le_bytes());
        block[24..].copy_from_slice(&s3.to_le_bytes());
        dst[pos..pos + 32].copy_from_slice(&block);
        pos += 32;
        state = xorshift(s3);
    }
    while pos < dst.len() {
        let take = (dst.len() - pos).min(8);
        dst[pos..pos + take].copy_from_slice(&state.to_le_bytes()[..take]);
        pos += take;
        state = xorshift(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, Rng, SeedableRng};

    /// In-memory contents cannot fail to read.
    trait InMemory {
        fn sl(&self, first: u64, last: u64) -> Content;
        fn rd(&self, first: u64, len: usize) -> Bytes;
    }

    impl InMemory for Content {
        fn sl(&self, first: u64, last: u64) -> Content {
            self.slice(first, last).expect("in-memory content")
        }
        fn rd(&self, first: u64, len: usize) -> Bytes {
            self.read(first, len).expect("in-memory content")
        }
    }

    const TB: u64 = 1_000_000_000_000;

    fn bytes_of(c: &Content) -> Vec<u8> {
        c.rd(0, c.len() as usize).to_vec()
    }

    #[test]
    fn synthetic_crc_equals_checksum_of_the_bytes_for_random_ranges() {
        let mut rng = SmallRng::seed_from_u64(7);
        let c = Content::synthetic(42, 5 * TB);
        for _ in 0..300 {
            let first = if rng.gen_bool(0.5) {
                rng.gen_range(0..5 * TB - 5000)
            } else {
                rng.gen_range(0..100)
            };
            let len = match rng.gen_range(0..4) {
                0 => rng.gen_range(1..9),
                1 => rng.gen_range(1..64),
                _ => rng.gen_range(1..5000),
            };
            let part = c.sl(first, first + len - 1);
            let bytes = c.rd(first, len as usize);
            assert_eq!(bytes.len() as u64, len);
            assert_eq!(part.len(), len);
            assert_eq!(part.crc64(), crc64::checksum(&bytes), "range {first}+{len}");
            assert_eq!(part.rd(0, len as usize), bytes);
        }
    }

    #[test]
    fn crc_of_mixed_extents_equals_checksum_of_the_bytes() {
        let real = Content::from_bytes(Bytes::from_static(b"hello, extents! 0123456789"));
        let synth = Content::synthetic(9, 1000);
        let mixed = Content::concat(&[
            synth.sl(3, 500),
            real.sl(2, 20),
            synth.sl(501, 999),
            real.clone(),
            Content::synthetic(10, 17),
        ]);
        let bytes = bytes_of(&mixed);
        assert_eq!(bytes.len() as u64, mixed.len());
        assert_eq!(mixed.crc64(), crc64::checksum(&bytes));
        // Slices spanning extent boundaries.
        let mut rng = SmallRng::seed_from_u64(3);
        for _ in 0..200 {
            let a = rng.gen_range(0..mixed.len());
            let b = rng.gen_range(a..mixed.len());
            let s = mixed.sl(a, b);
            let expect = &bytes[a as usize..=b as usize];
            assert_eq!(s.len(), b - a + 1);
            assert_eq!(s.crc64(), crc64::checksum(expect), "slice {a}..={b}");
            assert_eq!(&s.rd(0, expect.len())[..], expect);
            assert_eq!(&mixed.rd(a, expect.len())[..], expect);
        }
    }

    #[test]
    fn slice_and_concat_round_trip_and_merge_extents() {
        let c = Content::synthetic(1, 40 * TB);
        let part = 4 * 1024 * 1024 * 1024u64 + 3;
        let mut parts = Vec::new();
        let mut first = 0;
        while first < c.len() {
            let last = (first + part - 1).min(c.len() - 1);
            parts.push(c.sl(first, last));
            first = last + 1;
        }
        let joined = Content::concat(&parts);
        assert_eq!(
            joined, c,
            "adjacent synthetic runs merge back into one extent"
        );
        assert_eq!(joined.extents().len(), 1);
        assert_eq!(joined.crc64(), c.crc64());

        let real = Content::from_bytes(Bytes::from(
            (0..=255u8).cycle().take(10_000).collect::<Vec<_>>(),
        ));
        let pieces: Vec<Content> = (0..10).map(|i| real.sl(i * 1000, i * 1000 + 999)).collect();
        let back = Content::concat(&pieces);
        assert_eq!(back.len(), real.len());
        assert_eq!(back.crc64(), real.crc64());
        assert_eq!(bytes_of(&back), bytes_of(&real));
    }

    #[test]
    fn a_range_shifted_by_one_or_eight_bytes_has_a_different_crc() {
        let c = Content::synthetic(5, 48_820_000_000_000);
        for first in [0u64, 1, 7, 8, 5 * 1024 * 1024, 40 * TB, 48_000_000_000_000] {
            let len = 16 * 1024 * 1024;
            let right = c.sl(first, first + len - 1).crc64();
            for delta in [1u64, 8, 16 * 1024 * 1024] {
                let shifted = c.sl(first + delta, first + delta + len - 1).crc64();
                assert_ne!(right, shifted, "first {first} shifted by {delta}");
            }
            assert_ne!(right, c.sl(first, first + len - 2).crc64());
        }
    }

    #[test]
    fn synthetic_crc_of_40_tb_is_fast_and_deterministic() {
        let started = std::time::Instant::now();
        let a = Content::synthetic(77, 40 * TB);
        let cold = started.elapsed();
        let b = Content::synthetic(77, 40 * TB);
        let warm = started.elapsed() - cold;
        println!("crc64 of 40 TB synthetic: first {cold:?} (builds tables), then {warm:?}");
        assert_eq!(a.crc64(), b.crc64());
        assert_eq!(a, b);
        assert_ne!(a.crc64(), 0);
        assert_ne!(a.crc64(), Content::synthetic(78, 40 * TB).crc64());
        assert_eq!(a.rd(123_456_789_012, 64), b.rd(123_456_789_012, 64));
    }

    #[test]
    fn ten_thousand_part_copy_and_complete_is_quick() {
        let c = Content::synthetic(12, 40 * TB);
        let part = c.len().div_ceil(10_000);
        let started = std::time::Instant::now();
        let parts: Vec<Content> = (0..10_000u64)
            .map(|i| c.sl(i * part, ((i + 1) * part - 1).min(c.len() - 1)))
            .collect();
        let sliced = started.elapsed();
        let joined = Content::concat(&parts);
        let total = started.elapsed();
        println!("10,000 part slices of 40 TB: {sliced:?}; with concat: {total:?}");
        assert_eq!(joined.crc64(), c.crc64());
        assert_eq!(joined.len(), c.len());
    }

    #[test]
    fn the_stream_is_xorshift_words_and_jumps_land_on_the_right_word() {
        let mut state = initial_state(99);
        let mut expect = Vec::new();
        for _ in 0..5000 {
            expect.extend_from_slice(&state.to_le_bytes());
            state = xorshift(state);
        }
        let c = Content::synthetic(99, expect.len() as u64);
        assert_eq!(bytes_of(&c), expect);
        for first in [0usize, 1, 8, 13, 7999, 39_000] {
            assert_eq!(&c.rd(first as u64, 1000)[..], &expect[first..first + 1000]);
        }
    }

    /// The CRC of an aligned run of `words` words is `f(s) ^ c` with `f` linear in the start
    /// state `s`. A run shifted by `d` words starts at `X^d s`, and `X^d s != s` for every
    /// `0 < d < 2^64 - 1` (xorshift64 has one full-period orbit), so `I ^ X^d` is invertible
    /// and the shifted CRC equals the original only if `(I ^ X^d) s` falls in the kernel of `f`.
    /// With `rank f >= 62` that kernel has at most 4 elements: a wrong aligned shift matches
    /// with probability about 2^-62, as with random bytes. (Full rank is not guaranteed:
    /// 2 words give 63, 4 words 62.)
    #[test]
    fn the_crc_of_aligned_runs_has_nearly_full_rank() {
        fn rank(mut rows: Vec<u64>) -> usize {
            let mut rank = 0;
            for bit in 0..64 {
                let Some(i) = (rank..rows.len()).find(|&i| rows[i] >> bit & 1 == 1) else {
                    continue;
                };
                rows.swap(rank, i);
                let pivot = rows[rank];
                for (j, row) in rows.iter_mut().enumerate() {
                    if j != rank && *row >> bit & 1 == 1 {
                        *row ^= pivot;
                    }
                }
                rank += 1;
            }
            rank
        }
        for words in [
            1u64,
            2,
            3,
            4,
            5,
            8,
            131_072,
            131_073,
            1 << 27,
            610_351_562_500,
            640_000_000_000,
        ] {
            let cols: Vec<u64> = (0..64)
                .map(|j| advance_words((1u128 << j) << 64, words) as u64)
                .collect();
            let r = rank(cols);
            assert!(r >= 62, "CRC map over {words} words has rank {r}");
        }
    }

    #[test]
    fn synthetic_range_is_a_slice_of_the_stream() {
        let whole = Content::synthetic(6, 10_000);
        let part = Content::synthetic_range(6, 1234, 5000);
        assert_eq!(part, whole.sl(1234, 6233));
        assert_eq!(part.rd(0, 5000), whole.rd(1234, 5000));
    }

    #[test]
    fn different_seeds_give_different_bytes() {
        let a = Content::synthetic(1, 4096);
        let b = Content::synthetic(2, 4096);
        assert_ne!(bytes_of(&a), bytes_of(&b));
        assert_ne!(a.crc64(), b.crc64());
        // Not all zero, and not a short cycle: words differ along the stream.
        let bytes = bytes_of(&a);
        assert!(
            bytes
                .chunks(8)
                .collect::<std::collections::HashSet<_>>()
                .len()
                == 512
        );
    }

    #[test]
    fn out_of_range_slices_and_reads_are_clamped() {
        let c = Content::synthetic(3, 100);
        assert!(c.sl(100, 200).is_empty());
        assert!(c.sl(10, 9).is_empty());
        assert_eq!(c.sl(90, 1000).len(), 10);
        assert_eq!(c.rd(95, 100).len(), 5);
        assert!(c.rd(100, 10).is_empty());
        assert!(Content::empty().sl(0, 0).is_empty());
        assert_eq!(Content::empty().crc64(), 0);
        assert!(Content::synthetic(3, 0).is_empty());
    }

    #[test]
    fn chunks_cover_the_range_exactly() {
        let c = Content::concat(&[
            Content::synthetic(4, 10_000),
            Content::from_bytes(Bytes::from(vec![7u8; 3000])),
        ]);
        let all = bytes_of(&c);
        let got: Vec<u8> = c
            .chunks(13, 12_500, 1024)
            .flat_map(|b| b.expect("in-memory content"))
            .collect();
        assert_eq!(&got[..], &all[13..=12_500]);
        let sizes: Vec<usize> = c
            .chunks(0, 2047, 1024)
            .map(|b| b.map_or(0, |b| b.len()))
            .collect();
        assert_eq!(sizes, vec![1024, 1024]);
    }

    #[test]
    fn etag_is_real_md5_for_small_real_content_and_stable_otherwise() {
        let c = Content::from_bytes(Bytes::from_static(b"hello"));
        assert_eq!(
            c.etag_md5_hex().expect("in-memory content"),
            "5d41402abc4b2a76b9719d911017c592"
        );
        let s = Content::synthetic(1, 40 * TB);
        let e = s.etag_md5_hex().expect("in-memory content");
        assert_eq!(e.len(), 32);
        assert!(e.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            e,
            Content::synthetic(1, 40 * TB)
                .etag_md5_hex()
                .expect("in-memory content")
        );
        assert_ne!(
            e,
            Content::synthetic(2, 40 * TB)
                .etag_md5_hex()
                .expect("in-memory content")
        );
        assert_eq!(
            Content::empty().etag_md5_hex().expect("in-memory content"),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
    }

    #[test]
    fn serde_round_trip_keeps_bytes_and_crc() {
        let c = Content::concat(&[
            Content::synthetic(8, 5 * TB).sl(17, 4 * TB),
            Content::from_bytes(Bytes::from_static(b"\x00\xffreal bytes")),
        ]);
        let json = serde_json::to_string(&c).expect("serializing content to JSON cannot fail");
        let back: Content = serde_json::from_str(&json).expect("our own JSON parses");
        assert_eq!(back, c);
        assert_eq!(back.crc64(), c.crc64());
        assert!(
            serde_json::from_str::<Content>(r#"{"extents":[{"real":{"bytes":"@@"}}]}"#).is_err()
        );
    }

    #[test]
    fn synthetic_read_throughput() {
        let c = Content::synthetic(1, 1 << 40);
        let n = 64 * 1024 * 1024;
        let started = std::time::Instant::now();
        let b = c.rd(3, n);
        let took = started.elapsed();
        assert_eq!(b.len(), n);
        println!(
            "read 64 MiB synthetic: {took:?} ({:.0} MiB/s)",
            64.0 / took.as_secs_f64()
        );
    }
}
