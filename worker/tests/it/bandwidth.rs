//! Bandwidth limits hold: a seeder's upload limit and a fetcher's download
//! limit, each measured over ten seconds from the fetcher's progress lines
//! as they arrive.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{WORKER, make_random_game, serve_with};

/// The limit both tests set: 2 MB/s, held within 10 % over 10 s.
const LIMIT: f64 = 2_000_000.0;
const SPAN: Duration = Duration::from_secs(10);

/// Fetches `id` from `seeder` with `args` and measures its download rate
/// over the whole transfer, from the first progress line to the last chunk
/// verified (the `finished` line). (Progress counts whole chunks, several arrive side by side, so
/// a rate between two lines in the middle would be off by up to a chunk.)
/// The game must take more than [`SPAN`] at the limit.
fn measured_rate(tmp: &Path, seeder: std::net::SocketAddr, id: &str, args: &[&str]) -> f64 {
    let mut fetch = Command::new(WORKER)
        .args(["fetch", id, "--json", "--no-mdns", "--wait", "10", "--no-install"])
        .arg("--games")
        .arg(tmp.join("fetched"))
        .arg("--state")
        .arg(tmp.join("fetch-state"))
        .arg("--peer")
        .arg(seeder.to_string())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(fetch.stdout.take().unwrap()).lines();
    let mut started: Option<Instant> = None;
    for line in lines {
        let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let now = Instant::now();
        if event["event"] == "progress" && event["phase"] == "downloading" {
            started.get_or_insert(now);
        } else if event["event"] == "finished" {
            let _ = fetch.wait();
            let took = now - started.expect("progress before the end");
            assert!(took >= SPAN, "done in {took:?}: the limit did not hold it back");
            return event["bytes_fetched"].as_u64().unwrap() as f64 / took.as_secs_f64();
        }
    }
    let _ = fetch.wait();
    panic!("the download did not finish");
}

#[test]
fn an_upload_limit_holds() {
    let tmp = tempfile::tempdir().unwrap();
    make_random_game(&tmp.path().join("seed"), "openarena", "1.0", 24_000_000, 0);
    let seeder =
        serve_with("seeder", &tmp.path().join("seed"), &tmp.path().join("seed-state"), &[], &["--max-upload", "2MB"]);
    seeder.wait_scanned(Duration::from_secs(60));
    let rate = measured_rate(tmp.path(), seeder.listen_addr(), "openarena", &[]);
    eprintln!("upload limited to 2 MB/s: {rate:.0} B/s");
    assert!((rate - LIMIT).abs() / LIMIT < 0.10, "{rate:.0} B/s against a limit of {LIMIT} B/s");
}

#[test]
fn a_download_limit_holds() {
    let tmp = tempfile::tempdir().unwrap();
    make_random_game(&tmp.path().join("seed"), "openarena", "1.0", 24_000_000, 0);
    let seeder = serve_with("seeder", &tmp.path().join("seed"), &tmp.path().join("seed-state"), &[], &[]);
    seeder.wait_scanned(Duration::from_secs(60));
    let rate = measured_rate(tmp.path(), seeder.listen_addr(), "openarena", &["--max-download", "2MB"]);
    eprintln!("download limited to 2 MB/s: {rate:.0} B/s");
    assert!((rate - LIMIT).abs() / LIMIT < 0.10, "{rate:.0} B/s against a limit of {LIMIT} B/s");
}

#[test]
fn an_upload_limit_per_peer_holds() {
    let tmp = tempfile::tempdir().unwrap();
    make_random_game(&tmp.path().join("seed"), "openarena", "1.0", 24_000_000, 0);
    let seeder = serve_with(
        "seeder",
        &tmp.path().join("seed"),
        &tmp.path().join("seed-state"),
        &[],
        &["--max-upload", "8MB", "--max-upload-per-peer", "2MB"],
    );
    seeder.wait_scanned(Duration::from_secs(60));
    let rate = measured_rate(tmp.path(), seeder.listen_addr(), "openarena", &[]);
    eprintln!("upload to one peer limited to 2 MB/s: {rate:.0} B/s");
    assert!((rate - LIMIT).abs() / LIMIT < 0.10, "{rate:.0} B/s against a limit of {LIMIT} B/s");
}

/// A limit set through the IPC applies to the download under way: the
/// worker's own traffic reports show the new rate once a report's second
/// lies wholly after the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_changed_through_the_ipc_applies_at_once() {
    use lanspread_proto::ipc::{IpcCommand, IpcEvent};
    let tmp = tempfile::tempdir().unwrap();
    make_random_game(&tmp.path().join("seed"), "openarena", "1.0", 40_000_000, 0);
    let seeder = serve_with("seeder", &tmp.path().join("seed"), &tmp.path().join("seed-state"), &[], &[]);
    seeder.wait_scanned(Duration::from_secs(60));
    let games = tmp.path().join("games");
    std::fs::create_dir_all(&games).unwrap();
    let ui = crate::liars::FakeUi::start(tmp.path(), &games, &[seeder.listen_addr()]).await;
    ui.send(IpcCommand::SetLimits { download: 1_000_000, upload: 0, upload_per_peer: 0 });
    ui.wait_for(
        Duration::from_secs(20),
        "the game offered",
        |e| matches!(e, IpcEvent::NetworkGames(g) if g.iter().any(|g| g.id == "openarena")),
    )
    .await;
    ui.send(IpcCommand::DownloadGame { id: "openarena".into() });
    let download_rate = |e: &IpcEvent| match e {
        IpcEvent::Traffic { download_bps, .. } => Some(*download_bps as f64),
        _ => None,
    };
    ui.wait_for(Duration::from_secs(20), "a second at 1 MB/s", |e| {
        download_rate(e).is_some_and(|r| (r - 1_000_000.0).abs() < 200_000.0)
    })
    .await;

    let seen = ui.events.lock().unwrap().len();
    let changed = Instant::now();
    ui.send(IpcCommand::SetLimits { download: 4_000_000, upload: 0, upload_per_peer: 0 });
    // Reports come once a second: the second after the change covers a
    // second that began within a second of it, under the new limit only.
    let reports_after = || ui.events.lock().unwrap()[seen..].iter().filter_map(download_rate).collect::<Vec<f64>>();
    let mut after = reports_after();
    while after.len() < 2 {
        assert!(changed.elapsed() < Duration::from_secs(10), "no two traffic reports after the change");
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = reports_after();
    }
    assert!((after[1] - 4_000_000.0).abs() < 800_000.0, "reports after the change: {after:?}");
    assert!(changed.elapsed() < Duration::from_secs(3), "{:?}", changed.elapsed());
}
