//! A manifest as a peer may send it: whatever decodes is checked, and one
//! that passes must be safe to lay out (every chunk has a length, every
//! path is a portable relative path outside `local/`).
#![no_main]

use lanspread_proto::peer::GameManifest;
use lanspread_worker::download::storage::{all_chunks, check_download_path, check_manifest, chunk_len};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = postcard::from_bytes::<GameManifest>(data) else { return };
    if check_manifest(&manifest).is_ok() {
        assert!(manifest.files.iter().all(|f| check_download_path(&f.path).is_ok()));
        let total: u64 = all_chunks(&manifest).take(100_000).map(|c| chunk_len(&manifest, c)).sum();
        assert!(total <= manifest.total_size());
    }
});
