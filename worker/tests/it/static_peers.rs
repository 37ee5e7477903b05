//! Must show 1: three nodes with static peers on loopback, listed by a
//! fourth process; a killed node's games disappear and `list` stays prompt.

use std::time::Duration;

use crate::support::{game, list_json, make_game, serve};

#[test]
fn three_nodes_list_newest_versions_and_survive_a_dead_node() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |p: &str| {
        let path = tmp.path().join(p);
        std::fs::create_dir_all(&path).unwrap();
        path
    };
    let (ga, gb, gc) = (dir("a/games"), dir("b/games"), dir("c/games"));
    make_game(&ga, "openarena", Some("0.8.8"), &[("pak0.pk3", 3000)]);
    make_game(&ga, "xonotic", Some("0.8.5"), &[("data/xonotic.pk3", 2000)]);
    make_game(&gb, "openarena", Some("0.8.10"), &[("pak0.pk3", 4000)]);
    make_game(&gb, "wesnoth", Some("1.18.2"), &[("wesnoth.tar.zst", 5000)]);
    make_game(&gc, "openarena", Some("0.8.10"), &[("pak0.pk3", 4000)]);
    make_game(&gc, "xonotic", Some("0.8.6"), &[("data/xonotic.pk3", 2500)]);
    // Not catalogued, and catalogued but not downloaded: never listed.
    make_game(&gc, "notagame", Some("9.9"), &[("x.bin", 10)]);
    make_game(&gc, "teeworlds", None, &[("partial.bin", 10)]);

    let a = serve("node-a", &ga, &dir("a/state"), &[]);
    let a_addr = a.listen_addr();
    let mut b = serve("node-b", &gb, &dir("b/state"), &[a_addr]);
    let b_addr = b.listen_addr();
    let c = serve("node-c", &gc, &dir("c/state"), &[a_addr, b_addr]);
    let c_addr = c.listen_addr();
    for node in [&a, &b, &c] {
        node.wait_scanned(Duration::from_secs(20));
    }
    // The nodes found each other through their static peers.
    a.wait_joined(Duration::from_secs(10), "node-c");
    c.wait_joined(Duration::from_secs(10), "node-b");

    let lister_state = dir("lister");
    let (games, _) = list_json(&lister_state, &[a_addr, b_addr, c_addr]);
    let ids: Vec<&str> = games.iter().map(|g| g["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["openarena", "wesnoth", "xonotic"], "{games:?}");
    let oa = game(&games, "openarena").unwrap();
    assert_eq!(
        (oa["version"].as_str(), oa["sources"].as_u64(), oa["size"].as_u64()),
        (Some("0.8.10"), Some(2), Some(4007))
    );
    assert_eq!(oa["name"], "OpenArena");
    assert_eq!(oa["peers_total"], 3);
    let xon = game(&games, "xonotic").unwrap();
    assert_eq!((xon["version"].as_str(), xon["sources"].as_u64()), (Some("0.8.6"), Some(1)));
    let wes = game(&games, "wesnoth").unwrap();
    assert_eq!(
        (wes["version"].as_str(), wes["sources"].as_u64(), wes["size"].as_u64()),
        (Some("1.18.2"), Some(1), Some(5007))
    );

    let b_id = b.peer_id();
    b.kill();
    let (games, took) = list_json(&lister_state, &[a_addr, b_addr, c_addr]);
    eprintln!("list with a dead node took {took:?}");
    assert!(took < Duration::from_secs(6), "list hung for {took:?} on a dead node");
    assert!(game(&games, "wesnoth").is_none(), "{games:?}");
    let oa = game(&games, "openarena").unwrap();
    assert_eq!((oa["version"].as_str(), oa["sources"].as_u64()), (Some("0.8.10"), Some(1)));
    assert_eq!(game(&games, "xonotic").unwrap()["version"], "0.8.6");

    // The surviving nodes drop the dead one (and its games) by themselves.
    for node in [&a, &c] {
        node.wait_event(Duration::from_secs(12), "peer_left", |v| v["id"] == b_id.as_str());
    }
}

#[test]
fn a_wrong_peer_address_is_reported_and_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    make_game(&games, "supertuxkart", Some("1.4"), &[("stk.zip", 100)]);
    let node = serve("node", &games, &tmp.path().join("state"), &[]);
    let addr = node.listen_addr();
    node.wait_scanned(Duration::from_secs(20));
    let output = std::process::Command::new(crate::support::WORKER)
        .args(["list", "--no-mdns", "--json", "--peer", "127.0.0.1:9"])
        .arg("--peer")
        .arg(addr.to_string())
        .arg("--state")
        .arg(tmp.path().join("lister"))
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("\"supertuxkart\""), "{stdout}");
    assert!(stderr.contains("127.0.0.1:9"), "the dead peer is reported: {stderr}");
}

#[test]
fn usage_errors_exit_2_and_failures_say_error() {
    let output = std::process::Command::new(crate::support::WORKER).args(["serve"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output =
        std::process::Command::new(crate::support::WORKER).args(["list", "--peer", "no-port"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let output = std::process::Command::new(crate::support::WORKER)
        .args(["serve", "--no-mdns", "--games", "/definitely/not/here"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: /definitely/not/here: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// A PC added by address through the IPC (the first-run panel's "Add PC")
/// is joined at once, without a restart; a bad address is refused in words,
/// and the worker stays up. (No name that fails to resolve: that would ask
/// the machine's DNS server, and tests talk to loopback only.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pc_added_by_address_while_the_worker_runs_is_joined() {
    use lanspread_proto::ipc::{IpcCommand, IpcEvent};

    let tmp = tempfile::tempdir().unwrap();
    let (seeder_games, games) = (tmp.path().join("seeder"), tmp.path().join("games"));
    make_game(&seeder_games, "openarena", Some("0.8.8"), &[("data.pak", 1000)]);
    std::fs::create_dir_all(&games).unwrap();
    let seeder = serve("seeder", &seeder_games, &tmp.path().join("seeder-state"), &[]);
    seeder.wait_scanned(Duration::from_secs(20));
    let mut ui = crate::liars::FakeUi::start(tmp.path(), &games, &[]).await;

    ui.send(IpcCommand::AddPeer { address: "no port here".into() });
    ui.send(IpcCommand::AddPeer { address: seeder.listen_addr().to_string() });
    ui.wait_for(
        Duration::from_secs(20),
        "the seeder joined",
        |e| matches!(e, IpcEvent::PeerJoined(p) if p.display_name == "seeder"),
    )
    .await;
    ui.wait_for(
        Duration::from_secs(20),
        "its game offered",
        |e| matches!(e, IpcEvent::NetworkGames(g) if g.iter().any(|g| g.id == "openarena")),
    )
    .await;
    let refused = |needle: &'static str| move |e: &IpcEvent| matches!(e, IpcEvent::RuntimeFailure { context, message, .. } if context == "add a PC" && message.contains(needle));
    ui.wait_for(Duration::from_secs(5), "the bad address refused", refused("HOST:PORT")).await;
    // A UI that adds without end is stopped at the bound (the seeder was
    // the first of 64; closed loopback ports for the rest).
    for port in 1..=64 {
        ui.send(IpcCommand::AddPeer { address: format!("127.0.0.1:{port}") });
    }
    ui.wait_for(Duration::from_secs(10), "the 65th refused", refused("at most 64 PCs")).await;
    // A limit no link has is refused, not taken.
    ui.send(IpcCommand::SetLimits { download: u64::MAX, upload: 0, upload_per_peer: 0 });
    ui.wait_for(
        Duration::from_secs(5),
        "the limit refused",
        |e| matches!(e, IpcEvent::RuntimeFailure { context, .. } if context == "bandwidth limits"),
    )
    .await;
    assert!(ui.worker_alive());
}
