//! Bandwidth limits: token buckets in the transfer path.
//!
//! [`Bucket`] is the arithmetic, plain and deterministic (time is an
//! input): how long bytes must wait so that the rate holds, with a burst of
//! a quarter of a second. [`RateLimit`] puts one on the async path; its rate
//! is read at every step, so a change applies while transfers run (within
//! [`MAX_WAIT_STEP`]). A rate of 0 is no limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// The bucket holds this much of a second's worth of bytes: a burst after a
/// pause, small enough that a rate measured over seconds holds.
const BURST: f64 = 0.25;
/// The smallest burst, so that one network read always fits.
const MIN_BURST: f64 = 64.0 * 1024.0;
/// A wait is slept in steps of at most this, the rate read again after each.
pub const MAX_WAIT_STEP: Duration = Duration::from_millis(200);

/// Tokens (bytes) and when they were last counted.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(now: Instant) -> Bucket {
        Bucket { tokens: 0.0, at: now }
    }

    /// Takes `bytes` at `rate` bytes per second; returns how long the
    /// sender must wait before the bytes go (zero: at once). The bytes are
    /// owed until then, so a later take waits behind them.
    pub fn take(&mut self, bytes: u64, rate: u64, now: Instant) -> Duration {
        let rate = rate as f64;
        let burst = (rate * BURST).max(MIN_BURST);
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * rate;
        self.tokens = (self.tokens + earned).min(burst) - bytes as f64;
        self.at = now;
        if self.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-self.tokens / rate) }
    }
}

/// The limits a node keeps to, in bytes per second (0 for none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransferLimits {
    pub download: u64,
    pub upload: u64,
    /// Upload to any one peer.
    pub upload_per_peer: u64,
}

/// A limit shared by every transfer it applies to.
#[derive(Debug, Default)]
pub struct RateLimit {
    /// Bytes per second; 0 for none. Shared with the setting it follows.
    rate: Arc<AtomicU64>,
    bucket: tokio::sync::Mutex<Option<Bucket>>,
}

impl RateLimit {
    /// A limit that follows `rate` (bytes per second, 0 for none).
    pub fn following(rate: Arc<AtomicU64>) -> RateLimit {
        RateLimit { rate, bucket: tokio::sync::Mutex::new(None) }
    }

    /// Changes the rate (0 for none); takes under way follow within a step.
    pub fn set(&self, rate: u64) {
        self.rate.store(rate, Ordering::Relaxed);
    }

    pub fn is_active(&self) -> bool {
        self.rate.load(Ordering::Relaxed) > 0
    }

    /// Waits until `bytes` may go. Takers queue in turn (the bucket's lock
    /// is fair), so every transfer under the limit moves.
    pub async fn take(&self, bytes: u64) {
        if !self.is_active() {
            return;
        }
        let mut bucket = self.bucket.lock().await;
        let rate = self.rate.load(Ordering::Relaxed);
        if rate == 0 {
            return;
        }
        let now = Instant::now();
        let mut wait = bucket.get_or_insert_with(|| Bucket::new(now)).take(bytes, rate, now);
        // The bytes are owed from now on: waited off in steps, at whatever
        // rate is in force after each.
        while !wait.is_zero() {
            tokio::time::sleep(wait.min(MAX_WAIT_STEP)).await;
            let rate = self.rate.load(Ordering::Relaxed);
            let Some(owing) = bucket.as_mut().filter(|_| rate > 0) else {
                *bucket = None;
                return;
            };
            wait = owing.take(0, rate, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_sender_is_held_to_the_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(start);
        let (rate, piece) = (2_000_000u64, 65_536u64);
        let mut now = start;
        let mut sent = 0u64;
        while now < start + Duration::from_secs(10) {
            now += bucket.take(piece, rate, now);
            sent += piece;
        }
        let measured = sent as f64 / (now - start).as_secs_f64();
        assert!((measured - rate as f64).abs() / (rate as f64) < 0.02, "{measured}");
    }

    #[test]
    fn a_pause_earns_at_most_a_short_burst() {
        let start = Instant::now();
        let mut bucket = Bucket::new(start);
        let later = start + Duration::from_secs(60);
        assert_eq!(bucket.take(400_000, 2_000_000, later), Duration::ZERO, "a quarter second's worth goes at once");
        assert_eq!(bucket.take(500_000, 2_000_000, later), Duration::from_millis(200), "the rest waits");
    }

    #[tokio::test]
    async fn a_changed_rate_applies_while_a_transfer_waits() {
        let rate = Arc::new(AtomicU64::new(1_000));
        let limit = Arc::new(RateLimit::following(rate.clone()));
        // Ten megabytes at a kilobyte per second: hours, unless the limit goes.
        let waiting = tokio::spawn({
            let limit = limit.clone();
            async move { limit.take(10_000_000).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished());
        rate.store(0, Ordering::Relaxed);
        tokio::time::timeout(Duration::from_secs(2), waiting).await.expect("the limit lifted").unwrap();
    }
}
