//! A seeder is useful the moment it listens: `list` and `fetch` started
//! right after `serve` (no wait for its library scan) see its games, because
//! the seeder says it is still scanning and they wait for it.

use std::process::Command;
use std::time::Duration;

use crate::support::{WORKER, Worker, assert_same_tree, game, list_json, make_random_game, serve};

const MIB: usize = 1024 * 1024;

#[test]
fn list_and_fetch_started_with_the_seeder_see_its_games() {
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("seed");
    make_random_game(&games, "openarena", "0.8.10", 12 * MIB, 200);
    // A larger game keeps the first scan busy after the listen line.
    make_random_game(&games, "xonotic", "0.8.6", 96 * MIB, 0);
    let seeder = serve("seed", &games, &tmp.path().join("state"), &[]);
    let addr = seeder.listen_addr();

    let mut command = Command::new(WORKER);
    command.args(["fetch", "openarena", "--json", "--no-mdns", "--no-install", "--peer", &addr.to_string()]);
    command.arg("--games").arg(tmp.path().join("out")).arg("--state").arg(tmp.path().join("fetch-state"));
    let mut fetch = Worker::spawn("fetch", command);
    let (listed, took) = list_json(&tmp.path().join("list-state"), &[addr]);
    eprintln!("list took {took:?}");
    for id in ["openarena", "xonotic"] {
        assert!(game(&listed, id).is_some(), "{id} missing from {listed:?}; seeder log:\n{}", seeder.log());
    }

    assert_eq!(fetch.wait_exit(Duration::from_secs(60)), Some(0), "{}", fetch.log());
    assert_same_tree(&games.join("openarena"), &tmp.path().join("out/openarena"));
}
