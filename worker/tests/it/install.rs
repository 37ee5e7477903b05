//! Issue "install transactions": the real `lanspread-worker` unpacking real
//! archives, refusing hostile ones, aborting at every named step (the
//! test-only crash switch) and recovering, and guarding removal.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use lanspread_worker::faults::CrashPoint;
use lanspread_worker::library::lock::RootLock;

use crate::archives::{self, Entry, TarKind};
use crate::support::{WORKER, assert_same_tree, json_lines, noise, run_logged, serve, stderr};

pub(crate) const GAME: &str = "openarena";
const RESERVED: [&str; 3] = [".local.installing", ".local.backup", ".lanspread.json"];

/// What a game pack unpacks to: folders, an empty file, an executable.
fn content(version: u8, big: usize) -> Vec<Entry> {
    vec![
        Entry::executable("bin/run.sh", format!("#!/bin/sh\necho version {version}\n")),
        Entry::file("data/big.bin", noise(big, u64::from(version))),
        Entry::file("data/empty.txt", ""),
        Entry::file(&format!("maps/a/b/only-in-{version}.bsp"), noise(10_000, 100 + u64::from(version))),
        Entry::file("readme.txt", format!("version {version}\n")),
    ]
}

/// The tree `entries` describe, written plainly (the expected `local/`).
pub(crate) fn expected_tree(dir: &Path, entries: &[Entry]) -> PathBuf {
    for entry in entries {
        if let Entry::File { name, data, .. } = entry {
            let path = dir.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, data).unwrap();
        }
    }
    dir.to_owned()
}

/// Runs a worker command against `games`, with extra environment.
pub(crate) fn run(games: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(WORKER);
    command.args(args).arg("--games").arg(games).envs(env.iter().copied());
    run_logged(command)
}

/// A downloaded (not installed) game whose payload `build` writes.
pub(crate) fn downloaded(games: &Path, version: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let root = games.join(GAME);
    fs::create_dir_all(&root).unwrap();
    build(&root);
    fs::write(root.join("version.ini"), format!("{version}\n")).unwrap();
    root
}

pub(crate) fn assert_no_reserved(root: &Path) {
    for name in RESERVED {
        assert!(fs::symlink_metadata(root.join(name)).is_err(), "{name} is left in {}", root.display());
    }
}

#[cfg(unix)]
pub(crate) fn assert_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).unwrap().permissions().mode();
    assert!(mode & 0o111 != 0, "{} is not executable ({mode:o})", path.display());
}

#[cfg(not(unix))]
pub(crate) fn assert_executable(_path: &Path) {}

#[test]
fn every_native_format_installs_byte_identical() {
    let entries = content(1, 1_500_000);
    let formats =
        ["pak.zip", "pak.7z", "pak.tar", "pak.tar.gz", "pak.tar.zst", "pak.tar.xz", "pak.tar.bz2", "pak.tar.lz4"];
    for name in formats {
        let tmp = tempfile::tempdir().unwrap();
        let games = tmp.path().join("games");
        let root = downloaded(&games, "1.0", |root| archives::by_name(&root.join(name), &entries));
        let output = run(&games, &["install", GAME], &[]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        assert!(String::from_utf8_lossy(&output.stdout).contains("installed openarena 1.0"));
        assert_same_tree(&root.join("local"), &expected_tree(&tmp.path().join("expected"), &entries));
        assert_executable(&root.join("local/bin/run.sh"));
        assert_no_reserved(&root);
        assert!(root.join(name).is_file(), "{name}: the archive stays (it is the download)");
    }
}

/// Issue "games as they are on disk": a compressed tarball is read once,
/// while it is unpacked (its stream's checksum included); measuring it
/// reads nothing. A plain one's headers are read to measure it.
#[test]
fn a_tarball_is_read_once() {
    let entries = content(1, 3_000_000);
    for name in ["pak.tar.zst", "pak.tar.gz", "pak.tar"] {
        let tmp = tempfile::tempdir().unwrap();
        let games = tmp.path().join("games");
        let root = downloaded(&games, "1.0", |root| archives::by_name(&root.join(name), &entries));
        let size = fs::metadata(root.join(name)).unwrap().len();
        let output = run(&games, &["install", GAME, "--json"], &[]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        let installed = json_lines(&output).into_iter().find(|l| l["event"] == "installed").unwrap();
        let read = installed["archive_bytes_read"].as_u64().unwrap();
        if name == "pak.tar" {
            // Its headers are read first (the data sought past), to measure it.
            assert!(read >= size && read < size + size / 10, "{name}: {read} bytes read from an archive of {size}");
        } else {
            assert_eq!(read, size, "{name}: {read} bytes read from an archive of {size}");
        }
        assert_same_tree(&root.join("local"), &expected_tree(&tmp.path().join("expected"), &entries));
    }
}

#[test]
fn split_volumes_and_loose_files_install_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    let first = content(1, 700_000);
    let second = vec![Entry::file("readme.txt", "patched by the second archive\n")];
    let root = downloaded(&games, "2.0", |root| {
        let whole = tmp.path().join("whole.7z");
        archives::sevenz(&whole, &first);
        let bytes = fs::read(&whole).unwrap();
        for (i, part) in bytes.chunks(bytes.len() / 3 + 1).enumerate() {
            fs::write(root.join(format!("base.7z.{:03}", i + 1)), part).unwrap();
        }
        archives::zip(&root.join("patch.zip"), &second);
        fs::create_dir_all(root.join("config")).unwrap();
        fs::write(root.join("config/settings.cfg"), "fullscreen=1\n").unwrap();
    });
    let output = run(&games, &["install", GAME, "--json"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let mut expected: Vec<Entry> =
        first.into_iter().filter(|e| !matches!(e, Entry::File { name, .. } if name == "readme.txt")).collect();
    expected.extend(second);
    expected.push(Entry::file("config/settings.cfg", "fullscreen=1\n"));
    assert_same_tree(&root.join("local"), &expected_tree(&tmp.path().join("expected"), &expected));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.lines().any(|l| l.contains("\"phase\":\"installing\"")), "progress lines: {stdout}");
    assert!(stdout.lines().any(|l| l.contains("\"event\":\"installed\"") && l.contains("\"items\":3")), "{stdout}");
}

fn rar_unpacker() -> Option<&'static str> {
    let path = std::env::var_os("PATH")?;
    ["unrar", "7z", "7zz", "bsdtar"]
        .into_iter()
        .find(|tool| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

#[test]
fn rar_installs_through_an_unpacker_or_names_one_to_install() {
    let files = vec![("data/big.bin", noise(300_000, 7)), ("readme.txt", b"rar\n".to_vec())];
    let entries: Vec<Entry> = files.iter().map(|(n, d)| Entry::file(n, d.clone())).collect();

    // Without any unpacker on PATH: a clear error naming what to install.
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    let root = downloaded(&games, "1.0", |root| archives::rar_stored(&root.join("pak.rar"), &files));
    let empty_path = tmp.path().join("no-tools");
    fs::create_dir_all(&empty_path).unwrap();
    let output = run(&games, &["install", GAME], &[("PATH", empty_path.to_str().unwrap())]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("pak.rar") && err.contains("unrar") && err.contains("bsdtar"), "{err}");
    assert!(!root.join("local").exists());
    assert_no_reserved(&root);

    let Some(tool) = rar_unpacker() else {
        eprintln!("SKIPPED the RAR unpack: no unrar, 7z, 7zz or bsdtar on PATH (scripts/deps.sh installs bsdtar)");
        return;
    };
    eprintln!("unpacking RAR with {tool}");
    let output = run(&games, &["install", GAME, "--json"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    // Progress and the free-space check count the unpacked bytes, not the archive's.
    let unpacked: usize = files.iter().map(|(_, d)| d.len()).sum();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(fs::metadata(root.join("pak.rar")).unwrap().len() > unpacked as u64);
    assert!(stdout.contains(&format!("\"bytes\":{unpacked},")), "{stdout}");
    assert!(stdout.contains(&format!("\"bytes_total\":{unpacked},")), "{stdout}");
    assert_same_tree(&root.join("local"), &expected_tree(&tmp.path().join("expected"), &entries));
    assert_no_reserved(&root);

    // A RAR entry that climbs out is refused from the listing, before unpacking.
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    let root = downloaded(&games, "1.0", |root| {
        archives::rar_stored(&root.join("evil.rar"), &[("../evil.txt", b"x".to_vec())]);
    });
    let output = run(&games, &["install", GAME], &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("refused entry"), "{}", stderr(&output));
    assert!(!games.join("evil.txt").exists() && !root.join("local").exists());
    assert_no_reserved(&root);
}

#[test]
fn hostile_archives_are_refused_with_nothing_written_outside() {
    let good = Entry::file("good.txt", "fine\n");
    let cases: Vec<(&str, Vec<Entry>)> = vec![
        ("slip.zip", vec![good.clone(), Entry::file("../evil.txt", "x")]),
        ("deep-slip.zip", vec![Entry::file("maps/../../../evil.txt", "x")]),
        ("absolute.zip", vec![Entry::file("/tmp/lanspread-evil.txt", "x")]),
        ("drive.zip", vec![Entry::file("C:/evil.txt", "x")]),
        ("link-out.zip", vec![good.clone(), Entry::link("escape", "../../.."), Entry::file("escape/evil.txt", "x")]),
        ("slip.tar.gz", vec![good.clone(), Entry::file("../evil.txt", "x")]),
        ("absolute.tar.gz", vec![Entry::file("/tmp/lanspread-evil.txt", "x")]),
        ("link-out.tar.zst", vec![Entry::link("escape", "/tmp"), Entry::file("escape/lanspread-evil.txt", "x")]),
        ("slip.7z", vec![good.clone(), Entry::file("../evil.txt", "x")]),
        ("link-out.7z", vec![Entry::link("escape", "../../outside")]),
        ("slip.tar.xz", vec![good.clone(), Entry::file("../evil.txt", "x")]),
        ("absolute.tar.bz2", vec![Entry::file("/tmp/lanspread-evil.txt", "x")]),
        ("link-out.tar.lz4", vec![Entry::link("escape", "/tmp"), Entry::file("escape/lanspread-evil.txt", "x")]),
        // `./` is the archive's root only as a folder; as a link it is refused.
        ("dot-link.tar", vec![good.clone(), Entry::link(".", "/tmp")]),
        ("dot-slash-file.tar.gz", vec![Entry::file("./", "x")]),
    ];
    for (name, entries) in cases {
        let err = refused_install(name, &entries);
        assert!(err.contains(name) && err.contains("refused"), "{name}: {err}");
        assert!(!Path::new("/tmp/lanspread-evil.txt").exists());
    }
}

#[test]
fn an_xz_pack_that_asks_for_gigabytes_of_memory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let xz = tmp.path().join("pak.tar.xz");
    archives::tar(&xz, &[Entry::file("readme.txt", "x")], TarKind::Xz);
    // The first block's LZMA2 filter (id 0x21, one property byte) gets the
    // largest dictionary there is, 4 GiB, and its header a matching CRC32.
    let mut bytes = fs::read(&xz).unwrap();
    let header = 12..12 + (usize::from(bytes[12]) + 1) * 4;
    let at = bytes[header.clone()].windows(2).position(|w| w == [0x21, 0x01]).expect("an LZMA2 filter") + 12;
    bytes[at + 2] = 40;
    let crc = crc32fast::hash(&bytes[header.start..header.end - 4]);
    bytes[header.end - 4..header.end].copy_from_slice(&crc.to_le_bytes());
    let games = tmp.path().join("games");
    let root = downloaded(&games, "1.0", |root| fs::write(root.join("pak.tar.xz"), &bytes).unwrap());
    let output = run(&games, &["install", GAME], &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("pak.tar.xz") && err.contains("xz-compressed tarball") && err.contains("memory"), "{err}");
    assert!(!root.join("local").exists());
    assert_no_reserved(&root);
}

/// Installs a game whose payload is the archive `name` of `entries`, which
/// must be refused with nothing installed and nothing changed anywhere in
/// its temporary directory; returns the error output.
fn refused_install(name: &str, entries: &[Entry]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    let root = downloaded(&games, "1.0", |root| archives::by_name(&root.join(name), entries));
    let before = listing(tmp.path());
    let output = run(&games, &["install", GAME], &[]);
    assert_eq!(output.status.code(), Some(1), "{name} must be refused");
    assert!(!root.join("local").exists(), "{name}: nothing is installed");
    assert_no_reserved(&root);
    assert_eq!(listing(tmp.path()), before, "{name}: nothing changed");
    stderr(&output)
}

/// Every path under `dir` except the lock directory.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == ".lanspread-locks") {
                continue;
            }
            if fs::symlink_metadata(&path).unwrap().is_dir() {
                stack.push(path.clone());
            }
            out.push(path.strip_prefix(dir).unwrap().to_owned());
        }
    }
    out.sort();
    out
}

/// Which install a `local/` holds: `None` when absent; panics on a mix.
fn installed_version(root: &Path, trees: &[(u8, &Path)]) -> Option<u8> {
    let local = root.join("local");
    if !local.exists() {
        return None;
    }
    let same = |tree: &Path| {
        listing(&local) == listing(tree) && std::panic::catch_unwind(|| assert_same_tree(&local, tree)).is_ok()
    };
    let found = trees.iter().find(|(_, tree)| same(tree)).map(|(v, _)| *v);
    Some(found.unwrap_or_else(|| panic!("local/ is a mix of versions: {:?}", listing(&local))))
}

/// The installed-version record matches what `local/` holds.
fn assert_record(root: &Path, state: Option<Option<u8>>) {
    let record = fs::read_to_string(root.join(".lanspread-installed")).ok();
    let want = state.flatten().map(|v| format!("{v}\n"));
    assert_eq!(record, want, "the installed-version record of {}", root.display());
}

#[test]
fn a_crash_at_every_step_recovers_to_the_old_or_the_new_state() {
    for point in CrashPoint::ALL.map(CrashPoint::name) {
        eprintln!("=== crash at {point}");
        let tmp = tempfile::tempdir().unwrap();
        let games = tmp.path().join("games");
        let (old, new) = (content(1, 200_000), content(2, 300_000));
        let old_tree = expected_tree(&tmp.path().join("v1"), &old);
        let new_tree = expected_tree(&tmp.path().join("v2"), &new);
        let trees = [(1, old_tree.as_path()), (2, new_tree.as_path())];
        let root = downloaded(&games, "1", |root| archives::zip(&root.join("pak.zip"), &old));
        let op = point.split_once(':').unwrap().0;
        if matches!(op, "update" | "uninstall") {
            assert!(run(&games, &["install", GAME], &[]).status.success());
        }
        if op == "update" {
            fs::remove_file(root.join("pak.zip")).unwrap();
            archives::zip(&root.join("pak.zip"), &new);
            fs::write(root.join("version.ini"), "2\n").unwrap();
        }
        let command = if op == "update" { "install" } else { op };

        let crashed = run(&games, &[command, GAME, "--test-crash-at", point], &[]);
        assert!(!crashed.status.success(), "{point}: the switch must abort the process");
        assert!(stderr(&crashed).contains(&format!("test hook: aborting at {point}")), "{point}: {}", stderr(&crashed));
        // Even before recovery, local/ is one whole version (the swap is one rename).
        if root.exists() {
            installed_version(&root, &trees);
        }

        let recovered = run(&games, &["recover"], &[]);
        assert!(recovered.status.success(), "{point}: {}", stderr(&recovered));
        let state = root.exists().then(|| installed_version(&root, &trees));
        if root.exists() {
            assert_no_reserved(&root);
        }
        assert_record(&root, state);
        let allowed: &[Option<Option<u8>>] = match op {
            "install" => &[Some(None), Some(Some(1))],
            "update" => &[Some(Some(1)), Some(Some(2))],
            "uninstall" => &[Some(Some(1)), Some(None)],
            _ => &[Some(None), None],
        };
        assert!(allowed.contains(&state), "{point}: recovered to {state:?}, allowed {allowed:?}");
        if op == "remove" && root.exists() {
            assert!(root.join("version.ini").is_file() && root.join("pak.zip").is_file(), "{point}: intact");
        }
        if matches!(op, "uninstall") {
            assert!(root.join("pak.zip").is_file(), "{point}: uninstall keeps the download");
        }

        // A retry completes the operation.
        if root.exists() {
            let retry = run(&games, &[command, GAME], &[]);
            assert!(retry.status.success(), "{point}: retry: {}", stderr(&retry));
        }
        let end = root.exists().then(|| installed_version(&root, &trees));
        let want = match op {
            "install" => Some(Some(1)),
            "update" => Some(Some(2)),
            "uninstall" => Some(None),
            _ => None,
        };
        assert_eq!(end, want, "{point}: after the retry");
        assert_record(&root, end);
        if root.exists() {
            assert_no_reserved(&root);
        }
    }
}

#[test]
fn remove_refuses_what_it_must_not_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    let root = downloaded(&games, "1.0", |root| archives::zip(&root.join("pak.zip"), &content(1, 1000)));
    let refused = |args: &[&str], why: &str| {
        let before = listing(tmp.path());
        let output = run(&games, args, &[]);
        assert_eq!(output.status.code(), Some(1), "{args:?} must be refused");
        assert!(stderr(&output).contains(why), "{args:?}: want {why:?} in {}", stderr(&output));
        assert_eq!(listing(tmp.path()), before, "{args:?}: nothing deleted");
    };

    assert!(run(&games, &["install", GAME], &[]).status.success());
    refused(&["remove", GAME], "is installed: uninstall it first");
    assert!(run(&games, &["uninstall", GAME], &[]).status.success());
    assert!(root.join("pak.zip").is_file() && !root.join("local").exists());

    let held =
        RootLock::try_acquire(&games, GAME, &lanspread_worker::catalog::Catalog::bundled()).unwrap().expect("free");
    refused(&["remove", GAME], "is busy");
    drop(held);

    fs::rename(root.join("version.ini"), root.join("version.bak")).unwrap();
    refused(&["remove", GAME], "no regular version.ini");
    fs::create_dir(root.join("version.ini")).unwrap();
    refused(&["remove", GAME], "no regular version.ini");
    fs::remove_dir(root.join("version.ini")).unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("version.bak", root.join("version.ini")).unwrap();
        refused(&["remove", GAME], "no regular version.ini");
        fs::remove_file(root.join("version.ini")).unwrap();
    }
    fs::rename(root.join("version.bak"), root.join("version.ini")).unwrap();

    refused(&["remove", "../games/openarena"], "not a valid game id");
    refused(&["remove", "maps/openarena"], "not a valid game id");
    fs::create_dir_all(games.join("notagame")).unwrap();
    fs::write(games.join("notagame/version.ini"), "1\n").unwrap();
    refused(&["remove", "notagame"], "not a catalogued game");

    #[cfg(unix)]
    {
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir_all(&elsewhere).unwrap();
        fs::write(elsewhere.join("version.ini"), "1\n").unwrap();
        std::os::unix::fs::symlink(&elsewhere, games.join("xonotic")).unwrap();
        refused(&["remove", "xonotic"], "symbolic link");
        assert!(elsewhere.join("version.ini").is_file());
    }

    let output = run(&games, &["remove", GAME], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!root.exists(), "the root is gone");
}

#[test]
fn the_worker_recovers_interrupted_roots_when_it_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    let (old, new) = (content(1, 50_000), content(2, 60_000));
    let root = downloaded(&games, "1", |root| archives::zip(&root.join("pak.zip"), &old));
    assert!(run(&games, &["install", GAME], &[]).status.success());
    archives::zip(&root.join("pak.zip"), &new);
    fs::write(root.join("version.ini"), "2\n").unwrap();
    let crashed = run(&games, &["install", GAME, "--test-crash-at", "update:backed-up"], &[]);
    assert!(!crashed.status.success());
    assert!(!root.join("local").exists() && root.join(".local.backup").is_dir(), "mid-swap on disk");

    let node = serve("seed", &games, &tmp.path().join("state"), &[]);
    // Recovery runs at the start of the first scan.
    node.wait_scanned(Duration::from_secs(30));
    let old_tree = expected_tree(&tmp.path().join("v1"), &old);
    assert_eq!(installed_version(&root, &[(1, &old_tree)]), Some(1), "the old install is back");
    assert_no_reserved(&root);
}

#[test]
fn fetch_installs_unless_told_not_to() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = content(3, 400_000);
    let seed_games = tmp.path().join("seed");
    downloaded(&seed_games, "3.0", |root| archives::zip(&root.join("pak.zip"), &entries));
    let seeder = serve("seed", &seed_games, &tmp.path().join("seed-state"), &[]);
    seeder.wait_scanned(Duration::from_secs(30));
    let peer = seeder.listen_addr().to_string();
    let games = tmp.path().join("games");
    let state = tmp.path().join("state");
    let fetch = |extra: &[&str]| {
        let mut args = vec!["fetch", GAME, "--json", "--no-mdns", "--peer", &peer, "--state", state.to_str().unwrap()];
        args.extend_from_slice(extra);
        let output = run(&games, &args, &[]);
        assert!(output.status.success(), "{}", stderr(&output));
        String::from_utf8(output.stdout).unwrap()
    };
    let out = fetch(&["--no-install"]);
    assert!(out.contains("\"event\":\"finished\"") && !out.contains("\"event\":\"installed\""), "{out}");
    assert!(games.join(GAME).join("version.ini").is_file() && !games.join(GAME).join("local").exists());

    let out = fetch(&[]);
    assert!(out.contains("\"event\":\"up_to_date\"") && out.contains("\"event\":\"installed\""), "{out}");
    assert_same_tree(&games.join(GAME).join("local"), &expected_tree(&tmp.path().join("expected"), &entries));

    // A reinstall killed mid-swap: the next fetch recovers the root before it looks at it.
    let crashed = run(&games, &["install", GAME, "--test-crash-at", "update:swapped"], &[]);
    assert!(!crashed.status.success());
    assert!(games.join(GAME).join(".lanspread.json").exists());
    let out = fetch(&[]);
    assert!(out.contains("\"event\":\"up_to_date\""), "{out}");
    assert_no_reserved(&games.join(GAME));
    assert_same_tree(&games.join(GAME).join("local"), &expected_tree(&tmp.path().join("expected2"), &entries));
}

#[cfg(unix)]
#[test]
fn an_install_without_room_is_refused_before_unpacking() {
    if !crate::support::is_root() {
        eprintln!("SKIPPED an_install_without_room_is_refused_before_unpacking: needs root to mount a small tmpfs");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // 3 MB of noise in a zip: stored nearly as big, so the 5 MB disk holds the
    // download but not the download plus its unpacked copy.
    downloaded(&tmp.path().join("src"), "1.0", |root| {
        archives::zip(&root.join("pak.zip"), &[Entry::file("data/big.bin", noise(3_000_000, 9))]);
    });
    refused_for_lack_of_room(tmp.path(), "5m", "pak.zip", "the install needs 3.0 MB");
}

/// Unix only: Windows installs skip links (making them needs a privilege).
#[cfg(unix)]
#[test]
fn link_chains_that_lead_outside_are_refused_whichever_order_they_come_in() {
    // Each link alone stays inside (`d/l1` is the top of the install, `z`
    // is `d`), but followed on disk `z` goes through `d/l1` to the game
    // root.
    let inner = Entry::file("d/keep.txt", "x");
    let cases: Vec<(&str, Vec<Entry>)> = vec![
        ("chain.tar", vec![inner.clone(), Entry::link("d/l1", ".."), Entry::link("z", "d/l1/..")]),
        ("chain-reversed.tar", vec![inner.clone(), Entry::link("z", "d/l1/.."), Entry::link("d/l1", "..")]),
        ("chain.zip", vec![inner.clone(), Entry::link("d/l1", ".."), Entry::link("z", "d/l1/..")]),
        ("chain.7z", vec![inner, Entry::link("z", "d/l1/.."), Entry::link("d/l1", "..")]),
    ];
    for (name, entries) in cases {
        let err = refused_install(name, &entries);
        assert!(err.contains("refused") && err.contains("passes through another link"), "{name}: {err}");
    }
}

#[test]
fn hard_links_count_as_the_copies_they_unpack_to() {
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    let data = noise(100_000, 4);
    let mut entries = vec![Entry::file("data/a.bin", data.clone())];
    entries.extend((0..20).map(|i| Entry::hard_link(&format!("data/copy{i}.bin"), "data/a.bin")));
    let root = downloaded(&games, "1.0", |root| archives::tar(&root.join("pak.tar"), &entries, TarKind::Plain));
    let output = run(&games, &["install", GAME, "--json"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let events = json_lines(&output);
    let installed = events.iter().find(|v| v["event"] == "installed").unwrap();
    assert_eq!(installed["bytes"], 21 * 100_000, "{events:?}");
    let totals: Vec<u64> = events.iter().filter_map(|v| v["bytes_total"].as_u64()).collect();
    assert!(totals.contains(&(21 * 100_000)), "progress counts the copies: {totals:?}");
    assert_eq!(fs::read(root.join("local/data/copy19.bin")).unwrap(), data);
}

#[cfg(unix)]
#[test]
fn a_hard_link_bomb_is_refused_by_the_free_space_check_before_unpacking() {
    if !crate::support::is_root() {
        eprintln!(
            "SKIPPED a_hard_link_bomb_is_refused_by_the_free_space_check_before_unpacking: needs root for a tmpfs"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // 1 MB of noise and 200 hard links to it: a 1 MB tar that unpacks to 201 MB.
    let mut entries = vec![Entry::file("data/a.bin", noise(1_000_000, 5))];
    entries.extend((0..200).map(|i| Entry::hard_link(&format!("data/copy{i}.bin"), "data/a.bin")));
    downloaded(&tmp.path().join("src"), "1.0", |root| archives::tar(&root.join("pak.tar"), &entries, TarKind::Plain));
    refused_for_lack_of_room(tmp.path(), "16m", "pak.tar", "the install needs 201.0 MB");
}

/// Installs the downloaded game under `tmp/src`, whose payload is `pack`,
/// on a tmpfs of `size` and asserts it is refused for lack of room with
/// `needed` in the message, and nothing unpacked left in the root.
#[cfg(unix)]
pub(crate) fn refused_for_lack_of_room(tmp: &Path, size: &str, pack: &str, needed: &str) {
    let (stdout, stderr) = install_on_small_disk(tmp, size);
    assert!(stdout.contains("exit=1"), "{pack}: {stdout}\n{stderr}");
    assert!(stdout.contains(&format!("left={pack} version.ini \n")), "{pack}: nothing unpacked is left: {stdout}");
    assert!(stderr.contains("not enough free space") && stderr.contains(needed), "{pack}: {stderr}");
}

/// Installs the downloaded game under `tmp/src` on a tmpfs of `size` (a
/// private mount namespace, so it exists only for this command); returns
/// stdout, with the exit code and what was left in the root, and stderr.
#[cfg(unix)]
fn install_on_small_disk(tmp: &Path, size: &str) -> (String, String) {
    let games = tmp.join("games");
    fs::create_dir_all(&games).unwrap();
    let script = format!(
        "mount -t tmpfs -o size={size} lanspread-test {games} && cp -r {src} {games}/ && {WORKER} install {GAME} --games {games}; \
         echo \"exit=$?\"; echo \"left=$(ls -A {games}/{GAME} | tr '\\n' ' ')\"",
        games = games.display(),
        src = tmp.join("src").join(GAME).display(),
    );
    let output = Command::new("unshare").args(["-m", "sh", "-c", &script]).output().unwrap();
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Before an install starts, the worker says what it takes: the bytes the
/// payload unpacks to and the space free, measured like the install does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_tells_what_an_install_takes_before_it_starts() {
    use lanspread_proto::ipc::{IpcCommand, IpcEvent};
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    crate::support::make_game(&games, "openarena", Some("0.8.8"), &[("data.pak", 5000), ("maps/a.bsp", 3000)]);
    let ui = crate::liars::FakeUi::start(tmp.path(), &games, &[]).await;
    ui.send(IpcCommand::EstimateInstall { id: "openarena".into() });
    let event =
        ui.wait_for(Duration::from_secs(20), "the estimate", |e| matches!(e, IpcEvent::InstallEstimate { .. })).await;
    let IpcEvent::InstallEstimate { id, version, bytes, available } = event else { unreachable!() };
    assert_eq!((id.as_str(), version.as_str(), bytes), ("openarena", "0.8.8", 8000));
    assert!(available > 0);
    assert!(!games.join("openarena/local").exists(), "nothing is written");
}

/// A running game holds its files open without `FILE_SHARE_DELETE` (the
/// default share mode of most Windows programs): neither an update nor an
/// uninstall may then take `local/` apart. Both are refused with the file
/// named, the install stays whole, and both work once the file is closed.
#[cfg(windows)]
#[test]
fn an_install_whose_files_a_running_game_holds_is_neither_updated_nor_uninstalled_until_they_are_closed() {
    use std::os::windows::fs::OpenOptionsExt;
    /// `FILE_SHARE_READ` (winnt.h): others may read, not delete or rename.
    const SHARE_READ: u32 = 1;
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    let (old, new) = (content(1, 200_000), content(2, 300_000));
    let old_tree = expected_tree(&tmp.path().join("v1"), &old);
    let root = downloaded(&games, "1", |root| archives::zip(&root.join("pak.zip"), &old));
    assert!(run(&games, &["install", GAME], &[]).status.success());
    fs::remove_file(root.join("pak.zip")).unwrap();
    archives::zip(&root.join("pak.zip"), &new);
    fs::write(root.join("version.ini"), "2\n").unwrap();

    let held = fs::OpenOptions::new().read(true).share_mode(SHARE_READ).open(root.join("local/data/big.bin")).unwrap();
    for command in ["install", "uninstall"] {
        let refused = run(&games, &[command, GAME], &[]);
        assert!(!refused.status.success(), "{command} went ahead while a file was held");
        let why = stderr(&refused);
        assert!(why.contains("big.bin") && why.contains("in use by another program"), "{command}: {why}");
        assert_same_tree(&root.join("local"), &old_tree);
        assert_no_reserved(&root);
    }
    drop(held);

    assert!(run(&games, &["install", GAME], &[]).status.success(), "the update once the file is closed");
    assert_same_tree(&root.join("local"), &expected_tree(&tmp.path().join("v2"), &new));
    assert!(run(&games, &["uninstall", GAME], &[]).status.success(), "the uninstall once the file is closed");
    assert!(!root.join("local").exists());
}
