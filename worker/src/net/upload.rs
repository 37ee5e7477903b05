//! How chunk bytes leave this node: the memory they may take, the upload
//! slots they wait for, and the bandwidth limits they are held to.
//!
//! Chunks are read from disk a [`SEND_PIECE`] at a time under two budgets
//! ([`PIECES_PER_CONNECTION`] per connection, [`SERVE_MEMORY`] in all),
//! each piece handed to a peer that reads it within [`WRITE_TIMEOUT`] or
//! the stream is reset.
//!
//! **Upload slots.** At most [`UPLOAD_SLOTS`] chunks are sent at once, at
//! most [`SLOTS_PER_CONNECTION`] of them to one connection, each address
//! within its share and a PC that starts asking served from a reserve
//! ([`super::fair`]): a seeder facing many downloaders
//! sends a bounded number of chunks at a time, each soon whole and passed
//! on by its receiver, instead of every chunk at once and all of them
//! late; and no peer takes the uplink from the others. (With 1 MiB chunks,
//! fewer slots leave the uplink idle between chunks: in the swarm
//! benchmark, 2 slots took six downloaders 17.7 s, 4 took 15.4 s, 8 and 16
//! about 15.1 s.) A slot is held
//! until the peer has the whole chunk; one that waited [`SLOT_WAIT`] goes
//! out anyway, so peers that take slots and read nothing cannot starve the
//! rest. Send memory is shared by address the same way. While others wait
//! for slots or memory, pieces go out in slices, and a slice the peer has
//! not taken for [`STALL_CUT`] ends its stream: a flood of requests nobody
//! reads holds what it took for about two seconds, not [`WRITE_TIMEOUT`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

use super::fair::{FairPermit, FairShare};
use super::rate::RateLimit;
use super::traffic::Traffic;
use crate::faults::Faults;

/// A chunk is read from disk and handed to QUIC in pieces of this size,
/// each counted as sent. A megabyte keeps hand-offs to the blocking pool
/// few while [`super::server::MAX_CONNECTIONS_PER_ADDRESS`] connections of one address,
/// [`PIECES_PER_CONNECTION`] pieces each, hold at most half of
/// [`SERVE_MEMORY`]: one PC cannot starve the others.
pub const SEND_PIECE: usize = 1024 * 1024;
/// A piece of a chunk (or any answer) the peer does not take within this
/// time ends its stream.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pieces one connection may hold in memory at once.
pub const PIECES_PER_CONNECTION: usize = 2;
/// Chunks sent at once, all connections together.
pub const UPLOAD_SLOTS: usize = 16;
/// Chunks sent at once to one connection.
pub const SLOTS_PER_CONNECTION: usize = 2;
/// A chunk waits at most this long for upload slots.
pub const SLOT_WAIT: Duration = Duration::from_secs(5);
/// Chunk bytes the server holds in memory at once, all connections together.
pub const SERVE_MEMORY: usize = 64 * 1024 * 1024;
/// Upload slots and send pieces kept for addresses that hold none.
const SLOTS_RESERVE: usize = 2;
const PIECES_RESERVE: usize = 8;
/// A slice the peer has not taken for this long ends its stream when other
/// addresses wait for slots or memory (64 KiB in 2 s is 256 kbit/s).
pub const STALL_CUT: Duration = Duration::from_secs(2);
/// How often a stalled write looks at whether others wait.
const STALL_CHECK: Duration = Duration::from_millis(250);
/// Under an upload limit, or while others wait for slots or memory, pieces
/// are sent in slices of this many bytes.
const SLICE: usize = 64 * 1024;
/// Spare piece buffers kept at most.
const MAX_SPARE_PIECES: usize = 16;

/// What every connection's uploads share: the memory, the slots and the
/// spare piece buffers.
#[derive(Debug)]
pub(super) struct Uploads {
    memory: FairShare,
    slots: FairShare,
    pieces: Arc<PiecePool>,
}

impl Uploads {
    pub(super) fn new() -> Uploads {
        Uploads {
            memory: FairShare::new(SERVE_MEMORY / SEND_PIECE, PIECES_RESERVE),
            slots: FairShare::new(UPLOAD_SLOTS, SLOTS_RESERVE),
            pieces: Arc::default(),
        }
    }

    /// The budget of one connection from `ip`, its upload held to
    /// `traffic`'s per-peer limit.
    pub(super) fn budget(&self, traffic: &Traffic, ip: IpAddr) -> Budget {
        Budget {
            ip,
            connection: Arc::new(Semaphore::new(PIECES_PER_CONNECTION)),
            all: self.memory.clone(),
            slots_here: Arc::new(Semaphore::new(SLOTS_PER_CONNECTION)),
            slots: self.slots.clone(),
            pieces: self.pieces.clone(),
            peer_upload: Arc::new(traffic.peer_upload_limit()),
        }
    }
}

/// What a connection's uploads may take: a piece needs a memory permit of
/// its connection's and one of the server's, a chunk an upload slot of each.
#[derive(Debug, Clone)]
pub(super) struct Budget {
    /// The address the connection comes from: its share of `all` and `slots`.
    ip: IpAddr,
    connection: Arc<Semaphore>,
    all: FairShare,
    slots_here: Arc<Semaphore>,
    slots: FairShare,
    pieces: Arc<PiecePool>,
    /// This peer's share of the upload limit, if one is set.
    peer_upload: Arc<RateLimit>,
}

/// The upload slots a chunk holds (none after [`SLOT_WAIT`] in line).
#[derive(Debug)]
pub(super) struct Slots {
    _here: Option<OwnedSemaphorePermit>,
    _all: Option<FairPermit>,
}

impl Budget {
    /// Waits for the chunk's turn at the upload slots, at most [`SLOT_WAIT`].
    pub(super) async fn slots(&self) -> Slots {
        let slots = async {
            let here = self.slots_here.clone().acquire_owned().await.ok();
            (here, Some(self.slots.take(self.ip).await))
        };
        let (here, all) = tokio::time::timeout(SLOT_WAIT, slots).await.unwrap_or_default();
        Slots { _here: here, _all: all }
    }

    /// One piece of memory, for an answer held whole (a cover); `None` once
    /// the server shuts down.
    pub(super) async fn piece_memory(&self) -> Option<(SemaphorePermit<'_>, FairPermit)> {
        Some((self.connection.acquire().await.ok()?, self.all.take(self.ip).await))
    }

    /// Whether other addresses wait for slots or memory.
    fn contended(&self) -> bool {
        self.all.contended() || self.slots.contended()
    }
}

/// Piece buffers QUIC has finished with, kept for the next pieces: a busy
/// server would otherwise map (and fault in) fresh memory for every piece.
#[derive(Debug, Default)]
struct PiecePool(Mutex<Vec<Vec<u8>>>);

impl PiecePool {
    fn take(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default()
    }
}

/// A piece on its way out; its buffer goes back to the pool when QUIC
/// drops it.
struct PooledPiece {
    bytes: Vec<u8>,
    pool: Arc<PiecePool>,
}

impl AsRef<[u8]> for PooledPiece {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for PooledPiece {
    fn drop(&mut self) {
        let mut spare = self.pool.0.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < MAX_SPARE_PIECES {
            spare.push(std::mem::take(&mut self.bytes));
        }
    }
}

/// Where the bytes of an answer are on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkPlace {
    /// A chunk: bytes of one file from an offset.
    Range { path: PathBuf, offset: u64 },
    /// A run: whole files one after another, each with its size.
    Files(Vec<(PathBuf, u64)>),
}

impl ChunkPlace {
    /// Whether `self` is on disk as it says, `len` bytes in all: a chunk's
    /// file is long enough, a run's files are exactly their sizes. So the
    /// header promises only bytes that are there. A chunk's file is opened
    /// for the whole send; a run's files, which may be hundreds, are each
    /// opened as their bytes are read.
    pub(super) async fn open(self, len: u32) -> std::io::Result<ChunkSource> {
        tokio::task::spawn_blocking(move || match self {
            ChunkPlace::Range { path, offset } => {
                let file = std::fs::File::open(&path)?;
                if file.metadata()?.len() < offset + u64::from(len) {
                    return Err(std::io::Error::other("the file is shorter than its manifest says"));
                }
                Ok(ChunkSource::Range { file: Arc::new(file), offset })
            }
            ChunkPlace::Files(files) => {
                for (path, size) in &files {
                    if std::fs::metadata(path)?.len() != *size {
                        let what = format!("{} is not the size its manifest says", path.display());
                        return Err(std::io::Error::other(what));
                    }
                }
                Ok(ChunkSource::Files(Arc::new(files)))
            }
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

/// The bytes of an answer, ready to be read: see [`ChunkPlace::open`].
#[derive(Debug, Clone)]
pub(super) enum ChunkSource {
    Range { file: Arc<std::fs::File>, offset: u64 },
    Files(Arc<Vec<(PathBuf, u64)>>),
}

/// Why a chunk was not sent whole.
#[derive(Debug, thiserror::Error)]
pub(super) enum SendError {
    #[error("no memory to send within {WRITE_TIMEOUT:?}")]
    NoMemory,
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("cannot read the chunk: {0}")]
    Read(std::io::Error),
    #[error("the peer took nothing for {WRITE_TIMEOUT:?}")]
    Stalled,
    #[error("{0}")]
    Write(#[from] quinn::WriteError),
}

/// A chunk (or run) to send: `len` bytes of `source`, chunk `index` of
/// `game` (a run's first).
pub(super) struct ChunkBytes {
    pub source: ChunkSource,
    pub len: u32,
    pub game: String,
    pub index: (u32, u32),
}

/// Sends `chunk` to `to`, one [`SEND_PIECE`] at a time, each read only once
/// the budget has room for it, held to the limits and counted in `traffic`.
pub(super) async fn send_chunk(
    send: &mut quinn::SendStream,
    chunk: &ChunkBytes,
    (budget, to): (&Budget, IpAddr),
    (traffic, faults): (&Traffic, &Faults),
) -> Result<(), SendError> {
    let mut sent = 0usize;
    while sent < chunk.len as usize {
        let piece_len = SEND_PIECE.min(chunk.len as usize - sent);
        let permits = async { (budget.connection.acquire().await, budget.all.take(budget.ip).await) };
        let (Ok(_connection), _all) =
            tokio::time::timeout(WRITE_TIMEOUT, permits).await.map_err(|_| SendError::NoMemory)?
        else {
            return Err(SendError::ShuttingDown);
        };
        let source = chunk.source.clone();
        let buffer = budget.pieces.take();
        let mut piece = tokio::task::spawn_blocking(move || read_piece(&source, sent as u64, piece_len, buffer))
            .await
            .map_err(|e| SendError::Read(std::io::Error::other(e)))?
            .map_err(SendError::Read)?;
        if sent == 0 {
            faults.delay_chunk().await;
            faults.corrupt_chunk(chunk.index, &mut piece);
        }
        // Handed over, not copied: QUIC sends from this buffer.
        let mut piece = bytes::Bytes::from_owner(PooledPiece { bytes: piece, pool: budget.pieces.clone() });
        // Under a limit, a piece goes in slices, each when the limits allow
        // it, so every stream moves and the rate holds. While others wait,
        // too: then a slice not taken in time shows a peer that reads
        // nothing, not one on a slow link.
        let limited = budget.peer_upload.is_active() || traffic.upload_limit().is_active();
        let slice = if limited || budget.contended() { SLICE } else { piece.len() };
        while !piece.is_empty() {
            let part = piece.split_to(slice.min(piece.len()));
            budget.peer_upload.take(part.len() as u64).await;
            traffic.upload_limit().take(part.len() as u64).await;
            write_or_cut(send, part, budget).await?;
        }
        traffic.add_sent(&chunk.game, to, piece_len as u64);
        sent += piece_len;
    }
    Ok(())
}

/// Hands `part` to QUIC; a peer that takes none of it for [`WRITE_TIMEOUT`],
/// or for [`STALL_CUT`] while others wait for what it holds, is cut off.
async fn write_or_cut(send: &mut quinn::SendStream, part: bytes::Bytes, budget: &Budget) -> Result<(), SendError> {
    let started = tokio::time::Instant::now();
    let write = send.write_chunk(part);
    tokio::pin!(write);
    loop {
        match tokio::time::timeout(STALL_CHECK, &mut write).await {
            Ok(written) => return Ok(written?),
            Err(_) => {
                let waited = started.elapsed();
                if waited >= WRITE_TIMEOUT || (waited >= STALL_CUT && budget.contended()) {
                    return Err(SendError::Stalled);
                }
            }
        }
    }
}

/// Reads `len` bytes of `source` from `at` (counted from its start) into
/// `piece` (emptied first), with no zeroing. A chunk's file handle is its
/// request's own, so its cursor is too.
fn read_piece(source: &ChunkSource, at: u64, len: usize, mut piece: Vec<u8>) -> std::io::Result<Vec<u8>> {
    piece.clear();
    piece.reserve(len);
    match source {
        ChunkSource::Range { file, offset } => read_into(file, offset + at, len, &mut piece)?,
        ChunkSource::Files(files) => {
            let (end, mut start) = (at + len as u64, 0u64);
            for (path, size) in files.iter() {
                let (from, to) = (at.max(start), end.min(start + size));
                if from < to {
                    let before = piece.len();
                    read_into(&std::fs::File::open(path)?, from - start, (to - from) as usize, &mut piece)?;
                    if piece.len() - before < (to - from) as usize {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                }
                start += size;
            }
        }
    }
    if piece.len() < len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(piece)
}

/// Appends `len` bytes of `file` at `at` to `piece`, fewer at its end.
fn read_into(file: &std::fs::File, at: u64, len: usize, piece: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(at))?;
    file.take(len as u64).read_to_end(piece)?;
    Ok(())
}
