//! A user's catalog file: only valid ids may come out of it.
#![no_main]

use lanspread_worker::catalog::Catalog;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(catalog) = Catalog::with_user_json("fuzz.json", text) {
        assert!(catalog.entries().all(|e| lanspread_proto::game::is_valid_game_id(&e.id)));
    }
});
