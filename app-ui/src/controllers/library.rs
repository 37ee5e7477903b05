//! The library grid: one card per visible game.

use lanspread_proto::ipc::IpcCommand;

use super::fraction;
use crate::view::{CardAction, GameRow, GameStatus, ViewState, badge, format_percent, format_size, format_speed};

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
            GameStatus::Downloaded | GameStatus::UpdateDownloaded | GameStatus::Stopped => CardState::Downloaded,
            GameStatus::Installed => CardState::Installed,
            GameStatus::UpdateAvailable => CardState::UpdateAvailable,
            GameStatus::Downloading | GameStatus::Installing | GameStatus::Uninstalling | GameStatus::Removing => {
                CardState::Busy
            }
        }
    }
}

/// A generated cover, for a game without art: its initials on colours
/// chosen from its id, so every card is recognisable and always looks the
/// same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cover {
    pub initials: String,
    /// Top and bottom of its gradient, RGB.
    pub top: [u8; 3],
    pub bottom: [u8; 3],
    /// The game's cover picture, drawn over the gradient once decoded.
    pub art: Option<String>,
}

/// Words a cover's initials skip.
const MINOR_WORDS: &[&str] = &["the", "of", "for", "and"];

impl Cover {
    /// A row's cover: its picture if it has one, over its generated cover.
    pub fn of_row(row: &GameRow) -> Cover {
        Cover { art: row.art.clone(), ..Cover::of(&row.id, &row.name) }
    }

    pub fn of(id: &str, name: &str) -> Cover {
        let words: Vec<&str> = name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        let major: Vec<&&str> = words.iter().filter(|w| !MINOR_WORDS.contains(&w.to_lowercase().as_str())).collect();
        let chosen = if major.is_empty() { words.iter().collect() } else { major };
        let initials: String = match chosen.as_slice() {
            [] => "?".to_owned(),
            [one] => one.chars().take(2).collect(),
            [first, second, ..] => first.chars().take(1).chain(second.chars().take(1)).collect(),
        };
        // FNV-1a, then mixed (ids that differ in their last letter get
        // hues far apart): the same id always gives the same hue.
        let mut hash = id.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
        hash ^= hash >> 16;
        hash = hash.wrapping_mul(0x7feb_352d);
        hash ^= hash >> 15;
        let hue = (hash % 360) as f32;
        Cover {
            initials: initials.to_uppercase(),
            top: hsv(hue, 0.55, 0.62),
            bottom: hsv(hue + 35.0, 0.65, 0.34),
            art: None,
        }
    }
}

/// An RGB colour from hue (degrees), saturation and value (0 to 1).
fn hsv(hue: f32, saturation: f32, value: f32) -> [u8; 3] {
    let h = (hue.rem_euclid(360.0)) / 60.0;
    let c = value * saturation;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = value - c;
    [r, g, b].map(|v| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8)
}

/// One card as the grid shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub id: String,
    pub name: String,
    pub cover: Cover,
    pub genre: String,
    pub version: String,
    pub size: String,
    pub badge: String,
    pub state: CardState,
    /// The label of the card's button; empty for none.
    pub action: String,
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
            cover: Cover::of_row(row),
            genre: row.genre.clone(),
            version,
            size: if row.size == 0 { String::new() } else { format_size(row.size) },
            badge: badge(row),
            state: CardState::of(row.status),
            action: action_label(row),
            busy: row.shows_progress(),
            fraction: fraction(done, total),
            percent: if row.progress.is_some() { format_percent(done, total) } else { "…".into() },
            speed: if row.progress.is_some() && !row.paused { format_speed(speed) } else { String::new() },
        }
    }
}

/// The label of a row's button: "Resume (36%)" says how far a stopped or
/// paused download got.
pub fn action_label(row: &GameRow) -> String {
    match (row.action(), &row.partial) {
        (Some(CardAction::Resume), Some(partial)) => {
            format!("Resume ({})", format_percent(partial.bytes_done, partial.bytes_total))
        }
        (Some(CardAction::Continue), _) => match &row.progress {
            Some(p) => format!("Resume ({})", format_percent(p.bytes_done, p.bytes_total)),
            None => CardAction::Continue.label().to_owned(),
        },
        (Some(action), _) => action.label().to_owned(),
        (None, _) => String::new(),
    }
}

/// Which games the grid shows, and in which order.
pub use crate::view::{Filter, Sort};

/// How a list shown in the window changes from one model to the next: the
/// rows to set again, or the whole list when rows came, went or moved. A
/// progress event then redraws one card, not the grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowChanges {
    None,
    Rows(Vec<usize>),
    All,
}

/// What changed from `old` to `new`, rows told apart by `key`.
pub fn row_changes<T: PartialEq, K: PartialEq>(old: &[T], new: &[T], key: impl Fn(&T) -> K) -> RowChanges {
    if old.len() != new.len() || old.iter().zip(new).any(|(a, b)| key(a) != key(b)) {
        return RowChanges::All;
    }
    let rows: Vec<usize> = old.iter().zip(new).enumerate().filter(|(_, (a, b))| a != b).map(|(i, _)| i).collect();
    if rows.is_empty() { RowChanges::None } else { RowChanges::Rows(rows) }
}

/// The cards for `filter` and the search `query`, in `sort`'s order.
pub fn cards(view: &ViewState, filter: Filter, query: &str, sort: Sort) -> Vec<Card> {
    view.visible_rows(filter, query, sort).iter().map(Card::of).collect()
}

/// "12 of 1,020 games" (or "20 games" when all show).
pub fn count_label(shown: usize, total: usize) -> String {
    let games = |n: usize| if n == 1 { "1 game".to_owned() } else { format!("{} games", thousands(n)) };
    if shown == total { games(total) } else { format!("{} of {}", thousands(shown), games(total)) }
}

/// The first-run panel's game directory, while the panel shows (see
/// [`ViewState::is_first_run`]).
pub fn welcome(view: &ViewState) -> Option<String> {
    view.is_first_run().then(|| view.game_dir().unwrap_or_default().to_owned())
}

/// The first-run panel's "Add PC": the command that contacts it now, or
/// what to write instead.
pub fn add_pc(text: &str) -> Result<IpcCommand, crate::settings::InputError> {
    crate::settings::validate_peer(text).map(|address| IpcCommand::AddPeer { address })
}

/// Whether a key typed outside the search box starts a search: one letter
/// or digit (not a space, a control key or a shortcut's key).
pub fn starts_search(text: &str) -> bool {
    let mut chars = text.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if c.is_alphanumeric())
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// What a card's (or the detail view's) main button does for the state the
/// game is in now: a command for the worker, or starting the game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    Send(IpcCommand),
    Play,
}

pub fn act(view: &ViewState, id: &str) -> Option<Act> {
    let action = view.row_of(id)?.action()?;
    Some(action.command(id).map_or(Act::Play, Act::Send))
}

/// Opening a game's detail view asks the peers who has it, when some do.
pub fn on_open(view: &ViewState, id: &str) -> Option<IpcCommand> {
    view.row_of(id).filter(|row| row.network_version.is_some()).map(|_| IpcCommand::GetGame { id: id.to_owned() })
}

#[cfg(test)]
mod tests {
    #[test]
    fn letters_and_digits_start_a_search_other_keys_do_not() {
        for key in ["a", "Z", "7", "é"] {
            assert!(starts_search(key), "{key:?}");
        }
        let escape = "\u{1b}";
        for key in ["", " ", "\t", "\n", escape, "ab", "-", "\u{f700}"] {
            assert!(!starts_search(key), "{key:?}");
        }
    }

    use lanspread_proto::ipc::{
        ActiveOperation, IpcEvent, LibrarySnapshot, LocalGame, NetworkGame, OperationKind, Phase, Progress,
    };

    use super::*;
    use crate::supervisor::SupervisorEvent;

    /// Twenty games on the network, two of them here, one downloading.
    fn view() -> ViewState {
        let mut view = ViewState::default();
        let net = |i: usize| NetworkGame {
            id: format!("game{i:02}"),
            newest_version: "1.0".into(),
            peers_with_newest: 1,
            peers_total: 1,
            size: 1000,
            ..NetworkGame::default()
        };
        view.apply(SupervisorEvent::Worker(IpcEvent::NetworkGames((0..20).map(net).collect())));
        let local = |id: &str| LocalGame {
            id: id.into(),
            version: Some("1.0".into()),
            installed: true,
            size: 1000,
            installed_version: Some("1.0".into()),
            partial: None,
        };
        let games = vec![local("game03"), local("game07")];
        view.apply(SupervisorEvent::Worker(IpcEvent::Library(LibrarySnapshot {
            game_dir: "/g".into(),
            revision: 1,
            games,
        })));
        let op = ActiveOperation { id: "game11".into(), kind: OperationKind::Download, paused: false };
        view.apply(SupervisorEvent::Worker(IpcEvent::ActiveOperations(vec![op])));
        view
    }

    fn progress(done: u64) -> IpcEvent {
        IpcEvent::Progress(Progress {
            id: "game11".into(),
            phase: Phase::Downloading,
            bytes_done: done,
            bytes_total: 1000,
            bytes_per_sec: 100,
            eta_secs: Some(3),
            peers: Vec::new(),
        })
    }

    #[test]
    fn a_progress_event_touches_one_row() {
        let mut view = view();
        view.apply(SupervisorEvent::Worker(progress(100)));
        let before = cards(&view, Filter::All, "", Sort::Name);
        view.apply(SupervisorEvent::Worker(progress(400)));
        let after = cards(&view, Filter::All, "", Sort::Name);
        let row = after.iter().position(|c| c.id == "game11").unwrap();
        assert_eq!(row_changes(&before, &after, |c| c.id.clone()), RowChanges::Rows(vec![row]));
        assert_eq!(after[row].percent, "40%");
        assert_eq!(row_changes(&after, &after.clone(), |c| c.id.clone()), RowChanges::None);
    }

    #[test]
    fn a_library_update_of_one_game_touches_one_row_and_new_games_redo_the_list() {
        let mut view = view();
        let before = cards(&view, Filter::All, "", Sort::Name);
        let local = |id: &str, installed| LocalGame {
            id: id.into(),
            version: Some("1.0".into()),
            installed,
            size: 1000,
            installed_version: installed.then(|| "1.0".into()),
            partial: None,
        };
        let games = vec![local("game03", true), local("game07", false)];
        view.apply(SupervisorEvent::Worker(IpcEvent::Library(LibrarySnapshot {
            game_dir: "/g".into(),
            revision: 2,
            games,
        })));
        let after = cards(&view, Filter::All, "", Sort::Name);
        let row = after.iter().position(|c| c.id == "game07").unwrap();
        assert_eq!(row_changes(&before, &after, |c| c.id.clone()), RowChanges::Rows(vec![row]));
        let fewer = cards(&view, Filter::OnThisPc, "", Sort::Name);
        assert_eq!(row_changes(&after, &fewer, |c| c.id.clone()), RowChanges::All);
    }

    #[test]
    fn covers_are_the_games_initials_on_colours_of_their_own() {
        assert_eq!(Cover::of("wesnoth", "The Battle for Wesnoth").initials, "BW");
        assert_eq!(Cover::of("0ad", "0 A.D.").initials, "0A");
        assert_eq!(Cover::of("xonotic", "Xonotic").initials, "XO");
        assert_eq!(Cover::of("x", "").initials, "?");
        assert_eq!(Cover::of("xonotic", "Xonotic"), Cover::of("xonotic", "Xonotic"), "always the same");
        assert_ne!(Cover::of("xonotic", "A").top, Cover::of("openarena", "A").top, "told apart by id");
        // Numbered ids spread over the colour wheel, not two alternating hues.
        let tops: std::collections::BTreeSet<[u8; 3]> =
            (0..12).map(|i| Cover::of(&format!("game{i:04}"), "G").top).collect();
        assert!(tops.len() >= 10, "{tops:?}");
        assert_eq!(hsv(0.0, 1.0, 1.0), [255, 0, 0]);
        assert_eq!(hsv(120.0, 1.0, 0.5), [0, 128, 0]);
        assert_eq!(hsv(600.0, 0.0, 1.0), [255, 255, 255]);
    }

    #[test]
    fn a_stopped_download_offers_resume_with_how_far_it_got() {
        let mut view = view();
        let stopped = LocalGame {
            id: "game05".into(),
            version: None,
            installed: false,
            size: 360,
            installed_version: None,
            partial: Some(lanspread_proto::ipc::PartialDownload {
                version: "1.0".into(),
                bytes_done: 360,
                bytes_total: 1000,
            }),
        };
        let library = LibrarySnapshot { game_dir: "/g".into(), revision: 3, games: vec![stopped] };
        view.apply(SupervisorEvent::Worker(IpcEvent::Library(library)));
        let card = cards(&view, Filter::All, "", Sort::ReadyFirst).into_iter().find(|c| c.id == "game05").unwrap();
        assert_eq!((card.badge.as_str(), card.action.as_str()), ("Stopped", "Resume (36%)"));
        assert_eq!(act(&view, "game05"), Some(Act::Send(IpcCommand::DownloadGame { id: "game05".into() })));
        assert_eq!(cards(&view, Filter::All, "", Sort::ReadyFirst)[0].id, "game05", "a stopped download is here");
    }

    #[test]
    fn the_count_says_how_many_of_how_many() {
        assert_eq!(count_label(20, 20), "20 games");
        assert_eq!(count_label(12, 1020), "12 of 1,020 games");
        assert_eq!(count_label(1, 1), "1 game");
        assert_eq!(count_label(0, 1_000_000), "0 of 1,000,000 games");
    }
}
