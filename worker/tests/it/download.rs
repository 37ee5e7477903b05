//! Issue "verified multi-peer downloads": real seeders on loopback, a real
//! `fetch`, real files; the servers' test-only switches slow chunks down or
//! corrupt some so the tests can act in the middle of a transfer.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{WORKER, Worker, assert_same_tree, copy_tree, make_random_game, serve_with};

const MIB: usize = 1024 * 1024;
/// The chunk size of every file list a node builds.
pub(crate) const CHUNK: usize = 4 * MIB;
pub(crate) const GAME: &str = "openarena";
pub(crate) const DELAY: &str = "--test-chunk-delay-ms";

pub(crate) struct Lab {
    pub tmp: tempfile::TempDir,
    pub seeders: Vec<Worker>,
    pub addrs: Vec<SocketAddr>,
}

impl Lab {
    /// `seeders` nodes serving the same game, each with its own arguments.
    fn new(big: usize, small: usize, args: &[&[&str]]) -> Lab {
        Lab::with_game(|games| drop(make_random_game(games, GAME, "0.8.10", big, small)), args)
    }

    /// `seeders` nodes serving the game `make` puts in the game directory
    /// it is given, each with its own arguments.
    pub fn with_game(make: impl FnOnce(&Path), args: &[&[&str]]) -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let first = tmp.path().join("seed0");
        make(&first);
        let mut seeders = Vec::new();
        for (i, args) in args.iter().enumerate() {
            let games = tmp.path().join(format!("seed{i}"));
            if i > 0 {
                copy_tree(&first.join(GAME), &games.join(GAME));
            }
            let node = serve_with(&format!("seed{i}"), &games, &tmp.path().join(format!("state{i}")), &[], args);
            seeders.push(node);
        }
        for node in &seeders {
            node.wait_scanned(Duration::from_secs(60));
        }
        let addrs = seeders.iter().map(Worker::listen_addr).collect();
        Lab { tmp, seeders, addrs }
    }

    pub fn out(&self) -> std::path::PathBuf {
        self.tmp.path().join("out")
    }

    pub fn fetch(&self, name: &str) -> Worker {
        fetch_into(name, &self.out(), &self.tmp.path().join("fetcher-state"), &self.addrs)
    }

    pub fn source(&self) -> std::path::PathBuf {
        self.tmp.path().join("seed0").join(GAME)
    }
}

fn fetch_into(name: &str, games: &Path, state: &Path, peers: &[SocketAddr]) -> Worker {
    let mut command = Command::new(WORKER);
    command
        .args(["fetch", GAME, "--json", "--no-mdns", "--no-install"])
        .arg("--games")
        .arg(games)
        .arg("--state")
        .arg(state);
    for peer in peers {
        command.arg("--peer").arg(peer.to_string());
    }
    Worker::spawn(name, command)
}

pub(crate) fn json_lines(worker: &Worker, event: &str) -> Vec<serde_json::Value> {
    worker
        .out
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == event)
        .collect()
}

pub(crate) fn finished(worker: &Worker) -> serde_json::Value {
    json_lines(worker, "finished").pop().unwrap_or_else(|| panic!("no finished line; log:\n{}", worker.log()))
}

/// Waits until the fetch reports at least `fraction` of the bytes done.
pub(crate) fn wait_for_fraction(worker: &Worker, fraction: f64) {
    worker.wait_for_out(Duration::from_secs(60), &format!("{fraction} done"), |l| {
        serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| {
            v["event"] == "progress"
                && v["phase"] == "downloading"
                && v["bytes_done"].as_f64().unwrap_or(0.0) >= fraction * v["bytes_total"].as_f64().unwrap_or(1.0)
        })
    });
}

/// Kills a fetch of `lab` once `fraction` of its bytes are done, checks
/// that nothing looks downloaded, and fetches again to a byte-identical
/// end; returns what the killed fetch had verified, at least (its last
/// progress line), and the rerun's finished line.
#[cfg(unix)]
pub(crate) fn killed_and_fetched_again(lab: &Lab, fraction: f64) -> (u64, serde_json::Value) {
    let mut fetch = lab.fetch("fetch");
    wait_for_fraction(&fetch, fraction);
    fetch.signal("KILL");
    fetch.wait_exit(Duration::from_secs(10));
    assert_not_downloaded(&lab.out().join(GAME));
    let verified_before = json_lines(&fetch, "progress").iter().filter_map(|p| p["bytes_done"].as_u64()).max().unwrap();
    let mut again = lab.fetch("again");
    assert_eq!(again.wait_exit(Duration::from_secs(300)), Some(0), "{}", again.log());
    assert_same_tree(&lab.source(), &lab.out().join(GAME));
    (verified_before, finished(&again))
}

#[cfg(unix)]
pub(crate) fn assert_not_downloaded(root: &Path) {
    assert!(!root.join("version.ini").exists(), "version.ini must not exist before the commit");
    assert!(root.join(".lanspread-download").exists(), "the journal is kept for a resume");
}

#[test]
fn two_seeders_one_fetcher_byte_identical() {
    let lab = Lab::new(20 * MIB + 12_345, 120, &[&[], &[]]);
    let mut fetch = lab.fetch("fetch");
    assert_eq!(fetch.wait_exit(Duration::from_secs(120)), Some(0), "{}", fetch.log());
    assert_same_tree(&lab.source(), &lab.out().join(GAME));
    let done = finished(&fetch);
    let per_peer = done["per_peer"].as_object().unwrap();
    assert_eq!(per_peer.len(), 2);
    assert!(per_peer.values().all(|b| b.as_u64().unwrap() > 0), "both seeders contributed: {per_peer:?}");
    assert_eq!(done["bytes_fetched"], done["bytes_total"]);
    assert!(
        json_lines(&fetch, "progress").iter().any(|p| p["eta_secs"].is_u64() && p["bytes_per_sec"].as_u64() > Some(0))
    );
    // Fetching again finds the game already here and moves nothing.
    let mut again = lab.fetch("again");
    assert_eq!(again.wait_exit(Duration::from_secs(60)), Some(0), "{}", again.log());
    assert_eq!(json_lines(&again, "up_to_date").len(), 1);
}

#[test]
fn a_seeder_killed_mid_download_leaves_the_other_to_finish() {
    let lab = Lab::new(40 * MIB, 40, &[&[DELAY, "300"], &[DELAY, "300"]]);
    let mut lab = lab;
    let mut fetch = lab.fetch("fetch");
    wait_for_fraction(&fetch, 0.25);
    lab.seeders[1].kill();
    assert_eq!(fetch.wait_exit(Duration::from_secs(120)), Some(0), "{}", fetch.log());
    assert_same_tree(&lab.source(), &lab.out().join(GAME));
}

#[test]
fn corrupt_chunks_are_refetched_and_their_sender_demoted() {
    // Every chunk seed0 sends is wrong, so it is caught whichever chunks it is given.
    let lab = Lab::new(24 * MIB, 30, &[&["--test-corrupt-every", "1"], &[]]);
    let bad_id = lab.seeders[0].peer_id();
    let mut fetch = lab.fetch("fetch");
    assert_eq!(fetch.wait_exit(Duration::from_secs(120)), Some(0), "{}", fetch.log());
    assert_same_tree(&lab.source(), &lab.out().join(GAME));
    assert!(fetch.log().contains("failed verification"), "{}", fetch.log());
    let done = finished(&fetch);
    // Demoted to one request at a time and then dropped, or, near the end,
    // not asked again at all: either way nothing of its counts.
    assert_eq!(done["per_peer"][&bad_id].as_u64(), Some(0), "{done}");
    if let Some(why) = done["dropped"][&bad_id].as_str() {
        assert!(why.contains("failed verification"), "{why}");
    }
}

#[cfg(unix)]
#[test]
fn a_fetcher_killed_half_way_resumes_without_fetching_again() {
    let lab = Lab::new(48 * MIB, 0, &[&[DELAY, "300"], &[DELAY, "300"]]);
    let (verified_before, done) = killed_and_fetched_again(&lab, 0.5);
    let (total, reused, fetched) = (
        done["bytes_total"].as_u64().unwrap(),
        done["bytes_reused"].as_u64().unwrap(),
        done["bytes_fetched"].as_u64().unwrap(),
    );
    let missing = total - verified_before;
    let allowance = (CHUNK * lab.addrs.len()) as u64;
    eprintln!("rerun: {reused} of {total} bytes reused, {fetched} fetched; {missing} were missing at the kill");
    assert_eq!(reused + fetched, total);
    assert!(
        fetched <= missing + allowance,
        "the rerun fetched {fetched} bytes, more than the {missing} missing plus one chunk per peer"
    );
    assert!(!lab.out().join(GAME).join(".lanspread-download").exists(), "the journal goes with the commit");
}

#[cfg(unix)]
#[test]
fn cancel_exits_non_zero_and_a_second_fetch_completes() {
    let lab = Lab::new(32 * MIB, 10, &[&[DELAY, "500"]]);
    let mut fetch = lab.fetch("fetch");
    wait_for_fraction(&fetch, 0.3);
    fetch.signal("INT");
    assert_eq!(fetch.wait_exit(Duration::from_secs(20)), Some(130), "{}", fetch.log());
    assert_eq!(json_lines(&fetch, "cancelled").len(), 1);
    assert!(fetch.log().contains("cancelled"), "{}", fetch.log());
    assert_not_downloaded(&lab.out().join(GAME));
    // The library tells the UI how far it got, so it can offer Resume.
    let partial = lanspread_worker::download::partial_download(&lab.out().join(GAME)).expect("a stopped download");
    assert_eq!(partial.version, "0.8.10");
    assert!(partial.bytes_done > 0 && partial.bytes_done < partial.bytes_total, "{partial:?}");

    let mut again = lab.fetch("again");
    assert_eq!(again.wait_exit(Duration::from_secs(120)), Some(0), "{}", again.log());
    assert_same_tree(&lab.source(), &lab.out().join(GAME));
    assert!(finished(&again)["bytes_reused"].as_u64().unwrap() > 0);
}

/// `fetch --json | head -2`: once the reader is gone the command ends
/// quietly with success at its next line, as ripgrep does, instead of
/// panicking on the failed write.
#[test]
fn a_closed_pipe_ends_fetch_quietly() {
    use std::io::BufRead;
    let lab = Lab::new(16 * MIB, 0, &[&[DELAY, "200"]]);
    let mut command = Command::new(WORKER);
    command.args(["fetch", GAME, "--json", "--no-mdns", "--no-install", "--games"]).arg(lab.out());
    command.arg("--state").arg(lab.tmp.path().join("fetcher-state"));
    command.arg("--peer").arg(lab.addrs[0].to_string());
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..2 {
        lines.next().expect("a JSON line").unwrap();
    }
    drop(lines);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
}

/// A download that stopped before the end can be deleted like a finished
/// one: its files and journal go, nothing else.
#[cfg(unix)]
#[test]
fn a_stopped_download_can_be_deleted() {
    let lab = Lab::new(16 * MIB, 5, &[&[DELAY, "300"]]);
    let mut fetch = lab.fetch("fetch");
    wait_for_fraction(&fetch, 0.2);
    fetch.signal("INT");
    assert_eq!(fetch.wait_exit(Duration::from_secs(20)), Some(130), "{}", fetch.log());
    let root = lab.out().join(GAME);
    assert!(lanspread_worker::download::partial_download(&root).is_some());
    let mut remove = Command::new(WORKER);
    remove.args(["remove", GAME, "--games"]).arg(lab.out());
    let output = crate::support::run_logged(remove);
    assert!(output.status.success(), "{}", crate::support::stderr(&output));
    assert!(!root.exists(), "the partial download is gone");
    assert!(lab.out().is_dir(), "the game directory stays");
}

#[cfg(unix)]
#[test]
fn not_enough_space_is_refused_before_anything_is_written() {
    if !crate::support::is_root() {
        eprintln!("SKIPPED not_enough_space_is_refused_before_anything_is_written: needs root to mount a small tmpfs");
        return;
    }
    let lab = Lab::new(20 * MIB, 5, &[&[]]);
    let out = lab.out();
    std::fs::create_dir_all(&out).unwrap();
    // A private mount namespace: the 8 MB tmpfs exists only for this shell.
    let mut script = format!(
        "mount -t tmpfs -o size=8m lanspread-test {out} && {WORKER} fetch {GAME} --json --no-mdns --games {out} --state {state}",
        out = out.display(),
        state = lab.tmp.path().join("fetcher-state").display()
    );
    for addr in &lab.addrs {
        script.push_str(&format!(" --peer {addr}"));
    }
    // The root lock's directory is made first, by design; nothing else may be.
    script.push_str("; echo \"exit=$?\"; echo \"left=$(ls -A ");
    script.push_str(&format!("{} | grep -v '^.lanspread-locks$')\"", out.display()));
    let output = Command::new("unshare").args(["-m", "sh", "-c", &script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("exit=1"), "{stdout}\n{stderr}");
    assert!(stdout.contains("left=\n") || stdout.trim_end().ends_with("left="), "nothing written: {stdout}");
    let error = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(error.contains("not enough free space") && error.contains("needs 21.0 MB more"), "{error}");
}

#[test]
fn an_update_replaces_the_old_version_entirely() {
    let lab = Lab::new(6 * MIB, 20, &[&[], &[]]);
    let old = crate::support::make_game(
        &lab.out(),
        GAME,
        Some("0.8.8"),
        &[("data/pack.bin", 1000), ("old/removed.pk3", 500)],
    );
    std::fs::create_dir_all(old.join("local")).unwrap();
    std::fs::write(old.join("local/settings.cfg"), "kept").unwrap();
    let mut fetch = lab.fetch("update");
    assert_eq!(fetch.wait_exit(Duration::from_secs(120)), Some(0), "{}", fetch.log());
    assert_eq!(std::fs::read_to_string(old.join("version.ini")).unwrap(), "0.8.10\n");
    assert!(!old.join("old/removed.pk3").exists(), "a file of the old version is gone");
    assert!(!old.join(".version.ini.discarded").exists());
    assert_eq!(std::fs::read_to_string(old.join("local/settings.cfg")).unwrap(), "kept", "the install is not payload");
    std::fs::remove_dir_all(old.join("local")).unwrap();
    std::fs::remove_dir_all(old.join("old")).unwrap();
    assert_same_tree(&lab.source(), &old);
}

/// An update where one small file changed and one file moved fetches that
/// small file and the new `version.ini`, not the game.
#[test]
fn an_update_fetches_only_what_changed() {
    let lab = Lab::new(64 * MIB, 30, &[&[]]);
    let out = lab.out().join(GAME);
    copy_tree(&lab.source(), &out);
    // The seeder moves to 2.0: one 5 KB file changes, one file moves.
    let mut seeder = lab;
    seeder.seeders[0].kill();
    let source = seeder.source();
    std::fs::write(source.join("maps/set0/map0.bsp"), crate::support::noise(5000, 99)).unwrap();
    std::fs::create_dir_all(source.join("maps/moved")).unwrap();
    std::fs::rename(source.join("maps/set1/map1.bsp"), source.join("maps/moved/map1.bsp")).unwrap();
    std::fs::write(source.join("version.ini"), "2.0\n").unwrap();
    let node = serve_with("seed0 again", &seeder.tmp.path().join("seed0"), &seeder.tmp.path().join("state0"), &[], &[]);
    seeder.addrs = vec![node.listen_addr()];
    seeder.seeders[0] = node;

    let mut update = seeder.fetch("update");
    assert_eq!(update.wait_exit(Duration::from_secs(60)), Some(0), "{}", update.log());
    assert_same_tree(&source, &out);
    let done = finished(&update);
    let (total, reused, fetched) = (
        done["bytes_total"].as_u64().unwrap(),
        done["bytes_reused"].as_u64().unwrap(),
        done["bytes_fetched"].as_u64().unwrap(),
    );
    eprintln!("update: {reused} of {total} bytes kept, {fetched} fetched");
    assert_eq!(reused + fetched, total);
    assert!(fetched < CHUNK as u64, "fetched {fetched} bytes for a 5 KB change");
    assert_eq!(fetched, 5000 + 4, "the changed file and version.ini");
}
