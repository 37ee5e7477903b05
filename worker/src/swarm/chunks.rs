//! Chunks numbered across a whole file list, and sets of them as bits: what
//! a swarm member holds. Plain logic; every set from a peer is checked here
//! against the file list before anything uses it.

use lanspread_proto::peer::{GameManifest, Have, MAX_HAVE_BATCH, MAX_RUN_BYTES, MAX_RUN_FILES};

/// A chunk of a file list: file index and chunk index within the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkRef {
    pub file: u32,
    pub chunk: u32,
}

/// Numbers the chunks of a file list in file order: file 0's chunks, then
/// file 1's, and so on (the numbering of [`Have`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkIndex {
    /// The number of each file's first chunk.
    starts: Vec<u32>,
    total: u32,
}

impl ChunkIndex {
    /// The numbering of `manifest`'s chunks; `None` when it has more than
    /// `u32::MAX` of them (no checked file list does).
    pub fn of(manifest: &GameManifest) -> Option<ChunkIndex> {
        let mut starts = Vec::with_capacity(manifest.files.len());
        let mut total = 0u32;
        for file in &manifest.files {
            starts.push(total);
            total = total.checked_add(u32::try_from(file.chunks.len()).ok()?)?;
        }
        Some(ChunkIndex { starts, total })
    }

    pub fn total(&self) -> u32 {
        self.total
    }

    /// The number of `chunk`, if the file list has it.
    pub fn number(&self, chunk: ChunkRef) -> Option<u32> {
        let start = *self.starts.get(chunk.file as usize)?;
        let end = self.starts.get(chunk.file as usize + 1).copied().unwrap_or(self.total);
        let n = start.checked_add(chunk.chunk)?;
        (n < end).then_some(n)
    }

    /// The chunk numbered `n`, if there is one.
    pub fn chunk(&self, n: u32) -> Option<ChunkRef> {
        if n >= self.total {
            return None;
        }
        // The last file starting at or before `n` (empty files share a start).
        let file = self.starts.partition_point(|&s| s <= n) - 1;
        Some(ChunkRef { file: file as u32, chunk: n - self.starts[file] })
    }
}

/// A set of chunk numbers below a fixed total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkBits {
    bytes: Vec<u8>,
    total: u32,
    count: u32,
}

/// Why a peer's [`Have`] is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HaveError {
    #[error("its chunk set has {got} bytes where the file list needs {want}")]
    WrongLength { got: usize, want: usize },
    #[error("it names chunk {0}, past the file list's end")]
    NoSuchChunk(u32),
    #[error("it names {0} chunks at once (at most {MAX_HAVE_BATCH})")]
    TooMany(usize),
    #[error("it no longer holds chunk {0} it said it held")]
    Shrank(u32),
}

impl ChunkBits {
    /// No chunk of `total`.
    pub fn empty(total: u32) -> ChunkBits {
        ChunkBits { bytes: vec![0; total.div_ceil(8) as usize], total, count: 0 }
    }

    /// A peer's bits for a file list of `total` chunks: exactly as many
    /// bytes as those need, and no bit set past the end.
    pub fn from_wire(bytes: Vec<u8>, total: u32) -> Result<ChunkBits, HaveError> {
        let want = total.div_ceil(8) as usize;
        if bytes.len() != want {
            return Err(HaveError::WrongLength { got: bytes.len(), want });
        }
        let spare = (8 - total % 8) % 8;
        if spare > 0 && bytes[want - 1] >> (8 - spare) != 0 {
            return Err(HaveError::NoSuchChunk(total));
        }
        let count = bytes.iter().map(|b| b.count_ones()).sum();
        Ok(ChunkBits { bytes, total, count })
    }

    pub fn to_wire(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    pub fn contains(&self, n: u32) -> bool {
        n < self.total && self.bytes[(n / 8) as usize] & (1 << (n % 8)) != 0
    }

    /// Adds `n`; false if it was there already or is past the end.
    pub fn insert(&mut self, n: u32) -> bool {
        if n >= self.total || self.contains(n) {
            return false;
        }
        self.bytes[(n / 8) as usize] |= 1 << (n % 8);
        self.count += 1;
        true
    }

    pub fn is_full(&self) -> bool {
        self.count == self.total
    }
}

/// What a member holds, as the downloader keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holding {
    All,
    Some(ChunkBits),
}

impl Holding {
    /// Applies a peer's `have` for a file list of `total` chunks; what it
    /// names is checked first, and a refused update changes nothing.
    /// Returns the chunks that are new.
    pub fn apply(&mut self, have: Have, total: u32) -> Result<Vec<u32>, HaveError> {
        match have {
            Have::All => {
                let new = match self {
                    Holding::All => Vec::new(),
                    Holding::Some(bits) => (0..total).filter(|n| !bits.contains(*n)).collect(),
                };
                *self = Holding::All;
                Ok(new)
            }
            Have::Bits(bytes) => {
                let bits = ChunkBits::from_wire(bytes, total)?;
                // Verified chunks stay verified: a set may only grow.
                if let Some(lost) = (0..total).find(|n| self.contains(*n) && !bits.contains(*n)) {
                    return Err(HaveError::Shrank(lost));
                }
                let new = (0..total).filter(|n| bits.contains(*n) && !self.contains(*n)).collect();
                *self = if bits.is_full() { Holding::All } else { Holding::Some(bits) };
                Ok(new)
            }
            Have::More(numbers) => {
                if numbers.len() > MAX_HAVE_BATCH {
                    return Err(HaveError::TooMany(numbers.len()));
                }
                if let Some(bad) = numbers.iter().find(|n| **n >= total) {
                    return Err(HaveError::NoSuchChunk(*bad));
                }
                let Holding::Some(bits) = self else { return Ok(Vec::new()) };
                let new: Vec<u32> = numbers.into_iter().filter(|n| bits.insert(*n)).collect();
                if bits.is_full() {
                    *self = Holding::All;
                }
                Ok(new)
            }
        }
    }

    pub fn contains(&self, n: u32) -> bool {
        match self {
            Holding::All => true,
            Holding::Some(bits) => bits.contains(n),
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self, Holding::All)
    }
}

/// The length of a chunk (the last of a file is shorter; 0 for one the
/// file list does not have).
pub fn chunk_len(manifest: &GameManifest, chunk: ChunkRef) -> u64 {
    let Some(file) = manifest.files.get(chunk.file as usize) else { return 0 };
    let offset = u64::from(chunk.chunk) * u64::from(manifest.chunk_size);
    file.size.saturating_sub(offset).min(u64::from(manifest.chunk_size))
}

/// Most bytes one run of small files of `manifest` holds: a chunk, and at
/// most [`MAX_RUN_BYTES`].
pub fn run_limit(manifest: &GameManifest) -> u64 {
    u64::from(manifest.chunk_size.min(MAX_RUN_BYTES))
}

/// Whether file `file` of `manifest` may be part of a run: at most one
/// chunk (an empty file has none and adds no bytes).
pub fn fits_a_run(manifest: &GameManifest, file: u32) -> bool {
    manifest.files.get(file as usize).is_some_and(|f| f.chunks.len() <= 1 && f.size <= run_limit(manifest))
}

/// The bytes of the run of `count` whole files from `file` (see
/// [`lanspread_proto::peer::PeerRequest::GetRun`]): `None` unless each
/// [`fits_a_run`], there are 1 to [`MAX_RUN_FILES`] of them, and together
/// they hold at least one byte and at most [`run_limit`]. The one rule the
/// server answers by and the fetcher plans with.
pub fn run_len(manifest: &GameManifest, file: u32, count: u32) -> Option<u64> {
    if count == 0 || count > MAX_RUN_FILES {
        return None;
    }
    let end = file.checked_add(count)?;
    let mut total = 0u64;
    for f in file..end {
        if !fits_a_run(manifest, f) {
            return None;
        }
        total += manifest.files[f as usize].size;
    }
    (total > 0 && total <= run_limit(manifest)).then_some(total)
}

#[cfg(test)]
mod tests {
    use lanspread_proto::peer::FileEntry;

    use super::*;

    fn manifest(chunks: &[usize]) -> GameManifest {
        let files = chunks
            .iter()
            .enumerate()
            .map(|(i, &n)| FileEntry { path: format!("f{i}"), size: n as u64 * 4, chunks: vec![[0; 32]; n] })
            .collect();
        GameManifest { id: "g".into(), version: "1".into(), chunk_size: 4, files }
    }

    #[test]
    fn chunks_are_numbered_in_file_order_and_back() {
        let index = ChunkIndex::of(&manifest(&[2, 0, 3])).unwrap();
        assert_eq!(index.total(), 5);
        let all: Vec<ChunkRef> = (0..5).map(|n| index.chunk(n).unwrap()).collect();
        let files: Vec<(u32, u32)> = all.iter().map(|c| (c.file, c.chunk)).collect();
        assert_eq!(files, [(0, 0), (0, 1), (2, 0), (2, 1), (2, 2)]);
        for (n, chunk) in all.iter().enumerate() {
            assert_eq!(index.number(*chunk), Some(n as u32));
        }
        assert_eq!(index.chunk(5), None);
        assert_eq!(index.number(ChunkRef { file: 0, chunk: 2 }), None, "past its file's end");
        assert_eq!(index.number(ChunkRef { file: 1, chunk: 0 }), None, "an empty file has no chunk");
        assert_eq!(index.number(ChunkRef { file: 9, chunk: 0 }), None);
        assert_eq!(index.number(ChunkRef { file: 2, chunk: u32::MAX }), None);
    }

    #[test]
    fn a_run_is_whole_small_files_within_one_chunk_and_the_file_list() {
        // Files of 0, 1, 2 and 1 chunks of 4 bytes.
        let mut list = manifest(&[0, 1, 2, 1, 1]);
        list.files[3].size = 3;
        assert_eq!(run_len(&list, 0, 2), Some(4), "an empty file adds nothing");
        assert_eq!(run_len(&list, 0, 1), None, "no bytes");
        assert_eq!(run_len(&list, 1, 2), None, "file 2 has two chunks");
        assert_eq!(run_len(&list, 3, 1), Some(3));
        assert_eq!(run_len(&list, 3, 2), None, "7 bytes, more than a chunk");
        assert_eq!(run_len(&list, 4, 2), None, "past the end");
        assert_eq!(run_len(&list, u32::MAX, 2), None);
        assert_eq!(run_len(&list, 1, 0), None);
        let many = GameManifest { chunk_size: 1 << 20, ..manifest(&[1; 300]) };
        assert_eq!(run_len(&many, 0, MAX_RUN_FILES), Some(4 * u64::from(MAX_RUN_FILES)));
        assert_eq!(run_len(&many, 0, MAX_RUN_FILES + 1), None, "too many files");
    }

    #[test]
    fn a_peers_chunk_set_is_checked_against_the_file_list() {
        assert_eq!(ChunkBits::from_wire(vec![0; 3], 10), Err(HaveError::WrongLength { got: 3, want: 2 }));
        assert_eq!(ChunkBits::from_wire(vec![0xff, 0x04], 10), Err(HaveError::NoSuchChunk(10)));
        let bits = ChunkBits::from_wire(vec![0x81, 0x02], 10).unwrap();
        assert_eq!((0..10).filter(|n| bits.contains(*n)).collect::<Vec<_>>(), [0, 7, 9]);
        assert_eq!(bits.count, 3);

        let mut holding = Holding::Some(ChunkBits::empty(10));
        assert_eq!(holding.apply(Have::More(vec![3, 3, 4]), 10), Ok(vec![3, 4]));
        assert_eq!(holding.apply(Have::More(vec![10]), 10), Err(HaveError::NoSuchChunk(10)));
        let many = vec![1; MAX_HAVE_BATCH + 1];
        assert_eq!(holding.apply(Have::More(many), 10), Err(HaveError::TooMany(MAX_HAVE_BATCH + 1)));
        assert!(holding.contains(3) && !holding.contains(5), "refused updates change nothing");
        assert_eq!(holding.apply(Have::Bits(vec![0x08, 0x00]), 10), Err(HaveError::Shrank(4)));
        assert_eq!(holding.apply(Have::Bits(vec![0xff, 0x03]), 10).unwrap().len(), 8);
        assert!(holding.is_all(), "every bit set is the whole game");
        assert_eq!(holding.apply(Have::Bits(vec![0xff, 0x01]), 10), Err(HaveError::Shrank(9)), "All stays All");
    }
}
