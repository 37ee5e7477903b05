//! The swarm on loopback: `fetch` commands serve what they have verified to
//! each other while a seeder hands out the game, found through the
//! seeder's member list alone (each fetch is given only the seeder).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{WORKER, Worker, assert_same_tree, make_random_game, serve_with};

const ID: &str = "openarena";
const LIMIT: Duration = Duration::from_secs(90);

/// `lanspread-worker fetch --json` of [`ID`] from `seeder` alone, serving
/// on a free loopback port.
fn fetch(name: &str, tmp: &Path, seeder: SocketAddr, args: &[&str]) -> Worker {
    let mut command = Command::new(WORKER);
    command.args(["fetch", ID, "--json", "--no-mdns", "--no-install", "--wait", "10"]);
    command.args(["--listen", "127.0.0.1:0", "--name", name, "--peer", &seeder.to_string()]).args(args);
    command.arg("--games").arg(tmp.join(name)).arg("--state").arg(tmp.join(format!("{name}-state")));
    Worker::spawn(name, command)
}

/// A seeder of a 40 MB game (forty 1 MiB chunks) with `args`.
fn seeder(tmp: &Path, args: &[&str]) -> Worker {
    make_random_game(&tmp.join("seed"), ID, "1.0", 40_000_000, 3);
    let seeder = serve_with("seeder", &tmp.join("seed"), &tmp.join("seed-state"), &[], args);
    seeder.wait_scanned(LIMIT);
    seeder
}

/// Verified bytes `fetcher` reports from `peer` in a progress line.
fn bytes_from(progress: &serde_json::Value, peer: &str) -> u64 {
    progress["per_peer"][peer].as_u64().unwrap_or(0)
}

/// Waits until `fetcher` has verified at least `bytes` of the game.
fn wait_downloaded(fetcher: &Worker, bytes: u64) {
    fetcher.wait_event(LIMIT, "progress", |p| p["phase"] == "downloading" && p["bytes_done"].as_u64() >= Some(bytes));
}

/// A seeder whose uplink is the bottleneck, as at a LAN party; `b` fetches
/// from it, and `c`, started once `b` has 8 MB, has had chunks from `b`.
/// Returns them with `b`'s id and `c`'s first progress line with bytes from `b`.
fn b_serving_c(tmp: &Path) -> (Worker, Worker, String, Worker, serde_json::Value) {
    let seeder = seeder(tmp, &["--max-upload", "4MB"]);
    let b = fetch("b", tmp, seeder.listen_addr(), &[]);
    let b_id = b.peer_id();
    wait_downloaded(&b, 8_000_000);
    let c = fetch("c", tmp, seeder.listen_addr(), &[]);
    let from_b = c.wait_event(LIMIT, "progress", |p| bytes_from(p, &b_id) > 0);
    (seeder, b, b_id, c, from_b)
}

#[test]
fn a_later_fetcher_gets_chunks_from_one_still_downloading_and_every_tree_is_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let (_seeder, mut b, b_id, mut c, from_b) = b_serving_c(tmp.path());
    assert_eq!(from_b["peers_downloading"], 1, "b counts as a source still downloading: {from_b}");
    assert!(b.events("finished").is_empty(), "c had chunks from b before b finished");
    assert_eq!(b.wait_exit(LIMIT), Some(0), "{}", b.log());
    assert_eq!(c.wait_exit(LIMIT), Some(0), "{}", c.log());
    let finished = &c.events("finished")[0];
    assert!(finished["per_peer"][&b_id].as_u64().unwrap() > 0, "{finished}");
    let dropped = finished["dropped"].as_object().unwrap();
    assert!(dropped.iter().all(|(peer, why)| *peer == b_id && why == "left"), "only b, done, left: {finished}");
    assert_same_tree(&tmp.path().join("seed").join(ID), &tmp.path().join("b").join(ID));
    assert_same_tree(&tmp.path().join("seed").join(ID), &tmp.path().join("c").join(ID));
}

#[test]
fn a_fetcher_killed_while_serving_leaves_the_others_to_finish_from_the_seeder() {
    let tmp = tempfile::tempdir().unwrap();
    let (_seeder, mut b, b_id, mut c, _) = b_serving_c(tmp.path());
    b.kill();
    assert_eq!(c.wait_exit(LIMIT), Some(0), "{}", c.log());
    let finished = &c.events("finished")[0];
    let from_b = finished["per_peer"][&b_id].as_u64().unwrap();
    assert!(from_b > 0 && from_b < 40_000_000, "b served part of the game before it died: {finished}");
    assert_same_tree(&tmp.path().join("seed").join(ID), &tmp.path().join("c").join(ID));
    assert!(!tmp.path().join("b").join(ID).join("version.ini").exists(), "b's download is not whole");
}

/// Runs a liar `b` (fetching with `liar_args`) beside an honest seeder and
/// checks that `c` drops it and still gets the whole game.
fn a_liar_is_dropped(seeder_args: &[&str], liar_args: &[&str], b_has: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let seeder = seeder(tmp.path(), seeder_args);
    let mut b = fetch("b", tmp.path(), seeder.listen_addr(), liar_args);
    let b_id = b.peer_id();
    wait_downloaded(&b, b_has);
    let mut c = fetch("c", tmp.path(), seeder.listen_addr(), &[]);
    assert_eq!(c.wait_exit(LIMIT), Some(0), "{}", c.log());
    let finished = &c.events("finished")[0];
    assert!(finished["dropped"][&b_id].is_string(), "the liar is dropped: {finished}");
    assert_same_tree(&tmp.path().join("seed").join(ID), &tmp.path().join("c").join(ID));
    b.kill();
}

#[test]
fn a_member_that_claims_chunks_it_does_not_have_is_dropped() {
    // b holds nothing for a while, and says it holds everything.
    a_liar_is_dropped(&["--test-chunk-delay-ms", "2000"], &["--test-claim-all-chunks"], 0);
}

#[test]
fn a_member_that_sends_wrong_bytes_is_dropped() {
    // b holds half the game when c starts, and spoils every chunk it sends.
    a_liar_is_dropped(&["--max-upload", "4MB"], &["--test-corrupt-every", "1"], 20_000_000);
}

/// Joins from a liar: file lists that are not here, hostile ids, and one
/// address claiming dozens of members on as many ports, a few joins per
/// connection. The seeder refuses what is not here and joins past a
/// connection's share, names at most a few members per address to the
/// others, and keeps serving an honest fetcher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_joins_are_refused_or_bounded_and_the_seeder_keeps_serving() {
    use lanspread_proto::PeerId;
    use lanspread_proto::peer::{ErrorCode, Have};
    use lanspread_worker::net::client::{self, ClientError};
    use lanspread_worker::net::server::MAX_JOINS_PER_CONNECTION;
    use lanspread_worker::net::traffic::Traffic;
    use lanspread_worker::swarm::{MAX_MEMBERS_PER_ADDRESS, manifest_hash};

    let tmp = tempfile::tempdir().unwrap();
    let seeder = seeder(tmp.path(), &[]);
    let addr = seeder.listen_addr();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = client::connect(&endpoint, addr, None, None, &Traffic::default()).await.unwrap();
    let manifest = conn.get_game(ID).await.unwrap();
    let hash = manifest_hash(&manifest);

    for (id, hash) in [(ID, [7; 32]), ("../outside", hash), (&*"x".repeat(3000), hash)] {
        let refused = conn.join(id, hash, PeerId([1; 32]), 9000).await.unwrap_err();
        assert!(
            matches!(&refused, ClientError::Refused { error, .. } if error.code == ErrorCode::NotFound)
                || matches!(refused, ClientError::Frame { .. }),
            "{refused}"
        );
    }
    // 48 joins over 12 connections, their streams kept open, each claiming a
    // port; a connection's fifth join is refused.
    let mut streams = Vec::new();
    for c in 0..12u16 {
        let conn = client::connect(&endpoint, addr, None, None, &Traffic::default()).await.unwrap();
        for j in 0..MAX_JOINS_PER_CONNECTION as u16 {
            let (update, stream) = conn.join(ID, hash, PeerId([2; 32]), 10_000 + c * 10 + j).await.unwrap();
            assert_eq!(update.have, Some(Have::All));
            streams.push(stream);
        }
        let refused = conn.join(ID, hash, PeerId([2; 32]), 9_999).await.unwrap_err();
        assert!(matches!(&refused, ClientError::Refused { error, .. } if error.code == ErrorCode::Busy), "{refused}");
    }
    let other = client::connect(&endpoint, addr, None, None, &Traffic::default()).await.unwrap();
    let (update, _stream) = other.join(ID, hash, PeerId([3; 32]), 0).await.unwrap();
    let members = update.members.unwrap();
    assert!(members.len() <= MAX_MEMBERS_PER_ADDRESS, "{} members named from one address", members.len());

    let mut honest = fetch("honest", tmp.path(), addr, &[]);
    assert_eq!(honest.wait_exit(LIMIT), Some(0), "{}", honest.log());
    assert_same_tree(&tmp.path().join("seed").join(ID), &tmp.path().join("honest").join(ID));
}
