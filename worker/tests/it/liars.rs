//! The hostile side of the hostile-input tests: a peer that lies (a real
//! QUIC server with its own identity, answering from a script), a swarm
//! member that claims every chunk and never delivers ([`SwarmLiar`]), a
//! client that floods, and a stand-in for the desktop UI on the IPC socket that
//! records everything the worker tells it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use interprocess::local_socket::tokio::prelude::*;
use interprocess::local_socket::{GenericNamespaced, ListenerOptions};
use lanspread_proto::PeerId;
use lanspread_proto::io::{read_frame, write_frame};
use lanspread_proto::ipc::{HelloReply, IpcCommand, IpcEvent, TOKEN_ENV, WorkerHello};
use lanspread_proto::peer::{
    ErrorCode, FileEntry, GameList, GameManifest, GameSummary, Have, Hello, PEER_PROTOCOL_VERSION, PeerError,
    PeerRequest, PeerResponse, SwarmUpdate,
};
use lanspread_worker::net::client::{self, PeerConnection, SwarmStream};
use lanspread_worker::net::identity::Identity;
use lanspread_worker::net::traffic::Traffic;
use lanspread_worker::net::transport;
use lanspread_worker::swarm;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::support::WORKER;

/// What a lying peer answers.
#[derive(Debug, Default)]
pub struct Script {
    /// Its answer to "list games".
    pub games: Vec<GameSummary>,
    /// Its answer to "get game", by id; any other id gets a one-file manifest.
    pub manifests: HashMap<String, GameManifest>,
    /// Says it is still scanning, and that its library changed, every time.
    pub scans_forever: bool,
    /// Its answer to "get cover" (any id); none: not found.
    pub cover: Option<Vec<u8>>,
}

/// A running lying peer.
pub struct LyingPeer {
    pub addr: SocketAddr,
    /// How many times it was asked for its games.
    pub lists: Arc<AtomicUsize>,
    endpoint: quinn::Endpoint,
}

impl Drop for LyingPeer {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"done");
    }
}

/// A manifest of one 10-byte file for `id`.
pub fn small_manifest(id: &str, version: &str) -> GameManifest {
    let data = [7u8; 10];
    GameManifest {
        id: id.to_owned(),
        version: version.to_owned(),
        chunk_size: 4 * 1024 * 1024,
        files: vec![FileEntry { path: "payload.bin".into(), size: 10, chunks: vec![*blake3::hash(&data).as_bytes()] }],
    }
}

/// A liar's hello: `peer_id` (its certificate's), named `name`, serving nothing.
fn hello(peer_id: PeerId, name: &str) -> PeerResponse {
    PeerResponse::Hello(Hello {
        protocol_version: PEER_PROTOCOL_VERSION,
        peer_id,
        display_name: name.into(),
        library_revision: 1,
        listen_port: 0,
    })
}

/// Starts a lying peer on loopback with its identity kept in `state`.
pub fn lying_peer(state: &Path, script: Script) -> LyingPeer {
    let identity = Identity::load_or_create(state).unwrap();
    let config = transport::server_config(&identity).unwrap();
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let (script, peer_id, accept) = (Arc::new(script), identity.peer_id, endpoint.clone());
    let lists = Arc::new(AtomicUsize::new(0));
    let counter = lists.clone();
    tokio::spawn(async move {
        while let Some(incoming) = accept.accept().await {
            let (script, counter) = (script.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    let (script, counter) = (script.clone(), counter.clone());
                    tokio::spawn(async move {
                        let Ok(Some(request)) = read_frame::<PeerRequest, _>(&mut recv).await else { return };
                        let response = match request {
                            PeerRequest::Hello(_) => hello(peer_id, "liar\u{1b}[2J\u{1b}]0;pwned\u{7}"),
                            PeerRequest::Ping => {
                                let changed = if script.scans_forever { counter.load(Ordering::Relaxed) } else { 0 };
                                PeerResponse::Pong { library_revision: 1 + changed as u64 }
                            }
                            PeerRequest::ListGames => {
                                counter.fetch_add(1, Ordering::Relaxed);
                                let (games, scanning) = (script.games.clone(), script.scans_forever);
                                PeerResponse::GameList(GameList { games, scanning })
                            }
                            PeerRequest::GetGame { id } => PeerResponse::Game(
                                script.manifests.get(&id).cloned().unwrap_or_else(|| small_manifest(&id, "1")),
                            ),
                            PeerRequest::GetCover { .. } => match &script.cover {
                                Some(bytes) => PeerResponse::Cover(bytes.clone()),
                                None => PeerResponse::Error(PeerError {
                                    code: ErrorCode::NotFound,
                                    message: "no cover".into(),
                                }),
                            },
                            PeerRequest::GetChunk { .. }
                            | PeerRequest::GetRun { .. }
                            | PeerRequest::Join { .. }
                            | PeerRequest::Dropped { .. } => PeerResponse::Error(PeerError {
                                code: ErrorCode::NotFound,
                                message: "no chunks from a liar".into(),
                            }),
                            PeerRequest::Prove(_) => PeerResponse::Error(PeerError {
                                code: ErrorCode::NoPartyKey,
                                message: "a liar in no party".into(),
                            }),
                        };
                        let _ = write_frame(&mut send, &response).await;
                        let _ = send.finish();
                        let _ = send.stopped().await;
                    });
                }
            });
        }
    });
    LyingPeer { addr, lists, endpoint }
}

/// A stand-in for the desktop UI: it accepts one `lanspread-worker ipc`,
/// answers its hello, sends heartbeats and commands, and keeps every event.
pub struct FakeUi {
    pub events: Arc<Mutex<Vec<IpcEvent>>>,
    /// The worker's log (stderr), line by line.
    pub log: Arc<Mutex<Vec<String>>>,
    frames: mpsc::UnboundedSender<Vec<u8>>,
    pub worker: tokio::process::Child,
}

impl FakeUi {
    /// Starts a worker on `games` that knows `peers`, under this fake UI.
    pub async fn start(tmp: &Path, games: &Path, peers: &[SocketAddr]) -> FakeUi {
        let name = format!("lanspread-test-{}-{}.sock", std::process::id(), rand_suffix());
        let listener = ListenerOptions::new()
            .name(name.clone().to_ns_name::<GenericNamespaced>().unwrap())
            .create_tokio()
            .unwrap();
        let token = "test-token";
        let mut command = tokio::process::Command::new(WORKER);
        command.args(["ipc", "--socket", &name, "--no-mdns", "--listen", "127.0.0.1:0"]);
        command.arg("--games").arg(games).arg("--state").arg(tmp.join("ui-state"));
        for peer in peers {
            command.arg("--peer").arg(peer.to_string());
        }
        command.env(TOKEN_ENV, token).env("RUST_LOG", "info").kill_on_drop(true);
        command.stderr(std::process::Stdio::piped());
        let mut worker = command.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(worker.stderr.take().unwrap()).lines();
        let lines_sink = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[ui worker] {}", line.escape_debug());
                lines_sink.lock().unwrap().push(line);
            }
        });
        let stream = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await.unwrap().unwrap();
        let (mut reader, mut writer) = tokio::io::split(stream);
        let hello = read_frame::<WorkerHello, _>(&mut reader).await.unwrap().unwrap();
        assert_eq!(hello.token, token);
        write_frame(&mut writer, &HelloReply::Accepted).await.unwrap();

        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        tokio::spawn(async move {
            while let Ok(Some(event)) = read_frame::<IpcEvent, _>(&mut reader).await {
                sink.lock().unwrap().push(event);
            }
        });
        let (frames, mut to_send) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            let mut heartbeat = tokio::time::interval(Duration::from_millis(500));
            loop {
                let frame = tokio::select! {
                    frame = to_send.recv() => match frame { Some(f) => f, None => return },
                    _ = heartbeat.tick() => raw_frame(&IpcCommand::Heartbeat),
                };
                if writer.write_all(&frame).await.is_err() {
                    return;
                }
            }
        });
        FakeUi { events, log, frames, worker }
    }

    /// Sends a command as a frame, whatever its size (a real UI's encoder
    /// would refuse one over the limit; a hostile one need not).
    pub fn send(&self, command: IpcCommand) {
        self.send_raw(raw_frame(&command));
    }

    /// Sends bytes as they are.
    pub fn send_raw(&self, bytes: Vec<u8>) {
        self.frames.send(bytes).unwrap();
    }

    /// Waits for an event matching `pred` (seen since the start); panics
    /// after `limit`.
    pub async fn wait_for(&self, limit: Duration, what: &str, pred: impl Fn(&IpcEvent) -> bool) -> IpcEvent {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(event) = self.events.lock().unwrap().iter().find(|e| pred(e)) {
                return event.clone();
            }
            assert!(Instant::now() < deadline, "no {what} within {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the worker process still runs.
    pub fn worker_alive(&mut self) -> bool {
        self.worker.try_wait().unwrap().is_none()
    }
}

/// A length prefix and the postcard body, with no limit checked.
fn raw_frame(command: &IpcCommand) -> Vec<u8> {
    let body = postcard::to_stdvec(command).unwrap();
    let mut frame = (body.len() as u32).to_le_bytes().to_vec();
    frame.extend(body);
    frame
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 % 1_000_000_007
}

/// How a [`SwarmLiar`] answers the chunk requests it invites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkLie {
    /// Never answers: the stream stays open, the connection alive.
    Silent,
    /// Sends the chunk's header and 1 KiB of it, then nothing more.
    Stall,
}

/// A QUIC peer, with its own identity and listening address, that joins a
/// seeder's swarm of a game as a member, claims every chunk to whoever
/// joins it, and answers chunk requests as its [`ChunkLie`] says. Its
/// connections stay alive (QUIC keep-alives flow) until it is dropped.
pub struct SwarmLiar {
    pub peer_id: PeerId,
    /// Where each chunk request it was sent came from.
    pub asked: Arc<Mutex<Vec<SocketAddr>>>,
    endpoint: quinn::Endpoint,
    _membership: (PeerConnection, SwarmStream),
}

impl Drop for SwarmLiar {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"done");
    }
}

impl SwarmLiar {
    /// Starts a liar on `ip` (a loopback address; at most
    /// `MAX_MEMBERS_PER_ADDRESS` members per address are accepted) with
    /// its identity in `state`, and joins `seeder`'s swarm of `id`.
    pub async fn join(state: &Path, ip: IpAddr, seeder: SocketAddr, id: &str, lie: ChunkLie) -> SwarmLiar {
        let identity = Identity::load_or_create(state).unwrap();
        let mut config = transport::server_config(&identity).unwrap();
        let mut transport_config = quinn::TransportConfig::default();
        transport_config.keep_alive_interval(Some(Duration::from_secs(1)));
        config.transport_config(Arc::new(transport_config));
        let endpoint = quinn::Endpoint::server(config, SocketAddr::new(ip, 0)).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let asked: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
        tokio::spawn(serve_lies(endpoint.clone(), identity.peer_id, lie, asked.clone()));

        let conn = client::connect(&endpoint, seeder, None, None, &Traffic::default()).await.unwrap();
        let manifest = conn.get_game(id).await.unwrap();
        let hash = swarm::manifest_hash(&manifest);
        let (_first, stream) = conn.join(id, hash, identity.peer_id, addr.port()).await.unwrap();
        SwarmLiar { peer_id: identity.peer_id, asked, endpoint, _membership: (conn, stream) }
    }
}

/// Answers whoever connects to a [`SwarmLiar`]: a hello, a swarm update
/// claiming every chunk (and the stream kept open), and chunk requests
/// as `lie` says.
async fn serve_lies(endpoint: quinn::Endpoint, peer_id: PeerId, lie: ChunkLie, asked: Arc<Mutex<Vec<SocketAddr>>>) {
    while let Some(incoming) = endpoint.accept().await {
        let asked = asked.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            let from = conn.remote_address();
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                let asked = asked.clone();
                tokio::spawn(async move {
                    let Ok(Some(request)) = read_frame::<PeerRequest, _>(&mut recv).await else { return };
                    let response = match request {
                        PeerRequest::Hello(_) => hello(peer_id, "swarm liar"),
                        PeerRequest::Ping => PeerResponse::Pong { library_revision: 1 },
                        PeerRequest::Join { .. } => {
                            PeerResponse::Swarm(SwarmUpdate { have: Some(Have::All), members: Some(Vec::new()) })
                        }
                        PeerRequest::GetChunk { .. } | PeerRequest::GetRun { .. } => {
                            asked.lock().unwrap().push(from);
                            if lie == ChunkLie::Stall {
                                let _ = write_frame(&mut send, &PeerResponse::Chunk { len: 1 << 20 }).await;
                                let _ = send.write_all(&[0x5a; 1024]).await;
                            }
                            // Holds the stream open, sending nothing more.
                            std::future::pending::<()>().await;
                            return;
                        }
                        _ => PeerResponse::Error(PeerError {
                            code: ErrorCode::NotFound,
                            message: "a swarm liar has nothing else".into(),
                        }),
                    };
                    let _ = write_frame(&mut send, &response).await;
                    if matches!(response, PeerResponse::Swarm(_)) {
                        // The join stream stays open: a member whose stream
                        // ends is done, and would not be asked.
                        std::future::pending::<()>().await;
                    }
                    let _ = send.finish();
                    let _ = send.stopped().await;
                });
            }
        });
    }
}

/// Clients on one address that ask a seeder for chunks and never read them:
/// `connections` connections of `requests` unread chunk requests each, with
/// tiny receive windows so the seeder can hand QUIC almost nothing. Every
/// `renew` they are dropped and made again, as a flooder that keeps up its
/// flood would; [`Flood::ready`] once the first round is all sent.
pub struct Flood {
    task: tokio::task::JoinHandle<()>,
    ready: tokio::sync::watch::Receiver<bool>,
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a [`Flood`] asks for: chunks of `file` of the seeder's `manifest`.
pub struct FloodTarget {
    pub seeder: SocketAddr,
    pub seeder_id: PeerId,
    pub manifest: GameManifest,
    pub file: u32,
}

impl Flood {
    pub fn start(ip: IpAddr, target: Arc<FloodTarget>, connections: usize, requests: u32, renew: Duration) -> Flood {
        let endpoint = quinn::Endpoint::client(SocketAddr::new(ip, 0)).unwrap();
        let mut stingy = quinn::TransportConfig::default();
        stingy
            .stream_receive_window(16_384u32.into())
            .receive_window(65_536u32.into())
            .keep_alive_interval(Some(Duration::from_secs(2)));
        let stingy = Arc::new(stingy);
        let (ready_tx, ready) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let (mut held, mut conns) = (Vec::new(), Vec::new());
                for _ in 0..connections {
                    let mut config = transport::client_config(Some(target.seeder_id)).unwrap();
                    config.transport_config(stingy.clone());
                    let Ok(connecting) = endpoint.connect_with(config, target.seeder, "lanspread") else { continue };
                    let Ok(conn) = connecting.await else { continue };
                    for i in 0..requests {
                        let Ok((mut send, recv)) = conn.open_bi().await else { break };
                        let request = PeerRequest::GetChunk {
                            id: target.manifest.id.clone(),
                            version: target.manifest.version.clone(),
                            file: target.file,
                            chunk: i % 4,
                        };
                        let _ = write_frame(&mut send, &request).await;
                        let _ = send.finish();
                        held.push((send, recv));
                    }
                    conns.push(conn);
                }
                ready_tx.send_replace(true);
                tokio::time::sleep(renew).await;
                drop((held, conns));
            }
        });
        Flood { task, ready }
    }

    /// Waits until the first round of requests is sent.
    pub async fn ready(&mut self) {
        let _ = self.ready.wait_for(|ready| *ready).await;
    }
}
