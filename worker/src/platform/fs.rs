//! Durable and private file writes.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use lanspread_proto::path_error::annotate;

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
    let annotate = |e: io::Error| annotate(path, e);
    let tmp = temp_path(path).ok_or_else(|| annotate(io::Error::other("not a file path")))?;
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

/// A file or folder under `dir` (or `dir` itself) that another program
/// holds open so that it cannot be deleted or moved: on Windows, opened
/// without `FILE_SHARE_DELETE`, as a running game holds its files and its
/// working folder, or a running program's own file (Windows refuses to
/// write it, and to delete it). Unix has no such hold: always `None` there.
/// Stops at the first one.
#[cfg(windows)]
pub fn held_open(dir: &Path) -> Option<PathBuf> {
    use std::os::windows::fs::OpenOptionsExt;
    /// `DELETE` access (winnt.h): what a rename or delete needs.
    const DELETE: u32 = 0x0001_0000;
    /// `FILE_WRITE_DATA` (winnt.h): refused for a program that is running.
    const WRITE_DATA: u32 = 0x0002;
    /// `FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE`: this open
    /// never stands in anyone's way.
    const SHARE_ALL: u32 = 7;
    /// `FILE_FLAG_BACKUP_SEMANTICS`: needed to open a folder.
    const BACKUP_SEMANTICS: u32 = 0x0200_0000;
    /// `ERROR_SHARING_VIOLATION` (winerror.h).
    const SHARING_VIOLATION: i32 = 32;
    let held = |path: &Path, access: u32| {
        let opened =
            fs::OpenOptions::new().access_mode(access).share_mode(SHARE_ALL).custom_flags(BACKUP_SEMANTICS).open(path);
        opened.is_err_and(|e| e.raw_os_error() == Some(SHARING_VIOLATION))
    };
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        if held(&folder, DELETE) {
            return Some(folder);
        }
        for entry in fs::read_dir(&folder).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => folders.push(entry.path()),
                Ok(kind) if kind.is_file() && held(&entry.path(), DELETE | WRITE_DATA) => return Some(entry.path()),
                _ => {}
            }
        }
    }
    None
}

#[cfg(not(windows))]
pub fn held_open(_dir: &Path) -> Option<PathBuf> {
    None
}

/// Makes a rename durable on filesystems that need the directory synced.
#[cfg(unix)]
pub fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent()
        && let Ok(dir) = fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

/// NTFS journals renames; directories cannot be opened for syncing.
#[cfg(not(unix))]
pub fn sync_parent(_path: &Path) {}

/// Whether [`sync_filesystem`] flushes a whole filesystem here, so files
/// written for it need no flush of their own.
pub const FLUSHES_FILESYSTEM: bool = cfg!(target_os = "linux");

/// Flushes everything written to the filesystem `dir` is on, in one call:
/// `true` when done, `false` where the platform has no such call (then each
/// file is flushed on its own). A game of 20,000 small files flushed one
/// fsync at a time waits for 20,000 journal commits; this waits for one.
#[cfg(target_os = "linux")]
pub fn sync_filesystem(dir: &Path) -> io::Result<bool> {
    let dir_file = fs::File::open(dir).map_err(|e| annotate(dir, e))?;
    rustix::fs::syncfs(&dir_file).map_err(|e| annotate(dir, e.into()))?;
    Ok(true)
}

/// Windows can flush a whole volume only with administrator rights.
#[cfg(not(target_os = "linux"))]
pub fn sync_filesystem(_dir: &Path) -> io::Result<bool> {
    Ok(false)
}

/// Where [`write_atomic`] puts `path`'s bytes before the rename.
fn temp_path(path: &Path) -> Option<PathBuf> {
    path.file_name().map(|name| path.with_file_name(format!(".{}.tmp", name.to_string_lossy())))
}

/// Removes `path` and the temporary file an interrupted [`write_atomic`] of
/// it may have left; missing files are fine.
pub fn remove_atomic(path: &Path) -> io::Result<()> {
    if let Some(tmp) = temp_path(path) {
        remove_file_if_present(&tmp)?;
    }
    remove_file_if_present(path)
}

/// True when an interrupted [`write_atomic`] of `path` left its temporary file.
pub fn atomic_write_interrupted(path: &Path) -> bool {
    temp_path(path).is_some_and(|tmp| fs::symlink_metadata(tmp).is_ok())
}

/// Removes the file at `path`; a missing file is fine. Errors name the path.
pub fn remove_file_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(annotate(path, e)),
        _ => Ok(()),
    }
}

/// Reads exactly `buf.len()` bytes at `offset` without moving a shared cursor.
#[cfg(unix)]
pub fn read_exact_at(file: &fs::File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Reads exactly `buf.len()` bytes at `offset`.
#[cfg(windows)]
pub fn read_exact_at(file: &fs::File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Writes all of `buf` at `offset`, leaving the rest of the file alone, so
/// several writers can fill different regions of one file.
#[cfg(unix)]
pub fn write_all_at(file: &fs::File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

/// Writes all of `buf` at `offset`.
#[cfg(windows)]
pub fn write_all_at(file: &fs::File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_write(buf, offset)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => {
                buf = &buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Bytes available to this user on the filesystem holding `path`.
pub fn available_space(path: &Path) -> io::Result<u64> {
    fs4::available_space(path).map_err(|e| annotate(path, e))
}
