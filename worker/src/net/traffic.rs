//! Chunk bytes this process has sent to and received from peers, for the
//! status bar's total speeds. One node runs per process, so the counters are
//! process-wide.

use std::sync::atomic::{AtomicU64, Ordering};

static SENT: AtomicU64 = AtomicU64::new(0);
static RECEIVED: AtomicU64 = AtomicU64::new(0);

pub fn add_sent(bytes: u64) {
    SENT.fetch_add(bytes, Ordering::Relaxed);
}

pub fn add_received(bytes: u64) {
    RECEIVED.fetch_add(bytes, Ordering::Relaxed);
}

/// (received, sent) chunk bytes since the process started.
pub fn totals() -> (u64, u64) {
    (RECEIVED.load(Ordering::Relaxed), SENT.load(Ordering::Relaxed))
}
