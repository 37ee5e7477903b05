//! Runs the [`Planner`] over real connections: each request fetches one
//! piece (a chunk, or a run of small files, see [`super::pieces`]), checks
//! each chunk's BLAKE3 hash, writes it at its offset (journaled first) and
//! reports back.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lanspread_proto::PeerId;
use lanspread_proto::ipc::{PeerSpeed, Phase, Progress};
use lanspread_proto::peer::{ErrorCode, GameManifest, PeerRequest};
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::follow::{DownloadSwarm, Offer, SwarmLink};
use super::journal::Journal;
use super::pieces::Pieces;
use super::planner::{Action, ChunkRef, PeerDrop, Planner, Wanted, in_own_order, in_unpack_order};
use super::progress::{PROGRESS_INTERVAL, SpeedMeter, eta_secs};
use super::silence::SilenceWatch;
use super::storage::Storage;
use super::verified::Verified;
use super::{DownloadError, progress_of};
use crate::net::client::{ClientError, PeerConnection};
use crate::net::received::ReceivedChunk;

/// Bytes of received-chunk buffers kept for reuse: as many as may be in
/// flight (see [`super::planner::MAX_IN_FLIGHT_BYTES`]).
const MAX_SPARE_BUFFER_BYTES: usize = super::planner::MAX_IN_FLIGHT_BYTES as usize;

/// How one request ended.
enum Outcome {
    Verified,
    Corrupt,
    /// The peer is sending the chunk to another member: get it there.
    Elsewhere,
    Failed {
        error: String,
        connection_lost: bool,
    },
    WriteFailed(std::io::Error),
}

struct Finished {
    peer: PeerId,
    chunk: ChunkRef,
    outcome: Outcome,
    elapsed: Duration,
}

/// With nothing in flight and nothing verified for this long (members that
/// are still fetching hold none of the missing chunks, say), the download
/// gives up.
pub const SWARM_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Chunks a peer sent elsewhere ([`Outcome::Elsewhere`]) may be asked of
/// it again after one to two of these, in case the member it named never
/// says it has them (a 1 MiB chunk is passed on well within it).
const DEFERRED_RETRY: Duration = Duration::from_millis(500);

/// What a transfer did.
pub(super) struct Transferred {
    /// Bytes each peer delivered.
    pub per_peer: Vec<(PeerId, u64)>,
    /// Peers that were dropped, with why.
    pub dropped: Vec<(PeerId, String)>,
    /// Requests sent (chunks and runs, copies in the endgame included).
    pub requests: u64,
}

/// Fetches `wanted` (the target's pieces) into `target` from `peers` (which
/// hold the whole file list) and, with a `swarm`, from the members of its
/// swarm; offers what it verifies to them meanwhile.
pub(super) async fn run(
    target: Arc<Target>,
    peers: Vec<PeerConnection>,
    wanted: Vec<Wanted>,
    bytes_reused: u64,
    swarm: Option<SwarmLink>,
    progress: &mut (impl FnMut(Progress) + Send),
    cancel: &CancellationToken,
) -> Result<Transferred, DownloadError> {
    let manifest = target.manifest.clone();
    let mut conns: HashMap<PeerId, PeerConnection> = peers.into_iter().map(|c| (c.peer_id, c)).collect();
    // Chunks still missing per file: a finished file is flushed to disk at once.
    let mut missing = vec![0usize; manifest.files.len()];
    for chunk in wanted.iter().flat_map(|w| target.pieces.chunks(&w.chunk)) {
        missing[chunk.file as usize] += 1;
    }
    let own_seed =
        swarm.as_ref().map_or(0, |link| u64::from_le_bytes(link.peer_id.0[..8].try_into().unwrap_or_default()));
    let mut swarm = match swarm {
        Some(link) => Some(DownloadSwarm::start(link, &manifest, offer_of(&target, &wanted), conns.values())?),
        None => None,
    };
    let chunk_size = u64::from(manifest.chunk_size);
    let mut planner = match &target.unpacking {
        Some(_) => Planner::in_order(in_unpack_order(&manifest, wanted), chunk_size, conns.keys().copied()),
        None => Planner::new(in_own_order(wanted, own_seed), chunk_size, conns.keys().copied()),
    };
    let mut tasks: JoinSet<Finished> = JoinSet::new();
    let mut in_flight: HashMap<(PeerId, ChunkRef), AbortHandle> = HashMap::new();
    let mut meter = SpeedMeter::default();
    let mut silence = SilenceWatch::default();
    let (mut reported, mut requests) = (0, 0);
    let mut done_bytes = bytes_reused;
    let mut last_progress = Instant::now() - PROGRESS_INTERVAL;
    let mut last_verified = Instant::now();
    let mut last_retry = Instant::now();
    let mut tick = tokio::time::interval(PROGRESS_INTERVAL);
    let result = loop {
        for action in planner.poll() {
            match action {
                Action::Request { peer, chunk } => {
                    if let Some(conn) = conns.get(&peer) {
                        in_flight.insert((peer, chunk), tasks.spawn(fetch(conn.clone(), target.clone(), chunk)));
                        requests += 1;
                    }
                }
                Action::Cancel { peer, chunk } => {
                    if let Some(request) = in_flight.remove(&(peer, chunk)) {
                        request.abort();
                    }
                }
            }
        }
        if planner.is_done() {
            break Ok(());
        }
        if let Some(failure) = planner.failure() {
            break Err(DownloadError::NoPeers(format!("{}: {failure}", manifest.id)));
        }
        if planner.in_flight() == 0 && last_verified.elapsed() >= SWARM_STALL_TIMEOUT {
            let why = format!("no peer has held the missing chunks for {} s", SWARM_STALL_TIMEOUT.as_secs());
            break Err(DownloadError::NoPeers(format!("{}: {why}", manifest.id)));
        }
        tokio::select! {
            () = cancel.cancelled() => break Err(DownloadError::Cancelled),
            Some(event) = DownloadSwarm::next_event(&mut swarm) => {
                if let Some(swarm) = &mut swarm {
                    swarm.apply(event, &target.pieces, &mut planner, &mut conns);
                }
            }
            Some(joined) = tasks.join_next() => {
                let Ok(Finished { peer, chunk, outcome, elapsed }) = joined else { continue };
                in_flight.remove(&(peer, chunk));
                match outcome {
                    Outcome::Verified => {
                        if planner.chunk_verified(peer, chunk, elapsed) {
                            last_verified = Instant::now();
                            done_bytes += target.pieces.len(&manifest, chunk);
                            piece_verified(&target, chunk, swarm.as_ref(), &mut missing);
                        }
                    }
                    Outcome::Elsewhere => planner.chunk_elsewhere(peer, chunk),
                    Outcome::Corrupt => {
                        let path = &manifest.files[chunk.file as usize].path;
                        let what = match target.pieces.run_files(chunk) {
                            Some(files) => format!("the run of {files} files from {path}"),
                            None => format!("chunk {} of {path}", chunk.chunk),
                        };
                        tracing::warn!("{}: {what} from peer {} failed verification", manifest.id, peer.short());
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
        if now.duration_since(last_retry) >= DEFERRED_RETRY {
            // A member a chunk was sent to may never say it has it.
            last_retry = now;
            planner.retry_deferred();
        }
        if let Err(e) = target.journal.sync_if_due(now) {
            break Err(DownloadError::Io(e));
        }
        if now.duration_since(last_progress) >= PROGRESS_INTERVAL {
            last_progress = now;
            for conn in conns.values() {
                let (peer, pieces) = (conn.peer_id, conn.chunk_pieces_received());
                if pieces > 0 {
                    planner.peer_answered(peer);
                }
                planner.peer_quiet(peer, silence.observe(peer, pieces, planner.owes(peer), now));
            }
            report_drops(&manifest.id, &planner, swarm.as_ref(), &mut reported);
            meter.record(now, done_bytes);
            progress(report(&manifest, &planner, &meter, done_bytes));
        }
    };
    tasks.abort_all();
    report_drops(&manifest.id, &planner, swarm.as_ref(), &mut reported);
    if let Some(swarm) = swarm.as_ref().filter(|_| result.is_ok()) {
        let never_delivered = planner.never_delivered();
        if !never_delivered.is_empty() {
            tracing::info!(
                "{}: {} swarm members took requests and delivered nothing",
                manifest.id,
                never_delivered.len()
            );
            swarm.report_dropped(&never_delivered).await;
        }
    }
    drop(swarm);
    for conn in conns.values() {
        if planner.is_partial(conn.peer_id) {
            conn.close();
        }
    }
    target.journal.sync()?;
    result?;
    let dropped = planner.dropped().into_iter().map(|(peer, why)| (peer, why.to_string())).collect();
    Ok(Transferred { per_peer: planner.delivered().into_iter().collect(), dropped, requests })
}

/// Offers the chunks of a verified piece to the swarm and flushes each large
/// file it completes (`missing`: chunks still missing per file), so the
/// commit does not flush the whole game at once; small files are left to
/// the commit (a flush per small file would cost more than writing it).
fn piece_verified(target: &Arc<Target>, piece: ChunkRef, swarm: Option<&DownloadSwarm>, missing: &mut [usize]) {
    for &chunk in target.pieces.chunks(&piece) {
        if let Some(swarm) = swarm {
            swarm.verified(chunk);
        }
        if let Some(unpacking) = &target.unpacking {
            unpacking.chunk_verified(chunk, super::storage::chunk_len(&target.manifest, chunk));
        }
        let file = chunk.file as usize;
        missing[file] -= 1;
        if missing[file] == 0 && target.manifest.files[file].chunks.len() > 1 {
            let target = target.clone();
            // A failure here shows again in the commit's own sync.
            tokio::task::spawn_blocking(move || target.storage.sync_file(chunk.file));
        }
    }
}

/// Logs, once, each peer the download dropped for what it did since the
/// last call (`reported` counts the drops seen; one that left is logged
/// where it is noticed), and reports the members among them to the swarm.
fn report_drops(game: &str, planner: &Planner, swarm: Option<&DownloadSwarm>, reported: &mut usize) {
    let mut members = Vec::new();
    for (peer, why) in planner.dropped_since(*reported) {
        *reported += 1;
        if *why != PeerDrop::Left {
            tracing::warn!("{game}: not asking peer {} again: it {why}", peer.short());
            if planner.is_member(peer) {
                members.push(peer);
            }
        }
    }
    if let Some(swarm) = swarm.filter(|_| !members.is_empty()) {
        tokio::spawn(swarm.report_dropped(&members));
    }
}

/// What a download offers its swarm: its file list, where each file is
/// written (`None`: not on disk before the commit), and the chunks already
/// here.
fn offer_of(target: &Target, wanted: &[Wanted]) -> Offer {
    let missing: HashSet<ChunkRef> = wanted.iter().flat_map(|w| target.pieces.chunks(&w.chunk)).copied().collect();
    let here = super::storage::all_chunks(&target.manifest).filter(|c| !missing.contains(c)).collect();
    let files = (0..target.manifest.files.len() as u32)
        .map(|file| target.storage.file_path(file).map(ToOwned::to_owned))
        .collect();
    Offer { manifest: target.manifest.clone(), files, here }
}

fn report(manifest: &GameManifest, planner: &Planner, meter: &SpeedMeter, done: u64) -> Progress {
    let speed = meter.bytes_per_sec();
    let rates = planner.rates();
    let peers = planner
        .delivered()
        .into_iter()
        .filter(|(peer, bytes)| *bytes > 0 || rates.contains_key(peer))
        .map(|(peer_id, bytes)| PeerSpeed {
            peer_id,
            bytes_per_sec: rates.get(&peer_id).copied().unwrap_or(0.0) as u64,
            bytes,
            still_downloading: planner.is_partial(peer_id),
        })
        .collect();
    let remaining = manifest.total_size().saturating_sub(done);
    progress_of(manifest, Phase::Downloading, done, speed, eta_secs(remaining, speed), peers)
}

/// Where one download's chunks go: its manifest, the pieces they travel
/// in, files and journal, and the receive buffers its requests reuse.
pub(super) struct Target {
    manifest: Arc<GameManifest>,
    pieces: Pieces,
    storage: Arc<Storage>,
    journal: Arc<Journal>,
    buffers: Mutex<Vec<ReceivedChunk>>,
    /// What an install unpacking meanwhile may read; then the pieces are
    /// fetched in the order it reads them.
    unpacking: Option<Arc<Verified>>,
}

impl Target {
    pub(super) fn new(
        manifest: Arc<GameManifest>,
        pieces: Pieces,
        storage: Arc<Storage>,
        journal: Arc<Journal>,
        unpacking: Option<Arc<Verified>>,
    ) -> Target {
        Target { manifest, pieces, storage, journal, buffers: Mutex::new(Vec::new()), unpacking }
    }

    /// A buffer for a piece of `len` bytes: a whole chunk's from an
    /// earlier request (its pages already mapped) when the piece is at
    /// least half a chunk, or a new one of `len`. Only whole chunks'
    /// buffers are kept, so memory follows the bytes in flight whatever the
    /// file list's chunk size.
    fn buffer(&self, len: usize) -> ReceivedChunk {
        let whole = self.manifest.chunk_size as usize;
        if len > whole || len < whole / 2 {
            return ReceivedChunk::with_capacity(len);
        }
        let reused = self.buffers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        reused.unwrap_or_else(|| ReceivedChunk::with_capacity(whole))
    }

    fn give_back(&self, buffer: ReceivedChunk) {
        let whole = self.manifest.chunk_size as usize;
        let mut buffers = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        if buffer.room() >= whole && (buffers.len() + 1) * whole <= MAX_SPARE_BUFFER_BYTES {
            buffers.push(buffer);
        }
    }

    /// Checks a received piece chunk by chunk and writes it, journaled
    /// first (`version.ini` is held in memory until the commit: nothing to
    /// journal).
    fn store(&self, piece: ChunkRef, received: &mut ReceivedChunk) -> Outcome {
        let chunks = self.pieces.chunks(&piece);
        let whole_hash = (chunks.len() == 1).then(|| received.hash());
        let bytes = received.as_slice();
        let mut parts = Vec::with_capacity(chunks.len());
        let mut at = 0usize;
        for &chunk in chunks {
            let len = super::storage::chunk_len(&self.manifest, chunk) as usize;
            let Some(part) = bytes.get(at..at + len) else { return Outcome::Corrupt };
            parts.push((chunk, part));
            at += len;
        }
        let expected = |c: ChunkRef| &self.manifest.files[c.file as usize].chunks[c.chunk as usize];
        let verified = match (whole_hash, parts.as_slice()) {
            (Some(hash), [(chunk, _)]) => hash.as_bytes() == expected(*chunk),
            _ => parts.iter().all(|(chunk, part)| blake3::hash(part).as_bytes() == expected(*chunk)),
        };
        if !verified || at != bytes.len() {
            return Outcome::Corrupt;
        }
        let written = (|| {
            let on_disk: Vec<ChunkRef> = chunks.iter().copied().filter(|c| self.storage.on_disk(*c)).collect();
            self.journal.writing(&on_disk)?;
            parts.iter().try_for_each(|(chunk, part)| self.storage.write(*chunk, part))
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
    let len = target.pieces.len(manifest, chunk) as u32;
    let mut buffer = target.buffer(len as usize);
    let (id, version) = (manifest.id.clone(), manifest.version.clone());
    let run = target.pieces.run_files(chunk);
    let request = match run {
        Some(count) => PeerRequest::GetRun { id, version, file: chunk.file, count },
        None => PeerRequest::GetChunk { id, version, file: chunk.file, chunk: chunk.chunk },
    };
    buffer.hash_as_it_fills(run.is_none());
    let result = conn.get_chunk(&request, len, &mut buffer).await;
    let outcome = match result {
        Err(ClientError::Refused { error, .. }) if error.code == ErrorCode::Elsewhere => {
            target.give_back(buffer);
            Outcome::Elsewhere
        }
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
