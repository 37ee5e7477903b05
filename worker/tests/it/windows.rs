//! The Windows build beside the Linux one: a Windows worker (the
//! cross-built `lanspread-worker.exe` under Wine) serves Linux workers,
//! fetches and installs from them, and swarms with them.
//!
//! Ignored in a plain `cargo test`: `scripts/windows-check.sh` builds the
//! Windows worker, makes the Wine prefix, names both in the environment
//! ([`WINDOWS_WORKER`], `WINE`, `WINEPREFIX`) and runs these inside a
//! private network namespace (Wine's sockets belong to its wineserver,
//! which starts there with them).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::archives::{self, Entry};
use crate::mdns_lab::{Lab, lab_possible};
use crate::support::{WORKER, Worker, files, make_game, noise};

/// The environment variable naming the Windows `lanspread-worker.exe`.
const WINDOWS_WORKER: &str = "LANSPREAD_WINDOWS_WORKER";
const ID: &str = "openarena";
/// Wine starts a process in a second or two; a debug build moves tens of MB
/// a second under it.
const LIMIT: Duration = Duration::from_secs(120);

/// A Wine prefix of its own: Wine's sockets belong to the prefix's
/// wineserver, which lives in the network namespace of the first Wine
/// program started with it, so each host of a lab needs one. Copied from
/// the check's prefix; its wineserver is ended on drop.
struct Prefix(PathBuf);

impl Prefix {
    fn copy_to(dir: &Path) -> Prefix {
        let from = std::env::var_os("WINEPREFIX").expect("WINEPREFIX names the check's Wine prefix");
        let status = Command::new("cp").arg("-a").arg("--reflink=auto").arg(from).arg(dir).status().unwrap();
        assert!(status.success(), "cannot copy the Wine prefix to {}", dir.display());
        Prefix(dir.to_owned())
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let wineserver = std::env::var_os("WINESERVER").unwrap_or_else(|| "wineserver".into());
        let _ = Command::new(wineserver).arg("-k").env("WINEPREFIX", &self.0).status();
    }
}

/// Which build of the worker a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Os {
    Linux,
    Windows,
}

impl Os {
    /// `lanspread-worker`, ready for its arguments.
    fn worker(self) -> Command {
        self.worker_with(Command::new)
    }

    /// `lanspread-worker` as `start` starts a program (in a lab host, say).
    fn worker_with(self, start: impl FnOnce(OsString) -> Command) -> Command {
        match self {
            Os::Linux => start(WORKER.into()),
            Os::Windows => {
                let exe = std::env::var_os(WINDOWS_WORKER).unwrap_or_else(|| {
                    panic!("{WINDOWS_WORKER} names no Windows worker: run scripts/windows-check.sh")
                });
                let mut command = start(std::env::var_os("WINE").unwrap_or_else(|| "wine".into()));
                command.arg(exe);
                command
            }
        }
    }

    /// `path` as this build names it: Wine's drive Z: is the Linux root.
    fn path(self, path: &Path) -> OsString {
        match self {
            Os::Linux => path.as_os_str().to_owned(),
            Os::Windows => format!("Z:{}", path.to_str().expect("a UTF-8 path").replace('/', "\\")).into(),
        }
    }
}

/// A game of one large file, a zip with folders and a few small files.
fn game(games: &Path) -> PathBuf {
    let root = games.join(ID);
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("data/pack.bin"), noise(24_000_000, 1)).unwrap();
    let entries = [
        Entry::file("bin/openarena.exe", noise(300_000, 2)),
        Entry::file("baseoa/pak0.pk3", noise(2_000_000, 3)),
        Entry::file("baseoa/maps/dm1/Übersicht.txt", "Kartenübersicht\n"),
        Entry::file("readme.txt", "OpenArena\n"),
    ];
    archives::zip(&root.join("pak.zip"), &entries);
    for i in 0..12 {
        std::fs::write(root.join(format!("data/small{i}.cfg")), noise(1000 + i * 97, 10 + i as u64)).unwrap();
    }
    std::fs::write(root.join("version.ini"), "0.8.8\n").unwrap();
    root
}

/// `serve --json` on loopback.
fn serve(os: Os, name: &str, dir: &Path, args: &[&str]) -> Worker {
    let mut command = os.worker();
    command.args(["serve", "--json", "--no-mdns", "--listen", "127.0.0.1:0", "--name", name]).args(args);
    command.arg("--games").arg(os.path(&dir.join("games"))).arg("--state").arg(os.path(&dir.join("state")));
    Worker::spawn(name, command)
}

/// `fetch ID --json` from `peers`, serving what it verified on loopback.
fn fetch(os: Os, name: &str, games: &Path, state: &Path, peers: &[SocketAddr], args: &[&str]) -> Worker {
    let mut command = os.worker();
    command.args(["fetch", ID, "--json", "--no-mdns", "--wait", "10", "--listen", "127.0.0.1:0", "--name", name]);
    command.args(args).arg("--games").arg(os.path(games)).arg("--state").arg(os.path(state));
    for peer in peers {
        command.arg("--peer").arg(peer.to_string());
    }
    Worker::spawn(name, command)
}

/// `fetched` holds every file of `seed` byte for byte, and its `local/`
/// the unpacked zip and the other payload files.
fn assert_fetched_and_installed(seed: &Path, fetched: &Path) {
    for file in files(seed) {
        let same = std::fs::read(seed.join(&file)).unwrap() == std::fs::read(fetched.join(&file)).unwrap();
        assert!(same, "{} differs", file.display());
    }
    let local = fetched.join("local");
    let unpacked = ["bin/openarena.exe", "baseoa/pak0.pk3", "baseoa/maps/dm1/Übersicht.txt", "readme.txt"];
    for file in unpacked {
        assert!(local.join(file).is_file(), "{file} is not in local/: {:?}", files(&local));
    }
    assert_eq!(std::fs::read(local.join("data/pack.bin")).unwrap(), std::fs::read(seed.join("data/pack.bin")).unwrap());
    assert_eq!(std::fs::read(local.join("baseoa/pak0.pk3")).unwrap(), noise(2_000_000, 3));
}

/// A fetch that ended well: its `finished` and `installed` lines.
fn finished_and_installed(fetcher: &mut Worker) -> serde_json::Value {
    assert_eq!(fetcher.wait_exit(LIMIT), Some(0), "{}", fetcher.log());
    let installed = fetcher.events("installed");
    assert!(installed.first().is_some_and(|i| i["version"] == "0.8.8"), "{installed:?}");
    fetcher.events("finished").remove(0)
}

/// Seeder `from` and fetcher `to` move the game; the fetch installs it.
fn move_game(from: Os, to: Os, tmp: &Path, games: &Path) {
    let seed = game(&tmp.join("seed/games"));
    let seeder = serve(from, "seeder", &tmp.join("seed"), &[]);
    seeder.wait_scanned(LIMIT);
    let mut fetcher = fetch(to, "fetcher", games, &tmp.join("fetch-state"), &[seeder.listen_addr()], &[]);
    let finished = finished_and_installed(&mut fetcher);
    assert_eq!(finished["per_peer"][seeder.peer_id()], finished["bytes_total"], "{finished}");
    assert_fetched_and_installed(&seed, &games.join(ID));
}

#[test]
#[ignore = "needs the Windows build under Wine: scripts/windows-check.sh"]
fn a_windows_seeder_serves_a_linux_fetch_that_installs() {
    let tmp = tempfile::tempdir().unwrap();
    move_game(Os::Windows, Os::Linux, tmp.path(), &tmp.path().join("games"));
}

/// The Windows fetch writes whole chunks unbuffered (`FILE_FLAG_NO_BUFFERING`)
/// into a game directory under a user name with non-ASCII letters, at paths
/// past the 260 characters of `MAX_PATH`.
#[test]
#[ignore = "needs the Windows build under Wine: scripts/windows-check.sh"]
fn a_linux_seeder_serves_a_windows_fetch_into_a_long_non_ascii_path_that_installs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut games = tmp.path().join("users/Jürgen Øster-Łukasiewicz/Spiele für die LAN-Party");
    games.push("Bibliothek mit einem recht langen Namen/Ältere Spiele, die wir noch spielen");
    games.push("noch eine Ebene/und noch eine – damit der Pfad länger als MAX_PATH wird");
    let longest = Os::Windows.path(&games.join(ID).join("local/baseoa/maps/dm1/Übersicht.txt"));
    let characters = longest.to_str().unwrap().chars().count();
    assert!(characters > 260, "{characters} characters: {longest:?}");
    move_game(Os::Linux, Os::Windows, tmp.path(), &games);
}

/// A Linux seeder slow to upload, a Windows and a Linux downloader started
/// together: each gets chunks from the other while both still download.
#[test]
#[ignore = "needs the Windows build under Wine: scripts/windows-check.sh"]
fn a_windows_and_a_linux_downloader_serve_each_other_in_a_swarm() {
    let tmp = tempfile::tempdir().unwrap();
    let seed = game(&tmp.path().join("seed/games"));
    let seeder = serve(Os::Linux, "seeder", &tmp.path().join("seed"), &["--max-upload", "3MB"]);
    seeder.wait_scanned(LIMIT);
    let peers = [seeder.listen_addr()];
    let start = |os: Os, name: &str| {
        fetch(os, name, &tmp.path().join(name), &tmp.path().join(format!("{name}-state")), &peers, &["--no-install"])
    };
    let mut windows = start(Os::Windows, "windows");
    let mut linux = start(Os::Linux, "linux");
    let (windows_id, linux_id) = (windows.peer_id(), linux.peer_id());
    for (fetcher, other) in [(&mut windows, &linux_id), (&mut linux, &windows_id)] {
        assert_eq!(fetcher.wait_exit(LIMIT), Some(0), "{}", fetcher.log());
        let finished = fetcher.events("finished").remove(0);
        let from_other = finished["per_peer"][other].as_u64().unwrap_or(0);
        eprintln!("{}: {from_other} bytes from the other downloader: {finished}", fetcher.name);
        assert!(from_other > 0, "{} had nothing from the other downloader: {finished}", fetcher.name);
    }
    for name in ["windows", "linux"] {
        let fetched = tmp.path().join(name).join(ID);
        for file in files(&seed) {
            let same = std::fs::read(seed.join(&file)).unwrap() == std::fs::read(fetched.join(&file)).unwrap();
            assert!(same, "{name}: {} differs", file.display());
        }
    }
}

/// Two Windows workers and a Linux worker, each in a host of its own on a
/// bridge, find each other over mDNS with no `--peer`, and a Windows
/// worker lists every game of the network.
#[test]
#[ignore = "needs the Windows build under Wine: scripts/windows-check.sh"]
fn two_windows_workers_and_a_linux_one_find_each_other_over_mdns() {
    lab_possible().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::up(3);
    let hosts = [(Os::Windows, "openarena"), (Os::Windows, "xonotic"), (Os::Linux, "wesnoth")];
    let mut prefixes = Vec::new();
    let mut nodes = Vec::new();
    for (i, (os, game)) in hosts.into_iter().enumerate() {
        let (host, dir) = (i + 1, tmp.path().join(format!("h{}", i + 1)));
        make_game(&dir.join("games"), game, Some("1.0"), &[("payload.bin", 100_000)]);
        let mut command = os.worker_with(|program| lab.run_in(host, program));
        if os == Os::Windows {
            let prefix = Prefix::copy_to(&tmp.path().join(format!("prefix-h{host}")));
            command.env("WINEPREFIX", &prefix.0);
            prefixes.push(prefix);
        }
        command.args(["serve", "--json", "--name", &format!("host{host}")]);
        command.arg("--games").arg(os.path(&dir.join("games"))).arg("--state").arg(os.path(&dir.join("state")));
        nodes.push(Worker::spawn(&format!("h{host}"), command));
    }
    let ids: Vec<String> = nodes.iter().map(Worker::peer_id).collect();
    for (i, node) in nodes.iter().enumerate() {
        for (j, id) in ids.iter().enumerate() {
            if i != j {
                let joined = node.wait_event(LIMIT, "peer_joined", |v| v["id"] == id.as_str());
                eprintln!("host{} found host{} over mDNS: {joined}", i + 1, j + 1);
            }
        }
    }

    let mut list = Os::Windows.worker_with(|program| lab.run_in(1, program));
    list.env("WINEPREFIX", &prefixes[0].0);
    list.args(["list", "--json", "--wait", "8"]).arg("--state").arg(Os::Windows.path(&tmp.path().join("lister")));
    let output = list.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for game in ["xonotic", "wesnoth"] {
        assert!(stdout.contains(&format!("\"id\":\"{game}\"")), "{game} missing from {stdout}");
    }
    drop(nodes);
}

/// A Windows OS error reaches the user as words: the code's name and
/// meaning, never "FormatMessageW() returned error 317" (Wine has no text
/// for Winsock codes).
#[test]
#[ignore = "needs the Windows build under Wine: scripts/windows-check.sh"]
fn a_windows_error_reaches_the_user_as_words() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut command = Os::Windows.worker();
    command.args(["serve", "--no-mdns", "--listen", &addr]);
    command
        .arg("--games")
        .arg(Os::Windows.path(tmp.path()))
        .arg("--state")
        .arg(Os::Windows.path(&tmp.path().join("s")));
    let output = command.output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{said}");
    let line = said.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("no error line: {said}"));
    assert!(line.contains(&format!("cannot listen on {addr}")), "{line}");
    assert!(line.contains("WSAEADDRINUSE: the address is already in use"), "{line}");
    assert!(!line.contains("FormatMessageW"), "{line}");
}
