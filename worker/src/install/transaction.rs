//! Carries out the steps [`super::plan`] names, on one root whose lock the
//! caller holds, and reads the facts a plan is made from.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::intent::{INTENT_FILE, Intent};
use super::plan::{Action, Found, Place, RootFacts};
use super::{BACKUP_DIR, InstallError, OWNED_MARKER, STAGING_DIR, io_at};
use crate::download::journal::JOURNAL_FILE;
use crate::faults::Faults;
use crate::library::lock::LOCK_DIR;
use crate::library::scan::{INSTALL_DIR, INSTALLED_VERSION_FILE, VERSION_FILE};
use crate::platform::fs::{held_open, remove_atomic, remove_file_if_present, sync_parent, write_atomic};

/// What is at `root` now. An intent log that cannot be read is reported
/// and left out: recovery then goes by the ownership markers.
pub fn read_facts(root: &Path) -> RootFacts {
    let log = Intent::read(root).unwrap_or_else(|e| {
        tracing::warn!("{e}; recovering from what is on disk");
        None
    });
    RootFacts {
        root: found(root),
        local: found(&root.join(INSTALL_DIR)),
        staging: found(&root.join(STAGING_DIR)),
        backup: found(&root.join(BACKUP_DIR)),
        downloaded: fs::symlink_metadata(root.join(VERSION_FILE)).is_ok_and(|m| m.is_file()),
        partial: fs::symlink_metadata(root.join(JOURNAL_FILE)).is_ok_and(|m| m.is_file()),
        log,
    }
}

fn found(path: &Path) -> Found {
    match fs::symlink_metadata(path) {
        Err(_) => Found::Nothing,
        Ok(meta) if !meta.is_dir() => Found::Other,
        Ok(_) if fs::symlink_metadata(path.join(OWNED_MARKER)).is_ok_and(|m| m.is_file()) => Found::OwnedFolder,
        Ok(_) => Found::Folder,
    }
}

/// The path of a place at `root`.
pub fn path_of(root: &Path, place: Place) -> PathBuf {
    root.join(match place {
        Place::Local => INSTALL_DIR,
        Place::Staging => STAGING_DIR,
        Place::Backup => BACKUP_DIR,
    })
}

/// Carries out `steps` in order; `unpack` fills the staging folder when
/// the plan says so; `faults` may stop the process at a crash point.
/// Stops at the first failure: the intent log written before tells
/// recovery where it stopped.
pub fn apply(
    root: &Path,
    steps: &[Action],
    unpack: &mut dyn FnMut(&Path) -> Result<(), InstallError>,
    faults: &Faults,
) -> Result<(), InstallError> {
    for step in steps {
        match step {
            Action::CheckFree(place) => {
                if let Some(path) = held_open(&path_of(root, *place)) {
                    return Err(InstallError::InUse(path.display().to_string()));
                }
            }
            Action::Record(intent) => intent.record(root)?,
            Action::CreateStaging => {
                let staging = path_of(root, Place::Staging);
                fs::create_dir(&staging).map_err(|e| io_at(&staging, e))?;
                mark_owned(&staging)?;
            }
            Action::Unpack => unpack(&path_of(root, Place::Staging))?,
            Action::Rename { from, to } => rename(&path_of(root, *from), &path_of(root, *to))?,
            Action::MarkOwned(place) => mark_owned(&path_of(root, *place))?,
            Action::RemoveMarker(place) => remove_file_if_present(&path_of(root, *place).join(OWNED_MARKER))?,
            Action::Discard(place) => discard(&path_of(root, *place))?,
            Action::RecordInstalled(version) => {
                write_atomic(&root.join(INSTALLED_VERSION_FILE), format!("{version}\n").as_bytes())?;
            }
            Action::ForgetInstalled => remove_atomic(&root.join(INSTALLED_VERSION_FILE))?,
            Action::DeleteSentinel => {
                let sentinel = root.join(VERSION_FILE);
                remove_file_if_present(&sentinel)?;
                sync_parent(&sentinel);
            }
            Action::EmptyRoot => {
                for entry in fs::read_dir(root).map_err(|e| io_at(root, e))? {
                    let entry = entry.map_err(|e| io_at(root, e))?;
                    if entry.file_name() != INTENT_FILE {
                        discard(&entry.path())?;
                    }
                }
            }
            Action::ClearLog => Intent::clear(root)?,
            Action::RemoveRoot => remove_root(root)?,
            Action::Crash(point) => faults.crash(*point),
        }
    }
    Ok(())
}

/// Deletes the emptied `root`. It is moved aside into the lock folder
/// first, so its name is free at once: Windows deletes a folder another
/// handle holds (the library's watch, an Explorer window) only when that
/// handle closes. A root that is not empty is never moved: its removal
/// fails where it is, as it would have before.
fn remove_root(root: &Path) -> Result<(), InstallError> {
    let empty = fs::read_dir(root).map_err(|e| io_at(root, e))?.next().is_none();
    let aside = match (root.parent(), root.file_name()) {
        (Some(game_dir), Some(id)) if empty => {
            Some(game_dir.join(LOCK_DIR).join(format!("removed-{}", id.to_string_lossy())))
        }
        _ => None,
    };
    if let Some(aside) = aside {
        // An empty one left by a crash between the rename and the delete.
        let _ = fs::remove_dir(&aside);
        if fs::rename(root, &aside).is_ok() {
            sync_parent(root);
            if let Err(e) = fs::remove_dir(&aside) {
                tracing::warn!("{}: not deleted yet: {e}", aside.display());
            }
            return Ok(());
        }
    }
    fs::remove_dir(root).map_err(|e| io_at(root, e))?;
    sync_parent(root);
    Ok(())
}

fn mark_owned(dir: &Path) -> Result<(), InstallError> {
    let marker = dir.join(OWNED_MARKER);
    fs::write(&marker, b"created by LanSpread; safe to delete with this folder\n").map_err(|e| io_at(&marker, e))?;
    sync_parent(&marker);
    Ok(())
}

fn rename(from: &Path, to: &Path) -> Result<(), InstallError> {
    fs::rename(from, to).map_err(|e| {
        InstallError::Io(io::Error::new(e.kind(), format!("{} -> {}: {e}", from.display(), to.display())))
    })?;
    sync_parent(to);
    Ok(())
}

/// Deletes what is at `path` (a folder with what is in it), if anything.
fn discard(path: &Path) -> Result<(), InstallError> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(|e| io_at(path, e))?;
    sync_parent(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_root_is_removed_and_nothing_is_left_aside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("openarena");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(dir.path().join(LOCK_DIR).join("removed-openarena")).unwrap(); // from a crash
        remove_root(&root).unwrap();
        assert!(!root.exists());
        assert_eq!(fs::read_dir(dir.path().join(LOCK_DIR)).unwrap().count(), 0);
    }

    #[test]
    fn a_root_with_something_left_in_it_stays_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("openarena");
        fs::create_dir_all(dir.path().join(LOCK_DIR)).unwrap();
        fs::create_dir_all(&root).unwrap();
        fs::write(root.join("written-late.txt"), "x").unwrap();
        assert!(remove_root(&root).is_err());
        assert!(root.join("written-late.txt").is_file(), "nothing is hidden in the lock folder");
        assert_eq!(fs::read_dir(dir.path().join(LOCK_DIR)).unwrap().count(), 0);
    }
}
