//! Finding peers and keeping track of them.
//!
//! Candidates come from mDNS ([`mdns`]), from static `--peer` addresses and
//! from serving nodes that say hello to our server. The peer manager
//! connects to each candidate, checks its identity, fetches its game list
//! into the [`PeerGameDb`], pings live peers every [`PING_INTERVAL`]
//! (re-listing when their library revision moves) and drops a peer that has
//! not answered for [`PEER_TIMEOUT`], with its games.
//!
//! Everything a peer says is checked here, where it enters: its game list
//! keeps only catalogued games with valid ids and versions ([`listing`]),
//! its display name is made printable, and candidates are bounded: one per
//! identity and at most [`MAX_HELLO_CANDIDATES_PER_ADDRESS`] per address
//! from hellos, [`MAX_CANDIDATES`] in all, and a candidate learnt from a
//! hello is forgotten after [`MAX_HELLO_FAILURES`] failed attempts.

pub mod access;
pub mod known;
pub mod listing;
pub mod mdns;
pub mod peer_db;
pub mod probe;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lanspread_proto::PeerId;
use lanspread_proto::peer::{GameList, GameSummary, Hello, PEER_PROTOCOL_VERSION};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::events::NodeEvent;
use crate::library::Library;
pub use crate::net::candidate::{Candidate, Origin};
use crate::net::client::{self, ClientError, PeerConnection};
use crate::net::log_limit::{LogLimiter, held_back};
use crate::net::party::PartyKey;
use crate::net::traffic::Traffic;
use crate::trust::TrustSettings;
use lanspread_proto::names::display_name;
pub use peer_db::PeerGameDb;

/// How often live peers are pinged.
pub const PING_INTERVAL: Duration = Duration::from_secs(2);
/// A peer still scanning its library is pinged every tick for this long
/// after it joined (its games show as they are ready), then every
/// [`PING_INTERVAL`] again, so a peer that says it scans forever cannot
/// make us list it four times a second.
pub const FAST_PINGS_WHILE_SCANNING: Duration = Duration::from_secs(30);
/// A peer silent for this long is dropped (so within about 8 s of dying).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(6);
/// How long to wait before trying an unreachable candidate again (a LAN
/// handshake costs one packet each way, so retrying often is cheap).
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// The manager's clock tick.
const TICK: Duration = Duration::from_millis(250);
/// Candidates known at once; mDNS and hello candidates beyond this are
/// dropped until some go away.
pub const MAX_CANDIDATES: usize = 512;
/// A candidate learnt from a hello is forgotten after this many failed
/// attempts in a row (its next hello brings it back).
pub const MAX_HELLO_FAILURES: u32 = 3;
/// Hello candidates (one per identity) kept per IP address: a few nodes may
/// share a PC, a flood of made-up identities may not take more.
pub const MAX_HELLO_CANDIDATES_PER_ADDRESS: usize = 8;

/// Who we are when we say hello.
#[derive(Debug, Clone)]
pub struct OwnIdentity {
    pub peer_id: PeerId,
    pub display_name: String,
    pub library: Option<Library>,
    /// Port we serve on, 0 if we do not.
    pub listen_port: u16,
    /// Whether a candidate that turns out to be this node is ignored.
    pub ignore_self: bool,
    /// Games outside it are dropped from peers' lists.
    pub catalog: Arc<Catalog>,
    /// Where chunk bytes received on the peers' connections are counted.
    pub traffic: Traffic,
}

impl OwnIdentity {
    fn hello(&self) -> Hello {
        Hello {
            protocol_version: PEER_PROTOCOL_VERSION,
            peer_id: self.peer_id,
            display_name: self.display_name.clone(),
            library_revision: self.library.as_ref().map_or(0, |l| l.state().revision),
            listen_port: self.listen_port,
        }
    }
}

/// What discovery still has under way: someone who wants the network's
/// answer (`list`, `fetch`) waits on this instead of a fixed time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settling {
    /// Static candidates that have not answered yet.
    pub unanswered_static: usize,
    /// Candidates being connected to, greeted or listed right now
    /// (remembered peers, which may be long gone, are not waited for).
    pub joins_under_way: usize,
    /// Joined peers whose library is still being scanned.
    pub scanning_peers: usize,
    /// Bumped whenever the network's games change.
    pub network_changes: u64,
}

/// Shared view of the peers, for the rest of the node.
#[derive(Debug, Clone)]
pub struct Peers {
    pub db: Arc<Mutex<PeerGameDb>>,
    pub settling: watch::Receiver<Settling>,
    /// Candidates that could not be joined, with why (the last attempt's
    /// error), by candidate key.
    pub unjoined: Arc<Mutex<BTreeMap<String, String>>>,
}

#[derive(Debug)]
struct CandidateState {
    addrs: Vec<SocketAddr>,
    expected: Option<PeerId>,
    peer: Option<PeerId>,
    origin: Origin,
    /// Failed attempts in a row.
    failures: u32,
    resolved: bool,
    in_flight: bool,
    /// New addresses arrived while an attempt was in flight: a failure is
    /// retried at once with them.
    addrs_changed: bool,
    next_attempt: Instant,
    last_error: Option<String>,
}

enum Outcome {
    Joined { key: String, conn: PeerConnection, hello: Hello, list: GameList },
    Failed { key: String, error: ClientError },
    Pinged { peer: PeerId, result: Result<u64, ClientError> },
    Listed { peer: PeerId, revision: u64, result: Result<GameList, ClientError> },
}

/// Starts the peer manager. `static_peers` are candidates known up front;
/// `known` peers (with mDNS on) are asked once at start, and peers met
/// through mDNS are added to them.
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    endpoint: quinn::Endpoint,
    own: OwnIdentity,
    static_peers: Vec<(String, Vec<SocketAddr>)>,
    known: Option<known::KnownPeers>,
    candidates: mpsc::UnboundedReceiver<Candidate>,
    events: broadcast::Sender<NodeEvent>,
    trust: watch::Receiver<TrustSettings>,
    cancel: CancellationToken,
) -> (Peers, tokio::task::JoinHandle<()>) {
    let db = Arc::new(Mutex::new(PeerGameDb::default()));
    let unjoined = Arc::new(Mutex::new(BTreeMap::new()));
    let (settling_tx, settling) =
        watch::channel(Settling { unanswered_static: static_peers.len(), ..Settling::default() });
    let now = Instant::now();
    let mut manager = Manager {
        endpoint,
        own,
        db: db.clone(),
        events,
        candidates: HashMap::new(),
        conns: HashMap::new(),
        pinging: HashSet::new(),
        settling: settling_tx,
        network_changes: 0,
        tasks: JoinSet::new(),
        next_ping: now + PING_INTERVAL,
        log_limit: LogLimiter::default(),
        party_key: trust.borrow().party_key.clone(),
        trust: trust.clone(),
        unjoined: unjoined.clone(),
        known: None,
    };
    for (key, addrs) in static_peers {
        manager.add_candidate(key, addrs, None, Origin::Static);
    }
    for (id, addr) in known.as_ref().map(known::KnownPeers::peers).unwrap_or_default() {
        manager.add_candidate(format!("remembered {id}"), vec![addr], Some(id), Origin::Remembered);
    }
    manager.known = known;
    let handle = tokio::spawn(manager.run(candidates, cancel));
    (Peers { db, settling, unjoined }, handle)
}

struct Manager {
    endpoint: quinn::Endpoint,
    own: OwnIdentity,
    db: Arc<Mutex<PeerGameDb>>,
    events: broadcast::Sender<NodeEvent>,
    candidates: HashMap<String, CandidateState>,
    conns: HashMap<PeerId, PeerConnection>,
    /// Peers with a ping or re-list in flight, so they are not doubled.
    pinging: HashSet<PeerId>,
    settling: watch::Sender<Settling>,
    network_changes: u64,
    tasks: JoinSet<Outcome>,
    next_ping: Instant,
    log_limit: LogLimiter,
    trust: watch::Receiver<TrustSettings>,
    /// The party key peers were joined with.
    party_key: Option<PartyKey>,
    unjoined: Arc<Mutex<BTreeMap<String, String>>>,
    known: Option<known::KnownPeers>,
}

impl Manager {
    async fn run(mut self, mut candidates: mpsc::UnboundedReceiver<Candidate>, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                candidate = candidates.recv() => match candidate {
                    Some(Candidate::Found { key, addrs, expected, origin }) => self.add_candidate(key, addrs, expected, origin),
                    Some(Candidate::Gone { key }) => self.forget(&key),
                    None => {}
                },
                Some(Ok(outcome)) = self.tasks.join_next() => self.on_outcome(outcome),
                _ = tick.tick() => self.on_tick(Instant::now()),
                Ok(()) = self.trust.changed() => self.on_trust_changed(),
            }
            self.publish_settling();
        }
        self.tasks.abort_all();
        for conn in self.conns.values() {
            conn.close();
        }
    }

    /// A new party key means every peer must be joined again (peers with
    /// the old key, or none, are no longer ours; others may now be); new
    /// trusted peers only change which versions count.
    fn on_trust_changed(&mut self) {
        let key = self.trust.borrow_and_update().party_key.clone();
        if key != self.party_key {
            self.party_key = key;
            let peers: Vec<PeerId> = self.conns.keys().copied().collect();
            for peer in peers {
                self.drop_peer(peer, "was joined with another party key");
            }
            // Attempts in flight carry the old key: their outcome is dropped.
            self.tasks.abort_all();
            self.pinging.clear();
            let now = Instant::now();
            for c in self.candidates.values_mut() {
                (c.in_flight, c.peer, c.failures, c.next_attempt, c.last_error) = (false, None, 0, now, None);
            }
            self.publish_unjoined();
            self.start_due_attempts(now);
        }
        self.emit_network();
    }

    fn add_candidate(&mut self, key: String, addrs: Vec<SocketAddr>, expected: Option<PeerId>, origin: Origin) {
        let now = Instant::now();
        let full = self.candidates.len() >= MAX_CANDIDATES
            || (origin == Origin::Hello && self.hello_candidates_from(&addrs) >= MAX_HELLO_CANDIDATES_PER_ADDRESS);
        match self.candidates.get_mut(&key) {
            Some(c) => {
                // mDNS sends updates as addresses arrive; take them.
                c.addrs_changed |= c.in_flight && c.addrs != addrs;
                // Announced now: tried for as long as mDNS says it is there.
                if origin == Origin::Mdns && matches!(c.origin, Origin::Remembered | Origin::Probe) {
                    c.origin = Origin::Mdns;
                }
                c.addrs = addrs;
                c.expected = expected.or(c.expected);
                if c.peer.is_none() {
                    c.next_attempt = now;
                }
            }
            None if origin != Origin::Static && full => {
                tracing::debug!("candidate {key} dropped: too many candidates (from its address, or in all)");
                return;
            }
            None => {
                let state = CandidateState {
                    addrs,
                    expected,
                    peer: None,
                    origin,
                    failures: 0,
                    resolved: false,
                    in_flight: false,
                    addrs_changed: false,
                    next_attempt: now,
                    last_error: None,
                };
                self.candidates.insert(key, state);
            }
        }
        self.start_due_attempts(now);
    }

    /// How many hello candidates share the IP address of `addrs`.
    fn hello_candidates_from(&self, addrs: &[SocketAddr]) -> usize {
        let Some(ip) = addrs.first().map(SocketAddr::ip) else { return 0 };
        self.candidates.values().filter(|c| c.origin == Origin::Hello && c.addrs.iter().any(|a| a.ip() == ip)).count()
    }

    fn start_due_attempts(&mut self, now: Instant) {
        let known: Vec<PeerId> = self.conns.keys().copied().collect();
        for (key, c) in &mut self.candidates {
            if c.in_flight || c.peer.is_some() || c.next_attempt > now {
                continue;
            }
            if let Some(expected) = c.expected
                && known.contains(&expected)
            {
                c.peer = Some(expected);
                continue;
            }
            c.in_flight = true;
            c.addrs_changed = false;
            let (endpoint, addrs, expected, hello, key) =
                (self.endpoint.clone(), c.addrs.clone(), c.expected, self.own.hello(), key.clone());
            let (party_key, traffic) = (self.party_key.clone(), self.own.traffic.clone());
            self.tasks.spawn(async move {
                match join(&endpoint, &addrs, expected, hello, (party_key.as_ref(), &traffic)).await {
                    Ok((conn, hello, list)) => Outcome::Joined { key, conn, hello, list },
                    Err(error) => Outcome::Failed { key, error },
                }
            });
        }
    }

    fn on_tick(&mut self, now: Instant) {
        self.start_due_attempts(now);
        let all = now >= self.next_ping;
        if all {
            self.next_ping = now + PING_INTERVAL;
        }
        // A peer still scanning its library is asked every tick for a
        // while, so its games are seen as soon as it lists them.
        let due: Vec<PeerId> = {
            let db = self.db();
            let fast = |p: &peer_db::PeerRecord| p.scanning && now < p.joined + FAST_PINGS_WHILE_SCANNING;
            self.conns.keys().copied().filter(|id| all || db.get(*id).is_some_and(fast)).collect()
        };
        for peer in due {
            if let Some(conn) = self.conns.get(&peer).cloned()
                && self.pinging.insert(peer)
            {
                self.tasks.spawn(async move { Outcome::Pinged { peer, result: conn.ping().await } });
            }
        }
        let stale = self.db().stale(now, PEER_TIMEOUT);
        for peer in stale {
            self.drop_peer(peer, "stopped answering");
        }
    }

    fn on_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Joined { key, conn, hello, list } => self.on_joined(key, conn, hello, list),
            Outcome::Failed { key, error } => {
                let Some(c) = self.candidates.get_mut(&key) else {
                    return;
                };
                c.in_flight = false;
                c.next_attempt = if c.addrs_changed { Instant::now() } else { Instant::now() + RETRY_INTERVAL };
                c.failures = c.failures.saturating_add(1);
                if matches!(c.origin, Origin::Remembered | Origin::Probe)
                    || (c.origin == Origin::Hello && c.failures >= MAX_HELLO_FAILURES)
                {
                    tracing::debug!("candidate {key} forgotten after {} failed attempts: {error}", c.failures);
                    self.forget(&key);
                    return;
                }
                let message = error.to_string();
                if c.last_error.as_deref() != Some(message.as_str()) {
                    if message.starts_with(key.as_str()) {
                        tracing::warn!("peer {message}");
                    } else {
                        tracing::warn!("peer {key}: {message}");
                    }
                    c.last_error = Some(message);
                }
                // Before a waiter is released, so it reads why.
                self.publish_unjoined();
                // A static peer that answered "no" has answered: nobody waits for it.
                if error.is_answer() {
                    self.resolve(&key);
                }
            }
            Outcome::Pinged { peer, result } => {
                self.pinging.remove(&peer);
                match result {
                    Ok(revision) => {
                        let known = {
                            let mut db = self.db();
                            db.saw(peer, Instant::now());
                            db.get(peer).map(|p| p.revision)
                        };
                        if known.is_some_and(|r| r != revision)
                            && let Some(conn) = self.conns.get(&peer).cloned()
                        {
                            self.pinging.insert(peer);
                            self.tasks.spawn(async move {
                                Outcome::Listed { peer, revision, result: conn.list_games().await }
                            });
                        }
                    }
                    Err(e) => {
                        tracing::debug!("ping failed: {e}");
                        if self.conns.get(&peer).is_some_and(|c| c.quic().close_reason().is_some()) {
                            self.drop_peer(peer, "closed the connection");
                        }
                    }
                }
            }
            Outcome::Listed { peer, revision, result } => {
                self.pinging.remove(&peer);
                match result {
                    Ok(list) => {
                        let Some(addr) = self.conns.get(&peer).map(|c| c.addr) else { return };
                        let games = self.accept_listing(peer, addr, list.games);
                        self.db().set_list(peer, revision, GameList { games, scanning: list.scanning });
                        self.emit_network();
                    }
                    Err(e) => tracing::debug!("re-listing games failed: {e}"),
                }
            }
        }
    }

    fn on_joined(&mut self, key: String, conn: PeerConnection, hello: Hello, list: GameList) {
        let now = Instant::now();
        let peer = hello.peer_id;
        let origin = self.candidates.get(&key).map(|c| c.origin);
        if let Some(c) = self.candidates.get_mut(&key) {
            c.last_error = None;
        }
        self.publish_unjoined();
        if matches!(origin, Some(Origin::Mdns | Origin::Remembered | Origin::Probe))
            && let Some(known) = &mut self.known
        {
            known.remember(peer, conn.addr, std::time::SystemTime::now());
            let save = known.save();
            tokio::task::spawn_blocking(move || {
                if let Err(e) = save() {
                    tracing::debug!("cannot remember peers: {e}");
                }
            });
        }
        if let Some(c) = self.candidates.get_mut(&key) {
            c.in_flight = false;
            c.failures = 0;
            if peer == self.own.peer_id && self.own.ignore_self {
                tracing::debug!("peer {key} is this node; ignoring it");
                c.next_attempt = now + Duration::from_secs(3600);
                conn.close();
                self.resolve(&key);
                return;
            }
            c.peer = Some(peer);
        }
        if self.conns.contains_key(&peer) {
            conn.close();
            self.resolve(&key);
            return;
        }
        let name = display_name(&hello.display_name);
        let games = self.accept_listing(peer, conn.addr, list.games);
        let count = games.len();
        {
            let mut db = self.db();
            db.upsert(peer, &name, conn.addr, now);
            db.set_list(peer, hello.library_revision, GameList { games, scanning: list.scanning });
        }
        let scanning = if list.scanning { " (still scanning its library)" } else { "" };
        tracing::info!("peer joined: {name} ({peer}) at {} with {count} games{scanning}", conn.addr);
        self.conns.insert(peer, conn);
        let _ = self.events.send(NodeEvent::PeerJoined(peer));
        self.emit_network();
        self.resolve(&key);
    }

    fn drop_peer(&mut self, peer: PeerId, why: &str) {
        if let Some(conn) = self.conns.remove(&peer) {
            conn.close();
        }
        let record = self.db().remove(peer);
        for c in self.candidates.values_mut().filter(|c| c.peer == Some(peer)) {
            c.peer = None;
            c.next_attempt = Instant::now() + RETRY_INTERVAL;
        }
        if let Some(record) = record {
            tracing::info!("peer left: {} ({peer}) {why}", record.display_name);
            let _ = self.events.send(NodeEvent::PeerLeft(peer));
            self.emit_network();
        }
    }

    /// The games of a peer's list this node accepts; what was dropped is
    /// logged in one line (at most one per peer address per interval).
    fn accept_listing(&self, peer: PeerId, addr: SocketAddr, games: Vec<GameSummary>) -> Vec<GameSummary> {
        let listed = games.len();
        let (kept, dropped) = listing::accept_listing(games, &self.own.catalog);
        if let Some(why) = dropped.first_reason
            && let Some(n) = self.log_limit.allow(addr.ip(), Instant::now())
        {
            tracing::warn!(
                "peer {peer} at {addr}: dropped {} of {listed} listed games (first: {why}){}",
                dropped.count,
                held_back(n)
            );
        }
        kept
    }

    /// Marks a candidate as answered (which static ones are waited for);
    /// waiters hear of it when the event is handled ([`Manager::publish_settling`]).
    fn resolve(&mut self, key: &str) {
        if let Some(c) = self.candidates.get_mut(key) {
            c.resolved = true;
        }
    }

    /// Shares what is still under way, for those who wait on it.
    fn publish_settling(&self) {
        let settling = Settling {
            unanswered_static: self.candidates.values().filter(|c| c.origin == Origin::Static && !c.resolved).count(),
            joins_under_way: self.candidates.values().filter(|c| c.in_flight && c.origin != Origin::Remembered).count(),
            scanning_peers: self.db().scanning(),
            network_changes: self.network_changes,
        };
        self.settling.send_if_modified(|current| std::mem::replace(current, settling) != settling);
    }

    fn forget(&mut self, key: &str) {
        self.candidates.remove(key);
        self.publish_unjoined();
    }

    /// Shares which candidates are not joined, and why (their last error).
    fn publish_unjoined(&self) {
        let unjoined = self
            .candidates
            .iter()
            .filter(|(_, c)| c.peer.is_none())
            .filter_map(|(key, c)| Some((key.clone(), c.last_error.clone()?)))
            .collect();
        *self.unjoined.lock().unwrap_or_else(|p| p.into_inner()) = unjoined;
    }

    fn emit_network(&mut self) {
        self.network_changes += 1;
        let _ = self.events.send(NodeEvent::NetworkChanged);
    }

    fn db(&self) -> std::sync::MutexGuard<'_, PeerGameDb> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Connects to the first address that answers, says hello, lists games.
/// Addresses the endpoint's socket cannot reach (IPv6 from an IPv4 socket)
/// are passed over.
async fn join(
    endpoint: &quinn::Endpoint,
    addrs: &[SocketAddr],
    expected: Option<PeerId>,
    hello: Hello,
    (party_key, traffic): (Option<&PartyKey>, &Traffic),
) -> Result<(PeerConnection, Hello, GameList), ClientError> {
    let ipv4_only = endpoint.local_addr().is_ok_and(|a| a.is_ipv4());
    let mut last = None;
    for &addr in addrs.iter().filter(|a| a.is_ipv4() || !ipv4_only) {
        match client::connect(endpoint, addr, expected, party_key, traffic).await {
            Ok(conn) => {
                let result = async {
                    let theirs = conn.hello(hello.clone()).await?;
                    let list = conn.list_games().await?;
                    Ok((theirs, list))
                }
                .await;
                return match result {
                    Ok((theirs, list)) => Ok((conn, theirs, list)),
                    Err(e) => {
                        conn.close();
                        Err(e)
                    }
                };
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(ClientError::Connect {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        reason: "no address this node can reach yet".into(),
    }))
}
