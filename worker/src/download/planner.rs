//! Which chunk to ask which peer for, and when. Plain logic: the transfer
//! loop feeds it events with the time and carries out the requests it
//! returns; no sockets, no files, no clock of its own.
//!
//! - **Largest first.** Whole-size chunks are asked for before the short
//!   last chunks of files, so the end of a download is made of small
//!   requests and fast and slow peers run out of work together instead of
//!   one waiting for another's last 4 MiB. Near the end a peer is given
//!   only a chunk it can deliver before all peers together, at their
//!   speeds, would finish what is left (a slow peer takes a short chunk
//!   instead, or waits).
//! - **Pull, not push.** Each peer keeps a window of requests in flight; a
//!   finished request frees room for the next queued chunk, so a fast peer
//!   comes back for more sooner and its share follows its speed.
//! - **Window.** A peer's window is as many bytes as it delivers in
//!   [`WINDOW_TIME`] (always at least one request, [`MIN_WINDOW_CHUNKS`]
//!   chunks while its speed is unknown, at most [`MAX_IN_FLIGHT`] requests),
//!   so small files are pipelined and a slow peer does not hoard chunks that
//!   a faster one would then have to fetch again at the end. All windows
//!   together hold at most [`MAX_IN_FLIGHT_BYTES`].
//! - **Endgame.** When the queue is empty, an idle peer re-requests a chunk
//!   another peer is still working on; the first verified copy wins.
//! - **Faults.** A chunk that fails verification goes back to the queue, to
//!   be fetched from another peer if there is one; its sender is demoted (one
//!   request at a time) and dropped after [`MAX_BAD_CHUNKS`]. A peer that
//!   leaves gives its chunks back. A chunk is tried at most
//!   [`MAX_ATTEMPTS`] times. With no usable peer left the plan fails with
//!   the reason.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use lanspread_proto::PeerId;

/// Requests a peer may have in flight at once.
pub const MAX_IN_FLIGHT: usize = 32;
/// Chunk bytes in flight at once, all peers together: what a download may
/// hold in memory for chunks on their way, whatever the chunk size a file
/// list names or the number of peers (far above a LAN's bandwidth-delay
/// product, so it never slows an honest download).
pub const MAX_IN_FLIGHT_BYTES: u64 = 32 * 1024 * 1024;
/// A peer's window covers this much of its measured throughput.
pub const WINDOW_TIME: Duration = Duration::from_millis(500);
/// Window of a peer whose speed is not measured yet, in chunks.
pub const MIN_WINDOW_CHUNKS: u64 = 2;
/// Verification failures after which a peer is dropped from the download.
pub const MAX_BAD_CHUNKS: u32 = 3;
/// Network failures in a row after which a peer is dropped.
pub const MAX_PEER_ERRORS: u32 = 3;
/// Attempts per chunk before the download fails.
pub const MAX_ATTEMPTS: u32 = 6;
/// Throughput is averaged over about this long.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// A chunk of the manifest: file index and chunk index within the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkRef {
    pub file: u32,
    pub chunk: u32,
}

/// One chunk to fetch, with its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub chunk: ChunkRef,
    pub len: u64,
}

/// Where [`Planner::next_for`] found a chunk.
#[derive(Debug, Clone, Copy)]
enum Next {
    /// At this position in the queue.
    Queued(usize),
    /// In flight with another peer (endgame).
    Endgame(ChunkRef),
}

/// What the transfer loop must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Request { peer: PeerId, chunk: ChunkRef },
}

/// Why a peer is not used any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerDrop {
    Left,
    BadData,
    Errors(String),
}

impl std::fmt::Display for PeerDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerDrop::Left => write!(f, "left"),
            PeerDrop::BadData => write!(f, "sent {MAX_BAD_CHUNKS} chunks that failed verification"),
            PeerDrop::Errors(e) => write!(f, "failed {MAX_PEER_ERRORS} times ({e})"),
        }
    }
}

#[derive(Debug, Clone)]
struct PeerState {
    in_flight: BTreeSet<ChunkRef>,
    in_flight_bytes: u64,
    /// Bytes per second, smoothed.
    rate: f64,
    bytes_done: u64,
    bad_chunks: u32,
    errors_in_row: u32,
    dropped: Option<PeerDrop>,
}

impl PeerState {
    fn usable(&self) -> bool {
        self.dropped.is_none()
    }
}

/// The plan of one download.
#[derive(Debug)]
pub struct Planner {
    sizes: BTreeMap<ChunkRef, u64>,
    queue: VecDeque<ChunkRef>,
    /// Who is fetching each chunk (several in the endgame).
    owners: BTreeMap<ChunkRef, BTreeSet<PeerId>>,
    attempts: BTreeMap<ChunkRef, u32>,
    /// Peers that sent bad data for a chunk are not asked for it again.
    avoid: BTreeMap<ChunkRef, BTreeSet<PeerId>>,
    peers: BTreeMap<PeerId, PeerState>,
    chunk_size: u64,
    remaining: usize,
    /// Bytes of the chunks not verified yet (queued or in flight).
    remaining_bytes: u64,
    failure: Option<String>,
}

impl Planner {
    /// Plans fetching `wanted` from `peers`: largest chunks first, equal
    /// sizes in the order given.
    pub fn new(
        wanted: impl IntoIterator<Item = Wanted>,
        chunk_size: u64,
        peers: impl IntoIterator<Item = PeerId>,
    ) -> Self {
        let mut wanted: Vec<Wanted> = wanted.into_iter().collect();
        wanted.sort_by_key(|w| std::cmp::Reverse(w.len));
        let mut sizes = BTreeMap::new();
        let mut queue = VecDeque::new();
        for w in wanted {
            sizes.insert(w.chunk, w.len);
            queue.push_back(w.chunk);
        }
        let mut planner = Planner {
            remaining: queue.len(),
            remaining_bytes: sizes.values().sum(),
            sizes,
            queue,
            owners: BTreeMap::new(),
            attempts: BTreeMap::new(),
            avoid: BTreeMap::new(),
            peers: BTreeMap::new(),
            chunk_size: chunk_size.max(1),
            failure: None,
        };
        for peer in peers {
            planner.add_peer(peer);
        }
        planner
    }

    pub fn add_peer(&mut self, peer: PeerId) {
        self.peers.entry(peer).or_insert(PeerState {
            in_flight: BTreeSet::new(),
            in_flight_bytes: 0,
            rate: 0.0,
            bytes_done: 0,
            bad_chunks: 0,
            errors_in_row: 0,
            dropped: None,
        });
    }

    /// Everything is verified.
    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// Why the download cannot finish, if it cannot.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Bytes each peer delivered (verified).
    pub fn delivered(&self) -> BTreeMap<PeerId, u64> {
        self.peers.iter().map(|(id, p)| (*id, p.bytes_done)).collect()
    }

    /// Smoothed bytes per second of each usable peer.
    pub fn rates(&self) -> BTreeMap<PeerId, f64> {
        self.peers.iter().filter(|(_, p)| p.usable()).map(|(id, p)| (*id, p.rate)).collect()
    }

    /// Why each dropped peer was dropped.
    pub fn dropped(&self) -> Vec<(PeerId, PeerDrop)> {
        self.peers.iter().filter_map(|(id, p)| p.dropped.clone().map(|d| (*id, d))).collect()
    }

    fn window_bytes(&self, peer: &PeerState) -> u64 {
        if peer.bad_chunks > 0 {
            return 0;
        }
        if peer.rate == 0.0 {
            return MIN_WINDOW_CHUNKS * self.chunk_size;
        }
        (peer.rate * WINDOW_TIME.as_secs_f64()) as u64
    }

    /// Whether `peer` may take one more request of `len` bytes.
    fn has_room(&self, peer: &PeerState, len: u64) -> bool {
        let all: u64 = self.peers.values().map(|p| p.in_flight_bytes).sum();
        peer.usable()
            && peer.in_flight.len() < MAX_IN_FLIGHT
            && (peer.in_flight.is_empty() || peer.in_flight_bytes + len <= self.window_bytes(peer))
            && (all == 0 || all + len <= MAX_IN_FLIGHT_BYTES)
    }

    /// The requests to send now.
    pub fn poll(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.failure.is_some() || self.is_done() {
            return actions;
        }
        // Fastest peers first, so the queue head goes where it returns soonest.
        let mut order: Vec<PeerId> = self.peers.keys().copied().collect();
        order.sort_by(|a, b| self.peers[b].rate.total_cmp(&self.peers[a].rate));
        self.assign_all(&order, true, &mut actions);
        // The end-of-download rule must never leave work undone: with
        // nothing in flight, any peer allowed a queued chunk takes it.
        if actions.is_empty() && !self.queue.is_empty() && self.peers.values().all(|p| p.in_flight.is_empty()) {
            self.assign_all(&order, false, &mut actions);
        }
        self.check_stuck();
        actions
    }

    /// Gives the peers in `order` what [`Planner::next_for`] finds while
    /// they have room.
    fn assign_all(&mut self, order: &[PeerId], near_end_rule: bool, actions: &mut Vec<Action>) {
        loop {
            let mut progressed = false;
            for &peer in order {
                if !self.peers[&peer].usable() {
                    continue;
                }
                let Some(next) = self.next_for(peer, near_end_rule) else { continue };
                let chunk = match next {
                    Next::Queued(pos) => self.queue[pos],
                    Next::Endgame(chunk) => chunk,
                };
                if !self.has_room(&self.peers[&peer], self.sizes[&chunk]) {
                    continue;
                }
                if let Next::Queued(pos) = next {
                    self.queue.remove(pos);
                }
                self.assign(peer, chunk);
                actions.push(Action::Request { peer, chunk });
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
    }

    /// Whether `peer` may be asked for `chunk`: it has not sent bad bytes
    /// for it.
    fn allowed(&self, peer: PeerId, chunk: &ChunkRef) -> bool {
        !self.avoid.get(chunk).is_some_and(|s| s.contains(&peer))
    }

    /// The next chunk for `peer`: from the queue (with `near_end_rule`, only
    /// one it delivers in time, see [`Planner::finishes_in_time`]), else
    /// (endgame, only when `peer` is idle) a chunk another peer is still
    /// fetching.
    fn next_for(&self, peer: PeerId, near_end_rule: bool) -> Option<Next> {
        if !self.queue.is_empty() {
            return self
                .queue
                .iter()
                .position(|c| self.allowed(peer, c) && (!near_end_rule || self.finishes_in_time(peer, c)))
                .map(Next::Queued);
        }
        if !self.peers[&peer].in_flight.is_empty() {
            return None;
        }
        self.owners
            .iter()
            .find(|(c, owners)| !owners.contains(&peer) && owners.len() < 2 && self.allowed(peer, c))
            .map(|(c, _)| Next::Endgame(*c))
    }

    /// Whether `peer` should take `chunk`: it would deliver it (after what
    /// it has in flight) before all usable peers together finish what is
    /// left, or no other peer that may be asked for it would deliver it
    /// sooner. True while speeds are unknown or `peer` is the only one.
    fn finishes_in_time(&self, peer: PeerId, chunk: &ChunkRef) -> bool {
        let len = self.sizes[chunk];
        let me = &self.peers[&peer];
        if me.rate == 0.0 {
            return true;
        }
        let finish = |p: &PeerState| (p.in_flight_bytes + len) as f64 / p.rate;
        let mine = finish(me);
        let (mut others, mut sooner) = (0.0, false);
        for (id, other) in self.peers.iter().filter(|(id, p)| **id != peer && p.usable() && p.rate > 0.0) {
            others += other.rate;
            sooner |= self.allowed(*id, chunk) && finish(other) < mine;
        }
        others == 0.0 || !sooner || mine <= self.remaining_bytes as f64 / (others + me.rate)
    }

    fn assign(&mut self, peer: PeerId, chunk: ChunkRef) {
        let len = self.sizes[&chunk];
        let state = self.peers.get_mut(&peer).expect("assigned peers exist");
        state.in_flight.insert(chunk);
        state.in_flight_bytes += len;
        self.owners.entry(chunk).or_default().insert(peer);
        *self.attempts.entry(chunk).or_default() += 1;
    }

    fn release(&mut self, peer: PeerId, chunk: ChunkRef) -> bool {
        let len = self.sizes.get(&chunk).copied().unwrap_or(0);
        let Some(state) = self.peers.get_mut(&peer) else { return false };
        if !state.in_flight.remove(&chunk) {
            return false;
        }
        state.in_flight_bytes -= len;
        if let Some(owners) = self.owners.get_mut(&chunk) {
            owners.remove(&peer);
        }
        true
    }

    /// Puts `chunk` back at the front of the queue unless it is done or
    /// still being fetched by someone else.
    fn requeue(&mut self, chunk: ChunkRef) {
        let fetching = self.owners.get(&chunk).is_some_and(|o| !o.is_empty());
        if !self.sizes.contains_key(&chunk) || fetching || self.queue.contains(&chunk) {
            return;
        }
        self.owners.remove(&chunk);
        if self.attempts.get(&chunk).copied().unwrap_or(0) >= MAX_ATTEMPTS {
            self.failure =
                Some(format!("chunk {} of file {} failed {MAX_ATTEMPTS} times; giving up", chunk.chunk, chunk.file));
            return;
        }
        self.queue.push_front(chunk);
    }

    /// `peer` delivered `chunk` and it verified; `elapsed` is the request's
    /// time. Returns false if the chunk was already done (an endgame copy).
    pub fn chunk_verified(&mut self, peer: PeerId, chunk: ChunkRef, elapsed: Duration) -> bool {
        let released = self.release(peer, chunk);
        let Some(len) = self.sizes.remove(&chunk) else { return false };
        self.remaining_bytes -= len;
        if let Some(state) = self.peers.get_mut(&peer) {
            state.bytes_done += len;
            state.errors_in_row = 0;
            let sample = len as f64 / elapsed.as_secs_f64().max(1e-4);
            // Several requests overlap, so a request's time understates the
            // rate; weight by how many were in flight with it.
            let concurrent = (state.in_flight.len() + usize::from(released)) as f64;
            let sample = sample * concurrent.max(1.0);
            let weight = (elapsed.as_secs_f64() / RATE_WINDOW.as_secs_f64()).clamp(0.05, 1.0);
            state.rate = if state.rate == 0.0 { sample } else { state.rate + (sample - state.rate) * weight };
        }
        // Other owners (endgame) keep fetching; their answers are ignored.
        self.owners.remove(&chunk);
        self.queue.retain(|c| *c != chunk);
        self.avoid.remove(&chunk);
        self.remaining -= 1;
        true
    }

    /// `peer` sent bytes for `chunk` that do not match its hash.
    pub fn chunk_corrupt(&mut self, peer: PeerId, chunk: ChunkRef) {
        if !self.release(peer, chunk) {
            return;
        }
        self.avoid.entry(chunk).or_default().insert(peer);
        if let Some(state) = self.peers.get_mut(&peer) {
            state.bad_chunks += 1;
            state.rate /= 2.0;
            if state.bad_chunks >= MAX_BAD_CHUNKS {
                self.drop_peer(peer, PeerDrop::BadData);
            }
        }
        // With nobody else to ask, the same peer may try again.
        let others = self.peers.iter().any(|(id, p)| p.usable() && !self.avoid[&chunk].contains(id));
        if !others {
            self.avoid.remove(&chunk);
        }
        self.requeue(chunk);
        self.check_stuck();
    }

    /// The request for `chunk` to `peer` failed (stream reset, timeout, …).
    pub fn chunk_failed(&mut self, peer: PeerId, chunk: ChunkRef, error: &str) {
        if !self.release(peer, chunk) {
            return;
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.errors_in_row += 1;
            if state.errors_in_row >= MAX_PEER_ERRORS {
                self.drop_peer(peer, PeerDrop::Errors(error.to_owned()));
            }
        }
        self.requeue(chunk);
        self.check_stuck();
    }

    /// `peer` is gone (connection lost, left the network).
    pub fn peer_lost(&mut self, peer: PeerId) {
        self.drop_peer(peer, PeerDrop::Left);
        self.check_stuck();
    }

    fn drop_peer(&mut self, peer: PeerId, why: PeerDrop) {
        let Some(state) = self.peers.get_mut(&peer) else { return };
        if state.dropped.is_some() {
            return;
        }
        state.dropped = Some(why);
        let chunks: Vec<ChunkRef> = state.in_flight.iter().copied().collect();
        for chunk in chunks {
            self.release(peer, chunk);
            self.requeue(chunk);
        }
    }

    fn check_stuck(&mut self) {
        if self.failure.is_some() || self.is_done() {
            return;
        }
        if !self.peers.values().any(PeerState::usable) {
            let reasons: Vec<String> =
                self.dropped().into_iter().map(|(id, why)| format!("{} {why}", id.short())).collect();
            self.failure = Some(if reasons.is_empty() {
                "no peer has this game".to_owned()
            } else {
                format!("no usable peer left: {}", reasons.join("; "))
            });
        }
    }
}

/// The first characters of a peer id, for messages.
#[cfg(test)]
mod tests;
