//! The resume journal of a download: the manifest being fetched and the
//! chunks verified and written so far, rewritten atomically at most every
//! [`FLUSH_INTERVAL`] (and when the download stops).

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lanspread_proto::peer::GameManifest;
use serde::{Deserialize, Serialize};

use super::planner::ChunkRef;

/// The journal's name in the game root.
pub const JOURNAL_FILE: &str = ".lanspread-download";
/// Verified chunks reach the disk at least this often.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);
/// A journal larger than this is ignored (a manifest is at most a frame).
const MAX_JOURNAL: u64 = 64 * 1024 * 1024;
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct JournalFile {
    format: u32,
    manifest: GameManifest,
    verified: Vec<(u32, u32)>,
}

/// A loaded or running journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    pub manifest: GameManifest,
    pub verified: Vec<ChunkRef>,
    marked: BTreeSet<ChunkRef>,
    dirty: bool,
    last_flush: Instant,
}

impl Journal {
    /// The journal in `root`, if there is a readable one.
    pub fn load(root: &Path) -> Option<Journal> {
        let path = root.join(JOURNAL_FILE);
        let meta = std::fs::metadata(&path).ok()?;
        if meta.len() > MAX_JOURNAL {
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        let (manifest, verified) = Journal::parse(&bytes)?;
        Some(Journal::with(path, manifest, verified))
    }

    /// Reads the bytes of a journal: its manifest and the chunks it says
    /// are verified (each is checked against the disk before it counts).
    pub fn parse(bytes: &[u8]) -> Option<(GameManifest, Vec<ChunkRef>)> {
        let file: JournalFile = postcard::from_bytes(bytes).ok().filter(|f: &JournalFile| f.format == FORMAT)?;
        let verified = file.verified.into_iter().map(|(file, chunk)| ChunkRef { file, chunk }).collect();
        Some((file.manifest, verified))
    }

    /// A new journal for `manifest` that starts with `verified`.
    pub fn new(root: &Path, manifest: GameManifest, verified: impl IntoIterator<Item = ChunkRef>) -> Journal {
        let mut journal = Journal::with(root.join(JOURNAL_FILE), manifest, Vec::new());
        journal.marked.extend(verified);
        journal.dirty = true;
        journal
    }

    fn with(path: PathBuf, manifest: GameManifest, verified: Vec<ChunkRef>) -> Journal {
        Journal {
            path,
            manifest,
            marked: verified.iter().copied().collect(),
            verified,
            dirty: false,
            last_flush: Instant::now(),
        }
    }

    /// Records a verified chunk that is on disk.
    pub fn mark(&mut self, chunk: ChunkRef) {
        self.dirty |= self.marked.insert(chunk);
    }

    /// Flushes if the last flush was [`FLUSH_INTERVAL`] ago.
    pub fn flush_if_due(&mut self, now: Instant) -> io::Result<()> {
        if now.duration_since(self.last_flush) >= FLUSH_INTERVAL { self.flush() } else { Ok(()) }
    }

    /// Writes the journal now (temp file, fsync, rename).
    pub fn flush(&mut self) -> io::Result<()> {
        self.last_flush = Instant::now();
        if !self.dirty {
            return Ok(());
        }
        let file = JournalFile {
            format: FORMAT,
            manifest: self.manifest.clone(),
            verified: self.marked.iter().map(|c| (c.file, c.chunk)).collect(),
        };
        let bytes = postcard::to_stdvec(&file).map_err(io::Error::other)?;
        crate::platform::fs::write_atomic(&self.path, &bytes)?;
        self.dirty = false;
        Ok(())
    }

    /// Deletes the journal after a committed download.
    pub fn remove(&self) {
        let _ = crate::platform::fs::remove_atomic(&self.path);
    }
}
