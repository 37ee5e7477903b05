//! Issue "game packs as people really make them": archives made at test
//! time by the tools people use (GNU tar with gzip, xz, bzip2, zstd and lz4;
//! Info-ZIP; 7-Zip), each installed by the real worker and compared byte
//! for byte with the tree it was made from; corrupt and unreadable packs
//! refused with nothing left behind; the free-space check counting what
//! each format unpacks to. `scripts/deps.sh` installs the tools.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::install::{GAME, assert_executable, assert_no_reserved, downloaded, refused_for_lack_of_room, run};
use crate::support::{assert_same_tree, json_lines, stderr};

/// The folder a pack is made from, named as a release would be.
const TOP_FOLDER: &str = "game-1.0";

/// Where the packing command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum From {
    /// Inside the game's folder: the pack's entries are the game's files.
    Inside,
    /// In its parent: every entry sits under [`TOP_FOLDER`].
    Parent,
}

/// One way people make a pack: a shell command with `{pack}` for the
/// archive's path, run from `from`.
#[derive(Debug, Clone, Copy)]
struct Pack {
    file: &'static str,
    command: &'static str,
    from: From,
}

const fn inside(file: &'static str, command: &'static str) -> Pack {
    Pack { file, command, from: From::Inside }
}

/// Every row of the table, and a pack with a top-level folder.
const PACKS: &[Pack] = &[
    inside("pack.tar.gz", "tar czf {pack} ."),
    inside("pack.tgz", "tar czf {pack} ."),
    inside("pack.tar.xz", "tar cJf {pack} ."),
    inside("pack.txz", "tar cJf {pack} ."),
    inside("pack.tar.bz2", "tar cjf {pack} ."),
    inside("pack.tbz2", "tar cjf {pack} ."),
    inside("pack.tbz", "tar cjf {pack} ."),
    inside("pack.tar.zst", "tar --zstd -cf {pack} ."),
    inside("pack.tar.lz4", "tar -I lz4 -cf {pack} ."),
    inside("pack.tar", "tar cf {pack} ."),
    Pack { file: "pack.tar.gz", command: "tar czf {pack} game-1.0", from: From::Parent },
    inside("pack.zip", "zip -qr {pack} ./"),
    inside("PACK.ZIP", "zip -qr {pack} ."),
    inside("pack.zip", "7z a -bd -tzip -mm=Deflate {pack} ."),
    inside("pack.zip", "7z a -bd -tzip -mm=Deflate64 {pack} ."),
    inside("pack.zip", "7z a -bd -tzip -mm=BZip2 {pack} ."),
    inside("pack.zip", "7z a -bd -tzip -mm=LZMA {pack} ."),
    inside("pack.zip", "7z a -bd -tzip -mm=PPMd {pack} ."),
    inside("pack.zip", "7z a -bd -tzip -mm=XZ {pack} ."),
    inside("pack.7z", "7z a -bd -t7z -mx9 {pack} ."),
    inside("pack.7z", "7z a -bd -t7z -m0=Deflate {pack} ."),
    inside("pack.7z", "7z a -bd -t7z -m0=BZip2 {pack} ."),
    inside("pack.7z", "7z a -bd -t7z -m0=PPMd {pack} ."),
];

impl Pack {
    /// A tarball compressed as a whole: it declares no unpacked size.
    fn compressed_tarball(&self) -> bool {
        let name = self.file.to_lowercase();
        (name.contains(".tar.") || name.starts_with("pack.t")) && !name.ends_with(".tar")
    }

    fn label(&self) -> String {
        let command = self.command.replace("{pack}", self.file);
        match self.from {
            From::Inside => command,
            From::Parent => format!("{command} (a top-level folder)"),
        }
    }

    /// Runs the packing command on `tree/game-1.0`; returns the pack.
    fn make(&self, tree: &Path, out_dir: &Path) -> PathBuf {
        let pack = out_dir.join(self.file);
        fs::create_dir_all(out_dir).unwrap();
        let cwd = match self.from {
            From::Inside => tree.join(TOP_FOLDER),
            From::Parent => tree.to_owned(),
        };
        let command = self.command.replace("{pack}", &pack.display().to_string());
        let tool = command.split_whitespace().next().unwrap();
        let output = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .current_dir(&cwd)
            .output()
            .unwrap_or_else(|e| panic!("sh -c {command}: {e}"));
        assert!(
            output.status.success(),
            "{}: {}{}\n(scripts/deps.sh installs {tool} and the compressors)",
            self.label(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        pack
    }

    /// What `local/` must hold: the game's folder itself, or the folder
    /// that holds it.
    fn expected<'t>(&self, tree: &'t Path, game: &'t Path) -> &'t Path {
        match self.from {
            From::Inside => game,
            From::Parent => tree,
        }
    }
}

/// A small game as people pack it: a real executable (so 7-Zip applies its
/// x86 filters), a library, a text file, an empty file and an empty folder.
/// `filler` bytes of zeros make it unpack to much more than it packs to.
fn game_tree(dir: &Path, filler: usize) -> (PathBuf, u64) {
    let game = dir.join(TOP_FOLDER);
    for folder in ["bin", "lib", "data/maps", "saves"] {
        fs::create_dir_all(game.join(folder)).unwrap();
    }
    fs::copy("/bin/true", game.join("bin/game")).unwrap();
    set_executable(&game.join("bin/game"));
    let words = ["render", "sound", "input", "net", "load", "save", "frame", "mesh"];
    let library: String =
        (0..12_000u32).map(|i| format!("{}_{}_{i}\n", words[i as usize % 8], words[(i as usize * 7) % 8])).collect();
    fs::write(game.join("lib/libgame.so"), library).unwrap();
    fs::write(game.join("readme.txt"), "A small game.\nRun bin/game.\n").unwrap();
    fs::write(game.join("data/maps/empty.cfg"), "").unwrap();
    fs::write(game.join("data/maps/filler.bin"), vec![0u8; filler]).unwrap();
    let bytes = tree_bytes(&game);
    (game, bytes)
}

fn tree_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| if e.file_type().unwrap().is_dir() { tree_bytes(&e.path()) } else { e.metadata().unwrap().len() })
        .sum()
}

#[cfg(unix)]
fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) {}

/// Writes past the test harness's output capture, so CI's log names every
/// pack that was installed.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A downloaded game whose payload is the pack `pack`, copied in.
fn downloaded_with(games: &Path, pack: &Path) -> PathBuf {
    downloaded(games, "1.0", |root| {
        fs::copy(pack, root.join(pack.file_name().unwrap())).unwrap();
    })
}

#[test]
fn packs_made_by_tar_zip_and_7z_install_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    let (game, bytes) = game_tree(&tree, 200_000);
    for (i, pack) in PACKS.iter().enumerate() {
        let made = pack.make(&tree, &tmp.path().join(format!("packs/{i}")));
        let games = tmp.path().join(format!("games/{i}"));
        let root = downloaded_with(&games, &made);
        let output = run(&games, &["install", GAME, "--json"], &[]);
        assert!(output.status.success(), "{}: {}", pack.label(), stderr(&output));

        let local = root.join("local");
        assert_same_tree(&local, pack.expected(&tree, &game));
        let installed = if pack.from == From::Parent { local.join(TOP_FOLDER) } else { local };
        assert_executable(&installed.join("bin/game"));
        assert!(installed.join("saves").is_dir(), "{}: the empty folder is made", pack.label());
        assert_no_reserved(&root);
        assert!(root.join(pack.file).is_file(), "{}: the pack stays (it is the download)", pack.label());

        // The report counts the unpacked bytes, not the pack's; so does the
        // progress, but for a compressed tarball, which declares nothing:
        // then the bytes read from it.
        let events = json_lines(&output);
        let done = events.iter().find(|e| e["event"] == "installed").expect("an installed event");
        assert_eq!(done["bytes"], bytes, "{}", pack.label());
        let shown = if pack.compressed_tarball() { fs::metadata(&made).unwrap().len() } else { bytes };
        assert!(events.iter().any(|e| e["bytes_total"] == shown), "{}: progress counts {shown} bytes", pack.label());
        report(&format!("installed byte-identical: {}", pack.label()));
    }
}

#[test]
fn corrupt_and_unreadable_packs_fail_naming_the_file_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    game_tree(&tree, 100_000);
    let xz = inside("pack.tar.xz", "tar cJf {pack} .").make(&tree, &tmp.path().join("xz"));
    let zip = inside("pack.zip", "zip -qr {pack} .").make(&tree, &tmp.path().join("zip"));
    let lzma = inside("pack.tar.lzma", "tar --lzma -cf {pack} .").make(&tree, &tmp.path().join("lzma"));

    let mut flipped = fs::read(&xz).unwrap();
    let middle = flipped.len() / 2;
    flipped[middle..middle + 16].iter_mut().for_each(|b| *b ^= 0x5a);
    let mut cut = fs::read(&xz).unwrap();
    cut.truncate(cut.len() * 3 / 5);
    let mut unknown_method = fs::read(&zip).unwrap();
    set_zip_methods(&mut unknown_method, 97);

    let cases: [(&str, Vec<u8>, &[&str]); 4] = [
        ("pack.tar.xz", flipped, &["pack.tar.xz", "xz-compressed tarball"]),
        ("pack.tar.xz", cut, &["pack.tar.xz", "xz-compressed tarball"]),
        ("pack.zip", unknown_method, &["pack.zip", "zip archive", "method 97"]),
        ("pack.tar.lzma", fs::read(&lzma).unwrap(), &["pack.tar.lzma", "compression is not one LanSpread unpacks"]),
    ];
    for (i, (name, bytes, expected)) in cases.into_iter().enumerate() {
        let games = tmp.path().join(format!("games/{i}"));
        let root = downloaded(&games, "1.0", |root| fs::write(root.join(name), bytes).unwrap());
        let output = run(&games, &["install", GAME], &[]);
        assert!(!output.status.success(), "{name} (case {i}) was installed");
        let err = stderr(&output);
        for part in expected {
            assert!(err.contains(part), "case {i}: {part:?} missing from: {err}");
        }
        assert!(!root.join("local").exists(), "case {i}: a local/ was made");
        assert_no_reserved(&root);
        report(&format!("refused: {name} (case {i}): {}", err.lines().last().unwrap_or_default()));
    }
}

/// Sets every entry's compression method, in the central directory and in
/// the local headers, as a tool using a method nobody reads would write it.
fn set_zip_methods(zip: &mut [u8], method: u16) {
    let u16_at = |b: &[u8], at: usize| usize::from(u16::from_le_bytes([b[at], b[at + 1]]));
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let end = zip.windows(4).rposition(|w| w == b"PK\x05\x06").expect("an end of central directory");
    let (entries, mut at) = (u16_at(zip, end + 10), u32_at(zip, end + 16));
    for _ in 0..entries {
        assert_eq!(&zip[at..at + 4], b"PK\x01\x02", "a central directory entry");
        zip[at + 10..at + 12].copy_from_slice(&method.to_le_bytes());
        let local = u32_at(zip, at + 42);
        zip[local + 8..local + 10].copy_from_slice(&method.to_le_bytes());
        at += 46 + u16_at(zip, at + 28) + u16_at(zip, at + 30) + u16_at(zip, at + 32);
    }
}

#[cfg(unix)]
#[test]
fn every_format_is_refused_when_its_unpacked_size_does_not_fit() {
    if !crate::support::is_root() {
        eprintln!("SKIPPED every_format_is_refused_when_its_unpacked_size_does_not_fit: needs root for a tmpfs");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    // 6 MB of zeros pack to a few kilobytes: the pack fits the 4 MB disk, the game does not.
    let (_, bytes) = game_tree(&tree, 6_000_000);
    let needed = format!("the install needs {}", lanspread_proto::units::format_size(bytes));
    // A plain tarball is as big as what it holds; every compressed pack is
    // tried. A compressed tarball declares nothing: it is stopped when it
    // has unpacked the room there is, and what it unpacked is removed.
    let compressed = |p: &&Pack| p.from == From::Inside && !p.file.ends_with(".tar");
    for (i, pack) in PACKS.iter().enumerate().filter(|(_, p)| compressed(p)) {
        let made = pack.make(&tree, &tmp.path().join(format!("packs/{i}")));
        let case = tmp.path().join(format!("case/{i}"));
        downloaded_with(&case.join("src"), &made);
        let needed = if pack.compressed_tarball() { "the game unpacks to more than" } else { &needed };
        refused_for_lack_of_room(&case, "4m", pack.file, needed);
        report(&format!("refused for lack of room: {}", pack.label()));
    }
}
