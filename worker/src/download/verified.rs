//! What of a download is verified so far, for an install that unpacks while
//! the download runs ([`crate::install::install_streamed`]): its reads wait
//! here until the chunks under them are verified and written, so nothing
//! is ever unpacked from bytes that were not checked.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use lanspread_proto::peer::GameManifest;

use super::planner::ChunkRef;
use super::storage::Storage;
use crate::install::PayloadGate;

/// The verified chunks of one download's files on disk.
#[derive(Debug)]
pub struct Verified {
    chunk_size: u64,
    /// Each file on disk: its index in the file list and its size.
    files: HashMap<PathBuf, (usize, u64)>,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    /// Per file, whether each chunk is verified.
    have: Vec<Vec<bool>>,
    bytes_to_come: u64,
    end: End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Running,
    Committed,
    Stopped,
}

impl Verified {
    /// The files of `manifest` where `storage` writes them, with the chunks
    /// in `here` already verified.
    pub fn new(manifest: &GameManifest, storage: &Storage, here: impl IntoIterator<Item = ChunkRef>) -> Verified {
        let mut files = HashMap::new();
        for (i, entry) in manifest.files.iter().enumerate() {
            if let Some(path) = storage.file_path(i as u32) {
                files.insert(path.to_owned(), (i, entry.size));
            }
        }
        let have: Vec<Vec<bool>> = manifest.files.iter().map(|f| vec![false; f.chunks.len()]).collect();
        let state = State { have, bytes_to_come: manifest.total_size(), end: End::Running };
        let verified = Verified {
            chunk_size: u64::from(manifest.chunk_size),
            files,
            state: Mutex::new(state),
            changed: Condvar::new(),
        };
        for chunk in here {
            verified.chunk_verified(chunk, super::storage::chunk_len(manifest, chunk));
        }
        verified
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `chunk`, of `len` bytes, is verified and written.
    pub fn chunk_verified(&self, chunk: ChunkRef, len: u64) {
        let mut state = self.lock();
        let Some(flag) = state.have.get_mut(chunk.file as usize).and_then(|f| f.get_mut(chunk.chunk as usize)) else {
            return;
        };
        if !*flag {
            *flag = true;
            state.bytes_to_come = state.bytes_to_come.saturating_sub(len);
            self.changed.notify_all();
        }
    }

    /// The download ended: `committed`, or stopped without its last bytes.
    /// The first word stands.
    pub fn ended(&self, committed: bool) {
        let mut state = self.lock();
        if state.end == End::Running {
            state.end = if committed { End::Committed } else { End::Stopped };
        }
        self.changed.notify_all();
    }
}

impl PayloadGate for Verified {
    fn readable(&self, path: &Path, offset: u64, want: u64) -> io::Result<u64> {
        let Some(&(file, size)) = self.files.get(path) else {
            return Err(io::Error::other(format!("{} is not a file of this download", path.display())));
        };
        let mut state = self.lock();
        loop {
            if offset >= size || want == 0 {
                return Ok(0);
            }
            let mut end = offset;
            let mut chunk = offset / self.chunk_size;
            while end < size && end - offset < want && state.have[file].get(chunk as usize).copied().unwrap_or(false) {
                end = ((chunk + 1) * self.chunk_size).min(size);
                chunk += 1;
            }
            if end > offset {
                return Ok((end - offset).min(want));
            }
            match state.end {
                End::Stopped => return Err(io::Error::other("the download stopped before these bytes were verified")),
                End::Committed => return Err(io::Error::other("the download ended without these bytes")),
                End::Running => {}
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn committed(&self) -> io::Result<()> {
        let mut state = self.lock();
        loop {
            match state.end {
                End::Committed => return Ok(()),
                End::Stopped => return Err(io::Error::other("the download stopped before it was whole")),
                End::Running => state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }

    fn bytes_to_come(&self) -> u64 {
        self.lock().bytes_to_come
    }
}
