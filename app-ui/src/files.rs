//! "View Files": resolve a game's root safely and open it in the platform's
//! file viewer. The root must be a real folder directly inside the game
//! directory (after resolving links), so a crafted id or a link never opens
//! something else.

use std::fs;
use std::path::{Path, PathBuf};

/// The canonical root of `id` inside `game_dir` (in the plain form a file
/// viewer takes), or why it cannot be opened.
pub fn resolve_game_root(game_dir: &Path, id: &str) -> Result<PathBuf, String> {
    if !lanspread_proto::game::is_valid_game_id(id) {
        return Err(format!("{id:?} is not a game folder name"));
    }
    let dir = fs::canonicalize(game_dir).map_err(|e| format!("{}: {e}", game_dir.display()))?;
    let root = game_dir.join(id);
    let meta = fs::symlink_metadata(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    if meta.is_symlink() {
        return Err(format!("{}: a link, not a game folder; not opened", root.display()));
    }
    if !meta.is_dir() {
        return Err(format!("{}: not a folder", root.display()));
    }
    let canonical = fs::canonicalize(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    if canonical.parent() != Some(dir.as_path()) {
        return Err(format!("{}: not inside the game directory; not opened", root.display()));
    }
    Ok(crate::platform::plain_path(canonical))
}

/// Opens `id`'s folder with the platform file viewer, without waiting for it.
pub fn view_files(game_dir: &Path, id: &str) -> Result<PathBuf, String> {
    let root = resolve_game_root(game_dir, id)?;
    open::that_detached(&root).map_err(|e| format!("cannot open {}: {e}", root.display()))?;
    Ok(root)
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
        assert!(resolve_game_root(&games, "notes.txt").unwrap_err().contains("not a folder"));
        #[cfg(unix)]
        {
            fs::create_dir_all(tmp.path().join("elsewhere")).unwrap();
            std::os::unix::fs::symlink(tmp.path().join("elsewhere"), games.join("xonotic")).unwrap();
            assert!(resolve_game_root(&games, "xonotic").unwrap_err().contains("a link"));
        }
    }
}
