//! Bytes a peer sends: requests (what a server reads) and responses (what
//! a client reads), split anywhere, through the frame decoder and then the
//! checks each decoded value meets at the edge.
#![no_main]

use std::sync::OnceLock;

use lanspread_proto::peer::{PeerRequest, PeerResponse};
use lanspread_proto::{FrameDecoder, Message};
use lanspread_worker::catalog::Catalog;
use lanspread_worker::discovery::listing::accept_listing;
use lanspread_worker::download::storage::check_manifest;
use libfuzzer_sys::fuzz_target;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(Catalog::bundled)
}

/// Feeds `data` in two pieces split at `cut` and takes every whole frame.
fn frames<M: Message>(data: &[u8], cut: usize) -> Vec<M> {
    let mut decoder = FrameDecoder::<M>::new();
    let mut out = Vec::new();
    for piece in [&data[..cut], &data[cut..]] {
        decoder.push(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(message)) => out.push(message),
                Ok(None) => break,
                Err(_) => return out,
            }
        }
    }
    let _ = decoder.finish();
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let cut = usize::from(first) % (rest.len() + 1);
    for request in frames::<PeerRequest>(rest, cut) {
        if let PeerRequest::GetGame { id } | PeerRequest::GetChunk { id, .. } = &request {
            let _ = lanspread_worker::library::root::check_game_id(id, catalog());
        }
    }
    for response in frames::<PeerResponse>(rest, cut) {
        match response {
            PeerResponse::Games(games) => {
                let listed = games.len();
                let (kept, dropped) = accept_listing(games, catalog());
                assert_eq!(kept.len() + dropped.count, listed);
                assert!(kept.iter().all(|g| catalog().contains(&g.id)));
            }
            PeerResponse::Game(manifest) => {
                let _ = check_manifest(&manifest);
            }
            _ => {}
        }
    }
});
