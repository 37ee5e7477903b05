//! Reading a game directory: which roots are games, which are downloaded or
//! installed, and which files make up each game's payload.
//!
//! A child of the game directory is a game root only if it is a real
//! directory (not a symlink) whose name is a catalogued id. `version.ini` at
//! the root marks the game downloaded; `local/` being a directory marks it
//! installed. The payload is every other regular file under the root except
//! `local/` and LanSpread's own dot-entries.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::catalog::Catalog;
use crate::platform::fs::annotate;

/// The downloaded sentinel at a game root.
pub const VERSION_FILE: &str = "version.ini";
/// The install directory at a game root.
pub const INSTALL_DIR: &str = "local";
/// Records which version `local/` was installed from (written by installs).
pub const INSTALLED_VERSION_FILE: &str = ".lanspread-installed";
/// Payload folders nested deeper than this are not followed.
const MAX_PAYLOAD_DEPTH: usize = 32;
/// `version.ini` larger than this is not a version file.
const MAX_VERSION_FILE: u64 = 64 * 1024;

/// One payload file, as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadFile {
    /// Path relative to the game root, `/`-separated.
    pub rel: String,
    pub abs: PathBuf,
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: u64,
}

/// One game root as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedGame {
    pub id: String,
    /// `Some` when `version.ini` is there (the game is downloaded).
    pub version: Option<String>,
    pub installed: bool,
    /// From [`INSTALLED_VERSION_FILE`], when installed by LanSpread.
    pub installed_version: Option<String>,
    /// Sorted by `rel`.
    pub files: Vec<PayloadFile>,
}

impl ScannedGame {
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Scans every catalogued root under `game_dir`, sorted by id.
pub fn scan_game_dir(game_dir: &Path, catalog: &Catalog) -> io::Result<Vec<ScannedGame>> {
    let mut games = Vec::new();
    for entry in fs::read_dir(game_dir).map_err(|e| annotate(game_dir, e))? {
        let entry = entry.map_err(|e| annotate(game_dir, e))?;
        let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !catalog.contains(&id) {
            continue;
        }
        if let Some(game) = scan_game_root(game_dir, &id)? {
            games.push(game);
        }
    }
    games.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(games)
}

/// Scans one root; `None` when it is not there or not a real directory.
pub fn scan_game_root(game_dir: &Path, id: &str) -> io::Result<Option<ScannedGame>> {
    let root = game_dir.join(id);
    match fs::symlink_metadata(&root) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(annotate(&root, e)),
    }
    let version = read_version(&root.join(VERSION_FILE));
    let installed = fs::symlink_metadata(root.join(INSTALL_DIR)).is_ok_and(|m| m.is_dir());
    let mut files = Vec::new();
    collect_payload(&root, "", 0, &mut files)?;
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    let installed_version = installed.then(|| read_version(&root.join(INSTALLED_VERSION_FILE))).flatten();
    Ok(Some(ScannedGame { id: id.to_owned(), version, installed, installed_version, files }))
}

fn collect_payload(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<PayloadFile>) -> io::Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| annotate(dir, e))? {
        let entry = entry.map_err(|e| annotate(dir, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            tracing::warn!(path = %entry.path().display(), "skipping a file whose name is not UTF-8");
            continue;
        };
        if depth == 0 && (name.starts_with('.') || name == INSTALL_DIR) {
            continue;
        }
        let path = entry.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| annotate(&path, e))?;
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        if meta.is_dir() {
            if depth < MAX_PAYLOAD_DEPTH {
                collect_payload(&path, &rel, depth + 1, out)?;
            }
        } else if meta.is_file() {
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            out.push(PayloadFile { rel, abs: path, size: meta.len(), mtime_ns });
        }
    }
    Ok(())
}

/// Reads a version from `version.ini`: a `version=` key if there is one,
/// else the first non-empty line. `None` if it is missing or not a file.
pub fn read_version(path: &Path) -> Option<String> {
    let meta = fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_VERSION_FILE {
        return None;
    }
    let text = fs::read_to_string(path).ok()?;
    let keyed = text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        key.trim().eq_ignore_ascii_case("version").then(|| value.trim().to_owned())
    });
    let version =
        keyed.or_else(|| text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('[')).map(str::to_owned));
    Some(version.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn only_catalogued_directories_are_games() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("openarena/version.ini"), "0.8.8\n");
        write(&root.join("openarena/pak0.zip"), "abc");
        write(&root.join("openarena/maps/dm1.bsp"), "defg");
        write(&root.join("openarena/.lanspread.json"), "{}");
        write(&root.join("openarena/local/game.exe"), "xx");
        write(&root.join("notagame/version.ini"), "1.0");
        write(&root.join("xonotic/data.pk3"), "partial");
        write(&root.join("wesnoth"), "a file, not a root");
        let games = scan_game_dir(root, &Catalog::bundled()).unwrap();
        let ids: Vec<_> = games.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["openarena", "xonotic"]);
        let oa = &games[0];
        assert_eq!(oa.version.as_deref(), Some("0.8.8"));
        assert!(oa.installed);
        let rels: Vec<_> = oa.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["maps/dm1.bsp", "pak0.zip", "version.ini"]);
        assert_eq!(oa.size(), 4 + 3 + 6);
        assert_eq!(games[1].version, None);
        assert!(!games[1].installed);
    }

    #[test]
    fn version_file_forms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("version.ini");
        write(&path, "[game]\nname=x\nversion = 1.2.3\n");
        assert_eq!(read_version(&path).as_deref(), Some("1.2.3"));
        write(&path, "\n  0.8.10  \nignored\n");
        assert_eq!(read_version(&path).as_deref(), Some("0.8.10"));
        write(&path, "");
        assert_eq!(read_version(&path).as_deref(), Some(""));
        assert_eq!(read_version(&dir.path().join("missing")), None);
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_roots_are_not_games() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        write(&elsewhere.join("version.ini"), "1");
        let games_dir = dir.path().join("games");
        fs::create_dir(&games_dir).unwrap();
        std::os::unix::fs::symlink(&elsewhere, games_dir.join("wesnoth")).unwrap();
        assert!(scan_game_dir(&games_dir, &Catalog::bundled()).unwrap().is_empty());
    }
}
