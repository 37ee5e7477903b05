//! Issue "games as they are on disk": a game of thousands of small files
//! moves in runs (one request for many whole files), resumes and updates
//! like any other. 5,000 files by default; `LANSPREAD_TEST_MANY_FILES=20000`
//! for the size of a real game's data folder.

use std::path::Path;
use std::time::Duration;

use crate::download::{CHUNK, GAME, Lab, finished};
#[cfg(unix)]
use crate::download::{DELAY, killed_and_fetched_again};
use crate::support::{assert_same_tree, noise, serve_with};

/// Small files in the game unless the environment asks for more.
fn file_count() -> usize {
    std::env::var("LANSPREAD_TEST_MANY_FILES").ok().and_then(|n| n.parse().ok()).unwrap_or(5_000)
}

/// A game of `count` files of 1–10 KB in 50 folders, and a version.ini.
fn make_many_files(games: &Path, count: usize) {
    let root = games.join(GAME);
    for i in 0..count {
        let dir = root.join(format!("data/set{:02}", i % 50));
        if i < 50 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(dir.join(format!("f{i:05}.dat")), noise(1024 + (i * 7919) % 9216, i as u64 + 7)).unwrap();
    }
    std::fs::write(root.join("version.ini"), "1.0\n").unwrap();
}

#[test]
fn thousands_of_small_files_move_in_runs_from_two_sources() {
    let count = file_count();
    let lab = Lab::with_game(|games| make_many_files(games, count), &[&[], &[]]);
    let mut fetch = lab.fetch("fetch");
    assert_eq!(fetch.wait_exit(Duration::from_secs(300)), Some(0), "{}", fetch.log());
    assert_same_tree(&lab.source(), &lab.out().join(GAME));
    let done = finished(&fetch);
    let requests = done["requests"].as_u64().unwrap();
    let per_peer = done["per_peer"].as_object().unwrap();
    eprintln!("{count} files in {requests} requests, {per_peer:?}");
    assert!(requests <= count as u64 / 20, "{requests} requests for {count} small files: they do not travel in runs");
    assert_eq!(per_peer.len(), 2, "both sources delivered");
    assert!(per_peer.values().all(|b| b.as_u64().unwrap() > 0), "both sources delivered: {per_peer:?}");
}

#[cfg(unix)]
#[test]
fn a_fetch_of_many_files_killed_half_way_keeps_what_it_verified() {
    let count = file_count();
    let lab = Lab::with_game(|games| make_many_files(games, count), &[&[DELAY, "200"], &[DELAY, "200"]]);
    let (verified_before, done) = killed_and_fetched_again(&lab, 0.4);
    let (total, reused, fetched) = (
        done["bytes_total"].as_u64().unwrap(),
        done["bytes_reused"].as_u64().unwrap(),
        done["bytes_fetched"].as_u64().unwrap(),
    );
    eprintln!(
        "rerun: {reused} of {total} bytes reused, {fetched} fetched; {verified_before} were verified at the kill"
    );
    assert_eq!(reused + fetched, total);
    assert!(reused >= verified_before, "every file verified before the kill is kept, not fetched again");
}

#[test]
fn an_update_of_one_small_file_among_thousands_fetches_that_file() {
    let count = file_count();
    let mut lab = Lab::with_game(|games| make_many_files(games, count), &[&[]]);
    let mut first = lab.fetch("first");
    assert_eq!(first.wait_exit(Duration::from_secs(300)), Some(0), "{}", first.log());
    lab.seeders[0].kill();
    let source = lab.source();
    std::fs::write(source.join("data/set07/f00007.dat"), noise(3000, 1234)).unwrap();
    std::fs::write(source.join("version.ini"), "2.0\n").unwrap();
    let node = serve_with("seed0 again", &lab.tmp.path().join("seed0"), &lab.tmp.path().join("state0"), &[], &[]);
    node.wait_scanned(Duration::from_secs(60));
    lab.addrs = vec![node.listen_addr()];
    lab.seeders[0] = node;

    let mut update = lab.fetch("update");
    assert_eq!(update.wait_exit(Duration::from_secs(300)), Some(0), "{}", update.log());
    assert_same_tree(&source, &lab.out().join(GAME));
    let done = finished(&update);
    let fetched = done["bytes_fetched"].as_u64().unwrap();
    assert!(fetched < CHUNK as u64, "fetched {fetched} bytes for one changed 3 KB file");
    assert_eq!(fetched, 3000 + 4, "the changed file and version.ini");
}
