//! Startup recovery: bring every game root back to a consistent state from
//! its intent log and what is on disk. An install or update that had not
//! swapped in its new `local/` is undone (the old install, or none, stays);
//! one that had is finished; uninstalls and removals are finished.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use super::intent::INTENT_FILE;
use super::plan::{self, Recovered};
use super::transaction::{self, path_of};
use super::{BACKUP_DIR, InstallError, STAGING_DIR};
use crate::catalog::Catalog;
use crate::faults::Faults;
use crate::library::lock::RootLock;
use crate::platform::fs::atomic_write_interrupted;

/// What a recovery of one root did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery(pub Vec<Recovered>);

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

/// Recovers one root (the caller holds its lock). Returns what was done,
/// `None` when the root was already consistent.
pub fn recover_root(root: &Path) -> Result<Option<Recovery>, InstallError> {
    let mut done = Vec::new();
    // A recovery from the log, then one from the markers it left.
    for _ in 0..2 {
        let facts = transaction::read_facts(root);
        let logged = facts.log.is_some();
        let (steps, recovered, left_alone) = plan::recover(&facts);
        for place in left_alone {
            tracing::warn!("{}: left alone: nothing proves LanSpread made it", path_of(root, place).display());
        }
        transaction::apply(root, &steps, &mut |_| Ok(()), &Faults::default())?;
        done.extend(recovered);
        if !logged {
            break;
        }
    }
    Ok((!done.is_empty()).then_some(Recovery(done)))
}

/// Recovers every catalogued root of `game_dir` that needs it, skipping
/// `busy` ones and those another process holds. Returns what was done (or
/// why it could not be) per game id.
pub fn recover_game_dir(
    game_dir: &Path,
    catalog: &Catalog,
    busy: &BTreeSet<String>,
) -> Vec<(String, Result<Recovery, InstallError>)> {
    let Ok(entries) = fs::read_dir(game_dir) else {
        return Vec::new();
    };
    let mut outcomes = Vec::new();
    for entry in entries.flatten() {
        let Some(id) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let root = entry.path();
        if !catalog.contains(&id) || busy.contains(&id) || !fs::symlink_metadata(&root).is_ok_and(|m| m.is_dir()) {
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
                outcomes.push((id, Err(e.into())));
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
                Err(e)
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
