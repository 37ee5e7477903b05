//! The library grid: one card per visible game.

use lanspread_proto::ipc::IpcCommand;

use super::fraction;
use crate::view::{GameRow, GameStatus, ViewState, badge, format_percent, format_size, format_speed};

/// The look of a card's badge (the `.slint` side colours by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardState {
    /// Not on this PC and not on the network.
    Absent,
    /// A peer offers it.
    Available,
    Downloaded,
    Installed,
    UpdateAvailable,
    /// Downloading, installing, uninstalling or removing.
    Busy,
}

impl CardState {
    pub fn of(status: GameStatus) -> CardState {
        match status {
            GameStatus::Unavailable => CardState::Absent,
            GameStatus::Available => CardState::Available,
            GameStatus::Downloaded | GameStatus::UpdateDownloaded => CardState::Downloaded,
            GameStatus::Installed => CardState::Installed,
            GameStatus::UpdateAvailable => CardState::UpdateAvailable,
            GameStatus::Downloading | GameStatus::Installing | GameStatus::Uninstalling | GameStatus::Removing => {
                CardState::Busy
            }
        }
    }
}

/// One card as the grid shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub id: String,
    pub name: String,
    pub genre: String,
    pub version: String,
    pub size: String,
    pub badge: String,
    pub state: CardState,
    /// The label of the card's button; empty for none.
    pub action: &'static str,
    pub busy: bool,
    pub fraction: f32,
    pub percent: String,
    pub speed: String,
}

impl Card {
    pub fn of(row: &GameRow) -> Card {
        let version = row.local_version.clone().or_else(|| row.network_version.clone()).unwrap_or_default();
        let (done, total, speed) =
            row.progress.as_ref().map_or((0, 0, 0), |p| (p.bytes_done, p.bytes_total, p.bytes_per_sec));
        Card {
            id: row.id.clone(),
            name: row.name.clone(),
            genre: row.genre.clone(),
            version,
            size: if row.size == 0 { String::new() } else { format_size(row.size) },
            badge: badge(row),
            state: CardState::of(row.status),
            action: row.action().map_or("", |a| a.label()),
            busy: row.status.is_busy(),
            fraction: fraction(done, total),
            percent: if row.progress.is_some() { format_percent(done, total) } else { "…".into() },
            speed: if row.progress.is_some() && !row.paused { format_speed(speed) } else { String::new() },
        }
    }
}

/// Which games the grid shows.
pub use crate::view::Filter;

/// The cards for `filter` and the search `query`.
pub fn cards(view: &ViewState, filter: Filter, query: &str) -> Vec<Card> {
    view.visible_rows(filter, query).iter().map(Card::of).collect()
}

/// What a card's (or the detail view's) main button does for the state the
/// game is in now: a command for the worker, or opening its folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    Send(IpcCommand),
    ViewFiles,
}

pub fn act(view: &ViewState, id: &str) -> Option<Act> {
    let action = view.row_of(id)?.action()?;
    Some(action.command(id).map_or(Act::ViewFiles, Act::Send))
}

/// Opening a game's detail view asks the peers who has it, when some do.
pub fn on_open(view: &ViewState, id: &str) -> Option<IpcCommand> {
    view.row_of(id).filter(|row| row.network_version.is_some()).map(|_| IpcCommand::GetGame { id: id.to_owned() })
}
