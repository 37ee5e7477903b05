//! One operation per game root across processes.
//!
//! The UI's worker and a headless command may share a game directory, so the
//! in-process busy set is not enough: every operation that changes a root
//! (download, install, update, uninstall, remove, recovery) holds an OS file
//! lock named after the game id. The OS drops the lock when the process dies,
//! so a killed worker never leaves a root locked. The lock files live in a
//! dot-directory of the game directory, outside the roots, so removing a root
//! never has to delete a file that is held open.

use std::fs;
use std::path::{Path, PathBuf};

use super::root::{RootError, checked_root};
use crate::catalog::Catalog;
use crate::platform::fs::annotate;

/// Holds the lock files; not a catalogued id, so never taken for a game.
pub const LOCK_DIR: &str = ".lanspread-locks";

/// An exclusive hold on one game root, released on drop. It is also the
/// proof that the root passed [`checked_root`]: operations take the root's
/// path from it.
#[derive(Debug)]
pub struct RootLock {
    root: PathBuf,
    id: String,
    _file: fs::File,
}

impl RootLock {
    /// Checks `id` (see [`checked_root`]) and takes the lock on its root;
    /// `Ok(None)` when another process (or another operation here) holds it.
    pub fn try_acquire(game_dir: &Path, id: &str, catalog: &Catalog) -> Result<Option<RootLock>, RootError> {
        let root = checked_root(game_dir, id, catalog)?;
        let dir = game_dir.join(LOCK_DIR);
        fs::create_dir_all(&dir).map_err(|e| annotate(&dir, e))?;
        let path = dir.join(format!("{id}.lock"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| annotate(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RootLock { root, id: id.to_owned(), _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(annotate(&path, e).into()),
        }
    }

    /// The checked root this lock holds.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The game id of the root.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The game directory the root is in.
    pub fn game_dir(&self) -> &Path {
        self.root.parent().unwrap_or(&self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_root_cannot_be_taken_twice() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::bundled();
        let first = RootLock::try_acquire(dir.path(), "openarena", &catalog).unwrap().expect("free");
        assert_eq!(first.root(), dir.path().join("openarena"));
        assert!(RootLock::try_acquire(dir.path(), "openarena", &catalog).unwrap().is_none());
        assert!(RootLock::try_acquire(dir.path(), "xonotic", &catalog).unwrap().is_some());
        drop(first);
        assert!(RootLock::try_acquire(dir.path(), "openarena", &catalog).unwrap().is_some());
        assert!(RootLock::try_acquire(dir.path(), "../outside", &catalog).is_err());
        assert!(!dir.path().join(LOCK_DIR).join("../outside.lock").exists());
    }
}
