//! Chunk bytes one node has sent to and received from peers, for the
//! status bar's total speeds. Each node has its own counters (tests run
//! several nodes in one process); clones share them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Default)]
pub struct Traffic(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
}

impl Traffic {
    pub fn add_sent(&self, bytes: u64) {
        self.0.sent.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn add_received(&self, bytes: u64) {
        self.0.received.fetch_add(bytes, Ordering::Relaxed);
    }

    /// (received, sent) chunk bytes since the node started.
    pub fn totals(&self) -> (u64, u64) {
        (self.0.received.load(Ordering::Relaxed), self.0.sent.load(Ordering::Relaxed))
    }
}
