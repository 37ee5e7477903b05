//! What the planner keeps per peer, and why it stops using one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lanspread_proto::PeerId;

#[cfg(doc)]
use super::Planner;
use super::{ChunkRef, MAX_BAD_CHUNKS, MAX_PEER_ERRORS};

/// Why a peer is not used any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerDrop {
    Left,
    BadData,
    Errors(String),
    /// A member that owed chunks and sent no byte of them for this long.
    Stalled(Duration),
    /// A member whose request for a chunk it claimed failed.
    Failed(String),
}

impl std::fmt::Display for PeerDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerDrop::Left => write!(f, "left"),
            PeerDrop::BadData => write!(f, "sent {MAX_BAD_CHUNKS} chunks that failed verification"),
            PeerDrop::Errors(e) => write!(f, "failed {MAX_PEER_ERRORS} times ({e})"),
            PeerDrop::Stalled(quiet) => {
                write!(f, "claimed chunks and sent none of their bytes for {:.1} s", quiet.as_secs_f64())
            }
            PeerDrop::Failed(e) => write!(f, "claimed a chunk and did not send it ({e})"),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct PeerState {
    pub(super) in_flight: BTreeSet<ChunkRef>,
    pub(super) in_flight_bytes: u64,
    /// Bytes per second, smoothed.
    pub(super) rate: f64,
    pub(super) bytes_done: u64,
    /// Requests sent to it in all.
    pub(super) asked: u32,
    /// It answered a request somehow (sent chunk bytes, or named another
    /// member to ask): a member that only lost races to faster copies is
    /// not suspect ([`Planner::peer_answered`]).
    pub(super) answered: bool,
    pub(super) bad_chunks: u32,
    pub(super) errors_in_row: u32,
    pub(super) dropped: Option<PeerDrop>,
    /// It owes chunks and has sent nothing for a while
    /// ([`Planner::peer_quiet`]).
    pub(super) silent: bool,
    /// The wanted chunks it holds, one bit per [`Planner::dense`] number;
    /// `None`: all of them.
    pub(super) holds: Option<Vec<u64>>,
    /// Met through the swarm, not one of the download's sources: what it
    /// holds is its own claim.
    pub(super) member: bool,
}

impl PeerState {
    pub(super) fn usable(&self) -> bool {
        self.dropped.is_none()
    }

    /// A member that has not delivered a verified chunk yet.
    pub(super) fn on_probation(&self) -> bool {
        self.member && self.bytes_done == 0
    }

    pub(super) fn holds(&self, dense: u32) -> bool {
        self.holds.as_ref().is_none_or(|bits| bits[(dense / 64) as usize] & (1 << (dense % 64)) != 0)
    }
}

/// Chunks deferred at peers ([`Planner::chunk_elsewhere`]), in two ages.
#[derive(Debug, Default)]
pub(super) struct Deferrals {
    pub(super) recent: BTreeMap<ChunkRef, BTreeSet<PeerId>>,
    /// Deferred before the last [`Planner::retry_deferred`].
    pub(super) older: BTreeMap<ChunkRef, BTreeSet<PeerId>>,
}

impl Deferrals {
    pub(super) fn insert(&mut self, chunk: ChunkRef, peer: PeerId) {
        self.recent.entry(chunk).or_default().insert(peer);
    }

    pub(super) fn contains(&self, chunk: &ChunkRef, peer: PeerId) -> bool {
        [&self.recent, &self.older].iter().any(|map| map.get(chunk).is_some_and(|s| s.contains(&peer)))
    }

    /// Forgets `chunk`: someone new holds it, or it is done.
    pub(super) fn remove(&mut self, chunk: &ChunkRef) {
        self.recent.remove(chunk);
        self.older.remove(chunk);
    }

    pub(super) fn clear(&mut self) {
        self.recent.clear();
        self.older.clear();
    }
}
