//! Byte counts as people read them, shared so the window and the headless
//! commands say the same thing.

/// SI units, like file managers and download speeds: `999 B`, `1.5 KB`,
/// `3.2 GB`.
///
/// ```
/// assert_eq!(lanspread_proto::units::format_size(1_500), "1.5 KB");
/// ```
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The fastest rate [`parse_rate`] takes (100 GB/s): anything above is a typo.
pub const MAX_RATE: u64 = 100_000_000_000;

/// Why a rate was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a rate: write bytes per second with a unit, e.g. 4MB, 500KB or 1.5MiB (0 for no limit)")]
pub struct RateError(pub String);

/// A transfer rate in bytes per second from `4MB`, `500KB`, `1.5MiB`,
/// `2000000` (bytes) or `0`/`off` (no limit, returned as 0). SI units are
/// powers of 1000, `KiB`/`MiB`/`GiB` of 1024; `/s` may follow.
///
/// ```
/// assert_eq!(lanspread_proto::units::parse_rate("4MB").unwrap(), 4_000_000);
/// ```
pub fn parse_rate(text: &str) -> Result<u64, RateError> {
    let bad = || RateError(text.chars().take(40).collect());
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    if lower == "off" || lower == "none" {
        return Ok(0);
    }
    let lower = lower.strip_suffix("/s").unwrap_or(&lower);
    let split = lower.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(lower.len());
    let (number, unit) = lower.split_at(split);
    let scale: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = (value * scale).round();
    if !bytes.is_finite() || bytes > MAX_RATE as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_with_their_units() {
        for (text, bytes) in [
            ("4MB", 4_000_000),
            ("500KB", 500_000),
            ("1.5MiB", 1_572_864),
            ("2 MB/s", 2_000_000),
            ("2000000", 2_000_000),
            ("0", 0),
            ("off", 0),
        ] {
            assert_eq!(parse_rate(text), Ok(bytes), "{text}");
        }
        for bad in ["", "MB", "4XB", "-1MB", "1e3MB", "4MB4", "999GB", "NaNMB"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(999), "999 B");
        assert_eq!(format_size(1500), "1.5 KB");
        assert_eq!(format_size(999_949), "999.9 KB");
        assert_eq!(format_size(999_960), "1.0 MB");
        assert_eq!(format_size(3_200_000_000), "3.2 GB");
    }
}
