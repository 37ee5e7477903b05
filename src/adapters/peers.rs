//! The peer list's adapter, and the Trust buttons (here and in the detail
//! view): saved in the settings (off the UI thread) and sent to the worker.

use std::rc::Rc;

use lanspread_app_ui::controllers::peers::{PeerLine, with_trust};
use lanspread_app_ui::controllers::settings::{SaveError, load};
use lanspread_proto::PeerId;
use slint::ComponentHandle;

use super::Ui;
use crate::{MainWindow, PeersAdapter};

pub(super) fn line(line: &PeerLine) -> crate::PeerLine {
    crate::PeerLine {
        id: line.id.as_str().into(),
        short: line.short.as_str().into(),
        name: line.name.as_str().into(),
        note: line.note.as_str().into(),
        trusted: line.trusted,
    }
}

/// Trusts (or stops trusting) `peer`: the settings file changes on a helper
/// thread, then the worker is told.
fn set_trusted(ui: &Rc<Ui>, peer: PeerId, trust: bool) {
    let file = ui.settings.file().to_owned();
    let change = move || -> Result<_, SaveError> {
        let settings = with_trust(load(&file)?, peer, trust);
        settings.save(&file)?;
        Ok(settings)
    };
    ui.off_thread(change, |ui, changed| {
        let Some(window) = ui.window.upgrade() else { return };
        let adapter = window.global::<PeersAdapter<'_>>();
        match changed {
            Ok(settings) => {
                adapter.set_message("".into());
                ui.set_trusted(settings.trusted_ids().into_iter().collect());
                ui.send(settings.trust_command());
            }
            Err(e) => adapter.set_message(format!("Cannot change trust: {e}").into()),
        }
    });
}

pub(super) fn connect(window: &MainWindow, ui: &Rc<Ui>) {
    let adapter = window.global::<PeersAdapter<'_>>();
    adapter.set_peers(ui.peer_lines.model());
    adapter.on_toggle(super::with_ui(ui, |ui| {
        if let Some(window) = ui.window.upgrade() {
            let adapter = window.global::<PeersAdapter<'_>>();
            adapter.set_open(!adapter.get_open());
            // The grid was not kept up to date under the list.
            ui.render();
        }
    }));
    let weak = Rc::downgrade(ui);
    adapter.on_set_trusted(move |id, trust| {
        if let (Some(ui), Ok(peer)) = (weak.upgrade(), id.parse::<PeerId>()) {
            set_trusted(&ui, peer, trust);
        }
    });
}
