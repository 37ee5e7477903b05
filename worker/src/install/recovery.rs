//! Startup recovery: bring every game root back to a consistent state from
//! its intent log and what is on disk. An install or update that had not
//! swapped in its new `local/` is undone (the old install, or none, stays);
//! one that had is finished; uninstalls and removals are finished.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use super::intent::{INTENT_FILE, Intent, Operation, Step};
use super::{
    BACKUP_DIR, InstallError, STAGING_DIR, crash, discard, forget_installed, io_at, is_owned, is_real_dir,
    record_installed, remove_marker, rename,
};
use crate::catalog::Catalog;
use crate::library::lock::RootLock;
use crate::library::scan::{INSTALL_DIR, VERSION_FILE};
use crate::platform::fs::{atomic_write_interrupted, remove_file_if_present, sync_parent};

/// Recovers one root (the caller holds its lock). Returns what was done,
/// `None` when the root was already consistent.
pub fn recover_root(root: &Path) -> Result<Option<String>, InstallError> {
    if !is_real_dir(root) {
        return Ok(None);
    }
    let intent = Intent::read(root).unwrap_or_else(|e| {
        tracing::warn!("{e}; recovering from what is on disk");
        None
    });
    let Some(intent) = intent else {
        Intent::clear(root)?;
        return recover_from_markers(root);
    };
    let staging = root.join(STAGING_DIR);
    let backup = root.join(BACKUP_DIR);
    let local = root.join(INSTALL_DIR);
    let what = match (intent.operation, intent.step) {
        (Operation::Remove, _) => {
            finish_removal(root)?;
            return Ok(Some("finished removing the downloaded files".into()));
        }
        (Operation::Uninstall, _) => {
            if is_real_dir(&local) {
                rename(&local, &backup)?;
            }
            forget_installed(root)?;
            discard(&backup)?;
            "finished uninstalling".to_owned()
        }
        (Operation::Install | Operation::Update, Step::Committed) => {
            discard(&staging)?;
            discard(&backup)?;
            if let Some(version) = &intent.version {
                record_installed(root, version)?;
            }
            format!("finished installing {}", intent.version.unwrap_or_default())
        }
        (Operation::Install | Operation::Update, step) => {
            let swapped = step != Step::Unpacking && !staging.exists() && is_real_dir(&local);
            if swapped {
                discard(&backup)?;
                if let Some(version) = &intent.version {
                    record_installed(root, version)?;
                }
                format!("kept the new install of {}", intent.version.unwrap_or_default())
            } else {
                discard(&staging)?;
                if !is_real_dir(&local) && is_real_dir(&backup) {
                    restore(&backup, &local)?;
                }
                "undid an unfinished install; the previous state is kept".to_owned()
            }
        }
    };
    Intent::clear(root)?;
    let more = recover_from_markers(root)?;
    Ok(Some(more.map_or(what.clone(), |more| format!("{what}; {more}"))))
}

/// Without an intent log, only a marker proves a reserved directory is ours.
fn recover_from_markers(root: &Path) -> Result<Option<String>, InstallError> {
    let mut done = Vec::new();
    let staging = root.join(STAGING_DIR);
    let backup = root.join(BACKUP_DIR);
    let local = root.join(INSTALL_DIR);
    if fs::symlink_metadata(&staging).is_ok() {
        if is_real_dir(&staging) && is_owned(&staging) {
            discard(&staging)?;
            done.push("removed an unfinished install");
        } else {
            tracing::warn!("{}: left alone: nothing proves LanSpread made it", staging.display());
        }
    }
    if fs::symlink_metadata(&backup).is_ok() {
        if is_real_dir(&backup) && is_owned(&backup) {
            if is_real_dir(&local) {
                discard(&backup)?;
                done.push("removed a leftover backup");
            } else {
                restore(&backup, &local)?;
                done.push("restored the previous install");
            }
        } else {
            tracing::warn!("{}: left alone: nothing proves LanSpread made it", backup.display());
        }
    }
    Ok((!done.is_empty()).then(|| done.join("; ")))
}

fn restore(backup: &Path, local: &Path) -> Result<(), InstallError> {
    rename(backup, local)?;
    remove_marker(local)
}

/// Deletes a root whose removal is recorded in its intent log: the sentinel
/// first (so it stops looking downloaded), then everything but the log,
/// then the log and the folder.
pub(super) fn finish_removal(root: &Path) -> Result<(), InstallError> {
    let sentinel = root.join(VERSION_FILE);
    remove_file_if_present(&sentinel)?;
    sync_parent(&sentinel);
    crash::point("remove:sentinel-deleted");
    for entry in fs::read_dir(root).map_err(|e| io_at(root, e))? {
        let entry = entry.map_err(|e| io_at(root, e))?;
        if entry.file_name() != INTENT_FILE {
            discard(&entry.path())?;
        }
    }
    crash::point("remove:emptied");
    Intent::clear(root)?;
    fs::remove_dir(root).map_err(|e| io_at(root, e))?;
    sync_parent(root);
    Ok(())
}

/// Recovers every catalogued root of `game_dir` that needs it, skipping
/// `busy` ones and those another process holds. Returns what was done (or
/// why it could not be) per game id.
pub fn recover_game_dir(
    game_dir: &Path,
    catalog: &Catalog,
    busy: &BTreeSet<String>,
) -> Vec<(String, Result<String, String>)> {
    let Ok(entries) = fs::read_dir(game_dir) else {
        return Vec::new();
    };
    let mut outcomes = Vec::new();
    for entry in entries.flatten() {
        let Some(id) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let root = entry.path();
        if !catalog.contains(&id) || busy.contains(&id) || !is_real_dir(&root) {
            continue;
        }
        let pending =
            [INTENT_FILE, STAGING_DIR, BACKUP_DIR].iter().any(|name| fs::symlink_metadata(root.join(name)).is_ok())
                || atomic_write_interrupted(&root.join(INTENT_FILE));
        if !pending {
            continue;
        }
        let lock = match RootLock::try_acquire(game_dir, &id, catalog) {
            Ok(Some(lock)) => lock,
            Ok(None) => continue,
            Err(e) => {
                outcomes.push((id, Err(e.to_string())));
                continue;
            }
        };
        let outcome = match recover_root(&root) {
            Ok(Some(done)) => {
                tracing::info!("recovered {id}: {done}");
                Ok(done)
            }
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!("cannot recover {id}: {e}");
                Err(e.to_string())
            }
        };
        drop(lock);
        outcomes.push((id, outcome));
    }
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_short_intent_write_is_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("openarena");
        fs::create_dir_all(&root).unwrap();
        let temp = root.join(format!(".{INTENT_FILE}.tmp"));
        fs::write(&temp, "{\"operation\":").unwrap();
        assert!(atomic_write_interrupted(&root.join(INTENT_FILE)));
        assert_eq!(recover_root(&root).unwrap(), None);
        assert!(!temp.exists());
        assert!(!atomic_write_interrupted(&root.join(INTENT_FILE)));
    }
}
