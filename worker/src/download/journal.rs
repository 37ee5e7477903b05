//! The resume journal of a download: the manifest being fetched, then one
//! record per chunk that may be on disk, appended before the chunk is
//! written (a killed worker loses nothing it wrote, not even the chunk it
//! was writing) and synced to disk at most every [`SYNC_INTERVAL`] (a power
//! cut loses at most that much). A resume re-checks every chunk the journal
//! names against its hash, so a record never has to be taken on trust.
//!
//! Layout: `MAGIC`, the manifest's length (u32, little-endian) and its
//! postcard bytes, then `RECORD_LEN`-byte records: a kind byte
//! (`WRITING` or `VERIFIED`), the file and chunk index (u32 each,
//! little-endian). A torn last record is ignored.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lanspread_proto::peer::{GameManifest, MAX_PEER_FRAME};

use super::planner::ChunkRef;
use crate::platform::fs::annotate;

/// The journal's name in the game root.
pub const JOURNAL_FILE: &str = ".lanspread-download";
/// Appended records reach the disk at least this often.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(2);
/// A journal larger than this is ignored: a manifest is at most a frame,
/// and a few records per chunk attempt follow it.
const MAX_JOURNAL: u64 = 64 * 1024 * 1024;
/// The first bytes of a journal in this layout.
const MAGIC: &[u8; 4] = b"LSJ2";
const RECORD_LEN: usize = 9;
/// A chunk is about to be written at its offset.
const WRITING: u8 = 1;
/// A chunk was written and its hash matched.
const VERIFIED: u8 = 2;

/// What a journal on disk says: the manifest, and the chunks that may be on
/// disk (written, or being written when the worker stopped). Each is
/// checked against its hash before it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    pub manifest: GameManifest,
    pub candidates: BTreeSet<ChunkRef>,
}

/// The journal of a running download. Records may be appended from any
/// thread.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    /// The same file, for syncing without holding up appends.
    sync_handle: File,
    sync: Mutex<SyncState>,
}

#[derive(Debug)]
struct SyncState {
    unsynced: bool,
    last: Instant,
}

impl Journal {
    /// The journal in `root`, if there is a readable one.
    pub fn load(root: &Path) -> Option<Resume> {
        let path = root.join(JOURNAL_FILE);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_JOURNAL {
            return None;
        }
        Journal::parse(&std::fs::read(&path).ok()?)
    }

    /// Reads the bytes of a journal.
    pub fn parse(bytes: &[u8]) -> Option<Resume> {
        let rest = bytes.strip_prefix(MAGIC)?;
        let (len, rest) = rest.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        if len > MAX_PEER_FRAME || len > rest.len() {
            return None;
        }
        let (manifest, records) = rest.split_at(len);
        let manifest: GameManifest = postcard::from_bytes(manifest).ok()?;
        let candidates = records
            .chunks_exact(RECORD_LEN)
            .filter(|r| r[0] == WRITING || r[0] == VERIFIED)
            .map(|r| ChunkRef {
                file: u32::from_le_bytes([r[1], r[2], r[3], r[4]]),
                chunk: u32::from_le_bytes([r[5], r[6], r[7], r[8]]),
            })
            .filter(|c| manifest.files.get(c.file as usize).is_some_and(|f| (c.chunk as usize) < f.chunks.len()))
            .collect();
        Some(Resume { manifest, candidates })
    }

    /// Starts the journal of `manifest` afresh with the chunks already
    /// `verified` (written whole and synced, then opened for appending).
    pub fn create(
        root: &Path,
        manifest: &GameManifest,
        verified: impl IntoIterator<Item = ChunkRef>,
    ) -> io::Result<Journal> {
        let path = root.join(JOURNAL_FILE);
        let encoded = postcard::to_stdvec(manifest).map_err(io::Error::other)?;
        let len = u32::try_from(encoded.len()).map_err(io::Error::other)?;
        let mut bytes = Vec::with_capacity(MAGIC.len() + 4 + encoded.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&encoded);
        for chunk in verified {
            bytes.extend_from_slice(&record(VERIFIED, chunk));
        }
        crate::platform::fs::write_atomic(&path, &bytes)?;
        let file = OpenOptions::new().append(true).open(&path).map_err(|e| annotate(&path, e))?;
        let sync_handle = file.try_clone().map_err(|e| annotate(&path, e))?;
        Ok(Journal {
            path,
            file: Mutex::new(file),
            sync_handle,
            sync: Mutex::new(SyncState { unsynced: false, last: Instant::now() }),
        })
    }

    /// Records that `chunks` are about to be written (a resume re-checks
    /// them), in one write.
    pub fn writing(&self, chunks: &[ChunkRef]) -> io::Result<()> {
        let records: Vec<u8> = chunks.iter().flat_map(|c| record(WRITING, *c)).collect();
        self.append(&records)
    }

    /// Records that `chunk` is on disk and verified (a chunk copied within
    /// the root).
    pub fn verified(&self, chunk: ChunkRef) -> io::Result<()> {
        self.append(&record(VERIFIED, chunk))
    }

    fn append(&self, records: &[u8]) -> io::Result<()> {
        self.file.lock().unwrap_or_else(|p| p.into_inner()).write_all(records).map_err(|e| annotate(&self.path, e))?;
        self.sync.lock().unwrap_or_else(|p| p.into_inner()).unsynced = true;
        Ok(())
    }

    /// Syncs the appended records if the last sync was [`SYNC_INTERVAL`] ago.
    pub fn sync_if_due(&self, now: Instant) -> io::Result<()> {
        let due = {
            let state = self.sync.lock().unwrap_or_else(|p| p.into_inner());
            state.unsynced && now.duration_since(state.last) >= SYNC_INTERVAL
        };
        if due { self.sync() } else { Ok(()) }
    }

    /// Syncs the appended records now.
    pub fn sync(&self) -> io::Result<()> {
        let mut state = self.sync.lock().unwrap_or_else(|p| p.into_inner());
        state.last = Instant::now();
        if !state.unsynced {
            return Ok(());
        }
        self.sync_handle.sync_data().map_err(|e| annotate(&self.path, e))?;
        state.unsynced = false;
        Ok(())
    }

    /// Deletes the journal after a committed download.
    pub fn remove(&self) {
        let _ = crate::platform::fs::remove_atomic(&self.path);
    }
}

fn record(kind: u8, chunk: ChunkRef) -> [u8; RECORD_LEN] {
    let mut record = [0; RECORD_LEN];
    record[0] = kind;
    record[1..5].copy_from_slice(&chunk.file.to_le_bytes());
    record[5..9].copy_from_slice(&chunk.chunk.to_le_bytes());
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanspread_proto::peer::FileEntry;

    fn manifest() -> GameManifest {
        let file = |path: &str, chunks| FileEntry { path: path.into(), size: 10, chunks: vec![[1; 32]; chunks] };
        GameManifest { id: "x".into(), version: "1".into(), chunk_size: 4, files: vec![file("a", 3), file("b", 3)] }
    }

    #[test]
    fn records_survive_without_a_sync_and_a_torn_record_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let first = ChunkRef { file: 0, chunk: 2 };
        let journal = Journal::create(dir.path(), &manifest(), [first]).unwrap();
        let (writing, verified) = (ChunkRef { file: 1, chunk: 0 }, ChunkRef { file: 1, chunk: 1 });
        journal.writing(&[writing, verified]).unwrap();
        journal.verified(verified).unwrap();
        drop(journal);
        let path = dir.path().join(JOURNAL_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[VERIFIED, 1, 0]);
        std::fs::write(&path, &bytes).unwrap();
        let resume = Journal::load(dir.path()).unwrap();
        assert_eq!(resume.manifest, manifest());
        assert_eq!(resume.candidates.into_iter().collect::<Vec<_>>(), [first, writing, verified]);
    }

    #[test]
    fn records_outside_the_manifest_and_other_layouts_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create(dir.path(), &manifest(), []).unwrap();
        journal.verified(ChunkRef { file: 0, chunk: 3 }).unwrap();
        journal.verified(ChunkRef { file: 2, chunk: 0 }).unwrap();
        journal.verified(ChunkRef { file: u32::MAX, chunk: u32::MAX }).unwrap();
        assert!(Journal::load(dir.path()).unwrap().candidates.is_empty());
        let bytes = std::fs::read(dir.path().join(JOURNAL_FILE)).unwrap();
        assert!(Journal::parse(&bytes[1..]).is_none());
        let mut huge = bytes.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Journal::parse(&huge).is_none());
        assert!(Journal::parse(&bytes[..10]).is_none());
    }
}
