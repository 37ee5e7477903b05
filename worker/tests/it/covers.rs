//! Covers: a game only a peer has shows the cover that peer hands out, kept
//! in the worker's cache under its hash; a peer that sends other bytes than
//! its list promised gets nothing shown.

use std::time::Duration;

use lanspread_proto::ipc::IpcEvent;
use lanspread_proto::peer::GameSummary;
use lanspread_worker::net::traffic::Traffic;
use lanspread_worker::net::{client, transport};

use crate::liars::{FakeUi, Script, lying_peer};
use crate::support::{make_game, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peers_cover_is_fetched_once_checked_and_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let (seeder_games, games) = (tmp.path().join("seeder"), tmp.path().join("games"));
    let root = make_game(&seeder_games, "openarena", Some("0.8.8"), &[("data.pak", 5000)]);
    let picture: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("cover.png"), &picture).unwrap();
    std::fs::create_dir_all(&games).unwrap();
    let seeder = serve("seeder", &seeder_games, &tmp.path().join("seeder-state"), &[]);
    seeder.wait_scanned(Duration::from_secs(20));

    let ui = FakeUi::start(tmp.path(), &games, &[seeder.listen_addr()]).await;
    let event = ui
        .wait_for(
            Duration::from_secs(20),
            "the cover of openarena",
            |e| matches!(e, IpcEvent::Covers(c) if c.iter().any(|c| c.id == "openarena")),
        )
        .await;
    let IpcEvent::Covers(covers) = event else { unreachable!() };
    let shown = std::path::PathBuf::from(&covers[0].path);
    assert!(shown.starts_with(tmp.path().join("ui-state")), "in the worker's cache: {}", shown.display());
    assert_eq!(std::fs::read(&shown).unwrap(), picture, "the seeder's picture, byte for byte");
    assert_eq!(
        shown.file_name().unwrap().to_string_lossy(),
        blake3::hash(&picture).to_hex().as_str(),
        "kept under its hash"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cover_that_is_not_the_promised_picture_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let promised = *blake3::hash(b"the real cover").as_bytes();
    let listed =
        GameSummary { id: "openarena".into(), version: "1".into(), size: 10, installed: false, cover: Some(promised) };
    let liar = lying_peer(
        &tmp.path().join("liar"),
        Script { games: vec![listed], cover: Some(b"something else entirely".to_vec()), ..Script::default() },
    );
    let endpoint = transport::transfer_endpoint().unwrap();
    let conn = client::connect(&endpoint, liar.addr, None, None, &Traffic::default()).await.unwrap();
    let refused = conn.get_cover("openarena", promised).await;
    assert!(refused.is_err(), "bytes that do not hash to the listed cover are refused");

    let oversized = lying_peer(
        &tmp.path().join("oversized"),
        Script { cover: Some(vec![0; 2 * 1024 * 1024]), ..Script::default() },
    );
    let conn = client::connect(&endpoint, oversized.addr, None, None, &Traffic::default()).await.unwrap();
    let big = vec![0; 2 * 1024 * 1024];
    assert!(conn.get_cover("openarena", *blake3::hash(&big).as_bytes()).await.is_err(), "too large, even if it hashes");
}
