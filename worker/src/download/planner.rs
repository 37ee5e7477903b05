//! Which chunk to ask which peer for, and when. Plain logic: the transfer
//! loop feeds it events with the time and carries out the requests it
//! returns; no sockets, no files, no clock of its own.
//!
//! - **Only what a peer holds.** A peer fetching the same file list (a
//!   swarm member, [`Planner::add_partial_peer`]) is asked only for chunks
//!   it said it holds ([`Planner::peer_has`]).
//! - **Rarest first.** Of the chunks a peer may be asked for, the one the
//!   fewest usable peers hold goes first, so a seeder hands out chunks
//!   nobody else has yet and the downloaders trade the rest among
//!   themselves; a seeder is not asked for chunks a member holds unless it
//!   is much faster than every member. Ties go in queue order, which each downloader draws for
//!   itself ([`in_own_order`]), so downloaders ask a seeder for different
//!   chunks.
//! - **Largest first.** Whole-size chunks are asked for before the short
//!   last chunks of files, so the end of a download is made of small
//!   requests and fast and slow peers run out of work together instead of
//!   one waiting for another's last whole chunk. Near the end a peer is given
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
//! - **Claims are cheap, deliveries count.** A swarm member is on
//!   probation until it delivers a verified chunk: one request at a time,
//!   no endgame copies. A member that owes chunks and sends no byte of them
//!   for [`Planner::stall_limit`] (a second while unproven, longer only as
//!   its own delivered rate makes a chunk take longer) has stalled, and a
//!   member whose request fails has failed: either is dropped from the
//!   download and its requests go elsewhere at once ([`Action::Cancel`]).
//!   Members claim chunks in a line of text; only delivered bytes show
//!   they hold them.
//! - **Endgame.** When the queue is empty, an idle peer that has delivered
//!   (or holds the whole game) re-requests a chunk another peer is still
//!   working on, if it would deliver it well sooner (or that peer has gone
//!   silent, [`Planner::peer_quiet`], or is a member on probation); the
//!   first verified copy wins and the other request is cancelled
//!   ([`Action::Cancel`]).
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
/// A second copy of a chunk in flight is asked for only if it would arrive
/// this many times sooner than the first.
const ENDGAME_MARGIN: f64 = 2.0;
/// Throughput is averaged over about this long.
const RATE_WINDOW: Duration = Duration::from_secs(3);
/// A peer that owes chunks and has sent no byte of them for this long is
/// silent: it gets nothing new, and its chunks may be copied in the endgame.
/// A live peer sends a chunk's bytes continuously; a seeder may hold a
/// request in its upload queue longer, which only costs an endgame copy.
pub const SILENT_AFTER: Duration = Duration::from_secs(1);
/// A proven member stalls after the time it takes, at its own delivered
/// rate, to send this many chunks with no byte sent ...
const STALL_CHUNKS: f64 = 4.0;
/// ... but never later than this: a request waits at most
/// [`crate::net::upload::SLOT_WAIT`] for an honest peer's upload slot.
pub const MAX_STALL_LIMIT: Duration = Duration::from_secs(6);

pub use crate::swarm::chunks::ChunkRef;
pub use order::{in_own_order, in_unpack_order};
pub use peer::PeerDrop;
use peer::{Deferrals, PeerState};

mod order;
mod peer;

/// One chunk to fetch, with its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub chunk: ChunkRef,
    pub len: u64,
}

/// What [`Planner::spare_members`] found for one peer.
struct SpareMembers {
    /// Usable peers that hold every chunk.
    whole_holders: u32,
    may_serve_what_members_hold: bool,
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
    Request {
        peer: PeerId,
        chunk: ChunkRef,
    },
    /// Stop fetching `chunk` from `peer`: another copy was verified.
    Cancel {
        peer: PeerId,
        chunk: ChunkRef,
    },
}

/// The plan of one download.
#[derive(Debug)]
pub struct Planner {
    sizes: BTreeMap<ChunkRef, u64>,
    /// Each wanted chunk's number in the holding bits.
    dense: BTreeMap<ChunkRef, u32>,
    /// How many usable peers hold each wanted chunk, by dense number.
    holders: Vec<u32>,
    /// Requests to cancel, handed out by the next [`Planner::poll`].
    cancels: Vec<Action>,
    queue: VecDeque<ChunkRef>,
    /// Who is fetching each chunk (several in the endgame).
    owners: BTreeMap<ChunkRef, BTreeSet<PeerId>>,
    attempts: BTreeMap<ChunkRef, u32>,
    /// Peers that sent bad data for a chunk are not asked for it again.
    avoid: BTreeMap<ChunkRef, BTreeSet<PeerId>>,
    /// Peers that said another member is receiving a chunk from them right
    /// now ([`Planner::chunk_elsewhere`]): not asked for it again until
    /// someone else holds it, or [`Planner::retry_deferred`].
    deferred: Deferrals,
    /// Some queued chunk is held by no member, as of the last poll.
    only_whole_holders_have_some: bool,
    peers: BTreeMap<PeerId, PeerState>,
    /// Dropped peers, in the order they were dropped.
    drop_order: Vec<PeerId>,
    chunk_size: u64,
    remaining: usize,
    /// Bytes of the chunks not verified yet (queued or in flight).
    remaining_bytes: u64,
    failure: Option<String>,
}

impl Planner {
    /// Plans fetching `wanted` from `peers`, which hold all of it: largest
    /// chunks first, equal sizes in the order given (see [`in_own_order`]).
    pub fn new(
        wanted: impl IntoIterator<Item = Wanted>,
        chunk_size: u64,
        peers: impl IntoIterator<Item = PeerId>,
    ) -> Self {
        let mut wanted: Vec<Wanted> = wanted.into_iter().collect();
        wanted.sort_by_key(|w| std::cmp::Reverse(w.len));
        Planner::in_order(wanted, chunk_size, peers)
    }

    /// Plans fetching `wanted` from `peers` in the order given, not largest
    /// first: an install that unpacks as the bytes come wants them in
    /// archive order. (Rarer chunks still go first in a swarm.)
    pub fn in_order(
        wanted: impl IntoIterator<Item = Wanted>,
        chunk_size: u64,
        peers: impl IntoIterator<Item = PeerId>,
    ) -> Self {
        let mut sizes = BTreeMap::new();
        let mut dense = BTreeMap::new();
        let mut queue = VecDeque::new();
        for w in wanted {
            if sizes.insert(w.chunk, w.len).is_none() {
                dense.insert(w.chunk, dense.len() as u32);
                queue.push_back(w.chunk);
            }
        }
        let mut planner = Planner {
            remaining: queue.len(),
            remaining_bytes: sizes.values().sum(),
            holders: vec![0; dense.len()],
            dense,
            cancels: Vec::new(),
            sizes,
            queue,
            owners: BTreeMap::new(),
            attempts: BTreeMap::new(),
            avoid: BTreeMap::new(),
            deferred: Deferrals::default(),
            only_whole_holders_have_some: true,
            peers: BTreeMap::new(),
            drop_order: Vec::new(),
            chunk_size: chunk_size.max(1),
            failure: None,
        };
        for peer in peers {
            planner.add_peer(peer);
        }
        planner
    }

    /// Adds a peer that holds every chunk.
    pub fn add_peer(&mut self, peer: PeerId) {
        if self.insert_peer(peer, None) {
            self.holders.iter_mut().for_each(|n| *n += 1);
        }
    }

    /// Adds a peer that holds nothing yet: it is asked only for what
    /// [`Planner::peer_has`] says it holds.
    pub fn add_partial_peer(&mut self, peer: PeerId) {
        self.insert_peer(peer, Some(vec![0; self.dense.len().div_ceil(64)]));
    }

    fn insert_peer(&mut self, peer: PeerId, holds: Option<Vec<u64>>) -> bool {
        let member = holds.is_some();
        if self.peers.contains_key(&peer) {
            return false;
        }
        self.peers.insert(
            peer,
            PeerState {
                in_flight: BTreeSet::new(),
                in_flight_bytes: 0,
                rate: 0.0,
                bytes_done: 0,
                asked: 0,
                answered: false,
                bad_chunks: 0,
                errors_in_row: 0,
                dropped: None,
                silent: false,
                holds,
                member,
            },
        );
        true
    }

    /// `peer` now holds `chunk` (one it may be asked for). Chunks not
    /// wanted, or done, are ignored.
    pub fn peer_has(&mut self, peer: PeerId, chunk: ChunkRef) {
        let Some(&dense) = self.dense.get(&chunk) else { return };
        let Some(state) = self.peers.get_mut(&peer).filter(|p| p.usable()) else { return };
        let Some(bits) = &mut state.holds else { return };
        let (word, bit) = ((dense / 64) as usize, 1u64 << (dense % 64));
        if bits[word] & bit == 0 {
            bits[word] |= bit;
            self.holders[dense as usize] += 1;
            // A new holder to ask: whoever sent us elsewhere was right.
            self.deferred.remove(&chunk);
        }
    }

    /// `peer` now holds every chunk.
    pub fn peer_has_all(&mut self, peer: PeerId) {
        let Some(state) = self.peers.get_mut(&peer).filter(|p| p.usable()) else { return };
        let Some(bits) = state.holds.take() else { return };
        for (dense, holders) in self.holders.iter_mut().enumerate() {
            if bits[dense / 64] & (1 << (dense % 64)) == 0 {
                *holders += 1;
            }
        }
    }

    /// Whether `peer` is known and still fetching the file list itself.
    pub fn is_partial(&self, peer: PeerId) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.holds.is_some())
    }

    /// Whether `peer` was met through the swarm (not a first source).
    pub fn is_member(&self, peer: PeerId) -> bool {
        self.peers.get(&peer).is_some_and(|p| p.member)
    }

    /// Whether `peer` was added (used or dropped).
    pub fn knows(&self, peer: PeerId) -> bool {
        self.peers.contains_key(&peer)
    }

    /// Whether requests to `peer` are in flight.
    pub fn owes(&self, peer: PeerId) -> bool {
        self.peers.get(&peer).is_some_and(|p| !p.in_flight.is_empty())
    }

    /// Requests in flight, all peers together.
    pub fn in_flight(&self) -> usize {
        self.peers.values().map(|p| p.in_flight.len()).sum()
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

    /// Members that were asked for chunks and answered none of them (no
    /// byte, no other answer), and were not dropped for it: at the end of a
    /// download, they are as suspect as the dropped ones.
    pub fn never_delivered(&self) -> Vec<PeerId> {
        let suspect = |p: &PeerState| p.member && p.asked > 0 && p.bytes_done == 0 && !p.answered;
        let undropped = |p: &PeerState| p.dropped.as_ref().is_none_or(|d| *d == PeerDrop::Left);
        self.peers.iter().filter(|(_, p)| suspect(p) && undropped(p)).map(|(id, _)| *id).collect()
    }

    /// Why each dropped peer was dropped, in the order they were.
    pub fn dropped(&self) -> Vec<(PeerId, PeerDrop)> {
        self.dropped_since(0).map(|(id, why)| (id, why.clone())).collect()
    }

    /// The peers dropped after the first `skip`, with why.
    pub fn dropped_since(&self, skip: usize) -> impl Iterator<Item = (PeerId, &PeerDrop)> {
        self.drop_order.iter().skip(skip).filter_map(|id| Some((*id, self.peers[id].dropped.as_ref()?)))
    }

    /// Bytes `peer` may have in flight beyond its first request.
    fn window_bytes(&self, peer: &PeerState) -> u64 {
        if peer.bad_chunks > 0 || peer.on_probation() {
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
            && (!peer.silent || peer.in_flight.is_empty())
            && peer.in_flight.len() < MAX_IN_FLIGHT
            && (peer.in_flight.is_empty() || peer.in_flight_bytes + len <= self.window_bytes(peer))
            && (all == 0 || all + len <= MAX_IN_FLIGHT_BYTES)
    }

    /// The requests to send now.
    pub fn poll(&mut self) -> Vec<Action> {
        let mut actions = std::mem::take(&mut self.cancels);
        if self.failure.is_some() || self.is_done() {
            return actions;
        }
        let whole_holders = self.peers.values().filter(|p| p.usable() && p.holds.is_none()).count() as u32;
        let members = self.peers.values().any(|p| p.usable() && p.holds.is_some());
        self.only_whole_holders_have_some = members && self.queue.iter().any(|c| self.holders_of(c) <= whole_holders);
        // Fastest peers first, so the queue head goes where it returns soonest.
        let mut order: Vec<PeerId> = self.peers.keys().copied().collect();
        order.sort_by(|a, b| self.peers[b].rate.total_cmp(&self.peers[a].rate));
        self.assign_all(&order, true, &mut actions);
        // The end-of-download rule must never leave work undone: with
        // nothing in flight, any peer allowed a queued chunk takes it.
        if !actions.iter().any(|a| matches!(a, Action::Request { .. }))
            && !self.queue.is_empty()
            && self.peers.values().all(|p| p.in_flight.is_empty())
        {
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

    /// Whether `peer` may be asked for `chunk`: it holds it and has not
    /// sent bad bytes for it.
    fn allowed(&self, peer: PeerId, chunk: &ChunkRef) -> bool {
        let holds = self.dense.get(chunk).is_some_and(|d| self.peers.get(&peer).is_some_and(|p| p.holds(*d)));
        let avoided = self.avoid.get(chunk).is_some_and(|s| s.contains(&peer));
        holds && !avoided && !self.deferred.contains(chunk, peer)
    }

    fn holders_of(&self, chunk: &ChunkRef) -> u32 {
        self.dense.get(chunk).map_or(0, |d| self.holders[*d as usize])
    }

    /// The next chunk for `peer`: from the queue (with `near_end_rule`, only
    /// one it delivers in time, see [`Planner::finishes_in_time`]), else
    /// (endgame, only when `peer` is idle) a chunk another peer is still
    /// fetching.
    fn next_for(&self, peer: PeerId, near_end_rule: bool) -> Option<Next> {
        if !self.queue.is_empty() {
            // Rarest first; the first in the queue among equals. Nothing is
            // rarer than a chunk only this peer holds.
            let spare_members = self.spare_members(peer);
            // No chunk has fewer holders than the peers holding every chunk.
            let fewest_possible = spare_members.whole_holders.max(1);
            let mut best: Option<(u32, usize)> = None;
            for (pos, c) in self.queue.iter().enumerate() {
                if !self.allowed(peer, c) || (near_end_rule && !self.finishes_in_time(peer, c)) {
                    continue;
                }
                let holders = self.holders_of(c);
                if holders > spare_members.whole_holders
                    && !spare_members.may_serve_what_members_hold
                    && self.a_member_may_serve(c)
                {
                    continue;
                }
                if best.is_none_or(|(fewest, _)| holders < fewest) {
                    best = Some((holders, pos));
                    if holders <= fewest_possible {
                        break;
                    }
                }
            }
            return best.map(|(_, pos)| Next::Queued(pos));
        }
        let me = &self.peers[&peer];
        if !me.in_flight.is_empty() || me.on_probation() {
            return None;
        }
        // Owners that may be lying or gone do not count towards the two
        // copies: an idle source never waits on them.
        let counted = |owner: &PeerId| self.peers.get(owner).is_some_and(|o| !o.silent && !o.on_probation());
        self.owners
            .iter()
            .find(|(c, owners)| {
                !owners.contains(&peer)
                    && owners.iter().filter(|o| counted(o)).count() < 2
                    && self.allowed(peer, c)
                    && self.much_sooner(peer, c, owners)
            })
            .map(|(c, _)| Next::Endgame(*c))
    }

    /// Whether `peer` may be asked for chunks members hold: it is a member
    /// itself, or it holds the whole game and is much faster than every
    /// member (or not measured yet), or no chunk left to queue is one only
    /// whole holders have. A seeder's uplink is what a swarm waits on, so
    /// it is kept for chunks no member holds yet; once the swarm holds
    /// everything, the seeder has nothing new to hand out and its uplink
    /// helps the members finish.
    fn spare_members(&self, peer: PeerId) -> SpareMembers {
        let me = &self.peers[&peer];
        let usable = || self.peers.values().filter(|p| p.usable());
        let whole_holders = usable().filter(|p| p.holds.is_none()).count() as u32;
        let fastest_member = usable().filter(|p| p.holds.is_some()).map(|p| p.rate).fold(0.0, f64::max);
        // An unmeasured seeder is tried, so it gets a speed.
        let may_serve_what_members_hold = me.holds.is_some()
            || me.rate == 0.0
            || me.rate >= ENDGAME_MARGIN * fastest_member
            || !self.only_whole_holders_have_some;
        SpareMembers { whole_holders, may_serve_what_members_hold }
    }

    /// Whether some usable member holds `chunk` and may be asked for it.
    fn a_member_may_serve(&self, chunk: &ChunkRef) -> bool {
        self.peers.iter().any(|(id, p)| p.usable() && p.holds.is_some() && self.allowed(*id, chunk))
    }

    /// Whether `peer`, idle, would deliver `chunk` in well under the time
    /// its `owners` still need (or either speed is unknown): only then is it
    /// worth a second copy, which in a swarm takes a shared uplink's time.
    fn much_sooner(&self, peer: PeerId, chunk: &ChunkRef, owners: &BTreeSet<PeerId>) -> bool {
        let me = &self.peers[&peer];
        let mine = self.sizes[chunk] as f64 / me.rate;
        owners.iter().filter_map(|o| self.peers.get(o)).all(|owner| {
            let theirs = owner.in_flight_bytes as f64 / owner.rate;
            owner.silent
                || owner.on_probation()
                || me.rate == 0.0
                || owner.rate == 0.0
                || mine * ENDGAME_MARGIN < theirs
        })
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
        state.asked += 1;
        // Only attempts at peers holding the whole game count towards giving
        // up: members cost nothing to make up, and one that fails a chunk is
        // not asked for it again (see `chunk_failed`).
        let whole = state.holds.is_none();
        self.owners.entry(chunk).or_default().insert(peer);
        if whole {
            *self.attempts.entry(chunk).or_default() += 1;
        }
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
        if !self.sizes.contains_key(&chunk) {
            return false;
        }
        // Other owners (endgame) stop: their copies are not needed.
        for other in self.owners.remove(&chunk).unwrap_or_default() {
            if self.release(other, chunk) {
                self.cancels.push(Action::Cancel { peer: other, chunk });
            }
        }
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
        self.queue.retain(|c| *c != chunk);
        self.avoid.remove(&chunk);
        self.deferred.remove(&chunk);
        self.remaining -= 1;
        true
    }

    /// `peer` is sending `chunk` to another member right now and asks us to
    /// get it from there: asked again only once someone else holds it (or
    /// [`Planner::retry_deferred`]). Not a fault, not an attempt.
    pub fn chunk_elsewhere(&mut self, peer: PeerId, chunk: ChunkRef) {
        if !self.release(peer, chunk) {
            return;
        }
        if self.peers.get(&peer).is_some_and(|p| p.holds.is_none())
            && let Some(attempts) = self.attempts.get_mut(&chunk)
        {
            *attempts = attempts.saturating_sub(1);
        }
        self.deferred.insert(chunk, peer);
        self.peer_answered(peer);
        self.requeue(chunk);
    }

    /// `peer` sent bytes of a chunk (or another answer): it is not a
    /// member that takes requests and never answers.
    pub fn peer_answered(&mut self, peer: PeerId) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.answered = true;
        }
    }

    /// Forgets the [`Planner::chunk_elsewhere`]s older than the previous
    /// call: the member that was to get the chunk may never say it has (it
    /// left, or serves nobody). Called every period, a chunk stays deferred
    /// for one to two periods, never for a moment: asked again at once, the
    /// peer would send a copy the swarm already has on its way.
    pub fn retry_deferred(&mut self) {
        self.deferred.older = std::mem::take(&mut self.deferred.recent);
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
                self.drop_peer(peer, PeerDrop::BadData, false);
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
            if state.member {
                // It said it holds the chunk and did not send it: asking it
                // again would only wait on it again.
                self.drop_peer(peer, PeerDrop::Failed(error.to_owned()), false);
            } else {
                state.errors_in_row += 1;
                if state.errors_in_row >= MAX_PEER_ERRORS {
                    self.drop_peer(peer, PeerDrop::Errors(error.to_owned()), false);
                }
            }
        }
        self.requeue(chunk);
        self.check_stuck();
    }

    /// `peer` broke the protocol (a false chunk list, a broken stream): it
    /// is not used any more.
    pub fn peer_misbehaved(&mut self, peer: PeerId, why: String) {
        self.drop_peer(peer, PeerDrop::Errors(why), false);
        self.check_stuck();
    }

    /// `peer` has sent no chunk byte for `quiet` while it owed chunks (zero:
    /// it owes none, or was just heard from). After [`SILENT_AFTER`] it is
    /// silent: a peer may be gone without a word, which QUIC notices only at
    /// its idle timeout, so it is given nothing more meanwhile, and in the
    /// endgame its chunks go to any idle peer that holds them, whatever its
    /// speed. A member quiet past its [`Planner::stall_limit`] is dropped.
    pub fn peer_quiet(&mut self, peer: PeerId, quiet: Duration) {
        let Some(limit) = self.stall_limit(peer) else { return };
        let Some(state) = self.peers.get_mut(&peer) else { return };
        // A member that is done still owes what it is sending: silent, its
        // chunks may be copied.
        state.silent = quiet >= SILENT_AFTER;
        if state.usable() && state.member && quiet >= limit {
            self.drop_peer(peer, PeerDrop::Stalled(quiet), false);
            self.check_stuck();
        }
    }

    /// How long `peer`, a member, may owe chunks without sending a byte
    /// before it has stalled: [`SILENT_AFTER`] until it has delivered, then
    /// the time four chunks take at its own delivered rate
    /// (between [`SILENT_AFTER`] and [`MAX_STALL_LIMIT`]). `None` for a peer
    /// not known.
    pub fn stall_limit(&self, peer: PeerId) -> Option<Duration> {
        let state = self.peers.get(&peer)?;
        if state.on_probation() || state.rate <= 0.0 {
            return Some(SILENT_AFTER);
        }
        let secs = STALL_CHUNKS * self.chunk_size as f64 / state.rate;
        Some(Duration::from_secs_f64(secs.clamp(SILENT_AFTER.as_secs_f64(), MAX_STALL_LIMIT.as_secs_f64())))
    }

    /// `peer` is gone (connection lost, left the network).
    pub fn peer_lost(&mut self, peer: PeerId) {
        self.drop_peer(peer, PeerDrop::Left, false);
        self.check_stuck();
    }

    /// `peer`, a member, finished its own download and serves no more: it
    /// is asked for nothing new, but the chunks it is sending still count
    /// (it sends them before it goes), so they are not fetched twice.
    pub fn peer_done(&mut self, peer: PeerId) {
        self.drop_peer(peer, PeerDrop::Left, true);
    }

    /// Stops using `peer`; with `keep_in_flight`, what it is sending still
    /// counts (it fails, or arrives, on its own).
    fn drop_peer(&mut self, peer: PeerId, why: PeerDrop, keep_in_flight: bool) {
        let Some(state) = self.peers.get_mut(&peer) else { return };
        if state.dropped.is_none() {
            state.dropped = Some(why);
            self.drop_order.push(peer);
            self.deferred.clear();
            for (dense, holders) in self.holders.iter_mut().enumerate() {
                if state.holds(dense as u32) {
                    *holders -= 1;
                }
            }
        }
        if keep_in_flight {
            return;
        }
        let chunks: Vec<ChunkRef> = state.in_flight.iter().copied().collect();
        for chunk in chunks {
            // Its requests may still be waiting on it: they are stopped, not
            // left to their timeouts.
            if self.release(peer, chunk) {
                self.cancels.push(Action::Cancel { peer, chunk });
            }
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
mod swarm_tests;
#[cfg(test)]
mod tests;
