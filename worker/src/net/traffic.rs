//! Chunk bytes one node has sent to and received from peers, for the
//! status bar's total speeds, each game's upload and the headless seeder's
//! log of who got what, and the limits they are held to. Each node has its
//! own (tests run several nodes in one process); clones share them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
    uploads: Mutex<Uploads>,
}

/// Chunk bytes sent, by game since the start and by game and address since
/// they were last taken; at most [`MAX_UPLOAD_KEYS`] of each (the rest
/// count only in the totals).
#[derive(Debug, Default)]
struct Uploads {
    by_game: BTreeMap<String, u64>,
    by_peer: BTreeMap<(String, IpAddr), u64>,
}

/// Games, and (game, address) pairs, whose uploads are told apart.
pub const MAX_UPLOAD_KEYS: usize = 1024;

/// Adds `bytes` to `key`'s count, unless the map is full and `key` new.
fn count<K: Ord>(map: &mut BTreeMap<K, u64>, key: K, bytes: u64) {
    let full = map.len() >= MAX_UPLOAD_KEYS;
    if let Some(n) = map.get_mut(&key) {
        *n += bytes;
    } else if !full {
        map.insert(key, bytes);
    }
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

    /// `bytes` of a chunk of `game` were sent to `to`.
    pub fn add_sent(&self, game: &str, to: IpAddr, bytes: u64) {
        self.0.sent.fetch_add(bytes, Ordering::Relaxed);
        let mut uploads = self.0.uploads.lock().unwrap_or_else(|p| p.into_inner());
        count(&mut uploads.by_game, game.to_owned(), bytes);
        count(&mut uploads.by_peer, (game.to_owned(), to), bytes);
    }

    /// Chunk bytes sent of each game since the node started.
    pub fn sent_by_game(&self) -> BTreeMap<String, u64> {
        self.0.uploads.lock().unwrap_or_else(|p| p.into_inner()).by_game.clone()
    }

    /// Chunk bytes sent of each game to each address since the last call.
    pub fn take_sent_by_peer(&self) -> BTreeMap<(String, IpAddr), u64> {
        std::mem::take(&mut self.0.uploads.lock().unwrap_or_else(|p| p.into_inner()).by_peer)
    }

    pub fn add_received(&self, bytes: u64) {
        self.0.received.fetch_add(bytes, Ordering::Relaxed);
    }

    /// (received, sent) chunk bytes since the node started.
    pub fn totals(&self) -> (u64, u64) {
        (self.0.received.load(Ordering::Relaxed), self.0.sent.load(Ordering::Relaxed))
    }
}
