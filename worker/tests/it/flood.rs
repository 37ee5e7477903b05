//! A flood of unread chunk requests from several addresses (issue: hostile
//! peers II): one PC can hold several addresses, so the seeder's upload
//! slots and send memory are shared by address, with a reserve for a PC
//! that starts asking during the flood, and a piece nobody takes is cut
//! while others wait. An honest fetch beside the flood takes about its
//! time alone.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanspread_proto::PeerId;
use lanspread_worker::net::client;
use lanspread_worker::net::traffic::Traffic;

use crate::liars::{Flood, FloodTarget};
use crate::support::{WORKER, assert_same_tree, make_random_game, run_logged, serve};

const ID: &str = "openarena";
/// Flooding addresses, connections from each and unread requests on each.
const ADDRESSES: u8 = 4;
const CONNECTIONS: usize = 16;
const REQUESTS: u32 = 64;
/// The flood is dropped and made again this often.
const RENEW: Duration = Duration::from_secs(5);
/// What the flood may add to the honest fetch.
const FLOOD_GRACE: Duration = Duration::from_secs(2);

/// Fetches [`ID`] from `seeder` into `tmp/name`; returns how long it took.
async fn timed_fetch(tmp: &std::path::Path, name: &str, seeder: std::net::SocketAddr) -> Duration {
    let mut command = std::process::Command::new(WORKER);
    command.args(["fetch", ID, "--json", "--no-mdns", "--no-install", "--peer", &seeder.to_string()]);
    command.arg("--games").arg(tmp.join(name)).arg("--state").arg(tmp.join(format!("{name}-state")));
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || run_logged(command)).await.unwrap();
    let took = started.elapsed();
    assert!(output.status.success(), "{name}: the fetch finishes");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_four_addresses_slows_an_honest_fetch_by_at_most_two_seconds() {
    let tmp = tempfile::tempdir().unwrap();
    let seed = tmp.path().join("seed");
    make_random_game(&seed, ID, "0.8.10", 5_000_000, 0);
    let seeder = serve("seeder", &seed, &tmp.path().join("seed-state"), &[]);
    let addr = seeder.listen_addr();
    let seeder_id: PeerId = seeder.peer_id().parse().unwrap();
    seeder.wait_scanned(Duration::from_secs(30));
    let alone = timed_fetch(tmp.path(), "alone", addr).await;

    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = client::connect(&endpoint, addr, Some(seeder_id), None, &Traffic::default()).await.unwrap();
    let manifest = conn.get_game(ID).await.unwrap();
    let file = manifest.files.iter().position(|f| f.path == "data/pack.bin").unwrap() as u32;
    let target = Arc::new(FloodTarget { seeder: addr, seeder_id, manifest, file });
    let mut floods: Vec<Flood> = (0..ADDRESSES)
        .map(|n| {
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + n));
            Flood::start(ip, target.clone(), CONNECTIONS, REQUESTS, RENEW)
        })
        .collect();
    for flood in &mut floods {
        flood.ready().await;
    }

    let flooded = timed_fetch(tmp.path(), "flooded", addr).await;
    eprintln!("alone {alone:?}, beside a flood from {ADDRESSES} addresses {flooded:?}");
    assert_same_tree(&seed.join(ID), &tmp.path().join("flooded").join(ID));
    assert!(flooded <= alone + FLOOD_GRACE, "{flooded:?} beside the flood, {alone:?} alone");
    drop(floods);
}
