//! One warning per source per interval: a peer that floods us with bad
//! requests or hellos must not flood the log too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A source gets at most one line per this interval.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Sources remembered at once; the table starts afresh beyond this.
const MAX_SOURCES: usize = 1024;

/// Decides which warnings about a source are written.
#[derive(Debug, Default)]
pub struct LogLimiter {
    sources: Mutex<HashMap<IpAddr, Source>>,
}

#[derive(Debug)]
struct Source {
    last_line: Instant,
    suppressed: u64,
}

impl LogLimiter {
    /// `Some(n)` when a line about `source` may be written now, `n` being
    /// how many were held back since the last one; `None` to stay quiet.
    pub fn allow(&self, source: IpAddr, now: Instant) -> Option<u64> {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if sources.len() >= MAX_SOURCES && !sources.contains_key(&source) {
            sources.clear();
        }
        match sources.get_mut(&source) {
            Some(s) if now.saturating_duration_since(s.last_line) < LOG_INTERVAL => {
                s.suppressed += 1;
                None
            }
            Some(s) => {
                let held_back = std::mem::take(&mut s.suppressed);
                s.last_line = now;
                Some(held_back)
            }
            None => {
                sources.insert(source, Source { last_line: now, suppressed: 0 });
                Some(0)
            }
        }
    }
}

/// The note added to a line when others were held back.
pub fn held_back(n: u64) -> String {
    if n == 0 { String::new() } else { format!(" ({n} similar lines held back)") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_source_per_interval() {
        let limiter = LogLimiter::default();
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let start = Instant::now();
        assert_eq!(limiter.allow(a, start), Some(0));
        for _ in 0..3000 {
            assert_eq!(limiter.allow(a, start + Duration::from_secs(1)), None);
        }
        assert_eq!(limiter.allow(b, start + Duration::from_secs(1)), Some(0));
        assert_eq!(limiter.allow(a, start + LOG_INTERVAL), Some(3000));
        assert_eq!(held_back(3000), " (3000 similar lines held back)");
    }
}
