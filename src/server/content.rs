//! TEMPORARY PLACEHOLDER for the `content` branch (another helper owns this file): a naive
//! extents list with the agreed API, so the server compiles until the real one is merged.
//! Replaced wholesale at merge time; do not build on anything beyond the agreed API.

use bytes::Bytes;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Extent {
    Bytes(Vec<u8>),
    Synth { seed: u64, start: u64, len: u64 },
}

impl Extent {
    fn len(&self) -> u64 {
        match self {
            Extent::Bytes(b) => b.len() as u64,
            Extent::Synth { len, .. } => *len,
        }
    }
}

fn synth_byte(seed: u64, i: u64) -> u8 {
    let mut x = seed ^ (i / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> ((i % 8) * 8)) as u8
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Content {
    extents: Vec<Extent>,
}

impl Content {
    pub fn empty() -> Self {
        Self::default()
    }
    pub fn from_bytes(b: Bytes) -> Self {
        Content {
            extents: vec![Extent::Bytes(b.to_vec())],
        }
    }
    pub fn synthetic(seed: u64, len: u64) -> Self {
        Content {
            extents: vec![Extent::Synth {
                seed,
                start: 0,
                len,
            }],
        }
    }
    pub fn len(&self) -> u64 {
        self.extents.iter().map(Extent::len).sum()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn read(&self, first: u64, len: u64) -> Bytes {
        let mut out = Vec::with_capacity(len as usize);
        let mut pos = 0u64;
        for e in &self.extents {
            let el = e.len();
            let a = first.max(pos);
            let b = (first + len).min(pos + el);
            if a < b {
                match e {
                    Extent::Bytes(v) => {
                        out.extend_from_slice(&v[(a - pos) as usize..(b - pos) as usize])
                    }
                    Extent::Synth { seed, start, .. } => {
                        for i in a..b {
                            out.push(synth_byte(*seed, start + i - pos));
                        }
                    }
                }
            }
            pos += el;
        }
        Bytes::from(out)
    }
    pub fn slice(&self, first: u64, last_inclusive: u64) -> Content {
        Content {
            extents: vec![Extent::Bytes(
                self.read(first, last_inclusive + 1 - first).to_vec(),
            )],
        }
    }
    pub fn concat(parts: &[Content]) -> Content {
        Content {
            extents: parts.iter().flat_map(|p| p.extents.clone()).collect(),
        }
    }
    pub fn crc64(&self) -> u64 {
        crate::crc64::checksum(&self.read(0, self.len()))
    }
    pub fn etag_md5_hex(&self) -> String {
        hex::encode(Md5::digest(self.read(0, self.len())))
    }
}
