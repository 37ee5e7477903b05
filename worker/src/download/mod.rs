//! Downloading a game from every peer that has its newest version.
//!
//! The transaction, in a game root:
//! 1. Check the manifest (safe relative paths, sane sizes) and the free
//!    space, before anything is written.
//! 2. Park an old `version.ini` as `.version.ini.discarded`: from here on the
//!    game does not look downloaded.
//! 3. Pre-size every file; chunks are written at their offsets, so peers fill
//!    different regions of one file without touching the others.
//! 4. Keep a journal (`.lanspread-download`: the manifest and the verified
//!    chunks, flushed every [`journal::FLUSH_INTERVAL`]). A rerun of the same
//!    download re-checks the journaled chunks on disk and fetches the rest.
//! 5. Payload files the manifest does not name (left by an older version)
//!    are removed; `version.ini`, held in memory, is committed last (temp
//!    file, fsync, rename), after every other file is synced.
//!
//! # Layout
//! - [`planner`]: who fetches which chunk (plain logic).
//! - [`storage`]: the files of the root, positioned writes, manifest checks.
//! - [`journal`]: the resume journal.
//! - [`transfer`]: the loop that runs the planner over QUIC connections.
//! - [`progress`]: speed and ETA.

pub mod journal;
pub mod planner;
pub mod progress;
pub mod storage;
pub mod transfer;

use std::path::Path;
use std::time::{Duration, Instant};

use lanspread_proto::PeerId;
use lanspread_proto::ipc::{Phase, Progress};
use lanspread_proto::peer::GameManifest;
use lanspread_proto::units::format_size;
use tokio_util::sync::CancellationToken;

use crate::library::scan::VERSION_FILE;
use crate::net::client::PeerConnection;
use crate::node::GameSources;
use crate::platform::fs::annotate;
use crate::trust::{self, Agreement};
use journal::Journal;
use planner::Wanted;
use storage::Storage;

/// Where an old sentinel waits while its game is downloaded again.
pub const VERSION_DISCARDED: &str = ".version.ini.discarded";
/// The sentinel being committed.
pub const VERSION_TMP: &str = ".version.ini.tmp";

/// Why a download stopped.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("the peers' file list is unusable: {0}")]
    BadManifest(String),
    #[error("not enough free space in {path}: the download needs {} more, {} is free", format_size(*needed), format_size(*available))]
    NoSpace { path: String, needed: u64, available: u64 },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the download was cancelled; run it again to resume")]
    Cancelled,
    #[error("{0}")]
    NoPeers(String),
}

/// What a finished download did.
#[derive(Debug, Clone)]
pub struct DownloadReport {
    pub bytes_total: u64,
    /// Bytes found verified on disk from an earlier attempt.
    pub bytes_reused: u64,
    /// Bytes fetched from each peer.
    pub per_peer: Vec<(PeerId, u64)>,
    /// Peers that stopped being used, and why.
    pub dropped: Vec<(PeerId, String)>,
    pub elapsed: Duration,
}

impl DownloadReport {
    pub fn bytes_fetched(&self) -> u64 {
        self.per_peer.iter().map(|(_, b)| b).sum()
    }
}

/// Downloads `manifest` into `root` (from [`checked_root`], under its
/// lock) from `peers`. A manifest of another game than the root's is refused.
///
/// [`checked_root`]: crate::library::root::checked_root
pub async fn download(
    root: &Path,
    manifest: GameManifest,
    peers: Vec<PeerConnection>,
    mut progress: impl FnMut(Progress) + Send,
    cancel: CancellationToken,
) -> Result<DownloadReport, DownloadError> {
    let started = Instant::now();
    storage::check_manifest(&manifest).map_err(DownloadError::BadManifest)?;
    let (Some(game_dir), Some(id)) = (root.parent(), root.file_name()) else {
        return Err(DownloadError::BadManifest(format!("{}: not a game root", root.display())));
    };
    if id != manifest.id.as_str() {
        return Err(DownloadError::BadManifest(format!("it is the file list of another game, not {}", id.display())));
    }
    let total = manifest.total_size();

    let candidates = match Journal::load(root) {
        Some(journal) if journal.manifest == manifest => journal.verified,
        _ => Vec::new(),
    };
    let candidate_bytes: u64 = candidates.iter().map(|c| storage::chunk_len(&manifest, *c)).sum();
    let needed = total.saturating_sub(candidate_bytes);
    let available = crate::platform::fs::available_space(game_dir)?;
    if available < needed {
        return Err(DownloadError::NoSpace { path: game_dir.display().to_string(), needed, available });
    }

    std::fs::create_dir_all(root).map_err(|e| annotate(root, e))?;
    park_old_version(root)?;
    let storage = std::sync::Arc::new(Storage::open(root, &manifest)?);
    progress(progress_of(&manifest, Phase::Checking, 0, 0, None, Vec::new()));
    let verified = {
        let storage = storage.clone();
        let manifest = manifest.clone();
        tokio::task::spawn_blocking(move || storage.verify_existing(&manifest, &candidates))
            .await
            .map_err(std::io::Error::other)?
    };
    let bytes_reused: u64 = verified.iter().map(|c| storage::chunk_len(&manifest, *c)).sum();
    let mut journal = Journal::new(root, manifest.clone(), verified.iter().copied());
    journal.flush()?;
    let wanted: Vec<Wanted> = storage::all_chunks(&manifest)
        .filter(|c| !verified.contains(c))
        .map(|chunk| Wanted { chunk, len: storage::chunk_len(&manifest, chunk) })
        .collect();

    let outcome =
        transfer::run(&manifest, storage.clone(), peers, wanted, bytes_reused, &mut journal, &mut progress, &cancel)
            .await;
    let (per_peer, dropped) = match outcome {
        Ok(result) => result,
        Err(e) => {
            let _ = journal.flush();
            let _ = std::fs::remove_file(root.join(VERSION_TMP));
            // The old sentinel is not restored: its files may be overwritten.
            let _ = std::fs::remove_file(root.join(VERSION_DISCARDED));
            return Err(e);
        }
    };

    progress(progress_of(&manifest, Phase::Committing, total, total, None, Vec::new()));
    let commit = {
        let (storage, manifest) = (storage.clone(), manifest.clone());
        tokio::task::spawn_blocking(move || storage.commit(&manifest)).await.map_err(std::io::Error::other)?
    };
    commit?;
    journal.remove();
    let _ = std::fs::remove_file(root.join(VERSION_DISCARDED));
    Ok(DownloadReport { bytes_total: total, bytes_reused, per_peer, dropped, elapsed: started.elapsed() })
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

/// The file list that counts for a game (see [`trust::agree`]) and the
/// connections of the peers that have it. Peers that failed or disagree
/// are reported and closed; `Err` says why no list counts.
pub fn agree_on_manifest(sources: GameSources) -> Result<Agreement<PeerConnection>, String> {
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
