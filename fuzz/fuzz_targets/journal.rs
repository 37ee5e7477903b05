//! A resume journal found on disk.
#![no_main]

use lanspread_worker::download::journal::Journal;
use lanspread_worker::download::storage::check_manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(resume) = Journal::parse(data) {
        let _ = check_manifest(&resume.manifest);
    }
});
