//! What one request fetches: a *piece*. A chunk of a large file is a piece
//! of its own; whole small files next to each other in the file list make
//! one piece, a run ([`PeerRequest::GetRun`]), so a game of 20,000 small
//! files takes about a thousand requests, streams and upload slots, not
//! 20,000. Every file of a run is still checked against its own hash and
//! journalled on its own; a piece is only how the chunks travel.
//!
//! Plain logic: the planner plans pieces (each named by its first chunk),
//! the transfer loop asks for them, and the swarm's chunk claims are read
//! as pieces here.
//!
//! [`PeerRequest::GetRun`]: lanspread_proto::peer::PeerRequest::GetRun

use std::collections::{HashMap, HashSet};

use lanspread_proto::peer::{GameManifest, MAX_RUN_FILES};

use super::planner::{ChunkRef, Wanted};
use crate::library::scan::VERSION_FILE;
use crate::swarm::chunks::{chunk_len, fits_a_run, run_limit};

/// A run: `files` whole files from its first chunk's file, `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    files: u32,
    len: u64,
    chunks: Vec<ChunkRef>,
}

/// The pieces of one download.
#[derive(Debug, Default)]
pub struct Pieces {
    /// Runs by their first chunk; every other piece is a single chunk.
    runs: HashMap<ChunkRef, Run>,
    /// The run each chunk of a run belongs to.
    run_of: HashMap<ChunkRef, ChunkRef>,
}

impl Pieces {
    /// Groups `wanted` into pieces, in file-list order: each wanted
    /// single-chunk file joins the run before it while the run stays within
    /// [`run_limit`] bytes and [`MAX_RUN_FILES`] files (empty files between
    /// them ride along). Returns the pieces to want, each named by its
    /// first chunk with the bytes of the whole piece.
    pub fn group(manifest: &GameManifest, wanted: &[Wanted]) -> (Pieces, Vec<Wanted>) {
        let wanted_chunks: HashSet<ChunkRef> = wanted.iter().map(|w| w.chunk).collect();
        let limit = run_limit(manifest);
        let mut pieces = Pieces::default();
        let mut grouped = Vec::with_capacity(wanted.len());
        let mut open: Option<Run> = None;
        for (file, entry) in manifest.files.iter().enumerate() {
            let file = file as u32;
            let chunk = ChunkRef { file, chunk: 0 };
            if entry.chunks.is_empty() {
                continue;
            }
            if !(travels_in_runs(manifest, file) && wanted_chunks.contains(&chunk)) {
                pieces.close(open.take(), &mut grouped);
                continue;
            }
            if let Some(run) = &mut open {
                let first = run.chunks[0].file;
                if run.len + entry.size <= limit && file - first < MAX_RUN_FILES {
                    run.files = file - first + 1;
                    run.len += entry.size;
                    run.chunks.push(chunk);
                    continue;
                }
            }
            pieces.close(open.take(), &mut grouped);
            open = Some(Run { files: 1, len: entry.size, chunks: vec![chunk] });
        }
        pieces.close(open, &mut grouped);
        // Every wanted chunk of a small file is in a piece above.
        let grouped_above = |w: &&Wanted| w.chunk.chunk == 0 && travels_in_runs(manifest, w.chunk.file);
        grouped.extend(wanted.iter().filter(|w| !grouped_above(w)).copied());
        (pieces, grouped)
    }

    /// Ends `run`: two files or more make a run, one is a plain chunk.
    fn close(&mut self, run: Option<Run>, grouped: &mut Vec<Wanted>) {
        let Some(run) = run else { return };
        let first = run.chunks[0];
        grouped.push(Wanted { chunk: first, len: run.len });
        if run.chunks.len() > 1 {
            for chunk in &run.chunks {
                self.run_of.insert(*chunk, first);
            }
            self.runs.insert(first, run);
        }
    }

    /// The number of whole files the piece named `piece` spans, when it is
    /// a run.
    pub fn run_files(&self, piece: ChunkRef) -> Option<u32> {
        self.runs.get(&piece).map(|run| run.files)
    }

    /// The chunks of the piece named `piece`.
    pub fn chunks<'a>(&'a self, piece: &'a ChunkRef) -> &'a [ChunkRef] {
        self.runs.get(piece).map_or(std::slice::from_ref(piece), |run| &run.chunks)
    }

    /// The bytes of the piece named `piece`.
    pub fn len(&self, manifest: &GameManifest, piece: ChunkRef) -> u64 {
        self.runs.get(&piece).map_or_else(|| chunk_len(manifest, piece), |run| run.len)
    }

    /// The piece `chunk` travels in.
    pub fn piece_of(&self, chunk: ChunkRef) -> ChunkRef {
        self.run_of.get(&chunk).copied().unwrap_or(chunk)
    }
}

/// Whether file `file` travels in runs: a small file, but not
/// `version.ini`, which swarm members never offer (it is held in memory
/// until the commit), so a run holding it could come from no member.
fn travels_in_runs(manifest: &GameManifest, file: u32) -> bool {
    fits_a_run(manifest, file) && manifest.files[file as usize].path != VERSION_FILE
}

#[cfg(test)]
mod tests {
    use lanspread_proto::peer::FileEntry;

    use super::*;

    /// A file list of 4-byte chunks with files of these sizes.
    fn manifest(sizes: &[u64]) -> GameManifest {
        let files = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| FileEntry {
                path: format!("f{i}"),
                size,
                chunks: vec![[i as u8; 32]; size.div_ceil(4) as usize],
            })
            .collect();
        GameManifest { id: "g".into(), version: "1".into(), chunk_size: 4, files }
    }

    fn all_wanted(manifest: &GameManifest) -> Vec<Wanted> {
        super::super::storage::all_chunks(manifest)
            .map(|chunk| Wanted { chunk, len: chunk_len(manifest, chunk) })
            .collect()
    }

    fn c(file: u32, chunk: u32) -> ChunkRef {
        ChunkRef { file, chunk }
    }

    #[test]
    fn neighbouring_small_files_travel_together_within_a_chunk() {
        // 1, 2, (empty), 1, 9 (three chunks), 3, 4, 1 bytes.
        let manifest = manifest(&[1, 2, 0, 1, 9, 3, 4, 1]);
        let (pieces, wanted) = Pieces::group(&manifest, &all_wanted(&manifest));
        let lens: Vec<(ChunkRef, u64)> = wanted.iter().map(|w| (w.chunk, w.len)).collect();
        // Files 0, 1 and 3 (the empty file 2 rides along) make 4 bytes;
        // file 5 alone, as 3 + 4 is past a chunk; 6 and 7 would make 5.
        assert_eq!(
            lens,
            [(c(0, 0), 4), (c(5, 0), 3), (c(6, 0), 4), (c(7, 0), 1), (c(4, 0), 4), (c(4, 1), 4), (c(4, 2), 1)]
        );
        assert_eq!(pieces.run_files(c(0, 0)), Some(4));
        assert_eq!(pieces.chunks(&c(0, 0)), [c(0, 0), c(1, 0), c(3, 0)]);
        assert_eq!(pieces.piece_of(c(3, 0)), c(0, 0));
        assert_eq!(pieces.len(&manifest, c(0, 0)), 4);
        for single in [c(5, 0), c(4, 1)] {
            assert_eq!(pieces.run_files(single), None);
            assert_eq!(pieces.chunks(&single), [single]);
            assert_eq!(pieces.piece_of(single), single);
        }
        let sum: u64 = wanted.iter().map(|w| w.len).sum();
        assert_eq!(sum, manifest.total_size(), "every byte in exactly one piece");
    }

    #[test]
    fn version_ini_travels_alone_for_no_swarm_member_offers_it() {
        let mut manifest = manifest(&[1, 1, 1, 1]);
        manifest.files[1].path = VERSION_FILE.into();
        let (pieces, grouped) = Pieces::group(&manifest, &all_wanted(&manifest));
        let firsts: Vec<ChunkRef> = grouped.iter().map(|w| w.chunk).collect();
        assert_eq!(firsts, [c(0, 0), c(2, 0), c(1, 0)]);
        assert_eq!(pieces.run_files(c(2, 0)), Some(2));
        assert_eq!(pieces.run_files(c(1, 0)), None);
    }

    #[test]
    fn only_wanted_files_are_grouped_and_every_run_follows_the_servers_rule() {
        let manifest = manifest(&[1, 1, 1, 1, 1, 1]);
        let wanted: Vec<Wanted> = all_wanted(&manifest).into_iter().filter(|w| w.chunk.file != 2).collect();
        let (pieces, grouped) = Pieces::group(&manifest, &wanted);
        let firsts: Vec<ChunkRef> = grouped.iter().map(|w| w.chunk).collect();
        assert_eq!(firsts, [c(0, 0), c(3, 0)], "file 2 is here already: it splits the runs");
        assert_eq!(pieces.chunks(&c(3, 0)), [c(3, 0), c(4, 0), c(5, 0)]);
        for piece in &grouped {
            if let Some(files) = pieces.run_files(piece.chunk) {
                let len = crate::swarm::chunks::run_len(&manifest, piece.chunk.file, files);
                assert_eq!(len, Some(piece.len), "a run the server would answer");
            }
        }
    }
}
