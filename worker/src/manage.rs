//! The headless `install`, `uninstall`, `remove` and `recover` commands:
//! install transactions on the local game directory, no network.

use std::collections::BTreeSet;
use std::path::Path;

use lanspread_proto::exit;

use crate::catalog::Catalog;
use crate::cli::{LocalArgs, check_game_dir};
use crate::install;
use crate::library::hash_index::HashIndex;
use crate::library::lock::RootLock;
use crate::node::HASH_INDEX_FILE;
use crate::platform;

fn catalog(local: &LocalArgs) -> anyhow::Result<Catalog> {
    check_game_dir(&local.games)?;
    Ok(match &local.catalog {
        Some(path) => Catalog::with_user_file(path)?,
        None => Catalog::bundled(),
    })
}

/// Checks the id and takes its root's lock.
fn lock_root(local: &LocalArgs, id: &str) -> anyhow::Result<RootLock> {
    RootLock::try_acquire(&local.games, id, &catalog(local)?)?
        .ok_or_else(|| anyhow::anyhow!("{id} is busy: another LanSpread process is working on it; nothing was changed"))
}

pub async fn install(id: &str, local: &LocalArgs, json: bool) -> anyhow::Result<i32> {
    let lock = lock_root(local, id)?;
    crate::fetch::install_after(lock, json).await
}

pub fn uninstall(id: &str, local: &LocalArgs) -> anyhow::Result<i32> {
    let lock = lock_root(local, id)?;
    if install::uninstall(&lock).map_err(|e| anyhow::anyhow!("cannot uninstall {id}: {e}"))? {
        println!("uninstalled {id}; its downloaded files are kept");
    } else {
        println!("{id} is not installed; nothing to do");
    }
    Ok(exit::SUCCESS)
}

pub fn remove(id: &str, local: &LocalArgs) -> anyhow::Result<i32> {
    let lock = lock_root(local, id)?;
    let root = lock.root().to_owned();
    install::remove_downloaded(&lock).map_err(|e| anyhow::anyhow!("cannot remove {id}: {e}"))?;
    forget_hashes(local, &root);
    println!("removed {}", root.display());
    Ok(exit::SUCCESS)
}

/// Drops the removed root's files from the node's hash index.
fn forget_hashes(local: &LocalArgs, root: &Path) {
    let state = local.state.clone().unwrap_or_else(platform::paths::default_state_dir);
    let path = state.join(HASH_INDEX_FILE);
    if !path.exists() {
        return;
    }
    let mut index = HashIndex::load(&path);
    index.forget_missing(root, &[]);
    if let Err(e) = index.save() {
        tracing::warn!("cannot save the hash index: {e}");
    }
}

pub fn recover(local: &LocalArgs) -> anyhow::Result<i32> {
    let catalog = catalog(local)?;
    let outcomes = install::recover_game_dir(&local.games, &catalog, &BTreeSet::new());
    if outcomes.is_empty() {
        println!("nothing to recover in {}", local.games.display());
    }
    let mut failed = false;
    for (id, outcome) in outcomes {
        match outcome {
            Ok(done) => println!("{id}: {done}"),
            Err(e) => {
                failed = true;
                eprintln!("error: cannot recover {id}: {e}");
            }
        }
    }
    Ok(if failed { exit::FAILURE } else { exit::SUCCESS })
}
