//! The detail view of one game, with its actions and full progress.

use std::collections::BTreeSet;
use std::rc::Rc;

use lanspread_app_ui::view::{
    CardAction, GameStatus, ViewState, badge, format_bytes_of, format_eta, format_percent, format_size, format_speed,
};
use lanspread_proto::PeerId;
use lanspread_proto::ipc::IpcCommand;
use slint::{ComponentHandle, ModelRc, VecModel};

use super::{Ui, with_game, with_ui};
use crate::{DetailAdapter, GameDetail, MainWindow, PeerLine, PeerSpeedLine};

/// Peer lines shown in the detail view, at most (the status bar lists all).
const MAX_PEER_LINES: usize = 4;

/// Who supplies the file list a download takes, who offers what else, and
/// a line per peer with Trust.
fn offers(view: &ViewState, trusted: &BTreeSet<PeerId>, id: &str) -> (String, String, Vec<PeerLine>) {
    let Some(game) = view.network_game(id) else { return (String::new(), String::new(), Vec::new()) };
    let names = |peers: &[PeerId]| peers.iter().map(|p| view.peer_name(p)).collect::<Vec<_>>().join(", ");
    let supplied = match (game.trusted, game.supplied_by.len()) {
        (true, _) => format!("{} (trusted)", names(&game.supplied_by)),
        (false, 1) => format!("{} (not trusted)", names(&game.supplied_by)),
        (false, _) => format!("{} (not trusted; the list most PCs agree on)", names(&game.supplied_by)),
    };
    let others = game
        .other_versions
        .iter()
        .map(|other| {
            let why = if game.trusted { " (not trusted: not fetched)" } else { "" };
            format!("{} from {}{why}", other.version, names(&other.peers))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut lines: Vec<PeerLine> = game
        .supplied_by
        .iter()
        .map(|p| super::peers::line(view, trusted, p, format!("{}, its file list", game.newest_version)))
        .collect();
    for other in &game.other_versions {
        lines.extend(other.peers.iter().map(|p| super::peers::line(view, trusted, p, other.version.clone())));
    }
    lines.truncate(MAX_PEER_LINES);
    (supplied, others, lines)
}

pub(super) fn show(window: &MainWindow, view: &ViewState, trusted: &BTreeSet<PeerId>, id: Option<&str>, message: &str) {
    let adapter = window.global::<DetailAdapter<'_>>();
    let Some(row) = id.and_then(|id| view.row_of(id)) else {
        adapter.set_open(false);
        return;
    };
    let downloaded = row.local_version.is_some();
    let busy = row.status.is_busy();
    let progress = row.progress.as_ref();
    let (done, total, speed) = progress.map_or((0, 0, 0), |p| (p.bytes_done, p.bytes_total, p.bytes_per_sec));
    let peers = match view.sources(&row.id) {
        Some(sources) if !sources.peers.is_empty() => sources.peers.join(", "),
        _ if row.peers > 0 => format!("{} peers (asking for names…)", row.peers),
        _ => String::new(),
    };
    let primary = match row.action() {
        Some(action @ (CardAction::Download | CardAction::Update)) => action.label(),
        _ => "",
    };
    let phase = if row.paused { "Paused".to_owned() } else { row.status.label(row.peers) };
    let (supplied, others, peer_lines) = offers(view, trusted, &row.id);
    let detail = GameDetail {
        id: row.id.clone().into(),
        name: row.name.clone().into(),
        description: row.description.clone().into(),
        genre: row.genre.clone().into(),
        max_players: if row.max_players == 0 { String::new() } else { row.max_players.to_string() }.into(),
        version_here: row.local_version.clone().unwrap_or_default().into(),
        version_network: row.network_version.clone().unwrap_or_default().into(),
        size: if row.size == 0 { String::new() } else { format_size(row.size) }.into(),
        peers: peers.into(),
        supplied: supplied.into(),
        others: others.into(),
        badge: badge(&row).into(),
        primary: primary.into(),
        can_install: downloaded,
        install_label: match row.status {
            GameStatus::UpdateDownloaded => "Install update",
            _ if row.installed => "Reinstall",
            _ => "Install",
        }
        .into(),
        can_uninstall: row.installed,
        can_remove: downloaded && !row.installed,
        can_view_files: downloaded || row.installed,
        busy,
        can_cancel: matches!(row.status, GameStatus::Downloading | GameStatus::Installing),
        fraction: super::fraction(done, total),
        percent: format_percent(done, total).into(),
        speed: format_speed(speed).into(),
        eta: format_eta(progress.and_then(|p| p.eta_secs)).into(),
        bytes: format_bytes_of(done, total).into(),
        phase: phase.into(),
    };
    let lines: Vec<PeerSpeedLine> = progress
        .map(|p| {
            p.peers
                .iter()
                .map(|s| PeerSpeedLine {
                    peer: view.peer_name(&s.peer_id).into(),
                    speed: format_speed(s.bytes_per_sec).into(),
                })
                .collect()
        })
        .unwrap_or_default();
    adapter.set_game(detail);
    adapter.set_peers(ModelRc::from(Rc::new(VecModel::from(peer_lines))));
    adapter.set_peer_speeds(ModelRc::from(Rc::new(VecModel::from(lines))));
    adapter.set_message(message.into());
    adapter.set_open(true);
}

pub(super) fn connect(window: &MainWindow, ui: &Rc<Ui>) {
    let adapter = window.global::<DetailAdapter<'_>>();
    adapter.on_close(with_ui(ui, |ui| {
        *ui.detail.borrow_mut() = None;
        ui.render();
    }));
    adapter.on_primary(with_game(ui, |ui, id| ui.act(id)));
    adapter.on_view_files(with_game(ui, |ui, id| ui.view_files(id)));
    adapter.on_install(command_handler(ui, |id| IpcCommand::InstallGame { id }));
    adapter.on_uninstall(command_handler(ui, |id| IpcCommand::UninstallGame { id }));
    adapter.on_remove(command_handler(ui, |id| IpcCommand::RemoveDownloaded { id }));
    adapter.on_cancel(command_handler(ui, |id| IpcCommand::CancelDownload { id }));
}

/// A callback that sends the command `make` builds for the game id.
fn command_handler(ui: &Rc<Ui>, make: fn(String) -> IpcCommand) -> impl Fn(slint::SharedString) + 'static {
    with_game(ui, move |ui, id| ui.send(make(id.to_owned())))
}
