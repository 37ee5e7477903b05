//! Asking the peers discovery found: waiting until they have answered,
//! and opening connections to those that offer a game, with their file
//! lists. Downloads hold a [`PeerAccess`] cloned out of the node.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lanspread_proto::PeerId;
use lanspread_proto::peer::GameManifest;
use tokio::sync::watch;

use super::peer_db::NetworkCover;
use super::{PeerGameDb, Settling};
use crate::download::follow::SwarmLink;
use crate::net::client::{ClientError, PeerConnection};
use crate::net::traffic::Traffic;
use crate::net::transport;
use crate::swarm::Swarms;
use crate::trust::{Choice, TrustSettings};

/// When a wait for peers is over, answers already under way (a connection,
/// a hello, a game list) get this much longer: on a LAN they take
/// milliseconds, and cutting them off returns an empty answer by chance.
pub const JOIN_GRACE: Duration = Duration::from_secs(2);

/// One peer's answer when asked for a game: its connection and file list.
pub type GameSource = (PeerId, Result<(PeerConnection, GameManifest), ClientError>);

/// What the network offers of one game: the version to fetch and whose
/// file list counts ([`Choice`]), and the answers of the peers asked.
#[derive(Debug)]
pub struct GameSources {
    pub choice: Choice,
    pub answers: Vec<GameSource>,
    /// The trust settings the choice was made with.
    pub trust: TrustSettings,
}

/// Endpoint and peer game DB, cloned out of a node for tasks that ask
/// peers for games (downloads).
#[derive(Debug, Clone)]
pub struct PeerAccess {
    endpoint: quinn::Endpoint,
    db: Arc<std::sync::Mutex<PeerGameDb>>,
    settling: watch::Receiver<Settling>,
    trust: watch::Receiver<TrustSettings>,
    traffic: Traffic,
    /// This node in swarms: its registry, id and serving port (0: none).
    swarms: Swarms,
    me: PeerId,
    listen_port: u16,
}

/// Who this node is in swarms (see [`PeerAccess::swarm_link`]).
#[derive(Debug, Clone)]
pub struct SwarmSeat {
    pub swarms: Swarms,
    pub peer_id: PeerId,
    /// Where this node serves; 0 when it does not.
    pub listen_port: u16,
}

impl PeerAccess {
    pub fn new(
        endpoint: quinn::Endpoint,
        db: Arc<std::sync::Mutex<PeerGameDb>>,
        settling: watch::Receiver<Settling>,
        trust: watch::Receiver<TrustSettings>,
        traffic: Traffic,
        seat: SwarmSeat,
    ) -> PeerAccess {
        let SwarmSeat { swarms, peer_id: me, listen_port } = seat;
        PeerAccess { endpoint, db, settling, trust, traffic, swarms, me, listen_port }
    }

    /// What a download needs to take part in its swarm.
    pub fn swarm_link(&self) -> SwarmLink {
        SwarmLink {
            swarms: self.swarms.clone(),
            endpoint: self.endpoint.clone(),
            party_key: self.trust.borrow().party_key.clone(),
            traffic: self.traffic.clone(),
            peer_id: self.me,
            listen_port: self.listen_port,
        }
    }

    /// Waits (at most `limit`) until every `--peer` answered or failed, so
    /// a worker that just started uses all of them, not the first to answer.
    pub async fn wait_for_static_peers(&self, limit: Duration) {
        self.settle(limit, |s| s.unanswered_static == 0).await;
    }

    /// Gives discovery `limit` to find peers and hear their answers. With
    /// mDNS, peers may announce themselves at any moment, so the whole
    /// `limit`; with static peers only, until every one answered and none
    /// is still scanning its library (with `game`: or some peer offers it).
    /// Answers under way when the time is up get [`JOIN_GRACE`] more.
    pub async fn discover(&self, limit: Duration, game: Option<&str>, mdns: bool) {
        if mdns {
            tokio::time::sleep(limit).await;
        } else {
            let offered = || game.is_some_and(|g| self.newest_version(g).is_some());
            self.settle(limit, |s| {
                s.unanswered_static == 0 && s.joins_under_way == 0 && (s.scanning_peers == 0 || offered())
            })
            .await;
        }
        self.settle(JOIN_GRACE, |s| s.joins_under_way == 0).await;
    }

    /// Waits until `settled` holds for what discovery has under way, or
    /// `limit` passes.
    async fn settle(&self, limit: Duration, settled: impl Fn(&Settling) -> bool) {
        let mut settling = self.settling.clone();
        let _ = tokio::time::timeout(limit, settling.wait_for(|s| settled(s))).await;
    }

    /// Every game's cover as the network offers it (see [`PeerGameDb::covers`]).
    pub fn covers(&self) -> Vec<NetworkCover> {
        let trusted = self.trust.borrow().trusted.clone();
        self.db.lock().unwrap_or_else(|p| p.into_inner()).covers(&trusted)
    }

    /// Asks the peers that hand out `cover` for it, one after another,
    /// until one sends the picture its hash names; else the last refusal.
    pub async fn fetch_cover(&self, cover: &NetworkCover) -> Result<Vec<u8>, String> {
        let party_key = self.trust.borrow().party_key.clone();
        let mut last = None;
        for (peer, addr) in &cover.sources {
            let asked = async {
                let conn =
                    crate::net::client::connect(&self.endpoint, *addr, Some(*peer), party_key.as_ref(), &self.traffic)
                        .await?;
                let bytes = conn.get_cover(&cover.id, cover.hash).await;
                conn.close();
                bytes
            };
            match asked.await {
                Ok(bytes) => return Ok(bytes),
                Err(e) => last = Some(e.to_string()),
            }
        }
        Err(last.unwrap_or_else(|| "no peer hands it out".into()))
    }

    /// The version of `game` a download would fetch, if any peer has it.
    pub fn newest_version(&self, game: &str) -> Option<String> {
        let trusted = self.trust.borrow().trusted.clone();
        self.db.lock().unwrap_or_else(|p| p.into_inner()).choice(game, &trusted).map(|c| c.version)
    }

    /// Connects to every peer that has the version of `game` to fetch and
    /// asks it for its file list, which the peer game DB remembers. Returns
    /// each peer's connection and list, or why it failed; `None` when no
    /// peer has the game.
    pub async fn open_game(&self, game: &str) -> Option<GameSources> {
        let trust = self.trust.borrow().clone();
        let (choice, targets) = {
            let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
            let choice = db.choice(game, &trust.trusted)?;
            let targets: Vec<(PeerId, SocketAddr)> =
                choice.sources.iter().filter_map(|id| db.get(*id).map(|p| (*id, p.addr))).collect();
            (choice, targets)
        };
        // A fresh endpoint of our own: one connection per peer on it, so
        // connection ids can be empty (see `transport::transfer_endpoint`).
        let endpoint = match transport::transfer_endpoint() {
            Ok(endpoint) => endpoint,
            Err(e) => {
                tracing::warn!("no separate transfer socket ({e}); using the node's");
                self.endpoint.clone()
            }
        };
        let mut asks = tokio::task::JoinSet::new();
        for (id, addr) in targets {
            let (endpoint, game, party_key) = (endpoint.clone(), game.to_owned(), trust.party_key.clone());
            let traffic = self.traffic.clone();
            asks.spawn(async move {
                let result = async {
                    let party_key = party_key.as_ref();
                    let conn = crate::net::client::connect(&endpoint, addr, Some(id), party_key, &traffic).await?;
                    let manifest = conn.get_game(&game).await?;
                    Ok((conn, manifest))
                }
                .await;
                (id, result)
            });
        }
        let mut results = Vec::new();
        while let Some(Ok((id, result))) = asks.join_next().await {
            if let Ok((_, manifest)) = &result {
                self.db.lock().unwrap_or_else(|p| p.into_inner()).set_manifest(id, manifest.clone());
            }
            results.push((id, result));
        }
        results.sort_by_key(|(id, _)| *id);
        Some(GameSources { choice, answers: results, trust })
    }
}
