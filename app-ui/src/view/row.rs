//! One game as the window shows it: where it stands for this PC, the one
//! action its card offers, and how the grid filters and orders it.

use std::cmp::Ordering;

use lanspread_proto::game::compare_versions;
use lanspread_proto::ipc::{IpcCommand, LocalGame, NetworkGame, OperationKind, PartialDownload, Progress};

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
    /// A newer version is downloaded; `local/` still holds the older one.
    UpdateDownloaded,
    /// A download stopped before the end (cancelled, or the PC stopped);
    /// downloading again resumes it.
    Stopped,
    /// A download or update is running (or paused).
    Downloading,
    Installing,
    Uninstalling,
    Removing,
}

impl GameStatus {
    pub fn label(self, peers: u32) -> String {
        match self {
            GameStatus::Unavailable => "Not on this PC".into(),
            GameStatus::Available => format!("From {peers} {}", if peers == 1 { "peer" } else { "peers" }),
            GameStatus::Downloaded => "Downloaded".into(),
            GameStatus::Installed => "Installed".into(),
            GameStatus::UpdateAvailable => "Update available".into(),
            GameStatus::UpdateDownloaded => "Update downloaded".into(),
            GameStatus::Stopped => "Stopped".into(),
            GameStatus::Downloading => "Downloading".into(),
            GameStatus::Installing => "Installing".into(),
            GameStatus::Uninstalling => "Uninstalling".into(),
            GameStatus::Removing => "Removing".into(),
        }
    }

    /// Whether an operation runs on the game (its card shows progress).
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            GameStatus::Downloading | GameStatus::Installing | GameStatus::Uninstalling | GameStatus::Removing
        )
    }

    pub(super) fn of_operation(kind: OperationKind) -> GameStatus {
        match kind {
            OperationKind::Download | OperationKind::Update => GameStatus::Downloading,
            OperationKind::Install => GameStatus::Installing,
            OperationKind::Uninstall => GameStatus::Uninstalling,
            OperationKind::Remove => GameStatus::Removing,
        }
    }
}

/// The one action a card offers for its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAction {
    Download,
    Install,
    Update,
    /// Installed and current: start it.
    Play,
    /// A stopped download: download again from where it stopped.
    Resume,
    /// A paused download: go on.
    Continue,
    /// A running download: pause it (the detail view's button).
    Pause,
}

impl CardAction {
    pub fn label(self) -> &'static str {
        match self {
            CardAction::Download => "Download",
            CardAction::Install => "Install",
            CardAction::Update => "Update",
            CardAction::Play => "Play",
            CardAction::Resume | CardAction::Continue => "Resume",
            CardAction::Pause => "Pause",
        }
    }

    /// The command this action sends; `None` for Play (the UI starts the
    /// game itself).
    pub fn command(self, id: &str) -> Option<IpcCommand> {
        let id = id.to_owned();
        match self {
            CardAction::Download => Some(IpcCommand::DownloadGame { id }),
            CardAction::Install => Some(IpcCommand::InstallGame { id }),
            CardAction::Update => Some(IpcCommand::FetchLatest { id }),
            CardAction::Resume => Some(IpcCommand::DownloadGame { id }),
            CardAction::Continue => Some(IpcCommand::ResumeDownload { id }),
            CardAction::Pause => Some(IpcCommand::PauseDownload { id }),
            CardAction::Play => None,
        }
    }
}

/// The card's button for a state; `None` when there is nothing to do (no
/// peer has it) or an operation runs (the progress shows instead).
pub fn action_for(status: GameStatus) -> Option<CardAction> {
    match status {
        GameStatus::Available => Some(CardAction::Download),
        GameStatus::Downloaded | GameStatus::UpdateDownloaded => Some(CardAction::Install),
        GameStatus::UpdateAvailable => Some(CardAction::Update),
        GameStatus::Installed => Some(CardAction::Play),
        GameStatus::Stopped => Some(CardAction::Resume),
        GameStatus::Unavailable
        | GameStatus::Downloading
        | GameStatus::Installing
        | GameStatus::Uninstalling
        | GameStatus::Removing => None,
    }
}

/// Which games the library shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    #[default]
    All,
    /// Downloaded or installed here (or being downloaded).
    OnThisPc,
    /// Some peer has it.
    OnNetwork,
}

/// The order of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// What is here first, then what a peer offers, then the rest; by
    /// name within each.
    #[default]
    ReadyFirst,
    Name,
    /// Largest first.
    Size,
    /// The games last started with Play first, newest first; then the
    /// rest as [`Sort::ReadyFirst`].
    RecentlyPlayed,
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
    pub installed: bool,
    /// The running operation's progress, if one runs (`paused` if paused).
    pub progress: Option<Progress>,
    pub paused: bool,
    /// Started with Play and not exited yet.
    pub running: bool,
    /// How far a stopped download got.
    pub partial: Option<PartialDownload>,
    /// The game's cover file, if it has one.
    pub art: Option<String>,
}

impl GameRow {
    pub fn action(&self) -> Option<CardAction> {
        if self.paused {
            return Some(CardAction::Continue);
        }
        action_for(self.status).filter(|action| !(self.running && *action == CardAction::Play))
    }

    /// Whether the card shows the operation's progress (else its button):
    /// a paused download shows Resume instead.
    pub fn shows_progress(&self) -> bool {
        self.status.is_busy() && !self.paused
    }

    /// 0 for a game here (or being fetched), 1 for one a peer offers, 2
    /// for one nobody has.
    pub(super) fn readiness(&self) -> u8 {
        if self.local_version.is_some()
            || self.installed
            || self.status.is_busy()
            || self.paused
            || self.partial.is_some()
        {
            0
        } else if self.network_version.is_some() {
            1
        } else {
            2
        }
    }

    /// Whether the row passes `filter` and the search `query` (trimmed and
    /// lowercased by the caller, once for all rows).
    pub(super) fn matches(&self, filter: Filter, query: &str) -> bool {
        let shown = match filter {
            Filter::All => true,
            Filter::OnThisPc => self.readiness() == 0,
            Filter::OnNetwork => self.network_version.is_some(),
        };
        shown
            && (query.is_empty()
                || self.name.to_lowercase().contains(query)
                || self.genre.to_lowercase().contains(query)
                || self.id.contains(query))
    }
}

/// The status of a game from what is here and what the network has.
pub fn status_of(local: Option<&LocalGame>, network: Option<&NetworkGame>) -> GameStatus {
    match (local.and_then(|l| l.version.as_deref()), network) {
        (Some(here), Some(net)) if compare_versions(&net.newest_version, here) == Ordering::Greater => {
            GameStatus::UpdateAvailable
        }
        (Some(here), _) if local.is_some_and(|l| l.installed) => {
            let older = local.and_then(|l| l.installed_version.as_deref()).is_some_and(|v| v != here);
            if older { GameStatus::UpdateDownloaded } else { GameStatus::Installed }
        }
        (Some(_), _) => GameStatus::Downloaded,
        (None, _) if local.is_some_and(|l| l.partial.is_some()) => GameStatus::Stopped,
        (None, Some(_)) => GameStatus::Available,
        (None, None) => GameStatus::Unavailable,
    }
}

/// The badge of a row: its status (an operation's progress shows beside it).
pub fn badge(row: &GameRow) -> String {
    if row.paused {
        "Paused".into()
    } else if row.running {
        "Running".into()
    } else {
        row.status.label(row.peers)
    }
}
