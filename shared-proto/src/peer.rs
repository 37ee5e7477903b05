//! The peer protocol: one LanSpread node asking another over QUIC.
//!
//! **Participants.** A *client* node opens a QUIC connection (ALPN [`ALPN`])
//! to a *server* node found by mDNS or given as a static peer, and sends one
//! [`PeerRequest`] per bidirectional stream; the server answers with one
//! [`PeerResponse`] and finishes the stream.
//!
//! **Goals.** Find out who a peer is ([`PeerRequest::Hello`]), whether it is
//! alive and whether its library changed ([`PeerRequest::Ping`]), which games
//! it offers ([`PeerRequest::ListGames`]), what a game is made of, down to
//! the BLAKE3 hash of every chunk ([`PeerRequest::GetGame`]), the chunks
//! themselves ([`PeerRequest::GetChunk`]; small files a run at a time,
//! [`PeerRequest::GetRun`]), and a game's cover picture
//! ([`PeerRequest::GetCover`]), so a game shows its art before anyone here
//! downloaded it.
//!
//! **Swarm.** Nodes fetching the same file list (named by its hash, see
//! [`ManifestHash`]) serve each other the chunks they have verified. A
//! downloader [joins](PeerRequest::Join) every source of its download on one
//! stream that stays open: the source answers with a series of
//! [`SwarmUpdate`]s (what it holds, then what it verified since, batched;
//! the other members it knows of), so nobody polls. Whoever holds the whole
//! game acts as the meeting point: no tracker, no setup.
//!
//! **Party key.** With an optional shared key set, a node answers nothing
//! but [`PeerRequest::Hello`]'s refusal and [`PeerRequest::Prove`] until the
//! connection has proven the key: each side sends a keyed hash of keying
//! material exported from this connection's TLS session
//! ([`PARTY_EXPORTER_LABEL`]), so the proof is worthless on any other
//! connection and the key itself never travels. Which peers' file lists
//! count (trusted seeders) is decided by each node and is not on the wire.
//!
//! **Non-goals.** Accounts and user authentication, NAT traversal, anything
//! outside a LAN. Without trusted seeders, nodes trust each other's data
//! only as far as the hashes go.
//!
//! The server answers only for catalogued, fully downloaded games and never
//! builds a path from request data. The identity of the server is its
//! certificate's key: see [`crate::PeerId`].

use serde::{Deserialize, Serialize};

use crate::frame::Message;
use crate::game::{GameId, PeerId};

/// QUIC application protocol name.
pub const ALPN: &[u8] = b"lanspread/1";
/// Version exchanged in [`Hello`]; a mismatch is refused with a readable
/// error. 2: the party key ([`PeerRequest::Prove`]); 3: game lists say
/// whether the library is still being scanned ([`PeerResponse::GameList`]);
/// 4: covers; 5: the swarm ([`PeerRequest::Join`]); 6: runs of small files
/// ([`PeerRequest::GetRun`]).
pub const PEER_PROTOCOL_VERSION: u32 = 6;
/// TLS exporter label of the party-key proof (RFC 8446 §7.5).
pub const PARTY_EXPORTER_LABEL: &[u8] = b"EXPORTER-lanspread-party-key";
/// What the connecting side's proof hashes beside the exported secret; the
/// answering side's hashes [`PARTY_SERVER_ROLE`], so a proof sent back is
/// not a proof.
pub const PARTY_CLIENT_ROLE: &[u8] = b"client";
pub const PARTY_SERVER_ROLE: &[u8] = b"server";
/// Longest party key, in bytes.
pub const MAX_PARTY_KEY_LEN: usize = 256;

/// Why a text is not a party key.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum PartyKeyError {
    #[error("the party key is empty")]
    Empty,
    #[error("the party key is longer than {MAX_PARTY_KEY_LEN} bytes")]
    TooLong,
    #[error("the party key contains control characters")]
    ControlCharacters,
}

/// The party key in a text a person typed: surrounding whitespace does not
/// count (it is easy to copy by accident), anything else does. The one rule
/// for the settings panel and the worker.
pub fn party_key_text(text: &str) -> Result<&str, PartyKeyError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(PartyKeyError::Empty);
    }
    if text.len() > MAX_PARTY_KEY_LEN {
        return Err(PartyKeyError::TooLong);
    }
    if text.chars().any(char::is_control) {
        return Err(PartyKeyError::ControlCharacters);
    }
    Ok(text)
}
/// Largest peer response body (a manifest of a very large game fits).
pub const MAX_PEER_FRAME: usize = 8 * 1024 * 1024;
/// Largest peer request body: requests carry an id, a version, a display
/// name and a few numbers, so a few KB is plenty.
pub const MAX_PEER_REQUEST: usize = 4 * 1024;
/// Most games one peer may list; the rest of a longer list is dropped.
pub const MAX_GAMES_PER_PEER: usize = 10_000;
/// Most files a manifest may name.
pub const MAX_MANIFEST_FILES: usize = 200_000;
/// Largest `version.ini` a manifest may declare (it is held in memory).
pub const MAX_VERSION_FILE_SIZE: u64 = 64 * 1024;
/// Default UDP port a node listens on, fixed so installers can open it.
pub const DEFAULT_PEER_PORT: u16 = 47474;
/// mDNS service type every node announces and browses.
pub const MDNS_SERVICE_TYPE: &str = "_lanspread._udp.local.";

/// QUIC application close codes.
pub mod close {
    /// Normal close: the client is done.
    pub const DONE: u32 = 0;
    /// The node is shutting down.
    pub const SHUTDOWN: u32 = 1;
    /// The peer's protocol version or identity does not match.
    pub const REFUSED: u32 = 2;
}

/// TXT keys of the mDNS announcement.
pub mod txt {
    pub const PROTOCOL: &str = "proto";
    pub const PEER_ID: &str = "id";
    pub const PORT: &str = "port";
    pub const NAME: &str = "name";
    pub const REVISION: &str = "rev";
    /// Present (`1`) when the node needs a party key; never the key.
    pub const PARTY: &str = "party";
}

/// A keyed hash of the connection's exported keying material: proves the
/// party key on this connection only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyProof(pub [u8; 32]);

/// A node introducing itself (sent by the client, answered by the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol_version: u32,
    pub peer_id: PeerId,
    pub display_name: String,
    /// Changes whenever the node's served library changes.
    pub library_revision: u64,
    /// UDP port this node serves on; 0 when it does not serve (`list`).
    /// A server learns serving clients as peers from it, so a static peer
    /// configured on one side is enough.
    pub listen_port: u16,
}

/// A request; one per stream. Append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerRequest {
    Hello(Hello),
    Ping,
    ListGames,
    GetGame {
        id: GameId,
    },
    /// One chunk of a file of the server's manifest of `id` at `version`,
    /// answered by [`PeerResponse::Chunk`] and then exactly that many raw bytes.
    GetChunk {
        id: GameId,
        version: String,
        file: u32,
        chunk: u32,
    },
    /// The connecting side's proof of the party key, sent first on a
    /// connection; answered by [`PeerResponse::Proven`] with the server's.
    Prove(PartyProof),
    /// The cover picture of a listed game (see [`GameSummary::cover`]),
    /// answered by [`PeerResponse::Cover`].
    GetCover {
        id: GameId,
    },
    /// Joins the swarm of the file list `manifest` of `id`: answered by
    /// [`PeerResponse::Swarm`] frames, the first at once, until either side
    /// ends the stream. `listen_port` (0: not serving) is where the joining
    /// node, `peer_id` by its certificate, serves its own verified chunks;
    /// the answering node names it to the other members, who check that
    /// certificate when they connect.
    Join {
        id: GameId,
        manifest: ManifestHash,
        peer_id: PeerId,
        listen_port: u16,
    },
    /// Members of the swarm of the file list `manifest` of `id` that the
    /// sending node's download asked for chunks they claimed and got none
    /// from (at most [`MAX_DROPPED_REPORT`]), answered by
    /// [`PeerResponse::Noted`]. The answering node stops naming them to
    /// others and asks each for a chunk itself: one that delivers is named
    /// again. A node that does not know this request refuses it, which
    /// changes nothing.
    Dropped {
        id: GameId,
        manifest: ManifestHash,
        peers: Vec<PeerId>,
    },
    /// The whole files `file..file + count` of the server's manifest of
    /// `id` at `version`, each of at most one chunk (a run of small files,
    /// at most [`MAX_RUN_FILES`] of them and [`MAX_RUN_BYTES`] in all, and
    /// never more than one chunk size), answered by [`PeerResponse::Chunk`]
    /// with the sum of their sizes and then their bytes one after another.
    /// One request, stream and upload slot for what would otherwise be
    /// hundreds: a game of many small files moves at the link's speed.
    GetRun {
        id: GameId,
        version: String,
        file: u32,
        count: u32,
    },
}

impl Message for PeerRequest {
    const NAME: &'static str = "peer request";
    const MAX_FRAME: usize = MAX_PEER_REQUEST;
    const VARIANTS: Option<u32> = Some(10);
}

/// Most files one [`PeerRequest::GetRun`] asks for.
pub const MAX_RUN_FILES: u32 = 256;
/// Most bytes one [`PeerRequest::GetRun`] answers with (and at most the
/// file list's chunk size): a run is one send piece of the server's memory.
pub const MAX_RUN_BYTES: u32 = 1024 * 1024;

/// Most members one [`PeerRequest::Dropped`] names.
pub const MAX_DROPPED_REPORT: usize = 32;

/// The BLAKE3 hash of a file list's postcard encoding: two nodes with the
/// same hash fetch the same content, chunk for chunk.
pub type ManifestHash = [u8; 32];

/// Most members one [`SwarmUpdate`] names (and a node remembers per swarm).
pub const MAX_SWARM_MEMBERS: usize = 64;
/// Most newly verified chunks one [`SwarmUpdate`] lists; more are sent as
/// a whole [`Have::Bits`].
pub const MAX_HAVE_BATCH: usize = 4096;
/// Swarm updates on one stream are at most this often: verified chunks are
/// batched, never sent one by one.
pub const SWARM_UPDATE_INTERVAL_MS: u64 = 100;

/// What a swarm member holds of the file list, chunks numbered in file
/// order (file 0's chunks, then file 1's, …). Append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Have {
    /// Every chunk: the game is downloaded.
    All,
    /// One bit per chunk, chunk `i` at bit `i % 8` of byte `i / 8`; exactly
    /// as many bytes as the chunks need.
    Bits(Vec<u8>),
    /// Chunks verified since the last update (at most [`MAX_HAVE_BATCH`]).
    More(Vec<u32>),
}

/// Another node in a swarm: where it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmMember {
    pub peer_id: PeerId,
    pub addr: std::net::SocketAddr,
}

/// One frame of a [`PeerRequest::Join`] stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmUpdate {
    /// What the answering node holds (`None`: unchanged since the last update).
    pub have: Option<Have>,
    /// The other members it knows of (`None`: unchanged), at most
    /// [`MAX_SWARM_MEMBERS`].
    pub members: Option<Vec<SwarmMember>>,
}

/// The files at the top of a game root that are its cover picture, in the
/// order they are looked for. A cover is a payload file like any other (it
/// is downloaded with the game); peers also hand it out alone.
pub const COVER_FILES: [&str; 3] = ["cover.png", "cover.jpg", "cover.jpeg"];
/// Largest cover file handed out or accepted.
pub const MAX_COVER_BYTES: u64 = 1024 * 1024;

/// Largest chunk size a node accepts in a manifest (bounds chunk reads).
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;

/// A game as listed by a peer: listed means downloaded (its `version.ini` is
/// committed) and its file list ready to be asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameSummary {
    pub id: GameId,
    pub version: String,
    /// Total payload bytes.
    pub size: u64,
    pub installed: bool,
    /// BLAKE3 of the game's cover file, when it has one a peer can ask for
    /// ([`GameManifest::cover`]); the picture received must hash to it.
    pub cover: Option<[u8; 32]>,
}

/// One file of a game, relative to its game root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative path with `/` separators; never absolute, never `..`.
    pub path: String,
    pub size: u64,
    /// BLAKE3 of each `chunk_size` piece of the file, in order.
    pub chunks: Vec<[u8; 32]>,
}

/// What a game is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameManifest {
    pub id: GameId,
    pub version: String,
    pub chunk_size: u32,
    pub files: Vec<FileEntry>,
}

impl GameManifest {
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The game's cover: the first of [`COVER_FILES`] in its file list that
    /// is not empty, at most [`MAX_COVER_BYTES`] and one chunk long (so its
    /// chunk hash is the hash of the whole picture).
    pub fn cover(&self) -> Option<&FileEntry> {
        COVER_FILES.iter().find_map(|name| {
            self.files
                .iter()
                .find(|f| f.path == *name && f.size > 0 && f.size <= MAX_COVER_BYTES && f.chunks.len() == 1)
        })
    }
}

/// Why a request failed. Append-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The request frame was too large, truncated or did not decode.
    BadFrame,
    /// The request names a variant this node does not know.
    UnknownRequest,
    /// Hello with a different protocol version.
    VersionMismatch,
    /// No such catalogued, downloaded game here.
    NotFound,
    /// The game is here but its manifest is still being hashed.
    NotReady,
    /// Too many requests in flight from this peer.
    Busy,
    /// Something failed on the server side.
    Internal,
    /// This node has a party key and the connection has not proven it.
    PartyKeyRequired,
    /// The connection's proof does not match this node's party key.
    WrongPartyKey,
    /// A proof was sent to a node that has no party key.
    NoPartyKey,
    /// Another swarm member is receiving this chunk from this node right
    /// now: get it from that member once it has it.
    Elsewhere,
}

/// An error answer with a message a person can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerError {
    pub code: ErrorCode,
    pub message: String,
}

/// A response; one per stream. Append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerResponse {
    Hello(Hello),
    Pong {
        library_revision: u64,
    },
    Games(Vec<GameSummary>),
    Game(GameManifest),
    Error(PeerError),
    /// Header of a chunk: `len` raw bytes follow on the stream.
    Chunk {
        len: u32,
    },
    /// The server's proof of the party key, after a valid client proof.
    Proven(PartyProof),
    /// The answer to [`PeerRequest::ListGames`] since protocol 3.
    GameList(GameList),
    /// A cover picture's bytes (at most [`MAX_COVER_BYTES`]).
    Cover(Vec<u8>),
    /// One frame of a [`PeerRequest::Join`] stream.
    Swarm(SwarmUpdate),
    /// A [`PeerRequest::Dropped`] was taken in.
    Noted,
}

/// A node's games, and whether more may come soon: a node that has just
/// started lists each game as soon as its file list is ready and says it is
/// still scanning until its library is read, so askers wait for it instead of
/// taking an empty list for an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameList {
    pub games: Vec<GameSummary>,
    /// The library is being scanned or hashed: ask again shortly.
    pub scanning: bool,
}

impl Message for PeerResponse {
    const NAME: &'static str = "peer response";
    const MAX_FRAME: usize = MAX_PEER_FRAME;
    const VARIANTS: Option<u32> = Some(11);
}
