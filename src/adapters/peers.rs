//! The peer list (from the status bar) and trusting a peer with one click,
//! here or in a game's detail view.

use std::collections::BTreeSet;
use std::rc::Rc;

use lanspread_app_ui::settings::Settings;
use lanspread_app_ui::view::ViewState;
use lanspread_proto::PeerId;
use slint::{ComponentHandle, ModelRc, VecModel};

use super::Ui;
use crate::{MainWindow, PeerLine, PeersAdapter};

/// A peer as a line of the lists: `note` says where it is or what it offers.
pub(super) fn line(view: &ViewState, trusted: &BTreeSet<PeerId>, peer: &PeerId, note: String) -> PeerLine {
    PeerLine {
        id: peer.to_string().into(),
        short: peer.short().into(),
        name: view.peer_name(peer).into(),
        note: note.into(),
        trusted: trusted.contains(peer),
    }
}

pub(super) fn show(window: &MainWindow, view: &ViewState, trusted: &BTreeSet<PeerId>) {
    let mut lines: Vec<PeerLine> = view.peers().map(|p| line(view, trusted, &p.peer_id, p.address.clone())).collect();
    lines.sort_by_key(|a| a.name.to_lowercase());
    window.global::<PeersAdapter<'_>>().set_peers(ModelRc::from(Rc::new(VecModel::from(lines))));
}

/// Trusts (or stops trusting) `id`: saved in the settings and sent to the
/// worker, which applies it at once.
fn set_trusted(ui: &Ui, window: &MainWindow, id: &str, trust: bool) {
    let adapter = window.global::<PeersAdapter<'_>>();
    let Ok(peer) = id.parse::<PeerId>() else { return };
    let mut settings = match Settings::load(ui.settings.file()) {
        Ok(settings) => settings,
        Err(e) => return adapter.set_message(format!("Cannot change trust: {e}").into()),
    };
    settings.trusted.retain(|t| t.parse::<PeerId>().ok() != Some(peer));
    if trust {
        settings.trusted.push(peer.to_string());
    }
    if let Err(e) = settings.save(ui.settings.file()) {
        return adapter.set_message(format!("Cannot save the settings: {e}").into());
    }
    adapter.set_message("".into());
    ui.set_trusted(settings.trusted_ids().into_iter().collect());
    ui.send(settings.trust_command());
}

pub(super) fn connect(window: &MainWindow, ui: &Rc<Ui>) {
    let adapter = window.global::<PeersAdapter<'_>>();
    adapter.on_toggle(super::with_ui(ui, |ui| {
        if let Some(window) = ui.window.upgrade() {
            let adapter = window.global::<PeersAdapter<'_>>();
            adapter.set_open(!adapter.get_open());
        }
    }));
    let weak = Rc::downgrade(ui);
    adapter.on_set_trusted(move |id, trust| {
        if let Some(ui) = weak.upgrade()
            && let Some(window) = ui.window.upgrade()
        {
            set_trusted(&ui, &window, &id, trust);
        }
    });
}
