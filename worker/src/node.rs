//! A running LanSpread node: library, QUIC server, discovery and peers,
//! wired together, with one cancellation token for a clean shutdown.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lanspread_proto::PeerId;
use lanspread_proto::ipc::{MAX_ADDED_PEERS, NetworkGame, PeerSummary};
use lanspread_proto::names::is_valid_peer_address;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::covers::{self, ShownCovers};
use crate::discovery::access::{GameSources, PeerAccess, SwarmSeat};
use crate::discovery::known::KnownPeers;
use crate::discovery::{self, OwnIdentity, Peers, mdns};
use crate::download;
use crate::events::NodeEvent;
use crate::faults::Faults;
use crate::install;
use crate::library::{self, Library};
use crate::net::candidate::{Candidate, Origin};
use crate::net::identity::Identity;
use crate::net::party::PartyKey;
use crate::net::rate::TransferLimits;
use crate::net::server::{self, ServerContext};
use crate::net::traffic::Traffic;
use crate::net::transport;
use crate::net::vetting::Vetting;
use crate::operations::Operations;
use crate::swarm::Swarms;
use crate::trust::TrustSettings;

/// Name of the hash index in the state directory.
pub const HASH_INDEX_FILE: &str = "hash-index.bin";
/// Events buffered per subscriber before it must catch up from snapshots.
const EVENT_BUFFER: usize = 1024;
/// How to run a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub state_dir: PathBuf,
    /// The game directory to serve; `None` for a client-only node (`list`).
    pub games_dir: Option<PathBuf>,
    /// Address to listen on when serving (port 0 picks one).
    pub listen: SocketAddr,
    /// When `listen`'s port is taken, listen on any free port instead (the
    /// desktop app's worker: mDNS announces whatever port it got).
    pub any_port_if_taken: bool,
    /// `HOST:PORT` of peers to contact without mDNS.
    pub static_peers: Vec<String>,
    pub mdns: bool,
    pub catalog: Arc<Catalog>,
    pub display_name: String,
    /// The party key and trusted peers at start ([`Node::set_trust`] changes them).
    pub trust: TrustSettings,
    /// Fetch the covers of the network's games (for a window to show; see
    /// [`crate::covers`]). Needs a game directory.
    pub show_covers: bool,
    /// Bandwidth limits at start ([`Node::set_limits`] changes them).
    pub limits: TransferLimits,
    /// Serve the chunks downloads verify on `listen` even without a game
    /// directory (`fetch`): downloaders of the same game fetch from us.
    pub serve_downloads: bool,
    /// Fault switches for tests (empty unless built with `test-hooks`).
    pub faults: Faults,
}

impl NodeOptions {
    /// Whether the node answers other nodes (its games, or its downloads).
    fn serves(&self) -> bool {
        self.games_dir.is_some() || self.serve_downloads
    }
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    pub peer_id: PeerId,
    /// Where the QUIC endpoint is bound.
    pub local_addr: SocketAddr,
    pub library: Option<Library>,
    /// The operation table and its runner, on a node with a game directory.
    pub operations: Option<Operations>,
    pub catalog: Arc<Catalog>,
    peers: Peers,
    access: PeerAccess,
    events: broadcast::Sender<NodeEvent>,
    traffic: Traffic,
    trust: watch::Sender<TrustSettings>,
    /// The party key alone, for the server.
    party_key: watch::Sender<Option<PartyKey>>,
    endpoint: quinn::Endpoint,
    mdns: Option<mdns::Mdns>,
    /// Each game's cover file, on a node that shows covers.
    covers: Option<watch::Receiver<ShownCovers>>,
    /// Where peers added by address while the node runs go.
    candidates: mpsc::UnboundedSender<Candidate>,
    /// The addresses added so far (at most [`MAX_ADDED_PEERS`]).
    added_peers: Arc<Mutex<BTreeSet<String>>>,
    /// One install estimate at a time (it may read a tarball through).
    estimating: Arc<tokio::sync::Semaphore>,
    /// Games with an estimate asked for and not yet told: asked again,
    /// they are not queued twice.
    estimates_pending: Arc<Mutex<BTreeSet<String>>>,
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Why a PC could not be added by address.
#[derive(Debug, thiserror::Error)]
pub enum AddPeerError {
    #[error("{0:?}: write a PC as HOST:PORT, e.g. 192.168.1.20:47474")]
    NotAnAddress(String),
    #[error("at most {MAX_ADDED_PEERS} PCs can be added while LanSpread runs")]
    TooMany,
    #[error("{0}: no such PC (the name does not resolve to an IPv4 address)")]
    Unresolved(String),
}

/// The node's QUIC endpoint: a server on `options.listen` when serving
/// (on any free port when that one is taken and the options allow it), else
/// a client on any port.
fn bind_endpoint(options: &NodeOptions, identity: &Identity) -> anyhow::Result<quinn::Endpoint> {
    let serving = options.serves();
    let bind = if serving { options.listen } else { SocketAddr::from(([0, 0, 0, 0], 0)) };
    let endpoint = if serving {
        let config = transport::server_config(identity)?;
        match quinn::Endpoint::server(config.clone(), bind) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && options.any_port_if_taken => {
                tracing::warn!("port {} is taken (another LanSpread?); listening on a free port", bind.port());
                quinn::Endpoint::server(config, SocketAddr::new(bind.ip(), 0))
            }
            other => other,
        }
    } else {
        quinn::Endpoint::client(bind)
    };
    endpoint.map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))
}

impl Node {
    pub async fn start(options: NodeOptions) -> anyhow::Result<Node> {
        let identity = Identity::load_or_create(&options.state_dir)?;
        let cancel = CancellationToken::new();
        let (trust, _) = watch::channel(options.trust.clone());
        let (party_key, _) = watch::channel(options.trust.party_key.clone());
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let traffic = Traffic::default();
        traffic.set_limits(options.limits);
        let serving = options.serves();
        let swarms = Swarms::default();
        let endpoint = bind_endpoint(&options, &identity)?;
        let local_addr = endpoint.local_addr()?;
        let mut tasks = Vec::new();

        let (busy, busy_games) = watch::channel(Arc::default());
        let library = options.games_dir.clone().map(|dir| {
            let index = options.state_dir.join(HASH_INDEX_FILE);
            let tools = library::RootTools {
                recover: |dir, catalog, busy| drop(install::recover_game_dir(dir, catalog, busy)),
                partial: download::partial_download,
            };
            Library::start(dir, options.catalog.clone(), &index, busy_games, tools, cancel.clone())
        });
        let (candidate_tx, candidate_rx) = mpsc::unbounded_channel();
        if serving {
            let ctx = Arc::new(ServerContext {
                peer_id: identity.peer_id,
                display_name: options.display_name.clone(),
                listen_port: local_addr.port(),
                library: library.clone(),
                swarms: swarms.clone(),
                candidates: candidate_tx.clone(),
                log_limit: Default::default(),
                party_key: party_key.subscribe(),
                traffic: traffic.clone(),
                faults: options.faults.clone(),
                manifest_hashes: Mutex::default(),
                vetting: Vetting::new(
                    endpoint.clone(),
                    swarms.clone(),
                    party_key.subscribe(),
                    traffic.clone(),
                    identity.peer_id,
                ),
            });
            tasks.push(tokio::spawn(server::serve(endpoint.clone(), ctx, cancel.clone())));
            tracing::info!("listening on {local_addr} as {} ({})", options.display_name, identity.peer_id);
        }
        if let Some(library) = &library {
            tasks.push(tokio::spawn(forward_library(library.clone(), events.clone(), cancel.clone())));
        }

        let mdns = if options.mdns {
            let announcement = serving.then(|| mdns::Announcement {
                peer_id: identity.peer_id,
                port: local_addr.port(),
                display_name: options.display_name.clone(),
                revision: library.as_ref().map_or(0, |l| l.state().revision),
                party: options.trust.party_key.is_some(),
            });
            let mdns = mdns::Mdns::start(announcement.as_ref(), candidate_tx.clone(), cancel.clone())?;
            tasks.push(tokio::spawn(discovery::probe::probe(candidate_tx.clone(), identity.peer_id, cancel.clone())));
            if let (Some(library), Some(announcement)) = (&library, announcement) {
                tasks.push(tokio::spawn(announce_revisions(
                    library.clone(),
                    mdns.clone(),
                    announcement,
                    cancel.clone(),
                )));
            }
            Some(mdns)
        } else {
            None
        };

        let static_peers = resolve_static_peers(&options.static_peers).await;
        let own = OwnIdentity {
            peer_id: identity.peer_id,
            display_name: options.display_name.clone(),
            library: library.clone(),
            listen_port: if serving { local_addr.port() } else { 0 },
            ignore_self: serving,
            catalog: options.catalog.clone(),
            traffic: traffic.clone(),
        };
        let (peers, manager) = discovery::spawn(
            endpoint.clone(),
            own,
            static_peers,
            options.mdns.then(|| KnownPeers::load(&options.state_dir, std::time::SystemTime::now())),
            candidate_rx,
            events.clone(),
            trust.subscribe(),
            cancel.clone(),
        );
        tasks.push(manager);

        let seat =
            SwarmSeat { swarms, peer_id: identity.peer_id, listen_port: if serving { local_addr.port() } else { 0 } };
        let access = PeerAccess::new(
            endpoint.clone(),
            peers.db.clone(),
            peers.settling.clone(),
            trust.subscribe(),
            traffic.clone(),
            seat,
        );
        let covers = match (&library, options.show_covers) {
            (Some(library), true) => {
                let cache = covers::cache_dir(&options.state_dir);
                let (covers, task) =
                    covers::spawn(cache, library.clone(), access.clone(), events.clone(), cancel.clone());
                tasks.push(task);
                Some(covers)
            }
            _ => None,
        };
        let operations = library
            .clone()
            .map(|library| Operations::new(events.clone(), busy, access.clone(), library, options.faults.clone()));
        Ok(Node {
            peer_id: identity.peer_id,
            local_addr,
            library,
            operations,
            catalog: options.catalog,
            peers,
            access,
            events,
            traffic,
            trust,
            party_key,
            endpoint,
            mdns,
            covers,
            candidates: candidate_tx,
            added_peers: Arc::default(),
            estimating: Arc::new(tokio::sync::Semaphore::new(1)),
            estimates_pending: Arc::default(),
            cancel,
            tasks,
        })
    }

    /// What installing the downloaded game `id` takes, measured on a
    /// blocking thread, one game at a time; `None` when this node has no
    /// game directory, `id` has no root that may be read, or its estimate
    /// is already under way.
    pub fn estimate_install(
        &self,
        id: &str,
    ) -> Option<impl Future<Output = Result<install::InstallEstimate, install::InstallError>> + Send + 'static> {
        let game_dir = self.library.as_ref()?.state().game_dir.clone();
        library::root::checked_root(&game_dir, id, &self.catalog).ok()?;
        let pending = self.estimates_pending.clone();
        if !pending.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned()) {
            return None;
        }
        let (id, estimating) = (id.to_owned(), self.estimating.clone());
        Some(async move {
            let _turn = estimating.acquire_owned().await;
            let measured = id.clone();
            let estimate = tokio::task::spawn_blocking(move || install::estimate(&game_dir, &measured))
                .await
                .map_err(|e| install::InstallError::Io(std::io::Error::other(e)));
            pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            estimate?
        })
    }

    /// Contacts the PC at `address` (`HOST:PORT`) from now on, as a
    /// `--peer`: checks it and counts it here, then resolves it in the
    /// returned future (a name can take a while).
    pub fn add_peer(
        &self,
        address: &str,
    ) -> Result<impl Future<Output = Result<(), AddPeerError>> + Send + 'static, AddPeerError> {
        if !is_valid_peer_address(address) {
            return Err(AddPeerError::NotAnAddress(lanspread_proto::names::printable(address, 80)));
        }
        let new = {
            let mut added = self.added_peers.lock().unwrap_or_else(|p| p.into_inner());
            if !added.contains(address) && added.len() >= MAX_ADDED_PEERS {
                return Err(AddPeerError::TooMany);
            }
            added.insert(address.to_owned())
        };
        let (address, candidates, added) = (address.to_owned(), self.candidates.clone(), self.added_peers.clone());
        Ok(async move {
            if !new {
                return Ok(());
            }
            let resolved = resolve_static_peers(std::slice::from_ref(&address)).await.pop();
            let Some((key, addrs)) = resolved.filter(|(_, addrs)| !addrs.is_empty()) else {
                // Not counted: the user may correct it and try again.
                added.lock().unwrap_or_else(|p| p.into_inner()).remove(&address);
                return Err(AddPeerError::Unresolved(address));
            };
            tracing::info!("peer {key}: added by address");
            let _ = candidates.send(Candidate::Found { key, addrs, expected: None, origin: Origin::Static });
            Ok(())
        })
    }

    /// Changes the party key and trusted peers while the node runs: the
    /// server checks the new key on its next request, discovery joins its
    /// peers again when the key changed, and the network's games are
    /// chosen anew.
    pub fn set_trust(&self, settings: TrustSettings) {
        self.party_key.send_if_modified(|current| {
            let changed = *current != settings.party_key;
            current.clone_from(&settings.party_key);
            changed
        });
        self.trust.send_if_modified(|current| {
            let changed = *current != settings;
            *current = settings;
            changed
        });
    }

    /// Each game's cover file, on a node that shows covers.
    pub fn covers(&self) -> Option<ShownCovers> {
        self.covers.as_ref().map(|c| c.borrow().clone())
    }

    /// The trust settings of the moment.
    pub fn trust(&self) -> TrustSettings {
        self.trust.borrow().clone()
    }

    /// Holds downloads and uploads to `limits` from now on, those under way
    /// too (within [`crate::net::rate::MAX_WAIT_STEP`]).
    pub fn set_limits(&self, limits: TransferLimits) {
        self.traffic.set_limits(limits);
    }

    /// The chunk bytes this node has received and sent.
    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    /// Events from now on (library, peers, network games, operations).
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// A peer as the UI shows it, while it is joined.
    pub fn peer_summary(&self, peer: PeerId) -> Option<PeerSummary> {
        self.peers.db.lock().unwrap_or_else(|p| p.into_inner()).get(peer).map(|p| p.summary())
    }

    pub fn network_games(&self) -> Vec<NetworkGame> {
        self.peers.db.lock().unwrap_or_else(|p| p.into_inner()).network_games(&self.trust.borrow().trusted)
    }

    pub fn peer_count(&self) -> usize {
        self.peers.db.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// For every game, the peers listing it, each with the version it has.
    pub fn offers_by_game(&self) -> BTreeMap<String, Vec<(PeerSummary, String)>> {
        let db = self.peers.db.lock().unwrap_or_else(|p| p.into_inner());
        db.offers_by_game()
            .into_iter()
            .map(|(id, offers)| {
                let peers = offers.into_iter().filter_map(|o| Some((db.get(o.peer)?.summary(), o.version))).collect();
                (id.to_owned(), peers)
            })
            .collect()
    }

    /// Candidates that could not be joined (by address or name), with why.
    pub fn unjoined_peers(&self) -> Vec<(String, String)> {
        let unjoined = self.peers.unjoined.lock().unwrap_or_else(|p| p.into_inner());
        unjoined.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Gives discovery `limit` to find peers (see [`PeerAccess::discover`]);
    /// with `game`, finding a peer that offers it is enough.
    pub async fn discover(&self, limit: Duration, game: Option<&str>) {
        self.access().discover(limit, game, self.mdns.is_some()).await;
    }

    /// Peers whose last list said they are still scanning their library.
    pub fn scanning_peers(&self) -> usize {
        self.peers.settling.borrow().scanning_peers
    }

    /// Waits until every static peer answered, or `limit` passes.
    pub async fn wait_for_static_peers(&self, limit: Duration) {
        self.access().wait_for_static_peers(limit).await;
    }

    /// Connects to every peer that has the version of `game` to fetch and
    /// asks it for its file list (see [`PeerAccess::open_game`]).
    pub async fn open_game(&self, game: &str) -> Option<GameSources> {
        self.access().open_game(game).await
    }

    /// Fetches the file lists of every game whose list no trusted peer
    /// vouches for and more than one peer supplies, so
    /// [`Node::network_games`] can tell where they differ.
    pub async fn fetch_contested_file_lists(&self) {
        let contested: Vec<String> =
            self.network_games().into_iter().filter(|g| !g.trusted && g.supplied_by.len() > 1).map(|g| g.id).collect();
        for id in contested {
            if let Some(sources) = self.open_game(&id).await {
                for conn in sources.answers.into_iter().filter_map(|(_, answer)| answer.ok()).map(|(conn, _)| conn) {
                    conn.close();
                }
            }
        }
    }

    /// A handle for asking peers, usable from other tasks.
    pub fn access(&self) -> PeerAccess {
        self.access.clone()
    }

    /// Stops every task, says goodbye over mDNS and closes the endpoint.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        if let Some(mdns) = self.mdns {
            mdns.shutdown();
        }
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
        self.endpoint.close(lanspread_proto::peer::close::SHUTDOWN.into(), b"shutting down");
        // Close frames leave at once; this gives the endpoint a moment to
        // send them, no more, so `list` and `fetch` end promptly (a peer
        // that misses one drops us at its idle timeout).
        let _ = tokio::time::timeout(Duration::from_millis(10), self.endpoint.wait_idle()).await;
    }
}

/// Keeps the library revision in our mDNS TXT record current.
async fn announce_revisions(
    library: Library,
    mdns: mdns::Mdns,
    mut announcement: mdns::Announcement,
    cancel: CancellationToken,
) {
    let mut state = library.subscribe();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = state.changed() => if changed.is_err() { return },
        }
        let revision = state.borrow_and_update().revision;
        if revision != announcement.revision {
            announcement.revision = revision;
            mdns.update_revision(&announcement);
        }
    }
}

/// Publishes each new library state as an event.
async fn forward_library(library: Library, events: broadcast::Sender<NodeEvent>, cancel: CancellationToken) {
    let mut state = library.subscribe();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = state.changed() => if changed.is_err() { return },
        }
        let state = state.borrow_and_update().clone();
        let _ = events.send(NodeEvent::LibraryChanged(state));
    }
}

/// Resolves `HOST:PORT` strings; one that does not resolve is reported and
/// kept with no address (it never answers).
async fn resolve_static_peers(peers: &[String]) -> Vec<(String, Vec<SocketAddr>)> {
    let mut out = Vec::new();
    for peer in peers {
        let addrs = match tokio::net::lookup_host(peer.as_str()).await {
            Ok(addrs) => {
                let mut addrs: Vec<SocketAddr> = addrs.filter(SocketAddr::is_ipv4).collect();
                addrs.dedup();
                addrs
            }
            Err(e) => {
                tracing::warn!("peer {peer}: cannot resolve: {e}");
                Vec::new()
            }
        };
        out.push((peer.clone(), addrs));
    }
    out
}
