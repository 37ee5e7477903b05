//! Free space on the disk that holds the game directory (status bar), and
//! the space one game takes (detail view).

use std::fs;
use std::path::Path;

/// Bytes this user may still write on `path`'s filesystem, as the worker
/// measures them before a download (the filesystem is asked for the path
/// itself: no list of disks to match, which Wine leaves empty). `None` when
/// the path is not there.
pub fn free_space(path: &Path) -> Option<u64> {
    // Windows answers for the drive of a path that is not there.
    fs::metadata(path).ok()?;
    fs4::available_space(path).ok()
}

/// Entries looked at in one game folder, at most: a folder with more is
/// counted up to there (the figure says "at least").
const MAX_ENTRIES: usize = 1_000_000;
/// Folder depth followed, at most.
const MAX_DEPTH: usize = 64;

/// The space a game takes: its download (the root, without `local/`) and
/// its install (`local/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiskUse {
    pub download: u64,
    pub install: u64,
    /// More entries than [`MAX_ENTRIES`]: the figures are lower bounds.
    pub partial: bool,
}

/// What `id`'s folder in `game_dir` takes on disk (links are not followed,
/// and the folder must be a real one directly inside the game directory).
pub fn disk_use(game_dir: &Path, id: &str) -> Result<DiskUse, crate::files::ViewFilesError> {
    let root = crate::files::resolve_game_root(game_dir, id)?;
    let mut usage = DiskUse::default();
    let mut budget = MAX_ENTRIES;
    let entries =
        fs::read_dir(&root).map_err(|source| crate::files::ViewFilesError::Io { path: root.clone(), source })?;
    for entry in entries.flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else { continue };
        let into = if entry.file_name() == "local" && meta.is_dir() { &mut usage.install } else { &mut usage.download };
        *into = into.saturating_add(size_of(&entry.path(), &meta, 0, &mut budget));
    }
    usage.partial = budget == 0;
    Ok(usage)
}

fn size_of(path: &Path, meta: &fs::Metadata, depth: usize, budget: &mut usize) -> u64 {
    if *budget == 0 {
        return 0;
    }
    *budget -= 1;
    if !meta.is_dir() {
        return crate::platform::allocated(meta);
    }
    if depth >= MAX_DEPTH {
        return 0;
    }
    let Ok(entries) = fs::read_dir(path) else { return 0 };
    let mut total = 0u64;
    for entry in entries.flatten() {
        if let Ok(meta) = entry.path().symlink_metadata() {
            total = total.saturating_add(size_of(&entry.path(), &meta, depth + 1, budget));
        }
    }
    total
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_temp_dir_has_a_disk_with_free_space() {
        let dir = tempfile::tempdir().unwrap();
        let free = super::free_space(dir.path()).expect("a disk holds the temp dir");
        assert!(free > 0);
        assert_eq!(super::free_space(std::path::Path::new("/nonexistent/x")), None);
    }

    #[test]
    fn a_games_download_and_install_are_counted_apart() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("openarena");
        std::fs::create_dir_all(root.join("local/baseoa")).unwrap();
        std::fs::write(root.join("pak.zip"), vec![1; 300_000]).unwrap();
        std::fs::write(root.join("local/baseoa/pak0.pk3"), vec![2; 500_000]).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/usr", root.join("local/elsewhere")).unwrap();
        let usage = super::disk_use(dir.path(), "openarena").unwrap();
        assert!((300_000..320_000).contains(&usage.download), "{usage:?}");
        assert!((500_000..530_000).contains(&usage.install), "a link is not followed: {usage:?}");
        assert!(super::disk_use(dir.path(), "../etc").is_err());
    }
}
