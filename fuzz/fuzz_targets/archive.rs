//! A game pack as a peer may send it: any bytes under any archive name,
//! installed for real into a scratch game directory. Whatever the bytes,
//! the install ends with an error or a `local/` inside the game's root.
#![no_main]

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use lanspread_worker::catalog::Catalog;
use lanspread_worker::install;
use lanspread_worker::library::lock::RootLock;
use libfuzzer_sys::fuzz_target;
use tokio_util::sync::CancellationToken;

const GAME: &str = "openarena";
/// The first input byte picks the name, so every reader is fuzzed.
const NAMES: &[&str] = &[
    "pack.zip", "pack.7z", "pack.tar", "pack.tar.gz", "pack.tar.zst", "pack.tar.xz", "pack.tar.bz2", "pack.tar.lz4",
];

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("lanspread-fuzz-archive-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, pack)) = data.split_first() else { return };
    let games = scratch();
    let root = games.join(GAME);
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("version.ini"), "1.0\n").unwrap();
    fs::write(root.join(NAMES[usize::from(pick) % NAMES.len()]), pack).unwrap();
    let lock = RootLock::try_acquire(games, GAME, &Catalog::bundled()).unwrap().expect("no one else holds it");
    let _ = install::install(&lock, &mut |_| {}, &CancellationToken::new());
    drop(lock);
    let outside: Vec<_> = fs::read_dir(games).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(outside.iter().all(|n| n == GAME || n.to_string_lossy().starts_with('.')), "wrote beside the game: {outside:?}");
});
