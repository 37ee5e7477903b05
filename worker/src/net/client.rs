//! Asking other nodes: connect with the expected identity (and prove the
//! party key, when there is one), then one request per stream, each under a
//! deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lanspread_proto::io::{read_frame, write_frame};
use lanspread_proto::names::printable;
use lanspread_proto::peer::{
    self, ErrorCode, GameList, GameManifest, Hello, MAX_COVER_BYTES, ManifestHash, PARTY_CLIENT_ROLE,
    PARTY_SERVER_ROLE, PeerError, PeerRequest, PeerResponse, SwarmUpdate,
};
use lanspread_proto::{FrameError, PeerId};

use super::identity::{SERVER_NAME, peer_id_of};
use super::party::{PartyKey, SessionSecret};
use super::received::ReceivedChunk;
use super::traffic::Traffic;
use super::transport;

/// A handshake must finish within this time (a LAN answers in milliseconds).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A whole chunk must arrive within this time once the peer starts sending
/// it (a 4 MiB chunk of a very large game at 20 Mbit/s takes 2 s, behind a
/// window of others).
pub const CHUNK_TIMEOUT: Duration = Duration::from_secs(30);
/// A peer must start sending a chunk asked for within this time: it may
/// first wait for one of its upload slots while it serves others.
pub const CHUNK_QUEUE_TIMEOUT: Duration = Duration::from_secs(60);
/// A response must arrive within this time.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why asking a peer failed; each names the peer's address.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{addr}: cannot connect: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("{addr}: no answer within {timeout:?}")]
    Timeout { addr: SocketAddr, timeout: Duration },
    #[error("{addr}: {source}")]
    Frame {
        addr: SocketAddr,
        #[source]
        source: FrameError,
    },
    #[error("{addr}: the peer ended the stream without answering")]
    NoAnswer { addr: SocketAddr },
    #[error("{addr}: the peer says: {} ({:?})", .error.message, .error.code)]
    Refused { addr: SocketAddr, error: PeerError },
    #[error("{addr}: unexpected answer to {request}")]
    Unexpected { addr: SocketAddr, request: &'static str },
    #[error("{addr}: claims to be {claimed} but its certificate is {actual}")]
    IdentityMismatch { addr: SocketAddr, claimed: PeerId, actual: PeerId },
    #[error("{addr}: {message}")]
    Version { addr: SocketAddr, message: String },
    #[error("{addr}: not in this party: {reason}")]
    NotInParty { addr: SocketAddr, reason: &'static str },
}

impl ClientError {
    /// Whether the peer answered (and said no), rather than not being there.
    pub fn is_answer(&self) -> bool {
        matches!(
            self,
            ClientError::Refused { .. }
                | ClientError::Unexpected { .. }
                | ClientError::IdentityMismatch { .. }
                | ClientError::Version { .. }
                | ClientError::NotInParty { .. }
        )
    }
}

/// Longest message from a peer that is kept (and shown, and logged).
const MAX_PEER_MESSAGE_CHARS: usize = 300;

/// A peer's error answer, its message made printable and short.
fn refused(addr: SocketAddr, mut error: PeerError) -> ClientError {
    error.message = printable(&error.message, MAX_PEER_MESSAGE_CHARS);
    ClientError::Refused { addr, error }
}

/// The updates of a joined swarm (see [`PeerConnection::join`]); dropping
/// it leaves the swarm.
#[derive(Debug)]
pub struct SwarmStream {
    _send: quinn::SendStream,
    recv: quinn::RecvStream,
    addr: SocketAddr,
}

impl SwarmStream {
    /// The next update; `None` when the peer ended the stream (its
    /// download is over). Each frame is bounded like every answer.
    pub async fn next(&mut self) -> Result<Option<SwarmUpdate>, ClientError> {
        let addr = self.addr;
        match read_frame::<PeerResponse, _>(&mut self.recv)
            .await
            .map_err(|source| ClientError::Frame { addr, source })?
        {
            None => Ok(None),
            Some(PeerResponse::Swarm(update)) => Ok(Some(update)),
            Some(PeerResponse::Error(error)) => Err(refused(addr, error)),
            Some(_) => Err(ClientError::Unexpected { addr, request: "join" }),
        }
    }
}

/// One open connection to a peer, identified by its certificate.
#[derive(Debug, Clone)]
pub struct PeerConnection {
    conn: quinn::Connection,
    /// The id proven by the peer's certificate.
    pub peer_id: PeerId,
    pub addr: SocketAddr,
    /// Where received chunk bytes are counted.
    traffic: Traffic,
    /// Chunk headers and pieces of chunk bytes received on this connection:
    /// while chunks are owed, a count that stands still means the peer
    /// sends none (whatever else it sends).
    chunk_pieces: Arc<AtomicU64>,
}

/// Connects to `addr`, accepting only `expected` when it is known; with a
/// `party_key`, the peer must prove it holds the same key (and learns that
/// we do) before the connection is returned. Chunk bytes received on it
/// are counted in `traffic`.
pub async fn connect(
    endpoint: &quinn::Endpoint,
    addr: SocketAddr,
    expected: Option<PeerId>,
    party_key: Option<&PartyKey>,
    traffic: &Traffic,
) -> Result<PeerConnection, ClientError> {
    let fail = |reason: String| ClientError::Connect { addr, reason };
    let config = transport::client_config(expected).map_err(|e| fail(e.to_string()))?;
    let connecting = endpoint.connect_with(config, addr, SERVER_NAME).map_err(|e| fail(e.to_string()))?;
    let conn = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => {
            return Err(ClientError::Timeout { addr, timeout: CONNECT_TIMEOUT });
        }
        Ok(Err(e)) => return Err(fail(e.to_string())),
        Ok(Ok(conn)) => conn,
    };
    let peer_id = conn
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>().ok())
        .and_then(|certs| certs.first().and_then(|c| peer_id_of(c)))
        .ok_or_else(|| fail("the peer presented no usable certificate".into()))?;
    let connection = PeerConnection { conn, peer_id, addr, traffic: traffic.clone(), chunk_pieces: Arc::default() };
    if let Some(key) = party_key
        && let Err(e) = connection.prove(key).await
    {
        connection.close();
        return Err(e);
    }
    Ok(connection)
}

impl PeerConnection {
    /// Sends one request on a new stream and reads the answer.
    pub async fn request(&self, request: &PeerRequest) -> Result<PeerResponse, ClientError> {
        let addr = self.addr;
        let exchange = async {
            let (mut send, mut recv) =
                self.conn.open_bi().await.map_err(|e| ClientError::Connect { addr, reason: e.to_string() })?;
            write_frame(&mut send, request).await.map_err(|source| ClientError::Frame { addr, source })?;
            let _ = send.finish();
            read_frame::<PeerResponse, _>(&mut recv)
                .await
                .map_err(|source| ClientError::Frame { addr, source })?
                .ok_or(ClientError::NoAnswer { addr })
        };
        match tokio::time::timeout(RESPONSE_TIMEOUT, exchange).await {
            Err(_) => Err(ClientError::Timeout { addr, timeout: RESPONSE_TIMEOUT }),
            Ok(Ok(PeerResponse::Error(error))) => Err(refused(addr, error)),
            Ok(result) => result,
        }
    }

    /// Proves the party key on this connection and checks the peer's proof.
    async fn prove(&self, key: &PartyKey) -> Result<(), ClientError> {
        let addr = self.addr;
        let session = SessionSecret::of(&self.conn)
            .ok_or_else(|| ClientError::Connect { addr, reason: "the session cannot prove a party key".into() })?;
        let not_in_party = |reason| ClientError::NotInParty { addr, reason };
        match self.request(&PeerRequest::Prove(key.proof(&session, PARTY_CLIENT_ROLE))).await {
            Ok(PeerResponse::Proven(theirs)) if key.verifies(&session, PARTY_SERVER_ROLE, &theirs) => Ok(()),
            Ok(PeerResponse::Proven(_)) => Err(not_in_party("its proof is not of our party key")),
            Ok(_) => Err(ClientError::Unexpected { addr, request: "prove" }),
            Err(ClientError::Refused { error, .. }) => Err(match error.code {
                ErrorCode::NoPartyKey => not_in_party("it has no party key"),
                ErrorCode::WrongPartyKey => not_in_party("it has another party key"),
                ErrorCode::UnknownRequest | ErrorCode::BadFrame => ClientError::Version {
                    addr,
                    message: "it runs an older LanSpread without party keys; install the same version on both PCs"
                        .into(),
                },
                _ => refused(addr, error),
            }),
            Err(e) => Err(e),
        }
    }

    /// Introduces ourselves; the answer must come from the certificate's key.
    pub async fn hello(&self, ours: Hello) -> Result<Hello, ClientError> {
        let addr = self.addr;
        match self.request(&PeerRequest::Hello(ours)).await? {
            PeerResponse::Hello(theirs) if theirs.protocol_version != peer::PEER_PROTOCOL_VERSION => {
                Err(ClientError::Version { addr, message: super::version_mismatch(theirs.protocol_version) })
            }
            PeerResponse::Hello(theirs) if theirs.peer_id != self.peer_id => {
                Err(ClientError::IdentityMismatch { addr, claimed: theirs.peer_id, actual: self.peer_id })
            }
            PeerResponse::Hello(theirs) => Ok(theirs),
            _ => Err(ClientError::Unexpected { addr, request: "hello" }),
        }
    }

    /// Returns the peer's library revision.
    pub async fn ping(&self) -> Result<u64, ClientError> {
        match self.request(&PeerRequest::Ping).await? {
            PeerResponse::Pong { library_revision } => Ok(library_revision),
            _ => Err(ClientError::Unexpected { addr: self.addr, request: "ping" }),
        }
    }

    /// The peer's games, and whether it is still scanning its library.
    pub async fn list_games(&self) -> Result<GameList, ClientError> {
        match self.request(&PeerRequest::ListGames).await? {
            PeerResponse::GameList(list) => Ok(list),
            _ => Err(ClientError::Unexpected { addr: self.addr, request: "list games" }),
        }
    }

    pub async fn get_game(&self, id: &str) -> Result<GameManifest, ClientError> {
        match self.request(&PeerRequest::GetGame { id: id.to_owned() }).await? {
            PeerResponse::Game(manifest) if manifest.id == id => Ok(manifest),
            _ => Err(ClientError::Unexpected { addr: self.addr, request: "get game" }),
        }
    }

    /// A listed game's cover picture, which must hash to `hash` (what the
    /// peer's list said) and be at most [`MAX_COVER_BYTES`].
    pub async fn get_cover(&self, id: &str, hash: [u8; 32]) -> Result<Vec<u8>, ClientError> {
        match self.request(&PeerRequest::GetCover { id: id.to_owned() }).await? {
            PeerResponse::Cover(bytes)
                if bytes.len() as u64 <= MAX_COVER_BYTES && *blake3::hash(&bytes).as_bytes() == hash =>
            {
                Ok(bytes)
            }
            _ => Err(ClientError::Unexpected { addr: self.addr, request: "get cover" }),
        }
    }

    /// Received bytes are added to the traffic counters this many at a time.
    const COUNT_EVERY: u64 = 256 * 1024;
    /// Pieces of a chunk (about a packet each) are counted in
    /// [`PeerConnection::chunk_pieces_received`] this many at a time: often
    /// enough to show a slow peer is alive, never once per packet.
    const PIECES_PER_COUNT: u64 = 16;

    /// Fetches one chunk or run (`request`, a [`PeerRequest::GetChunk`] or
    /// [`PeerRequest::GetRun`]), which must be `expected_len` bytes long,
    /// into `bytes` (emptied first). The bytes are unverified; the caller
    /// checks them against the manifest. They are copied once, from QUIC's
    /// buffers into an aligned buffer that can be written past the page
    /// cache.
    pub async fn get_chunk(
        &self,
        request: &PeerRequest,
        expected_len: u32,
        bytes: &mut ReceivedChunk,
    ) -> Result<(), ClientError> {
        let addr = self.addr;
        // The peer has CHUNK_QUEUE_TIMEOUT to start and then CHUNK_TIMEOUT
        // for the whole chunk; time spent waiting on this node's own
        // download limit is added to it. (The limit is taken as bytes
        // arrive, not per chunk before asking: whole chunks would arrive in
        // bursts, and the rate would hold only over many seconds, not second
        // by second.)
        let queued = tokio::time::Instant::now() + CHUNK_QUEUE_TIMEOUT;
        let timed_out = |timeout| move || ClientError::Timeout { addr, timeout };
        let exchange = async {
            let (mut send, recv) =
                self.conn.open_bi().await.map_err(|e| ClientError::Connect { addr, reason: e.to_string() })?;
            write_frame(&mut send, request).await.map_err(|source| ClientError::Frame { addr, source })?;
            let _ = send.finish();
            Ok::<_, ClientError>((send, recv))
        };
        let (_send, mut recv) =
            tokio::time::timeout_at(queued, exchange).await.map_err(|_| timed_out(CHUNK_QUEUE_TIMEOUT)())??;
        let header = tokio::time::timeout_at(queued, read_frame::<PeerResponse, _>(&mut recv))
            .await
            .map_err(|_| timed_out(CHUNK_QUEUE_TIMEOUT)())?
            .map_err(|source| ClientError::Frame { addr, source })?
            .ok_or(ClientError::NoAnswer { addr })?;
        self.chunk_pieces.fetch_add(1, Ordering::Relaxed);
        let mut deadline = tokio::time::Instant::now() + CHUNK_TIMEOUT;
        let timed_out = timed_out(CHUNK_TIMEOUT);
        match header {
            PeerResponse::Chunk { len } if len == expected_len => {}
            PeerResponse::Chunk { .. } => {
                return Err(ClientError::Unexpected { addr, request: "get chunk (wrong length)" });
            }
            PeerResponse::Error(error) => return Err(refused(addr, error)),
            _ => return Err(ClientError::Unexpected { addr, request: "get chunk" }),
        }
        bytes.reset(expected_len as usize);
        let (mut uncounted, mut pieces) = (0u64, 0u64);
        let limit = self.traffic.download_limit();
        while bytes.len() < expected_len as usize {
            let left = expected_len as usize - bytes.len();
            let read = tokio::time::timeout_at(deadline, recv.read_chunk(left, true)).await.map_err(|_| timed_out())?;
            let piece = read.map_err(|e| ClientError::Connect { addr, reason: e.to_string() })?.ok_or_else(|| {
                ClientError::Connect {
                    addr,
                    reason: format!("the chunk ended after {} of {expected_len} bytes", bytes.len()),
                }
            })?;
            bytes
                .extend(&piece.bytes)
                .map_err(|_| ClientError::Unexpected { addr, request: "get chunk (too many bytes)" })?;
            // Counted as it arrives, so the total speed does not step per
            // chunk, but not per packet: an atomic add per packet costs
            // more than copying the packet.
            pieces += 1;
            if pieces % Self::PIECES_PER_COUNT == 0 {
                self.chunk_pieces.fetch_add(Self::PIECES_PER_COUNT, Ordering::Relaxed);
            }
            uncounted += piece.bytes.len() as u64;
            if uncounted >= Self::COUNT_EVERY {
                self.traffic.add_received(std::mem::take(&mut uncounted));
            }
            if limit.is_active() {
                // Not reading holds the peer back (QUIC's flow control).
                let waited = tokio::time::Instant::now();
                limit.take(piece.bytes.len() as u64).await;
                deadline += waited.elapsed();
                // Our own wait is not the peer's silence: the quiet time
                // starts again once we read on.
                self.chunk_pieces.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.traffic.add_received(uncounted);
        self.chunk_pieces.fetch_add(pieces % Self::PIECES_PER_COUNT, Ordering::Relaxed);
        Ok(())
    }

    /// Joins the peer's swarm of the file list `manifest` of `id` (see
    /// [`PeerRequest::Join`]); the first update arrives within
    /// [`RESPONSE_TIMEOUT`] or the join failed.
    pub async fn join(
        &self,
        id: &str,
        manifest: ManifestHash,
        peer_id: PeerId,
        listen_port: u16,
    ) -> Result<(SwarmUpdate, SwarmStream), ClientError> {
        let addr = self.addr;
        let request = PeerRequest::Join { id: id.to_owned(), manifest, peer_id, listen_port };
        let joining = async {
            let (mut send, recv) =
                self.conn.open_bi().await.map_err(|e| ClientError::Connect { addr, reason: e.to_string() })?;
            write_frame(&mut send, &request).await.map_err(|source| ClientError::Frame { addr, source })?;
            let _ = send.finish();
            let mut stream = SwarmStream { _send: send, recv, addr };
            let first = stream.next().await?.ok_or(ClientError::NoAnswer { addr })?;
            Ok((first, stream))
        };
        tokio::time::timeout(RESPONSE_TIMEOUT, joining)
            .await
            .map_err(|_| ClientError::Timeout { addr, timeout: RESPONSE_TIMEOUT })?
    }

    /// Chunk headers and pieces of chunk bytes received on this connection
    /// so far.
    pub fn chunk_pieces_received(&self) -> u64 {
        self.chunk_pieces.load(Ordering::Relaxed)
    }

    /// True once the connection is closed or lost.
    pub fn is_closed(&self) -> bool {
        self.conn.close_reason().is_some()
    }

    /// Closes the connection politely.
    pub fn close(&self) {
        self.conn.close(peer::close::DONE.into(), b"done");
    }

    /// The raw QUIC connection, for tests that speak the wire by hand.
    pub fn quic(&self) -> &quinn::Connection {
        &self.conn
    }
}
