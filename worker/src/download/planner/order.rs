//! The order the planner is given the wanted chunks in: a downloader's own
//! draw, or the order an install unpacking beside the download reads them.

use lanspread_proto::peer::GameManifest;

use super::{ChunkRef, Wanted};

/// `wanted` in an order of a downloader's own, drawn from `seed`: then
/// downloaders that start together ask a seeder for different chunks, and
/// when few chunks only the seeder holds are left, they do not all ask for
/// the same one. (The planner keeps the largest first.)
pub fn in_own_order(mut wanted: Vec<Wanted>, seed: u64) -> Vec<Wanted> {
    wanted.sort_by_cached_key(|w| mix(seed ^ (u64::from(w.chunk.file) << 32 | u64::from(w.chunk.chunk))));
    wanted
}

/// SplitMix64's finaliser: a well-spread, repeatable hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// `wanted` in the order an install unpacking as the bytes come reads
/// them: the last two chunks of every file of more first (a zip's or 7z's
/// index is at its end), then every file from its start, in file-list order.
pub fn in_unpack_order(manifest: &GameManifest, mut wanted: Vec<Wanted>) -> Vec<Wanted> {
    let in_tail = |c: ChunkRef| {
        let chunks = manifest.files.get(c.file as usize).map_or(0, |f| f.chunks.len() as u64);
        chunks > 2 && u64::from(c.chunk) + 2 >= chunks
    };
    wanted.sort_by_key(|w| (!in_tail(w.chunk), w.chunk.file, w.chunk.chunk));
    wanted
}

#[cfg(test)]
mod tests {
    use lanspread_proto::peer::FileEntry;

    use super::*;

    #[test]
    fn an_unpacking_install_gets_each_large_files_index_first_then_file_order() {
        let file = |chunks: usize| FileEntry {
            path: format!("f{chunks}"),
            size: chunks as u64 * 4,
            chunks: vec![[0; 32]; chunks],
        };
        let manifest =
            GameManifest { id: "g".into(), version: "1".into(), chunk_size: 4, files: vec![file(1), file(5)] };
        let wanted = [(1, 0), (0, 0), (1, 4), (1, 1), (1, 3), (1, 2)]
            .map(|(file, chunk)| Wanted { chunk: ChunkRef { file, chunk }, len: 4 });
        let order: Vec<(u32, u32)> =
            in_unpack_order(&manifest, wanted.to_vec()).iter().map(|w| (w.chunk.file, w.chunk.chunk)).collect();
        assert_eq!(order, [(1, 3), (1, 4), (0, 0), (1, 0), (1, 1), (1, 2)]);
    }
}
