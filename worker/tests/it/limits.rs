//! What one peer can make a node spend is bounded (issue: hostile peers):
//! a seeder's memory under unread chunk requests, its CPU after a flood of
//! hellos, and a fetcher's open files on a game of thousands of files.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanspread_proto::PeerId;
use lanspread_proto::peer::{Hello, PEER_PROTOCOL_VERSION};
use lanspread_worker::net::client;
use lanspread_worker::net::traffic::Traffic;

use crate::liars::{Flood, FloodTarget};
use crate::support::{WORKER, Worker, assert_same_tree, make_random_game, serve};

/// A field of `/proc/PID/status` in kB (`VmRSS`, `VmHWM`).
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// CPU time of a process in clock ticks (user + system).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// `fetch` of `game` into `games` from `peers`, with `ulimit -n` set when given.
fn fetch(name: &str, game: &str, games: &Path, state: &Path, peers: &[SocketAddr], open_files: Option<u32>) -> Worker {
    let mut command = match open_files {
        Some(n) => {
            let mut sh = Command::new("sh");
            sh.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), WORKER]);
            sh
        }
        None => Command::new(WORKER),
    };
    command.args(["fetch", game, "--json", "--no-mdns", "--no-install"]).arg("--games").arg(games);
    command.arg("--state").arg(state);
    for peer in peers {
        command.arg("--peer").arg(peer.to_string());
    }
    Worker::spawn(name, command)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_chunk_requests_cannot_grow_a_seeder_and_honest_fetchers_still_finish() {
    const CONNECTIONS: usize = 8;
    const REQUESTS: u32 = 64;
    let tmp = tempfile::tempdir().unwrap();
    let seed = tmp.path().join("seed");
    make_random_game(&seed, "openarena", "0.8.10", 16 << 20, 0);
    let seeder = serve("seeder", &seed, &tmp.path().join("seed-state"), &[]);
    let addr = seeder.listen_addr();
    let seeder_id: PeerId = seeder.peer_id().parse().unwrap();
    seeder.wait_scanned(Duration::from_secs(30));

    // Clients that ask and never read: tiny receive windows, so the seeder
    // can hand QUIC almost nothing of what it was asked for.
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let manifest = {
        let conn = client::connect(&endpoint, addr, Some(seeder_id), None, &Traffic::default()).await.unwrap();
        conn.get_game("openarena").await.unwrap()
    };
    let file = manifest.files.iter().position(|f| f.path == "data/pack.bin").unwrap() as u32;
    let target = Arc::new(FloodTarget { seeder: addr, seeder_id, manifest, file });
    // Not renewed while the test runs, so the seeder has them all the while.
    let mut flood = Flood::start(IpAddr::from([127, 0, 0, 1]), target, CONNECTIONS, REQUESTS, Duration::from_secs(600));
    flood.ready().await;

    // An honest fetcher beside them finishes.
    let out = tmp.path().join("out");
    let mut honest = fetch("honest", "openarena", &out, &tmp.path().join("fetch-state"), &[addr], None);
    assert_eq!(honest.wait_exit(Duration::from_secs(90)), Some(0), "{}", honest.log());
    assert_same_tree(&seed.join("openarena"), &out.join("openarena"));

    let pid = seeder.child.id();
    let (rss, peak) = (status_kb(pid, "VmRSS:"), status_kb(pid, "VmHWM:"));
    eprintln!("seeder RSS {rss} kB, peak {peak} kB with {} unread requests", CONNECTIONS as u32 * REQUESTS);
    assert!(peak < 150_000, "the seeder peaked at {peak} kB");
    drop(flood);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_hellos_leaves_the_seeder_serving_and_idle_again() {
    let tmp = tempfile::tempdir().unwrap();
    let seed = tmp.path().join("seed");
    make_random_game(&seed, "wesnoth", "1.18", 100_000, 0);
    let seeder = serve("seeder", &seed, &tmp.path().join("seed-state"), &[]);
    let addr = seeder.listen_addr();
    seeder.wait_scanned(Duration::from_secs(30));

    // 3,000 hellos, each claiming another serving port and another identity.
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = client::connect(&endpoint, addr, None, None, &Traffic::default()).await.unwrap();
    let mut answered = 0;
    for batch in 0..60u16 {
        let mut hellos = tokio::task::JoinSet::new();
        for i in 0..50u16 {
            let (conn, n) = (conn.clone(), batch * 50 + i);
            let mut id = [0u8; 32];
            id[..2].copy_from_slice(&n.to_le_bytes());
            hellos.spawn(async move {
                conn.hello(Hello {
                    protocol_version: PEER_PROTOCOL_VERSION,
                    peer_id: PeerId(id),
                    display_name: format!("flood{n}"),
                    library_revision: 0,
                    listen_port: 20_000 + n,
                })
                .await
                .is_ok()
            });
        }
        while let Some(ok) = hellos.join_next().await {
            answered += usize::from(ok.unwrap());
        }
    }
    assert_eq!(answered, 3000, "every hello is answered");
    conn.close();
    let flood_ended = Instant::now();

    // Back to idle within 30 s: under 5% of a core over 2 s.
    let pid = seeder.child.id();
    let idle = loop {
        let before = cpu_ticks(pid);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let ticks = cpu_ticks(pid) - before;
        eprintln!("seeder: {ticks} ticks in 2 s, {:.0?} after the flood", flood_ended.elapsed());
        if ticks <= 10 {
            break flood_ended.elapsed();
        }
        assert!(flood_ended.elapsed() < Duration::from_secs(30), "the seeder still burns CPU after 30 s");
    };
    eprintln!("idle {idle:.1?} after the flood; RSS {} kB", status_kb(pid, "VmRSS:"));
    // Still serving, and the flood did not flood the log.
    let (games, _) = crate::support::list_json(&tmp.path().join("lister"), &[addr]);
    assert!(crate::support::game(&games, "wesnoth").is_some());
    let lines = seeder.lines.lock().unwrap().len();
    assert!(lines < 100, "{lines} log lines after 3,000 hellos:\n{}", seeder.log());
}

#[test]
fn a_game_of_thousands_of_files_downloads_under_a_low_open_file_limit() {
    const FILES: usize = 5000;
    let tmp = tempfile::tempdir().unwrap();
    let seed = tmp.path().join("seed");
    let root = seed.join("xonotic");
    for i in 0..FILES {
        let dir = root.join(format!("data/set{}", i % 50));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}.dat")), crate::support::noise(100 + i % 300, i as u64)).unwrap();
    }
    std::fs::write(root.join("version.ini"), "0.8.6\n").unwrap();
    let mut command = Command::new("sh");
    command.args(["-c", "ulimit -n 256 && exec \"$0\" \"$@\"", WORKER]);
    command.args(["serve", "--json", "--no-mdns", "--listen", "127.0.0.1:0", "--name", "seeder"]);
    command.arg("--games").arg(&seed).arg("--state").arg(tmp.path().join("seed-state"));
    let seeder = Worker::spawn("seeder", command);
    let addr = seeder.listen_addr();
    seeder.wait_scanned(Duration::from_secs(60));

    let out = tmp.path().join("out");
    let mut fetcher = fetch("fetch", "xonotic", &out, &tmp.path().join("fetch-state"), &[addr], Some(256));
    assert_eq!(fetcher.wait_exit(Duration::from_secs(180)), Some(0), "{}", fetcher.log());
    assert_same_tree(&root, &out.join("xonotic"));
}
