//! The state the window shows, built from supervisor events, and the
//! formatting of its numbers. The worker's snapshots are the source of
//! truth; while the worker restarts the last ones stay, marked stale.

mod format;
mod row;

use std::collections::{BTreeMap, BTreeSet};

use lanspread_proto::ipc::{
    ActiveOperation, FailureKind, IpcCommand, IpcEvent, LibrarySnapshot, LocalGame, MAX_GAME_UPLOADS, NetworkGame,
    OperationKind, PeerSummary, Progress,
};
use lanspread_proto::{CatalogEntry, PeerId};

pub use self::format::*;
pub use self::row::*;
use crate::supervisor::{SupervisorEvent, WorkerState};

/// The file list and sources of a game, as the peers reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameSources {
    pub version: String,
    pub files: usize,
    /// Display names of the peers with that version.
    pub peers: Vec<String>,
}

/// Everything the window shows.
#[derive(Debug, Clone, Default)]
pub struct ViewState {
    catalog: BTreeMap<String, CatalogEntry>,
    library: Option<LibrarySnapshot>,
    network: BTreeMap<String, NetworkGame>,
    operations: BTreeMap<String, ActiveOperation>,
    progress: BTreeMap<String, Progress>,
    sources: BTreeMap<String, GameSources>,
    /// The peers joined, by peer id.
    peers: BTreeMap<PeerId, PeerSummary>,
    pub peer_count: u32,
    pub worker: Option<WorkerState>,
    /// The last failure the worker reported, for a message line.
    pub last_failure: Option<String>,
    /// Chunk bytes per second from and to peers.
    pub download_bps: u64,
    pub upload_bps: u64,
    /// Each catalogued game's upload, bytes per second, fastest first.
    pub uploads: Vec<(String, u64)>,
    /// The bandwidth limits this window asked the worker for (bytes per
    /// second, 0: none): download, upload, upload per PC.
    pub limits: (u64, u64, u64),
    /// Games started with Play that still run (the UI's own knowledge).
    running: BTreeSet<String>,
    /// When games were last started with Play (seconds since 1970).
    played: BTreeMap<String, u64>,
    /// Each game's cover file, as the worker reported it.
    covers: BTreeMap<String, String>,
    /// What installing a downloaded game takes, as the worker measured it.
    install_estimates: BTreeMap<String, InstallEstimate>,
}

/// What installing a downloaded version takes: the bytes it unpacks to and
/// the bytes free where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallEstimate {
    pub version: String,
    pub bytes: u64,
    pub available: u64,
}

/// A failure's message with what the user can do about it, by its kind.
fn with_hint(text: String, kind: FailureKind) -> String {
    let hint = match kind {
        FailureKind::NoSpace => "Free some space, or choose a game folder on another disk in Settings.",
        FailureKind::NoPeers => "No PC on the network offers it right now; try again once one that has it is on.",
        FailureKind::Busy => "Another operation is working on this game; try again when it is done.",
        FailureKind::Archive => "The game's pack may be damaged; ask whoever shared it for a new copy.",
        FailureKind::Disagreement => {
            "Trust the PC whose file list you want (Peers, in Settings or below), then download again."
        }
        FailureKind::NotTrusted
        | FailureKind::Refused
        | FailureKind::Io
        | FailureKind::Other
        | FailureKind::Cancelled => return text,
    };
    format!("{text} — {hint}")
}

impl ViewState {
    /// Applies one event.
    pub fn apply(&mut self, event: SupervisorEvent) {
        match event {
            SupervisorEvent::State(state) => {
                if !matches!(state, WorkerState::Running { .. }) {
                    self.stop_speeds();
                }
                self.worker = Some(state);
            }
            SupervisorEvent::Worker(event) => self.apply_worker(event),
        }
    }

    fn apply_worker(&mut self, event: IpcEvent) {
        match event {
            IpcEvent::Heartbeat => {}
            IpcEvent::PeerJoined(peer) => {
                self.peers.insert(peer.peer_id, peer);
            }
            IpcEvent::PeerLeft { peer_id } => {
                self.peers.remove(&peer_id);
            }
            IpcEvent::Traffic { download_bps, upload_bps, uploads } => {
                // A report that trails a finished download is not shown.
                self.download_bps = if self.is_downloading() { download_bps } else { 0 };
                self.upload_bps = upload_bps;
                self.uploads = uploads
                    .into_iter()
                    .filter(|g| self.catalog.contains_key(&g.id))
                    .take(MAX_GAME_UPLOADS)
                    .map(|g| (g.id, g.bytes_per_sec))
                    .collect();
            }
            IpcEvent::GameFiles { id, version, files, peers } => {
                let peers = peers.iter().map(|p| self.peer_name(p)).collect();
                self.sources.insert(id, GameSources { version, files: files.len(), peers });
            }
            IpcEvent::Catalog(entries) => self.catalog = entries.into_iter().map(|e| (e.id.clone(), e)).collect(),
            IpcEvent::Library(snapshot) => self.library = Some(snapshot),
            IpcEvent::NetworkGames(games) => self.network = games.into_iter().map(|g| (g.id.clone(), g)).collect(),
            IpcEvent::PeerCount(n) => self.peer_count = n,
            IpcEvent::Covers(covers) => self.covers = covers.into_iter().map(|c| (c.id, c.path)).collect(),
            IpcEvent::InstallEstimate { id, version, bytes, available } => {
                if self.catalog.contains_key(&id) {
                    self.install_estimates.insert(id, InstallEstimate { version, bytes, available });
                }
            }
            IpcEvent::RuntimeFailure { context, kind, message } => {
                self.last_failure = Some(with_hint(format!("{context}: {message}"), kind));
            }
            IpcEvent::ActiveOperations(ops) => {
                self.operations = ops.into_iter().map(|op| (op.id.clone(), op)).collect();
                let running = &self.operations;
                self.progress.retain(|id, _| running.contains_key(id));
                // A cancelled or finished download's speed goes at once,
                // not with the next traffic report.
                if !self.is_downloading() {
                    self.download_bps = 0;
                }
            }
            IpcEvent::Progress(progress) => {
                if self.operations.contains_key(&progress.id) {
                    self.progress.insert(progress.id.clone(), progress);
                }
            }
            IpcEvent::DownloadFailed { id, failure, reason } => {
                let text = format!("Download of {} failed: {reason}", self.name_of(&id));
                self.last_failure = Some(with_hint(text, failure));
            }
            IpcEvent::OperationFailed { id, kind, failure: FailureKind::Cancelled, .. } => {
                let text =
                    format!("{} of {} cancelled; the previous state is kept", kind_label(kind), self.name_of(&id));
                self.last_failure = Some(text);
            }
            IpcEvent::OperationFailed { id, kind, failure, reason } => {
                let text = format!("{} of {} failed: {reason}", kind_label(kind), self.name_of(&id));
                self.last_failure = Some(with_hint(text, failure));
            }
            // Begin, finish and cancel show in the operations and library snapshots.
            IpcEvent::DownloadBegin { .. }
            | IpcEvent::DownloadFinished { .. }
            | IpcEvent::DownloadCancelled { .. }
            | IpcEvent::OperationBegin { .. }
            | IpcEvent::OperationFinished { .. } => {}
        }
    }

    /// The games an operation runs on (their progress changes often).
    pub fn operation_ids(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }

    /// Whether a download or update runs (not paused).
    fn is_downloading(&self) -> bool {
        self.operations
            .values()
            .any(|op| matches!(op.kind, OperationKind::Download | OperationKind::Update) && !op.paused)
    }

    /// A peer's display name, or the start of its id when it has not
    /// introduced itself.
    /// Takes note of what the window asks the worker that it shows itself
    /// (the bandwidth limits); true if that changed anything.
    pub fn note_command(&mut self, command: &IpcCommand) -> bool {
        match *command {
            IpcCommand::SetLimits { download, upload, upload_per_peer } => {
                let limits = (download, upload, upload_per_peer);
                std::mem::replace(&mut self.limits, limits) != limits
            }
            _ => false,
        }
    }

    /// A catalogued game's name (its id when it is not catalogued).
    pub fn game_name(&self, id: &str) -> String {
        self.catalog.get(id).map_or_else(|| id.to_owned(), |e| e.name.clone())
    }

    /// What this PC uploads of `id` to others now, bytes per second.
    pub fn upload_of(&self, id: &str) -> u64 {
        self.uploads.iter().find(|(game, _)| game == id).map_or(0, |(_, bps)| *bps)
    }

    pub fn peer_name(&self, peer: &PeerId) -> String {
        self.peers.get(peer).map_or_else(|| peer.short(), |p| p.display_name.clone())
    }

    /// The peers joined, in id order.
    pub fn peers(&self) -> impl Iterator<Item = &PeerSummary> {
        self.peers.values()
    }

    /// What the network offers of one game.
    pub fn network_game(&self, id: &str) -> Option<&NetworkGame> {
        self.network.get(id)
    }

    /// Which games started with Play still run.
    pub fn set_running(&mut self, running: BTreeSet<String>) {
        self.running = running;
    }

    /// When games were last started with Play.
    pub fn set_played(&mut self, played: BTreeMap<String, u64>) {
        self.played = played;
    }

    /// How the catalog says to start `id` (empty: it does not say).
    pub fn launch_commands(&self, id: &str) -> Vec<lanspread_proto::game::LaunchCommand> {
        self.catalog.get(id).map(|e| e.launch.clone()).unwrap_or_default()
    }

    /// Nothing on this PC and no other PC found (the worker has said both):
    /// the window explains where games go and how PCs find each other.
    pub fn is_first_run(&self) -> bool {
        !self.is_stale()
            && self.library.as_ref().is_some_and(|l| l.games.is_empty())
            && self.network.is_empty()
            && self.peer_count == 0
            && self.peers.is_empty()
    }

    /// What installing `version_here` of `id` takes, once measured.
    pub fn install_estimate(&self, id: &str, version_here: &str) -> Option<&InstallEstimate> {
        self.install_estimates.get(id).filter(|e| e.version == version_here)
    }

    /// The game directory the worker uses, once it said.
    pub fn game_dir(&self) -> Option<&str> {
        self.library.as_ref().map(|l| l.game_dir.as_str())
    }

    /// What the peers said about a game's newest version (after `GetGame`).
    pub fn sources(&self, id: &str) -> Option<&GameSources> {
        self.sources.get(id)
    }

    /// The rows `filter` and the search `query` let through, in `sort`'s
    /// order.
    pub fn visible_rows(&self, filter: Filter, query: &str, sort: Sort) -> Vec<GameRow> {
        let query = query.trim().to_lowercase();
        let mut rows: Vec<GameRow> = self.rows().into_iter().filter(|row| row.matches(filter, &query)).collect();
        match sort {
            Sort::Name => {}
            // Stable sorts keep the name order within a group.
            Sort::ReadyFirst => rows.sort_by_key(GameRow::readiness),
            Sort::Size => rows.sort_by_key(|row| std::cmp::Reverse(row.size)),
            Sort::RecentlyPlayed => {
                rows.sort_by_key(|row| (std::cmp::Reverse(self.played.get(&row.id).copied()), row.readiness()));
            }
        }
        rows
    }

    /// How many games there are in all (every filter and query off).
    pub fn game_count(&self) -> usize {
        self.ids().len()
    }

    /// One game's row, for the detail view (built alone, not with the grid).
    pub fn row_of(&self, id: &str) -> Option<GameRow> {
        let local = self.library.iter().flat_map(|l| &l.games).find(|g| g.id == id);
        let known = local.is_some() || self.catalog.contains_key(id) || self.network.contains_key(id);
        known.then(|| self.row(id, local))
    }

    /// Every game id: catalogued, here or on the network.
    fn ids(&self) -> Vec<&str> {
        let local = self.library.iter().flat_map(|l| &l.games).map(|g| g.id.as_str());
        let mut ids: Vec<&str> = self.catalog.keys().map(String::as_str).collect();
        ids.extend(local.chain(self.network.keys().map(String::as_str)));
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Nothing moves while no worker runs: its speeds and ETAs go, the
    /// bytes done stay (a new worker sends its own, and only when they change).
    fn stop_speeds(&mut self) {
        self.download_bps = 0;
        self.upload_bps = 0;
        self.uploads.clear();
        for progress in self.progress.values_mut() {
            progress.bytes_per_sec = 0;
            progress.eta_secs = None;
            progress.peers.clear();
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
        let mut rows: Vec<GameRow> = self.ids().into_iter().map(|id| self.row(id, local.get(id).copied())).collect();
        rows.sort_by_cached_key(|row| (row.name.to_lowercase(), row.id.clone()));
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
        let status = operation.map_or_else(|| status_of(local, network), |op| GameStatus::of_operation(op.kind));
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
            installed: local.is_some_and(|l| l.installed),
            progress: self.progress.get(id).cloned(),
            paused: operation.is_some_and(|op| op.paused),
            running: self.running.contains(id),
            partial: local.and_then(|l| l.partial.clone()),
            art: self.covers.get(id).cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanspread_proto::ipc::{IpcCommand, PeerSpeed, Phase};

    fn local(version: Option<&str>, installed: bool) -> LocalGame {
        LocalGame {
            id: "g".into(),
            version: version.map(Into::into),
            installed,
            size: 10,
            installed_version: installed.then(|| version.map(Into::into)).flatten(),
            partial: None,
        }
    }

    fn net(version: &str, peers: u32) -> NetworkGame {
        NetworkGame {
            id: "g".into(),
            newest_version: version.into(),
            peers_with_newest: peers,
            peers_total: peers,
            size: 20,
            ..NetworkGame::default()
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
        let mut updated = local(Some("1.10"), true);
        updated.installed_version = Some("1.9".into());
        assert_eq!(status_of(Some(&updated), Some(&net("1.10", 1))), GameStatus::UpdateDownloaded);
        updated.installed_version = None;
        assert_eq!(status_of(Some(&updated), None), GameStatus::Installed, "installed by hand: taken as current");
        assert_eq!(GameStatus::Available.label(1), "From 1 peer");
        assert_eq!(GameStatus::Available.label(3), "From 3 peers");
    }

    #[test]
    fn percents_speeds_etas_and_sizes() {
        assert_eq!(format_percent(0, 0), "0%");
        assert_eq!(format_percent(999, 1000), "99%");
        assert_eq!(format_percent(1000, 1000), "100%");
        assert_eq!(format_speed(0), "0 B/s");
        assert_eq!(format_speed(12_345_678), "12.3 MB/s");
        assert_eq!(format_speed(1_500), "1.5 KB/s");
        assert_eq!(format_eta(None), "--");
        assert_eq!(format_eta(Some(45)), "45 s");
        assert_eq!(format_eta(Some(185)), "3 min 05 s");
        assert_eq!(format_eta(Some(7_620)), "2 h 07 min");
        assert_eq!(format_bytes_of(1_200_000_000, 4_000_000_000), "1.2 GB of 4.0 GB");
        assert_eq!(format_size(999), "999 B");
    }

    #[test]
    fn each_state_has_the_button_that_fits() {
        use GameStatus::*;
        let table = [
            (Unavailable, None),
            (Available, Some(CardAction::Download)),
            (Downloaded, Some(CardAction::Install)),
            (UpdateDownloaded, Some(CardAction::Install)),
            (Installed, Some(CardAction::Play)),
            (UpdateAvailable, Some(CardAction::Update)),
            (Downloading, None),
            (Installing, None),
            (Uninstalling, None),
            (Removing, None),
        ];
        for (status, action) in table {
            assert_eq!(action_for(status), action, "{status:?}");
            assert_eq!(status.is_busy(), matches!(status, Downloading | Installing | Uninstalling | Removing));
        }
        assert_eq!(CardAction::Download.command("x"), Some(IpcCommand::DownloadGame { id: "x".into() }));
        assert_eq!(CardAction::Update.command("x"), Some(IpcCommand::FetchLatest { id: "x".into() }));
        assert_eq!(CardAction::Install.command("x"), Some(IpcCommand::InstallGame { id: "x".into() }));
        assert_eq!(CardAction::Play.command("x"), None);
    }

    #[test]
    fn recently_played_games_come_first_newest_first_then_what_is_ready() {
        let mut view = ViewState::default();
        let names = ["alpha", "bravo", "charlie", "delta"];
        let entries =
            names.iter().map(|id| CatalogEntry { id: (*id).into(), name: (*id).into(), ..Default::default() });
        view.apply(SupervisorEvent::Worker(IpcEvent::Catalog(entries.collect())));
        view.apply(SupervisorEvent::Worker(IpcEvent::NetworkGames(vec![NetworkGame {
            id: "delta".into(),
            ..net("1.0", 1)
        }])));
        view.set_played([("bravo".to_owned(), 10), ("charlie".to_owned(), 20)].into());
        let order: Vec<String> =
            view.visible_rows(Filter::All, "", Sort::RecentlyPlayed).into_iter().map(|r| r.id).collect();
        assert_eq!(order, ["charlie", "bravo", "delta", "alpha"]);
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
            launch: Vec::new(),
        };
        view.apply(SupervisorEvent::Worker(IpcEvent::Catalog(vec![
            entry("xonotic", "Xonotic"),
            entry("0ad", "0 A.D."),
        ])));
        view.apply(SupervisorEvent::Worker(IpcEvent::Library(LibrarySnapshot {
            game_dir: "/g".into(),
            revision: 1,
            games: vec![LocalGame {
                id: "xonotic".into(),
                version: Some("0.8.5".into()),
                installed: true,
                size: 100,
                installed_version: Some("0.8.5".into()),
                partial: None,
            }],
        })));
        view.apply(SupervisorEvent::Worker(IpcEvent::NetworkGames(vec![
            NetworkGame {
                id: "xonotic".into(),
                newest_version: "0.8.6".into(),
                peers_with_newest: 2,
                peers_total: 3,
                size: 120,
                ..NetworkGame::default()
            },
            NetworkGame {
                id: "mystery".into(),
                newest_version: "1".into(),
                peers_with_newest: 1,
                peers_total: 1,
                size: 5,
                ..NetworkGame::default()
            },
        ])));
        let rows = view.rows();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["0ad", "mystery", "xonotic"]);
        assert_eq!(rows[0].status, GameStatus::Unavailable);
        assert_eq!((rows[1].name.as_str(), rows[1].status), ("mystery", GameStatus::Available));
        let xon = &rows[2];
        assert_eq!((xon.status, xon.peers, xon.size), (GameStatus::UpdateAvailable, 2, 100));
        let ids = |rows: Vec<GameRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(view.visible_rows(Filter::OnThisPc, "", Sort::Name)), ["xonotic"]);
        assert_eq!(ids(view.visible_rows(Filter::OnNetwork, "", Sort::Name)), ["mystery", "xonotic"]);
        assert_eq!(ids(view.visible_rows(Filter::All, "  XON ", Sort::Name)), ["xonotic"]);
        // What is here first, then what a peer offers, then the rest.
        assert_eq!(ids(view.visible_rows(Filter::All, "", Sort::ReadyFirst)), ["xonotic", "mystery", "0ad"]);
        assert_eq!(ids(view.visible_rows(Filter::All, "", Sort::Size)), ["xonotic", "mystery", "0ad"]);
        assert_eq!(view.game_count(), 3);
        view.apply(SupervisorEvent::Worker(IpcEvent::ActiveOperations(vec![ActiveOperation {
            id: "xonotic".into(),
            kind: OperationKind::Install,
            paused: false,
        }])));
        assert_eq!(view.row_of("xonotic").unwrap().status, GameStatus::Installing);
        assert!(view.is_stale());
        view.apply(SupervisorEvent::State(WorkerState::Running { pid: 1 }));
        assert!(!view.is_stale());
    }

    #[test]
    fn a_failure_says_what_to_do_by_its_kind_not_its_words() {
        let mut view = ViewState::default();
        let failed = |failure| IpcEvent::DownloadFailed { id: "xonotic".into(), failure, reason: "x".into() };
        view.apply(SupervisorEvent::Worker(failed(FailureKind::NoSpace)));
        assert!(view.last_failure.as_deref().unwrap().ends_with("on another disk in Settings."));
        view.apply(SupervisorEvent::Worker(failed(FailureKind::NoPeers)));
        assert!(view.last_failure.as_deref().unwrap().contains("No PC on the network offers it"));
        view.apply(SupervisorEvent::Worker(failed(FailureKind::Io)));
        assert_eq!(view.last_failure.as_deref(), Some("Download of xonotic failed: x"));
        let busy = IpcEvent::OperationFailed {
            id: "xonotic".into(),
            kind: OperationKind::Uninstall,
            failure: FailureKind::Busy,
            reason: "busy".into(),
        };
        view.apply(SupervisorEvent::Worker(busy));
        assert!(
            view.last_failure.as_deref().unwrap().starts_with("Uninstall of xonotic failed: busy — Another operation")
        );
        let cancelled = IpcEvent::OperationFailed {
            id: "xonotic".into(),
            kind: OperationKind::Install,
            failure: FailureKind::Cancelled,
            reason: "the install was cancelled; the previous state is kept".into(),
        };
        view.apply(SupervisorEvent::Worker(cancelled));
        assert_eq!(view.last_failure.as_deref(), Some("Install of xonotic cancelled; the previous state is kept"));
    }

    #[test]
    fn speeds_stop_when_the_worker_is_gone() {
        let mut view = ViewState::default();
        view.apply(SupervisorEvent::State(WorkerState::Running { pid: 1 }));
        view.apply(SupervisorEvent::Worker(IpcEvent::ActiveOperations(vec![ActiveOperation {
            id: "xonotic".into(),
            kind: OperationKind::Download,
            paused: false,
        }])));
        view.apply(SupervisorEvent::Worker(IpcEvent::Progress(Progress {
            id: "xonotic".into(),
            phase: Phase::Downloading,
            bytes_done: 40,
            bytes_total: 100,
            bytes_per_sec: 10,
            eta_secs: Some(6),
            peers: vec![PeerSpeed { peer_id: PeerId([1; 32]), bytes_per_sec: 10, bytes: 0, still_downloading: false }],
        })));
        view.apply(SupervisorEvent::Worker(IpcEvent::Traffic { download_bps: 10, upload_bps: 3, uploads: Vec::new() }));
        view.apply(SupervisorEvent::State(WorkerState::Restarting {
            reason: "killed".into(),
            retry_in: std::time::Duration::from_millis(500),
        }));
        assert_eq!((view.download_bps, view.upload_bps), (0, 0));
        let progress = &view.progress["xonotic"];
        assert_eq!((progress.bytes_done, progress.bytes_per_sec, progress.eta_secs), (40, 0, None));
        assert!(progress.peers.is_empty());
    }

    #[test]
    fn a_cancelled_download_stops_its_speed_at_once() {
        let mut view = ViewState::default();
        let download = ActiveOperation { id: "xonotic".into(), kind: OperationKind::Download, paused: false };
        view.apply(SupervisorEvent::Worker(IpcEvent::ActiveOperations(vec![download.clone()])));
        view.apply(SupervisorEvent::Worker(IpcEvent::Traffic { download_bps: 10, upload_bps: 3, uploads: Vec::new() }));
        let install = ActiveOperation { id: "quake".into(), kind: OperationKind::Install, paused: false };
        view.apply(SupervisorEvent::Worker(IpcEvent::ActiveOperations(vec![download, install.clone()])));
        assert_eq!(view.download_bps, 10, "another game's operation changes nothing");
        view.apply(SupervisorEvent::Worker(IpcEvent::ActiveOperations(vec![install])));
        assert_eq!((view.download_bps, view.upload_bps), (0, 3), "uploads go on");
        view.apply(SupervisorEvent::Worker(IpcEvent::Traffic { download_bps: 7, upload_bps: 4, uploads: Vec::new() }));
        assert_eq!((view.download_bps, view.upload_bps), (0, 4), "a report trailing the download shows no speed");
    }
}
