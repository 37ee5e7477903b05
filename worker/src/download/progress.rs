//! Transfer speed over a sliding window, and the ETA from it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Speed is averaged over this long.
pub const SPEED_WINDOW: Duration = Duration::from_secs(3);
/// Progress is reported at most this often.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// Bytes per second over the last [`SPEED_WINDOW`].
#[derive(Debug, Default)]
pub struct SpeedMeter {
    /// (time, cumulative bytes)
    samples: VecDeque<(Instant, u64)>,
}

impl SpeedMeter {
    pub fn record(&mut self, now: Instant, total_bytes: u64) {
        self.samples.push_back((now, total_bytes));
        while self.samples.len() > 2 && self.samples.front().is_some_and(|(t, _)| now.duration_since(*t) > SPEED_WINDOW)
        {
            self.samples.pop_front();
        }
    }

    pub fn bytes_per_sec(&self) -> u64 {
        let (Some((t0, b0)), Some((t1, b1))) = (self.samples.front(), self.samples.back()) else { return 0 };
        let secs = t1.duration_since(*t0).as_secs_f64();
        if secs < 0.2 { 0 } else { ((b1 - b0) as f64 / secs) as u64 }
    }
}

/// Seconds left at `bytes_per_sec`; `None` while the speed is unknown.
pub fn eta_secs(remaining: u64, bytes_per_sec: u64) -> Option<u64> {
    (bytes_per_sec > 0).then(|| remaining.div_ceil(bytes_per_sec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_is_averaged_over_the_window() {
        let start = Instant::now();
        let mut meter = SpeedMeter::default();
        assert_eq!(meter.bytes_per_sec(), 0);
        for i in 0..=50u64 {
            meter.record(start + Duration::from_millis(i * 100), i * 100_000);
        }
        assert_eq!(meter.bytes_per_sec(), 1_000_000);
        assert_eq!(eta_secs(2_500_000, 1_000_000), Some(3));
        assert_eq!(eta_secs(1, 0), None);
    }
}
