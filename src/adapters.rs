//! From view state to the UI's global adapters.

use std::rc::Rc;

use lanspread_app_ui::view::{GameRow, GameStatus, ViewState, badge, format_size, worker_label};
use slint::{ComponentHandle, ModelRc, VecModel};

use crate::{GameCard, LibraryAdapter, MainWindow, StatusAdapter};

/// The badge kind the `.slint` side colours by.
fn state_code(status: GameStatus) -> i32 {
    match status {
        GameStatus::Unavailable => 0,
        GameStatus::Available => 1,
        GameStatus::Downloaded => 2,
        GameStatus::Installed => 3,
        GameStatus::UpdateAvailable => 4,
        GameStatus::Downloading => 5,
    }
}

/// The card of one row.
pub fn card(row: &GameRow) -> GameCard {
    let version = row.local_version.clone().or_else(|| row.network_version.clone()).unwrap_or_default();
    GameCard {
        id: row.id.clone().into(),
        name: row.name.clone().into(),
        genre: row.genre.clone().into(),
        version: version.into(),
        size: if row.size == 0 { String::new() } else { format_size(row.size) }.into(),
        badge: badge(row).into(),
        state: state_code(row.status),
    }
}

/// Shows `view` in `window`. Call on the UI thread.
pub fn show(window: &MainWindow, view: &ViewState) {
    let cards: Vec<GameCard> = view.rows().iter().map(card).collect();
    window.global::<LibraryAdapter<'_>>().set_games(ModelRc::from(Rc::new(VecModel::from(cards))));
    let status = window.global::<StatusAdapter<'_>>();
    status.set_peer_count(i32::try_from(view.peer_count).unwrap_or(i32::MAX));
    status.set_worker(worker_label(view.worker.as_ref()).into());
    status.set_stale(view.is_stale());
    status.set_message(view.last_failure.clone().unwrap_or_default().into());
}
