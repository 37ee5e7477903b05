//! Answers peer requests from the published library state.
//!
//! Each request arrives on its own bidirectional stream and is read under a
//! size limit and a deadline. A bad frame is answered with an error the
//! client can show, logged with the peer's address, and ends only that
//! stream: the connection and every other peer keep being served.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lanspread_proto::io::{read_frame, write_frame};
use lanspread_proto::peer::{self, ErrorCode, Hello, PeerError, PeerRequest, PeerResponse};
use lanspread_proto::{FrameError, PeerId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::discovery::Candidate;
use crate::library::Library;

/// A request must arrive whole within this time.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Stream reset code after a bad request.
const STOP_BAD_REQUEST: u32 = 1;
/// A chunk is handed to QUIC in pieces of this size, each counted as sent.
const SEND_PIECE: usize = 256 * 1024;

/// What the server needs to answer.
#[derive(Debug)]
pub struct ServerContext {
    pub peer_id: PeerId,
    pub display_name: String,
    pub listen_port: u16,
    pub library: Library,
    /// Serving nodes that say hello become peer candidates.
    pub candidates: mpsc::UnboundedSender<Candidate>,
}

impl ServerContext {
    fn hello(&self) -> Hello {
        Hello {
            protocol_version: peer::PEER_PROTOCOL_VERSION,
            peer_id: self.peer_id,
            display_name: self.display_name.clone(),
            library_revision: self.library.state().revision,
            listen_port: self.listen_port,
        }
    }

    /// The answer to one well-formed request from `remote`.
    pub fn answer(&self, request: PeerRequest, remote: SocketAddr) -> Reply {
        let response = match request {
            PeerRequest::GetChunk { id, version, file, chunk } => return self.locate_chunk(&id, &version, file, chunk),
            PeerRequest::Hello(theirs) => self.greet(&theirs, remote),
            PeerRequest::Ping => PeerResponse::Pong { library_revision: self.library.state().revision },
            PeerRequest::ListGames => PeerResponse::Games(self.library.state().summaries()),
            PeerRequest::GetGame { id } => self.manifest_of(&id),
        };
        Reply::Frame(response)
    }

    /// Answers a hello; a serving node that says hello becomes a candidate peer.
    fn greet(&self, theirs: &Hello, remote: SocketAddr) -> PeerResponse {
        if theirs.protocol_version != peer::PEER_PROTOCOL_VERSION {
            return error(ErrorCode::VersionMismatch, version_mismatch(theirs.protocol_version));
        }
        if theirs.listen_port != 0 && theirs.peer_id != self.peer_id {
            let addr = SocketAddr::new(remote.ip(), theirs.listen_port);
            let key = format!("hello from {addr}");
            let _ = self.candidates.send(Candidate::Found { key, addrs: vec![addr], expected: Some(theirs.peer_id) });
        }
        PeerResponse::Hello(self.hello())
    }

    fn manifest_of(&self, id: &str) -> PeerResponse {
        let state = self.library.state();
        match state.games.get(id).filter(|g| g.version.is_some() && !g.busy) {
            None => error(ErrorCode::NotFound, format!("no downloaded game {id:?} here")),
            Some(game) => match &game.manifest {
                Some(manifest) => PeerResponse::Game(manifest.as_ref().clone()),
                None => error(ErrorCode::NotReady, format!("{id}: still hashing its files, ask again shortly")),
            },
        }
    }

    /// Where the bytes of a chunk are, checked against our own manifest only.
    fn locate_chunk(&self, id: &str, version: &str, file: u32, chunk: u32) -> Reply {
        let state = self.library.state();
        if state.games.get(id).is_some_and(|g| g.busy) {
            return Reply::Frame(error(
                ErrorCode::NotReady,
                format!("{id} is being changed on this node; ask again later"),
            ));
        }
        let Some(manifest) = state.games.get(id).and_then(|g| g.manifest.clone()) else {
            return Reply::Frame(error(ErrorCode::NotFound, format!("no downloaded game {id:?} here")));
        };
        if manifest.version != version {
            let message = format!("{id}: this node has version {}, not {version}", manifest.version);
            return Reply::Frame(error(ErrorCode::NotFound, message));
        }
        let Some(entry) = manifest.files.get(file as usize).filter(|f| (chunk as usize) < f.chunks.len()) else {
            return Reply::Frame(error(ErrorCode::NotFound, format!("{id}: no chunk {chunk} of file {file}")));
        };
        let offset = u64::from(chunk) * u64::from(manifest.chunk_size);
        let len = (entry.size - offset).min(u64::from(manifest.chunk_size));
        let path = entry.path.split('/').fold(state.game_dir.join(id), |p, part| p.join(part));
        Reply::Chunk { path, offset, len: len as u32, index: (file, chunk) }
    }
}

/// What to send back for one request.
#[derive(Debug)]
pub enum Reply {
    Frame(PeerResponse),
    /// A chunk header, then `len` bytes of `path` from `offset`.
    Chunk {
        path: PathBuf,
        offset: u64,
        len: u32,
        index: (u32, u32),
    },
}

/// The message for a hello with another protocol version.
pub fn version_mismatch(theirs: u32) -> String {
    format!(
        "the other node speaks LanSpread protocol {theirs}, this one speaks {}; install the same LanSpread version on both PCs",
        peer::PEER_PROTOCOL_VERSION
    )
}

fn error(code: ErrorCode, message: String) -> PeerResponse {
    PeerResponse::Error(PeerError { code, message })
}

fn code_for(err: &FrameError) -> ErrorCode {
    match err {
        FrameError::UnknownVariant { .. } => ErrorCode::UnknownRequest,
        _ => ErrorCode::BadFrame,
    }
}

/// Accepts connections until `cancel` fires.
pub async fn serve(endpoint: quinn::Endpoint, ctx: Arc<ServerContext>, cancel: CancellationToken) {
    let tracker = TaskTracker::new();
    loop {
        let incoming = tokio::select! {
            () = cancel.cancelled() => break,
            incoming = endpoint.accept() => incoming,
        };
        let Some(incoming) = incoming else { break };
        tracker.spawn(handle_connection(incoming, ctx.clone(), cancel.clone()));
    }
    endpoint.close(peer::close::SHUTDOWN.into(), b"shutting down");
    tracker.close();
    tracker.wait().await;
}

async fn handle_connection(incoming: quinn::Incoming, ctx: Arc<ServerContext>, cancel: CancellationToken) {
    let remote = incoming.remote_address();
    let conn = match incoming.await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::debug!("peer {remote}: handshake failed: {e}");
            return;
        }
    };
    let streams = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            () = cancel.cancelled() => break,
            stream = conn.accept_bi() => stream,
        };
        match stream {
            Ok((send, recv)) => {
                streams.spawn(handle_stream(send, recv, ctx.clone(), remote));
            }
            Err(e) => {
                tracing::debug!("peer {remote}: connection ended: {e}");
                break;
            }
        }
    }
    streams.close();
    streams.wait().await;
}

async fn handle_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    ctx: Arc<ServerContext>,
    remote: SocketAddr,
) {
    let reply = match tokio::time::timeout(REQUEST_TIMEOUT, read_frame::<PeerRequest, _>(&mut recv)).await {
        Ok(Ok(Some(request))) => ctx.answer(request, remote),
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::warn!("peer {remote}: bad request: {e}");
            let _ = recv.stop(STOP_BAD_REQUEST.into());
            Reply::Frame(error(code_for(&e), format!("bad request: {e}")))
        }
        Err(_) => {
            tracing::warn!("peer {remote}: no whole request within {REQUEST_TIMEOUT:?}");
            let _ = recv.stop(STOP_BAD_REQUEST.into());
            Reply::Frame(error(ErrorCode::BadFrame, format!("no whole request within {REQUEST_TIMEOUT:?}")))
        }
    };
    let (response, body) = match reply {
        Reply::Frame(response) => (response, None),
        Reply::Chunk { path, offset, len, index } => match read_chunk(path.clone(), offset, len).await {
            Ok(mut bytes) => {
                fault::delay_if_asked().await;
                fault::corrupt_if_asked(index, &mut bytes);
                (PeerResponse::Chunk { len }, Some(bytes))
            }
            Err(e) => {
                tracing::warn!("peer {remote}: cannot read {}: {e}", path.display());
                (error(ErrorCode::Internal, format!("cannot read the chunk: {e}")), None)
            }
        },
    };
    if let Err(e) = write_frame(&mut send, &response).await {
        tracing::debug!("peer {remote}: cannot answer: {e}");
        return;
    }
    if let Some(bytes) = body {
        // Counted piece by piece, so the total speed does not step per chunk.
        for piece in bytes.chunks(SEND_PIECE) {
            if let Err(e) = send.write_all(piece).await {
                tracing::debug!("peer {remote}: chunk not sent: {e}");
                return;
            }
            super::traffic::add_sent(piece.len() as u64);
        }
    }
    let _ = send.finish();
    // Let the answer drain before the stream is dropped.
    let _ = send.stopped().await;
}

async fn read_chunk(path: PathBuf, offset: u64, len: u32) -> std::io::Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path)?;
        let mut bytes = vec![0u8; len as usize];
        crate::platform::fs::read_exact_at(&file, &mut bytes, offset)?;
        Ok(bytes)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Test-only switches that make this server send wrong bytes or send them
/// slowly, so tests can show that bad chunks are caught and can act in the
/// middle of a transfer. Compiled out of release builds.
mod fault {
    /// Every chunk whose `file + chunk` is a multiple of this number is
    /// corrupted when the variable is set.
    #[cfg(debug_assertions)]
    const CORRUPT_ENV: &str = "LANSPREAD_TEST_CORRUPT_EVERY";
    /// Each chunk answer waits this many milliseconds.
    #[cfg(debug_assertions)]
    const DELAY_ENV: &str = "LANSPREAD_TEST_CHUNK_DELAY_MS";

    #[cfg(debug_assertions)]
    fn number(name: &str) -> Option<u32> {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0)
    }

    #[cfg(debug_assertions)]
    pub(super) async fn delay_if_asked() {
        use std::sync::OnceLock;
        static DELAY: OnceLock<Option<u32>> = OnceLock::new();
        if let Some(ms) = *DELAY.get_or_init(|| number(DELAY_ENV)) {
            tokio::time::sleep(std::time::Duration::from_millis(ms.into())).await;
        }
    }

    #[cfg(not(debug_assertions))]
    pub(super) async fn delay_if_asked() {}

    #[cfg(debug_assertions)]
    pub(super) fn corrupt_if_asked((file, chunk): (u32, u32), bytes: &mut [u8]) {
        use std::sync::OnceLock;
        static EVERY: OnceLock<Option<u32>> = OnceLock::new();
        let every = *EVERY.get_or_init(|| number(CORRUPT_ENV));
        if let Some(n) = every
            && (file + chunk) % n == 0
            && let Some(first) = bytes.first_mut()
        {
            *first ^= 0xff;
        }
    }

    #[cfg(not(debug_assertions))]
    pub(super) fn corrupt_if_asked(_index: (u32, u32), _bytes: &mut [u8]) {}
}
