//! Liars in a swarm (issue: hostile peers II): QUIC peers that join a
//! seeder's swarm as members, claim every chunk, and then never deliver
//! (silent) or send a header and 1 KiB and stop (stall), their connections
//! kept alive. Each costs an honest fetch about a second, not a chunk
//! deadline of 30 or 60 s, and the download is byte-identical.
//!
//! Extra loopback addresses stand in for other PCs: a seeder names at most
//! four members per address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lanspread_proto::PeerId;
use lanspread_proto::peer::ManifestHash;
use lanspread_proto::peer::{PeerRequest, PeerResponse};
use lanspread_worker::net::client;
use lanspread_worker::net::traffic::Traffic;
use lanspread_worker::swarm;

use crate::liars::{ChunkLie, SwarmLiar};
use crate::support::{WORKER, Worker, assert_same_tree, make_random_game, run_logged, serve_with};

const ID: &str = "openarena";
const LIMIT: Duration = Duration::from_secs(90);
/// What a liar may add to an honest fetch: a fetch with liars takes at
/// most `LIAR_FACTOR` times the time alone plus `LIAR_GRACE`.
const LIAR_FACTOR: u32 = 3;
const LIAR_GRACE: Duration = Duration::from_secs(2);

/// A seeder of a 24 MB game (24 chunks of 1 MiB, and small files).
fn seeder(tmp: &Path) -> Worker {
    make_random_game(&tmp.join("seed"), ID, "1.0", 24_000_000, 6);
    let seeder = serve_with("seeder", &tmp.join("seed"), &tmp.join("seed-state"), &[], &[]);
    seeder.wait_scanned(LIMIT);
    seeder
}

/// Fetches [`ID`] from `seeder` alone into `tmp/name` (taking part in its
/// swarm), to the end; returns how long it took.
async fn timed_fetch(tmp: &Path, name: &str, seeder: SocketAddr) -> Duration {
    let mut command = Command::new(WORKER);
    command.args(["fetch", ID, "--json", "--no-mdns", "--no-install", "--wait", "10"]);
    command.args(["--listen", "127.0.0.1:0", "--name", name, "--peer", &seeder.to_string()]);
    command.arg("--games").arg(tmp.join(name)).arg("--state").arg(tmp.join(format!("{name}-state")));
    command.env("RUST_LOG", "info");
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || run_logged(command)).await.unwrap();
    let took = started.elapsed();
    assert!(output.status.success(), "{name}: the fetch finishes");
    assert_same_tree(&tmp.join("seed").join(ID), &tmp.join(name).join(ID));
    took
}

/// `n` liars telling `lie`, four to a loopback address from 127.0.0.2 on.
async fn liars(tmp: &Path, seeder: SocketAddr, n: usize, lie: ChunkLie) -> Vec<SwarmLiar> {
    let mut liars = Vec::new();
    for i in 0..n {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i / 4) as u8));
        liars.push(SwarmLiar::join(&tmp.join(format!("liar{i}")), ip, seeder, ID, lie).await);
    }
    liars
}

/// A fetch alone, then with `n` liars of `lie` in the seeder's swarm:
/// within the bound, and the liars were really asked.
async fn liars_cost_little(n: usize, lie: ChunkLie) {
    let tmp = tempfile::tempdir().unwrap();
    let seeder = seeder(tmp.path());
    let alone = timed_fetch(tmp.path(), "alone", seeder.listen_addr()).await;
    let liars = liars(tmp.path(), seeder.listen_addr(), n, lie).await;
    let with_liars = timed_fetch(tmp.path(), "with-liars", seeder.listen_addr()).await;
    let asked: usize = liars.iter().map(|l| l.asked.lock().unwrap().len()).sum();
    eprintln!("alone {alone:?}, with {n} {lie:?} liars {with_liars:?}, chunk requests to them: {asked}");
    assert!(asked > 0, "the liars were met and asked: the test shows what they cost");
    let bound = alone * LIAR_FACTOR + LIAR_GRACE;
    assert!(with_liars <= bound, "{n} {lie:?} liars: {with_liars:?}, bound {bound:?} (alone {alone:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_silent_members_claiming_every_chunk_cost_a_fetch_about_a_second() {
    liars_cost_little(8, ChunkLie::Silent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_members_stalling_mid_chunk_cost_a_fetch_about_a_second() {
    liars_cost_little(4, ChunkLie::Stall).await;
}

/// Chunk requests `liars` were sent from anywhere but `except`.
fn asked_except(liars: &[SwarmLiar], except: SocketAddr) -> usize {
    liars.iter().map(|l| l.asked.lock().unwrap().iter().filter(|from| **from != except).count()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_downloader_is_not_introduced_to_members_an_earlier_one_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let seeder = seeder(tmp.path());
    let liars = liars(tmp.path(), seeder.listen_addr(), 4, ChunkLie::Silent).await;
    timed_fetch(tmp.path(), "first", seeder.listen_addr()).await;
    let caught = asked_except(&liars, seeder.listen_addr());
    assert!(caught > 0, "the first downloader met the liars");

    // A swarm join, as the next downloader's, names none of them.
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = client::connect(&endpoint, seeder.listen_addr(), None, None, &Traffic::default()).await.unwrap();
    let hash = swarm::manifest_hash(&conn.get_game(ID).await.unwrap());
    let (first, _stream) = conn.join(ID, hash, PeerId([9; 32]), 0).await.unwrap();
    let named: Vec<PeerId> = first.members.unwrap_or_default().iter().map(|m| m.peer_id).collect();
    for liar in &liars {
        assert!(!named.contains(&liar.peer_id), "{} is still named: {named:?}", liar.peer_id);
    }
    // And the next download asks them for nothing (the seeder's own
    // probes come from its address, which is not counted).
    timed_fetch(tmp.path(), "second", seeder.listen_addr()).await;
    assert_eq!(asked_except(&liars, seeder.listen_addr()), caught, "the second downloader never met them");
}

/// Whether a newcomer joining the swarm `hash` at `seeder` is told of `member`.
async fn named(endpoint: &quinn::Endpoint, seeder: SocketAddr, hash: ManifestHash, member: PeerId) -> bool {
    let conn = client::connect(endpoint, seeder, None, None, &Traffic::default()).await.unwrap();
    let (first, _stream) = conn.join(ID, hash, PeerId([9; 32]), 0).await.unwrap();
    conn.close();
    first.members.unwrap_or_default().iter().any(|m| m.peer_id == member)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_report_hides_an_honest_member_only_until_it_delivers_to_the_seeder() {
    let tmp = tempfile::tempdir().unwrap();
    make_random_game(&tmp.path().join("seed"), ID, "1.0", 24_000_000, 6);
    let seed = (tmp.path().join("seed"), tmp.path().join("seed-state"));
    // A slow seeder, so the honest member is still downloading throughout.
    let seeder = serve_with("seeder", &seed.0, &seed.1, &[], &["--max-upload", "2MB"]);
    seeder.wait_scanned(LIMIT);
    let mut command = Command::new(WORKER);
    command.args(["fetch", ID, "--json", "--no-mdns", "--no-install", "--wait", "10"]);
    command.args(["--listen", "127.0.0.1:0", "--name", "honest", "--peer", &seeder.listen_addr().to_string()]);
    command.arg("--games").arg(tmp.path().join("honest")).arg("--state").arg(tmp.path().join("honest-state"));
    let honest = Worker::spawn("honest", command);
    let honest_id: PeerId = honest.peer_id().parse().unwrap();
    honest.wait_event(LIMIT, "progress", |p| p["bytes_done"].as_u64() >= Some(2_000_000));

    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = client::connect(&endpoint, seeder.listen_addr(), None, None, &Traffic::default()).await.unwrap();
    let hash = swarm::manifest_hash(&conn.get_game(ID).await.unwrap());
    assert!(
        named(&endpoint, seeder.listen_addr(), hash, honest_id).await,
        "the honest member is named before the report"
    );

    // A report that it delivered nothing, from a member of the swarm (only
    // members' reports count): the seeder asks it for a chunk itself, gets
    // one, and names it again.
    let _membership = conn.join(ID, hash, PeerId([7; 32]), 1).await.unwrap();
    let report = PeerRequest::Dropped { id: ID.into(), manifest: hash, peers: vec![honest_id] };
    assert_eq!(conn.request(&report).await.unwrap(), PeerResponse::Noted);
    let deadline = Instant::now() + LIMIT;
    while !named(&endpoint, seeder.listen_addr(), hash, honest_id).await {
        assert!(Instant::now() < deadline, "the honest member is never named again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Reported again at once, it is not hidden for a moment: it was vouched
    // for by its delivery.
    assert_eq!(conn.request(&report).await.unwrap(), PeerResponse::Noted);
    assert!(
        named(&endpoint, seeder.listen_addr(), hash, honest_id).await,
        "a member that delivered is not hidden again"
    );
    // A report naming far more peers than a report may (unknown ones too)
    // is taken in, cut to its bound, and changes nothing for the honest.
    let many: Vec<PeerId> = (0..100u8).map(|n| PeerId([n; 32])).chain([honest_id]).collect();
    let oversized = PeerRequest::Dropped { id: ID.into(), manifest: hash, peers: many };
    assert_eq!(conn.request(&oversized).await.unwrap(), PeerResponse::Noted);
    assert!(named(&endpoint, seeder.listen_addr(), hash, honest_id).await, "still named");
}
