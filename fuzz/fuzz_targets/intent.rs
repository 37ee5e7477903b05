//! An install transaction's intent log found on disk.
#![no_main]

use lanspread_worker::install::intent::Intent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Intent::parse(data);
});
