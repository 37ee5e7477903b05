//! The library grid's adapter.

use std::rc::Rc;

use lanspread_app_ui::controllers::library::{Card, CardState};
use slint::ComponentHandle;

use super::{Ui, color, with_game};
use crate::{GameCard, LibraryAdapter, MainWindow};

fn state(state: CardState) -> crate::CardState {
    match state {
        CardState::Absent => crate::CardState::Absent,
        CardState::Available => crate::CardState::Available,
        CardState::Downloaded => crate::CardState::Downloaded,
        CardState::Installed => crate::CardState::Installed,
        CardState::UpdateAvailable => crate::CardState::UpdateAvailable,
        CardState::Busy => crate::CardState::Busy,
    }
}

pub(super) fn card(card: &Card) -> GameCard {
    GameCard {
        id: card.id.as_str().into(),
        name: card.name.as_str().into(),
        initials: card.cover.initials.as_str().into(),
        cover_top: color(card.cover.top),
        cover_bottom: color(card.cover.bottom),
        art: card.cover.art.clone().unwrap_or_default().into(),
        genre: card.genre.as_str().into(),
        version: card.version.as_str().into(),
        size: card.size.as_str().into(),
        badge: card.badge.as_str().into(),
        state: state(card.state),
        action: card.action.as_str().into(),
        busy: card.busy,
        fraction: card.fraction,
        percent: card.percent.as_str().into(),
        speed: card.speed.as_str().into(),
    }
}

pub(super) fn connect(window: &MainWindow, ui: &Rc<Ui>) {
    let adapter = window.global::<LibraryAdapter<'_>>();
    adapter.set_games(ui.cards.model());
    adapter.on_action(with_game(ui, |ui, id| ui.act(id)));
    adapter.on_open(with_game(ui, |ui, id| ui.open_detail(id)));
}
