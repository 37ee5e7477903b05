//! Chunk hashes, remembered on disk so an unchanged library is never hashed
//! twice: an entry is reused while the file's path, size and mtime match.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use lanspread_proto::peer::{FileEntry, GameManifest, MAX_CHUNK_SIZE};

use super::scan::{PayloadFile, scan_game_root};

/// Bytes per chunk in the manifests this node builds, unless the game is
/// so large that it would need more than [`MAX_MANIFEST_CHUNKS`]. Small
/// chunks are what a swarm trades: a chunk is passed on only once it is
/// whole and verified, so the smaller it is the sooner every downloader
/// has something to give, and the shorter the wait for the last ones.
pub const CHUNK_SIZE: u32 = 1024 * 1024;
/// Chunks a manifest this node builds names at most (by size; a game of
/// many small files has more): 4 MiB of hashes, half of what a peer
/// accepts in one answer ([`lanspread_proto::peer::MAX_PEER_FRAME`]).
pub const MAX_MANIFEST_CHUNKS: u64 = 128 * 1024;
const _: () = assert!(MAX_MANIFEST_CHUNKS * 32 <= lanspread_proto::peer::MAX_PEER_FRAME as u64 / 2);
/// An index file larger than this is discarded instead of read.
const MAX_INDEX_FILE: u64 = 1024 * 1024 * 1024;
/// Bumped when the index layout changes; an old index is rebuilt.
const INDEX_FORMAT: u32 = 1;
/// Read size while hashing; BLAKE3 is fastest on large buffers.
const READ_BUFFER: usize = 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexedFile {
    size: u64,
    mtime_ns: u64,
    chunk_size: u32,
    chunks: Vec<[u8; 32]>,
}

#[derive(Serialize, Deserialize)]
struct IndexFile {
    format: u32,
    entries: HashMap<String, IndexedFile>,
}

/// What one pass over the library cost.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HashStats {
    pub files_hashed: u64,
    pub bytes_hashed: u64,
    pub files_reused: u64,
}

impl HashStats {
    pub fn add(&mut self, other: HashStats) {
        self.files_hashed += other.files_hashed;
        self.bytes_hashed += other.bytes_hashed;
        self.files_reused += other.files_reused;
    }
}

/// The on-disk hash index, keyed by absolute file path.
#[derive(Debug)]
pub struct HashIndex {
    path: PathBuf,
    entries: HashMap<String, IndexedFile>,
    dirty: bool,
}

impl HashIndex {
    /// Loads the index at `path`; a missing or unreadable one starts empty.
    pub fn load(path: &Path) -> Self {
        let entries = match read_index(path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => {
                tracing::warn!("{}: discarding the hash index: {e}", path.display());
                HashMap::new()
            }
        };
        HashIndex { path: path.to_owned(), entries, dirty: false }
    }

    /// The indexed hashes of `file` in chunks of `chunk_size`, if it has not
    /// changed since.
    fn current(&self, file: &PayloadFile, chunk_size: u32) -> Option<&IndexedFile> {
        self.entries.get(file.abs.to_string_lossy().as_ref()).filter(|known| {
            known.size == file.size && known.mtime_ns == file.mtime_ns && known.chunk_size == chunk_size
        })
    }

    /// Whether [`HashIndex::chunks_for`] would answer `file` without reading it.
    pub fn is_current(&self, file: &PayloadFile, chunk_size: u32) -> bool {
        self.current(file, chunk_size).is_some()
    }

    /// The hashes of `file`'s chunks of `chunk_size`, from the index when it
    /// is unchanged.
    pub fn chunks_for(
        &mut self,
        file: &PayloadFile,
        chunk_size: u32,
        stats: &mut HashStats,
    ) -> io::Result<Vec<[u8; 32]>> {
        if let Some(known) = self.current(file, chunk_size) {
            stats.files_reused += 1;
            return Ok(known.chunks.clone());
        }
        let key = file.abs.to_string_lossy().into_owned();
        let chunks = hash_chunks(&file.abs, chunk_size)?;
        stats.files_hashed += 1;
        stats.bytes_hashed += file.size;
        let entry = IndexedFile { size: file.size, mtime_ns: file.mtime_ns, chunk_size, chunks: chunks.clone() };
        self.entries.insert(key, entry);
        self.dirty = true;
        Ok(chunks)
    }

    /// Takes the hashes of a download that has just been committed in
    /// `<game_dir>/<manifest.id>`: every chunk was verified as it was
    /// written, so the files need not be read again to be served. Files
    /// whose size does not match the manifest are left to be hashed.
    pub fn remember_download(&mut self, game_dir: &Path, manifest: &GameManifest) -> io::Result<()> {
        let Some(game) = scan_game_root(game_dir, &manifest.id)? else { return Ok(()) };
        let listed: HashMap<&str, &FileEntry> = manifest.files.iter().map(|f| (f.path.as_str(), f)).collect();
        for file in &game.files {
            if let Some(entry) = listed.get(file.rel.as_str()).filter(|e| e.size == file.size) {
                let indexed = IndexedFile {
                    size: file.size,
                    mtime_ns: file.mtime_ns,
                    chunk_size: manifest.chunk_size,
                    chunks: entry.chunks.clone(),
                };
                self.entries.insert(file.abs.to_string_lossy().into_owned(), indexed);
                self.dirty = true;
            }
        }
        Ok(())
    }

    /// Forgets files under `root` that are not in `keep`.
    pub fn forget_missing(&mut self, root: &Path, keep: &[PayloadFile]) {
        let prefix = root.to_string_lossy().into_owned();
        let before = self.entries.len();
        self.entries.retain(|key, _| {
            !Path::new(key).starts_with(&prefix) || keep.iter().any(|f| f.abs.to_string_lossy() == key.as_str())
        });
        self.dirty |= self.entries.len() != before;
    }

    /// Writes the index if it changed (temp file, fsync, rename).
    pub fn save(&mut self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let file = IndexFile { format: INDEX_FORMAT, entries: std::mem::take(&mut self.entries) };
        let bytes = postcard::to_stdvec(&file);
        self.entries = file.entries;
        let bytes = bytes.map_err(io::Error::other)?;
        crate::platform::fs::write_atomic(&self.path, &bytes)?;
        self.dirty = false;
        Ok(())
    }
}

fn read_index(path: &Path) -> io::Result<HashMap<String, IndexedFile>> {
    let mut file = fs::File::open(path)?;
    if file.metadata()?.len() > MAX_INDEX_FILE {
        return Err(io::Error::other("index file too large"));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let index: IndexFile = postcard::from_bytes(&bytes).map_err(io::Error::other)?;
    if index.format != INDEX_FORMAT {
        return Err(io::Error::other(format!("index format {} is not {INDEX_FORMAT}", index.format)));
    }
    Ok(index.entries)
}

/// The chunk size of a game of `total` bytes: [`CHUNK_SIZE`], doubled
/// until the game fits in [`MAX_MANIFEST_CHUNKS`] (at most
/// [`MAX_CHUNK_SIZE`], which covers 2 TiB).
pub fn chunk_size_for(total: u64) -> u32 {
    let mut size = CHUNK_SIZE;
    while total.div_ceil(u64::from(size)) > MAX_MANIFEST_CHUNKS && size < MAX_CHUNK_SIZE {
        size *= 2;
    }
    size
}

/// BLAKE3 of each `chunk_size` piece of the file at `path`.
pub fn hash_chunks(path: &Path, chunk_size: u32) -> io::Result<Vec<[u8; 32]>> {
    let annotate = |e: io::Error| crate::platform::fs::annotate(path, e);
    let mut file = fs::File::open(path).map_err(annotate)?;
    let mut buf = vec![0u8; READ_BUFFER.min(chunk_size as usize)];
    let mut chunks = Vec::new();
    let mut hasher = blake3::Hasher::new();
    let mut in_chunk = 0usize;
    loop {
        let want = buf.len().min(chunk_size as usize - in_chunk);
        let n = file.read(&mut buf[..want]).map_err(annotate)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        in_chunk += n;
        if in_chunk == chunk_size as usize {
            chunks.push(*hasher.finalize().as_bytes());
            hasher.reset();
            in_chunk = 0;
        }
    }
    if in_chunk > 0 {
        chunks.push(*hasher.finalize().as_bytes());
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::scan::scan_game_root;
    use std::io::Write;

    #[test]
    fn chunk_hashes_match_blake3_of_each_piece() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        fs::File::create(&path).unwrap().write_all(&data).unwrap();
        let chunks = hash_chunks(&path, 4096).unwrap();
        let expected: Vec<[u8; 32]> = data.chunks(4096).map(|c| *blake3::hash(c).as_bytes()).collect();
        assert_eq!(chunks, expected);
        fs::write(&path, b"").unwrap();
        assert!(hash_chunks(&path, 4096).unwrap().is_empty());
    }

    #[test]
    fn the_chunk_size_grows_only_for_games_too_large_for_a_manifest() {
        const GIB: u64 = 1024 * 1024 * 1024;
        assert_eq!(chunk_size_for(0), CHUNK_SIZE);
        assert_eq!(chunk_size_for(128 * GIB), CHUNK_SIZE);
        assert_eq!(chunk_size_for(128 * GIB + 1), 2 * CHUNK_SIZE);
        assert_eq!(chunk_size_for(300 * GIB), 4 * CHUNK_SIZE);
        assert_eq!(chunk_size_for(u64::MAX), MAX_CHUNK_SIZE);
        for total in [GIB, 129 * GIB, 1000 * GIB, 2048 * GIB] {
            assert!(total.div_ceil(u64::from(chunk_size_for(total))) <= MAX_MANIFEST_CHUNKS, "{total}");
        }
    }

    #[test]
    fn unchanged_files_are_not_hashed_again_even_after_reload() {
        let dir = tempfile::tempdir().unwrap();
        let games = dir.path().join("games");
        fs::create_dir_all(games.join("wesnoth")).unwrap();
        fs::write(games.join("wesnoth/a.bin"), vec![1u8; 5000]).unwrap();
        fs::write(games.join("wesnoth/version.ini"), "1.18").unwrap();
        let index_path = dir.path().join("index.bin");
        let game = scan_game_root(&games, "wesnoth").unwrap().unwrap();

        let mut index = HashIndex::load(&index_path);
        let mut first = HashStats::default();
        for file in &game.files {
            index.chunks_for(file, CHUNK_SIZE, &mut first).unwrap();
        }
        index.save().unwrap();
        assert_eq!((first.files_hashed, first.bytes_hashed), (2, 5004));

        let mut index = HashIndex::load(&index_path);
        let mut second = HashStats::default();
        for file in &game.files {
            index.chunks_for(file, CHUNK_SIZE, &mut second).unwrap();
        }
        assert_eq!(second, HashStats { files_hashed: 0, bytes_hashed: 0, files_reused: 2 });

        fs::write(games.join("wesnoth/a.bin"), vec![2u8; 6000]).unwrap();
        let game = scan_game_root(&games, "wesnoth").unwrap().unwrap();
        let mut third = HashStats::default();
        for file in &game.files {
            index.chunks_for(file, CHUNK_SIZE, &mut third).unwrap();
        }
        assert_eq!((third.files_hashed, third.bytes_hashed, third.files_reused), (1, 6000, 1));
    }

    #[test]
    fn a_committed_download_is_not_hashed_again() {
        let dir = tempfile::tempdir().unwrap();
        let games = dir.path().join("games");
        fs::create_dir_all(games.join("wesnoth")).unwrap();
        fs::write(games.join("wesnoth/a.bin"), vec![1u8; 5000]).unwrap();
        fs::write(games.join("wesnoth/b.bin"), vec![2u8; 10]).unwrap();
        fs::write(games.join("wesnoth/version.ini"), "1.18").unwrap();
        let entry = |path: &str, bytes: &[u8]| FileEntry {
            path: path.into(),
            size: bytes.len() as u64,
            chunks: vec![*blake3::hash(bytes).as_bytes()],
        };
        let manifest = GameManifest {
            id: "wesnoth".into(),
            version: "1.18".into(),
            chunk_size: CHUNK_SIZE,
            // b.bin's size differs: it is left to be hashed.
            files: vec![entry("a.bin", &[1; 5000]), entry("b.bin", &[2; 11]), entry("version.ini", b"1.18")],
        };
        let index_path = dir.path().join("index.bin");
        let mut index = HashIndex::load(&index_path);
        index.remember_download(&games, &manifest).unwrap();
        index.save().unwrap();
        let mut index = HashIndex::load(&index_path);
        let game = scan_game_root(&games, "wesnoth").unwrap().unwrap();
        let mut stats = HashStats::default();
        for file in &game.files {
            let chunks = index.chunks_for(file, CHUNK_SIZE, &mut stats).unwrap();
            assert_eq!(chunks, hash_chunks(&file.abs, CHUNK_SIZE).unwrap(), "{}", file.rel);
        }
        assert_eq!((stats.files_reused, stats.files_hashed), (2, 1));
    }

    #[test]
    fn a_corrupt_index_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let index_path = dir.path().join("index.bin");
        fs::write(&index_path, b"\xff\xff garbage").unwrap();
        let index = HashIndex::load(&index_path);
        assert!(index.entries.is_empty());
    }
}
