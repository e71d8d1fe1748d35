//! CRC-64/XZ (ECMA-182, reflected), the checksum COS reports as `x-cos-hash-crc64ecma`.
//!
//! Pure. `combine` joins the CRCs of two adjacent byte runs without their bytes, which lets
//! the server checksum multi-terabyte objects that are only ever described, never stored.

/// Reflected ECMA-182 polynomial.
const POLY: u64 = 0xC96C_5795_D787_0F42;

const fn make_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// Slicing-by-8 tables: `TABLES[k][b]` is byte `b` followed by `k` zero bytes.
const fn make_tables() -> [[u64; 256]; 8] {
    let mut tables = [[0u64; 256]; 8];
    tables[0] = make_table();
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = tables[0][(prev & 0xff) as usize] ^ (prev >> 8);
            i += 1;
        }
        k += 1;
    }
    tables
}

static TABLES: [[u64; 256]; 8] = make_tables();

/// Advances the raw register (no init, no final xor) over `data`. Linear over GF(2) in
/// (register, data), which the server's synthetic content relies on. Eight bytes a step
/// (slicing-by-8) so real uploads checksum at memory speed rather than a byte at a time.
pub fn update_register(mut reg: u64, data: &[u8]) -> u64 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let v = reg ^ u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        reg = t[7][(v & 0xff) as usize]
            ^ t[6][((v >> 8) & 0xff) as usize]
            ^ t[5][((v >> 16) & 0xff) as usize]
            ^ t[4][((v >> 24) & 0xff) as usize]
            ^ t[3][((v >> 32) & 0xff) as usize]
            ^ t[2][((v >> 40) & 0xff) as usize]
            ^ t[1][((v >> 48) & 0xff) as usize]
            ^ t[0][(v >> 56) as usize];
    }
    for &b in chunks.remainder() {
        reg = t[0][((reg ^ b as u64) & 0xff) as usize] ^ (reg >> 8);
    }
    reg
}

/// Continues a finished CRC over more bytes: `update(checksum(a), b) == checksum(a ++ b)`.
pub fn update(crc: u64, data: &[u8]) -> u64 {
    !update_register(!crc, data)
}

/// The CRC-64/XZ of `data`; the empty input gives 0.
pub fn checksum(data: &[u8]) -> u64 {
    update(0, data)
}

/// A linear map on GF(2)^64 stored as 8 byte-indexed tables, so `apply` is 8 lookups.
/// Shared with the server's synthetic content, which jumps its generator with the same kind
/// of map.
pub struct Gf2Map64 {
    tables: Box<[[u64; 256]; 8]>,
}

impl Gf2Map64 {
    /// The map whose column `i` (image of bit `i`) is `cols[i]`.
    pub fn from_columns(cols: &[u64; 64]) -> Self {
        let mut tables = Box::new([[0u64; 256]; 8]);
        for (n, table) in tables.iter_mut().enumerate() {
            for v in 1..256usize {
                let low = v.trailing_zeros() as usize;
                table[v] = table[v & (v - 1)] ^ cols[n * 8 + low];
            }
        }
        Gf2Map64 { tables }
    }

    #[inline]
    pub fn apply(&self, v: u64) -> u64 {
        let mut out = 0;
        for (n, table) in self.tables.iter().enumerate() {
            out ^= table[((v >> (n * 8)) & 0xff) as usize];
        }
        out
    }

    pub fn squared(&self) -> Self {
        let mut cols = [0u64; 64];
        for (i, col) in cols.iter_mut().enumerate() {
            *col = self.apply(self.apply(1u64 << i));
        }
        Gf2Map64::from_columns(&cols)
    }

    /// `[M, M^2, M^4, …, M^(2^63)]`: enough to raise `M` to any u64 power.
    pub fn powers_of_two(self) -> Vec<Gf2Map64> {
        let mut out = Vec::with_capacity(64);
        out.push(self);
        for k in 1..64 {
            let next = out[k - 1].squared();
            out.push(next);
        }
        out
    }
}

/// Applies `M^n` to `v`, given `powers` from `Gf2Map64::powers_of_two`.
pub fn apply_power(powers: &[Gf2Map64], mut v: u64, mut n: u64) -> u64 {
    while n != 0 {
        v = powers[n.trailing_zeros() as usize].apply(v);
        n &= n - 1;
    }
    v
}

/// `Z^(2^k)` where `Z` feeds one zero byte through the raw register; built once.
fn zero_byte_powers() -> &'static [Gf2Map64] {
    static POWERS: std::sync::OnceLock<Vec<Gf2Map64>> = std::sync::OnceLock::new();
    POWERS.get_or_init(|| {
        let mut cols = [0u64; 64];
        for (i, col) in cols.iter_mut().enumerate() {
            *col = update_register(1u64 << i, &[0]);
        }
        Gf2Map64::from_columns(&cols).powers_of_two()
    })
}

/// Feeds `len` zero bytes through the raw register: at most 64 table-driven steps from
/// cached powers, so combining 10,000 part CRCs costs microseconds.
pub fn shift_register(reg: u64, len: u64) -> u64 {
    apply_power(zero_byte_powers(), reg, len)
}

/// The CRC of `a ++ b` from `crc(a)`, `crc(b)` and `len(b)`.
///
/// With init and final xor both all-ones the identity `crc(ab) = shift(crc(a), |b|) ^ crc(b)`
/// holds exactly, as in zlib's `crc32_combine`.
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    shift_register(crc_a, len_b) ^ crc_b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_matches_the_standard() {
        assert_eq!(checksum(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(checksum(b"123456789"), 11051210869376104954);
        assert_eq!(checksum(b""), 0);
    }

    #[test]
    fn update_continues_a_checksum() {
        let all = checksum(b"hello, world");
        assert_eq!(update(checksum(b"hello"), b", world"), all);
    }

    #[test]
    fn combine_equals_checksum_of_the_concatenation() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for split in [0, 1, 7, 4096, 9_999, 10_000] {
            let (a, b) = data.split_at(split);
            assert_eq!(
                combine(checksum(a), checksum(b), b.len() as u64),
                checksum(&data),
                "split at {split}"
            );
        }
    }

    #[test]
    fn sliced_update_equals_bytewise_update() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 + 7) as u8).collect();
        let table = make_table();
        for len in [0, 1, 7, 8, 9, 63, 64, 1000] {
            let mut reg = 0x1234_5678_9ABC_DEF0u64;
            for &b in &data[..len] {
                reg = table[((reg ^ b as u64) & 0xff) as usize] ^ (reg >> 8);
            }
            assert_eq!(
                update_register(0x1234_5678_9ABC_DEF0, &data[..len]),
                reg,
                "{len}"
            );
        }
    }

    #[test]
    fn shift_equals_feeding_zero_bytes() {
        let reg = 0x0123_4567_89AB_CDEF;
        assert_eq!(
            shift_register(reg, 1000),
            update_register(reg, &[0u8; 1000])
        );
        assert_eq!(shift_register(reg, 0), reg);
    }
}
