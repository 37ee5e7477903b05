//! A LAN with liars on it (issue: hostile peers). Lying peers list games
//! whose ids would name paths outside the game directory, huge ids, file
//! lists that would abort or wedge a fetcher; the desktop app's worker must
//! drop them at the edge, refuse them with a clear error, stay up and write
//! nothing outside its game directory.

use std::path::Path;
use std::time::Duration;

use lanspread_proto::ipc::{IpcCommand, IpcEvent, OperationKind};
use lanspread_proto::peer::{FileEntry, GameManifest, GameSummary};

use crate::liars::{FakeUi, Script, lying_peer, small_manifest};
use crate::support::{WORKER, make_game};

fn summary(id: &str, version: &str) -> GameSummary {
    GameSummary { id: id.to_owned(), version: version.to_owned(), size: 10, installed: false, cover: None }
}

/// Every path under `dir`, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                stack.push(path.clone());
            }
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_that_name_paths_never_reach_the_ui_and_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    std::fs::create_dir_all(&games).unwrap();
    // A file beside the game directory, where `../outside` would land.
    std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
    std::fs::write(tmp.path().join("outside/keep.txt"), "mine\n").unwrap();

    let megabyte_id = |n: u8| format!("{}{}", char::from(b'a' + n), "x".repeat(1 << 20));
    let hostile_ids: Vec<String> = ["../outside", "/abs", "C:\\x", "nul", "notagame", "..", "Openarena", "local."]
        .iter()
        .map(|s| s.to_string())
        .chain((0..4).map(megabyte_id))
        .collect();
    // Three liars, each listing every hostile id and one honest-looking game.
    let liars: Vec<_> = (0..3)
        .map(|i| {
            let mut games: Vec<GameSummary> = hostile_ids.iter().map(|id| summary(id, "1")).collect();
            games.push(summary("openarena", "0.8.8"));
            lying_peer(&tmp.path().join(format!("liar{i}")), Script { games, ..Script::default() })
        })
        .collect();
    let addrs: Vec<_> = liars.iter().map(|l| l.addr).collect();
    let mut ui = FakeUi::start(tmp.path(), &games, &addrs).await;

    // The honest-looking game arrives from all three: the listings were read.
    ui.wait_for(
        Duration::from_secs(20),
        "openarena from 3 peers",
        |e| matches!(e, IpcEvent::NetworkGames(g) if g.iter().any(|g| g.id == "openarena" && g.peers_total == 3)),
    )
    .await;
    for event in ui.events.lock().unwrap().iter() {
        if let IpcEvent::NetworkGames(listed) = event {
            assert!(listed.iter().all(|g| g.id == "openarena"), "only catalogued valid ids reach the UI");
        }
    }

    // The UI (or anything on its socket) asks for them anyway.
    for id in &hostile_ids {
        for command in [
            IpcCommand::DownloadGame { id: id.clone() },
            IpcCommand::FetchLatest { id: id.clone() },
            IpcCommand::InstallGame { id: id.clone() },
            IpcCommand::UninstallGame { id: id.clone() },
            IpcCommand::RemoveDownloaded { id: id.clone() },
            IpcCommand::GetGame { id: id.clone() },
            IpcCommand::EstimateInstall { id: id.clone() },
        ] {
            ui.send(command);
        }
    }
    // A command of a megabyte is over the IPC limit: refused whole, and the
    // worker reads on.
    let too_large = ui
        .wait_for(Duration::from_secs(10), "the refused large commands", |e| {
            matches!(e, IpcEvent::RuntimeFailure { message, .. } if message.contains("exceeds the limit of 65536 bytes; ignored"))
        })
        .await;
    let IpcEvent::RuntimeFailure { context, .. } = too_large else { unreachable!() };
    assert_eq!(context, "a command from the UI");
    // So does one that does not decode.
    ui.send_raw(vec![3, 0, 0, 0, 6, 0xff, 0xff]);
    ui.wait_for(
        Duration::from_secs(10),
        "the refused garbage",
        |e| matches!(e, IpcEvent::RuntimeFailure { message, .. } if message.contains("malformed ipc command")),
    )
    .await;
    for id in hostile_ids.iter().filter(|id| id.len() < 1000) {
        let want = id.clone();
        let failed = ui
            .wait_for(
                Duration::from_secs(10),
                "the refused download",
                |e| matches!(e, IpcEvent::DownloadFailed { id, .. } if *id == want),
            )
            .await;
        let IpcEvent::DownloadFailed { reason, .. } = failed else { unreachable!() };
        assert!(
            reason.contains("not a valid game id") || reason.contains("not a catalogued game"),
            "{id:.20}: {reason}"
        );
        assert!(reason.len() < 400, "the reason stays readable");
        ui.wait_for(
            Duration::from_secs(10),
            "the refused removal",
            |e| matches!(e, IpcEvent::OperationFailed { id, kind: OperationKind::Remove, .. } if *id == want),
        )
        .await;
    }
    // Nothing runs and nothing was written: the game directory holds at most
    // the lock folder, the planted file is untouched, no `/abs`.
    ui.send(IpcCommand::ListGames);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(ui.worker_alive(), "the worker keeps running");
    let left = tree(tmp.path());
    let expected_prefixes = ["games", "liar", "outside", "ui-state"];
    for path in &left {
        assert!(expected_prefixes.iter().any(|p| path.starts_with(p)), "unexpected {path}");
    }
    assert_eq!(tree(&tmp.path().join("outside")), ["keep.txt"]);
    assert_eq!(std::fs::read_to_string(tmp.path().join("outside/keep.txt")).unwrap(), "mine\n");
    assert!(tree(&games).iter().all(|p| p.starts_with(".lanspread-locks") && !p.contains("..")), "{:?}", tree(&games));
    assert!(!Path::new("/abs").exists());
    // Their name is shown and logged without its terminal escapes.
    let log = ui.log.lock().unwrap().join("\n");
    assert!(log.contains("peer joined: liar?[2J?]0;pwned?"), "{log}");
    assert!(!log.contains('\u{1b}'), "no escape sequence reaches the log");
    assert!(log.len() < 200_000, "huge ids are not repeated in the log ({} bytes)", log.len());
}

/// `lanspread-worker fetch ID` against `peer`; returns the exit code and stderr.
fn fetch(games: &Path, state: &Path, peer: std::net::SocketAddr, id: &str) -> (Option<i32>, String) {
    let output = std::process::Command::new(WORKER)
        .args(["fetch", id, "--no-mdns", "--wait", "5"])
        .arg("--games")
        .arg(games)
        .arg("--state")
        .arg(state)
        .arg("--peer")
        .arg(peer.to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("[fetch {id}] {stderr}");
    (output.status.code(), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_lists_that_would_abort_or_wedge_a_fetcher_are_refused_and_the_worker_stays_up() {
    let tmp = tempfile::tempdir().unwrap();
    let chunk = 4u64 << 20;
    let entry = |path: &str, size: u64| FileEntry {
        path: path.into(),
        size,
        chunks: vec![[0; 32]; size.div_ceil(chunk) as usize],
    };
    let manifest = |id: &str, files: Vec<FileEntry>| GameManifest {
        id: id.into(),
        version: "9".into(),
        chunk_size: chunk as u32,
        files,
    };
    let mut script = Script::default();
    // openarena: a 60 GiB version.ini; xonotic: version.ini as a folder;
    // wesnoth: the file list of another game.
    script.manifests.insert("openarena".into(), manifest("openarena", vec![entry("version.ini", 60 << 30)]));
    script.manifests.insert(
        "xonotic".into(),
        manifest("xonotic", vec![entry("version.ini", 2), entry("VERSION.INI/x", 1), entry("data.pak", 10)]),
    );
    script.manifests.insert("wesnoth".into(), small_manifest("teeworlds", "9"));
    script.games = ["openarena", "xonotic", "wesnoth"].iter().map(|id| summary(id, "9")).collect();
    let liar = lying_peer(&tmp.path().join("liar"), script);

    // Headless: each fetch ends with a clear error, not a signal.
    let games = tmp.path().join("games");
    std::fs::create_dir_all(&games).unwrap();
    let state = tmp.path().join("fetch-state");
    for (id, why) in [
        ("openarena", "the peers' file list is unusable: version.ini of 64424509440 bytes"),
        (
            "xonotic",
            "the peers' file list is unusable: \"version.ini\" is listed as a file and as the folder of \"version.ini/x\"",
        ),
        ("wesnoth", "cannot fetch wesnoth: no peer that has it sent its file list"),
    ] {
        let (code, stderr) = fetch(&games, &state, liar.addr, id);
        assert_eq!(code, Some(1), "{id}: {stderr}");
        assert!(stderr.contains(why), "{id}: {stderr}");
        assert!(!games.join(id).join("version.ini").exists(), "{id} does not look downloaded");
    }
    assert!(!games.join("teeworlds").exists(), "the other game's root is untouched");

    // Through the app: the download fails, the worker keeps serving and a
    // repeated download fails the same way rather than crash-looping.
    make_game(&games, "supertuxkart", Some("1.4"), &[("stk.zip", 5000)]);
    let ui = FakeUi::start(tmp.path(), &games, &[liar.addr]).await;
    ui.wait_for(
        Duration::from_secs(20),
        "the liar's games",
        |e| matches!(e, IpcEvent::NetworkGames(g) if g.len() == 3),
    )
    .await;
    for round in 0..2 {
        for id in ["openarena", "xonotic"] {
            ui.events.lock().unwrap().clear();
            ui.send(IpcCommand::DownloadGame { id: id.into() });
            let failed = ui
                .wait_for(
                    Duration::from_secs(20),
                    "the failed download",
                    |e| matches!(e, IpcEvent::DownloadFailed { id: failed, .. } if failed == id),
                )
                .await;
            let IpcEvent::DownloadFailed { reason, .. } = failed else { unreachable!() };
            assert!(reason.contains("file list is unusable"), "round {round}, {id}: {reason}");
        }
    }
    ui.send(IpcCommand::ListGames);
    ui.wait_for(
        Duration::from_secs(10),
        "the library after the failures",
        |e| matches!(e, IpcEvent::Library(lib) if lib.games.iter().any(|g| g.id == "supertuxkart")),
    )
    .await;
    let mut ui = ui;
    assert!(ui.worker_alive());
}

/// A peer that says it is still scanning, and that its library changed,
/// every time it is asked: `list` waits for it only as long as `--wait`
/// (and the grace for answers under way), says why its list may be short,
/// and asks it a bounded number of times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_scans_forever_cannot_hold_a_list_or_flood_it() {
    let tmp = tempfile::tempdir().unwrap();
    let games = vec![summary("openarena", "1")];
    let liar = lying_peer(&tmp.path().join("liar"), Script { games, scans_forever: true, ..Script::default() });
    let mut command = tokio::process::Command::new(WORKER);
    command.args(["list", "--no-mdns", "--wait", "1", "--peer", &liar.addr.to_string()]);
    command.arg("--state").arg(tmp.path().join("state"));
    let output = tokio::time::timeout(Duration::from_secs(30), command.output()).await.expect("list ends").unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("1 still scanning their library"), "{stdout}");
    assert!(stdout.contains("openarena"), "{stdout}");
    // One list when it joined, then at most one per discovery tick of the second waited.
    let lists = liar.lists.load(std::sync::atomic::Ordering::Relaxed);
    assert!((2..=8).contains(&lists), "asked {lists} times");
}
