//! The one way from a game id to its root: every operation that touches a
//! game root (download, install, uninstall, removal, locking, recovery of
//! one game) gets the path from [`checked_root`], whatever the id came from
//! (a peer, the IPC, the command line, a manifest).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use lanspread_proto::game::is_valid_game_id;
use lanspread_proto::names::{MAX_GAME_ID_LEN, printable};

use crate::catalog::Catalog;
use crate::platform::fs::annotate;

/// Why an id has no root that may be touched.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error(
        "{0:?} is not a valid game id (a direct child of the game directory: lowercase letters, digits, '-', '_', '.')"
    )]
    InvalidId(String),
    #[error("{0:?} is not a catalogued game")]
    Uncatalogued(String),
    #[error("{0}: a symbolic link, not a game folder")]
    Link(String),
    #[error("{0}: not a folder")]
    NotAFolder(String),
    #[error("{0}: resolves outside the game directory")]
    Outside(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// The root of `id` if it may be touched at all: a valid, catalogued id
/// naming a direct child of `game_dir` that, if it exists, is a real folder
/// (not a link) whose canonical path lies directly inside the canonical
/// game directory.
pub fn checked_root(game_dir: &Path, id: &str, catalog: &Catalog) -> Result<PathBuf, RootError> {
    check_game_id(id, catalog)?;
    let root = game_dir.join(id);
    let shown = || root.display().to_string();
    match fs::symlink_metadata(&root) {
        Ok(meta) if meta.is_symlink() => return Err(RootError::Link(shown())),
        Ok(meta) if !meta.is_dir() => return Err(RootError::NotAFolder(shown())),
        Ok(_) => {
            let canonical_dir = fs::canonicalize(game_dir).map_err(|e| annotate(game_dir, e))?;
            let canonical_root = fs::canonicalize(&root).map_err(|e| annotate(&root, e))?;
            if canonical_root.parent() != Some(canonical_dir.as_path()) {
                return Err(RootError::Outside(shown()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(annotate(&root, e).into()),
    }
    Ok(root)
}

/// The id rule alone: valid and catalogued. Ids from peers and the IPC
/// pass it before they are listed, shown or acted on.
pub fn check_game_id(id: &str, catalog: &Catalog) -> Result<(), RootError> {
    if !is_valid_game_id(id) {
        return Err(RootError::InvalidId(printable(id, MAX_GAME_ID_LEN)));
    }
    if !catalog.contains(id) {
        return Err(RootError::Uncatalogued(id.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_catalogued_direct_children_that_are_real_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let games = tmp.path().join("games");
        fs::create_dir_all(games.join("openarena")).unwrap();
        let catalog = Catalog::bundled();
        assert_eq!(checked_root(&games, "openarena", &catalog).unwrap(), games.join("openarena"));
        assert_eq!(checked_root(&games, "xonotic", &catalog).unwrap(), games.join("xonotic"));
        for bad in ["../outside", "/abs", "C:\\x", "nul", "", &"a".repeat(1 << 20)] {
            let err = checked_root(&games, bad, &catalog).unwrap_err();
            assert!(matches!(err, RootError::InvalidId(_)), "{bad:.20}: {err}");
            assert!(err.to_string().len() < 300, "the message stays short");
        }
        assert!(matches!(checked_root(&games, "notagame", &catalog), Err(RootError::Uncatalogued(_))));
        fs::write(games.join("wesnoth"), b"").unwrap();
        assert!(matches!(checked_root(&games, "wesnoth", &catalog), Err(RootError::NotAFolder(_))));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(tmp.path(), games.join("teeworlds")).unwrap();
            assert!(matches!(checked_root(&games, "teeworlds", &catalog), Err(RootError::Link(_))));
        }
    }
}
