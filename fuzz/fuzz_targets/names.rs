//! Names from outside: ids, versions, display names, relative paths. What
//! passes a rule is safe to use as a path component or to print.
#![no_main]

use lanspread_proto::names::{
    MAX_DISPLAY_NAME_CHARS, check_relative_path, display_name, is_valid_game_id, is_valid_version,
};
use lanspread_worker::download::storage::check_download_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if is_valid_game_id(text) {
        assert!(!text.contains(['/', '\\', ':']) && text != "." && text != "..");
    }
    if let Ok(parts) = check_relative_path(text) {
        assert!(parts.iter().all(|p| !p.is_empty() && *p != ".." && !p.contains('\\')));
    }
    if check_download_path(text).is_ok() {
        assert!(!text.to_ascii_lowercase().starts_with("local/"));
    }
    let _ = is_valid_version(text);
    let shown = display_name(text);
    assert!(!shown.chars().any(char::is_control));
    assert!(shown.chars().count() <= MAX_DISPLAY_NAME_CHARS + 1);
});
