//! The worker's side of the IPC protocol: connect to the UI's local socket,
//! present the launch token, then bridge node events and UI commands until
//! the UI is gone.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use interprocess::local_socket::GenericNamespaced;
use interprocess::local_socket::tokio::Stream;
use interprocess::local_socket::tokio::prelude::*;
use lanspread_proto::io::{forward_frames, read_frame, write_frame};
use lanspread_proto::ipc::{
    ActiveOperation, FailureKind, GameCover, GameFile, GameSpeed, HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS,
    HelloReply, IPC_PROTOCOL_VERSION, IpcCommand, IpcEvent, LibrarySnapshot, LocalGame, MAX_GAME_UPLOADS,
    OperationKind, WorkerHello,
};
use lanspread_proto::names::{MAX_GAME_ID_LEN, printable};
use lanspread_proto::os_error::readable;
use lanspread_proto::{FrameError, PeerId, exit, frame};
use tokio::io::AsyncWriteExt;
use tokio::sync::{broadcast, mpsc};

use crate::events::{Failure, NodeEvent, RunningOperation};
use crate::library::LibraryState;
use crate::library::root::check_game_id;
use crate::net::party::{PartyKey, PartyKeyError};
use crate::net::traffic::Traffic;
use crate::node::{Node, NodeOptions};
use crate::operations::Operations;
use crate::operations::table::{DownloadKind, WorkKind};
use crate::trust::{MAX_TRUSTED_PEERS, TrustSettings};

/// The UI must answer the hello within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs as the UI's child; returns the process exit code.
pub async fn run(socket: &str, token: String, options: NodeOptions) -> i32 {
    match run_inner(socket, token, options).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::FAILURE
        }
    }
}

type Reader = tokio::io::ReadHalf<Stream>;
type Writer = tokio::io::WriteHalf<Stream>;

async fn run_inner(socket: &str, token: String, options: NodeOptions) -> anyhow::Result<i32> {
    let (reader, mut writer) = match handshake(socket, token).await? {
        Ok(halves) => halves,
        Err(code) => return Ok(code),
    };
    let node = match Node::start(options).await {
        Ok(node) => node,
        Err(e) => {
            // The UI shows why before it restarts this worker.
            let failure = IpcEvent::RuntimeFailure {
                context: "the worker could not start".into(),
                kind: FailureKind::Other,
                message: readable(&format!("{e:#}")).into_owned(),
            };
            let _ = write_frame(&mut writer, &failure).await;
            return Err(e);
        }
    };
    let Bridge { out: out_tx, commands: mut cmd_rx, writer_task, reader_task } = bridge(reader, writer);

    let mut events = node.subscribe();
    let operations = node.operations.clone().ok_or_else(|| anyhow::anyhow!("the worker needs a game directory"))?;
    send_snapshots(&node, &operations, &out_tx);
    let mut heartbeat = tokio::time::interval(Duration::from_millis(HEARTBEAT_INTERVAL_MS));
    let mut last_heard = Instant::now();
    let timeout = Duration::from_millis(HEARTBEAT_TIMEOUT_MS);
    let mut traffic = TrafficMeter::default();
    let code = loop {
        tokio::select! {
            () = crate::platform::signals::shutdown_requested() => break exit::INTERRUPTED,
            command = cmd_rx.recv() => {
                let Some(command) = command else {
                    tracing::info!("the UI closed the socket; shutting down");
                    break exit::UI_GONE;
                };
                last_heard = Instant::now();
                if let Some(code) = handle_command(command, &node, &operations, &out_tx) {
                    break code;
                }
            }
            event = events.recv() => match event {
                Ok(event) => {
                    for event in wire_events(event, &node) {
                        let _ = out_tx.send(event);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => send_snapshots(&node, &operations, &out_tx),
                Err(broadcast::error::RecvError::Closed) => break exit::FAILURE,
            },
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > timeout {
                    tracing::warn!("no heartbeat from the UI for {timeout:?}; shutting down");
                    break exit::UI_GONE;
                }
                if out_tx.send(IpcEvent::Heartbeat).is_err() {
                    break exit::UI_GONE;
                }
                if let Some(event) = traffic.tick(Instant::now(), node.traffic()) {
                    let _ = out_tx.send(event);
                }
            }
        }
    };
    reader_task.abort();
    node.shutdown().await;
    drop(out_tx);
    let _ = tokio::time::timeout(Duration::from_secs(1), writer_task).await;
    Ok(code)
}

/// Connects to the UI's socket and presents the token: the socket's halves,
/// or the exit code when the UI did not accept this worker.
async fn handshake(socket: &str, token: String) -> anyhow::Result<Result<(Reader, Writer), i32>> {
    let name = socket.to_ns_name::<GenericNamespaced>().map_err(|e| anyhow::anyhow!("socket name {socket:?}: {e}"))?;
    let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, Stream::connect(name))
        .await
        .map_err(|_| anyhow::anyhow!("socket {socket}: the UI did not accept within {HANDSHAKE_TIMEOUT:?}"))?
        .map_err(|e| anyhow::anyhow!("socket {socket}: {e}"))?;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let hello = WorkerHello { protocol_version: IPC_PROTOCOL_VERSION, token, worker_pid: std::process::id() };
    write_frame(&mut writer, &hello).await?;
    let reply = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame::<HelloReply, _>(&mut reader))
        .await
        .map_err(|_| anyhow::anyhow!("socket {socket}: no answer to the hello within {HANDSHAKE_TIMEOUT:?}"))??;
    match reply {
        Some(HelloReply::Accepted) => Ok(Ok((reader, writer))),
        Some(HelloReply::Refused { reason }) => {
            eprintln!("error: the UI refused this worker: {reason}");
            Ok(Err(exit::IPC_REFUSED))
        }
        None => {
            eprintln!("error: the UI closed the socket during the handshake");
            Ok(Err(exit::IPC_REFUSED))
        }
    }
}

/// The tasks that carry events to the UI and commands from it.
struct Bridge {
    out: mpsc::UnboundedSender<IpcEvent>,
    commands: mpsc::UnboundedReceiver<IpcCommand>,
    writer_task: tokio::task::JoinHandle<()>,
    reader_task: tokio::task::JoinHandle<()>,
}

fn bridge(mut reader: Reader, mut writer: Writer) -> Bridge {
    let (out, mut out_rx) = mpsc::unbounded_channel::<IpcEvent>();
    let writer_task = tokio::spawn(async move {
        while let Some(event) = out_rx.recv().await {
            let Some(bytes) = encode_to_fit(event) else { continue };
            let written = async {
                writer.write_all(&bytes).await?;
                writer.flush().await
            };
            if let Err(e) = written.await {
                tracing::debug!("ipc: cannot write: {e}");
                break;
            }
        }
    });
    let (cmd_tx, commands) = mpsc::unbounded_channel::<IpcCommand>();
    let failures = out.clone();
    // A command that is refused is answered, and the next one read; only a
    // stream that broke off mid-frame ends the link.
    let reader_task = tokio::spawn(async move {
        forward_frames::<IpcCommand, _>(&mut reader, |frame| match frame {
            Ok(command) => cmd_tx.send(command).is_ok(),
            Err(error) => {
                tracing::warn!("ipc: {error}");
                let refused = IpcEvent::RuntimeFailure {
                    context: "a command from the UI".into(),
                    kind: FailureKind::Refused,
                    message: format!("{error}; ignored"),
                };
                let _ = failures.send(refused);
                true
            }
        })
        .await;
    });
    Bridge { out, commands, writer_task, reader_task }
}

/// The frame of `event`. An event too large for one frame never ends the
/// bridge: a list is cut (by halves) until it fits, with a warning; any
/// other event that cannot be encoded is dropped with a warning.
fn encode_to_fit(mut event: IpcEvent) -> Option<Vec<u8>> {
    loop {
        match frame::encode(&event) {
            Ok(bytes) => return Some(bytes),
            Err(e @ FrameError::TooLarge { .. }) => {
                let cut = match &mut event {
                    IpcEvent::NetworkGames(list) => halve(list),
                    IpcEvent::Catalog(list) => halve(list),
                    IpcEvent::Library(snapshot) => halve(&mut snapshot.games),
                    IpcEvent::GameFiles { files, .. } => halve(files),
                    IpcEvent::ActiveOperations(list) => halve(list),
                    _ => None,
                };
                match cut {
                    Some(kept) => tracing::warn!("ipc: {e}; sending only the first {kept} entries"),
                    None => {
                        tracing::warn!("ipc: {e}; dropped");
                        return None;
                    }
                }
            }
            Err(e) => {
                tracing::warn!("ipc: {e}; dropped");
                return None;
            }
        }
    }
}

/// Drops the second half of `list`; how many are left, `None` if it was empty.
fn halve<T>(list: &mut Vec<T>) -> Option<usize> {
    if list.is_empty() {
        return None;
    }
    list.truncate(list.len() / 2);
    Some(list.len())
}

/// Carries out one command; `Some(code)` ends the worker.
fn handle_command(
    command: IpcCommand,
    node: &Node,
    operations: &Operations,
    out: &mpsc::UnboundedSender<IpcEvent>,
) -> Option<i32> {
    if let Some(id) = command.game_id()
        && let Err(e) = check_game_id(id, &node.catalog)
    {
        tracing::warn!("ipc: refused a command: {e}");
        let _ = out.send(refusal(&command, e.to_string()));
        return None;
    }
    match command {
        IpcCommand::Heartbeat => {}
        IpcCommand::ListGames => send_snapshots(node, operations, out),
        IpcCommand::GetGame { id } => operations.get_game(&id),
        IpcCommand::DownloadGame { id } => operations.start_download(&id, DownloadKind::Download),
        IpcCommand::FetchLatest { id } => operations.start_download(&id, DownloadKind::Update),
        IpcCommand::CancelDownload { id } => operations.cancel(&id),
        IpcCommand::PauseDownload { id } => operations.pause(&id),
        IpcCommand::ResumeDownload { id } => operations.resume(&id),
        IpcCommand::InstallGame { id } => operations.start_work(&id, WorkKind::Install),
        IpcCommand::UninstallGame { id } => operations.start_work(&id, WorkKind::Uninstall),
        IpcCommand::RemoveDownloaded { id } => operations.start_work(&id, WorkKind::Remove),
        IpcCommand::SetAutoInstall { enabled } => operations.set_auto_install(enabled),
        IpcCommand::GetPeerCount => {
            let _ = out.send(IpcEvent::PeerCount(u32::try_from(node.peer_count()).unwrap_or(u32::MAX)));
        }
        IpcCommand::SetGameDir { path } => {
            let dir = std::path::PathBuf::from(&path);
            let result = std::fs::create_dir_all(&dir).and_then(|()| std::fs::read_dir(&dir).map(drop));
            match (result, &node.library) {
                (Ok(()), Some(library)) => library.set_game_dir(dir),
                (Err(e), _) => {
                    let failure = IpcEvent::RuntimeFailure {
                        context: "set game directory".into(),
                        kind: FailureKind::of_io(&e),
                        message: readable(&format!("{path}: {e}")).into_owned(),
                    };
                    let _ = out.send(failure);
                }
                (Ok(()), None) => {}
            }
        }
        IpcCommand::SetTrust { party_key, trusted, auto_install_untrusted } => {
            match trust_settings(party_key.as_deref(), &trusted, auto_install_untrusted) {
                Ok(settings) => node.set_trust(settings),
                Err(e) => {
                    tracing::warn!("ipc: refused trust settings: {e}");
                    let message = e.to_string();
                    let failure = IpcEvent::RuntimeFailure {
                        context: "trust settings".into(),
                        kind: FailureKind::Refused,
                        message,
                    };
                    let _ = out.send(failure);
                }
            }
        }
        IpcCommand::AddPeer { address } => {
            let failed = |e: crate::node::AddPeerError| {
                tracing::warn!("ipc: cannot add a PC: {e}");
                IpcEvent::RuntimeFailure {
                    context: "add a PC".into(),
                    kind: FailureKind::Refused,
                    message: readable(&e.to_string()).into_owned(),
                }
            };
            match node.add_peer(&address) {
                Ok(resolving) => {
                    let out = out.clone();
                    tokio::spawn(async move {
                        if let Err(e) = resolving.await {
                            let _ = out.send(failed(e));
                        }
                    });
                }
                Err(e) => drop(out.send(failed(e))),
            }
        }
        IpcCommand::EstimateInstall { id } => {
            if let Some(estimating) = node.estimate_install(&id) {
                let out = out.clone();
                tokio::spawn(async move {
                    match estimating.await {
                        Ok(estimate) => {
                            let crate::install::InstallEstimate { version, bytes, available } = estimate;
                            let _ = out.send(IpcEvent::InstallEstimate { id, version, bytes, available });
                        }
                        // The Install button says why, if it comes to that.
                        Err(e) => tracing::debug!("{id}: no install estimate: {e}"),
                    }
                });
            }
        }
        IpcCommand::SetLimits { download, upload, upload_per_peer } => {
            let limits = crate::net::rate::TransferLimits { download, upload, upload_per_peer };
            if [download, upload, upload_per_peer].iter().all(|&rate| rate <= lanspread_proto::units::MAX_RATE) {
                node.set_limits(limits);
            } else {
                tracing::warn!("ipc: refused bandwidth limits above {} B/s", lanspread_proto::units::MAX_RATE);
                let failure = IpcEvent::RuntimeFailure {
                    context: "bandwidth limits".into(),
                    kind: FailureKind::Refused,
                    message: "a limit above 100 GB/s is not a limit".into(),
                };
                let _ = out.send(failure);
            }
        }
        IpcCommand::Shutdown => return Some(exit::SUCCESS),
    }
    None
}

/// Why the UI's trust settings were refused.
#[derive(Debug, thiserror::Error)]
enum TrustSettingsError {
    #[error("{0} trusted peers: at most {MAX_TRUSTED_PEERS}")]
    TooManyPeers(usize),
    #[error("{0}")]
    PartyKey(#[from] PartyKeyError),
}

/// Trust settings as the UI sent them, checked: a valid key (or none) and
/// at most [`MAX_TRUSTED_PEERS`] peers.
fn trust_settings(
    party_key: Option<&str>,
    trusted: &[PeerId],
    auto_install_untrusted: bool,
) -> Result<TrustSettings, TrustSettingsError> {
    if trusted.len() > MAX_TRUSTED_PEERS {
        return Err(TrustSettingsError::TooManyPeers(trusted.len()));
    }
    let party_key = party_key.map(PartyKey::new).transpose()?;
    Ok(TrustSettings { party_key, trusted: trusted.iter().copied().collect(), auto_install_untrusted })
}

/// How a command naming an unusable game is answered: as the failure of
/// the operation it asked for, under the id as it can be shown.
fn refusal(command: &IpcCommand, reason: String) -> IpcEvent {
    let id = printable(command.game_id().unwrap_or_default(), MAX_GAME_ID_LEN);
    let kind = match command {
        IpcCommand::DownloadGame { .. } => OperationKind::Download,
        IpcCommand::FetchLatest { .. } => OperationKind::Update,
        IpcCommand::InstallGame { .. } => OperationKind::Install,
        IpcCommand::UninstallGame { .. } => OperationKind::Uninstall,
        IpcCommand::RemoveDownloaded { .. } => OperationKind::Remove,
        _ => {
            return IpcEvent::RuntimeFailure {
                context: format!("game {id}"),
                kind: FailureKind::Refused,
                message: reason,
            };
        }
    };
    let failure = FailureKind::Refused;
    match kind {
        OperationKind::Download | OperationKind::Update => IpcEvent::DownloadFailed { id, failure, reason },
        kind => IpcEvent::OperationFailed { id, kind, failure, reason },
    }
}

fn send_snapshots(node: &Node, operations: &Operations, out: &mpsc::UnboundedSender<IpcEvent>) {
    let _ = out.send(active_operations(operations.snapshot()));
    let _ = out.send(IpcEvent::Catalog(node.catalog.entries().cloned().collect()));
    if let Some(library) = &node.library {
        let _ = out.send(IpcEvent::Library(library_snapshot(&library.state())));
    }
    for event in network(node) {
        let _ = out.send(event);
    }
    if let Some(covers) = node.covers() {
        let _ = out.send(covers_event(&covers));
    }
}

fn covers_event(covers: &crate::covers::ShownCovers) -> IpcEvent {
    let covers = covers.iter().map(|(id, path)| GameCover { id: id.clone(), path: path.display().to_string() });
    IpcEvent::Covers(covers.collect())
}

/// The UI's wire events for one node event: the one place the worker's
/// events meet the IPC protocol.
fn wire_events(event: NodeEvent, node: &Node) -> Vec<IpcEvent> {
    let one = match event {
        NodeEvent::LibraryChanged(state) => IpcEvent::Library(library_snapshot(&state)),
        NodeEvent::NetworkChanged => return network(node).into(),
        NodeEvent::PeerJoined(peer) => match node.peer_summary(peer) {
            Some(summary) => IpcEvent::PeerJoined(summary),
            None => return Vec::new(),
        },
        NodeEvent::PeerLeft(peer_id) => IpcEvent::PeerLeft { peer_id },
        NodeEvent::CoversChanged(covers) => covers_event(&covers),
        NodeEvent::OperationsChanged(operations) => active_operations(operations),
        NodeEvent::DownloadBegin { id, version, bytes_total } => IpcEvent::DownloadBegin { id, version, bytes_total },
        NodeEvent::Progress(progress) => IpcEvent::Progress(progress),
        NodeEvent::DownloadFinished { id, version } => IpcEvent::DownloadFinished { id, version },
        NodeEvent::DownloadStopped { id, paused } => IpcEvent::DownloadCancelled { id, paused },
        NodeEvent::DownloadFailed { id, failure: Failure { kind, message } } => {
            let failed = IpcEvent::DownloadFailed { id, failure: kind, reason: message };
            // The file lists were fetched to find the disagreement: the
            // window shows who sent which.
            if kind == FailureKind::Disagreement {
                let [games, peers] = network(node);
                return vec![failed, games, peers];
            }
            failed
        }
        NodeEvent::WorkBegin { id, kind } => IpcEvent::OperationBegin { id, kind },
        NodeEvent::WorkFinished { id, kind } => IpcEvent::OperationFinished { id, kind },
        NodeEvent::WorkFailed { id, kind, failure } => {
            IpcEvent::OperationFailed { id, kind, failure: failure.kind, reason: failure.message }
        }
        NodeEvent::GameFiles { manifest, peers } => IpcEvent::GameFiles {
            id: manifest.id.clone(),
            version: manifest.version.clone(),
            files: manifest.files.iter().map(|f| GameFile { path: f.path.clone(), size: f.size }).collect(),
            peers,
        },
        NodeEvent::Failed { context, failure } => {
            IpcEvent::RuntimeFailure { context: context.to_owned(), kind: failure.kind, message: failure.message }
        }
    };
    vec![one]
}

/// The network's games and how many peers are joined.
fn network(node: &Node) -> [IpcEvent; 2] {
    [
        IpcEvent::NetworkGames(node.network_games()),
        IpcEvent::PeerCount(u32::try_from(node.peer_count()).unwrap_or(u32::MAX)),
    ]
}

fn active_operations(operations: Vec<RunningOperation>) -> IpcEvent {
    IpcEvent::ActiveOperations(
        operations
            .into_iter()
            .map(|RunningOperation { id, kind, paused }| ActiveOperation { id, kind, paused })
            .collect(),
    )
}

fn library_snapshot(state: &LibraryState) -> LibrarySnapshot {
    LibrarySnapshot {
        game_dir: state.game_dir.display().to_string(),
        revision: state.revision,
        games: state
            .games
            .values()
            .map(|g| LocalGame {
                id: g.id.clone(),
                version: g.version.clone(),
                installed: g.installed,
                size: g.size,
                installed_version: g.installed_version.clone(),
                partial: g.partial.clone(),
            })
            .collect(),
    }
}

/// Turns the node's traffic counters into per-second speeds, sent when
/// they change (so an idle worker sends nothing).
#[derive(Debug, Default)]
struct TrafficMeter {
    last: Option<(Instant, u64, u64, BTreeMap<String, u64>)>,
    last_event: Option<IpcEvent>,
}

impl TrafficMeter {
    fn tick(&mut self, now: Instant, traffic: &Traffic) -> Option<IpcEvent> {
        let (received, sent) = traffic.totals();
        let by_game = traffic.sent_by_game();
        let previous = self.last.replace((now, received, sent, by_game.clone()));
        let (then, received_before, sent_before, by_game_before) = previous?;
        let secs = now.duration_since(then).as_secs_f64().max(1e-3);
        let rate = |bytes: u64| (bytes as f64 / secs) as u64;
        let mut uploads: Vec<GameSpeed> = by_game
            .into_iter()
            .map(|(id, bytes)| {
                let before = by_game_before.get(&id).copied().unwrap_or(0);
                GameSpeed { id, bytes_per_sec: rate(bytes.saturating_sub(before)) }
            })
            .filter(|g| g.bytes_per_sec > 0)
            .collect();
        uploads.sort_by_key(|g| std::cmp::Reverse(g.bytes_per_sec));
        uploads.truncate(MAX_GAME_UPLOADS);
        let event = IpcEvent::Traffic {
            download_bps: rate(received - received_before),
            upload_bps: rate(sent - sent_before),
            uploads,
        };
        if self.last_event.as_ref() == Some(&event) {
            return None;
        }
        self.last_event = Some(event.clone());
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanspread_proto::ipc::{MAX_IPC_FRAME, NetworkGame};

    #[test]
    fn trust_settings_from_the_ui_are_checked() {
        let ok = trust_settings(Some("party words"), &[PeerId([1; 32])], true).unwrap();
        assert!(ok.party_key.is_some() && ok.is_trusted(&PeerId([1; 32])) && ok.auto_install_untrusted);
        assert_eq!(trust_settings(None, &[], false).unwrap(), TrustSettings::default());
        assert!(matches!(
            trust_settings(Some(" "), &[], false),
            Err(TrustSettingsError::PartyKey(PartyKeyError::Empty))
        ));
        let many: Vec<PeerId> = (0..=MAX_TRUSTED_PEERS).map(|i| PeerId([(i % 256) as u8; 32])).collect();
        assert!(matches!(trust_settings(None, &many, false), Err(TrustSettingsError::TooManyPeers(257))));
    }

    #[test]
    fn an_event_too_large_for_a_frame_is_cut_not_fatal() {
        let game = |i: usize| NetworkGame {
            id: format!("{i}{}", "x".repeat(1 << 20)),
            newest_version: "1".into(),
            peers_with_newest: 1,
            peers_total: 1,
            size: 1,
            ..NetworkGame::default()
        };
        let bytes = encode_to_fit(IpcEvent::NetworkGames((0..40).map(game).collect())).expect("cut to fit");
        assert!(bytes.len() <= MAX_IPC_FRAME + 4);
        let mut decoder = lanspread_proto::FrameDecoder::<IpcEvent>::new();
        decoder.push(&bytes);
        match decoder.next_frame().unwrap() {
            Some(IpcEvent::NetworkGames(games)) => assert!(!games.is_empty() && games.len() < 16, "{}", games.len()),
            other => panic!("{other:?}"),
        }
        let failure = IpcEvent::RuntimeFailure {
            context: "x".into(),
            kind: FailureKind::Other,
            message: "y".repeat(MAX_IPC_FRAME),
        };
        assert!(encode_to_fit(failure).is_none());
        assert!(encode_to_fit(IpcEvent::Heartbeat).is_some());
    }
}
