//! The UI side against a real worker process: the token handshake, restarts
//! after SIGKILL, the crash loop, and the worker leaving with its UI.
//!
//! Needs `lanspread-worker` built first (`cargo build -p lanspread-worker`;
//! the README's test command does it).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use interprocess::local_socket::GenericNamespaced;
use interprocess::local_socket::tokio::Stream;
use interprocess::local_socket::tokio::prelude::*;
use lanspread_app_ui::ipc::IpcListener;
use lanspread_app_ui::supervisor::{Supervisor, SupervisorConfig, SupervisorEvent, WorkerState};
use lanspread_proto::exit;
use lanspread_proto::io::{read_frame, write_frame};
use lanspread_proto::ipc::{
    HelloReply, IPC_PROTOCOL_VERSION, IpcCommand, IpcEvent, OperationKind, Phase, TOKEN_ENV, WorkerHello,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

fn worker_exe() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let worker = dir.join(format!("lanspread-worker{}", std::env::consts::EXE_SUFFIX));
    assert!(
        worker.exists(),
        "{} is missing: run `cargo build -p lanspread-worker --features test-hooks` first",
        worker.display()
    );
    worker
}

fn worker_args(tmp: &std::path::Path) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = ["--no-mdns", "--listen", "127.0.0.1:0"].iter().map(Into::into).collect();
    args.extend(["--games".into(), tmp.join("games").into_os_string()]);
    args.extend(["--state".into(), tmp.join("state").into_os_string()]);
    args
}

/// `lanspread-worker ipc` for the socket `name`, presenting `token`.
fn ipc_worker(name: &str, token: &str, tmp: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(worker_exe())
        .args(["ipc", "--socket", name])
        .args(worker_args(tmp))
        .env(TOKEN_ENV, token)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// A listener serving in the background, and where its links arrive.
fn listen() -> (String, String, mpsc::UnboundedReceiver<lanspread_app_ui::ipc::WorkerLink>) {
    let listener = IpcListener::bind().unwrap();
    let (name, token) = (listener.name().to_owned(), listener.token().to_owned());
    let (links_tx, links) = mpsc::unbounded_channel();
    tokio::spawn(listener.serve(links_tx));
    (name, token, links)
}

async fn connect(name: &str) -> Stream {
    Stream::connect(name.to_ns_name::<GenericNamespaced>().unwrap()).await.unwrap()
}

/// Waits for an event matching `pred`, failing after `limit`.
async fn expect_event(
    supervisor: &mut Supervisor,
    limit: Duration,
    what: &str,
    mut pred: impl FnMut(&SupervisorEvent) -> bool,
) -> SupervisorEvent {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, supervisor.next_event()).await {
            Ok(Some(event)) if pred(&event) => return event,
            Ok(Some(_)) => {}
            Ok(None) => panic!("supervisor ended while waiting for {what}"),
            Err(_) => panic!("no {what} within {limit:?}"),
        }
    }
}

fn running_pid(event: &SupervisorEvent) -> Option<u32> {
    match event {
        SupervisorEvent::State(WorkerState::Running { pid }) => Some(*pid),
        _ => None,
    }
}

/// The process `pid`, if it runs.
fn process(pid: u32) -> Option<sysinfo::System> {
    let pid = sysinfo::Pid::from_u32(pid);
    let mut system = sysinfo::System::new();
    system.refresh_processes(sysinfo::ProcessesToUpdate::Some(&[pid]), true);
    system.process(pid).is_some().then_some(system)
}

fn alive(pid: u32) -> bool {
    process(pid).is_some()
}

/// Ends process `pid` at once, as a crash would: SIGKILL, or
/// TerminateProcess on Windows.
fn kill_hard(pid: u32) {
    let system = process(pid).unwrap_or_else(|| panic!("no process {pid} to kill"));
    assert!(system.process(sysinfo::Pid::from_u32(pid)).is_some_and(|p| p.kill()), "cannot kill {pid}");
}

#[tokio::test]
async fn clients_without_the_token_are_refused_and_the_listener_keeps_serving() {
    let (name, token, mut links) = listen();

    // A wrong token.
    let (mut r, mut w) = tokio::io::split(connect(&name).await);
    let hello = WorkerHello { protocol_version: IPC_PROTOCOL_VERSION, token: "guess".into(), worker_pid: 1 };
    write_frame(&mut w, &hello).await.unwrap();
    let reply = read_frame::<HelloReply, _>(&mut r).await.unwrap();
    assert_eq!(reply, Some(HelloReply::Refused { reason: "wrong launch token".into() }));

    // Garbage: a 4 GiB frame length.
    let (mut r, mut w) = tokio::io::split(connect(&name).await);
    w.write_all(&[0xff; 8]).await.unwrap();
    match read_frame::<HelloReply, _>(&mut r).await.unwrap() {
        Some(HelloReply::Refused { reason }) => {
            assert!(reason.contains("exceeds the limit"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // An old protocol version.
    let (mut r, mut w) = tokio::io::split(connect(&name).await);
    let hello = WorkerHello { protocol_version: 999, token: token.clone(), worker_pid: 1 };
    write_frame(&mut w, &hello).await.unwrap();
    match read_frame::<HelloReply, _>(&mut r).await.unwrap() {
        Some(HelloReply::Refused { reason }) => {
            assert!(reason.contains("IPC protocol 999"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(links.try_recv().is_err(), "no refused client became a worker link");

    // The real worker, with a wrong token, says why and exits with its code.
    let output = tokio::process::Command::new(worker_exe())
        .args(["ipc", "--socket", &name])
        .args(worker_args(tempfile::tempdir().unwrap().path()))
        .env(TOKEN_ENV, "not-the-token")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(exit::IPC_REFUSED));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: the UI refused this worker: wrong launch token"), "{stderr}");

    // With the token, the real worker is accepted and speaks the protocol.
    let tmp = tempfile::tempdir().unwrap();
    let mut child = ipc_worker(&name, &token, tmp.path());
    let mut link = tokio::time::timeout(Duration::from_secs(10), links.recv()).await.unwrap().unwrap();
    assert_eq!(Some(link.worker_pid), child.id());
    // The worker opens with its snapshots, the catalog among them.
    let catalog = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match read_frame::<IpcEvent, _>(&mut link.reader).await {
                Ok(Some(IpcEvent::Catalog(catalog))) => break catalog,
                Ok(Some(_)) => {}
                other => panic!("the worker speaks the protocol: {other:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert!(catalog.len() >= 15);

    // Closing the socket (the UI is gone) ends the worker promptly.
    let closed = Instant::now();
    drop(link);
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await.expect("the worker exits").unwrap();
    assert_eq!(status.code(), Some(exit::UI_GONE));
    eprintln!("worker exited {:?} after its UI went away", closed.elapsed());
}

#[tokio::test]
async fn a_worker_without_heartbeats_from_its_ui_leaves() {
    let (name, token, mut links) = listen();
    let tmp = tempfile::tempdir().unwrap();
    let mut child = ipc_worker(&name, &token, tmp.path());
    // Keep the socket open but never send a heartbeat.
    let _link = tokio::time::timeout(Duration::from_secs(10), links.recv()).await.unwrap().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("the worker exits").unwrap();
    assert_eq!(status.code(), Some(exit::UI_GONE));
}

#[tokio::test]
async fn a_killed_worker_is_restarted_and_shutdown_ends_it() {
    let tmp = tempfile::tempdir().unwrap();
    let config = SupervisorConfig { worker_exe: worker_exe(), worker_args: worker_args(tmp.path()), log: None };
    let mut supervisor = Supervisor::start(config).unwrap();
    let first =
        expect_event(&mut supervisor, Duration::from_secs(15), "a running worker", |e| running_pid(e).is_some()).await;
    let first = running_pid(&first).unwrap();
    expect_event(&mut supervisor, Duration::from_secs(10), "the catalog", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::Catalog(_)))
    })
    .await;

    let killed = Instant::now();
    kill_hard(first);
    let restarting = expect_event(&mut supervisor, Duration::from_secs(10), "restarting", |e| {
        matches!(e, SupervisorEvent::State(WorkerState::Restarting { .. }))
    })
    .await;
    // Unix tells a kill from an exit; Windows sees only TerminateProcess's exit code.
    assert!(cfg!(windows) || format!("{restarting:?}").contains("killed"), "{restarting:?}");
    let second =
        expect_event(&mut supervisor, Duration::from_secs(10), "a new worker", |e| running_pid(e).is_some()).await;
    let second = running_pid(&second).unwrap();
    assert_ne!(first, second);
    eprintln!("new worker {second} running {:?} after SIGKILL of {first}", killed.elapsed());
    // After the restart, fresh snapshots arrive without being asked.
    expect_event(&mut supervisor, Duration::from_secs(10), "a fresh catalog", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::Catalog(_)))
    })
    .await;

    supervisor.shutdown().await;
    assert!(!alive(second), "the worker ends with the UI");
}

#[tokio::test]
async fn repeated_crashes_stop_in_the_crash_loop_state_until_retry() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = worker_args(tmp.path());
    args.push("--no-such-flag".into());
    let log_file = tmp.path().join("lanspread.log");
    let log = lanspread_app_ui::log::LogSink::open(&log_file).unwrap();
    let config = SupervisorConfig { worker_exe: worker_exe(), worker_args: args, log: Some(log) };
    let mut supervisor = Supervisor::start(config).unwrap();
    let event = expect_event(&mut supervisor, Duration::from_secs(30), "the crash loop", |e| {
        matches!(e, SupervisorEvent::State(WorkerState::CrashLoop { .. }))
    })
    .await;
    let SupervisorEvent::State(WorkerState::CrashLoop { reason, log_file: shown }) = event else { unreachable!() };
    assert!(reason.contains("bad arguments (exit code 2)"), "{reason}");
    assert_eq!(shown.as_deref(), Some(log_file.as_path()));
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(log.contains("--no-such-flag"), "the worker's complaint is in the log: {log}");

    supervisor.retry();
    expect_event(&mut supervisor, Duration::from_secs(5), "a new start", |e| {
        matches!(e, SupervisorEvent::State(WorkerState::Starting))
    })
    .await;
    supervisor.shutdown().await;
}

#[tokio::test]
async fn a_worker_that_cannot_start_tells_the_ui_why() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut args: Vec<std::ffi::OsString> = ["--no-mdns", "--listen", &addr].iter().map(Into::into).collect();
    args.extend(["--games".into(), tmp.path().join("games").into_os_string()]);
    args.extend(["--state".into(), tmp.path().join("state").into_os_string()]);
    let config = SupervisorConfig { worker_exe: worker_exe(), worker_args: args, log: None };
    let mut supervisor = Supervisor::start(config).unwrap();
    let event = expect_event(&mut supervisor, Duration::from_secs(15), "why the worker stopped", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::RuntimeFailure { .. }))
    })
    .await;
    let SupervisorEvent::Worker(IpcEvent::RuntimeFailure { context, message, .. }) = event else { unreachable!() };
    assert_eq!(context, "the worker could not start");
    assert!(message.contains(&format!("cannot listen on {addr}")), "{message}");
    supervisor.shutdown().await;
}

/// A seeder process, killed when dropped (also when a test fails).
struct Seeder(std::process::Child);

impl Drop for Seeder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A seeder process serving `games` on loopback; returns it and its address.
fn seeder(games: &std::path::Path, state: &std::path::Path) -> (Seeder, String) {
    seeder_with(games, state, &[])
}

/// [`seeder`] with extra arguments (the worker's test hooks). Returns once
/// its first library scan ended, so its games are listed.
fn seeder_with(games: &std::path::Path, state: &std::path::Path, args: &[&str]) -> (Seeder, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(worker_exe())
        .stderr(Stdio::null())
        .args(["serve", "--json", "--no-mdns", "--listen", "127.0.0.1:0", "--name", "seeder"])
        .args(args)
        .arg("--games")
        .arg(games)
        .arg("--state")
        .arg(state)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    for line in lines.by_ref() {
        let event: serde_json::Value = serde_json::from_str(&line.unwrap()).expect("a JSON line");
        match event["event"].as_str() {
            Some("listening") => addr = event["addr"].as_str().map(str::to_owned),
            Some("library") => break,
            _ => {}
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    (Seeder(child), addr.expect("the seeder says where it listens"))
}

#[tokio::test]
async fn the_ui_downloads_a_game_through_its_worker() {
    let tmp = tempfile::tempdir().unwrap();
    let seed_games = tmp.path().join("seed");
    std::fs::create_dir_all(seed_games.join("wesnoth/data")).unwrap();
    let data: Vec<u8> = (0..9_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(seed_games.join("wesnoth/data/core.pak"), &data).unwrap();
    std::fs::write(seed_games.join("wesnoth/version.ini"), "1.18.2\n").unwrap();
    let (_seed, addr) = seeder(&seed_games, &tmp.path().join("seed-state"));

    let mut args = worker_args(tmp.path());
    args.extend(["--peer".into(), addr.into()]);
    let config = SupervisorConfig { worker_exe: worker_exe(), worker_args: args, log: None };
    let mut supervisor = Supervisor::start(config).unwrap();
    expect_event(&mut supervisor, Duration::from_secs(15), "the seeder's game", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::NetworkGames(games)) if games.iter().any(|g| g.id == "wesnoth"))
    })
    .await;
    supervisor.send(IpcCommand::DownloadGame { id: "wesnoth".into() });
    expect_event(&mut supervisor, Duration::from_secs(10), "the operation", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::ActiveOperations(ops)) if ops.iter().any(|o| o.id == "wesnoth"))
    })
    .await;
    let finished = expect_event(&mut supervisor, Duration::from_secs(60), "the end of the download", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::DownloadFinished { .. } | IpcEvent::DownloadFailed { .. }))
    })
    .await;
    assert!(
        matches!(finished, SupervisorEvent::Worker(IpcEvent::DownloadFinished { ref version, .. }) if version == "1.18.2"),
        "{finished:?}"
    );
    // The finished download installs by itself.
    let installed = expect_event(&mut supervisor, Duration::from_secs(60), "the end of the install", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::OperationFinished { .. } | IpcEvent::OperationFailed { .. }))
    })
    .await;
    assert!(
        matches!(installed, SupervisorEvent::Worker(IpcEvent::OperationFinished { kind: OperationKind::Install, .. })),
        "{installed:?}"
    );
    expect_event(&mut supervisor, Duration::from_secs(10), "the library with the game installed", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::Library(lib))
            if lib.games.iter().any(|g| g.id == "wesnoth" && g.version.as_deref() == Some("1.18.2") && g.installed
                && g.installed_version.as_deref() == Some("1.18.2")))
    })
    .await;
    assert_eq!(std::fs::read(tmp.path().join("games/wesnoth/data/core.pak")).unwrap(), data);
    assert_eq!(std::fs::read(tmp.path().join("games/wesnoth/local/data/core.pak")).unwrap(), data);

    // Removal is refused while installed; uninstall, then remove.
    supervisor.send(IpcCommand::RemoveDownloaded { id: "wesnoth".into() });
    let refused = operation_end(&mut supervisor, OperationKind::Remove).await;
    assert!(
        matches!(&refused, IpcEvent::OperationFailed { reason, .. } if reason.contains("uninstall it first")),
        "{refused:?}"
    );
    supervisor.send(IpcCommand::UninstallGame { id: "wesnoth".into() });
    let uninstalled = operation_end(&mut supervisor, OperationKind::Uninstall).await;
    assert!(matches!(uninstalled, IpcEvent::OperationFinished { .. }), "{uninstalled:?}");
    assert!(!tmp.path().join("games/wesnoth/local").exists());
    supervisor.send(IpcCommand::RemoveDownloaded { id: "wesnoth".into() });
    let removed = operation_end(&mut supervisor, OperationKind::Remove).await;
    assert!(matches!(removed, IpcEvent::OperationFinished { .. }), "{removed:?}");
    assert!(!tmp.path().join("games/wesnoth").exists());
    expect_event(&mut supervisor, Duration::from_secs(10), "the library without the game", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::Library(lib)) if !lib.games.iter().any(|g| g.id == "wesnoth"))
    })
    .await;
    supervisor.shutdown().await;
}

/// The finished or failed event of the next `kind` operation.
async fn operation_end(supervisor: &mut Supervisor, kind: OperationKind) -> IpcEvent {
    let event = expect_event(supervisor, Duration::from_secs(30), "the end of the operation", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::OperationFinished { kind: k, .. } | IpcEvent::OperationFailed { kind: k, .. }) if *k == kind)
    })
    .await;
    match event {
        SupervisorEvent::Worker(event) => event,
        other => panic!("{other:?}"),
    }
}

/// A seeder of `size` bytes of wesnoth answering each chunk after `delay_ms`,
/// and a supervised worker that knows it; returns the seeder, the game's
/// bytes and the supervisor.
fn slow_seeder_and_ui(tmp: &std::path::Path, size: u32, delay_ms: &str) -> (Seeder, Vec<u8>, Supervisor) {
    let seed_games = tmp.join("seed");
    std::fs::create_dir_all(seed_games.join("wesnoth/data")).unwrap();
    let data: Vec<u8> = (0..size).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    std::fs::write(seed_games.join("wesnoth/data/core.pak"), &data).unwrap();
    std::fs::write(seed_games.join("wesnoth/version.ini"), "1.18.2\n").unwrap();
    let slow = ["--test-chunk-delay-ms", delay_ms];
    let (seed, addr) = seeder_with(&seed_games, &tmp.join("seed-state"), &slow);
    let mut args = worker_args(tmp);
    args.extend(["--peer".into(), addr.into()]);
    let config = SupervisorConfig { worker_exe: worker_exe(), worker_args: args, log: None };
    (seed, data, Supervisor::start(config).unwrap())
}

#[tokio::test]
async fn a_worker_killed_mid_download_is_replaced_and_the_download_continues_from_its_journal() {
    use lanspread_app_ui::view::ViewState;
    let tmp = tempfile::tempdir().unwrap();
    let (_seed, data, mut supervisor) = slow_seeder_and_ui(tmp.path(), 48_000_000, "1000");
    let mut view = ViewState::default();
    let mut pid = None;
    expect_event(&mut supervisor, Duration::from_secs(15), "the seeder's game", |e| {
        pid = running_pid(e).or(pid);
        view.apply(e.clone());
        matches!(e, SupervisorEvent::Worker(IpcEvent::NetworkGames(games)) if games.iter().any(|g| g.id == "wesnoth"))
    })
    .await;
    supervisor.send(IpcCommand::DownloadGame { id: "wesnoth".into() });
    // The worker journals verified chunks every 2 s: kill it only once a
    // flush must have happened since the first chunk was verified.
    let mut first_verified: Option<Instant> = None;
    expect_event(&mut supervisor, Duration::from_secs(60), "verified chunks in the journal", |e| {
        view.apply(e.clone());
        let SupervisorEvent::Worker(IpcEvent::Progress(p)) = e else { return false };
        if p.phase != Phase::Downloading || p.bytes_done == 0 {
            return false;
        }
        assert!(p.bytes_done < p.bytes_total, "the download ended before the worker could be killed");
        first_verified.get_or_insert_with(Instant::now).elapsed() > Duration::from_millis(2500)
    })
    .await;
    assert!(view.row_of("wesnoth").unwrap().progress.is_some(), "the card shows progress");

    let first = pid.expect("a running worker");
    let killed = Instant::now();
    kill_hard(first);
    let running = expect_event(&mut supervisor, Duration::from_secs(10), "a new worker", |e| {
        view.apply(e.clone());
        running_pid(e).is_some()
    })
    .await;
    let replaced_after = killed.elapsed();
    assert_ne!(running_pid(&running), Some(first));
    assert!(replaced_after < Duration::from_secs(2), "a new worker within 2 s, took {replaced_after:?}");

    // The new worker is told to download again, and starts from the journal.
    let resumed = expect_event(&mut supervisor, Duration::from_secs(30), "progress from the new worker", |e| {
        view.apply(e.clone());
        matches!(e, SupervisorEvent::Worker(IpcEvent::Progress(p)) if p.phase == Phase::Downloading)
    })
    .await;
    let SupervisorEvent::Worker(IpcEvent::Progress(resumed)) = resumed else { unreachable!() };
    eprintln!(
        "new worker after {replaced_after:?}; resumed at {} of {} bytes",
        resumed.bytes_done, resumed.bytes_total
    );
    assert!(resumed.bytes_done > 0, "verified chunks from the journal count as done");
    assert!(view.row_of("wesnoth").unwrap().progress.is_some(), "the card shows progress again");
    expect_event(&mut supervisor, Duration::from_secs(120), "the end of the download", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::DownloadFinished { .. }))
    })
    .await;
    assert_eq!(std::fs::read(tmp.path().join("games/wesnoth/data/core.pak")).unwrap(), data);
    supervisor.shutdown().await;
}

#[tokio::test]
async fn a_worker_killed_mid_install_is_replaced_and_the_install_is_redone_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("games/wesnoth");
    std::fs::create_dir_all(root.join("data")).unwrap();
    // Enough plain payload files that the install is still copying when killed.
    let files: Vec<(String, Vec<u8>)> = (0..12u32)
        .map(|n| {
            let data = (0..4_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> (n % 7 + 8)) as u8).collect();
            (format!("data/part{n:02}.pak"), data)
        })
        .collect();
    for (path, data) in &files {
        std::fs::write(root.join(path), data).unwrap();
    }
    std::fs::write(root.join("version.ini"), "1.18.2\n").unwrap();
    let config = SupervisorConfig { worker_exe: worker_exe(), worker_args: worker_args(tmp.path()), log: None };
    let mut supervisor = Supervisor::start(config).unwrap();
    let mut pid = None;
    expect_event(&mut supervisor, Duration::from_secs(15), "the downloaded game", |e| {
        pid = running_pid(e).or(pid);
        matches!(e, SupervisorEvent::Worker(IpcEvent::Library(lib)) if lib.games.iter().any(|g| g.id == "wesnoth" && g.version.is_some()))
    })
    .await;
    supervisor.send(IpcCommand::InstallGame { id: "wesnoth".into() });
    expect_event(&mut supervisor, Duration::from_secs(15), "the install running", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::ActiveOperations(ops)) if ops.iter().any(|op| op.kind == OperationKind::Install))
    })
    .await;
    let first = pid.expect("a running worker");
    kill_hard(first);

    // The new worker recovers the root and the supervisor starts the install again.
    let finished = operation_end(&mut supervisor, OperationKind::Install).await;
    assert!(matches!(finished, IpcEvent::OperationFinished { .. }), "{finished:?}");
    for (path, data) in &files {
        assert_eq!(&std::fs::read(root.join("local").join(path)).unwrap(), data, "{path}");
    }
    let left: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".local.") || name.contains(".lanspread.json"))
        .collect();
    assert!(left.is_empty(), "reserved directories or an intent log left: {left:?}");
    supervisor.shutdown().await;
}

#[tokio::test]
async fn downloads_pause_resume_and_cancel_through_the_worker() {
    let tmp = tempfile::tempdir().unwrap();
    let (_seed, data, mut supervisor) = slow_seeder_and_ui(tmp.path(), 40_000_000, "500");
    expect_event(&mut supervisor, Duration::from_secs(15), "the seeder's game", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::NetworkGames(games)) if games.iter().any(|g| g.id == "wesnoth"))
    })
    .await;
    let id = || "wesnoth".to_owned();
    let progress =
        |e: &SupervisorEvent| matches!(e, SupervisorEvent::Worker(IpcEvent::Progress(p)) if p.bytes_done > 0);
    let snapshot = |paused: Option<bool>| {
        move |e: &SupervisorEvent| match e {
            SupervisorEvent::Worker(IpcEvent::ActiveOperations(ops)) => match paused {
                Some(paused) => ops.iter().any(|op| op.id == "wesnoth" && op.paused == paused),
                None => ops.is_empty(),
            },
            _ => false,
        }
    };

    supervisor.send(IpcCommand::DownloadGame { id: id() });
    expect_event(&mut supervisor, Duration::from_secs(30), "progress", progress).await;
    supervisor.send(IpcCommand::PauseDownload { id: id() });
    let paused = expect_event(&mut supervisor, Duration::from_secs(10), "the pause", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::DownloadCancelled { .. }))
    })
    .await;
    assert!(matches!(paused, SupervisorEvent::Worker(IpcEvent::DownloadCancelled { paused: true, .. })), "{paused:?}");
    supervisor.send(IpcCommand::ListGames);
    expect_event(&mut supervisor, Duration::from_secs(10), "a paused operation", snapshot(Some(true))).await;

    supervisor.send(IpcCommand::ResumeDownload { id: id() });
    expect_event(&mut supervisor, Duration::from_secs(10), "a running operation", snapshot(Some(false))).await;
    expect_event(&mut supervisor, Duration::from_secs(30), "progress again", progress).await;
    supervisor.send(IpcCommand::CancelDownload { id: id() });
    let cancelled = expect_event(&mut supervisor, Duration::from_secs(10), "the cancel", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::DownloadCancelled { .. }))
    })
    .await;
    assert!(matches!(cancelled, SupervisorEvent::Worker(IpcEvent::DownloadCancelled { paused: false, .. })));
    supervisor.send(IpcCommand::ListGames);
    expect_event(&mut supervisor, Duration::from_secs(10), "no operation left", snapshot(None)).await;
    let root = tmp.path().join("games/wesnoth");
    assert!(!root.join("version.ini").exists(), "a cancelled download does not look downloaded");
    assert!(root.join(".lanspread-download").exists(), "its journal stays for a resume");

    supervisor.send(IpcCommand::SetAutoInstall { enabled: false });
    supervisor.send(IpcCommand::DownloadGame { id: id() });
    expect_event(&mut supervisor, Duration::from_secs(120), "the end of the download", |e| {
        matches!(e, SupervisorEvent::Worker(IpcEvent::DownloadFinished { .. }))
    })
    .await;
    supervisor.send(IpcCommand::ListGames);
    expect_event(&mut supervisor, Duration::from_secs(10), "no operation left", snapshot(None)).await;
    assert_eq!(std::fs::read(root.join("data/core.pak")).unwrap(), data);
    assert!(!root.join("local").exists(), "auto-install was turned off");
    supervisor.shutdown().await;
}
