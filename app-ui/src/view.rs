//! The state the window shows, built from supervisor events, and the
//! formatting of its numbers. The worker's snapshots are the source of
//! truth; while the worker restarts the last ones stay, marked stale.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use lanspread_proto::CatalogEntry;
use lanspread_proto::game::compare_versions;
use lanspread_proto::ipc::{
    ActiveOperation, IpcEvent, LibrarySnapshot, LocalGame, NetworkGame, OperationKind, Progress,
};
pub use lanspread_proto::units::format_size;

use crate::supervisor::{SupervisorEvent, WorkerState};

/// Where a game stands for this PC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GameStatus {
    /// Not here and no peer has it.
    Unavailable,
    /// Not here; peers have it.
    Available,
    Downloaded,
    Installed,
    /// Here, but a peer has a newer version.
    UpdateAvailable,
    /// A download or update is running (or paused).
    Downloading,
}

impl GameStatus {
    pub fn label(self, peers: u32) -> String {
        match self {
            GameStatus::Unavailable => "Not on this PC".into(),
            GameStatus::Available => format!("Available from {peers} {}", if peers == 1 { "peer" } else { "peers" }),
            GameStatus::Downloaded => "Downloaded".into(),
            GameStatus::Installed => "Installed".into(),
            GameStatus::UpdateAvailable => "Update available".into(),
            GameStatus::Downloading => "Downloading".into(),
        }
    }
}

/// One game card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameRow {
    pub id: String,
    pub name: String,
    pub genre: String,
    pub description: String,
    pub max_players: u16,
    pub local_version: Option<String>,
    pub network_version: Option<String>,
    /// Peers with the newest version.
    pub peers: u32,
    pub size: u64,
    pub status: GameStatus,
    /// The running operation's progress, if one runs (`paused` if paused).
    pub progress: Option<Progress>,
    pub paused: bool,
}

/// Everything the window shows.
#[derive(Debug, Clone, Default)]
pub struct ViewState {
    catalog: BTreeMap<String, CatalogEntry>,
    library: Option<LibrarySnapshot>,
    network: BTreeMap<String, NetworkGame>,
    operations: BTreeMap<String, ActiveOperation>,
    progress: BTreeMap<String, Progress>,
    pub peer_count: u32,
    pub worker: Option<WorkerState>,
    /// The last failure the worker reported, for a message line.
    pub last_failure: Option<String>,
}

impl ViewState {
    /// Applies one event.
    pub fn apply(&mut self, event: SupervisorEvent) {
        match event {
            SupervisorEvent::State(state) => self.worker = Some(state),
            SupervisorEvent::Worker(event) => self.apply_worker(event),
        }
    }

    fn apply_worker(&mut self, event: IpcEvent) {
        match event {
            IpcEvent::Heartbeat | IpcEvent::PeerJoined(_) | IpcEvent::PeerLeft { .. } => {}
            IpcEvent::Catalog(entries) => self.catalog = entries.into_iter().map(|e| (e.id.clone(), e)).collect(),
            IpcEvent::Library(snapshot) => self.library = Some(snapshot),
            IpcEvent::NetworkGames(games) => self.network = games.into_iter().map(|g| (g.id.clone(), g)).collect(),
            IpcEvent::PeerCount(n) => self.peer_count = n,
            IpcEvent::RuntimeFailure { context, message } => self.last_failure = Some(format!("{context}: {message}")),
            IpcEvent::ActiveOperations(ops) => {
                self.operations = ops.into_iter().map(|op| (op.id.clone(), op)).collect();
                let running = &self.operations;
                self.progress.retain(|id, _| running.contains_key(id));
            }
            IpcEvent::Progress(progress) => {
                if self.operations.contains_key(&progress.id) {
                    self.progress.insert(progress.id.clone(), progress);
                }
            }
            IpcEvent::DownloadFailed { id, reason } => {
                self.last_failure = Some(format!("Download of {} failed: {reason}", self.name_of(&id)));
            }
            IpcEvent::OperationFailed { id, kind, reason } => {
                self.last_failure = Some(format!("{} of {} failed: {reason}", kind_label(kind), self.name_of(&id)));
            }
            // The detail view (not built yet) shows file lists; begin, finish and
            // cancel are reflected by the operations and library snapshots.
            IpcEvent::GameFiles { .. }
            | IpcEvent::DownloadBegin { .. }
            | IpcEvent::DownloadFinished { .. }
            | IpcEvent::DownloadCancelled { .. }
            | IpcEvent::OperationBegin { .. }
            | IpcEvent::OperationFinished { .. } => {}
        }
    }

    /// True while the shown data may be out of date (the worker is not running).
    pub fn is_stale(&self) -> bool {
        !matches!(self.worker, Some(WorkerState::Running { .. }))
    }

    /// One row per catalogued game, plus any game a peer or the disk has
    /// that this catalog lacks; sorted by name.
    pub fn rows(&self) -> Vec<GameRow> {
        let local: BTreeMap<&str, &LocalGame> =
            self.library.iter().flat_map(|l| &l.games).map(|g| (g.id.as_str(), g)).collect();
        let mut ids: Vec<&str> = self.catalog.keys().map(String::as_str).collect();
        ids.extend(local.keys().copied().chain(self.network.keys().map(String::as_str)));
        ids.sort_unstable();
        ids.dedup();
        let mut rows: Vec<GameRow> = ids.into_iter().map(|id| self.row(id, local.get(id).copied())).collect();
        rows.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.id.cmp(&b.id)));
        rows
    }

    fn name_of(&self, id: &str) -> String {
        self.catalog.get(id).map_or_else(|| id.to_owned(), |e| e.name.clone())
    }

    fn row(&self, id: &str, local: Option<&LocalGame>) -> GameRow {
        let entry = self.catalog.get(id);
        let network = self.network.get(id);
        let local_version = local.and_then(|g| g.version.clone());
        let operation = self.operations.get(id);
        let status = if operation.is_some() { GameStatus::Downloading } else { status_of(local, network) };
        let size = match (local, network) {
            (Some(l), _) if l.version.is_some() => l.size,
            (_, Some(n)) => n.size,
            (Some(l), None) => l.size,
            (None, None) => 0,
        };
        GameRow {
            id: id.to_owned(),
            name: entry.map_or_else(|| id.to_owned(), |e| e.name.clone()),
            genre: entry.map(|e| e.genre.clone()).unwrap_or_default(),
            description: entry.map(|e| e.description.clone()).unwrap_or_default(),
            max_players: entry.map_or(0, |e| e.max_players),
            local_version,
            network_version: network.map(|n| n.newest_version.clone()),
            peers: network.map_or(0, |n| n.peers_with_newest),
            size,
            status,
            progress: self.progress.get(id).cloned(),
            paused: operation.is_some_and(|op| op.paused),
        }
    }
}

/// The status of a game from what is here and what the network has.
pub fn status_of(local: Option<&LocalGame>, network: Option<&NetworkGame>) -> GameStatus {
    match (local.and_then(|l| l.version.as_deref()), network) {
        (Some(here), Some(net)) if compare_versions(&net.newest_version, here) == Ordering::Greater => {
            GameStatus::UpdateAvailable
        }
        (Some(_), _) if local.is_some_and(|l| l.installed) => GameStatus::Installed,
        (Some(_), _) => GameStatus::Downloaded,
        (None, Some(_)) => GameStatus::Available,
        (None, None) => GameStatus::Unavailable,
    }
}

/// The badge of a row: its status, or the download's percent and speed.
pub fn badge(row: &GameRow) -> String {
    match (&row.progress, row.paused) {
        (_, true) => "Paused".into(),
        (Some(p), false) => {
            format!("{} · {}/s", format_percent(p.bytes_done, p.bytes_total), format_size(p.bytes_per_sec))
        }
        (None, false) => row.status.label(row.peers),
    }
}

/// An operation's name in a sentence ("Install of … failed").
pub fn kind_label(kind: OperationKind) -> &'static str {
    match kind {
        OperationKind::Download => "Download",
        OperationKind::Update => "Update",
        OperationKind::Install => "Install",
        OperationKind::Uninstall => "Uninstall",
        OperationKind::Remove => "Removal",
    }
}

/// `42%`, rounded down so 100% means done.
pub fn format_percent(done: u64, total: u64) -> String {
    if total == 0 {
        return "0%".into();
    }
    format!("{}%", (u128::from(done) * 100 / u128::from(total)).min(100))
}

/// The worker state for the status bar.
pub fn worker_label(state: Option<&WorkerState>) -> String {
    match state {
        None | Some(WorkerState::Starting) => "Starting…".into(),
        Some(WorkerState::Running { .. }) => "Running".into(),
        Some(WorkerState::Restarting { reason, retry_in }) => {
            format!("Restarting in {:.1} s (worker {reason})", retry_in.as_secs_f64())
        }
        Some(WorkerState::CrashLoop { reason, log_file }) => {
            let log = log_file.as_ref().map(|p| format!("; log: {}", p.display())).unwrap_or_default();
            format!("Stopped after repeated crashes (worker {reason}){log}")
        }
        Some(WorkerState::Stopped) => "Stopped".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(version: Option<&str>, installed: bool) -> LocalGame {
        LocalGame { id: "g".into(), version: version.map(Into::into), installed, size: 10 }
    }

    fn net(version: &str, peers: u32) -> NetworkGame {
        NetworkGame {
            id: "g".into(),
            newest_version: version.into(),
            peers_with_newest: peers,
            peers_total: peers,
            size: 20,
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(status_of(None, None), GameStatus::Unavailable);
        assert_eq!(status_of(None, Some(&net("1", 2))), GameStatus::Available);
        assert_eq!(status_of(Some(&local(None, false)), Some(&net("1", 2))), GameStatus::Available);
        assert_eq!(status_of(Some(&local(Some("1.9"), false)), None), GameStatus::Downloaded);
        assert_eq!(status_of(Some(&local(Some("1.9"), true)), Some(&net("1.9", 1))), GameStatus::Installed);
        assert_eq!(status_of(Some(&local(Some("1.9"), true)), Some(&net("1.10", 1))), GameStatus::UpdateAvailable);
        assert_eq!(status_of(Some(&local(Some("1.10"), true)), Some(&net("1.9", 1))), GameStatus::Installed);
        assert_eq!(GameStatus::Available.label(1), "Available from 1 peer");
        assert_eq!(GameStatus::Available.label(3), "Available from 3 peers");
    }

    #[test]
    fn percents() {
        assert_eq!(format_percent(0, 0), "0%");
        assert_eq!(format_percent(999, 1000), "99%");
        assert_eq!(format_percent(1000, 1000), "100%");
    }

    #[test]
    fn rows_merge_catalog_library_and_network() {
        let mut view = ViewState::default();
        let entry = |id: &str, name: &str| CatalogEntry {
            id: id.into(),
            name: name.into(),
            description: String::new(),
            genre: "g".into(),
            max_players: 4,
        };
        view.apply(SupervisorEvent::Worker(IpcEvent::Catalog(vec![
            entry("xonotic", "Xonotic"),
            entry("0ad", "0 A.D."),
        ])));
        view.apply(SupervisorEvent::Worker(IpcEvent::Library(LibrarySnapshot {
            game_dir: "/g".into(),
            revision: 1,
            games: vec![LocalGame { id: "xonotic".into(), version: Some("0.8.5".into()), installed: true, size: 100 }],
        })));
        view.apply(SupervisorEvent::Worker(IpcEvent::NetworkGames(vec![
            NetworkGame {
                id: "xonotic".into(),
                newest_version: "0.8.6".into(),
                peers_with_newest: 2,
                peers_total: 3,
                size: 120,
            },
            NetworkGame {
                id: "mystery".into(),
                newest_version: "1".into(),
                peers_with_newest: 1,
                peers_total: 1,
                size: 5,
            },
        ])));
        let rows = view.rows();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["0ad", "mystery", "xonotic"]);
        assert_eq!(rows[0].status, GameStatus::Unavailable);
        assert_eq!((rows[1].name.as_str(), rows[1].status), ("mystery", GameStatus::Available));
        let xon = &rows[2];
        assert_eq!((xon.status, xon.peers, xon.size), (GameStatus::UpdateAvailable, 2, 100));
        assert!(view.is_stale());
        view.apply(SupervisorEvent::State(WorkerState::Running { pid: 1 }));
        assert!(!view.is_stale());
    }
}
