//! Chunk bytes one node has sent to and received from peers, for the
//! status bar's total speeds, and the limits they are held to. Each node
//! has its own (tests run several nodes in one process); clones share them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::rate::{RateLimit, TransferLimits};

#[derive(Debug, Clone, Default)]
pub struct Traffic(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    download: RateLimit,
    upload: RateLimit,
    /// The per-peer upload rate each connection's own limit follows.
    peer_upload_rate: Arc<AtomicU64>,
}

impl Traffic {
    /// Holds transfers to `limits` from now on (those under way too).
    pub fn set_limits(&self, limits: TransferLimits) {
        self.0.download.set(limits.download);
        self.0.upload.set(limits.upload);
        self.0.peer_upload_rate.store(limits.upload_per_peer, Ordering::Relaxed);
    }

    /// The download limit, shared by every download.
    pub fn download_limit(&self) -> &RateLimit {
        &self.0.download
    }

    /// The upload limit, shared by every peer served.
    pub fn upload_limit(&self) -> &RateLimit {
        &self.0.upload
    }

    /// A new upload limit for one peer, following the per-peer setting.
    pub fn peer_upload_limit(&self) -> RateLimit {
        RateLimit::following(self.0.peer_upload_rate.clone())
    }

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
