//! Answers peer requests from the published library state, and from the
//! downloads in progress for the chunks they have verified
//! ([`crate::swarm`]).
//!
//! Each request arrives on its own bidirectional stream and is read under a
//! size limit and a deadline. A bad frame is answered with an error the
//! client can show, logged with the peer's address (one line per address
//! per [`LOG_INTERVAL`]), and ends only that stream: the connection and
//! every other peer keep being served.
//!
//! What one peer can make the server hold is bounded: at most
//! [`MAX_CONNECTIONS_PER_ADDRESS`] connections from one address and
//! [`MAX_CONNECTIONS`] in all, [`transport::MAX_STREAMS_PER_PEER`] requests
//! per connection, [`MAX_JOINS_PER_CONNECTION`] of them swarm joins, and
//! the memory and upload slots chunks take ([`super::upload`]).
//!
//! With a party key set, a connection gets nothing but refusals until it
//! has proven the key ([`super::party`]); the check is made for every
//! request against the key of the moment, so a key changed while the node
//! runs applies to open connections too.
//!
//! [`LOG_INTERVAL`]: super::log_limit::LOG_INTERVAL
//! [`transport::MAX_STREAMS_PER_PEER`]: super::transport::MAX_STREAMS_PER_PEER

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lanspread_proto::io::{read_frame, write_frame};
use lanspread_proto::peer::{
    self, ErrorCode, Hello, MAX_COVER_BYTES, ManifestHash, PARTY_CLIENT_ROLE, PARTY_SERVER_ROLE, PartyProof, PeerError,
    PeerRequest, PeerResponse, SWARM_UPDATE_INTERVAL_MS, SwarmMember,
};
use lanspread_proto::{FrameError, PeerId};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::candidate::{Candidate, Origin};
use super::log_limit::{LogLimiter, held_back};
use super::party::{PartyKey, SessionSecret};
use super::traffic::Traffic;
use super::upload::{
    Budget, ChunkBytes, ChunkPlace, PIECES_PER_CONNECTION, SEND_PIECE, SERVE_MEMORY, Uploads, WRITE_TIMEOUT, send_chunk,
};
use super::vetting::Vetting;
use crate::faults::Faults;
use crate::library::{Library, LibraryState};
use crate::swarm::chunks::{ChunkRef, chunk_len, run_len};
use crate::swarm::{self, Elsewhere, Joined, Next, Sending, Swarms};

/// A request must arrive whole within this time.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// At shutdown, chunks on their way get this long to arrive.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(1);
/// Connections served at once, all peers together.
pub const MAX_CONNECTIONS: usize = 256;
/// Connections served at once from one IP address (a PC keeps two: one for
/// discovery, one per download; several processes may share an address).
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 16;
// One PC's connections, each holding its pieces, take at most half of the
// memory uploads may hold: one PC cannot starve the others.
const _: () = assert!(MAX_CONNECTIONS_PER_ADDRESS * PIECES_PER_CONNECTION * SEND_PIECE <= SERVE_MEMORY / 2);
/// Stream reset code after a bad request.
const STOP_BAD_REQUEST: u32 = 1;
/// Stream reset code when a chunk cannot be sent whole.
const RESET_CHUNK_FAILED: u32 = 2;
/// Stream reset code when the peer took none of an answer in time.
const RESET_ANSWER_STALLED: u32 = 3;

/// What the server needs to answer.
#[derive(Debug)]
pub struct ServerContext {
    pub peer_id: PeerId,
    pub display_name: String,
    pub listen_port: u16,
    /// The games served whole; `None` on a node that serves only its
    /// downloads in progress (`fetch`).
    pub library: Option<Library>,
    /// The swarms of this node's downloads and of the games it holds.
    pub swarms: Swarms,
    /// Serving nodes that say hello become peer candidates.
    pub candidates: mpsc::UnboundedSender<Candidate>,
    /// Warnings about one source are rate-limited.
    pub log_limit: LogLimiter,
    /// The party key of the moment (`None`: no key).
    pub party_key: watch::Receiver<Option<PartyKey>>,
    /// Counts the chunk bytes sent.
    pub traffic: Traffic,
    /// Fault switches for tests.
    pub faults: Faults,
    /// The hash of each whole game's file list, kept while the list is the
    /// same (hashing one is megabytes of work).
    pub manifest_hashes: Mutex<HashMap<String, (Arc<peer::GameManifest>, ManifestHash)>>,
    /// Checks the swarm members downloaders report.
    pub vetting: Vetting,
}

/// What the server knows of one connection: its TLS session's exported
/// secret and whether (and with which key) the party key was proven on it.
#[derive(Debug)]
pub struct Session {
    secret: Option<SessionSecret>,
    proof: Mutex<ProofState>,
    /// The swarms this connection joined as a serving member.
    memberships: Mutex<Vec<(ManifestHash, u64)>>,
    /// Join streams open on this connection.
    joins: Arc<AtomicUsize>,
}

/// Join streams one connection may have open at once (a download has one
/// per source; more is a peer holding streams and members for nothing).
pub const MAX_JOINS_PER_CONNECTION: usize = 4;

/// A connection's place for one join stream, given back on drop.
#[derive(Debug)]
pub struct JoinPlace(Arc<AtomicUsize>);

impl JoinPlace {
    fn take(joins: &Arc<AtomicUsize>) -> Option<JoinPlace> {
        joins
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_JOINS_PER_CONNECTION).then_some(n + 1))
            .ok()
            .map(|_| JoinPlace(joins.clone()))
    }
}

impl Drop for JoinPlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug)]
enum ProofState {
    None,
    Proven(PartyKey),
    Wrong,
}

impl Session {
    pub fn new(secret: Option<SessionSecret>) -> Session {
        Session { secret, proof: Mutex::new(ProofState::None), memberships: Mutex::default(), joins: Arc::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ProofState> {
        self.proof.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ServerContext {
    fn hello(&self) -> Hello {
        Hello {
            protocol_version: peer::PEER_PROTOCOL_VERSION,
            peer_id: self.peer_id,
            display_name: self.display_name.clone(),
            library_revision: self.revision(),
            listen_port: self.listen_port,
        }
    }

    fn revision(&self) -> u64 {
        self.library.as_ref().map_or(0, |l| l.state().revision)
    }

    /// The file list of `id` when this node holds it whole and it is not
    /// being changed.
    fn whole_manifest(&self, id: &str) -> Option<Arc<peer::GameManifest>> {
        let library = self.library.as_ref()?;
        let state = library.state();
        let game = state.games.get(id).filter(|g| g.version.is_some() && !library.is_busy(id))?;
        game.manifest.clone()
    }

    /// The answer to one well-formed request from `remote` on the
    /// connection `session`.
    pub fn answer(&self, request: PeerRequest, remote: SocketAddr, session: &Session) -> Reply {
        let party_key = self.party_key.borrow().clone();
        // A proof, and an old node's hello (refused in words), pass the gate.
        let gated = match &request {
            PeerRequest::Prove(_) => false,
            PeerRequest::Hello(theirs) => theirs.protocol_version == peer::PEER_PROTOCOL_VERSION,
            _ => true,
        };
        if gated && let Some(refusal) = party_refusal(party_key.as_ref(), session) {
            return Reply::Frame(refusal);
        }
        let response = match request {
            PeerRequest::GetChunk { id, version, file, chunk } => {
                let located = self.locate_chunk(&id, &version, file, chunk);
                return self.send_or_redirect(located, &id, &version, ChunkRef { file, chunk }, session);
            }
            PeerRequest::GetRun { id, version, file, count } => {
                let located = self.locate_run(&id, &version, file, count);
                return self.send_or_redirect(located, &id, &version, ChunkRef { file, chunk: 0 }, session);
            }
            PeerRequest::GetCover { id } => return self.locate_cover(&id),
            PeerRequest::Hello(theirs) => self.greet(&theirs, remote),
            PeerRequest::Join { id, manifest, peer_id, listen_port } => {
                let reply = self.join(&id, manifest, peer_id, swarm::member_addr(remote, listen_port), session);
                if let Reply::Join(joined, _) = &reply
                    && let Some(membership) = joined.membership()
                {
                    let mut memberships = session.memberships.lock().unwrap_or_else(|p| p.into_inner());
                    // One per swarm: a member that joins again replaces itself.
                    memberships.retain(|(hash, _)| *hash != membership.0);
                    memberships.push(membership);
                }
                return reply;
            }
            PeerRequest::Ping => PeerResponse::Pong { library_revision: self.revision() },
            PeerRequest::ListGames => PeerResponse::GameList(match &self.library {
                Some(library) => library.game_list(),
                None => peer::GameList { games: Vec::new(), scanning: false },
            }),
            PeerRequest::GetGame { id } => self.manifest_of(&id),
            PeerRequest::Prove(proof) => self.check_proof(party_key, &proof, session, remote),
            PeerRequest::Dropped { id, manifest, peers } => {
                // Only a member of that swarm here has met its members.
                let member =
                    session.memberships.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|m| m.0 == manifest);
                if let Some(file_list) = self.file_list(&id, manifest).filter(|_| member) {
                    let peers = &peers[..peers.len().min(peer::MAX_DROPPED_REPORT)];
                    self.vetting.reported(remote.ip(), file_list, manifest, peers);
                }
                PeerResponse::Noted
            }
        };
        Reply::Frame(response)
    }

    /// Checks a client's proof of the party key; a valid one is answered
    /// with ours, so the client knows we hold the key too.
    fn check_proof(
        &self,
        key: Option<PartyKey>,
        proof: &PartyProof,
        session: &Session,
        remote: SocketAddr,
    ) -> PeerResponse {
        let Some(key) = key else {
            return error(ErrorCode::NoPartyKey, "this node has no party key: it is not in a party with one".into());
        };
        let Some(secret) = &session.secret else {
            return error(ErrorCode::Internal, "this connection cannot prove a party key".into());
        };
        if key.verifies(secret, PARTY_CLIENT_ROLE, proof) {
            *session.state() = ProofState::Proven(key.clone());
            PeerResponse::Proven(key.proof(secret, PARTY_SERVER_ROLE))
        } else {
            *session.state() = ProofState::Wrong;
            if let Some(n) = self.log_limit.allow(remote.ip(), Instant::now()) {
                tracing::warn!("peer {remote}: refused: it has another party key{}", held_back(n));
            }
            error(ErrorCode::WrongPartyKey, WRONG_PARTY_KEY.into())
        }
    }

    /// Answers a hello; a serving node that says hello becomes a candidate peer.
    fn greet(&self, theirs: &Hello, remote: SocketAddr) -> PeerResponse {
        if theirs.protocol_version != peer::PEER_PROTOCOL_VERSION {
            return error(ErrorCode::VersionMismatch, super::version_mismatch(theirs.protocol_version));
        }
        if theirs.listen_port != 0 && theirs.peer_id != self.peer_id {
            // One candidate per address and identity: hellos claiming many
            // ports only move that candidate's port (and the peer manager
            // takes few identities per address).
            let addr = SocketAddr::new(remote.ip(), theirs.listen_port);
            let _ = self.candidates.send(Candidate::Found {
                key: format!("hello from {} as {}", remote.ip(), theirs.peer_id),
                addrs: vec![addr],
                expected: Some(theirs.peer_id),
                origin: Origin::Hello,
            });
        }
        PeerResponse::Hello(self.hello())
    }

    fn manifest_of(&self, id: &str) -> PeerResponse {
        let Some(library) = &self.library else {
            return error(ErrorCode::NotFound, format!("no downloaded game {id:?} here"));
        };
        let state = library.state();
        match state.games.get(id).filter(|g| g.version.is_some() && !library.is_busy(id)) {
            None => error(ErrorCode::NotFound, format!("no downloaded game {id:?} here")),
            Some(game) => match &game.manifest {
                Some(manifest) => PeerResponse::Game(manifest.as_ref().clone()),
                None => error(ErrorCode::NotReady, format!("{id}: still hashing its files, ask again shortly")),
            },
        }
    }

    /// The hash of `manifest`, the file list of `id` held whole, worked out
    /// once per list.
    fn manifest_hash_of(&self, id: &str, manifest: &Arc<peer::GameManifest>) -> ManifestHash {
        let mut hashes = self.manifest_hashes.lock().unwrap_or_else(|p| p.into_inner());
        match hashes.get(id) {
            Some((known, hash)) if Arc::ptr_eq(known, manifest) => *hash,
            _ => {
                let hash = swarm::manifest_hash(manifest);
                hashes.insert(id.to_owned(), (manifest.clone(), hash));
                hash
            }
        }
    }

    /// The file list of `id` named by `hash`: one held whole, or one this
    /// node is fetching.
    fn file_list(&self, id: &str, hash: ManifestHash) -> Option<Arc<peer::GameManifest>> {
        let whole = self.whole_manifest(id).filter(|m| self.manifest_hash_of(id, m) == hash);
        whole.or_else(|| self.swarms.own_manifest(hash))
    }

    /// Joins a peer to the swarm of a file list of `id` this node holds
    /// whole or is fetching.
    fn join(
        &self,
        id: &str,
        hash: ManifestHash,
        peer_id: PeerId,
        addr: Option<SocketAddr>,
        session: &Session,
    ) -> Reply {
        let Some(place) = JoinPlace::take(&session.joins) else {
            let message = format!("at most {MAX_JOINS_PER_CONNECTION} swarms at once on one connection");
            return Reply::Frame(error(ErrorCode::Busy, message));
        };
        let whole = self.whole_manifest(id).map(|m| {
            let hash = self.manifest_hash_of(id, &m);
            (m, hash)
        });
        let member = addr.filter(|_| peer_id != self.peer_id).map(|addr| SwarmMember { peer_id, addr });
        match self.swarms.join(hash, whole.as_ref().map(|(m, hash)| (m.as_ref(), *hash)), member) {
            Some(mut joined) => {
                if self.faults.claims_all_chunks() {
                    joined.claim_whole();
                }
                Reply::Join(joined, place)
            }
            None => Reply::Frame(error(ErrorCode::NotFound, format!("{id}: no such file list here"))),
        }
    }

    /// Where a listed game's cover is, and the hash its bytes must have.
    fn locate_cover(&self, id: &str) -> Reply {
        let cover = self.whole_manifest(id).and_then(|m| m.cover().map(|c| (c.path.clone(), c.chunks[0])));
        match (cover, &self.library) {
            (Some((path, hash)), Some(library)) => Reply::Cover { path: library.state().file_path(id, &path), hash },
            _ => Reply::Frame(error(ErrorCode::NotFound, format!("no cover of {id:?} here"))),
        }
    }

    /// `located`, a chunk or run whose first chunk is `first`, counted as
    /// on its way to the swarm member asking; or, when another member is
    /// getting it from here right now, a pointer there
    /// ([`Swarms::start_sending`]).
    fn send_or_redirect(&self, located: Reply, id: &str, version: &str, first: ChunkRef, session: &Session) -> Reply {
        let Reply::Chunk { place, len, index, game, .. } = located else { return located };
        let memberships = session.memberships.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match self.swarms.start_sending(id, version, first, &memberships, Instant::now()) {
            Ok(sending) => Reply::Chunk { place, len, index, sending, game },
            Err(Elsewhere) => {
                let (file, chunk) = (first.file, first.chunk);
                let message = format!("{id}: another member is getting chunk {chunk} of file {file} from here");
                Reply::Frame(error(ErrorCode::Elsewhere, message))
            }
        }
    }

    /// The file list of `id` at `version` held whole here and not being
    /// changed (with the library state it is from), or the refusal to send.
    fn served_manifest(
        &self,
        id: &str,
        version: &str,
    ) -> Result<(Arc<peer::GameManifest>, Arc<LibraryState>), PeerResponse> {
        let Some(library) = &self.library else {
            return Err(error(ErrorCode::NotFound, format!("no downloaded game {id:?} here")));
        };
        if library.is_busy(id) {
            return Err(error(ErrorCode::NotReady, format!("{id} is being changed on this node; ask again later")));
        }
        let state = library.state();
        let Some(manifest) = state.games.get(id).and_then(|g| g.manifest.clone()) else {
            return Err(error(ErrorCode::NotFound, format!("no downloaded game {id:?} here")));
        };
        if manifest.version != version {
            let message = format!("{id}: this node has version {}, not {version}", manifest.version);
            return Err(error(ErrorCode::NotFound, message));
        }
        Ok((manifest, state))
    }

    /// Where the bytes of a chunk are, checked against our own manifest
    /// only: a game held whole, else a download in progress that has it.
    fn locate_chunk(&self, id: &str, version: &str, file: u32, chunk: u32) -> Reply {
        let game = id.to_owned();
        if let Some((path, offset, len)) = self.swarms.chunk_file(id, version, file, chunk) {
            return Reply::Chunk {
                place: ChunkPlace::Range { path, offset },
                len,
                index: (file, chunk),
                sending: None,
                game,
            };
        }
        let (manifest, state) = match self.served_manifest(id, version) {
            Ok(served) => served,
            Err(refusal) => return Reply::Frame(refusal),
        };
        let Some(entry) = manifest.files.get(file as usize).filter(|f| (chunk as usize) < f.chunks.len()) else {
            return Reply::Frame(error(ErrorCode::NotFound, format!("{id}: no chunk {chunk} of file {file}")));
        };
        let len = chunk_len(&manifest, ChunkRef { file, chunk }) as u32;
        let offset = u64::from(chunk) * u64::from(manifest.chunk_size);
        let path = state.file_path(id, &entry.path);
        Reply::Chunk { place: ChunkPlace::Range { path, offset }, len, index: (file, chunk), sending: None, game }
    }

    /// Where the files of a run are (see [`PeerRequest::GetRun`]): a game
    /// held whole, else a download in progress that has each of them.
    fn locate_run(&self, id: &str, version: &str, file: u32, count: u32) -> Reply {
        let game = id.to_owned();
        if let Some((files, len)) = self.swarms.run_files(id, version, file, count) {
            return Reply::Chunk { place: ChunkPlace::Files(files), len, index: (file, 0), sending: None, game };
        }
        let (manifest, state) = match self.served_manifest(id, version) {
            Ok(served) => served,
            Err(refusal) => return Reply::Frame(refusal),
        };
        let Some(len) = run_len(&manifest, file, count) else {
            let message = format!("{id}: no run of {count} small files from file {file}");
            return Reply::Frame(error(ErrorCode::NotFound, message));
        };
        let entries = &manifest.files[file as usize..(file + count) as usize];
        let files = entries.iter().filter(|f| f.size > 0).map(|f| (state.file_path(id, &f.path), f.size)).collect();
        Reply::Chunk { place: ChunkPlace::Files(files), len: len as u32, index: (file, 0), sending: None, game }
    }
}

/// What to send back for one request.
#[derive(Debug)]
pub enum Reply {
    Frame(PeerResponse),
    /// A chunk header, then `len` bytes from `place`.
    Chunk {
        place: ChunkPlace,
        len: u32,
        index: (u32, u32),
        /// Counts the chunk as on its way to a swarm member until sent.
        sending: Option<Sending>,
        /// The game it is of, for the upload counts.
        game: String,
    },
    /// A cover picture: `path`'s bytes, sent only if they hash to `hash`.
    Cover {
        path: PathBuf,
        hash: [u8; 32],
    },
    /// Swarm updates until either side ends the stream, in one of the
    /// connection's places for them.
    Join(Joined, JoinPlace),
}

/// The refusal for a connection that has not proven `key`, if there is a key.
fn party_refusal(key: Option<&PartyKey>, session: &Session) -> Option<PeerResponse> {
    let key = key?;
    match &*session.state() {
        ProofState::Proven(proven) if proven == key => None,
        ProofState::Wrong => Some(error(ErrorCode::WrongPartyKey, WRONG_PARTY_KEY.into())),
        _ => Some(error(ErrorCode::PartyKeyRequired, PARTY_KEY_REQUIRED.into())),
    }
}

/// Why a connection that has not proven the party key gets nothing.
const PARTY_KEY_REQUIRED: &str =
    "this node is in a party with a key: set the same party key (settings, or --party-key) to see its games";
const WRONG_PARTY_KEY: &str = "the party key differs from this node's";

fn error(code: ErrorCode, message: String) -> PeerResponse {
    PeerResponse::Error(PeerError { code, message })
}

fn code_for(err: &FrameError) -> ErrorCode {
    match err {
        FrameError::UnknownVariant { .. } => ErrorCode::UnknownRequest,
        _ => ErrorCode::BadFrame,
    }
}

/// What every connection shares: the uploads' budget and who is connected.
#[derive(Debug)]
struct Limits {
    uploads: Uploads,
    connections: Mutex<Connections>,
}

#[derive(Debug, Default)]
struct Connections {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// A connection's place in [`Limits::connections`], given back on drop.
struct Admitted {
    limits: Arc<Limits>,
    ip: IpAddr,
}

impl Limits {
    fn new() -> Self {
        Limits { uploads: Uploads::new(), connections: Mutex::new(Connections::default()) }
    }

    /// Counts a new connection from `ip`, or says why it is refused.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, &'static str> {
        let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if connections.total >= MAX_CONNECTIONS {
            return Err("too many connections in all");
        }
        let from_ip = connections.per_address.entry(ip).or_default();
        if *from_ip >= MAX_CONNECTIONS_PER_ADDRESS {
            return Err("too many connections from this address");
        }
        *from_ip += 1;
        connections.total += 1;
        Ok(Admitted { limits: self.clone(), ip })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut connections = self.limits.connections.lock().unwrap_or_else(|p| p.into_inner());
        connections.total -= 1;
        if let Some(n) = connections.per_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                connections.per_address.remove(&self.ip);
            }
        }
    }
}

/// Accepts connections until `cancel` fires.
pub async fn serve(endpoint: quinn::Endpoint, ctx: Arc<ServerContext>, cancel: CancellationToken) {
    let tracker = TaskTracker::new();
    let limits = Arc::new(Limits::new());
    loop {
        let incoming = tokio::select! {
            () = cancel.cancelled() => break,
            incoming = endpoint.accept() => incoming,
        };
        let Some(incoming) = incoming else { break };
        let remote = incoming.remote_address();
        match limits.admit(remote.ip()) {
            Ok(admitted) => {
                tracker.spawn(handle_connection(incoming, admitted, ctx.clone(), cancel.clone()));
            }
            Err(why) => {
                if let Some(n) = ctx.log_limit.allow(remote.ip(), Instant::now()) {
                    tracing::warn!("peer {remote}: connection refused: {why}{}", held_back(n));
                }
                incoming.refuse();
            }
        }
    }
    // Chunks on their way are sent to the end (a member leaving a swarm
    // says so first, so their receivers wait for them instead of asking
    // again elsewhere), for a moment at most.
    tracker.close();
    let _ = tokio::time::timeout(SHUTDOWN_DRAIN, tracker.wait()).await;
    endpoint.close(peer::close::SHUTDOWN.into(), b"shutting down");
    tracker.wait().await;
}

async fn handle_connection(
    incoming: quinn::Incoming,
    admitted: Admitted,
    ctx: Arc<ServerContext>,
    cancel: CancellationToken,
) {
    let remote = incoming.remote_address();
    let conn = match incoming.await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::debug!("peer {remote}: handshake failed: {e}");
            return;
        }
    };
    let budget = admitted.limits.uploads.budget(&ctx.traffic, remote.ip());
    let session = Arc::new(Session::new(SessionSecret::of(&conn)));
    let streams = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            () = cancel.cancelled() => break,
            stream = conn.accept_bi() => stream,
        };
        match stream {
            Ok((send, recv)) => {
                let (ctx, budget, session) = (ctx.clone(), budget.clone(), session.clone());
                streams.spawn(handle_stream(send, recv, ctx, budget, (session, remote), cancel.clone()));
            }
            Err(e) => {
                tracing::debug!("peer {remote}: connection ended: {e}");
                break;
            }
        }
    }
    streams.close();
    streams.wait().await;
    drop(admitted);
}

async fn handle_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    ctx: Arc<ServerContext>,
    budget: Budget,
    (session, remote): (Arc<Session>, SocketAddr),
    cancel: CancellationToken,
) {
    let warn = |what: String| {
        if let Some(n) = ctx.log_limit.allow(remote.ip(), Instant::now()) {
            tracing::warn!("peer {remote}: {what}{}", held_back(n));
        }
    };
    let reply = match tokio::time::timeout(REQUEST_TIMEOUT, read_frame::<PeerRequest, _>(&mut recv)).await {
        Ok(Ok(Some(request))) => ctx.answer(request, remote, &session),
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            warn(format!("bad request: {e}"));
            let _ = recv.stop(STOP_BAD_REQUEST.into());
            Reply::Frame(error(code_for(&e), format!("bad request: {e}")))
        }
        Err(_) => {
            warn(format!("no whole request within {REQUEST_TIMEOUT:?}"));
            let _ = recv.stop(STOP_BAD_REQUEST.into());
            Reply::Frame(error(ErrorCode::BadFrame, format!("no whole request within {REQUEST_TIMEOUT:?}")))
        }
    };
    // A cover's bytes hold one send piece of the budget until written.
    let mut cover_memory = None;
    let (response, chunk) = match reply {
        Reply::Join(joined, _place) => return send_swarm_updates(send, joined, remote, cancel).await,
        Reply::Frame(response) => (response, None),
        Reply::Chunk { place, len, index, sending, game } => {
            // The chunk waits its turn for an upload slot; a peer that gives
            // up meanwhile leaves the queue.
            let slots = tokio::select! {
                slots = budget.slots() => slots,
                _ = send.stopped() => return,
            };
            match place.open(len).await {
                Ok(source) => {
                    let bytes = ChunkBytes { source, len, game, index };
                    (PeerResponse::Chunk { len }, Some((bytes, sending, slots)))
                }
                Err(e) => {
                    warn(format!("cannot read chunk {index:?} of {game}: {e}"));
                    (error(ErrorCode::Internal, format!("cannot read the chunk: {e}")), None)
                }
            }
        }
        Reply::Cover { path, hash } => {
            let Some(memory) = budget.piece_memory().await else { return };
            cover_memory = Some(memory);
            match read_cover(path.clone(), hash).await {
                Ok(bytes) => (PeerResponse::Cover(bytes), None),
                Err(e) => {
                    warn(format!("cannot hand out {}: {e}", path.display()));
                    (error(ErrorCode::NotReady, format!("the cover changed or cannot be read: {e}")), None)
                }
            }
        }
    };
    // A peer that takes nothing holds no memory for long.
    match tokio::time::timeout(WRITE_TIMEOUT, write_frame(&mut send, &response)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::debug!("peer {remote}: cannot answer: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!("peer {remote}: took nothing of the answer for {WRITE_TIMEOUT:?}");
            let _ = send.reset(RESET_ANSWER_STALLED.into());
            return;
        }
    }
    drop(cover_memory);
    // The chunk keeps its upload slots until the peer has it all: QUIC
    // buffers what is written, and a slot freed then would only buffer more.
    if let Some((bytes, _, _)) = &chunk
        && let Err(e) = send_chunk(&mut send, bytes, (&budget, remote.ip()), (&ctx.traffic, &ctx.faults)).await
    {
        tracing::debug!("peer {remote}: {} chunk {:?} not sent: {e}", bytes.game, bytes.index);
        let _ = send.reset(RESET_CHUNK_FAILED.into());
        return;
    }
    let _ = send.finish();
    // Let the answer drain before the stream is dropped.
    let drained = tokio::time::timeout(WRITE_TIMEOUT, send.stopped()).await;
    if let Some((bytes, sending, _slots)) = chunk
        && let Ok(Ok(None)) = drained
    {
        tracing::trace!("peer {remote}: {} chunk {:?} delivered", bytes.game, bytes.index);
        if let Some(sending) = sending {
            sending.delivered(Instant::now());
        }
    }
}

/// Sends a joined peer what the swarm has, then what changes, at most once
/// per [`SWARM_UPDATE_INTERVAL_MS`], until the peer stops reading, takes
/// nothing for [`WRITE_TIMEOUT`], or the swarm here ends.
/// Tells a joined peer what changes until the swarm is gone here, the peer
/// stops reading, or the node shuts down (then the stream is finished:
/// the peer lets what is on its way arrive, see `serve`).
async fn send_swarm_updates(
    mut send: quinn::SendStream,
    mut joined: Joined,
    remote: SocketAddr,
    cancel: CancellationToken,
) {
    let interval = Duration::from_millis(SWARM_UPDATE_INTERVAL_MS);
    loop {
        match joined.next_update() {
            Next::End => break,
            Next::Wait => {}
            Next::Send(update) => {
                let frame = PeerResponse::Swarm(update);
                match tokio::time::timeout(WRITE_TIMEOUT, write_frame(&mut send, &frame)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::debug!("peer {remote}: swarm updates end: {e}");
                        return;
                    }
                    Err(_) => {
                        let _ = send.reset(RESET_ANSWER_STALLED.into());
                        return;
                    }
                }
                // Batches what is verified meanwhile into the next update.
                tokio::time::sleep(interval).await;
            }
        }
        tokio::select! {
            () = joined.changed() => {}
            _ = send.stopped() => return,
            () = cancel.cancelled() => break,
        }
    }
    let _ = send.finish();
}

/// Reads a cover file (at most [`MAX_COVER_BYTES`]) and checks it is still
/// the picture the manifest names.
async fn read_cover(path: PathBuf, hash: [u8; 32]) -> std::io::Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(&path)?.take(MAX_COVER_BYTES + 1).read_to_end(&mut bytes)?;
        if *blake3::hash(&bytes).as_bytes() != hash {
            return Err(std::io::Error::other("it changed since it was hashed"));
        }
        Ok(bytes)
    })
    .await
    .map_err(std::io::Error::other)?
}
