//! Runs the [`Planner`] over real connections: each request fetches one
//! chunk, checks its BLAKE3 hash, writes it at its offset (journaled first)
//! and reports back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lanspread_proto::PeerId;
use lanspread_proto::ipc::{PeerSpeed, Phase, Progress};
use lanspread_proto::peer::GameManifest;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::journal::Journal;
use super::planner::{Action, ChunkRef, Planner, Wanted};
use super::progress::{PROGRESS_INTERVAL, SpeedMeter, eta_secs};
use super::storage::Storage;
use super::{DownloadError, progress_of};
use crate::net::client::PeerConnection;
use crate::net::received::ReceivedChunk;

/// Bytes of received-chunk buffers kept for reuse: as many as may be in
/// flight (see [`super::planner::MAX_IN_FLIGHT_BYTES`]).
const MAX_SPARE_BUFFER_BYTES: usize = super::planner::MAX_IN_FLIGHT_BYTES as usize;

/// How one request ended.
enum Outcome {
    Verified,
    Corrupt,
    Failed { error: String, connection_lost: bool },
    WriteFailed(std::io::Error),
}

struct Finished {
    peer: PeerId,
    chunk: ChunkRef,
    outcome: Outcome,
    elapsed: Duration,
}

/// Fetches `wanted` into `target`; returns the bytes each peer delivered
/// and the peers that were dropped, with why.
pub(super) async fn run(
    target: Arc<Target>,
    peers: Vec<PeerConnection>,
    wanted: Vec<Wanted>,
    bytes_reused: u64,
    progress: &mut (impl FnMut(Progress) + Send),
    cancel: &CancellationToken,
) -> Result<(Vec<(PeerId, u64)>, Vec<(PeerId, String)>), DownloadError> {
    let manifest = target.manifest.clone();
    let conns: HashMap<PeerId, PeerConnection> = peers.into_iter().map(|c| (c.peer_id, c)).collect();
    // Chunks still missing per file: a finished file is flushed to disk at once.
    let mut missing = vec![0usize; manifest.files.len()];
    for w in &wanted {
        missing[w.chunk.file as usize] += 1;
    }
    let mut planner = Planner::new(wanted, u64::from(manifest.chunk_size), conns.keys().copied());
    let mut tasks: JoinSet<Finished> = JoinSet::new();
    let mut meter = SpeedMeter::default();
    let mut done_bytes = bytes_reused;
    let mut last_progress = Instant::now() - PROGRESS_INTERVAL;
    let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
    let result = loop {
        for Action::Request { peer, chunk } in planner.poll() {
            if let Some(conn) = conns.get(&peer) {
                tasks.spawn(fetch(conn.clone(), target.clone(), chunk));
            }
        }
        if planner.is_done() {
            break Ok(());
        }
        if let Some(failure) = planner.failure() {
            break Err(DownloadError::NoPeers(format!("{}: {failure}", manifest.id)));
        }
        tokio::select! {
            () = cancel.cancelled() => break Err(DownloadError::Cancelled),
            Some(joined) = tasks.join_next() => {
                let Ok(Finished { peer, chunk, outcome, elapsed }) = joined else { continue };
                match outcome {
                    Outcome::Verified => {
                        if planner.chunk_verified(peer, chunk, elapsed) {
                            done_bytes += super::storage::chunk_len(&manifest, chunk);
                            missing[chunk.file as usize] -= 1;
                            if missing[chunk.file as usize] == 0 {
                                let target = target.clone();
                                // A failure here shows again in the commit's own sync.
                                tokio::task::spawn_blocking(move || target.storage.sync_file(chunk.file));
                            }
                        }
                    }
                    Outcome::Corrupt => {
                        tracing::warn!("{}: chunk {} of {} from peer {} failed verification", manifest.id, chunk.chunk, manifest.files[chunk.file as usize].path, peer.short());
                        planner.chunk_corrupt(peer, chunk);
                    }
                    Outcome::Failed { error, connection_lost } => {
                        tracing::debug!("{}: chunk request to {} failed: {error}", manifest.id, peer.short());
                        if connection_lost {
                            tracing::warn!("{}: lost peer {}: {error}", manifest.id, peer.short());
                            planner.peer_lost(peer);
                        } else {
                            planner.chunk_failed(peer, chunk, &error);
                        }
                    }
                    Outcome::WriteFailed(e) => break Err(DownloadError::Io(e)),
                }
            }
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        if let Err(e) = target.journal.sync_if_due(now) {
            break Err(DownloadError::Io(e));
        }
        if now.duration_since(last_progress) >= PROGRESS_INTERVAL {
            last_progress = now;
            meter.record(now, done_bytes);
            progress(report(&manifest, &planner, &meter, done_bytes));
        }
    };
    tasks.abort_all();
    target.journal.sync()?;
    result?;
    let dropped = planner.dropped().into_iter().map(|(peer, why)| (peer, why.to_string())).collect();
    Ok((planner.delivered().into_iter().collect(), dropped))
}

fn report(manifest: &GameManifest, planner: &Planner, meter: &SpeedMeter, done: u64) -> Progress {
    let speed = meter.bytes_per_sec();
    let peers =
        planner.rates().into_iter().map(|(peer_id, rate)| PeerSpeed { peer_id, bytes_per_sec: rate as u64 }).collect();
    let remaining = manifest.total_size().saturating_sub(done);
    progress_of(manifest, Phase::Downloading, done, speed, eta_secs(remaining, speed), peers)
}

/// Where one download's chunks go: its manifest, files and journal, and
/// the receive buffers its requests reuse.
pub(super) struct Target {
    manifest: Arc<GameManifest>,
    storage: Arc<Storage>,
    journal: Arc<Journal>,
    buffers: Mutex<Vec<ReceivedChunk>>,
}

impl Target {
    pub(super) fn new(manifest: Arc<GameManifest>, storage: Arc<Storage>, journal: Arc<Journal>) -> Target {
        Target { manifest, storage, journal, buffers: Mutex::new(Vec::new()) }
    }

    /// A buffer for a chunk of `len` bytes: a whole chunk's from an
    /// earlier request (its pages already mapped), or a new one of `len`.
    /// Only whole chunks' buffers are kept, so memory follows the bytes in
    /// flight whatever the file list's chunk size.
    fn buffer(&self, len: usize) -> ReceivedChunk {
        let whole = self.manifest.chunk_size as usize;
        let reused = (len == whole).then(|| self.buffers.lock().unwrap_or_else(|p| p.into_inner()).pop()).flatten();
        reused.unwrap_or_else(|| ReceivedChunk::with_capacity(len))
    }

    fn give_back(&self, buffer: ReceivedChunk) {
        let whole = self.manifest.chunk_size as usize;
        let mut buffers = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        if buffer.capacity() == whole && (buffers.len() + 1) * whole <= MAX_SPARE_BUFFER_BYTES {
            buffers.push(buffer);
        }
    }

    /// Checks a received chunk and writes it, journaled first (`version.ini`
    /// is held in memory until the commit: nothing to journal).
    fn store(&self, chunk: ChunkRef, received: &mut ReceivedChunk) -> Outcome {
        let expected = &self.manifest.files[chunk.file as usize].chunks[chunk.chunk as usize];
        if received.hash().as_bytes() != expected {
            return Outcome::Corrupt;
        }
        let bytes = received.as_slice();
        let written = (|| {
            if self.storage.on_disk(chunk) {
                self.journal.writing(chunk)?;
            }
            self.storage.write(chunk, bytes)
        })();
        match written {
            Ok(()) => Outcome::Verified,
            Err(e) => Outcome::WriteFailed(e),
        }
    }
}

async fn fetch(conn: PeerConnection, target: Arc<Target>, chunk: ChunkRef) -> Finished {
    let started = Instant::now();
    let manifest = &target.manifest;
    let len = super::storage::chunk_len(manifest, chunk) as u32;
    let mut buffer = target.buffer(len as usize);
    let result = conn.get_chunk(&manifest.id, &manifest.version, (chunk.file, chunk.chunk), len, &mut buffer).await;
    let outcome = match result {
        Err(e) => {
            target.give_back(buffer);
            Outcome::Failed { error: e.to_string(), connection_lost: conn.is_closed() }
        }
        Ok(()) => {
            let target = target.clone();
            let checked = tokio::task::spawn_blocking(move || {
                let outcome = target.store(chunk, &mut buffer);
                target.give_back(buffer);
                outcome
            })
            .await;
            checked.unwrap_or_else(|e| Outcome::WriteFailed(std::io::Error::other(e)))
        }
    };
    Finished { peer: conn.peer_id, chunk, outcome, elapsed: started.elapsed() }
}
