//! The UI's side of the IPC protocol: a per-launch local socket and a
//! random launch token. Only a client that presents the token in its first
//! frame becomes a [`WorkerLink`]; any other gets a refusal it can read and
//! is dropped, while the listener keeps serving.

use std::time::Duration;

use interprocess::local_socket::tokio::prelude::*;
use interprocess::local_socket::tokio::{Listener, Stream};
use interprocess::local_socket::{GenericNamespaced, ListenerOptions};
use lanspread_proto::FrameError;
use lanspread_proto::io::{read_frame, write_frame};
use lanspread_proto::ipc::{HelloReply, IPC_PROTOCOL_VERSION, WorkerHello};
use rand::RngCore;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::mpsc;

/// A client must present its hello within this time.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a client was refused, or the socket failed.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    #[error("local socket {name}: {source}")]
    Socket { name: String, source: std::io::Error },
    #[error("no hello within {HANDSHAKE_TIMEOUT:?}")]
    HandshakeTimeout,
    #[error("the client closed the socket before its hello")]
    NoHello,
    #[error("{0}")]
    Frame(#[from] FrameError),
    #[error("wrong launch token")]
    BadToken,
    #[error(
        "IPC protocol {theirs}, this UI speaks {IPC_PROTOCOL_VERSION}; the worker and the app are from different LanSpread versions"
    )]
    Version { theirs: u32 },
}

/// The listening socket of one launch.
#[derive(Debug)]
pub struct IpcListener {
    listener: Listener,
    name: String,
    token: String,
}

/// The framed connection to an accepted worker.
#[derive(Debug)]
pub struct WorkerLink {
    pub worker_pid: u32,
    pub reader: ReadHalf<Stream>,
    pub writer: WriteHalf<Stream>,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl IpcListener {
    /// Binds a fresh, unguessable socket name with a fresh token.
    pub fn bind() -> Result<Self, IpcError> {
        let name = format!("lanspread-{}-{}.sock", std::process::id(), random_hex(8));
        let fail = |source| IpcError::Socket { name: name.clone(), source };
        let ns_name = name.clone().to_ns_name::<GenericNamespaced>().map_err(fail)?;
        let listener = ListenerOptions::new().name(ns_name).create_tokio().map_err(fail)?;
        Ok(IpcListener { listener, name, token: random_hex(32) })
    }

    /// The socket name to give the worker (`--socket`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The launch token to give the worker (environment).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Accepts clients for ever; each that passes the handshake is sent to
    /// `links`. Refused clients are told why and logged.
    pub async fn serve(self, links: mpsc::UnboundedSender<WorkerLink>) {
        loop {
            let stream = match self.listener.accept().await {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::warn!("ipc: accept failed on {}: {e}", self.name);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let token = self.token.clone();
            let accepted = links.clone();
            tokio::spawn(async move {
                match handshake(stream, &token).await {
                    Ok(link) => {
                        let _ = accepted.send(link);
                    }
                    Err(e) => tracing::warn!("ipc: refused a client: {e}"),
                }
            });
            if links.is_closed() {
                return;
            }
        }
    }
}

async fn handshake(stream: Stream, token: &str) -> Result<WorkerLink, IpcError> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let hello = match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame::<WorkerHello, _>(&mut reader)).await {
        Err(_) => Err(IpcError::HandshakeTimeout),
        Ok(Ok(None)) => Err(IpcError::NoHello),
        Ok(Ok(Some(hello))) if hello.protocol_version != IPC_PROTOCOL_VERSION => {
            Err(IpcError::Version { theirs: hello.protocol_version })
        }
        Ok(Ok(Some(hello))) if !same_secret(&hello.token, token) => Err(IpcError::BadToken),
        Ok(Ok(Some(hello))) => Ok(hello),
        Ok(Err(e)) => Err(IpcError::Frame(e)),
    };
    match hello {
        Ok(hello) => {
            write_frame(&mut writer, &HelloReply::Accepted).await?;
            Ok(WorkerLink { worker_pid: hello.worker_pid, reader, writer })
        }
        Err(e) => {
            let _ = write_frame(&mut writer, &HelloReply::Refused { reason: e.to_string() }).await;
            Err(e)
        }
    }
}

/// Compares without stopping at the first difference.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
