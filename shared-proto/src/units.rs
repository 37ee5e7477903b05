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

#[cfg(test)]
mod tests {
    use super::*;

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
