//! The app's settings file.
#![no_main]

use lanspread_app_ui::settings::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Settings::parse(text);
});
