//! Must show 4: a rescan of an unchanged library of about 1 GB hashes
//! nothing, both in the running node and after a restart.

use std::time::{Duration, Instant};

use crate::support::{Worker, make_game, serve};

const GIB: u64 = 1024 * 1024 * 1024;

/// The files hashed, bytes hashed and hashes reused by the `nth`
/// finished library scan.
fn scan_figures(node: &Worker, nth: usize) -> (u64, u64, u64) {
    let start = Instant::now();
    let scan = loop {
        if let Some(scan) = node.events("library").into_iter().nth(nth) {
            break scan;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no scan #{nth}; log:\n{}", node.log());
        std::thread::sleep(Duration::from_millis(20));
    };
    let figure = |name: &str| scan[name].as_u64().unwrap();
    (figure("files_hashed"), figure("bytes_hashed"), figure("files_reused"))
}

#[test]
fn unchanged_library_of_a_gigabyte_is_not_hashed_again() {
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    let state = tmp.path().join("state");
    let root = make_game(&games, "0ad", Some("0.27"), &[("readme.txt", 1000)]);
    // Four sparse 256 MiB files: a gigabyte to hash that costs no disk.
    for i in 0..4 {
        let file = std::fs::File::create(root.join(format!("data{i}.pak"))).unwrap();
        file.set_len(GIB / 4).unwrap();
    }
    make_game(&games, "hedgewars", Some("1.0.2"), &[("hw.zip", 5000)]);
    let payload = GIB + 1000 + "0.27\n".len() as u64;

    let node = serve("node", &games, &state, &[]);
    assert_eq!(scan_figures(&node, 0), (8, payload + 5000 + "1.0.2\n".len() as u64, 0));

    // A watcher event at the root (a file LanSpread ignores) rescans the game.
    std::fs::write(root.join(".touch"), b"x").unwrap();
    assert_eq!(scan_figures(&node, 1).0, 0);
    drop(node);

    // A new process with the same state reuses the on-disk index.
    let node = serve("node-again", &games, &state, &[]);
    assert_eq!(scan_figures(&node, 0), (0, 0, 8));

    // A changed file is hashed again, and only that one.
    std::fs::write(games.join("hedgewars/hw.zip"), vec![7u8; 6000]).unwrap();
    let (files, bytes, _) = scan_figures(&node, 1);
    assert_eq!((files, bytes), (1, 6000));
}

/// A game fetched with a state directory is served from it without being
/// read again: the download's verified hashes go into the index.
#[test]
fn a_downloaded_game_is_served_without_hashing_it_again() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_games = tmp.path().join("seed");
    crate::support::make_random_game(&seed_games, "openarena", "0.8.10", 9 * 1024 * 1024, 20);
    let seeder = serve("seed", &seed_games, &tmp.path().join("seed-state"), &[]);
    let addr = seeder.listen_addr();
    let (games, state) = (tmp.path().join("games"), tmp.path().join("state"));
    let mut command = std::process::Command::new(crate::support::WORKER);
    command.args(["fetch", "openarena", "--no-mdns", "--no-install", "--peer", &addr.to_string()]);
    command.arg("--games").arg(&games).arg("--state").arg(&state);
    let output = crate::support::run_logged(command);
    assert!(output.status.success());

    let node = serve("node", &games, &state, &[]);
    assert_eq!(scan_figures(&node, 0), (0, 0, 22), "nothing hashed");
}
