//! The library grid: one card per visible game, and the card's callbacks.

use std::rc::Rc;

use lanspread_app_ui::view::{
    Filter, GameRow, GameStatus, ViewState, badge, format_percent, format_size, format_speed,
};
use lanspread_proto::ipc::IpcCommand;
use slint::{ModelRc, VecModel};

use super::{Ui, fraction, library_adapter, with_game};
use crate::{GameCard, MainWindow};

/// The badge kind the `.slint` side colours by.
fn state_code(status: GameStatus) -> i32 {
    match status {
        GameStatus::Unavailable => 0,
        GameStatus::Available => 1,
        GameStatus::Downloaded | GameStatus::UpdateDownloaded => 2,
        GameStatus::Installed => 3,
        GameStatus::UpdateAvailable => 4,
        GameStatus::Downloading | GameStatus::Installing | GameStatus::Uninstalling | GameStatus::Removing => 5,
    }
}

/// The card of one row.
fn card(row: &GameRow) -> GameCard {
    let version = row.local_version.clone().or_else(|| row.network_version.clone()).unwrap_or_default();
    let (done, total, speed) =
        row.progress.as_ref().map_or((0, 0, 0), |p| (p.bytes_done, p.bytes_total, p.bytes_per_sec));
    GameCard {
        id: row.id.clone().into(),
        name: row.name.clone().into(),
        genre: row.genre.clone().into(),
        version: version.into(),
        size: if row.size == 0 { String::new() } else { format_size(row.size) }.into(),
        badge: badge(row).into(),
        state: state_code(row.status),
        action: row.action().map_or("", |a| a.label()).into(),
        busy: row.status.is_busy(),
        fraction: fraction(done, total),
        percent: if row.progress.is_some() { format_percent(done, total) } else { "…".into() }.into(),
        speed: if row.progress.is_some() && !row.paused { format_speed(speed) } else { String::new() }.into(),
    }
}

pub(super) fn show(window: &MainWindow, view: &ViewState, filter: Filter, query: &str) {
    let cards: Vec<GameCard> = view.visible_rows(filter, query).iter().map(card).collect();
    library_adapter(window).set_games(ModelRc::from(Rc::new(VecModel::from(cards))));
}

pub(super) fn connect(window: &MainWindow, ui: &Rc<Ui>) {
    let adapter = library_adapter(window);
    adapter.on_action(with_game(ui, |ui, id| ui.act(id)));
    adapter.on_open(with_game(ui, |ui, id| {
        *ui.detail.borrow_mut() = Some(id.to_owned());
        ui.detail_message.borrow_mut().clear();
        // Ask the peers who has it, for the detail view's peer list.
        let on_network = ui.view.borrow().row_of(id).is_some_and(|row| row.network_version.is_some());
        if on_network {
            ui.send(IpcCommand::GetGame { id: id.to_owned() });
        }
        ui.render();
    }));
}
