//! The edge where a peer's game list enters: only catalogued games with a
//! valid id and version are kept, each id once, at most
//! [`MAX_GAMES_PER_PEER`] of them. What is dropped is summed up for one
//! log line, never shown.

use std::collections::BTreeSet;

use lanspread_proto::names::is_valid_version;
use lanspread_proto::peer::{GameSummary, MAX_GAMES_PER_PEER};

use crate::catalog::Catalog;
use crate::library::root::check_game_id;

/// What a listing lost at the edge.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub count: usize,
    /// Why the first dropped entry was dropped (printable, short).
    pub first_reason: Option<String>,
}

/// The part of a peer's game list this node accepts.
pub fn accept_listing(games: Vec<GameSummary>, catalog: &Catalog) -> (Vec<GameSummary>, Dropped) {
    let mut kept = Vec::new();
    let mut ids = BTreeSet::new();
    let mut dropped = Dropped::default();
    let listed = games.len();
    for game in games {
        let verdict = if kept.len() >= MAX_GAMES_PER_PEER {
            Err(format!("more than {MAX_GAMES_PER_PEER} games listed"))
        } else if let Err(e) = check_game_id(&game.id, catalog) {
            Err(e.to_string())
        } else if !is_valid_version(&game.version) {
            Err(format!("{}: its version is empty, too long or not printable", game.id))
        } else if !ids.insert(game.id.clone()) {
            Err(format!("{} is listed twice", game.id))
        } else {
            Ok(())
        };
        match verdict {
            Ok(()) => kept.push(game),
            Err(why) => {
                dropped.count += 1;
                dropped.first_reason.get_or_insert(why);
            }
        }
    }
    debug_assert_eq!(kept.len() + dropped.count, listed);
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn game(id: &str, version: &str) -> GameSummary {
        GameSummary { id: id.into(), version: version.into(), size: 1, installed: false, cover: None }
    }

    #[test]
    fn only_catalogued_valid_games_pass_once_each() {
        let catalog = Catalog::bundled();
        let huge = "a".repeat(1 << 20);
        let listing = vec![
            game("openarena", "0.8.8"),
            game("../outside", "1"),
            game("/abs", "1"),
            game("C:\\x", "1"),
            game("nul", "1"),
            game(&huge, "1"),
            game("notagame", "1"),
            game("xonotic", "1\u{1b}[2J"),
            game("openarena", "9"),
            game("wesnoth", "1.18"),
        ];
        let (kept, dropped) = accept_listing(listing, &catalog);
        assert_eq!(kept, [game("openarena", "0.8.8"), game("wesnoth", "1.18")]);
        assert_eq!(dropped.count, 8);
        let reason = dropped.first_reason.unwrap();
        assert!(reason.contains("../outside") && reason.contains("not a valid game id"), "{reason}");
        let (_, dropped) = accept_listing(vec![game(&huge, "1")], &catalog);
        assert!(dropped.first_reason.unwrap().len() < 300, "a huge id is not repeated in the log");
    }

    #[test]
    fn a_listing_is_bounded() {
        let mut catalog_json = String::from("[");
        for i in 0..=MAX_GAMES_PER_PEER {
            catalog_json.push_str(&format!("{}{{\"id\":\"g{i}\",\"name\":\"G\"}}", if i > 0 { "," } else { "" }));
        }
        catalog_json.push(']');
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("big.json");
        std::fs::write(&path, catalog_json).unwrap();
        let catalog = Catalog::with_user_file(&path).unwrap();
        let listing = (0..=MAX_GAMES_PER_PEER).map(|i| game(&format!("g{i}"), "1")).collect();
        let (kept, dropped) = accept_listing(listing, &catalog);
        assert_eq!((kept.len(), dropped.count), (MAX_GAMES_PER_PEER, 1));
    }
}
