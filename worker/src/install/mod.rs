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

use std::cell::Cell;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use lanspread_proto::ipc::{FailureKind, Phase, Progress};
use lanspread_proto::peer::GameManifest;
use lanspread_proto::units::format_size;
use tokio_util::sync::CancellationToken;

use crate::download::progress::{PROGRESS_INTERVAL, SpeedMeter, eta_secs};
use crate::faults::Faults;
use crate::library::lock::RootLock;
use crate::library::root::RootError;
use crate::library::scan::{self, VERSION_FILE};
use crate::platform::fs::available_space;
use payload::ArchiveReads;
pub use payload::PayloadGate;
use plan::{Refusal, RootFacts};
pub use recovery::{Recovery, recover_game_dir, recover_root};
use staging::{Budget, Staging};

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
    /// A compressed tarball, which declares nothing, unpacked to more than
    /// the room there was.
    #[error("not enough free space in {path}: the game unpacks to more than the {} free; nothing was installed", format_size(*available))]
    NoRoom { path: String, available: u64 },
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
            InstallError::NoSpace { .. } | InstallError::NoRoom { .. } => FailureKind::NoSpace,
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
    /// Bytes read from the archives (each is read once).
    pub archive_bytes_read: u64,
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
    let game = scan::scan_game_root(game_dir, id)?.ok_or_else(|| InstallError::NotDownloaded(id.to_owned()))?;
    let measured = measure(&game, ArchiveReads::default())?;
    apply_install(root, id, measured, transaction::read_facts(root), progress, cancel, faults)
}

/// Installs the game whose download into `root` (under the lock the
/// download holds) runs meanwhile, as [`install`] does, its payload read
/// through `gate` as the bytes become verified, in archive order; the
/// unpacked game replaces `local/` only once the download is committed.
/// The download reports the progress.
pub fn install_streamed(
    root: &Path,
    manifest: &GameManifest,
    gate: Arc<dyn PayloadGate>,
    cancel: &CancellationToken,
    faults: &Faults,
) -> Result<InstallReport, InstallError> {
    recover_root(root)?;
    let measured = measure(&game_of(root, manifest), ArchiveReads::gated(gate))?;
    // Downloaded by the time the swap comes: the unpack waits for the commit.
    let facts = RootFacts { downloaded: true, ..transaction::read_facts(root) };
    apply_install(root, &manifest.id, measured, facts, &mut |_| {}, cancel, faults)
}

/// The game `manifest` describes as a scan of `root` will find it once
/// downloaded.
fn game_of(root: &Path, manifest: &GameManifest) -> scan::ScannedGame {
    let mut files: Vec<scan::PayloadFile> = manifest
        .files
        .iter()
        .map(|f| scan::PayloadFile {
            rel: f.path.clone(),
            abs: f.path.split('/').fold(root.to_owned(), |path, part| path.join(part)),
            size: f.size,
            mtime_ns: 0,
        })
        .collect();
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    let version = Some(manifest.version.clone());
    scan::ScannedGame { id: manifest.id.clone(), version, installed: false, installed_version: None, files }
}

/// Checks the room for `measured`, plans the install from `facts` and
/// carries it out; on a failure, undoes what it did.
fn apply_install(
    root: &Path,
    id: &str,
    Measured { version, items, sizes, total, reads }: Measured,
    facts: RootFacts,
    progress: &mut dyn FnMut(Progress),
    cancel: &CancellationToken,
    faults: &Faults,
) -> Result<InstallReport, InstallError> {
    let available = available_space(root)?;
    // Plain files cloned where the filesystem clones take no room.
    let copied: u64 = items.iter().filter(|i| i.kind == payload::Kind::Copy).map(|i| i.size).sum();
    let free_copies = if copied > 0 && staging::clones_files(root) { copied } else { 0 };
    // A download still running takes its share of the room first.
    let to_come = reads.gate().map_or(0, PayloadGate::bytes_to_come);
    let needed = (total - free_copies).saturating_add(to_come);
    if available < needed {
        return Err(InstallError::NoSpace { path: root.display().to_string(), needed, available });
    }
    // A compressed tarball declares nothing: what it unpacks to is bounded
    // by the room on the disk instead.
    let budget = match sizes.iter().any(Option::is_none) {
        true => {
            Budget::Room { bytes: (available + free_copies).saturating_sub(to_come), path: root.display().to_string() }
        }
        false => Budget::Declared(total),
    };
    let updated = facts.local.is_folder();
    let mut steps = plan::install(&facts, &version).map_err(|_| InstallError::NotDownloaded(id.to_owned()))?;
    // Beside a download, a game still running (its files held on Windows)
    // is looked for only before the swap, as after a download: the update
    // may well be ready by the time the game is closed.
    if reads.gate().is_some() && matches!(steps.first(), Some(plan::Action::CheckFree(_))) {
        steps.remove(0);
    }
    let mut bytes = 0;
    let mut unpack = |staging: &Path| {
        let sizes = Sizes { each: &sizes, total, budget: budget.clone() };
        bytes = unpack_all(id, &items, sizes, staging, &reads, progress, cancel)?;
        match reads.gate() {
            Some(gate) => gate.committed().map_err(|_| InstallError::Cancelled),
            None => Ok(()),
        }
    };
    if let Err(e) = transaction::apply(root, &steps, &mut unpack, faults) {
        // Undo (or finish) now rather than at the next start.
        if let Err(undo) = recover_root(root) {
            tracing::warn!("{}: {undo}; the next start recovers it", root.display());
        }
        return Err(e);
    }
    Ok(InstallReport { version, updated, bytes, items: items.len(), archive_bytes_read: reads.get() })
}

/// A downloaded game's payload, in install order, with the bytes each
/// item declares it unpacks to (`None`: a compressed tarball, which
/// declares nothing), and what they take at least: those bytes, and a
/// compressed tarball's own size.
struct Measured {
    version: String,
    items: Vec<payload::Item>,
    sizes: Vec<Option<u64>>,
    total: u64,
    /// The bytes read from the archives so far.
    reads: ArchiveReads,
}

/// What installing `game` takes, its archives read through `reads`.
fn measure(game: &scan::ScannedGame, reads: ArchiveReads) -> Result<Measured, InstallError> {
    let version = game.version.clone().ok_or_else(|| InstallError::NotDownloaded(game.id.clone()))?;
    let items = payload::plan(game)?;
    let sizes = items.iter().map(|i| formats::unpacked_size(i, &reads)).collect::<Result<Vec<_>, _>>()?;
    let total = items.iter().zip(&sizes).fold(0u64, |sum, (item, size)| sum.saturating_add(size.unwrap_or(item.size)));
    Ok(Measured { version, items, sizes, total, reads })
}

/// The bytes an install's items declare, what they take at least, and how
/// many it may write.
#[derive(Debug, Clone)]
struct Sizes<'a> {
    each: &'a [Option<u64>],
    total: u64,
    budget: Budget,
}

/// Where the progress of the item being unpacked starts. A compressed
/// tarball, which declares no size, moves the bar by the bytes read from it.
#[derive(Debug, Clone, Copy, Default)]
struct ItemStart {
    done: u64,
    unpacked: u64,
    reads: u64,
    /// The compressed size of a tarball counted by its reads.
    by_reads: Option<u64>,
}

/// What installing a downloaded game takes, told before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallEstimate {
    pub version: String,
    /// Bytes its payload unpacks to, at least (a clone of a plain file may
    /// take none of them, see [`staging::Staging::clone_or_copy`]; a
    /// compressed tarball counts at its own size).
    pub bytes: u64,
    /// Bytes free where it goes.
    pub available: u64,
}

/// Measures what installing `id` (downloaded in `game_dir`) takes, the way
/// an install does before it writes anything: archive indexes are read (a
/// compressed tarball, which has none, counts at its own size), nothing is
/// written. `game_dir` and `id` must have
/// passed [`crate::library::root::checked_root`].
pub fn estimate(game_dir: &Path, id: &str) -> Result<InstallEstimate, InstallError> {
    let game = scan::scan_game_root(game_dir, id)?.ok_or_else(|| InstallError::NotDownloaded(id.to_owned()))?;
    let Measured { version, total, .. } = measure(&game, ArchiveReads::default())?;
    let available = available_space(&game_dir.join(id))?;
    Ok(InstallEstimate { version, bytes: total, available })
}

fn unpack_all(
    id: &str,
    items: &[payload::Item],
    Sizes { each: sizes, total, budget }: Sizes<'_>,
    staging_dir: &Path,
    reads: &ArchiveReads,
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
    let item_start = Cell::new(ItemStart::default());
    let mut tick = |unpacked: u64| {
        let start = item_start.get();
        let moved = match start.by_reads {
            Some(size) => (reads.get() - start.reads).min(size),
            None => unpacked - start.unpacked,
        };
        report(start.done + moved, false);
        !cancel.is_cancelled()
    };
    let mut staging = Staging::new(staging_dir.to_path_buf(), budget, reads.clone(), &mut tick);
    let mut done = 0u64;
    for (item, size) in items.iter().zip(sizes) {
        if cancel.is_cancelled() {
            return Err(InstallError::Cancelled);
        }
        let by_reads = size.is_none().then_some(item.size);
        item_start.set(ItemStart { done, unpacked: staging.unpacked(), reads: reads.get(), by_reads });
        formats::unpack(item, size.unwrap_or(0), &mut staging)?;
        done = done.saturating_add(size.unwrap_or(item.size));
    }
    let bytes = staging.unpacked();
    drop(staging);
    staging::check_links(staging_dir)?;
    // Every file unpacked reaches the disk before the swap.
    crate::platform::fs::sync_filesystem(staging_dir)?;
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
