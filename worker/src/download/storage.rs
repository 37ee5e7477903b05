//! The files of a game root during a download: checked paths, pre-sized
//! files, positioned chunk writes, and `version.ini` held back until commit.
//!
//! No file stays open between writes: a game of tens of thousands of files
//! must download under the usual limit of 1,024 open files (or less), and
//! opening a file per 1 MiB chunk costs nothing next to writing it. A file
//! of one chunk is created when its chunk is written (whole, in one go), not
//! up front: creating 20,000 small files before the first byte arrives
//! takes seconds that writing them as they come hides behind the network.
//! Nothing is ever written through a symbolic link: a link anywhere on a
//! file's way down from the root stops the download.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use lanspread_proto::game::is_valid_game_id;
use lanspread_proto::names::{check_relative_path, is_valid_version};
use lanspread_proto::peer::{GameManifest, MAX_CHUNK_SIZE, MAX_MANIFEST_FILES, MAX_VERSION_FILE_SIZE};

use super::VERSION_TMP;
use super::planner::ChunkRef;
use crate::library::scan::{INSTALL_DIR, VERSION_FILE};
use crate::platform::fs::{annotate, read_exact_at, write_all_at};
use crate::platform::unbuffered;

/// Why a peer's file list is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("its game id is not a valid id")]
    InvalidId,
    #[error("its version is empty, too long or not printable")]
    InvalidVersion,
    #[error("chunk size {0} is outside 1..={MAX_CHUNK_SIZE}")]
    ChunkSize(u32),
    #[error("it names {0} files, more than the {MAX_MANIFEST_FILES} allowed")]
    TooManyFiles(usize),
    #[error("unsafe file path {path:?}: {why}")]
    UnsafePath { path: String, why: &'static str },
    #[error("file {0:?} is listed twice")]
    ListedTwice(String),
    #[error("{VERSION_FILE} of {0} bytes (at most {MAX_VERSION_FILE_SIZE})")]
    VersionFileTooLarge(u64),
    #[error("{path}: {hashes} chunk hashes for {size} bytes")]
    ChunkCount { path: String, hashes: usize, size: u64 },
    #[error("its sizes add up to more than 16 EiB")]
    TooLarge,
    #[error("it has no {VERSION_FILE}")]
    NoVersionFile,
    #[error("{file:?} is listed as a file and as the folder of {path:?}")]
    FileIsFolder { file: String, path: String },
}

/// Checks a manifest from a peer before any of it touches the disk or
/// sizes an allocation.
pub fn check_manifest(manifest: &GameManifest) -> Result<(), ManifestError> {
    if !is_valid_game_id(&manifest.id) {
        return Err(ManifestError::InvalidId);
    }
    if !is_valid_version(&manifest.version) {
        return Err(ManifestError::InvalidVersion);
    }
    if manifest.chunk_size == 0 || manifest.chunk_size > MAX_CHUNK_SIZE {
        return Err(ManifestError::ChunkSize(manifest.chunk_size));
    }
    if manifest.files.len() > MAX_MANIFEST_FILES {
        return Err(ManifestError::TooManyFiles(manifest.files.len()));
    }
    let mut seen = BTreeSet::new();
    let mut total = 0u64;
    for file in &manifest.files {
        check_download_path(&file.path).map_err(|why| ManifestError::UnsafePath { path: file.path.clone(), why })?;
        if !seen.insert(file.path.to_lowercase()) {
            return Err(ManifestError::ListedTwice(file.path.clone()));
        }
        if file.path == VERSION_FILE && file.size > MAX_VERSION_FILE_SIZE {
            return Err(ManifestError::VersionFileTooLarge(file.size));
        }
        let expected = file.size.div_ceil(u64::from(manifest.chunk_size));
        if file.chunks.len() as u64 != expected {
            let (path, hashes, size) = (file.path.clone(), file.chunks.len(), file.size);
            return Err(ManifestError::ChunkCount { path, hashes, size });
        }
        total = total.checked_add(file.size).ok_or(ManifestError::TooLarge)?;
    }
    // Without its sentinel a finished download would never look downloaded.
    if !manifest.files.iter().any(|f| f.path == VERSION_FILE) {
        return Err(ManifestError::NoVersionFile);
    }
    // A path that is a file and also the folder of another file (`a` and
    // `a/b`, `version.ini` and `version.ini/x`) cannot be laid out.
    for path in &seen {
        let mut prefix = String::new();
        for part in path.split('/').collect::<Vec<_>>().split_last().map_or(&[][..], |(_, dirs)| dirs) {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if seen.contains(&prefix) {
                return Err(ManifestError::FileIsFolder { file: prefix, path: path.clone() });
            }
        }
    }
    Ok(())
}

/// A path a peer may make us write: portable under every platform's rules
/// (see [`lanspread_proto::names`]), and not in `local/` or one of our
/// dot-files at the root, whatever its case.
pub fn check_download_path(path: &str) -> Result<(), &'static str> {
    let parts = check_relative_path(path)?;
    if parts[0].starts_with('.') {
        return Err("it names one of LanSpread's own dot-files");
    }
    if parts[0].eq_ignore_ascii_case(INSTALL_DIR) {
        return Err("it is inside the install folder `local/`");
    }
    Ok(())
}

/// Every chunk of the manifest, in order.
pub fn all_chunks(manifest: &GameManifest) -> impl Iterator<Item = ChunkRef> + '_ {
    manifest
        .files
        .iter()
        .enumerate()
        .flat_map(|(f, file)| (0..file.chunks.len() as u32).map(move |chunk| ChunkRef { file: f as u32, chunk }))
}

pub use crate::swarm::chunks::chunk_len;

/// The files of one download, by index in the manifest.
#[derive(Debug)]
pub struct Storage {
    root: PathBuf,
    chunk_size: u64,
    /// Where each file lives; `None` for `version.ini`, held in memory.
    files: Vec<Option<PathBuf>>,
    /// Files of one chunk, written whole when it comes (created then).
    whole: Vec<bool>,
    version_file: Option<usize>,
    version_bytes: Mutex<Vec<u8>>,
    /// Whole chunks are written past the page cache until the filesystem
    /// refuses (see [`unbuffered`]).
    unbuffered: AtomicBool,
}

impl Storage {
    /// Creates the folders and pre-sizes every file (keeping what is there).
    /// The manifest must have passed [`check_manifest`].
    pub fn open(root: &Path, manifest: &GameManifest) -> io::Result<Self> {
        refuse_link(root)?;
        let mut files = Vec::with_capacity(manifest.files.len());
        let mut whole = Vec::with_capacity(manifest.files.len());
        let mut folders = BTreeSet::new();
        let mut version_file = None;
        for (i, entry) in manifest.files.iter().enumerate() {
            let written_whole = entry.chunks.len() == 1;
            whole.push(written_whole);
            if entry.path == VERSION_FILE {
                version_file = Some(i);
                files.push(None);
                continue;
            }
            let path = prepare_path(root, &entry.path, &mut folders)?;
            if written_whole {
                // Created by its write; one that is here keeps its bytes
                // (they may be reused) at the listed size.
                if fs::symlink_metadata(&path).is_ok_and(|m| m.len() != entry.size) {
                    open_existing(&path, true)?.set_len(entry.size).map_err(|e| annotate(&path, e))?;
                }
                files.push(Some(path));
                continue;
            }
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| annotate(&path, e))?;
            if file.metadata().map_err(|e| annotate(&path, e))?.len() != entry.size {
                file.set_len(entry.size).map_err(|e| annotate(&path, e))?;
            }
            files.push(Some(path));
        }
        let size = version_file.map_or(0, |i| manifest.files[i].size as usize);
        Ok(Storage {
            root: root.to_owned(),
            chunk_size: u64::from(manifest.chunk_size),
            files,
            whole,
            version_file,
            version_bytes: Mutex::new(vec![0; size]),
            unbuffered: AtomicBool::new(true),
        })
    }

    /// Whether `chunk` lives on disk (and so belongs in the journal).
    pub fn on_disk(&self, chunk: ChunkRef) -> bool {
        self.file_path(chunk.file).is_some()
    }

    /// Where file `file` of the manifest is written; `None` for
    /// `version.ini` (held in memory) and numbers past the end.
    pub fn file_path(&self, file: u32) -> Option<&Path> {
        self.files.get(file as usize)?.as_deref()
    }

    /// Writes a verified chunk at its offset.
    pub fn write(&self, chunk: ChunkRef, bytes: &[u8]) -> io::Result<()> {
        let offset = u64::from(chunk.chunk) * self.chunk_size;
        match self.files.get(chunk.file as usize) {
            Some(Some(path)) if self.whole[chunk.file as usize] => {
                refuse_link(path)?;
                // Not truncated: a second copy of the chunk (an endgame
                // duplicate) rewrites the same bytes, never leaves it short.
                let file = OpenOptions::new().write(true).create(true).truncate(false).open(path);
                write_all_at(&file.map_err(|e| annotate(path, e))?, bytes, 0).map_err(|e| annotate(path, e))
            }
            Some(Some(path)) => {
                if self.unbuffered.load(Ordering::Relaxed) && unbuffered::is_aligned(bytes, offset) {
                    refuse_link(path)?;
                    match unbuffered::open(path).and_then(|file| write_all_at(&file, bytes, offset)) {
                        Ok(()) => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                            tracing::debug!("{}: writing through the page cache: {e}", path.display());
                            self.unbuffered.store(false, Ordering::Relaxed);
                        }
                        Err(e) => return Err(annotate(path, e)),
                    }
                }
                let file = open_existing(path, true)?;
                write_all_at(&file, bytes, offset).map_err(|e| annotate(path, e))
            }
            Some(None) => {
                let mut held = self.version_bytes.lock().unwrap_or_else(|p| p.into_inner());
                let start = offset as usize;
                held.get_mut(start..start + bytes.len())
                    .ok_or_else(|| io::Error::other(format!("chunk {} lies outside {VERSION_FILE}", chunk.chunk)))?
                    .copy_from_slice(bytes);
                Ok(())
            }
            None => Err(io::Error::other(format!("no file {} in this download", chunk.file))),
        }
    }

    /// Of `candidates` (chunks an earlier attempt wrote), those whose bytes
    /// on disk still match the manifest.
    pub fn verify_existing(&self, manifest: &GameManifest, candidates: &[ChunkRef]) -> BTreeSet<ChunkRef> {
        let mut reader = ChunkReader::default();
        let mut good = BTreeSet::new();
        for &chunk in candidates {
            let Some(Some(path)) = self.files.get(chunk.file as usize) else { continue };
            let Some(expected) = manifest.files[chunk.file as usize].chunks.get(chunk.chunk as usize) else { continue };
            let offset = u64::from(chunk.chunk) * self.chunk_size;
            if reader.read_verified(path, offset, chunk_len(manifest, chunk) as usize, expected).is_some() {
                good.insert(chunk);
            }
        }
        good
    }

    /// Flushes one finished file to disk ahead of the commit, so the commit
    /// does not have to flush the whole game at once.
    pub fn sync_file(&self, file: u32) -> io::Result<()> {
        match self.files.get(file as usize) {
            Some(Some(path)) => open_existing(path, true)?.sync_data().map_err(|e| annotate(path, e)),
            _ => Ok(()),
        }
    }

    /// Syncs every file (the whole filesystem at once where it can),
    /// removes payload files the manifest does not name
    /// (an older version's), then commits `version.ini` (temp file, fsync,
    /// rename).
    pub fn commit(&self, manifest: &GameManifest) -> io::Result<()> {
        if !crate::platform::fs::sync_filesystem(&self.root)? {
            for path in self.files.iter().flatten() {
                open_existing(path, true)?.sync_all().map_err(|e| annotate(path, e))?;
            }
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

/// Reads chunks out of files one after another (keeping the last file
/// open) and checks each against its hash.
#[derive(Debug, Default)]
pub struct ChunkReader {
    open: Option<(PathBuf, File)>,
    buf: Vec<u8>,
}

impl ChunkReader {
    /// The `len` bytes of `path` at `offset`, if they are there and hash to
    /// `expected`. A link is never read through.
    pub fn read_verified(&mut self, path: &Path, offset: u64, len: usize, expected: &[u8; 32]) -> Option<&[u8]> {
        if self.open.as_ref().is_none_or(|(open, _)| open != path) {
            self.open = open_existing(path, false).ok().map(|file| (path.to_owned(), file));
        }
        let (_, file) = self.open.as_ref()?;
        self.buf.resize(len, 0);
        let matches =
            read_exact_at(file, &mut self.buf, offset).is_ok() && blake3::hash(&self.buf).as_bytes() == expected;
        matches.then_some(self.buf.as_slice())
    }
}

/// Opens a file this download created, refusing one that became a link.
fn open_existing(path: &Path, write: bool) -> io::Result<File> {
    refuse_link(path)?;
    OpenOptions::new().read(true).write(write).open(path).map_err(|e| annotate(path, e))
}

/// The absolute path of `rel` under `root`, its folders created, with no
/// link and no file on the way where a folder should be (`checked`: the
/// folders this download has already looked at).
fn prepare_path(root: &Path, rel: &str, checked: &mut BTreeSet<PathBuf>) -> io::Result<PathBuf> {
    let parts: Vec<&str> = rel.split('/').collect();
    let mut path = root.to_owned();
    for part in &parts[..parts.len() - 1] {
        path.push(part);
        if checked.contains(&path) {
            continue;
        }
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(annotate(
                    &path,
                    io::Error::other(
                        "a link or a file is where the download needs a folder; nothing is written through it",
                    ),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&path).map_err(|e| annotate(&path, e))?,
            Err(e) => return Err(annotate(&path, e)),
        }
        checked.insert(path.clone());
    }
    path.push(parts[parts.len() - 1]);
    refuse_link(&path)?;
    Ok(path)
}

/// Fails when `path` is a symbolic link (a missing path is fine).
fn refuse_link(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            Err(annotate(path, io::Error::other("a symbolic link, which a download never writes through")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanspread_proto::peer::FileEntry;

    #[test]
    fn only_safe_paths_pass() {
        for good in ["a.zip", "data/maps/dm1.bsp", "version.ini", "x..y", "data/local/x"] {
            assert!(check_download_path(good).is_ok(), "{good}");
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
            "LOCAL/x",
            "local./x",
            "Local /x",
            "nul",
            "data/con.txt",
            "a/",
        ] {
            assert!(check_download_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn manifests_with_bad_sizes_or_duplicates_are_refused() {
        let file =
            |path: &str, size: u64, chunks: usize| FileEntry { path: path.into(), size, chunks: vec![[0; 32]; chunks] };
        let manifest = |chunk_size, mut files: Vec<FileEntry>| {
            files.push(file(VERSION_FILE, 2, 1));
            GameManifest { id: "x".into(), version: "1".into(), chunk_size, files }
        };
        assert!(check_manifest(&manifest(4, vec![file("a", 9, 3), file("b", 0, 0)])).is_ok());
        assert!(matches!(
            check_manifest(&manifest(4, vec![file("a", 9, 2)])),
            Err(ManifestError::ChunkCount { hashes: 2, size: 9, .. })
        ));
        let mut sentinel_missing = manifest(4, vec![]);
        sentinel_missing.files.clear();
        assert_eq!(check_manifest(&sentinel_missing).unwrap_err().to_string(), "it has no version.ini");
        assert!(check_manifest(&manifest(0, vec![])).is_err());
        assert!(check_manifest(&manifest(MAX_CHUNK_SIZE + 1, vec![])).is_err());
        let twice = check_manifest(&manifest(4, vec![file("a", 1, 1), file("A", 1, 1)]));
        assert_eq!(twice, Err(ManifestError::ListedTwice("A".into())));
        let unsafe_path = check_manifest(&manifest(4, vec![file("../a", 1, 1)]));
        assert!(matches!(unsafe_path, Err(ManifestError::UnsafePath { .. })));
    }

    #[test]
    fn manifests_that_would_abort_or_wedge_the_fetcher_are_refused() {
        let file = |path: &str, size: u64, chunk_size: u64| FileEntry {
            path: path.into(),
            size,
            chunks: vec![[0; 32]; size.div_ceil(chunk_size) as usize],
        };
        let chunk = u64::from(MAX_CHUNK_SIZE);
        let manifest = |mut files: Vec<FileEntry>| {
            if !files.iter().any(|f| f.path == VERSION_FILE) {
                files.push(file(VERSION_FILE, 2, chunk));
            }
            GameManifest { id: "x".into(), version: "1".into(), chunk_size: MAX_CHUNK_SIZE, files }
        };
        // A 60 GiB version.ini would be allocated whole.
        let err = check_manifest(&manifest(vec![file(VERSION_FILE, 60 << 30, chunk)])).unwrap_err();
        assert_eq!(err, ManifestError::VersionFileTooLarge(60 << 30));
        // version.ini as a folder, and any file that is also a folder.
        for pair in [
            ["version.ini", "version.ini/x"],
            ["version.ini", "VERSION.INI/x"],
            ["data", "Data/x.pak"],
            ["a/b", "a/b/c/d"],
        ] {
            let err = check_manifest(&manifest(vec![file(pair[0], 1, chunk), file(pair[1], 1, chunk)])).unwrap_err();
            assert!(matches!(err, ManifestError::FileIsFolder { .. }), "{err}");
        }
        let mut bad_id = manifest(vec![]);
        bad_id.id = "../outside".into();
        assert_eq!(check_manifest(&bad_id), Err(ManifestError::InvalidId));
        let mut bad_version = manifest(vec![]);
        bad_version.version = "1\u{1b}[2J".into();
        assert_eq!(check_manifest(&bad_version), Err(ManifestError::InvalidVersion));
        let many = (0..MAX_MANIFEST_FILES).map(|i| file(&format!("f{i}"), 0, chunk)).collect();
        assert!(matches!(check_manifest(&manifest(many)), Err(ManifestError::TooManyFiles(_))));
    }
}
