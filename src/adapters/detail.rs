//! The detail view's adapter.

use std::rc::Rc;

use lanspread_app_ui::controllers::detail::Detail;
use lanspread_proto::ipc::IpcCommand;
use slint::ComponentHandle;

use super::{Ui, color, with_game, with_ui};
use crate::{DetailAdapter, DetailProgress, GameDetail, MainWindow, PeerSpeedLine};

pub(super) fn show(window: &MainWindow, ui: &Ui, detail: Option<Detail>) {
    let adapter = window.global::<DetailAdapter<'_>>();
    let Some(d) = detail else {
        adapter.set_open(false);
        return;
    };
    let game = GameDetail {
        id: d.id.into(),
        name: d.name.into(),
        description: d.description.into(),
        genre: d.genre.into(),
        max_players: d.max_players.into(),
        version_here: d.version_here.into(),
        version_network: d.version_network.into(),
        size: d.size.into(),
        peers: d.peers.into(),
        supplied: d.supplied.into(),
        others: d.others.into(),
        badge: d.badge.into(),
        initials: d.cover.initials.as_str().into(),
        cover_top: color(d.cover.top),
        cover_bottom: color(d.cover.bottom),
        art: d.cover.art.clone().unwrap_or_default().into(),
        note: d.note.into(),
        primary: d.primary.into(),
        can_play: d.can_play,
        running: d.running,
        can_install: d.can_install,
        install_label: d.install_label.into(),
        can_uninstall: d.can_uninstall,
        can_remove: d.can_remove,
        remove_label: d.remove_label.into(),
        disk: d.disk.into(),
        install_note: d.install_note.into(),
        install_too_big: d.install_too_big,
        can_view_files: d.can_view_files,
        busy: d.busy,
        can_cancel: d.can_cancel,
        pause: d.pause.into(),
    };
    let progress = DetailProgress {
        fraction: d.fraction,
        percent: d.percent.into(),
        speed: d.speed.into(),
        eta: d.eta.into(),
        bytes: d.bytes.into(),
        phase: d.phase.into(),
        sources: d.sources.into(),
        upload: d.upload.into(),
    };
    // Set only when changed: setting a struct redraws all that shows it.
    if adapter.get_game() != game {
        adapter.set_game(game);
    }
    if adapter.get_progress() != progress {
        adapter.set_progress(progress);
    }
    ui.detail_peers.show(d.peer_lines, |l| l.id.clone(), super::peers::line);
    let speed_line = |(peer, speed): &(String, String)| PeerSpeedLine { peer: peer.into(), speed: speed.into() };
    ui.detail_speeds.show(d.peer_speeds, |(peer, _)| peer.clone(), speed_line);
    adapter.set_message(d.message.into());
    adapter.set_open(true);
}

pub(super) fn connect(window: &MainWindow, ui: &Rc<Ui>) {
    let adapter = window.global::<DetailAdapter<'_>>();
    adapter.set_peers(ui.detail_peers.model());
    adapter.set_peer_speeds(ui.detail_speeds.model());
    adapter.on_close(with_ui(ui, |ui| {
        ui.detail.borrow_mut().close();
        ui.render();
    }));
    adapter.on_primary(with_game(ui, |ui, id| ui.act(id)));
    adapter.on_play(with_game(ui, |ui, id| ui.play(id)));
    adapter.on_view_files(with_game(ui, |ui, id| ui.view_files(id)));
    adapter.on_install(command_handler(ui, |id| IpcCommand::InstallGame { id }));
    adapter.on_uninstall(command_handler(ui, |id| IpcCommand::UninstallGame { id }));
    adapter.on_remove(command_handler(ui, |id| IpcCommand::RemoveDownloaded { id }));
    adapter.on_cancel(command_handler(ui, |id| IpcCommand::CancelDownload { id }));
    adapter.on_pause(with_game(ui, |ui, id| {
        let command = lanspread_app_ui::controllers::detail::pause_or_resume(&ui.view.borrow(), id);
        if let Some(command) = command {
            ui.send(command);
        }
    }));
}

/// A callback that sends the command `make` builds for the game id.
fn command_handler(ui: &Rc<Ui>, make: fn(String) -> IpcCommand) -> impl Fn(slint::SharedString) + 'static {
    with_game(ui, move |ui, id| ui.send(make(id.to_owned())))
}
