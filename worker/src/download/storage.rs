//! The files of a game root during a download: checked paths, pre-sized
//! files, positioned chunk writes, and `version.ini` held back until commit.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lanspread_proto::peer::{GameManifest, MAX_CHUNK_SIZE};

use super::planner::ChunkRef;
use super::{VERSION_TMP, annotate};
use crate::library::scan::{INSTALL_DIR, VERSION_FILE};
use crate::platform::fs::{read_exact_at, write_all_at};

/// Longest relative path accepted from a peer.
const MAX_PATH_LEN: usize = 4096;

/// Checks a manifest from a peer before any of it touches the disk.
pub fn check_manifest(manifest: &GameManifest) -> Result<(), String> {
    if manifest.chunk_size == 0 || manifest.chunk_size > MAX_CHUNK_SIZE {
        return Err(format!("chunk size {} is outside 1..={MAX_CHUNK_SIZE}", manifest.chunk_size));
    }
    let mut seen = BTreeSet::new();
    for file in &manifest.files {
        if !is_safe_relative_path(&file.path) {
            return Err(format!("unsafe file path {:?}", file.path));
        }
        if !seen.insert(file.path.to_lowercase()) {
            return Err(format!("file {:?} is listed twice", file.path));
        }
        let expected = file.size.div_ceil(u64::from(manifest.chunk_size));
        if file.chunks.len() as u64 != expected {
            return Err(format!("{}: {} chunk hashes for {} bytes", file.path, file.chunks.len(), file.size));
        }
    }
    Ok(())
}

/// A path a peer may make us write: relative, `/`-separated, no `.` or `..`,
/// no drive or backslash, not in `local/` and not one of our dot-files.
pub fn is_safe_relative_path(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    !path.is_empty()
        && path.len() <= MAX_PATH_LEN
        && !path.contains(['\\', ':', '\0'])
        && parts.iter().all(|p| !p.is_empty() && *p != "." && *p != "..")
        && !parts[0].starts_with('.')
        && parts[0] != INSTALL_DIR
}

/// Every chunk of the manifest, in order.
pub fn all_chunks(manifest: &GameManifest) -> impl Iterator<Item = ChunkRef> + '_ {
    manifest
        .files
        .iter()
        .enumerate()
        .flat_map(|(f, file)| (0..file.chunks.len() as u32).map(move |chunk| ChunkRef { file: f as u32, chunk }))
}

/// The length of a chunk (the last of a file is shorter).
pub fn chunk_len(manifest: &GameManifest, chunk: ChunkRef) -> u64 {
    let Some(file) = manifest.files.get(chunk.file as usize) else { return 0 };
    let offset = u64::from(chunk.chunk) * u64::from(manifest.chunk_size);
    file.size.saturating_sub(offset).min(u64::from(manifest.chunk_size))
}

/// Open files of one download.
#[derive(Debug)]
pub struct Storage {
    root: PathBuf,
    chunk_size: u64,
    /// `None` for `version.ini`, which is held in memory.
    files: Vec<Option<File>>,
    version_file: Option<usize>,
    version_bytes: Mutex<Vec<u8>>,
}

impl Storage {
    /// Creates the directories and pre-sizes every file (keeping what is there).
    pub fn open(root: &Path, manifest: &GameManifest) -> io::Result<Self> {
        let mut files = Vec::with_capacity(manifest.files.len());
        let mut version_file = None;
        for (i, entry) in manifest.files.iter().enumerate() {
            if entry.path == VERSION_FILE {
                version_file = Some(i);
                files.push(None);
                continue;
            }
            let path = entry.path.split('/').fold(root.to_owned(), |p, part| p.join(part));
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| annotate(parent, e))?;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| annotate(&path, e))?;
            if file.metadata().map_err(|e| annotate(&path, e))?.len() != entry.size {
                file.set_len(entry.size).map_err(|e| annotate(&path, e))?;
            }
            files.push(Some(file));
        }
        let size = version_file.map_or(0, |i| manifest.files[i].size as usize);
        Ok(Storage {
            root: root.to_owned(),
            chunk_size: u64::from(manifest.chunk_size),
            files,
            version_file,
            version_bytes: Mutex::new(vec![0; size]),
        })
    }

    /// Whether `chunk` lives on disk (and so belongs in the journal).
    pub fn on_disk(&self, chunk: ChunkRef) -> bool {
        self.files.get(chunk.file as usize).is_some_and(Option::is_some)
    }

    /// Writes a verified chunk at its offset.
    pub fn write(&self, chunk: ChunkRef, bytes: &[u8]) -> io::Result<()> {
        let offset = u64::from(chunk.chunk) * self.chunk_size;
        match self.files.get(chunk.file as usize) {
            Some(Some(file)) => write_all_at(file, bytes, offset),
            Some(None) => {
                let mut held = self.version_bytes.lock().unwrap_or_else(|p| p.into_inner());
                let start = offset as usize;
                held[start..start + bytes.len()].copy_from_slice(bytes);
                Ok(())
            }
            None => Err(io::Error::other(format!("no file {} in this download", chunk.file))),
        }
    }

    /// Of `candidates` (chunks an earlier attempt wrote), those whose bytes
    /// on disk still match the manifest.
    pub fn verify_existing(&self, manifest: &GameManifest, candidates: &[ChunkRef]) -> BTreeSet<ChunkRef> {
        let mut good = BTreeSet::new();
        let mut buf = Vec::new();
        for &chunk in candidates {
            let Some(Some(file)) = self.files.get(chunk.file as usize) else { continue };
            let Some(expected) = manifest.files[chunk.file as usize].chunks.get(chunk.chunk as usize) else { continue };
            buf.resize(chunk_len(manifest, chunk) as usize, 0);
            let offset = u64::from(chunk.chunk) * self.chunk_size;
            if read_exact_at(file, &mut buf, offset).is_ok() && blake3::hash(&buf).as_bytes() == expected {
                good.insert(chunk);
            }
        }
        good
    }

    /// Flushes one finished file to disk ahead of the commit, so the commit
    /// does not have to flush the whole game at once.
    pub fn sync_file(&self, file: u32) -> io::Result<()> {
        match self.files.get(file as usize) {
            Some(Some(file)) => file.sync_data(),
            _ => Ok(()),
        }
    }

    /// Syncs every file, removes payload files the manifest does not name
    /// (an older version's), then commits `version.ini` (temp file, fsync,
    /// rename).
    pub fn commit(&self, manifest: &GameManifest) -> io::Result<()> {
        for file in self.files.iter().flatten() {
            file.sync_all()?;
        }
        self.remove_stale_files(manifest)?;
        if self.version_file.is_some() {
            let bytes = self.version_bytes.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let tmp = self.root.join(VERSION_TMP);
            let mut file = File::create(&tmp).map_err(|e| annotate(&tmp, e))?;
            io::Write::write_all(&mut file, &bytes).map_err(|e| annotate(&tmp, e))?;
            file.sync_all().map_err(|e| annotate(&tmp, e))?;
            drop(file);
            let target = self.root.join(VERSION_FILE);
            fs::rename(&tmp, &target).map_err(|e| annotate(&target, e))?;
            if let Ok(dir) = File::open(&self.root) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

impl Storage {
    /// Deletes payload files (as the library scan sees them: not `local/`,
    /// not dot-files) that `manifest` does not list.
    fn remove_stale_files(&self, manifest: &GameManifest) -> io::Result<()> {
        let (Some(game_dir), Some(id)) = (self.root.parent(), self.root.file_name().and_then(|n| n.to_str())) else {
            return Ok(());
        };
        let Some(found) = crate::library::scan::scan_game_root(game_dir, id)? else { return Ok(()) };
        let wanted: BTreeSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
        for file in found.files.iter().filter(|f| !wanted.contains(f.rel.as_str())) {
            fs::remove_file(&file.abs).map_err(|e| annotate(&file.abs, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanspread_proto::peer::FileEntry;

    #[test]
    fn only_safe_paths_pass() {
        for good in ["a.zip", "data/maps/dm1.bsp", "version.ini", "x..y"] {
            assert!(is_safe_relative_path(good), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "C:\\x",
            "c:x",
            "a\\b",
            ".lanspread.json",
            "local/bin",
            "a/",
        ] {
            assert!(!is_safe_relative_path(bad), "{bad}");
        }
    }

    #[test]
    fn manifests_with_bad_sizes_or_duplicates_are_refused() {
        let file =
            |path: &str, size: u64, chunks: usize| FileEntry { path: path.into(), size, chunks: vec![[0; 32]; chunks] };
        let manifest = |chunk_size, files| GameManifest { id: "x".into(), version: "1".into(), chunk_size, files };
        assert!(check_manifest(&manifest(4, vec![file("a", 9, 3), file("b", 0, 0)])).is_ok());
        assert!(check_manifest(&manifest(4, vec![file("a", 9, 2)])).unwrap_err().contains("chunk hashes"));
        assert!(check_manifest(&manifest(0, vec![])).is_err());
        assert!(check_manifest(&manifest(MAX_CHUNK_SIZE + 1, vec![])).is_err());
        assert!(check_manifest(&manifest(4, vec![file("a", 1, 1), file("A", 1, 1)])).unwrap_err().contains("twice"));
        assert!(check_manifest(&manifest(4, vec![file("../a", 1, 1)])).unwrap_err().contains("unsafe"));
    }
}
