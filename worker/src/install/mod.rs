//! Install transactions: unpack a downloaded game into `local/`, update it,
//! uninstall it, remove its downloaded files, and recover from a crash at
//! any step of these.
//!
//! # Goals
//! - A game is never left looking installed with a half-written `local/`:
//!   unpacking goes to `.local.installing/`, which becomes `local/` by one
//!   rename. An update keeps the old `local/` working (moved to
//!   `.local.backup/` only for the swap) until the new one is whole.
//! - Every step is named first in the intent log ([`intent`]), so recovery
//!   after kill -9 or power loss knows whether to undo (an unfinished
//!   unpack) or finish (a committed update's cleanup, an uninstall, a
//!   removal).
//! - Only what is provably ours is deleted: a reserved directory when the
//!   intent log names it or its `.lanspread_owned` marker is inside.
//! - Bad archives (`..`, absolute paths, drive prefixes, links out) are
//!   refused with nothing written outside `.local.installing/`.
//!
//! # Non-goals
//! - Resuming a half-done unpack: it is cheap to start again from the
//!   archives, which stay untouched.
//!
//! Callers hold the root's [`RootLock`] for the whole operation; the
//! functions take it as a parameter to make that visible.
//!
//! # Layout
//! - [`plan`]: every transaction (install, update, uninstall, removal,
//!   recovery) as steps planned from the facts on disk, plain logic;
//!   `transaction` carries them out.
//! - [`intent`]: the atomic intent log.
//! - `payload`: which archives and files make up the install, in order.
//! - `staging`: the checked writer every format unpacks through.
//! - `formats`: zip, 7z and tarballs; `external`: RAR via an unpacker.

mod external;
mod formats;
pub mod intent;
mod payload;
pub mod plan;
mod recovery;
mod staging;
mod transaction;

use std::io;
use std::path::Path;
use std::time::Instant;

use lanspread_proto::ipc::{FailureKind, Phase, Progress};
use lanspread_proto::units::format_size;
use tokio_util::sync::CancellationToken;

use crate::download::progress::{PROGRESS_INTERVAL, SpeedMeter, eta_secs};
use crate::faults::Faults;
use crate::library::lock::RootLock;
use crate::library::root::RootError;
use crate::library::scan::{self, VERSION_FILE};
use crate::platform::fs::available_space;
use plan::Refusal;
pub use recovery::{Recovery, recover_game_dir, recover_root};
use staging::Staging;

/// Where a new install is unpacked before it becomes `local/`.
pub const STAGING_DIR: &str = ".local.installing";
/// Where the old `local/` waits during an update's swap (and an uninstall).
pub const BACKUP_DIR: &str = ".local.backup";
/// Proves a reserved directory is LanSpread's, so recovery may delete it.
pub const OWNED_MARKER: &str = ".lanspread_owned";

/// Why an install, uninstall or removal did not happen.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{0} is not downloaded here (no version.ini at its root)")]
    NotDownloaded(String),
    #[error("{archive}: refused entry {entry:?}: {why}; nothing was installed")]
    UnsafeEntry { archive: String, entry: String, why: String },
    #[error("{archive}: {message}")]
    Archive { archive: String, message: String },
    #[error(
        "{archive}: a RAR archive needs an unpacker on PATH; install one of unrar, 7-Zip (7z) or bsdtar (libarchive-tools)"
    )]
    NoUnpacker { archive: String },
    #[error("not enough free space in {path}: the install needs {}, {} is free", format_size(*needed), format_size(*available))]
    NoSpace { path: String, needed: u64, available: u64 },
    /// A removal's guard said no; nothing was deleted.
    #[error("{0}")]
    Refused(String),
    #[error("{0}; nothing was changed")]
    Root(#[from] RootError),
    #[error("the install was cancelled; the previous state is kept")]
    Cancelled,
    #[error("the archives unpack to more than the {} they declare; nothing was installed", format_size(*declared))]
    OverBudget { declared: u64 },
    #[error("refused a link: {0}; nothing was installed")]
    UnsafeLink(String),
    /// Entries of the archives that cannot all be laid out (a file where a
    /// folder was, a hard link to nothing unpacked before it).
    #[error("{0}; nothing was installed")]
    EntryConflict(String),
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A file or folder of the install is open in another program.
    #[error("{0} is in use by another program (is the game running?): close it and try again; nothing was changed")]
    InUse(String),
}

impl InstallError {
    /// What kind of failure this is, for the UI to act on.
    pub fn kind(&self) -> FailureKind {
        match self {
            InstallError::NoSpace { .. } => FailureKind::NoSpace,
            InstallError::Archive { .. } | InstallError::NoUnpacker { .. } => FailureKind::Archive,
            InstallError::NotDownloaded(_)
            | InstallError::UnsafeEntry { .. }
            | InstallError::Refused(_)
            | InstallError::Root(_)
            | InstallError::OverBudget { .. }
            | InstallError::UnsafeLink(_)
            | InstallError::EntryConflict(_)
            | InstallError::InUse(_) => FailureKind::Refused,
            InstallError::Cancelled => FailureKind::Cancelled,
            InstallError::Io(e) => FailureKind::of_io(e),
        }
    }
}

/// A failed read or write at `path`.
fn io_at(path: &Path, e: io::Error) -> InstallError {
    InstallError::Io(crate::platform::fs::annotate(path, e))
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallReport {
    pub version: String,
    /// An older `local/` was replaced.
    pub updated: bool,
    /// Bytes written to `local/`.
    pub bytes: u64,
    /// Archives unpacked and files copied.
    pub items: usize,
}

/// Unpacks the downloaded game `id` into `local/`, replacing an existing
/// install only once the new one is whole. Progress comes at most every
/// [`PROGRESS_INTERVAL`]; `cancel` stops it and keeps the previous state.
pub fn install(
    lock: &RootLock,
    progress: &mut dyn FnMut(Progress),
    cancel: &CancellationToken,
    faults: &Faults,
) -> Result<InstallReport, InstallError> {
    let (game_dir, id, root) = (lock.game_dir(), lock.id(), lock.root());
    recover_root(root)?;
    let Measured { version, items, sizes, total } = measure(game_dir, id)?;
    let available = available_space(root)?;
    if available < total {
        return Err(InstallError::NoSpace { path: root.display().to_string(), needed: total, available });
    }
    let facts = transaction::read_facts(root);
    let updated = facts.local.is_folder();
    let steps = plan::install(&facts, &version).map_err(|_| InstallError::NotDownloaded(id.to_owned()))?;
    let mut bytes = 0;
    let mut unpack = |staging: &Path| {
        bytes = unpack_all(id, &items, &sizes, staging, total, progress, cancel)?;
        Ok(())
    };
    if let Err(e) = transaction::apply(root, &steps, &mut unpack, faults) {
        // Undo (or finish) now rather than at the next start.
        if let Err(undo) = recover_root(root) {
            tracing::warn!("{}: {undo}; the next start recovers it", root.display());
        }
        return Err(e);
    }
    Ok(InstallReport { version, updated, bytes, items: items.len() })
}

/// A downloaded game's payload, in install order, with the bytes each
/// item and all of them unpack to.
struct Measured {
    version: String,
    items: Vec<payload::Item>,
    sizes: Vec<u64>,
    total: u64,
}

fn measure(game_dir: &Path, id: &str) -> Result<Measured, InstallError> {
    let game = scan::scan_game_root(game_dir, id)?.ok_or_else(|| InstallError::NotDownloaded(id.to_owned()))?;
    let version = game.version.clone().ok_or_else(|| InstallError::NotDownloaded(id.to_owned()))?;
    let items = payload::plan(&game)?;
    let sizes = items.iter().map(formats::unpacked_size).collect::<Result<Vec<u64>, _>>()?;
    let total = sizes.iter().fold(0u64, |sum, size| sum.saturating_add(*size));
    Ok(Measured { version, items, sizes, total })
}

/// What installing a downloaded game takes, told before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallEstimate {
    pub version: String,
    /// Bytes its payload unpacks to (a clone of a plain file may take
    /// none of them, see [`staging::Staging::clone_or_copy`]).
    pub bytes: u64,
    /// Bytes free where it goes.
    pub available: u64,
}

/// Measures what installing `id` (downloaded in `game_dir`) takes, the way
/// an install does before it writes anything: archive indexes are read (a
/// tarball through), nothing is written. `game_dir` and `id` must have
/// passed [`crate::library::root::checked_root`].
pub fn estimate(game_dir: &Path, id: &str) -> Result<InstallEstimate, InstallError> {
    let Measured { version, total, .. } = measure(game_dir, id)?;
    let available = available_space(&game_dir.join(id))?;
    Ok(InstallEstimate { version, bytes: total, available })
}

fn unpack_all(
    id: &str,
    items: &[payload::Item],
    sizes: &[u64],
    staging_dir: &Path,
    total: u64,
    progress: &mut dyn FnMut(Progress),
    cancel: &CancellationToken,
) -> Result<u64, InstallError> {
    let started = Instant::now();
    let mut meter = SpeedMeter::default();
    let mut last_report: Option<Instant> = None;
    let mut report = |done: u64, force: bool| {
        let now = Instant::now();
        if !force && last_report.is_some_and(|t| now.duration_since(t) < PROGRESS_INTERVAL) {
            return;
        }
        last_report = Some(now);
        meter.record(now, done);
        let speed = meter.bytes_per_sec();
        progress(Progress {
            id: id.to_owned(),
            phase: Phase::Installing,
            bytes_done: done.min(total),
            bytes_total: total,
            bytes_per_sec: speed,
            eta_secs: eta_secs(total.saturating_sub(done), speed),
            peers: Vec::new(),
        });
    };
    report(0, true);
    let mut tick = |done: u64| {
        report(done, false);
        !cancel.is_cancelled()
    };
    let mut staging = Staging::new(staging_dir.to_path_buf(), total, &mut tick);
    for (item, size) in items.iter().zip(sizes) {
        if cancel.is_cancelled() {
            return Err(InstallError::Cancelled);
        }
        formats::unpack(item, *size, &mut staging)?;
    }
    let bytes = staging.unpacked();
    drop(staging);
    staging::check_links(staging_dir)?;
    report(bytes, true);
    tracing::info!(
        "{id}: unpacked {} items, {} in {:.1} s",
        items.len(),
        format_size(bytes),
        started.elapsed().as_secs_f64()
    );
    Ok(bytes)
}

/// Removes `local/` and keeps the downloaded files. `Ok(false)` when the
/// game was not installed (nothing to do).
pub fn uninstall(lock: &RootLock, faults: &Faults) -> Result<bool, InstallError> {
    let root = lock.root();
    recover_root(root)?;
    let steps = plan::uninstall(&transaction::read_facts(root));
    transaction::apply(root, &steps, &mut |_| Ok(()), faults)?;
    Ok(!steps.is_empty())
}

/// Deletes the whole root of a downloaded, not installed game. Only a
/// catalogued direct child of the game directory that is a real folder
/// with a regular `version.ini` at its root qualifies; anything else is
/// refused with nothing deleted.
pub fn remove_downloaded(lock: &RootLock, faults: &Faults) -> Result<(), InstallError> {
    let (root, id) = (lock.root(), lock.id());
    recover_root(root)?;
    let version = scan::read_version(&root.join(VERSION_FILE));
    let steps = plan::remove(&transaction::read_facts(root), version).map_err(|refusal| match refusal {
        Refusal::Missing => InstallError::Refused(format!("{id} is not in {}", lock.game_dir().display())),
        // Checked when the lock was taken; a root that became a link since
        // is still never followed.
        Refusal::NotAFolder => RootError::Link(root.display().to_string()).into(),
        Refusal::Installed => {
            InstallError::Refused(format!("{id} is installed: uninstall it first; nothing was deleted"))
        }
        Refusal::NotDownloaded => InstallError::Refused(format!(
            "{}: no regular {VERSION_FILE} or download journal at its root, so it is no download; nothing was deleted",
            root.display()
        )),
    })?;
    transaction::apply(root, &steps, &mut |_| Ok(()), faults)
}
