//! The detail view of one game: which one is open, what it shows, and the
//! buttons it offers for the state the game is in.

use std::collections::BTreeSet;

use lanspread_proto::PeerId;
use lanspread_proto::ipc::{IpcCommand, PeerSpeed, Progress};

use super::fraction;
use super::library::Cover;
use super::peers::PeerLine;
use crate::disk::DiskUse;
use crate::view::{
    CardAction, GameRow, GameStatus, ViewState, badge, format_bytes_of, format_eta, format_percent, format_size,
    format_speed,
};

/// Peer lines shown in the detail view, at most (the status bar lists all).
const MAX_PEER_LINES: usize = 4;

/// Which game's detail view is open, and the last message shown in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailController {
    open: Option<String>,
    message: String,
    /// What the open game takes on disk, once measured.
    disk: Option<DiskUse>,
    /// The facts of the open game the disk figures were last asked for.
    measured_for: Option<DiskFacts>,
}

/// What a game's disk figures depend on: when one changes (an operation
/// began or ended), they are measured again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DiskFacts {
    id: String,
    version_here: Option<String>,
    installed: bool,
    status: GameStatus,
    partial: bool,
}

/// The disk figures to ask for now (see [`DetailController::disk_check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCheck {
    pub id: String,
    /// Also ask the worker what installing it takes: a downloaded game not
    /// installed, or a downloaded update.
    pub estimate: bool,
}

/// What the detail view shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub id: String,
    pub name: String,
    pub description: String,
    pub genre: String,
    pub max_players: String,
    pub version_here: String,
    pub version_network: String,
    pub size: String,
    /// Who has the version a download fetches.
    pub peers: String,
    /// Whose file list a download takes.
    pub supplied: String,
    /// Other versions on offer, and why they are not fetched.
    pub others: String,
    pub badge: String,
    /// The generated cover, as on the game's card.
    pub cover: Cover,
    /// What the user can do when nothing can be done here now.
    pub note: &'static str,
    /// "Download" or "Update" when that is the main action, else empty.
    pub primary: &'static str,
    /// Installed and not running: Play comes first.
    pub can_play: bool,
    pub running: bool,
    pub can_install: bool,
    pub install_label: &'static str,
    pub can_uninstall: bool,
    pub can_remove: bool,
    /// "Remove downloaded files", or "Delete partial download" for a
    /// download that stopped before the end.
    pub remove_label: &'static str,
    /// "320.2 MB downloaded, 512.0 MB installed"; empty until measured or
    /// when nothing is here.
    pub disk: String,
    /// What installing takes, before it starts ("Installing takes 1.2 GB;
    /// 24.6 GB free"); empty while unknown or when there is nothing to install.
    pub install_note: String,
    /// The install would not fit.
    pub install_too_big: bool,
    pub can_view_files: bool,
    pub busy: bool,
    pub can_cancel: bool,
    /// "Pause" while a download runs, "Resume" while it is paused, else empty.
    pub pause: &'static str,
    pub fraction: f32,
    pub percent: String,
    pub speed: String,
    pub eta: String,
    pub bytes: String,
    pub phase: String,
    pub peer_lines: Vec<PeerLine>,
    /// Each peer's share of a transfer: (name, speed).
    pub peer_speeds: Vec<(String, String)>,
    /// "From 3 peers, 2 of them still downloading" ("" unless some are).
    pub sources: String,
    /// This PC's upload of the game to others ("" when none).
    pub upload: String,
    pub message: String,
}

impl DetailController {
    /// Opens `id`'s view; returns the command that asks the peers who has it.
    pub fn open(&mut self, view: &ViewState, id: &str) -> Option<IpcCommand> {
        self.open = Some(id.to_owned());
        self.message.clear();
        self.disk = None;
        self.measured_for = None;
        super::library::on_open(view, id)
    }

    pub fn close(&mut self) {
        self.open = None;
    }

    /// The game whose view is open.
    pub fn open_id(&self) -> Option<&str> {
        self.open.as_deref()
    }

    /// The disk figures to measure for the open game: when it opened, and
    /// again each time an operation on it began or ended; `None` otherwise.
    pub fn disk_check(&mut self, view: &ViewState) -> Option<DiskCheck> {
        let row = view.row_of(self.open.as_deref()?)?;
        let facts = DiskFacts {
            id: row.id.clone(),
            version_here: row.local_version.clone(),
            installed: row.installed,
            status: row.status,
            partial: row.partial.is_some(),
        };
        if self.measured_for.as_ref() == Some(&facts) {
            return None;
        }
        let estimate = facts.version_here.is_some()
            && !row.status.is_busy()
            && (!row.installed || row.status == GameStatus::UpdateDownloaded);
        self.measured_for = Some(facts);
        Some(DiskCheck { id: row.id, estimate })
    }

    /// What `id` takes on disk, measured off the UI thread (kept only if
    /// its view is still the one open).
    pub fn set_disk_use(&mut self, id: &str, usage: DiskUse) {
        if self.open.as_deref() == Some(id) {
            self.disk = Some(usage);
        }
    }

    /// Shows `message` in the view (a refusal, say).
    pub fn tell(&mut self, message: String) {
        self.message = message;
    }

    /// The view of the open game, `None` when none is open (or it is gone).
    pub fn model(&self, view: &ViewState, trusted: &BTreeSet<PeerId>) -> Option<Detail> {
        let row = view.row_of(self.open.as_deref()?)?;
        Some(detail(view, trusted, &row, &self.message, self.disk.as_ref()))
    }
}

fn detail(
    view: &ViewState,
    trusted: &BTreeSet<PeerId>,
    row: &GameRow,
    message: &str,
    disk: Option<&DiskUse>,
) -> Detail {
    let downloaded = row.local_version.is_some();
    let estimate = row.local_version.as_deref().and_then(|here| view.install_estimate(&row.id, here));
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
    let (supplied, others, peer_lines) = offers(view, trusted, &row.id);
    Detail {
        id: row.id.clone(),
        name: row.name.clone(),
        description: row.description.clone(),
        genre: row.genre.clone(),
        max_players: if row.max_players == 0 { String::new() } else { row.max_players.to_string() },
        version_here: row.local_version.clone().unwrap_or_default(),
        version_network: row.network_version.clone().unwrap_or_default(),
        size: if row.size == 0 { String::new() } else { format_size(row.size) },
        peers,
        supplied,
        others,
        badge: badge(row),
        cover: Cover::of_row(row),
        note: match row.status {
            GameStatus::Unavailable => {
                "No PC on the network has this game right now. It can be downloaded as soon as one that has it is on."
            }
            _ => "",
        },
        primary,
        can_play: row.action() == Some(CardAction::Play),
        running: row.running,
        can_install: downloaded,
        install_label: match row.status {
            GameStatus::UpdateDownloaded => "Install update",
            _ if row.installed => "Reinstall",
            _ => "Install",
        },
        can_uninstall: row.installed,
        can_remove: (downloaded || row.partial.is_some()) && !row.installed,
        remove_label: if downloaded { "Remove downloaded files" } else { "Delete partial download" },
        disk: disk.map(disk_label).unwrap_or_default(),
        install_note: estimate.map(install_note).unwrap_or_default(),
        install_too_big: estimate.is_some_and(|e| e.bytes > e.available),
        can_view_files: downloaded || row.installed,
        busy: row.status.is_busy(),
        can_cancel: matches!(row.status, GameStatus::Downloading | GameStatus::Installing),
        pause: pause_action(row).map_or("", CardAction::label),
        fraction: fraction(done, total),
        percent: format_percent(done, total),
        speed: format_speed(speed),
        eta: format_eta(progress.and_then(|p| p.eta_secs)),
        bytes: format_bytes_of(done, total),
        phase: if row.paused { "Paused".to_owned() } else { row.status.label(row.peers) },
        peer_lines,
        peer_speeds: progress.map(|p| p.peers.iter().map(|s| peer_speed(view, s)).collect()).unwrap_or_default(),
        sources: progress.map(sources_note).unwrap_or_default(),
        upload: match view.upload_of(&row.id) {
            0 => String::new(),
            bps => format!("{} to other PCs", format_speed(bps)),
        },
        message: message.to_owned(),
    }
}

/// A peer's line under a transfer: its name (and whether it is fetching
/// the game too) and its speed.
fn peer_speed(view: &ViewState, speed: &PeerSpeed) -> (String, String) {
    let name = view.peer_name(&speed.peer_id);
    let name = if speed.still_downloading { format!("{name} (still downloading)") } else { name };
    (name, format_speed(speed.bytes_per_sec))
}

/// "From 3 peers, 2 of them still downloading" while some sources are
/// fetching the game too; else nothing.
fn sources_note(progress: &Progress) -> String {
    let downloading = progress.peers.iter().filter(|p| p.still_downloading).count();
    match (progress.peers.len(), downloading) {
        (_, 0) => String::new(),
        (1, _) => "From 1 peer, still downloading it too".into(),
        (n, 1) => format!("From {n} peers, 1 of them still downloading"),
        (n, d) => format!("From {n} peers, {d} of them still downloading"),
    }
}

/// The detail view's Pause or Resume: the command for the state the
/// download is in now.
pub fn pause_or_resume(view: &ViewState, id: &str) -> Option<IpcCommand> {
    pause_action(&view.row_of(id)?)?.command(id)
}

/// Pause for a running download, Resume (go on) for a paused one.
fn pause_action(row: &GameRow) -> Option<CardAction> {
    match row.status {
        GameStatus::Downloading if row.paused => Some(CardAction::Continue),
        GameStatus::Downloading => Some(CardAction::Pause),
        _ => None,
    }
}

/// What installing takes, in words: "up to", as plain files cloned on a
/// copy-on-write filesystem take none of it.
fn install_note(estimate: &crate::view::InstallEstimate) -> String {
    let (needed, free) = (format_size(estimate.bytes), format_size(estimate.available));
    if estimate.bytes > estimate.available {
        format!("Installing takes up to {needed}, more than the {free} free: free some space first.")
    } else {
        format!("Installing takes up to {needed}; {free} free.")
    }
}

/// What a game takes on disk, in words.
pub fn disk_label(usage: &DiskUse) -> String {
    let at_least = if usage.partial { "at least " } else { "" };
    match (usage.download, usage.install) {
        (0, 0) => String::new(),
        (download, 0) => format!("{at_least}{} downloaded", format_size(download)),
        (0, install) => format!("{at_least}{} installed", format_size(install)),
        (download, install) => {
            format!("{at_least}{} downloaded, {} installed", format_size(download), format_size(install))
        }
    }
}

/// Who supplies the file list a download takes, who offers what else, and
/// a line per peer with Trust.
fn offers(view: &ViewState, trusted: &BTreeSet<PeerId>, id: &str) -> (String, String, Vec<PeerLine>) {
    let Some(game) = view.network_game(id) else { return (String::new(), String::new(), Vec::new()) };
    let names = |peers: &[PeerId]| peers.iter().map(|p| view.peer_name(p)).collect::<Vec<_>>().join(", ");
    let lists: Vec<String> = game.disagreement.iter().map(|list| names(list)).collect();
    let supplied = match (game.trusted, game.supplied_by.len()) {
        _ if !lists.is_empty() => format!("peers disagree: {}; trust one to download", lists.join(" | ")),
        (true, _) => format!("{} (trusted)", names(&game.supplied_by)),
        (false, 1) => format!("{} (not trusted)", names(&game.supplied_by)),
        (false, _) => format!("{} (not trusted; they all send this list)", names(&game.supplied_by)),
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
    let note = |peer: &PeerId| match game.disagreement.iter().position(|list| list.contains(peer)) {
        Some(n) => format!("{}, file list {} of {}", game.newest_version, n + 1, game.disagreement.len()),
        None => format!("{}, its file list", game.newest_version),
    };
    let mut lines: Vec<PeerLine> = game.supplied_by.iter().map(|p| PeerLine::of(view, trusted, p, note(p))).collect();
    for other in &game.other_versions {
        lines.extend(other.peers.iter().map(|p| PeerLine::of(view, trusted, p, other.version.clone())));
    }
    lines.truncate(MAX_PEER_LINES);
    (supplied, others, lines)
}

#[cfg(test)]
mod tests {
    use lanspread_proto::ipc::{IpcEvent, LibrarySnapshot, LocalGame, NetworkGame};

    use super::*;
    use crate::controllers::library::{Act, CardState, Filter, Sort, act, cards};
    use crate::supervisor::SupervisorEvent;

    /// xonotic installed at 0.8.5 with 0.8.6 on two peers; wesnoth only on the network.
    fn view() -> ViewState {
        let mut view = ViewState::default();
        let local = LocalGame {
            id: "xonotic".into(),
            version: Some("0.8.5".into()),
            installed: true,
            size: 100,
            installed_version: Some("0.8.5".into()),
            partial: None,
        };
        let library = LibrarySnapshot { game_dir: "/games".into(), revision: 1, games: vec![local] };
        view.apply(SupervisorEvent::Worker(IpcEvent::Library(library)));
        let net = |id: &str, version: &str| NetworkGame {
            id: id.into(),
            newest_version: version.into(),
            peers_with_newest: 2,
            peers_total: 2,
            size: 120,
            ..NetworkGame::default()
        };
        view.apply(SupervisorEvent::Worker(IpcEvent::NetworkGames(vec![
            net("xonotic", "0.8.6"),
            net("wesnoth", "1.18"),
        ])));
        view
    }

    #[test]
    fn the_detail_view_offers_what_fits_the_game() {
        let view = view();
        let mut detail = DetailController::default();
        assert_eq!(detail.model(&view, &BTreeSet::new()), None, "nothing open");
        assert_eq!(detail.open(&view, "xonotic"), Some(IpcCommand::GetGame { id: "xonotic".into() }));
        let shown = detail.model(&view, &BTreeSet::new()).unwrap();
        assert_eq!((shown.primary, shown.install_label), ("Update", "Reinstall"));
        assert!(shown.can_uninstall && !shown.can_remove && shown.can_view_files && !shown.can_cancel);
        assert_eq!((shown.version_here.as_str(), shown.version_network.as_str()), ("0.8.5", "0.8.6"));

        assert!(detail.open(&view, "wesnoth").is_some());
        detail.tell("refused".into());
        let shown = detail.model(&view, &BTreeSet::new()).unwrap();
        assert_eq!(shown.primary, "Download");
        assert!(!shown.can_install && !shown.can_uninstall && !shown.can_view_files);
        assert_eq!(shown.message, "refused");
        let mut view = view;
        let entry = lanspread_proto::CatalogEntry {
            id: "0ad".into(),
            name: "0 A.D.".into(),
            description: String::new(),
            genre: String::new(),
            max_players: 8,
            launch: Vec::new(),
        };
        view.apply(SupervisorEvent::Worker(IpcEvent::Catalog(vec![entry])));
        assert_eq!(detail.open(&view, "0ad"), None, "nobody has it: nothing to ask");
        let nobody = detail.model(&view, &BTreeSet::new()).unwrap();
        assert!(nobody.note.starts_with("No PC on the network has this game") && nobody.primary.is_empty());
        detail.close();
        assert_eq!(detail.model(&view, &BTreeSet::new()), None);
    }

    #[test]
    fn peers_that_disagree_on_the_file_list_are_named_with_their_list_and_trust() {
        let mut view = view();
        let (a, b, c) = (PeerId([1; 32]), PeerId([2; 32]), PeerId([3; 32]));
        let contested = NetworkGame {
            id: "wesnoth".into(),
            newest_version: "1.18".into(),
            peers_with_newest: 3,
            peers_total: 3,
            supplied_by: vec![a, b, c],
            disagreement: vec![vec![a], vec![b, c]],
            ..NetworkGame::default()
        };
        view.apply(SupervisorEvent::Worker(IpcEvent::NetworkGames(vec![contested])));
        let mut detail = DetailController::default();
        detail.open(&view, "wesnoth");
        let shown = detail.model(&view, &BTreeSet::new()).unwrap();
        assert!(shown.supplied.starts_with("peers disagree: ") && shown.supplied.contains(" | "), "{}", shown.supplied);
        let notes: Vec<&str> = shown.peer_lines.iter().map(|l| l.note.as_str()).collect();
        assert_eq!(notes, ["1.18, file list 1 of 2", "1.18, file list 2 of 2", "1.18, file list 2 of 2"]);
        assert!(shown.peer_lines.iter().all(|l| !l.trusted), "each line offers Trust");
    }

    #[test]
    fn cards_carry_their_state_and_their_button_does_what_it_says() {
        let view = view();
        let cards = cards(&view, Filter::OnNetwork, "", Sort::Name);
        let states: Vec<(&str, CardState, &str)> =
            cards.iter().map(|c| (c.id.as_str(), c.state, c.action.as_str())).collect();
        assert_eq!(
            states,
            [("wesnoth", CardState::Available, "Download"), ("xonotic", CardState::UpdateAvailable, "Update")]
        );
        assert_eq!(act(&view, "wesnoth"), Some(Act::Send(IpcCommand::DownloadGame { id: "wesnoth".into() })));
        assert_eq!(act(&view, "xonotic"), Some(Act::Send(IpcCommand::FetchLatest { id: "xonotic".into() })));
        assert_eq!(act(&view, "0ad"), None);
    }

    #[test]
    fn a_download_from_peers_still_downloading_says_so_and_the_upload_shows() {
        use lanspread_proto::ipc::{ActiveOperation, GameSpeed, OperationKind, Phase};

        let mut view = view();
        let download = ActiveOperation { id: "wesnoth".into(), kind: OperationKind::Download, paused: false };
        view.apply(SupervisorEvent::Worker(IpcEvent::ActiveOperations(vec![download])));
        let speed = |n: u8, still_downloading| PeerSpeed {
            peer_id: PeerId([n; 32]),
            bytes_per_sec: 1_000_000,
            bytes: 4_000_000,
            still_downloading,
        };
        view.apply(SupervisorEvent::Worker(IpcEvent::Progress(Progress {
            id: "wesnoth".into(),
            phase: Phase::Downloading,
            bytes_done: 12_000_000,
            bytes_total: 120_000_000,
            bytes_per_sec: 3_000_000,
            eta_secs: Some(36),
            peers: vec![speed(1, false), speed(2, true), speed(3, true)],
        })));
        let uploads = vec![GameSpeed { id: "wesnoth".into(), bytes_per_sec: 2_500_000 }];
        view.apply(SupervisorEvent::Worker(IpcEvent::Traffic {
            download_bps: 3_000_000,
            upload_bps: 2_500_000,
            uploads,
        }));
        let mut detail = DetailController::default();
        detail.open(&view, "wesnoth");
        let shown = detail.model(&view, &BTreeSet::new()).unwrap();
        assert_eq!(shown.sources, "From 3 peers, 2 of them still downloading");
        assert!(shown.peer_speeds[1].0.ends_with("(still downloading)"), "{:?}", shown.peer_speeds);
        assert!(!shown.peer_speeds[0].0.contains("still"));
        // The catalog does not name wesnoth here, so its upload is not told apart.
        assert_eq!(shown.upload, "");
        let entry = |id: &str| lanspread_proto::CatalogEntry { id: id.into(), ..Default::default() };
        view.apply(SupervisorEvent::Worker(IpcEvent::Catalog(vec![entry("wesnoth"), entry("xonotic")])));
        let uploads = vec![GameSpeed { id: "wesnoth".into(), bytes_per_sec: 2_500_000 }];
        view.apply(SupervisorEvent::Worker(IpcEvent::Traffic {
            download_bps: 3_000_000,
            upload_bps: 2_500_000,
            uploads,
        }));
        assert_eq!(detail.model(&view, &BTreeSet::new()).unwrap().upload, "2.5 MB/s to other PCs");
    }

    #[test]
    fn disk_use_shows_for_the_open_game_once_measured() {
        let view = view();
        let mut controller = DetailController::default();
        controller.open(&view, "xonotic");
        assert_eq!(controller.model(&view, &BTreeSet::new()).unwrap().disk, "", "not measured yet");
        controller.set_disk_use("wesnoth", DiskUse { download: 5, install: 5, partial: false });
        assert_eq!(controller.model(&view, &BTreeSet::new()).unwrap().disk, "", "another game's figure is dropped");
        controller.set_disk_use("xonotic", DiskUse { download: 320_200_000, install: 512_000_000, partial: false });
        let disk = controller.model(&view, &BTreeSet::new()).unwrap().disk;
        assert_eq!(disk, "320.2 MB downloaded, 512.0 MB installed");
        let partly = DiskUse { download: 1_000_000, install: 0, partial: true };
        assert_eq!(disk_label(&partly), "at least 1.0 MB downloaded");
    }

    #[test]
    fn disk_figures_are_asked_for_once_per_state_of_the_open_game() {
        let mut view = view();
        let mut controller = DetailController::default();
        assert_eq!(controller.disk_check(&view), None, "nothing open");
        controller.open(&view, "xonotic");
        let first = controller.disk_check(&view).expect("measured when it opens");
        assert_eq!((first.id.as_str(), first.estimate), ("xonotic", false), "installed and current: no estimate");
        assert_eq!(controller.disk_check(&view), None, "the same state is not measured again");
        let uninstalled = LocalGame {
            id: "xonotic".into(),
            version: Some("0.8.5".into()),
            installed: false,
            size: 100,
            installed_version: None,
            partial: None,
        };
        let library = LibrarySnapshot { game_dir: "/games".into(), revision: 2, games: vec![uninstalled] };
        view.apply(SupervisorEvent::Worker(IpcEvent::Library(library)));
        let again = controller.disk_check(&view).expect("measured again after an uninstall");
        assert!(again.estimate, "downloaded, not installed: what installing takes is asked");
        controller.open(&view, "wesnoth");
        assert!(!controller.disk_check(&view).unwrap().estimate, "nothing here to install");
    }
}
