//! The library as the last pass found it, kept in the state directory, so
//! a worker that starts shows the games it had at once (the window's
//! badges in its first second) while its first pass reads the disk again.
//!
//! Only what the window shows is kept, not file lists: nothing is listed
//! to peers or served from it, and the first pass replaces it. The file is
//! read like any file on disk: bounded, and every game checked by the same
//! rules as a scanned one; a file for another game directory is ignored.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use lanspread_proto::game::is_valid_game_id;
use lanspread_proto::names::is_valid_version;
use serde::{Deserialize, Serialize};

use super::{LibraryState, LocalGameState};
use crate::catalog::Catalog;

/// Its name, beside the hash index.
pub const LIBRARY_FILE: &str = "library.bin";
/// A larger file is not read.
const MAX_LIBRARY_FILE: u64 = 4 * 1024 * 1024;

/// The file's content: the game directory and its games, without file
/// lists (see [`LocalGameState`]'s serde attributes).
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    game_dir: PathBuf,
    games: Vec<LocalGameState>,
}

/// The games last seen in `game_dir`, as kept in `path`; none when the file
/// is missing, unreadable, too large, damaged or for another directory.
pub fn load(path: &Path, game_dir: &Path, catalog: &Catalog) -> BTreeMap<String, LocalGameState> {
    let read = || -> io::Result<Saved> {
        let mut bytes = Vec::new();
        fs::File::open(path)?.take(MAX_LIBRARY_FILE + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_LIBRARY_FILE {
            return Err(io::Error::other("too large to be ours"));
        }
        postcard::from_bytes(&bytes).map_err(io::Error::other)
    };
    let saved = match read() {
        Ok(saved) => saved,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return BTreeMap::new(),
        Err(e) => {
            tracing::warn!("{}: not read ({e}); the library shows once scanned", path.display());
            return BTreeMap::new();
        }
    };
    if saved.game_dir != game_dir {
        return BTreeMap::new();
    }
    saved
        .games
        .into_iter()
        .filter(|g| is_valid_game_id(&g.id) && catalog.contains(&g.id))
        .filter(|g| g.version.iter().chain(&g.installed_version).all(|v| is_valid_version(v)))
        .filter(|g| g.partial.as_ref().is_none_or(|p| p.bytes_done <= p.bytes_total && is_valid_version(&p.version)))
        .take(catalog.len())
        .map(|g| (g.id.clone(), g))
        .collect()
}

/// The file's bytes for `state` (the library service writes them when they
/// differ from those it wrote last).
pub fn encode(state: &LibraryState) -> io::Result<Vec<u8>> {
    let saved = Saved { game_dir: state.game_dir.clone(), games: state.games.values().cloned().collect() };
    postcard::to_stdvec(&saved).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::hash_index::HashStats;

    fn state(game_dir: &Path, games: &[(&str, Option<&str>, bool)]) -> LibraryState {
        let games = games
            .iter()
            .map(|(id, version, installed)| {
                let game = LocalGameState {
                    id: (*id).into(),
                    version: version.map(Into::into),
                    installed: *installed,
                    installed_version: None,
                    size: 10,
                    manifest: None,
                    partial: None,
                };
                ((*id).to_owned(), game)
            })
            .collect();
        LibraryState {
            game_dir: game_dir.to_owned(),
            revision: 3,
            games,
            scanning: false,
            last_pass: HashStats::default(),
            passes: 1,
        }
    }

    #[test]
    fn the_last_library_is_shown_again_for_the_same_directory_only() {
        let tmp = tempfile::tempdir().unwrap();
        let (path, games) = (tmp.path().join(LIBRARY_FILE), tmp.path().join("games"));
        let catalog = Catalog::bundled();
        fs::write(
            &path,
            encode(&state(&games, &[("openarena", Some("0.8.8"), true), ("xonotic", None, false)])).unwrap(),
        )
        .unwrap();
        let loaded = load(&path, &games, &catalog);
        assert_eq!(loaded.keys().collect::<Vec<_>>(), ["openarena", "xonotic"]);
        assert!(loaded["openarena"].installed && loaded["openarena"].manifest.is_none(), "never a file list");
        assert!(load(&path, &tmp.path().join("other"), &catalog).is_empty(), "another game directory");
        assert!(load(&tmp.path().join("missing"), &games, &catalog).is_empty());
    }

    #[test]
    fn a_damaged_or_hostile_file_shows_nothing_it_should_not() {
        let tmp = tempfile::tempdir().unwrap();
        let (path, games) = (tmp.path().join(LIBRARY_FILE), tmp.path().join("games"));
        let catalog = Catalog::bundled();
        let hostile = [("../outside", Some("1"), true), ("notagame", Some("1"), true), ("wesnoth", Some("1\n2"), true)];
        fs::write(&path, encode(&state(&games, &hostile)).unwrap()).unwrap();
        assert!(load(&path, &games, &catalog).is_empty(), "ids and versions are checked like scanned ones");
        fs::write(&path, b"\xff\xff\xff garbage").unwrap();
        assert!(load(&path, &games, &catalog).is_empty());
        fs::write(&path, vec![0; MAX_LIBRARY_FILE as usize + 1]).unwrap();
        assert!(load(&path, &games, &catalog).is_empty(), "too large is not read");
    }
}
