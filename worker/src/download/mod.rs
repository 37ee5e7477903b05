//! Downloading a game from every peer that has its newest version.
//!
//! The transaction, in a game root:
//! 1. Check the manifest (safe relative paths, sane sizes) and the free
//!    space, before anything is written.
//! 2. Park an old `version.ini` as `.version.ini.discarded`: from here on the
//!    game does not look downloaded.
//! 3. Pre-size every file; chunks are written at their offsets, so peers fill
//!    different regions of one file without touching the others.
//! 4. Keep what is here: a rerun of the same download re-checks the chunks
//!    its journal names; otherwise every chunk the files here already hold
//!    (an older version's, see [`reuse`]) is kept in place or copied.
//! 5. Keep a journal (`.lanspread-download`: the manifest, then a record per
//!    chunk as it is written and verified, synced every
//!    [`journal::SYNC_INTERVAL`]) and fetch the rest.
//! 6. Payload files the manifest does not name (left by an older version)
//!    are removed; `version.ini`, held in memory, is committed last (temp
//!    file, fsync, rename), after every other file is synced.
//!
//! # Layout
//! - [`planner`]: who fetches which chunk (plain logic).
//! - [`storage`]: the files of the root, positioned writes, manifest checks.
//! - [`journal`]: the resume journal.
//! - [`reuse`]: chunks an update finds in the files already here.
//! - [`transfer`]: the loop that runs the planner over QUIC connections.
//! - [`follow`]: the download's swarm: joining sources, meeting members.
//! - [`silence`]: peers that owe chunks and have gone quiet.
//! - [`progress`]: speed and ETA.

pub mod follow;
pub mod journal;
pub mod pieces;
pub mod planner;
pub mod progress;
pub mod reuse;
pub mod silence;
pub mod storage;
pub mod transfer;
pub mod verified;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanspread_proto::PeerId;
use lanspread_proto::ipc::{FailureKind, Phase, Progress};
use lanspread_proto::peer::GameManifest;
use lanspread_proto::units::format_size;
use tokio_util::sync::CancellationToken;

use crate::discovery::access::GameSources;
use crate::library::scan::VERSION_FILE;
use crate::net::client::PeerConnection;
use crate::platform::fs::annotate;
use crate::trust::{self, Agreement};
use journal::Journal;
use planner::{ChunkRef, Wanted};
use reuse::ReusePlan;
use storage::Storage;

/// Where an old sentinel waits while its game is downloaded again.
pub const VERSION_DISCARDED: &str = ".version.ini.discarded";
/// The sentinel being committed.
pub const VERSION_TMP: &str = ".version.ini.tmp";

/// Why a download stopped.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("the peers' file list is unusable: {0}")]
    BadManifest(#[from] storage::ManifestError),
    #[error("{root}: not the root of the game {id}")]
    WrongRoot { root: String, id: String },
    #[error("not enough free space in {path}: the download needs {} more, {} is free", format_size(*needed), format_size(*available))]
    NoSpace { path: String, needed: u64, available: u64 },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the download was cancelled; run it again to resume")]
    Cancelled,
    #[error("{0}")]
    NoPeers(String),
    /// The peers whose file list counts disagree (see [`trust::NoAgreement::Disagreement`]).
    #[error("{0}")]
    Disagreement(String),
}

impl DownloadError {
    /// What kind of failure this is, for the UI to act on.
    pub fn kind(&self) -> FailureKind {
        match self {
            DownloadError::NoPeers(_) => FailureKind::NoPeers,
            DownloadError::Disagreement(_) => FailureKind::Disagreement,
            DownloadError::BadManifest(_) | DownloadError::WrongRoot { .. } => FailureKind::Refused,
            DownloadError::NoSpace { .. } => FailureKind::NoSpace,
            DownloadError::Io(e) => FailureKind::of_io(e),
            DownloadError::Cancelled => FailureKind::Cancelled,
        }
    }
}

/// What a finished download did.
#[derive(Debug)]
pub struct DownloadReport {
    pub bytes_total: u64,
    /// Bytes found verified on disk: from an earlier attempt, or chunks of
    /// the version that was here (kept in place or copied).
    pub bytes_reused: u64,
    /// Bytes fetched from each peer.
    pub per_peer: Vec<(PeerId, u64)>,
    /// Peers that stopped being used, and why.
    pub dropped: Vec<(PeerId, String)>,
    /// Requests sent: a chunk or a run of small files each.
    pub requests: u64,
    pub elapsed: Duration,
    /// How the install that ran along with the download ended, when one did.
    pub installed: Option<Result<crate::install::InstallReport, crate::install::InstallError>>,
}

impl DownloadReport {
    pub fn bytes_fetched(&self) -> u64 {
        self.per_peer.iter().map(|(_, b)| b).sum()
    }
}

/// Downloads `manifest` into `root` (from [`checked_root`], under its
/// lock) from `peers` and, with a `swarm`, from other nodes fetching the
/// same file list, serving them what it verified meanwhile. With `install`
/// (the faults it may be told to simulate), the game is installed as its
/// bytes come ([`install::install_streamed`]), ready once the download is.
/// A manifest of another game than the root's is refused.
///
/// [`checked_root`]: crate::library::root::checked_root
pub async fn download(
    root: &Path,
    manifest: GameManifest,
    peers: Vec<PeerConnection>,
    (swarm, install): (Option<follow::SwarmLink>, Option<crate::faults::Faults>),
    mut progress: impl FnMut(Progress) + Send,
    cancel: CancellationToken,
) -> Result<DownloadReport, DownloadError> {
    let started = Instant::now();
    storage::check_manifest(&manifest)?;
    let wrong_root = || DownloadError::WrongRoot { root: root.display().to_string(), id: manifest.id.clone() };
    let (Some(game_dir), Some(id)) = (root.parent(), root.file_name()) else {
        return Err(wrong_root());
    };
    if id != manifest.id.as_str() {
        return Err(wrong_root());
    }
    let total = manifest.total_size();

    let here = find_what_is_here(root, &manifest, &mut progress, &cancel).await?;
    if cancel.is_cancelled() {
        return Err(DownloadError::Cancelled);
    }
    let needed = total.saturating_sub(here.bytes(&manifest));
    let available = crate::platform::fs::available_space(game_dir)?;
    if available < needed {
        return Err(DownloadError::NoSpace { path: game_dir.display().to_string(), needed, available });
    }

    std::fs::create_dir_all(root).map_err(|e| annotate(root, e))?;
    park_old_version(root)?;
    let storage = Arc::new(Storage::open(root, &manifest)?);
    let (verified, journal) = keep_what_is_here(here, root, &manifest, &storage, &cancel).await?;
    let bytes_reused: u64 = verified.iter().map(|c| storage::chunk_len(&manifest, *c)).sum();
    progress(progress_of(&manifest, Phase::Checking, bytes_reused, 0, None, Vec::new()));
    let wanted: Vec<Wanted> = storage::all_chunks(&manifest)
        .filter(|c| !verified.contains(c))
        .map(|chunk| Wanted { chunk, len: storage::chunk_len(&manifest, chunk) })
        .collect();

    let (pieces, wanted) = pieces::Pieces::group(&manifest, &wanted);
    let unpacking = install.map(|faults| StreamedInstall::start(root, &manifest, &storage, &verified, faults, &cancel));
    let gate = unpacking.as_ref().map(|u| u.verified.clone());
    let target =
        Arc::new(transfer::Target::new(Arc::new(manifest.clone()), pieces, storage.clone(), journal.clone(), gate));
    let transferred = transfer::run(target, peers, wanted, bytes_reused, swarm, &mut progress, &cancel).await;
    let committed = match transferred {
        Ok(transferred) => {
            progress(progress_of(&manifest, Phase::Committing, total, total, None, Vec::new()));
            let committed = manifest.clone();
            match blocking(move || storage.commit(&committed)).await {
                Ok(Ok(())) => Ok(transferred),
                Ok(Err(e)) | Err(e) => Err(DownloadError::Io(e)),
            }
        }
        Err(e) => {
            let _ = journal.sync();
            let _ = std::fs::remove_file(root.join(VERSION_TMP));
            // The old sentinel is not restored: its files may be overwritten.
            let _ = std::fs::remove_file(root.join(VERSION_DISCARDED));
            Err(e)
        }
    };
    let installed = match unpacking {
        Some(unpacking) => Some(unpacking.end(committed.is_ok()).await),
        None => None,
    };
    let transfer::Transferred { per_peer, dropped, requests } = committed?;
    journal.remove();
    let _ = std::fs::remove_file(root.join(VERSION_DISCARDED));
    let elapsed = started.elapsed();
    Ok(DownloadReport { bytes_total: total, bytes_reused, per_peer, dropped, requests, elapsed, installed })
}

/// An install running along with its download; dropped before its end (a
/// download task aborted), it is told the download stopped, so it undoes
/// what it unpacked instead of waiting for bytes that never come.
struct StreamedInstall {
    verified: Arc<verified::Verified>,
    task: Option<tokio::task::JoinHandle<Result<crate::install::InstallReport, crate::install::InstallError>>>,
}

impl Drop for StreamedInstall {
    fn drop(&mut self) {
        self.verified.ended(false);
    }
}

impl StreamedInstall {
    /// Starts installing `manifest` into `root` from what `storage` holds
    /// verified (`here`, then each chunk as the download verifies it).
    fn start(
        root: &Path,
        manifest: &GameManifest,
        storage: &Storage,
        here: &BTreeSet<ChunkRef>,
        faults: crate::faults::Faults,
        cancel: &CancellationToken,
    ) -> StreamedInstall {
        let verified = Arc::new(verified::Verified::new(manifest, storage, here.iter().copied()));
        let gate: Arc<dyn crate::install::PayloadGate> = verified.clone();
        let (root, manifest, cancel) = (root.to_owned(), manifest.clone(), cancel.clone());
        let task = tokio::task::spawn_blocking(move || {
            crate::install::install_streamed(&root, &manifest, gate, &cancel, &faults)
        });
        StreamedInstall { verified, task: Some(task) }
    }

    /// Tells the install how the download ended (`committed`, or stopped)
    /// and waits for it: it swaps the game in, or undoes what it unpacked.
    async fn end(mut self, committed: bool) -> Result<crate::install::InstallReport, crate::install::InstallError> {
        self.verified.ended(committed);
        let Some(task) = self.task.take() else { return Err(crate::install::InstallError::Cancelled) };
        task.await.unwrap_or_else(|e| Err(crate::install::InstallError::Io(std::io::Error::other(e))))
    }
}

/// What may already be in a root before its download starts.
struct Here {
    /// Chunks an earlier attempt's journal names, to be checked on disk.
    candidates: BTreeSet<ChunkRef>,
    /// Chunks of an older version's files (see [`reuse`]).
    reuse: ReusePlan,
}

impl Here {
    /// Bytes that will not need new room on the disk.
    fn bytes(&self, manifest: &GameManifest) -> u64 {
        self.candidates.iter().chain(&self.reuse.in_place).map(|c| storage::chunk_len(manifest, *c)).sum()
    }
}

/// A rerun of the same download re-checks what its journal names; any
/// other download (an update, or a first one into a root with files) looks
/// for its chunks in the files that are there. Nothing is written.
async fn find_what_is_here(
    root: &Path,
    manifest: &GameManifest,
    progress: &mut impl FnMut(Progress),
    cancel: &CancellationToken,
) -> std::io::Result<Here> {
    if let Some(resume) = Journal::load(root).filter(|r| r.manifest == *manifest) {
        return Ok(Here { candidates: resume.candidates, reuse: ReusePlan::default() });
    }
    progress(progress_of(manifest, Phase::Checking, 0, 0, None, Vec::new()));
    let game_dir = root.parent().unwrap_or(root).to_owned();
    let (manifest, cancel) = (manifest.clone(), cancel.clone());
    let reuse = blocking(move || reuse::plan(&game_dir, &manifest, &cancel)).await??;
    Ok(Here { candidates: BTreeSet::new(), reuse })
}

/// Checks the journal's chunks on disk, starts the journal with them and
/// the chunks in place, and copies the chunks found elsewhere. Returns
/// every chunk that is here and the journal.
async fn keep_what_is_here(
    here: Here,
    root: &Path,
    manifest: &GameManifest,
    storage: &Arc<Storage>,
    cancel: &CancellationToken,
) -> Result<(BTreeSet<ChunkRef>, Arc<Journal>), DownloadError> {
    let Here { candidates, reuse } = here;
    let mut verified = {
        let (storage, manifest) = (storage.clone(), manifest.clone());
        let candidates: Vec<ChunkRef> = candidates.into_iter().collect();
        blocking(move || storage.verify_existing(&manifest, &candidates)).await?
    };
    verified.extend(reuse.in_place);
    let journal = Arc::new(Journal::create(root, manifest, verified.iter().copied())?);
    if !reuse.copies.is_empty() {
        let (storage, manifest, journal, cancel) = (storage.clone(), manifest.clone(), journal.clone(), cancel.clone());
        let copies = reuse.copies;
        let copied =
            blocking(move || reuse::copy(&manifest, &storage, &copies, &cancel, |chunk| journal.verified(chunk)))
                .await??;
        verified.extend(copied);
    }
    Ok((verified, journal))
}

/// Runs file work on the blocking pool.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(std::io::Error::other)
}

/// Moves an old `version.ini` aside so the game stops looking downloaded.
fn park_old_version(root: &Path) -> std::io::Result<()> {
    let current = root.join(VERSION_FILE);
    match std::fs::symlink_metadata(&current) {
        Ok(meta) if meta.is_file() => {
            std::fs::rename(&current, root.join(VERSION_DISCARDED)).map_err(|e| annotate(&current, e))
        }
        Ok(_) => Err(annotate(&current, std::io::Error::other("not a regular file"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(annotate(&current, e)),
    }
}

pub(crate) fn progress_of(
    manifest: &GameManifest,
    phase: Phase,
    bytes_done: u64,
    bytes_per_sec: u64,
    eta_secs: Option<u64>,
    peers: Vec<lanspread_proto::ipc::PeerSpeed>,
) -> Progress {
    Progress {
        id: manifest.id.clone(),
        phase,
        bytes_done,
        bytes_total: manifest.total_size(),
        bytes_per_sec,
        eta_secs,
        peers,
    }
}

/// How far a download that stopped in `root` got, from its journal: the
/// bytes of the chunks it wrote (each is checked again when it resumes).
pub fn partial_download(root: &Path) -> Option<lanspread_proto::ipc::PartialDownload> {
    let resume = Journal::load(root)?;
    let manifest = &resume.manifest;
    // Our own file, but a file on disk: its sizes are checked before they are added.
    storage::check_manifest(manifest).ok()?;
    let bytes_done = resume.candidates.iter().map(|&chunk| storage::chunk_len(manifest, chunk)).sum();
    Some(lanspread_proto::ipc::PartialDownload {
        version: manifest.version.clone(),
        bytes_done,
        bytes_total: manifest.total_size(),
    })
}

/// The file list that counts for a game (see [`trust::agree`]) and the
/// connections of the peers that have it. Peers that failed or disagree
/// are reported and closed; `Err` says why no list counts.
pub fn agree_on_manifest(sources: GameSources) -> Result<Agreement<PeerConnection>, trust::NoAgreement> {
    let mut answers = Vec::new();
    for (peer, result) in sources.answers {
        match result {
            Err(e) => tracing::warn!("peer {}: {e}", peer.short()),
            Ok((conn, manifest)) => answers.push(trust::Answer { peer, ip: conn.addr.ip(), conn, manifest }),
        }
    }
    match trust::agree(&sources.choice, answers) {
        Ok(mut agreement) => {
            for (peer, conn) in std::mem::take(&mut agreement.rejected) {
                let whose = if agreement.trusted { "the trusted peers'" } else { "the other peers'" };
                tracing::warn!("peer {}: its file list differs from {whose}; not using it", peer.short());
                conn.close();
            }
            Ok(agreement)
        }
        Err((why, conns)) => {
            for conn in conns {
                conn.close();
            }
            Err(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use lanspread_proto::peer::FileEntry;

    use super::*;

    fn manifest(sizes: &[u64]) -> GameManifest {
        let mut files: Vec<FileEntry> = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| FileEntry {
                path: format!("f{i}"),
                size,
                chunks: vec![[0; 32]; size.div_ceil(4) as usize],
            })
            .collect();
        files.push(FileEntry { path: VERSION_FILE.into(), size: 2, chunks: vec![[0; 32]] });
        GameManifest { id: "g".into(), version: "1".into(), chunk_size: 4, files }
    }

    /// A journal is a file on disk: one whose file list lies (sizes that
    /// add up past 16 EiB, a path out of the root) reports no progress
    /// instead of overflowing or being believed.
    #[test]
    fn a_stopped_download_reports_its_written_chunks_and_a_lying_journal_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let chunk = ChunkRef { file: 0, chunk: 1 };
        Journal::create(dir.path(), &manifest(&[10]), [chunk]).unwrap();
        let partial = partial_download(dir.path()).unwrap();
        assert_eq!((partial.version.as_str(), partial.bytes_done, partial.bytes_total), ("1", 4, 12));

        let mut lying = manifest(&[]);
        lying.files.push(FileEntry { path: "huge".into(), size: u64::MAX, chunks: Vec::new() });
        lying.files.push(FileEntry { path: "huge2".into(), size: u64::MAX, chunks: Vec::new() });
        Journal::create(dir.path(), &lying, []).unwrap();
        assert_eq!(partial_download(dir.path()), None);
        let mut outside = manifest(&[4]);
        outside.files[0].path = "../escape".into();
        Journal::create(dir.path(), &outside, []).unwrap();
        assert_eq!(partial_download(dir.path()), None);
    }
}
