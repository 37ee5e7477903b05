//! Durable and private file writes.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically: a sibling temp file, fsync, rename.
/// Errors name the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, bytes, false)
}

/// Like [`write_atomic`], readable only by the current user (private keys).
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, bytes, true)
}

fn write_atomic_with(path: &Path, bytes: &[u8], private: bool) -> io::Result<()> {
    let annotate = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let name = path.file_name().ok_or_else(|| annotate(io::Error::other("not a file path")))?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    restrict(&mut options, private);
    let mut file = options.open(&tmp).map_err(annotate)?;
    file.write_all(bytes).map_err(annotate)?;
    file.sync_all().map_err(annotate)?;
    drop(file);
    fs::rename(&tmp, path).map_err(annotate)?;
    sync_parent(path);
    Ok(())
}

#[cfg(unix)]
fn restrict(options: &mut fs::OpenOptions, private: bool) {
    use std::os::unix::fs::OpenOptionsExt;
    if private {
        options.mode(0o600);
    }
}

/// On Windows the per-user data directory is already private to the user.
#[cfg(not(unix))]
fn restrict(_options: &mut fs::OpenOptions, _private: bool) {}

/// Makes a rename durable on filesystems that need the directory synced.
#[cfg(unix)]
fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent()
        && let Ok(dir) = fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

/// NTFS journals renames; directories cannot be opened for syncing.
#[cfg(not(unix))]
fn sync_parent(_path: &Path) {}
