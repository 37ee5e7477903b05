//! What the network offers: per peer, its games and the manifests we asked
//! for; per game, who has it and the newest version. Plain data, no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanspread_proto::PeerId;
use lanspread_proto::ipc::{MAX_OTHER_VERSIONS, NetworkGame, OtherVersion, PeerSummary};
use lanspread_proto::peer::{GameList, GameManifest, GameSummary};

use crate::trust::{self, Choice, Offer};

/// One peer as last seen.
#[derive(Debug, Clone)]
pub struct PeerRecord {
    pub id: PeerId,
    pub display_name: String,
    pub addr: SocketAddr,
    pub revision: u64,
    pub games: Vec<GameSummary>,
    /// File lists we fetched from this peer, by game id.
    pub manifests: BTreeMap<String, Arc<GameManifest>>,
    pub last_seen: Instant,
    /// When it joined.
    pub joined: Instant,
    /// Its last list said its library is still being scanned.
    pub scanning: bool,
}

impl PeerRecord {
    pub fn summary(&self) -> PeerSummary {
        PeerSummary { peer_id: self.id, display_name: self.display_name.clone(), address: self.addr.to_string() }
    }
}

/// A game's cover as the network offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkCover {
    pub id: String,
    pub hash: [u8; 32],
    /// The peers that hand it out, with their addresses.
    pub sources: Vec<(PeerId, SocketAddr)>,
}

/// All live peers and their games.
#[derive(Debug, Default)]
pub struct PeerGameDb {
    peers: BTreeMap<PeerId, PeerRecord>,
}

impl PeerGameDb {
    /// Adds a peer or refreshes its address and name; true if it is new.
    pub fn upsert(&mut self, id: PeerId, display_name: &str, addr: SocketAddr, now: Instant) -> bool {
        match self.peers.get_mut(&id) {
            Some(peer) => {
                peer.display_name = display_name.to_owned();
                peer.addr = addr;
                peer.last_seen = now;
                false
            }
            None => {
                let record = PeerRecord {
                    id,
                    display_name: display_name.to_owned(),
                    addr,
                    revision: 0,
                    games: Vec::new(),
                    manifests: BTreeMap::new(),
                    last_seen: now,
                    joined: now,
                    scanning: false,
                };
                self.peers.insert(id, record);
                true
            }
        }
    }

    /// Replaces a peer's game list; manifests of versions it no longer has go.
    pub fn set_games(&mut self, id: PeerId, revision: u64, games: Vec<GameSummary>) {
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.manifests.retain(|game, m| games.iter().any(|g| &g.id == game && g.version == m.version));
            peer.revision = revision;
            peer.games = games;
        }
    }

    /// Takes a peer's whole answer to a game list request.
    pub fn set_list(&mut self, id: PeerId, revision: u64, list: GameList) {
        self.set_games(id, revision, list.games);
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.scanning = list.scanning;
        }
    }

    /// Peers whose last list said they are still scanning.
    pub fn scanning(&self) -> usize {
        self.peers.values().filter(|p| p.scanning).count()
    }

    /// Remembers the file list a peer sent for one of its games.
    pub fn set_manifest(&mut self, id: PeerId, manifest: GameManifest) {
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.manifests.insert(manifest.id.clone(), Arc::new(manifest));
        }
    }

    pub fn saw(&mut self, id: PeerId, now: Instant) {
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.last_seen = now;
        }
    }

    pub fn remove(&mut self, id: PeerId) -> Option<PeerRecord> {
        self.peers.remove(&id)
    }

    pub fn get(&self, id: PeerId) -> Option<&PeerRecord> {
        self.peers.get(&id)
    }

    /// Peers not seen for `timeout`.
    pub fn stale(&self, now: Instant, timeout: Duration) -> Vec<PeerId> {
        self.peers.values().filter(|p| now.saturating_duration_since(p.last_seen) > timeout).map(|p| p.id).collect()
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Every peer's listing of `game`.
    pub fn offers(&self, game: &str) -> Vec<Offer> {
        self.offers_where(|id| id == game).into_values().next().unwrap_or_default()
    }

    /// Every peer's listing of every game, by game, in one pass.
    pub fn offers_by_game(&self) -> BTreeMap<&str, Vec<Offer>> {
        self.offers_where(|_| true)
    }

    fn offers_where(&self, wanted: impl Fn(&str) -> bool) -> BTreeMap<&str, Vec<Offer>> {
        let mut offers: BTreeMap<&str, Vec<Offer>> = BTreeMap::new();
        for peer in self.peers.values() {
            for game in peer.games.iter().filter(|g| wanted(&g.id)) {
                let offer = Offer { peer: peer.id, ip: peer.addr.ip(), version: game.version.clone(), size: game.size };
                offers.entry(game.id.as_str()).or_default().push(offer);
            }
        }
        offers
    }

    /// Which version of `game` to fetch and whose file list counts, with
    /// the peers `trusted` (see [`trust::choose`]).
    pub fn choice(&self, game: &str, trusted: &BTreeSet<PeerId>) -> Option<Choice> {
        trust::choose(&self.offers(game), trusted)
    }

    /// For every game some peer has, the cover of the version to fetch: the
    /// hash the peers whose file list counts (the first of them in id order
    /// that names one) give, and every peer listing that hash for the game,
    /// with its address.
    pub fn covers(&self, trusted: &BTreeSet<PeerId>) -> Vec<NetworkCover> {
        self.offers_by_game()
            .into_keys()
            .filter_map(|id| {
                let choice = self.choice(id, trusted)?;
                let listed = |peer: &PeerId| {
                    let record = self.peers.get(peer)?;
                    let game = record.games.iter().find(|g| g.id == id && g.version == choice.version)?;
                    Some((record, game.cover?))
                };
                let hash = choice.authorities.iter().find_map(|peer| listed(peer).map(|(_, hash)| hash))?;
                let sources = choice
                    .sources
                    .iter()
                    .filter_map(|peer| listed(peer).filter(|(_, h)| *h == hash).map(|(r, _)| (r.id, r.addr)))
                    .collect();
                Some(NetworkCover { id: id.to_owned(), hash, sources })
            })
            .collect()
    }

    /// `authorities` grouped by the file list of `id` at `version` each
    /// sent, when the lists fetched from them differ; empty otherwise.
    fn disagreement(&self, id: &str, version: &str, authorities: &[PeerId]) -> Vec<Vec<PeerId>> {
        let mut groups: Vec<(&GameManifest, Vec<PeerId>)> = Vec::new();
        for peer in authorities {
            let Some(list) = self.peers.get(peer).and_then(|p| p.manifests.get(id)).filter(|m| m.version == version)
            else {
                continue;
            };
            match groups.iter_mut().find(|(m, _)| *m == list.as_ref()) {
                Some((_, peers)) => peers.push(*peer),
                None => groups.push((list.as_ref(), vec![*peer])),
            }
        }
        if groups.len() < 2 {
            return Vec::new();
        }
        groups.into_iter().map(|(_, peers)| peers).collect()
    }

    /// Every game some peer has, with the version to fetch and who has it.
    pub fn network_games(&self, trusted: &BTreeSet<PeerId>) -> Vec<NetworkGame> {
        self.offers_by_game()
            .into_iter()
            .filter_map(|(id, offers)| {
                let choice = trust::choose(&offers, trusted)?;
                let disagreement = self.disagreement(id, &choice.version, &choice.authorities);
                Some(NetworkGame {
                    id: id.to_owned(),
                    newest_version: choice.version,
                    peers_with_newest: u32::try_from(choice.sources.len()).unwrap_or(u32::MAX),
                    peers_total: u32::try_from(offers.len()).unwrap_or(u32::MAX),
                    size: choice.size,
                    trusted: choice.trusted,
                    supplied_by: choice.authorities,
                    other_versions: choice
                        .others
                        .into_iter()
                        .take(MAX_OTHER_VERSIONS)
                        .map(|(version, peers)| OtherVersion { version, peers })
                        .collect(),
                    disagreement,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn game(id: &str, version: &str, size: u64) -> GameSummary {
        GameSummary { id: id.into(), version: version.into(), size, installed: false, cover: None }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn newest_version_and_who_has_it() {
        let now = Instant::now();
        let mut db = PeerGameDb::default();
        let (a, b, c) = (PeerId([1; 32]), PeerId([2; 32]), PeerId([3; 32]));
        for (id, port) in [(a, 1), (b, 2), (c, 3)] {
            assert!(db.upsert(id, "n", addr(port), now));
        }
        assert!(!db.upsert(a, "renamed", addr(9), now));
        db.set_games(a, 1, vec![game("openarena", "0.8.9", 10), game("xonotic", "0.8.5", 5)]);
        db.set_games(b, 1, vec![game("openarena", "0.8.10", 20)]);
        db.set_games(c, 1, vec![game("openarena", "0.8.10", 20)]);
        let games = db.network_games(&BTreeSet::new());
        assert_eq!(games.len(), 2);
        assert_eq!(
            games[0],
            NetworkGame {
                id: "openarena".into(),
                newest_version: "0.8.10".into(),
                peers_with_newest: 2,
                peers_total: 3,
                size: 20,
                trusted: false,
                supplied_by: vec![b, c],
                other_versions: vec![OtherVersion { version: "0.8.9".into(), peers: vec![a] }],
                disagreement: Vec::new(),
            }
        );
        assert_eq!(games[1].peers_with_newest, 1);
        // Trusting the peer with the older version makes it the one to fetch.
        let games = db.network_games(&[a].into_iter().collect());
        assert_eq!((games[0].newest_version.as_str(), games[0].trusted), ("0.8.9", true));
        assert_eq!(games[0].supplied_by, [a]);
        assert_eq!(games[0].other_versions, [OtherVersion { version: "0.8.10".into(), peers: vec![b, c] }]);
        assert_eq!(db.get(a).unwrap().addr, addr(9));
    }

    #[test]
    fn stale_peers_are_found_and_removed_with_their_games() {
        let start = Instant::now();
        let mut db = PeerGameDb::default();
        let (a, b) = (PeerId([1; 32]), PeerId([2; 32]));
        db.upsert(a, "a", addr(1), start);
        db.upsert(b, "b", addr(2), start);
        db.set_games(b, 1, vec![game("wesnoth", "1.18", 1)]);
        let later = start + Duration::from_secs(7);
        db.saw(a, later);
        assert_eq!(db.stale(later, Duration::from_secs(6)), [b]);
        db.remove(b);
        assert!(db.network_games(&BTreeSet::new()).is_empty());
        assert_eq!(db.len(), 1);
    }

    #[test]
    fn manifests_of_versions_a_peer_dropped_are_forgotten() {
        let mut db = PeerGameDb::default();
        let a = PeerId([1; 32]);
        db.upsert(a, "a", addr(1), Instant::now());
        db.set_games(a, 1, vec![game("wesnoth", "1.16", 1)]);
        db.set_manifest(a, GameManifest { id: "wesnoth".into(), version: "1.16".into(), chunk_size: 4, files: vec![] });
        assert!(db.get(a).unwrap().manifests.contains_key("wesnoth"));
        db.set_games(a, 2, vec![game("wesnoth", "1.18", 1)]);
        assert!(db.get(a).unwrap().manifests.is_empty());
    }

    #[test]
    fn a_cover_is_the_one_the_file_list_that_counts_names_and_any_peer_with_it_hands_it_out() {
        let now = Instant::now();
        let mut db = PeerGameDb::default();
        let (a, b, c) = (PeerId([1; 32]), PeerId([2; 32]), PeerId([3; 32]));
        for (id, port) in [(a, 1), (b, 2), (c, 3)] {
            db.upsert(id, "n", addr(port), now);
        }
        let with_cover =
            |version: &str, hash: u8| GameSummary { cover: Some([hash; 32]), ..game("openarena", version, 1) };
        db.set_games(a, 1, vec![with_cover("1.0", 7), game("xonotic", "1", 1)]);
        db.set_games(b, 1, vec![with_cover("1.0", 7)]);
        db.set_games(c, 1, vec![with_cover("1.0", 9)]);
        let covers = db.covers(&BTreeSet::new());
        assert_eq!(covers.len(), 1, "a game without a cover has none");
        assert_eq!((covers[0].hash, covers[0].sources.clone()), ([7; 32], vec![(a, addr(1)), (b, addr(2))]));
        // A trusted peer's list counts: its cover wins.
        let covers = db.covers(&[c].into_iter().collect());
        assert_eq!((covers[0].hash, covers[0].sources.clone()), ([9; 32], vec![(c, addr(3))]));
    }
}
