//! A download's side of its swarm ([`crate::swarm`]): it joins every source
//! on one long-lived stream, hears what each holds and which other members
//! each knows, and connects to those members, so downloaders of the same
//! file list find each other through whoever holds the game whole.
//!
//! Everything heard is passed to the transfer loop as [`SwarmEvent`]s, in
//! order, through a bounded channel; what a member claims is checked there
//! (see [`crate::swarm::chunks::Holding::apply`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lanspread_proto::PeerId;
use lanspread_proto::peer::{
    GameManifest, Have, MAX_DROPPED_REPORT, MAX_SWARM_MEMBERS, ManifestHash, PeerRequest, SwarmMember, SwarmUpdate,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::DownloadError;
use super::pieces::Pieces;
use super::planner::Planner;
use crate::net::client::{self, PeerConnection};
use crate::net::party::PartyKey;
use crate::net::traffic::Traffic;
use crate::swarm::chunks::{ChunkBits, ChunkIndex, ChunkRef, Holding};
use crate::swarm::{Offered, Swarms, manifest_hash};

/// Members a download connects to beyond its first sources.
pub const MAX_SWARM_SOURCES: usize = 32;
/// Events waiting for the transfer loop; a member that sends faster waits.
const EVENT_BUFFER: usize = 64;

/// What a download needs to take part in swarms: the node's registry, how
/// to reach other nodes, and who this node is.
#[derive(Debug, Clone)]
pub struct SwarmLink {
    pub swarms: Swarms,
    pub endpoint: quinn::Endpoint,
    pub party_key: Option<PartyKey>,
    pub traffic: Traffic,
    pub peer_id: PeerId,
    /// Where this node serves (0: it does not, and is not named to others).
    pub listen_port: u16,
}

/// What the swarm says, for the transfer loop.
#[derive(Debug)]
pub enum SwarmEvent {
    /// What `peer` holds now.
    Have { peer: PeerId, have: Have },
    /// Other members a peer knows of.
    Members { members: Vec<SwarmMember> },
    /// A member found through the swarm, connected (not yet followed).
    Connected(PeerConnection),
    /// `peer`'s stream refused or broke what the protocol allows.
    Misbehaved { peer: PeerId, why: String },
    /// The connection to `peer`, a member still fetching, is lost: it is not
    /// asked for more, and what it was sending is asked of others.
    Left { peer: PeerId },
    /// `peer`, a member, ended its updates: its download is over. It is
    /// not asked for more, but finishes what it is sending.
    Done { peer: PeerId },
}

/// Follows the swarm of one download.
#[derive(Debug)]
pub struct Follower {
    link: SwarmLink,
    id: String,
    hash: ManifestHash,
    events: mpsc::Sender<SwarmEvent>,
    tasks: JoinSet<()>,
    /// Addresses already connected to or tried, and the ids met.
    tried: HashSet<SocketAddr>,
    met: HashSet<PeerId>,
}

impl Follower {
    pub fn new(link: SwarmLink, manifest: &GameManifest) -> (Follower, mpsc::Receiver<SwarmEvent>) {
        let (events, received) = mpsc::channel(EVENT_BUFFER);
        let follower = Follower {
            hash: manifest_hash(manifest),
            id: manifest.id.clone(),
            events,
            tasks: JoinSet::new(),
            tried: HashSet::new(),
            met: HashSet::from([link.peer_id]),
            link,
        };
        (follower, received)
    }

    /// Joins `conn`'s swarm and passes on what it says until it ends.
    pub fn follow(&mut self, conn: PeerConnection) {
        self.met.insert(conn.peer_id);
        self.tried.insert(conn.addr);
        let (id, hash, events) = (self.id.clone(), self.hash, self.events.clone());
        let (me, port) = (self.link.peer_id, self.link.listen_port);
        self.tasks.spawn(async move {
            let peer = conn.peer_id;
            let (mut update, mut stream) = match conn.join(&id, hash, me, port).await {
                Ok(joined) => joined,
                Err(e) => {
                    tracing::debug!("{id}: peer {} takes no part in the swarm: {e}", peer.short());
                    return;
                }
            };
            let mut whole = false;
            loop {
                whole |= update.have == Some(Have::All);
                if forward(peer, update, &events).await.is_err() {
                    return;
                }
                update = match stream.next().await {
                    Ok(Some(update)) => update,
                    Err(e) if !conn.is_closed() => {
                        let why = format!("its swarm updates broke off: {e}");
                        let _ = events.send(SwarmEvent::Misbehaved { peer, why }).await;
                        return;
                    }
                    // A node holding the game whole keeps serving it even
                    // if it has nobody to tell about it.
                    Ok(None) | Err(_) if whole && !conn.is_closed() => return,
                    Ok(None) if !conn.is_closed() => {
                        let _ = events.send(SwarmEvent::Done { peer }).await;
                        return;
                    }
                    Ok(None) | Err(_) => {
                        let _ = events.send(SwarmEvent::Left { peer }).await;
                        return;
                    }
                };
            }
        });
    }

    /// Connects to the members not met yet (at most [`MAX_SWARM_SOURCES`]
    /// addresses in all); each that answers as the id it was named by is
    /// passed on as [`SwarmEvent::Connected`] and followed by the loop.
    pub fn meet(&mut self, members: Vec<SwarmMember>) {
        for member in members {
            if self.met.contains(&member.peer_id)
                || self.tried.contains(&member.addr)
                || self.tried.len() >= MAX_SWARM_SOURCES
            {
                continue;
            }
            self.tried.insert(member.addr);
            let (link, events) = (self.link.clone(), self.events.clone());
            self.tasks.spawn(async move {
                let party_key = link.party_key.as_ref();
                match client::connect(&link.endpoint, member.addr, Some(member.peer_id), party_key, &link.traffic).await
                {
                    Ok(conn) => {
                        let _ = events.send(SwarmEvent::Connected(conn)).await;
                    }
                    Err(e) => tracing::debug!("swarm member {}: {e}", member.addr),
                }
            });
        }
    }

    /// Whether `peer` was met (followed, or this node itself).
    pub fn has_met(&self, peer: PeerId) -> bool {
        self.met.contains(&peer)
    }
}

/// What a download offers its swarm (see [`Swarms::offer`]).
#[derive(Debug)]
pub struct Offer {
    pub manifest: Arc<GameManifest>,
    pub files: Vec<Option<PathBuf>>,
    pub here: Vec<ChunkRef>,
}

/// One download's part in its swarm: the follower, what each peer holds,
/// and the offer of what is verified here.
#[derive(Debug)]
pub struct DownloadSwarm {
    follower: Follower,
    events: mpsc::Receiver<SwarmEvent>,
    offered: Option<Offered>,
    holdings: HashMap<PeerId, Holding>,
    index: ChunkIndex,
    /// The download's first sources, which hold the whole file list and
    /// name members to others.
    sources: Vec<PeerConnection>,
}

/// A report of members that delivered nothing waits this long for each
/// source's answer (an old node refuses it at once).
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(1);

impl DownloadSwarm {
    /// Offers `offer` and joins the swarm of each of `sources` (which hold
    /// the whole file list).
    pub fn start<'a>(
        link: SwarmLink,
        manifest: &GameManifest,
        offer: Offer,
        sources: impl IntoIterator<Item = &'a PeerConnection>,
    ) -> Result<DownloadSwarm, DownloadError> {
        let index = ChunkIndex::of(manifest)
            .ok_or_else(|| DownloadError::NoPeers(format!("{}: the file list has too many chunks", manifest.id)))?;
        let offered = link.swarms.offer(offer.manifest, offer.files, offer.here);
        let (mut follower, events) = Follower::new(link, manifest);
        let mut holdings = HashMap::new();
        let sources: Vec<PeerConnection> = sources.into_iter().cloned().collect();
        for conn in &sources {
            holdings.insert(conn.peer_id, Holding::All);
            follower.follow(conn.clone());
        }
        Ok(DownloadSwarm { follower, events, offered, holdings, index, sources })
    }

    /// The next swarm event, or never without a swarm.
    pub async fn next_event(swarm: &mut Option<DownloadSwarm>) -> Option<SwarmEvent> {
        match swarm {
            Some(swarm) => swarm.events.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Tells `planner` what `event` says, in `pieces` (a member holds a
    /// run once it holds each of its chunks); a member met is connected and
    /// added to `conns`.
    pub fn apply(
        &mut self,
        event: SwarmEvent,
        pieces: &Pieces,
        planner: &mut Planner,
        conns: &mut HashMap<PeerId, PeerConnection>,
    ) {
        match event {
            SwarmEvent::Have { peer, have } => {
                let Some(holding) = self.holdings.get_mut(&peer) else { return };
                match holding.apply(have, self.index.total()) {
                    Ok(_) if holding.is_all() => planner.peer_has_all(peer),
                    Ok(new) => {
                        let index = &self.index;
                        let held = |c: &ChunkRef| index.number(*c).is_some_and(|n| holding.contains(n));
                        let new: BTreeSet<ChunkRef> =
                            new.into_iter().filter_map(|n| index.chunk(n)).map(|c| pieces.piece_of(c)).collect();
                        for piece in new.into_iter().filter(|p| pieces.chunks(p).iter().all(held)) {
                            planner.peer_has(peer, piece);
                        }
                    }
                    Err(e) => planner.peer_misbehaved(peer, format!("its chunk list is false: {e}")),
                }
            }
            SwarmEvent::Members { members } => self.follower.meet(members),
            SwarmEvent::Connected(conn) => {
                if self.follower.has_met(conn.peer_id) || planner.knows(conn.peer_id) {
                    conn.close();
                    return;
                }
                planner.add_partial_peer(conn.peer_id);
                self.holdings.insert(conn.peer_id, Holding::Some(ChunkBits::empty(self.index.total())));
                self.follower.follow(conn.clone());
                conns.insert(conn.peer_id, conn);
            }
            SwarmEvent::Misbehaved { peer, why } => planner.peer_misbehaved(peer, why),
            SwarmEvent::Left { peer } => planner.peer_lost(peer),
            SwarmEvent::Done { peer } => planner.peer_done(peer),
        }
    }

    /// `peers`, members, took requests and delivered nothing: this node
    /// stops naming them to others, and the returned future tells every
    /// source (each answer awaited at most [`REPORT_TIMEOUT`]), which
    /// checks them itself ([`crate::net::vetting`]).
    pub fn report_dropped(&self, peers: &[PeerId]) -> impl Future<Output = ()> + Send + 'static {
        let hash = self.follower.hash;
        for peer in peers {
            self.follower.link.swarms.withhold(hash, *peer);
        }
        let mut reports = JoinSet::new();
        for batch in peers.chunks(MAX_DROPPED_REPORT) {
            for source in &self.sources {
                let request =
                    PeerRequest::Dropped { id: self.follower.id.clone(), manifest: hash, peers: batch.to_vec() };
                let source = source.clone();
                reports.spawn(async move {
                    let peer = source.peer_id.short();
                    match tokio::time::timeout(REPORT_TIMEOUT, source.request(&request)).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => tracing::debug!("peer {peer} took no report of members: {e}"),
                        Err(_) => tracing::debug!("peer {peer} did not answer a report of members in time"),
                    }
                });
            }
        }
        async move { while reports.join_next().await.is_some() {} }
    }

    /// `chunk` is verified and written here: members may ask for it.
    pub fn verified(&self, chunk: ChunkRef) {
        if let Some(offered) = &self.offered {
            offered.verified(chunk);
        }
    }
}

/// Passes one update on: members first, so the loop can meet them.
async fn forward(peer: PeerId, update: SwarmUpdate, events: &mpsc::Sender<SwarmEvent>) -> Result<(), ()> {
    if let Some(have) = update.have {
        events.send(SwarmEvent::Have { peer, have }).await.map_err(drop)?;
    }
    if let Some(mut members) = update.members {
        members.truncate(MAX_SWARM_MEMBERS);
        events.send(SwarmEvent::Members { members }).await.map_err(drop)?;
    }
    Ok(())
}
