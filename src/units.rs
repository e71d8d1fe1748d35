//! Human sizes, rates and durations on the command line: `64GiB`, `40TB`, `1GiB/s`, `50ms`.
//!
//! Pure. Binary (`KiB`, `MiB`, …) and decimal (`KB`, `MB`, …) units; a bare number is bytes.

/// Parses a byte size: `123`, `5MiB`, `1.5 GiB`, `40TB`, `64g` (single letters are binary).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size: write e.g. 64MiB, 5GB or 1048576"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "p" | "pib" => 1 << 50,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "pb" => 1_000_000_000_000_000,
        other => {
            return Err(format!(
                "{s:?} has an unknown unit {other:?}: use B, KiB, MiB, GiB, TiB or KB, MB, GB, TB"
            ))
        }
    };
    let bytes = value * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(bytes.round() as u64)
}

/// Parses a rate in bytes per second: `1GiB/s`, `100MB/s`, `500MiB`.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    let r = parse_size(t)?;
    if r == 0 {
        return Err(format!("{s:?}: a rate must be above zero"));
    }
    Ok(r)
}

/// Parses a duration: `50ms`, `2s`, `1m 30s`, `7d`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration ({e}): write e.g. 50ms, 2s or 7d"))
}

/// Formats bytes with binary units and three significant digits: `1.50 GiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if v >= 100.0 {
        format!("{v:.0} {}", UNITS[i])
    } else if v >= 10.0 {
        format!("{v:.1} {}", UNITS[i])
    } else {
        format!("{v:.2} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("123").unwrap(), 123);
        assert_eq!(parse_size("64GiB").unwrap(), 64 << 30);
        assert_eq!(parse_size("40TB").unwrap(), 40_000_000_000_000);
        assert_eq!(parse_size("1.5 KiB").unwrap(), 1536);
        assert_eq!(parse_size("5m").unwrap(), 5 << 20);
        assert!(parse_size("abc").is_err());
        assert!(parse_size("5 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
    }

    #[test]
    fn parses_rates_and_durations() {
        assert_eq!(parse_rate("1GiB/s").unwrap(), 1 << 30);
        assert!(parse_rate("0/s").is_err());
        assert_eq!(parse_duration("50ms").unwrap().as_millis(), 50);
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn formats_sizes() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1536), "1.50 KiB");
        assert_eq!(format_size(64 << 30), "64.0 GiB");
        assert_eq!(format_size(40_000_000_000_000), "36.4 TiB");
    }
}
