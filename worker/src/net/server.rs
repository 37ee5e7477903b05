//! Answers peer requests from the published library state.
//!
//! Each request arrives on its own bidirectional stream and is read under a
//! size limit and a deadline. A bad frame is answered with an error the
//! client can show, logged with the peer's address, and ends only that
//! stream: the connection and every other peer keep being served.

use std::net::SocketAddr;
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
    pub fn answer(&self, request: PeerRequest, remote: SocketAddr) -> PeerResponse {
        match request {
            PeerRequest::Hello(theirs) if theirs.protocol_version != peer::PEER_PROTOCOL_VERSION => {
                error(ErrorCode::VersionMismatch, version_mismatch(theirs.protocol_version))
            }
            PeerRequest::Hello(theirs) => {
                if theirs.listen_port != 0 && theirs.peer_id != self.peer_id {
                    let addr = SocketAddr::new(remote.ip(), theirs.listen_port);
                    let candidate = Candidate::Found {
                        key: format!("hello from {addr}"),
                        addrs: vec![addr],
                        expected: Some(theirs.peer_id),
                    };
                    let _ = self.candidates.send(candidate);
                }
                PeerResponse::Hello(self.hello())
            }
            PeerRequest::Ping => PeerResponse::Pong { library_revision: self.library.state().revision },
            PeerRequest::ListGames => PeerResponse::Games(self.library.state().summaries()),
            PeerRequest::GetGame { id } => {
                let state = self.library.state();
                match state.games.get(&id).filter(|g| g.version.is_some()) {
                    None => error(ErrorCode::NotFound, format!("no downloaded game {id:?} here")),
                    Some(game) => match &game.manifest {
                        Some(manifest) => PeerResponse::Game(manifest.as_ref().clone()),
                        None => error(ErrorCode::NotReady, format!("{id}: still hashing its files, ask again shortly")),
                    },
                }
            }
        }
    }
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
    let response = match tokio::time::timeout(REQUEST_TIMEOUT, read_frame::<PeerRequest, _>(&mut recv)).await {
        Ok(Ok(Some(request))) => ctx.answer(request, remote),
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::warn!("peer {remote}: bad request: {e}");
            let _ = recv.stop(STOP_BAD_REQUEST.into());
            error(code_for(&e), format!("bad request: {e}"))
        }
        Err(_) => {
            tracing::warn!("peer {remote}: no whole request within {REQUEST_TIMEOUT:?}");
            let _ = recv.stop(STOP_BAD_REQUEST.into());
            error(ErrorCode::BadFrame, format!("no whole request within {REQUEST_TIMEOUT:?}"))
        }
    };
    if let Err(e) = write_frame(&mut send, &response).await {
        tracing::debug!("peer {remote}: cannot answer: {e}");
        return;
    }
    let _ = send.finish();
    // Let the answer drain before the stream is dropped.
    let _ = send.stopped().await;
}
