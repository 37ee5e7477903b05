//! The headless `install`, `uninstall`, `remove` and `recover` commands:
//! install transactions on the local game directory, no network.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lanspread_proto::exit;
use lanspread_proto::units::format_size;

use crate::catalog::Catalog;
use crate::faults::Faults;
use crate::install::{self, InstallError};
use crate::library::hash_index::HashIndex;
use crate::library::lock::RootLock;
use crate::node::HASH_INDEX_FILE;
use crate::platform;
use crate::platform::fs::annotate;
use crate::report::{self, JsonLine, Reporter};

/// The game directory these commands work on, and what they need with it.
#[derive(Debug, Clone)]
pub struct LocalGames {
    pub games: PathBuf,
    /// The node's state directory: `remove` drops the removed files from
    /// its hash index there.
    pub state: Option<PathBuf>,
    /// Extra catalog entries.
    pub catalog: Option<PathBuf>,
    pub faults: Faults,
}

/// Checks that `dir` is a directory, naming it when it is not.
pub fn check_game_dir(dir: &Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(dir).map_err(|e| annotate(dir, e))?;
    if !meta.is_dir() {
        anyhow::bail!("{}: not a directory", dir.display());
    }
    Ok(())
}

fn catalog(local: &LocalGames) -> anyhow::Result<Catalog> {
    check_game_dir(&local.games)?;
    Ok(match &local.catalog {
        Some(path) => Catalog::with_user_file(path)?,
        None => Catalog::bundled(),
    })
}

/// Checks the id and takes its root's lock.
fn lock_root(local: &LocalGames, id: &str) -> anyhow::Result<RootLock> {
    RootLock::try_acquire(&local.games, id, &catalog(local)?)?
        .ok_or_else(|| anyhow::anyhow!("{id} is busy: another LanSpread process is working on it; nothing was changed"))
}

pub async fn install(id: &str, local: &LocalGames, json: bool) -> anyhow::Result<i32> {
    let lock = lock_root(local, id)?;
    install_after(lock, json, &local.faults).await
}

/// Installs the downloaded game whose root `lock` holds (a download may
/// hand its lock on); Ctrl-C cancels it and keeps the previous state.
pub async fn install_after(lock: RootLock, json: bool, faults: &Faults) -> anyhow::Result<i32> {
    let (cancel, signals) = report::cancel_on_stop();
    let id = lock.id().to_owned();
    let (task_cancel, faults) = (cancel.clone(), faults.clone());
    let result = tokio::task::spawn_blocking(move || {
        let mut reporter = Reporter::new(json, format!("{} install", lock.id()), 0);
        let result = install::install(&lock, &mut |p| reporter.progress(&p), &task_cancel, &faults);
        reporter.finish();
        result
    })
    .await?;
    signals.abort();
    report_install(&id, result, json)
}

/// Says how the install of `id` ended; the exit code to end with.
pub fn report_install(
    id: &str,
    result: Result<install::InstallReport, InstallError>,
    json: bool,
) -> anyhow::Result<i32> {
    match result {
        Ok(report) => {
            let what = if report.updated { "updated" } else { "installed" };
            if json {
                let (version, bytes, items) = (report.version.as_str(), report.bytes, report.items);
                let archive_bytes_read = report.archive_bytes_read;
                report::json(&if report.updated {
                    JsonLine::Updated { id, version, bytes, items, archive_bytes_read }
                } else {
                    JsonLine::Installed { id, version, bytes, items, archive_bytes_read }
                });
            } else {
                report::say(format_args!("{what} {id} {}: {} in local/", report.version, format_size(report.bytes)));
            }
            Ok(exit::SUCCESS)
        }
        Err(e) => {
            if json {
                report::json(&JsonLine::InstallFailed { id, reason: e.to_string() });
            }
            if matches!(e, InstallError::Cancelled) {
                if !report::output_gone() {
                    eprintln!("error: {e}");
                }
                return Ok(exit::INTERRUPTED);
            }
            Err(anyhow::anyhow!("cannot install {id}: {e}"))
        }
    }
}

pub fn uninstall(id: &str, local: &LocalGames) -> anyhow::Result<i32> {
    let lock = lock_root(local, id)?;
    if install::uninstall(&lock, &local.faults).map_err(|e| anyhow::anyhow!("cannot uninstall {id}: {e}"))? {
        report::say(format_args!("uninstalled {id}; its downloaded files are kept"));
    } else {
        report::say(format_args!("{id} is not installed; nothing to do"));
    }
    Ok(exit::SUCCESS)
}

pub fn remove(id: &str, local: &LocalGames) -> anyhow::Result<i32> {
    let lock = lock_root(local, id)?;
    let root = lock.root().to_owned();
    install::remove_downloaded(&lock, &local.faults).map_err(|e| anyhow::anyhow!("cannot remove {id}: {e}"))?;
    forget_hashes(local, &root);
    report::say(format_args!("removed {}", root.display()));
    Ok(exit::SUCCESS)
}

/// Drops the removed root's files from the node's hash index.
fn forget_hashes(local: &LocalGames, root: &Path) {
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

pub fn recover(local: &LocalGames) -> anyhow::Result<i32> {
    let catalog = catalog(local)?;
    let outcomes = install::recover_game_dir(&local.games, &catalog, &BTreeSet::new());
    if outcomes.is_empty() {
        report::say(format_args!("nothing to recover in {}", local.games.display()));
    }
    let mut failed = false;
    for (id, outcome) in outcomes {
        match outcome {
            Ok(done) => report::say(format_args!("{id}: {done}")),
            Err(e) => {
                failed = true;
                eprintln!("error: cannot recover {id}: {e}");
            }
        }
    }
    Ok(if failed { exit::FAILURE } else { exit::SUCCESS })
}
