//! Peers this node met through mDNS, remembered in its state directory so
//! the next start (a `list`, a restarted worker) asks them at once.
//!
//! Multicast alone is not enough for a node that has just started: an mDNS
//! responder multicasts a record at most once a second (RFC 6762 §6), so a
//! query that comes less than a second after anybody else's goes
//! unanswered until the next one. A remembered peer is only a hint: it must
//! prove the identity it had, is tried once, and is forgotten after
//! [`KNOWN_PEER_TTL`] without being met again.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lanspread_proto::PeerId;
use serde::{Deserialize, Serialize};

/// The file in the state directory.
pub const KNOWN_PEERS_FILE: &str = "known-peers.bin";
/// Peers remembered at most (the most recently met are kept).
pub const MAX_KNOWN_PEERS: usize = 64;
/// A peer not met for this long is forgotten.
pub const KNOWN_PEER_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// A larger file is not read (64 entries take about 4 KB).
const MAX_FILE: u64 = 64 * 1024;
const FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    id: PeerId,
    addr: SocketAddr,
    /// When it was last met, in seconds since the Unix epoch.
    met: u64,
}

#[derive(Serialize, Deserialize)]
struct KnownFile {
    format: u32,
    entries: Vec<Entry>,
}

/// The remembered peers of one state directory.
#[derive(Debug)]
pub struct KnownPeers {
    path: PathBuf,
    entries: Vec<Entry>,
    /// Held while the file is written, so saves in the background never
    /// interleave.
    writing: Arc<Mutex<()>>,
}

impl KnownPeers {
    /// The peers remembered in `state_dir` and met within the TTL of `now`;
    /// a missing, oversized or unreadable file remembers nobody.
    pub fn load(state_dir: &Path, now: SystemTime) -> KnownPeers {
        let path = state_dir.join(KNOWN_PEERS_FILE);
        let read = std::fs::metadata(&path)
            .ok()
            .filter(|m| m.is_file() && m.len() <= MAX_FILE)
            .and_then(|_| std::fs::read(&path).ok())
            .and_then(|bytes| postcard::from_bytes::<KnownFile>(&bytes).ok())
            .filter(|file| file.format == FORMAT);
        let entries = read.map(|f| f.entries).unwrap_or_default();
        let mut known = KnownPeers { path, entries, writing: Arc::default() };
        let oldest = unix_secs(now).saturating_sub(KNOWN_PEER_TTL.as_secs());
        known.entries.retain(|e| e.met >= oldest);
        known.entries.truncate(MAX_KNOWN_PEERS);
        known
    }

    /// Each remembered peer and where it was.
    pub fn peers(&self) -> Vec<(PeerId, SocketAddr)> {
        self.entries.iter().map(|e| (e.id, e.addr)).collect()
    }

    /// Remembers meeting `id` at `addr` (in memory; see [`KnownPeers::save`]).
    pub fn remember(&mut self, id: PeerId, addr: SocketAddr, now: SystemTime) {
        self.entries.retain(|e| e.id != id);
        self.entries.insert(0, Entry { id, addr, met: unix_secs(now) });
        self.entries.truncate(MAX_KNOWN_PEERS);
    }

    /// A job that writes the list as it is now (temp file, fsync, rename),
    /// to run off the async threads.
    pub fn save(&self) -> impl FnOnce() -> io::Result<()> + Send + 'static {
        let file = KnownFile { format: FORMAT, entries: self.entries.clone() };
        let (path, writing) = (self.path.clone(), self.writing.clone());
        move || {
            let bytes = postcard::to_stdvec(&file).map_err(io::Error::other)?;
            let _writing = writing.lock().unwrap_or_else(|p| p.into_inner());
            crate::platform::fs::write_atomic(&path, &bytes)
        }
    }
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_recent_peers_are_kept_and_old_ones_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let mut known = KnownPeers::load(dir.path(), now);
        assert!(known.peers().is_empty());
        let addr = |port| SocketAddr::from(([10, 0, 0, 1], port));
        let long_ago = now - KNOWN_PEER_TTL - Duration::from_secs(60);
        known.remember(PeerId([9; 32]), addr(9), long_ago);
        for i in 0..=MAX_KNOWN_PEERS as u8 {
            known.remember(PeerId([i; 32]), addr(u16::from(i)), now);
        }
        known.remember(PeerId([3; 32]), addr(3333), now);
        known.save()().unwrap();
        let peers = KnownPeers::load(dir.path(), now).peers();
        assert_eq!(peers.len(), MAX_KNOWN_PEERS);
        assert_eq!(peers[0], (PeerId([3; 32]), addr(3333)));
        assert!(!peers.iter().any(|(id, _)| *id == PeerId([0; 32])), "the oldest is dropped");
        assert_eq!(peers.iter().filter(|(id, _)| *id == PeerId([9; 32])).count(), 1, "met again since");

        std::fs::write(dir.path().join(KNOWN_PEERS_FILE), b"\x01garbage").unwrap();
        assert!(KnownPeers::load(dir.path(), now).peers().is_empty());
        let later = now + KNOWN_PEER_TTL + Duration::from_secs(60);
        let mut known = KnownPeers::load(dir.path(), now);
        known.remember(PeerId([1; 32]), addr(1), now);
        known.save()().unwrap();
        assert!(KnownPeers::load(dir.path(), later).peers().is_empty());
    }
}
