//! The IPC protocol between the desktop UI and its worker process.
//!
//! **Participants.** The UI process listens on a per-launch local socket
//! and starts the worker with the socket name (argument) and a random launch
//! token (environment variable [`TOKEN_ENV`], so it never shows in a process
//! list). The worker connects and sends [`WorkerHello`] first; the UI answers
//! [`HelloReply`]. After that the UI sends [`IpcCommand`]s and the worker
//! sends [`IpcEvent`]s, each side a heartbeat every [`HEARTBEAT_INTERVAL_MS`].
//!
//! **Goals.** Keep the two processes apart: the worker owns the network and
//! the game directory; the UI owns the window and survives the worker.
//!
//! **Non-goals.** Talking to anything but the worker the UI spawned: any
//! other client is refused.

use serde::{Deserialize, Serialize};

use crate::frame::Message;
use crate::game::{CatalogEntry, GameId, PeerId};

/// Version exchanged in [`WorkerHello`]; a mismatch is refused.
pub const IPC_PROTOCOL_VERSION: u32 = 7;
/// Largest IPC frame body (a library snapshot of thousands of games fits).
pub const MAX_IPC_FRAME: usize = 16 * 1024 * 1024;
/// Largest command body: commands carry an id or a path, nothing more.
pub const MAX_IPC_COMMAND: usize = 64 * 1024;
/// Environment variable carrying the launch token to the worker.
pub const TOKEN_ENV: &str = "LANSPREAD_IPC_TOKEN";
/// How often each side sends a heartbeat.
pub const HEARTBEAT_INTERVAL_MS: u64 = 1_000;
/// Silence after which a side treats the other as gone.
pub const HEARTBEAT_TIMEOUT_MS: u64 = 5_000;

/// The worker's first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerHello {
    pub protocol_version: u32,
    pub token: String,
    pub worker_pid: u32,
}

impl Message for WorkerHello {
    const NAME: &'static str = "worker hello";
    const MAX_FRAME: usize = 4096;
    const VARIANTS: Option<u32> = None;
}

/// The UI's answer to [`WorkerHello`]. Append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloReply {
    Accepted,
    Refused { reason: String },
}

impl Message for HelloReply {
    const NAME: &'static str = "hello reply";
    const MAX_FRAME: usize = 4096;
    const VARIANTS: Option<u32> = Some(2);
}

/// UI → worker. Append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpcCommand {
    Heartbeat,
    /// Send the catalog, the library and the network's games again.
    ListGames,
    /// Switch to another game directory (the worker rescans it).
    SetGameDir {
        path: String,
    },
    GetPeerCount,
    /// Finish cleanly and exit.
    Shutdown,
    /// Ask the peers with the newest version for the game's file list
    /// (answered by [`IpcEvent::GameFiles`]).
    GetGame {
        id: GameId,
    },
    /// Download the newest version from every peer that has it, resuming
    /// from what an earlier attempt left.
    DownloadGame {
        id: GameId,
    },
    /// Update: fetch the newest version even though a version is here.
    FetchLatest {
        id: GameId,
    },
    /// Stop a download; its journal stays, so a later download resumes.
    CancelDownload {
        id: GameId,
    },
    /// Stop a download but keep it in the active operations as paused.
    PauseDownload {
        id: GameId,
    },
    /// Continue a paused download.
    ResumeDownload {
        id: GameId,
    },
    /// Unpack a downloaded game into `local/` (an update when it is installed).
    InstallGame {
        id: GameId,
    },
    /// Remove `local/`, keeping the downloaded files.
    UninstallGame {
        id: GameId,
    },
    /// Delete the whole game root (only for a downloaded, or partly
    /// downloaded, game that is not installed).
    RemoveDownloaded {
        id: GameId,
    },
    /// Whether a finished download installs by itself (on by default).
    SetAutoInstall {
        enabled: bool,
    },
    /// The party key (`None`: no key), the trusted peers (at most
    /// [`MAX_TRUSTED_PEERS`]) and whether a download no trusted peer
    /// vouches for installs by itself when another version competes.
    /// Applied at once, without a restart.
    SetTrust {
        party_key: Option<String>,
        trusted: Vec<PeerId>,
        auto_install_untrusted: bool,
    },
    /// Contact the PC at `address` (`HOST:PORT`) from now on, as a peer
    /// given with `--peer` (at most [`MAX_ADDED_PEERS`] while the worker runs).
    AddPeer {
        address: String,
    },
    /// Tell what installing the downloaded game takes (answered by
    /// [`IpcEvent::InstallEstimate`]; nothing when it cannot be measured).
    EstimateInstall {
        id: GameId,
    },
    /// Bandwidth limits in bytes per second (0 for none, at most
    /// [`crate::units::MAX_RATE`]), applied at once to transfers under way.
    SetLimits {
        download: u64,
        upload: u64,
        upload_per_peer: u64,
    },
}

/// Most peers [`IpcCommand::AddPeer`] may add while a worker runs.
pub const MAX_ADDED_PEERS: usize = 64;

/// Most peers a [`IpcCommand::SetTrust`] may name.
pub const MAX_TRUSTED_PEERS: usize = 256;

impl IpcCommand {
    /// The game a command is about, if it names one.
    pub fn game_id(&self) -> Option<&str> {
        match self {
            IpcCommand::GetGame { id }
            | IpcCommand::DownloadGame { id }
            | IpcCommand::FetchLatest { id }
            | IpcCommand::CancelDownload { id }
            | IpcCommand::PauseDownload { id }
            | IpcCommand::ResumeDownload { id }
            | IpcCommand::InstallGame { id }
            | IpcCommand::UninstallGame { id }
            | IpcCommand::RemoveDownloaded { id }
            | IpcCommand::EstimateInstall { id } => Some(id),
            IpcCommand::Heartbeat
            | IpcCommand::ListGames
            | IpcCommand::SetGameDir { .. }
            | IpcCommand::GetPeerCount
            | IpcCommand::Shutdown
            | IpcCommand::SetAutoInstall { .. }
            | IpcCommand::SetTrust { .. }
            | IpcCommand::AddPeer { .. }
            | IpcCommand::SetLimits { .. } => None,
        }
    }
}

impl Message for IpcCommand {
    const NAME: &'static str = "ipc command";
    const MAX_FRAME: usize = MAX_IPC_COMMAND;
    const VARIANTS: Option<u32> = Some(19);
}

/// A game root found in the local game directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalGame {
    pub id: GameId,
    /// From `version.ini`; `None` while the game is not (fully) downloaded.
    pub version: Option<String>,
    pub installed: bool,
    /// Payload bytes at the root.
    pub size: u64,
    /// The version `local/` was installed from, when LanSpread installed it.
    /// Differs from `version` when an update was downloaded but not installed.
    pub installed_version: Option<String>,
    /// A download that stopped before the end (its journal is there).
    pub partial: Option<PartialDownload>,
}

/// How far a download that stopped got: a later download of the same
/// version resumes from there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialDownload {
    pub version: String,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// The local library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibrarySnapshot {
    pub game_dir: String,
    pub revision: u64,
    pub games: Vec<LocalGame>,
}

/// A game's cover picture: a file the window reads and decodes itself
/// (a game's own cover in its root, or one a peer handed out, checked
/// against its hash, in the worker's cache).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameCover {
    pub id: GameId,
    pub path: String,
}

/// A game as offered by the network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkGame {
    pub id: GameId,
    /// The version a download fetches: the newest any peer has or, where a
    /// trusted peer has the game, the newest a trusted peer has.
    pub newest_version: String,
    /// Peers that have that version.
    pub peers_with_newest: u32,
    /// Peers that have any version.
    pub peers_total: u32,
    /// Size of that version.
    pub size: u64,
    /// A trusted peer vouches for the version (only trusted file lists count).
    pub trusted: bool,
    /// The peers whose file list counts: the trusted ones with the version,
    /// or every peer with it when no trusted peer has the game.
    pub supplied_by: Vec<PeerId>,
    /// Other versions on offer (at most [`MAX_OTHER_VERSIONS`], newest
    /// first) and who offers them: older copies, or versions from peers that
    /// are not trusted where a trusted one has the game.
    pub other_versions: Vec<OtherVersion>,
    /// The peers of `supplied_by` grouped by the file list each sent, when
    /// they sent different ones (of the lists this node fetched): nothing
    /// is downloaded until the user trusts one. Empty when they agree.
    pub disagreement: Vec<Vec<PeerId>>,
}

/// Other versions of a game listed in a [`NetworkGame`], at most.
pub const MAX_OTHER_VERSIONS: usize = 4;

/// A version of a game that a download would not fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherVersion {
    pub version: String,
    pub peers: Vec<PeerId>,
}

/// A peer as the worker knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSummary {
    pub peer_id: PeerId,
    pub display_name: String,
    pub address: String,
}

/// What an operation is doing. Append-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Checking bytes already on disk against the manifest.
    Checking,
    Downloading,
    /// Writing the last files and committing `version.ini`.
    Committing,
    /// Unpacking into `local/`: bytes are unpacked bytes.
    Installing,
}

/// One game's speed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameSpeed {
    pub id: GameId,
    pub bytes_per_sec: u64,
}

/// Most games a [`IpcEvent::Traffic`] names the upload of.
pub const MAX_GAME_UPLOADS: usize = 32;

/// One peer's share of a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSpeed {
    pub peer_id: PeerId,
    pub bytes_per_sec: u64,
    /// Verified bytes received from this peer in this transfer.
    pub bytes: u64,
    /// The peer is fetching the game too and serves what it has so far.
    pub still_downloading: bool,
}

/// Progress of one operation: the one shape the card, the detail view and
/// the headless progress bar all read. Sent at most ~10 times a second.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub id: GameId,
    pub phase: Phase,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Smoothed over the last few seconds.
    pub bytes_per_sec: u64,
    /// `None` while unknown (no speed yet).
    pub eta_secs: Option<u64>,
    pub peers: Vec<PeerSpeed>,
}

/// Worker → UI. Append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpcEvent {
    Heartbeat,
    Catalog(Vec<CatalogEntry>),
    Library(LibrarySnapshot),
    NetworkGames(Vec<NetworkGame>),
    PeerJoined(PeerSummary),
    PeerLeft {
        peer_id: PeerId,
    },
    PeerCount(u32),
    /// Something failed that the user should see.
    RuntimeFailure {
        context: String,
        kind: FailureKind,
        message: String,
    },
    /// The file list of a game, as the peers with its newest version have it.
    GameFiles {
        id: GameId,
        version: String,
        files: Vec<GameFile>,
        peers: Vec<PeerId>,
    },
    /// Everything running now: the one source of truth for what is busy.
    ActiveOperations(Vec<ActiveOperation>),
    DownloadBegin {
        id: GameId,
        version: String,
        bytes_total: u64,
    },
    Progress(Progress),
    DownloadFinished {
        id: GameId,
        version: String,
    },
    /// The download stopped; `reason` is for a person to read, `failure`
    /// for the UI to act on.
    DownloadFailed {
        id: GameId,
        failure: FailureKind,
        reason: String,
    },
    DownloadCancelled {
        id: GameId,
        paused: bool,
    },
    /// An install, uninstall or removal started.
    OperationBegin {
        id: GameId,
        kind: OperationKind,
    },
    OperationFinished {
        id: GameId,
        kind: OperationKind,
    },
    /// `reason` is for a person to read; nothing was left half-done.
    OperationFailed {
        id: GameId,
        kind: OperationKind,
        failure: FailureKind,
        reason: String,
    },
    /// Chunk bytes per second from and to peers, over the last second, and
    /// the upload of each game being uploaded (fastest first, at most
    /// [`MAX_GAME_UPLOADS`]).
    Traffic {
        download_bps: u64,
        upload_bps: u64,
        uploads: Vec<GameSpeed>,
    },
    /// Every game's cover file the worker knows (the whole set each time).
    Covers(Vec<GameCover>),
    /// What installing `version` of a downloaded game takes: the bytes its
    /// payload unpacks to, and the bytes free where it goes.
    InstallEstimate {
        id: GameId,
        version: String,
        bytes: u64,
        available: u64,
    },
}

impl Message for IpcEvent {
    const NAME: &'static str = "ipc event";
    const MAX_FRAME: usize = MAX_IPC_FRAME;
    const VARIANTS: Option<u32> = Some(21);
}

/// A file of a game, for the detail view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameFile {
    pub path: String,
    pub size: u64,
}

/// What kind of failure an event reports, so the UI can tell them apart
/// without reading the message (which is for a person). Append-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    /// Another operation (here or in another LanSpread process) holds the game.
    Busy,
    /// The disk has not enough free space.
    NoSpace,
    /// No peer offers the game, or none could be reached or agreed with.
    NoPeers,
    /// The request was refused as invalid or unsafe: an unknown game, a
    /// bad setting, an archive entry pointing outside its game.
    Refused,
    /// Downloaded, but not installed by itself: no trusted peer vouches for it.
    NotTrusted,
    /// An archive is damaged or needs an unpacker that is missing.
    Archive,
    /// Reading or writing files failed.
    Io,
    /// Anything else.
    Other,
    /// Stopped on request; the previous state is kept.
    Cancelled,
    /// The peers whose file list counts offer different ones: nothing was
    /// downloaded until the user trusts one of them.
    Disagreement,
}

impl FailureKind {
    /// The kind of a failed read or write: a full disk is told apart.
    pub fn of_io(e: &std::io::Error) -> FailureKind {
        match e.kind() {
            std::io::ErrorKind::StorageFull => FailureKind::NoSpace,
            _ => FailureKind::Io,
        }
    }
}

/// Kinds of long-running work. Append-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperationKind {
    Download,
    Update,
    Install,
    Uninstall,
    Remove,
}

/// One running (or paused) operation on a game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveOperation {
    pub id: GameId,
    pub kind: OperationKind,
    pub paused: bool,
}
