//! What an update keeps: every chunk of the new file list whose bytes are
//! already in the game root, found by hash.
//!
//! A chunk at the same path and offset with the same hash is kept where it
//! is. Any other chunk whose hash is found in a current file is copied from
//! there, but only from places the download never writes before it commits:
//! a file the new list does not name (it is removed at the commit), or a
//! chunk that is itself kept in place. So a renamed or moved file costs a
//! local copy and no transfer, and nothing a copy reads can change under it.
//! Every copied chunk is hashed again as it is read.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use lanspread_proto::peer::GameManifest;
use tokio_util::sync::CancellationToken;

use super::planner::ChunkRef;
use super::storage::{ChunkReader, Storage, chunk_len};
use crate::library::hash_index::hash_chunks;
use crate::library::scan::{VERSION_FILE, scan_game_root};

/// Below this chunk size an old file is not hashed for reuse: a peer's file
/// list could otherwise make us keep a hash per few bytes of a whole game.
pub const MIN_REUSE_CHUNK_SIZE: u32 = 64 * 1024;

/// The chunks a download need not fetch.
#[derive(Debug, Default)]
pub struct ReusePlan {
    /// Chunks already at their place, hashed just now.
    pub in_place: BTreeSet<ChunkRef>,
    /// Chunks found in another place of the root.
    pub copies: Vec<Copy>,
}

/// A chunk to copy within the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub chunk: ChunkRef,
    pub from: PathBuf,
    pub offset: u64,
}

/// Hashes the payload files now in `<game_dir>/<manifest.id>` and finds
/// the chunks of `manifest` they hold. Reads every current file once;
/// stops early (with what it found) when `cancel` fires, between files.
pub fn plan(game_dir: &Path, manifest: &GameManifest, cancel: &CancellationToken) -> io::Result<ReusePlan> {
    let mut plan = ReusePlan::default();
    if manifest.chunk_size < MIN_REUSE_CHUNK_SIZE {
        return Ok(plan);
    }
    let Some(current) = scan_game_root(game_dir, &manifest.id)? else { return Ok(plan) };
    let new_index: HashMap<&str, usize> =
        manifest.files.iter().enumerate().map(|(i, f)| (f.path.as_str(), i)).collect();
    // Case-folded, so a file that is the same on a case-insensitive disk is never a source.
    let named: BTreeSet<String> = manifest.files.iter().map(|f| f.path.to_lowercase()).collect();

    // Only hashes the new list wants are kept, so memory follows the file
    // list (bounded), not the size of what is on disk.
    let wanted: BTreeSet<&[u8; 32]> = manifest.files.iter().flat_map(|f| &f.chunks).collect();
    let mut sources: HashMap<[u8; 32], (usize, u64)> = HashMap::new();
    let files: Vec<_> = current.files.iter().filter(|f| f.rel != VERSION_FILE && f.size > 0).collect();
    for (index, file) in files.iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        // A file that cannot be read (a running game may hold it open) only
        // gives nothing to reuse.
        let hashes = match hash_chunks(&file.abs, manifest.chunk_size) {
            Ok(hashes) => hashes,
            Err(e) => {
                tracing::info!("{}: not reused: {e}", manifest.id);
                continue;
            }
        };
        let same_path = new_index.get(file.rel.as_str()).copied();
        let stable_file = !named.contains(&file.rel.to_lowercase());
        for (k, hash) in hashes.iter().enumerate() {
            let in_place = same_path.is_some_and(|i| manifest.files[i].chunks.get(k) == Some(hash));
            if let (true, Some(i)) = (in_place, same_path) {
                plan.in_place.insert(ChunkRef { file: i as u32, chunk: k as u32 });
            }
            if (in_place || stable_file) && wanted.contains(hash) {
                let offset = k as u64 * u64::from(manifest.chunk_size);
                sources.entry(*hash).or_insert((index, offset));
            }
        }
    }
    for (i, entry) in manifest.files.iter().enumerate().filter(|(_, f)| f.path != VERSION_FILE) {
        for (k, hash) in entry.chunks.iter().enumerate() {
            let chunk = ChunkRef { file: i as u32, chunk: k as u32 };
            if plan.in_place.contains(&chunk) {
                continue;
            }
            if let Some(&(index, offset)) = sources.get(hash) {
                plan.copies.push(Copy { chunk, from: files[index].abs.clone(), offset });
            }
        }
    }
    Ok(plan)
}

/// Copies each chunk of `copies` whose source still holds its bytes;
/// returns the chunks copied. `on_copied` hears of each as it lands.
pub fn copy(
    manifest: &GameManifest,
    storage: &Storage,
    copies: &[Copy],
    cancel: &CancellationToken,
    mut on_copied: impl FnMut(ChunkRef) -> io::Result<()>,
) -> io::Result<Vec<ChunkRef>> {
    let mut reader = ChunkReader::default();
    let mut done = Vec::new();
    for copy in copies {
        if cancel.is_cancelled() {
            break;
        }
        let expected = &manifest.files[copy.chunk.file as usize].chunks[copy.chunk.chunk as usize];
        let len = chunk_len(manifest, copy.chunk) as usize;
        let Some(bytes) = reader.read_verified(&copy.from, copy.offset, len, expected) else { continue };
        storage.write(copy.chunk, bytes)?;
        on_copied(copy.chunk)?;
        done.push(copy.chunk);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanspread_proto::peer::FileEntry;

    const CHUNK: u32 = MIN_REUSE_CHUNK_SIZE;

    fn entry(path: &str, bytes: &[u8]) -> FileEntry {
        let chunks = bytes.chunks(CHUNK as usize).map(|c| *blake3::hash(c).as_bytes()).collect();
        FileEntry { path: path.into(), size: bytes.len() as u64, chunks }
    }

    fn bytes(seed: u8, chunks: usize) -> Vec<u8> {
        (0..chunks * CHUNK as usize).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
    }

    #[test]
    fn kept_in_place_copied_from_renamed_files_never_from_files_being_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("g");
        std::fs::create_dir_all(root.join("maps")).unwrap();
        let (same, moved, rewritten) = (bytes(1, 2), bytes(2, 1), bytes(3, 1));
        std::fs::write(root.join("same.pak"), &same).unwrap();
        std::fs::write(root.join("maps/old.bsp"), &moved).unwrap();
        // `patched.pak` changes: its old bytes must not feed `copy.pak`.
        std::fs::write(root.join("patched.pak"), &rewritten).unwrap();
        std::fs::write(root.join("version.ini"), "1").unwrap();
        let manifest = GameManifest {
            id: "g".into(),
            version: "2".into(),
            chunk_size: CHUNK,
            files: vec![
                entry("same.pak", &same),
                entry("maps/new/old.bsp", &moved),
                entry("patched.pak", &bytes(4, 1)),
                entry("copy.pak", &rewritten),
                entry("version.ini", b"2"),
            ],
        };
        let plan = plan(dir.path(), &manifest, &CancellationToken::new()).unwrap();
        let at = |file, chunk| ChunkRef { file, chunk };
        assert_eq!(plan.in_place.iter().copied().collect::<Vec<_>>(), [at(0, 0), at(0, 1)]);
        assert_eq!(plan.copies, [Copy { chunk: at(1, 0), from: root.join("maps/old.bsp"), offset: 0 }]);
    }

    #[test]
    fn tiny_chunk_sizes_are_not_hashed_for_reuse() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("g")).unwrap();
        std::fs::write(dir.path().join("g/a"), [0u8; 100]).unwrap();
        let manifest = GameManifest { id: "g".into(), version: "2".into(), chunk_size: 1, files: vec![] };
        let plan = plan(dir.path(), &manifest, &CancellationToken::new()).unwrap();
        assert!(plan.in_place.is_empty() && plan.copies.is_empty());
    }
}
