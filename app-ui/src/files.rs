//! "View Files": resolve a game's root safely and open it in the platform's
//! file viewer. The root must be a real folder directly inside the game
//! directory (after resolving links), so a crafted id or a link never opens
//! something else.

use std::fs;
use std::path::{Path, PathBuf};

/// Why a game's folder was not opened.
#[derive(Debug, thiserror::Error)]
pub enum ViewFilesError {
    #[error("{0:?} is not a game folder name")]
    InvalidId(String),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: a link, not a game folder; not opened", .0.display())]
    Link(PathBuf),
    #[error("{}: not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("{}: not inside the game directory; not opened", .0.display())]
    Outside(PathBuf),
    #[error("cannot open {}: {source}", path.display())]
    Viewer { path: PathBuf, source: std::io::Error },
}

/// The canonical root of `id` inside `game_dir` (in the plain form a file
/// viewer takes), or why it cannot be opened.
pub fn resolve_game_root(game_dir: &Path, id: &str) -> Result<PathBuf, ViewFilesError> {
    if !lanspread_proto::game::is_valid_game_id(id) {
        return Err(ViewFilesError::InvalidId(id.to_owned()));
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ViewFilesError::Io { path, source }
    };
    let dir = fs::canonicalize(game_dir).map_err(io(game_dir))?;
    let root = game_dir.join(id);
    let meta = fs::symlink_metadata(&root).map_err(io(&root))?;
    if meta.is_symlink() {
        return Err(ViewFilesError::Link(root));
    }
    if !meta.is_dir() {
        return Err(ViewFilesError::NotAFolder(root));
    }
    let canonical = fs::canonicalize(&root).map_err(io(&root))?;
    if canonical.parent() != Some(dir.as_path()) {
        return Err(ViewFilesError::Outside(root));
    }
    Ok(crate::platform::plain_path(canonical))
}

/// Opens `id`'s folder with the platform file viewer, without waiting for it.
pub fn view_files(game_dir: &Path, id: &str) -> Result<PathBuf, ViewFilesError> {
    let root = resolve_game_root(game_dir, id)?;
    open::that_detached(&root).map_err(|source| ViewFilesError::Viewer { path: root.clone(), source })?;
    Ok(root)
}

/// Opens the game directory with the platform file viewer (it must be a
/// folder), without waiting for it.
pub fn open_game_dir(game_dir: &Path) -> Result<PathBuf, ViewFilesError> {
    let dir = fs::canonicalize(game_dir).map_err(|source| ViewFilesError::Io { path: game_dir.to_owned(), source })?;
    if !dir.is_dir() {
        return Err(ViewFilesError::NotAFolder(game_dir.to_owned()));
    }
    let dir = crate::platform::plain_path(dir);
    open::that_detached(&dir).map_err(|source| ViewFilesError::Viewer { path: dir.clone(), source })?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_direct_children_resolve() {
        let tmp = tempfile::tempdir().unwrap();
        let games = tmp.path().join("games");
        fs::create_dir_all(games.join("openarena")).unwrap();
        fs::write(games.join("notes.txt"), "x").unwrap();
        let root = resolve_game_root(&games, "openarena").unwrap();
        assert_eq!(root, crate::platform::plain_path(fs::canonicalize(games.join("openarena")).unwrap()));
        for bad in ["", "..", "../games", "a/b", "C:x"] {
            assert!(resolve_game_root(&games, bad).is_err(), "{bad:?}");
        }
        assert!(resolve_game_root(&games, "missing").is_err());
        assert!(matches!(resolve_game_root(&games, "notes.txt"), Err(ViewFilesError::NotAFolder(_))));
        #[cfg(unix)]
        {
            fs::create_dir_all(tmp.path().join("elsewhere")).unwrap();
            std::os::unix::fs::symlink(tmp.path().join("elsewhere"), games.join("xonotic")).unwrap();
            assert!(matches!(resolve_game_root(&games, "xonotic"), Err(ViewFilesError::Link(_))));
        }
    }
}
