//! The swarm: nodes fetching the same file list serve each other what they
//! have verified, so a room of PCs fetching one game from one seeder is not
//! limited by that seeder's uplink.
//!
//! Each node keeps a [`Swarms`] registry, shared by its server and its
//! downloads:
//! - a download *offers* its file list ([`Swarms::offer`]) and marks each
//!   chunk as it is verified; the server then answers
//!   [`GetChunk`](lanspread_proto::peer::PeerRequest::GetChunk) for those
//!   chunks from the files being written;
//! - a peer that *joins* ([`Swarms::join`]) a swarm of a game this node
//!   holds whole, or is fetching, is told what this node has and, batched,
//!   what it verifies next ([`Joined::next_update`]), and which other
//!   members it knows; it becomes a member the others are told of.
//!
//! Whoever holds the whole game is the meeting point, so there is no
//! tracker. What a member claims is only a hint: every chunk is still
//! checked against the file list's hashes where it arrives.
//!
//! # Layout
//! - [`chunks`]: chunk numbers across a file list and sets of them (plain
//!   logic, the checks on what peers claim).
//!
//! The downloader's side (joining its sources and the members they name) is
//! `download::follow`.

pub mod chunks;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lanspread_proto::PeerId;
use lanspread_proto::peer::{
    GameManifest, Have, MAX_HAVE_BATCH, MAX_SWARM_MEMBERS, ManifestHash, SwarmMember, SwarmUpdate,
};
use tokio::sync::watch;

use chunks::{ChunkBits, ChunkIndex, ChunkRef};

/// Members of one swarm at one IP address (several processes may share a
/// PC; more than this is somebody filling the list).
pub const MAX_MEMBERS_PER_ADDRESS: usize = 4;
/// Members one swarm keeps from naming ([`Swarms::withhold`]); the oldest
/// is forgotten first.
pub const MAX_WITHHELD: usize = 2 * MAX_SWARM_MEMBERS;
/// A member is withheld this long after it was last reported: a liar is
/// met again (and dropped within a second) after it, an honest member
/// wrongly reported is named again.
pub const WITHHOLD_FOR: Duration = Duration::from_secs(600);

/// The hash that names a file list (see [`ManifestHash`]).
pub fn manifest_hash(manifest: &GameManifest) -> ManifestHash {
    let bytes = postcard::to_allocvec(manifest).unwrap_or_default();
    *blake3::hash(&bytes).as_bytes()
}

/// The swarms this node takes part in.
#[derive(Debug, Clone, Default)]
pub struct Swarms {
    inner: Arc<Mutex<HashMap<ManifestHash, Swarm>>>,
}

#[derive(Debug)]
struct Swarm {
    id: String,
    version: String,
    members: Vec<(u64, SwarmMember)>,
    /// Members not named to others: a download dropped them, or they never
    /// delivered what they claimed ([`Swarms::withhold`]); with their entry
    /// while their join stream is open, to name them again.
    withheld: std::collections::VecDeque<Withheld>,
    /// Bumped whenever `members` changes.
    members_revision: u64,
    next_member_key: u64,
    /// This node's own download of the file list, while it runs.
    own: Option<Own>,
    /// Join streams open on this swarm.
    joined: usize,
    /// The chunks this node is sending to members, to whom, and until when
    /// a delivered one still counts (see [`DELIVERED_LINGER`]).
    sending: HashMap<ChunkRef, Vec<(u64, Option<Instant>)>>,
    /// Members sent elsewhere for a chunk once: the next time they ask for
    /// it they are served, so a member that hogs a chunk delays the others
    /// by one retry at most.
    redirected: HashSet<(u64, ChunkRef)>,
    changed: watch::Sender<()>,
}

/// A member not named to others, since when, and its entry while its join
/// stream is open (to name it again).
#[derive(Debug)]
struct Withheld {
    peer: PeerId,
    since: Instant,
    entry: Option<(u64, SwarmMember)>,
}

#[derive(Debug)]
struct Own {
    manifest: Arc<GameManifest>,
    /// Where each file is written; `None` for files not on disk until the
    /// commit (`version.ini`), which are never offered.
    files: Vec<Option<PathBuf>>,
    index: ChunkIndex,
    have: ChunkBits,
    /// Chunk numbers in the order they were verified, so each stream sends
    /// only what is new to it.
    log: Vec<u32>,
}

impl Swarms {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ManifestHash, Swarm>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry<'a>(
        swarms: &'a mut HashMap<ManifestHash, Swarm>,
        hash: ManifestHash,
        manifest: &GameManifest,
    ) -> &'a mut Swarm {
        swarms.entry(hash).or_insert_with(|| Swarm {
            id: manifest.id.clone(),
            version: manifest.version.clone(),
            members: Vec::new(),
            withheld: std::collections::VecDeque::new(),
            members_revision: 0,
            next_member_key: 0,
            own: None,
            joined: 0,
            sending: HashMap::new(),
            redirected: HashSet::new(),
            changed: watch::channel(()).0,
        })
    }

    /// Offers the chunks of a download as they are verified, starting with
    /// `verified`, until the returned handle is dropped. `files` says where
    /// each file of the list is written (`None`: not on disk before the
    /// commit, never offered).
    pub fn offer(
        &self,
        manifest: Arc<GameManifest>,
        files: Vec<Option<PathBuf>>,
        verified: impl IntoIterator<Item = ChunkRef>,
    ) -> Option<Offered> {
        let index = ChunkIndex::of(&manifest)?;
        let hash = manifest_hash(&manifest);
        let mut own = Own { have: ChunkBits::empty(index.total()), index, manifest, files, log: Vec::new() };
        for chunk in verified {
            own.add(chunk);
        }
        let mut swarms = self.lock();
        let swarm = Swarms::entry(&mut swarms, hash, &own.manifest.clone());
        swarm.own = Some(own);
        swarm.changed.send_replace(());
        Some(Offered { swarms: self.clone(), hash })
    }

    /// Where the bytes of a chunk this node has verified for a download in
    /// progress of `id` at `version` are: the file, offset and length.
    pub fn chunk_file(&self, id: &str, version: &str, file: u32, chunk: u32) -> Option<(PathBuf, u64, u32)> {
        let swarms = self.lock();
        let own = swarms.values().filter(|s| s.id == id && s.version == version).find_map(|s| s.own.as_ref())?;
        let chunk = ChunkRef { file, chunk };
        let number = own.index.number(chunk)?;
        if !own.have.contains(number) {
            return None;
        }
        let path = own.files.get(file as usize)?.clone()?;
        let chunk_size = u64::from(own.manifest.chunk_size);
        let offset = u64::from(chunk.chunk) * chunk_size;
        let len = own.manifest.files[file as usize].size.saturating_sub(offset).min(chunk_size);
        Some((path, offset, len as u32))
    }

    /// Where the files of a run (see [`chunks::run_len`]) of a download in
    /// progress of `id` at `version` are, when this node has verified every
    /// one of them: each non-empty file with its size, and the bytes in all.
    pub fn run_files(&self, id: &str, version: &str, file: u32, count: u32) -> Option<(Vec<(PathBuf, u64)>, u32)> {
        let swarms = self.lock();
        let own = swarms.values().filter(|s| s.id == id && s.version == version).find_map(|s| s.own.as_ref())?;
        let len = chunks::run_len(&own.manifest, file, count)?;
        let mut files = Vec::new();
        for f in file..file + count {
            let size = own.manifest.files[f as usize].size;
            if size > 0 {
                let number = own.index.number(ChunkRef { file: f, chunk: 0 })?;
                own.have.contains(number).then_some(())?;
                files.push((own.files.get(f as usize)?.clone()?, size));
            }
        }
        Some((files, len as u32))
    }

    /// Joins `member` (if it serves) to the swarm of `hash`: `whole` is the
    /// file list (and its hash) when this node holds the game whole;
    /// otherwise only a download of its own in progress answers. `None`:
    /// not here.
    pub fn join(
        &self,
        hash: ManifestHash,
        whole: Option<(&GameManifest, ManifestHash)>,
        member: Option<SwarmMember>,
    ) -> Option<Joined> {
        let whole = whole.filter(|(_, whole_hash)| *whole_hash == hash).map(|(m, _)| m);
        let mut swarms = self.lock();
        let swarm = match whole {
            Some(manifest) => Swarms::entry(&mut swarms, hash, manifest),
            None => swarms.get_mut(&hash).filter(|s| s.own.is_some())?,
        };
        swarm.joined += 1;
        let key = member.and_then(|member| swarm.add_member(member));
        Some(Joined {
            swarms: self.clone(),
            hash,
            key,
            whole: whole.is_some(),
            changed: swarm.changed.subscribe(),
            sent_have: None,
            sent_members: None,
        })
    }
}

/// Members sent elsewhere remembered per swarm; past this the memory
/// starts over.
impl Swarms {
    /// Stops naming `peer` to the members of the swarm `hash` for
    /// [`WITHHOLD_FOR`], and takes it out of the member list; it may still
    /// join and download.
    pub fn withhold(&self, hash: ManifestHash, peer: PeerId) {
        let mut swarms = self.lock();
        let Some(swarm) = swarms.get_mut(&hash) else { return };
        let now = Instant::now();
        swarm.forget_withheld(now);
        let entry = swarm.members.iter().position(|(_, m)| m.peer_id == peer).map(|at| swarm.members.remove(at));
        if entry.is_some() {
            swarm.members_revision += 1;
            swarm.changed.send_replace(());
        }
        // Reported again, it goes to the back: the list stays in order of time.
        let before = swarm.withheld.iter().position(|w| w.peer == peer).and_then(|at| swarm.withheld.remove(at));
        let entry = before.and_then(|w| w.entry).or(entry);
        if swarm.withheld.len() >= MAX_WITHHELD {
            swarm.withheld.pop_front();
        }
        swarm.withheld.push_back(Withheld { peer, since: now, entry });
    }

    /// Names `peer` again (it delivered after all).
    pub fn name_again(&self, hash: ManifestHash, peer: PeerId) {
        let mut swarms = self.lock();
        let Some(swarm) = swarms.get_mut(&hash) else { return };
        let Some(at) = swarm.withheld.iter().position(|w| w.peer == peer) else { return };
        if let Some(Withheld { entry: Some(entry), .. }) = swarm.withheld.remove(at) {
            swarm.restore(entry);
        }
    }

    /// The member `peer` of the swarm `hash`, if it is one.
    pub fn member(&self, hash: ManifestHash, peer: PeerId) -> Option<SwarmMember> {
        let swarms = self.lock();
        swarms.get(&hash)?.members.iter().find(|(_, m)| m.peer_id == peer).map(|(_, m)| m.clone())
    }

    /// The file list of this node's own download in the swarm `hash`.
    pub fn own_manifest(&self, hash: ManifestHash) -> Option<Arc<GameManifest>> {
        self.lock().get(&hash)?.own.as_ref().map(|own| own.manifest.clone())
    }
}

const MAX_REDIRECTS_KEPT: usize = 4096;

/// A chunk delivered to a member still sends others asking for it there
/// this long: until that member has told them it holds it (its updates are
/// batched every [`lanspread_proto::peer::SWARM_UPDATE_INTERVAL_MS`]).
pub const DELIVERED_LINGER: Duration = Duration::from_secs(1);

/// Why a member is not sent a chunk: another member is getting it from
/// this node right now and will serve it (see [`Swarms::start_sending`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elsewhere;

impl Swarms {
    /// Counts a chunk of `id` at `version` as being sent to the member
    /// `to` (a swarm key and member key from [`Joined::membership`]) until
    /// the returned guard is dropped, and [`DELIVERED_LINGER`] longer once
    /// [`Sending::delivered`]. A member asking for a chunk another member is
    /// receiving (or just received) from this node is sent there instead:
    /// this is how a seeder facing many downloaders hands each of them
    /// different chunks, and they trade the rest. A member already sent
    /// elsewhere for the chunk is served the next time it asks; requests
    /// from nodes that are not serving members are always served.
    pub fn start_sending(
        &self,
        id: &str,
        version: &str,
        chunk: ChunkRef,
        to: &[(ManifestHash, u64)],
        now: Instant,
    ) -> Result<Option<Sending>, Elsewhere> {
        let mut swarms = self.lock();
        let Some((hash, key)) = to.iter().copied().find(|(hash, key)| {
            swarms
                .get(hash)
                .is_some_and(|s| s.id == id && s.version == version && s.members.iter().any(|m| m.0 == *key))
        }) else {
            return Ok(None);
        };
        let swarm = swarms.get_mut(&hash).expect("found above");
        let members = &swarm.members;
        let receivers = swarm.sending.entry(chunk).or_default();
        // A receiver that left, or whose delivery is long told, counts no more.
        receivers.retain(|(k, until)| until.is_none_or(|t| t > now) && members.iter().any(|m| m.0 == *k));
        if receivers.iter().any(|(k, _)| *k != key) && !swarm.redirected.remove(&(key, chunk)) {
            if swarm.redirected.len() >= MAX_REDIRECTS_KEPT {
                swarm.redirected.clear();
            }
            swarm.redirected.insert((key, chunk));
            return Err(Elsewhere);
        }
        receivers.push((key, None));
        Ok(Some(Sending { swarms: self.clone(), hash, chunk, key, delivered: None }))
    }
}

/// A chunk on its way to a member (see [`Swarms::start_sending`]).
#[derive(Debug)]
pub struct Sending {
    swarms: Swarms,
    hash: ManifestHash,
    chunk: ChunkRef,
    key: u64,
    delivered: Option<Instant>,
}

impl Sending {
    /// The chunk was sent whole at `now`: others asking are sent to its
    /// receiver a while longer.
    pub fn delivered(mut self, now: Instant) {
        self.delivered = Some(now);
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        let mut swarms = self.swarms.lock();
        let Some(swarm) = swarms.get_mut(&self.hash) else { return };
        let Some(receivers) = swarm.sending.get_mut(&self.chunk) else { return };
        let Some(at) = receivers.iter().position(|(k, until)| *k == self.key && until.is_none()) else { return };
        match self.delivered {
            Some(now) => receivers[at].1 = Some(now + DELIVERED_LINGER),
            None => {
                receivers.swap_remove(at);
                if receivers.is_empty() {
                    swarm.sending.remove(&self.chunk);
                }
            }
        }
    }
}

impl Own {
    fn add(&mut self, chunk: ChunkRef) {
        if self.files.get(chunk.file as usize).is_some_and(Option::is_some)
            && let Some(n) = self.index.number(chunk)
            && self.have.insert(n)
        {
            self.log.push(n);
        }
    }
}

impl Swarm {
    /// Adds a member unless the swarm is full or its address has its share;
    /// one that joins again under the same address replaces its old entry.
    fn add_member(&mut self, member: SwarmMember) -> Option<u64> {
        self.forget_withheld(Instant::now());
        if self.withheld.iter().any(|w| w.peer == member.peer_id) {
            return None;
        }
        self.members.retain(|(_, m)| m.addr != member.addr);
        let ip: IpAddr = member.addr.ip();
        let at_ip = self.members.iter().filter(|(_, m)| m.addr.ip() == ip).count();
        if self.members.len() >= MAX_SWARM_MEMBERS || at_ip >= MAX_MEMBERS_PER_ADDRESS {
            return None;
        }
        let key = self.next_member_key;
        self.next_member_key += 1;
        self.members.push((key, member));
        self.members_revision += 1;
        self.changed.send_replace(());
        Some(key)
    }

    /// Names again the members withheld for [`WITHHOLD_FOR`].
    fn forget_withheld(&mut self, now: Instant) {
        while self.withheld.front().is_some_and(|w| now.duration_since(w.since) >= WITHHOLD_FOR) {
            if let Some(Withheld { entry: Some(entry), .. }) = self.withheld.pop_front() {
                self.restore(entry);
            }
        }
    }

    fn restore(&mut self, entry: (u64, SwarmMember)) {
        self.members.push(entry);
        self.members_revision += 1;
        self.changed.send_replace(());
    }

    fn is_unused(&self) -> bool {
        self.own.is_none() && self.joined == 0
    }
}

/// A download's offer to its swarm; dropping it withdraws the offer.
#[derive(Debug)]
pub struct Offered {
    swarms: Swarms,
    hash: ManifestHash,
}

impl Offered {
    /// `chunk` is verified and written: members may ask for it.
    pub fn verified(&self, chunk: ChunkRef) {
        let mut swarms = self.swarms.lock();
        if let Some(swarm) = swarms.get_mut(&self.hash)
            && let Some(own) = &mut swarm.own
        {
            own.add(chunk);
            swarm.changed.send_replace(());
        }
    }
}

impl Drop for Offered {
    fn drop(&mut self) {
        let mut swarms = self.swarms.lock();
        if let Some(swarm) = swarms.get_mut(&self.hash) {
            swarm.own = None;
            swarm.changed.send_replace(());
            if swarm.is_unused() {
                swarms.remove(&self.hash);
            }
        }
    }
}

/// One peer's join stream: what it has been told so far.
#[derive(Debug)]
pub struct Joined {
    swarms: Swarms,
    hash: ManifestHash,
    /// Its own entry in the member list, if it serves.
    key: Option<u64>,
    whole: bool,
    changed: watch::Receiver<()>,
    /// How many entries of the verified-chunk log it was sent (`Some(0)`
    /// after a whole set), `None` before the first update.
    sent_have: Option<usize>,
    sent_members: Option<u64>,
}

/// What a join stream does next.
#[derive(Debug, PartialEq)]
pub enum Next {
    Send(SwarmUpdate),
    /// Nothing new.
    Wait,
    /// The download it followed here is over and this node does not hold
    /// the game whole: the stream ends.
    End,
}

impl Joined {
    /// The swarm and the member this stream joined as, if it serves (see
    /// [`Swarms::start_sending`]).
    pub fn membership(&self) -> Option<(ManifestHash, u64)> {
        self.key.map(|key| (self.hash, key))
    }

    /// Claims the whole game on this stream whatever this node holds: a
    /// liar, for tests (see [`crate::faults`]).
    pub fn claim_whole(&mut self) {
        self.whole = true;
    }

    /// Waits until the swarm changed.
    pub async fn changed(&mut self) {
        let _ = self.changed.changed().await;
    }

    /// The update that brings the peer up to date.
    pub fn next_update(&mut self) -> Next {
        let swarms = self.swarms.lock();
        let Some(swarm) = swarms.get(&self.hash) else { return Next::End };
        self.changed.mark_unchanged();
        let have = if self.whole {
            (self.sent_have.is_none()).then_some(Have::All)
        } else {
            let Some(own) = &swarm.own else { return Next::End };
            match self.sent_have {
                Some(sent) if sent <= own.log.len() && own.log.len() - sent <= MAX_HAVE_BATCH => {
                    (own.log.len() > sent).then(|| Have::More(own.log[sent..].to_vec()))
                }
                _ => Some(Have::Bits(own.have.to_wire())),
            }
            .inspect(|_| self.sent_have = Some(own.log.len()))
        };
        if self.whole {
            self.sent_have = Some(0);
        }
        let members = (self.sent_members != Some(swarm.members_revision)).then(|| {
            self.sent_members = Some(swarm.members_revision);
            swarm.members.iter().filter(|(key, _)| Some(*key) != self.key).map(|(_, m)| m.clone()).collect()
        });
        if have.is_none() && members.is_none() {
            return Next::Wait;
        }
        Next::Send(SwarmUpdate { have, members })
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        let mut swarms = self.swarms.lock();
        let Some(swarm) = swarms.get_mut(&self.hash) else { return };
        swarm.joined -= 1;
        if let Some(key) = self.key {
            for withheld in &mut swarm.withheld {
                if withheld.entry.as_ref().is_some_and(|(k, _)| *k == key) {
                    withheld.entry = None;
                }
            }
            swarm.members.retain(|(k, _)| *k != key);
            swarm.members_revision += 1;
            swarm.changed.send_replace(());
        }
        if swarm.is_unused() {
            swarms.remove(&self.hash);
        }
    }
}

/// The address a joining peer serves on, as this node sees it.
pub fn member_addr(remote: SocketAddr, listen_port: u16) -> Option<SocketAddr> {
    (listen_port != 0).then(|| SocketAddr::new(remote.ip(), listen_port))
}

#[cfg(test)]
mod tests {
    use lanspread_proto::PeerId;
    use lanspread_proto::peer::FileEntry;

    use super::*;

    fn manifest() -> Arc<GameManifest> {
        let files = vec![
            FileEntry { path: "data.bin".into(), size: 40, chunks: vec![[1; 32]; 10] },
            FileEntry { path: "version.ini".into(), size: 2, chunks: vec![[2; 32]] },
        ];
        Arc::new(GameManifest { id: "g".into(), version: "1".into(), chunk_size: 4, files })
    }

    fn member(n: u8, port: u16) -> SwarmMember {
        SwarmMember { peer_id: PeerId([n; 32]), addr: SocketAddr::from(([10, 0, 0, n], port)) }
    }

    fn offer(swarms: &Swarms, verified: &[u32]) -> Offered {
        let files = vec![Some(PathBuf::from("root/data.bin")), None];
        let verified = verified.iter().map(|&chunk| ChunkRef { file: 0, chunk });
        swarms.offer(manifest(), files, verified).unwrap()
    }

    fn update(joined: &mut Joined) -> SwarmUpdate {
        match joined.next_update() {
            Next::Send(update) => update,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_member_hears_what_is_held_then_only_what_is_new_and_the_stream_ends_with_the_download() {
        let swarms = Swarms::default();
        let hash = manifest_hash(&manifest());
        assert!(swarms.join(hash, None, None).is_none(), "nothing to join before a download");
        let offered = offer(&swarms, &[0, 2]);
        let mut joined = swarms.join(hash, None, Some(member(1, 7000))).unwrap();
        let first = update(&mut joined);
        assert_eq!(first.have, Some(Have::Bits(vec![0b101, 0])));
        assert_eq!(first.members, Some(Vec::new()), "it is not told of itself");
        assert_eq!(joined.next_update(), Next::Wait);
        offered.verified(ChunkRef { file: 0, chunk: 5 });
        offered.verified(ChunkRef { file: 1, chunk: 0 });
        offered.verified(ChunkRef { file: 0, chunk: 5 });
        assert_eq!(update(&mut joined), SwarmUpdate { have: Some(Have::More(vec![5])), members: None });
        assert_eq!(swarms.chunk_file("g", "1", 0, 5), Some((PathBuf::from("root/data.bin"), 20, 4)));
        assert_eq!(swarms.chunk_file("g", "1", 0, 6), None, "not verified");
        assert_eq!(swarms.chunk_file("g", "1", 1, 0), None, "version.ini is written only at the commit");
        assert_eq!(swarms.chunk_file("g", "2", 0, 5), None, "another version");
        drop(offered);
        assert_eq!(joined.next_update(), Next::End);
        assert_eq!(swarms.chunk_file("g", "1", 0, 5), None);
        drop(joined);
        assert!(swarms.lock().is_empty(), "nothing is kept for a swarm nobody is in");
    }

    #[test]
    fn a_whole_game_answers_all_and_members_are_bounded_per_address_and_in_all() {
        let swarms = Swarms::default();
        let whole = manifest();
        let hash = manifest_hash(&whole);
        let mut other = whole.as_ref().clone();
        other.version = "2".into();
        let other_hash = manifest_hash(&other);
        assert!(swarms.join(hash, Some((&other, other_hash)), None).is_none(), "another file list");
        let whole = Some((whole.as_ref(), hash));
        let mut first = swarms.join(hash, whole, None).unwrap();
        assert_eq!(update(&mut first).have, Some(Have::All));
        let mut joins = Vec::new();
        for port in 0..10 {
            joins.push(swarms.join(hash, whole, Some(member(1, 7000 + port))).unwrap());
        }
        let listed = update(&mut first).members.unwrap();
        assert_eq!(listed.len(), MAX_MEMBERS_PER_ADDRESS, "one address fills only its share");
        for n in 2..=200 {
            joins.push(swarms.join(hash, whole, Some(member(n, 7000))).unwrap());
        }
        assert_eq!(update(&mut first).members.unwrap().len(), MAX_SWARM_MEMBERS);
        joins.clear();
        assert_eq!(update(&mut first).members, Some(Vec::new()), "members leave with their streams");
    }

    #[test]
    fn a_withheld_member_is_not_named_cannot_join_again_and_is_named_again_when_cleared() {
        let swarms = Swarms::default();
        let whole = manifest();
        let hash = manifest_hash(&whole);
        let whole = Some((whole.as_ref(), hash));
        let mut watcher = swarms.join(hash, whole, None).unwrap();
        let (liar, honest) = (member(2, 7000), member(3, 7000));
        let _liar_stream = swarms.join(hash, whole, Some(liar.clone())).unwrap();
        let _honest_stream = swarms.join(hash, whole, Some(honest.clone())).unwrap();
        assert_eq!(update(&mut watcher).members, Some(vec![liar.clone(), honest.clone()]));
        swarms.withhold(hash, liar.peer_id);
        swarms.withhold(hash, honest.peer_id);
        assert_eq!(update(&mut watcher).members, Some(Vec::new()));
        let again = swarms.join(hash, whole, Some(liar.clone())).unwrap();
        assert_eq!(again.membership(), None, "joined to download, not as a member");
        assert_eq!(watcher.next_update(), Next::Wait);
        swarms.name_again(hash, honest.peer_id);
        assert_eq!(update(&mut watcher).members, Some(vec![honest.clone()]));
        assert_eq!(swarms.member(hash, honest.peer_id), Some(honest));
        assert_eq!(swarms.member(hash, liar.peer_id), None);
    }

    #[test]
    fn a_withheld_member_is_named_again_after_its_time() {
        let swarms = Swarms::default();
        let whole = manifest();
        let hash = manifest_hash(&whole);
        let whole = Some((whole.as_ref(), hash));
        let mut watcher = swarms.join(hash, whole, None).unwrap();
        let member = member(2, 7000);
        let _stream = swarms.join(hash, whole, Some(member.clone())).unwrap();
        swarms.withhold(hash, member.peer_id);
        assert_eq!(update(&mut watcher).members, Some(Vec::new()));
        let mut all = swarms.lock();
        let swarm = all.get_mut(&hash).unwrap();
        swarm.forget_withheld(Instant::now() + WITHHOLD_FOR - Duration::from_secs(1));
        assert_eq!(swarm.members.len(), 0, "not yet");
        swarm.forget_withheld(Instant::now() + WITHHOLD_FOR);
        assert!(swarm.withheld.is_empty());
        drop(all);
        assert_eq!(update(&mut watcher).members, Some(vec![member]));
    }

    #[test]
    fn withheld_members_are_bounded_and_the_oldest_is_forgotten() {
        let swarms = Swarms::default();
        let whole = manifest();
        let hash = manifest_hash(&whole);
        let _watcher = swarms.join(hash, Some((whole.as_ref(), hash)), None).unwrap();
        for n in 0..=MAX_WITHHELD as u32 {
            let mut id = [0; 32];
            id[..4].copy_from_slice(&n.to_le_bytes());
            swarms.withhold(hash, PeerId(id));
        }
        let swarms = swarms.lock();
        let withheld = &swarms[&hash].withheld;
        assert_eq!(withheld.len(), MAX_WITHHELD);
        assert_ne!(withheld[0].peer, PeerId([0; 32]), "the first withheld was forgotten");
    }

    #[test]
    fn a_chunk_on_its_way_to_one_member_sends_the_next_asker_elsewhere() {
        let swarms = Swarms::default();
        let whole = manifest();
        let hash = manifest_hash(&whole);
        let whole = Some((whole.as_ref(), hash));
        let b = swarms.join(hash, whole, Some(member(2, 7000))).unwrap();
        let c = swarms.join(hash, whole, Some(member(3, 7000))).unwrap();
        let (b, c) = ([b.membership().unwrap()], [c.membership().unwrap()]);
        let chunk = ChunkRef { file: 0, chunk: 4 };
        let t0 = Instant::now();
        let ask = |chunk, who: &[(ManifestHash, u64)], at| swarms.start_sending("g", "1", chunk, who, at);
        let to_b = ask(chunk, &b, t0).unwrap().unwrap();
        assert_eq!(ask(chunk, &c, t0).unwrap_err(), Elsewhere);
        assert!(ask(chunk, &[], t0).unwrap().is_none(), "a non-member is always served");
        assert!(ask(ChunkRef { file: 0, chunk: 5 }, &c, t0).unwrap().is_some());
        to_b.delivered(t0);
        let told = t0 + DELIVERED_LINGER;
        let d = swarms.join(hash, whole, Some(member(4, 7000))).unwrap();
        let d = [d.membership().unwrap()];
        assert_eq!(ask(chunk, &d, told - Duration::from_millis(1)).unwrap_err(), Elsewhere, "b has it: ask b");
        assert!(ask(chunk, &d, told).unwrap().is_some(), "once b told the others, anyone may ask");
        let e = swarms.join(hash, whole, Some(member(5, 7000))).unwrap();
        let e = [e.membership().unwrap()];
        let t1 = told + Duration::from_secs(1);
        let to_e = ask(ChunkRef { file: 0, chunk: 7 }, &e, t1).unwrap();
        assert_eq!(ask(ChunkRef { file: 0, chunk: 7 }, &d, t1).unwrap_err(), Elsewhere);
        assert!(ask(ChunkRef { file: 0, chunk: 7 }, &d, t1).unwrap().is_some(), "sent elsewhere once, served next");
        drop(to_e);

        let failed = ask(ChunkRef { file: 0, chunk: 6 }, &b, t0).unwrap();
        drop(failed);
        assert!(
            ask(ChunkRef { file: 0, chunk: 6 }, &c, t0).unwrap().is_some(),
            "a send that failed counts for nothing"
        );
    }
}
