//! Must show 4: a rescan of an unchanged library of about 1 GB hashes
//! nothing, both in the running node and after a restart.

use std::time::{Duration, Instant};

use crate::support::{Worker, make_game, serve};

const GIB: u64 = 1024 * 1024 * 1024;

/// The `hashed N files (B bytes)` figures of the `nth` scan log line.
fn scan_figures(node: &Worker, nth: usize) -> (u64, u64) {
    let start = Instant::now();
    let line = loop {
        let found = node.lines.lock().unwrap().iter().filter(|l| l.contains("library scan of")).nth(nth).cloned();
        if let Some(line) = found {
            break line;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no scan #{nth}; log:\n{}", node.log());
        std::thread::sleep(Duration::from_millis(20));
    };
    let after = &line[line.find("hashed ").unwrap() + "hashed ".len()..];
    let files: u64 = after.split_whitespace().next().unwrap().parse().unwrap();
    let bytes: u64 = after[after.find('(').unwrap() + 1..].split_whitespace().next().unwrap().parse().unwrap();
    (files, bytes)
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
    assert_eq!(scan_figures(&node, 0), (8, payload + 5000 + "1.0.2\n".len() as u64));

    // A watcher event at the root (a file LanSpread ignores) rescans the game.
    std::fs::write(root.join(".touch"), b"x").unwrap();
    assert_eq!(scan_figures(&node, 1), (0, 0));
    drop(node);

    // A new process with the same state reuses the on-disk index.
    let node = serve("node-again", &games, &state, &[]);
    assert_eq!(scan_figures(&node, 0), (0, 0));
    let line = node.wait_for(Duration::from_secs(5), "reuse", |l| l.contains("library scan of"));
    assert!(line.contains("reused 8 hashes"), "{line}");

    // A changed file is hashed again, and only that one.
    std::fs::write(games.join("hedgewars/hw.zip"), vec![7u8; 6000]).unwrap();
    assert_eq!(scan_figures(&node, 1), (1, 6000));
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
    assert_eq!(scan_figures(&node, 0), (0, 0), "nothing hashed");
    let line = node.wait_for(Duration::from_secs(5), "reuse", |l| l.contains("library scan of"));
    assert!(line.contains("reused 22 hashes"), "{line}");
}
