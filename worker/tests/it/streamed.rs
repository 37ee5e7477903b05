//! Issue "games as they are on disk": a download that installs by itself
//! unpacks its archives as their bytes are verified, into the staging
//! folder of the usual install transaction, and swaps it in once the
//! download is committed.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::archives::{self, Entry};
use crate::download::GAME;
#[cfg(unix)]
use crate::download::{DELAY, Lab, wait_for_fraction};
use crate::install::{assert_no_reserved, expected_tree};
use crate::support::{WORKER, Worker, assert_same_tree, noise, serve_with};

const MIB: usize = 1024 * 1024;
#[cfg(unix)]
const STAGING: &str = ".local.installing";

/// A pack of `files` incompressible files of a MiB each, with a few small.
fn pack(files: usize, version: u8) -> Vec<Entry> {
    let mut entries = vec![Entry::file("readme.txt", format!("version {version}\n"))];
    for i in 0..files {
        entries.push(Entry::file(&format!("data/part{i:02}.bin"), noise(MIB, u64::from(version) * 100 + i as u64)));
    }
    entries.push(Entry::executable("bin/run.sh", format!("#!/bin/sh\necho {version}\n")));
    entries
}

/// A fetch that installs (the default), into `games`.
fn fetch_installing(name: &str, games: &Path, state: &Path, peers: &[SocketAddr]) -> Worker {
    let mut command = Command::new(WORKER);
    command.args(["fetch", GAME, "--json", "--no-mdns"]).arg("--games").arg(games).arg("--state").arg(state);
    for peer in peers {
        command.arg("--peer").arg(peer.to_string());
    }
    Worker::spawn(name, command)
}

/// Waits until the staging folder holds an unpacked file of the pack.
#[cfg(unix)]
fn wait_for_unpacked(root: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let unpacked = || fs::read_dir(root.join(STAGING).join("data")).is_ok_and(|mut d| d.next().is_some());
    while !unpacked() {
        assert!(std::time::Instant::now() < deadline, "nothing was unpacked into {STAGING} while the download ran");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(unix)]
#[test]
fn a_streamed_install_killed_half_way_completes_on_the_rerun() {
    let entries = pack(40, 1);
    let build = |games: &Path| {
        let root = games.join(GAME);
        fs::create_dir_all(&root).unwrap();
        archives::zip_stored(&root.join("pack.zip"), &entries);
        fs::write(root.join("version.ini"), "1.0\n").unwrap();
    };
    let lab = Lab::with_game(build, &[&[DELAY, "600"], &[DELAY, "600"]]);
    let (out, state) = (lab.out(), lab.tmp.path().join("fetcher-state"));
    let root = out.join(GAME);
    let mut fetch = fetch_installing("fetch", &out, &state, &lab.addrs);
    wait_for_fraction(&fetch, 0.4);
    wait_for_unpacked(&root);
    fetch.signal("KILL");
    fetch.wait_exit(Duration::from_secs(10));
    assert!(!root.join("local").exists(), "a half-unpacked game is never local/");
    assert!(!root.join("version.ini").exists(), "the download was not over when it was killed");

    let mut again = fetch_installing("again", &out, &state, &lab.addrs);
    assert_eq!(again.wait_exit(Duration::from_secs(120)), Some(0), "{}", again.log());
    assert_same_tree(&root.join("local"), &expected_tree(&lab.tmp.path().join("expected"), &entries));
    assert_same_tree(&lab.source(), &{
        // The download itself, beside local/.
        let copy = lab.tmp.path().join("downloaded");
        fs::create_dir_all(&copy).unwrap();
        fs::copy(root.join("pack.zip"), copy.join("pack.zip")).unwrap();
        fs::copy(root.join("version.ini"), copy.join("version.ini")).unwrap();
        copy
    });
    assert_no_reserved(&root);
    let installed = crate::download::json_lines(&again, "installed");
    assert_eq!(installed.len(), 1, "{}", again.log());
}

/// Archives that are good for most of their length and then are not: a
/// link out, a corrupt block, an entry that climbs out, a size past what
/// the archive declared.
fn turning_bad(name: &str, good: &[Entry]) -> Box<dyn Fn(&Path)> {
    let name = name.to_owned();
    let mut entries = good.to_vec();
    match name.as_str() {
        "link-out.tar.gz" => {
            entries.extend([Entry::link("escape", "/tmp"), Entry::file("escape/lanspread-evil.txt", "x")]);
        }
        "slip.zip" => entries.push(Entry::file("../lanspread-evil.txt", "x")),
        _ => {}
    }
    Box::new(move |path: &Path| {
        archives::by_name(path, &entries);
        let mut bytes = fs::read(path).unwrap();
        let three_quarters = bytes.len() * 3 / 4;
        match name.as_str() {
            // A flipped byte past the middle: the deflate stream or its CRC fails.
            "corrupt.tar.gz" => bytes[three_quarters] ^= 0x5a,
            // The last large file says it unpacks to 1 KB: it writes past
            // what the archive declared.
            "lying.zip" => declare_size(&mut bytes, "data/part05.bin", 1000),
            _ => {}
        }
        fs::write(path, bytes).unwrap();
    })
}

/// Sets the unpacked size the central directory of `zip` gives `entry`.
fn declare_size(zip: &mut [u8], entry: &str, size: u32) {
    let u16_at = |b: &[u8], at: usize| usize::from(u16::from_le_bytes([b[at], b[at + 1]]));
    let end = zip.windows(4).rposition(|w| w == b"PK\x05\x06").expect("an end of central directory");
    let mut at = u32::from_le_bytes(zip[end + 16..end + 20].try_into().unwrap()) as usize;
    while zip[at..at + 4] == *b"PK\x01\x02" {
        let name_len = u16_at(zip, at + 28);
        if &zip[at + 46..at + 46 + name_len] == entry.as_bytes() {
            zip[at + 24..at + 28].copy_from_slice(&size.to_le_bytes());
            return;
        }
        at += 46 + name_len + u16_at(zip, at + 30) + u16_at(zip, at + 32);
    }
    panic!("no entry {entry} in the central directory");
}

#[test]
fn an_archive_that_turns_bad_half_way_fails_its_streamed_install_and_keeps_the_old_local() {
    let tmp = tempfile::tempdir().unwrap();
    let (seed, out, state) = (tmp.path().join("seed"), tmp.path().join("out"), tmp.path().join("fetcher-state"));
    let root = out.join(GAME);
    let v1 = pack(6, 1);
    let serve = |version: &str, name: &str, build: &dyn Fn(&Path)| {
        let game = seed.join(GAME);
        let _ = fs::remove_dir_all(&game);
        fs::create_dir_all(&game).unwrap();
        build(&game.join(name));
        fs::write(game.join("version.ini"), format!("{version}\n")).unwrap();
        let node = serve_with("seed", &seed, &tmp.path().join("seed-state"), &[], &[]);
        node.wait_scanned(Duration::from_secs(60));
        node
    };
    let node = serve("1", "pack.zip", &|path: &Path| archives::zip(path, &v1));
    let mut first = fetch_installing("first", &out, &state, &[node.listen_addr()]);
    assert_eq!(first.wait_exit(Duration::from_secs(120)), Some(0), "{}", first.log());
    let expected = expected_tree(&tmp.path().join("expected"), &v1);
    assert_same_tree(&root.join("local"), &expected);
    drop(node);

    let good = pack(6, 2);
    let cases = [
        ("link-out.tar.gz", "link"),
        ("corrupt.tar.gz", "corrupt"),
        ("slip.zip", "refused entry"),
        ("lying.zip", "declare"),
    ];
    for (i, (name, why)) in cases.into_iter().enumerate() {
        let node = serve(&format!("{}", i + 2), name, &*turning_bad(name, &good));
        let mut update = fetch_installing(name, &out, &state, &[node.listen_addr()]);
        let code = update.wait_exit(Duration::from_secs(120));
        assert_eq!(code, Some(1), "{name}: the install fails; {}", update.log());
        let failed = crate::download::json_lines(&update, "install_failed");
        assert_eq!(failed.len(), 1, "{name}: {}", update.log());
        let reason = failed[0]["reason"].as_str().unwrap();
        assert!(reason.contains(why), "{name}: {reason}");
        assert!(root.join("version.ini").is_file(), "{name}: the download itself is whole");
        assert_same_tree(&root.join("local"), &expected);
        assert_no_reserved(&root);
        assert!(!Path::new("/tmp/lanspread-evil.txt").exists() && !out.join("lanspread-evil.txt").exists());
        assert!(!root.join("lanspread-evil.txt").exists(), "{name}: nothing written outside staging");
    }
}
