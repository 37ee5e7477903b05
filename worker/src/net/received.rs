//! A chunk as it arrives from a peer: copied once out of QUIC's buffers
//! into memory aligned for unbuffered writes ([`UNBUFFERED_ALIGN`]), and
//! hashed as it fills, a `HASH_STEP` at a time, while those bytes are
//! still in the CPU's cache.

use crate::platform::unbuffered::UNBUFFERED_ALIGN;

/// Bytes hashed at once: a whole number of BLAKE3 chunks (1 KiB), enough
/// for its widest SIMD path, small enough to be hashed while cached.
const HASH_STEP: usize = 64 * 1024;

/// A received chunk's bytes and their BLAKE3 hash so far. Filled by
/// appending, with no zeroing and no reallocation; reused across chunks.
#[derive(Debug)]
pub struct ReceivedChunk {
    bytes: Vec<u8>,
    start: usize,
    capacity: usize,
    hasher: blake3::Hasher,
    hashed: usize,
    /// Off for a run of small files, each checked against its own hash.
    hash_as_it_fills: bool,
}

impl ReceivedChunk {
    /// An empty buffer for up to `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> ReceivedChunk {
        let mut bytes: Vec<u8> = Vec::with_capacity(capacity + UNBUFFERED_ALIGN);
        let start = bytes.as_ptr().align_offset(UNBUFFERED_ALIGN).min(UNBUFFERED_ALIGN);
        bytes.resize(start, 0);
        ReceivedChunk { bytes, start, capacity, hasher: blake3::Hasher::new(), hashed: 0, hash_as_it_fills: true }
    }

    /// Whether the bytes are hashed as they arrive (for
    /// [`ReceivedChunk::hash`]); a run's files are hashed one by one instead.
    pub fn hash_as_it_fills(&mut self, on: bool) {
        self.hash_as_it_fills = on;
    }

    /// Empties the buffer for up to `capacity` bytes, keeping its memory
    /// when it is large enough (a reused buffer costs no page faults).
    pub fn reset(&mut self, capacity: usize) {
        if self.bytes.capacity() < self.start + capacity {
            let hash_as_it_fills = self.hash_as_it_fills;
            *self = ReceivedChunk { hash_as_it_fills, ..ReceivedChunk::with_capacity(capacity) };
        } else {
            self.bytes.truncate(self.start);
            self.capacity = capacity;
            self.hasher.reset();
            self.hashed = 0;
        }
    }

    /// Appends `piece`; fails (appending nothing) past the capacity, with
    /// the length it would have had.
    pub fn extend(&mut self, piece: &[u8]) -> Result<(), usize> {
        if self.len() + piece.len() > self.capacity {
            return Err(self.len() + piece.len());
        }
        self.bytes.extend_from_slice(piece);
        if !self.hash_as_it_fills {
            return Ok(());
        }
        let ready = (self.len() - self.hashed) / HASH_STEP * HASH_STEP;
        if ready > 0 {
            let from = self.start + self.hashed;
            self.hasher.update(&self.bytes[from..from + ready]);
            self.hashed += ready;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    /// The most bytes it holds (what [`ReceivedChunk::reset`] last allowed).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The most bytes its memory holds, whatever [`ReceivedChunk::reset`]
    /// last allowed.
    pub fn room(&self) -> usize {
        self.bytes.capacity() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// The BLAKE3 hash of the bytes received.
    pub fn hash(&mut self) -> blake3::Hash {
        let from = self.start + self.hashed;
        self.hasher.update(&self.bytes[from..]);
        self.hashed = self.len();
        self.hasher.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_bounded_reused_and_hashed_as_it_fills() {
        for capacity in [0, 1, 4096, HASH_STEP + 5000] {
            let mut buffer = ReceivedChunk::with_capacity(capacity);
            assert_eq!(buffer.as_slice().as_ptr().align_offset(UNBUFFERED_ALIGN), 0);
            assert!(buffer.is_empty());
            let data: Vec<u8> = (0..capacity).map(|i| (i * 31) as u8).collect();
            for piece in data.chunks(1200) {
                buffer.extend(piece).unwrap();
            }
            assert_eq!(buffer.extend(&[1]), Err(capacity + 1));
            assert_eq!(buffer.as_slice(), data);
            assert_eq!(buffer.hash(), blake3::hash(&data));
        }
        let mut reused = ReceivedChunk::with_capacity(3 * HASH_STEP);
        reused.extend(&vec![3; 3 * HASH_STEP]).unwrap();
        let address = reused.as_slice().as_ptr();
        reused.reset(100);
        assert!(reused.is_empty() && reused.extend(&[1; 101]).is_err());
        reused.extend(&[1; 100]).unwrap();
        assert_eq!(reused.as_slice().as_ptr(), address, "the memory is kept");
        assert_eq!(reused.hash(), blake3::hash(&[1; 100]));
        reused.reset(1 << 20);
        assert_eq!(reused.as_slice().as_ptr().align_offset(UNBUFFERED_ALIGN), 0);
        reused.extend(&vec![2; 1 << 20]).unwrap();
        assert_eq!(reused.hash(), blake3::hash(&vec![2; 1 << 20]));
    }
}
