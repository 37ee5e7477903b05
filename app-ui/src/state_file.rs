//! The small files the window keeps (its settings, what it remembers): read
//! only up to a bound, written whole (a temporary file, then a rename) and
//! readable by their owner only.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The text of `path`; `None` when it does not exist. A file larger than
/// `max` bytes is not read: an error of kind `FileTooLarge`.
pub fn read_small(path: &Path, max: u64) -> io::Result<Option<String>> {
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
        Ok(meta) if meta.len() > max => Err(io::Error::new(io::ErrorKind::FileTooLarge, "too large to be ours")),
        Ok(_) => fs::read_to_string(path).map(Some),
    }
}

/// Writes `text` to `path` whole, creating its folder; a failure names the
/// path it happened at (the folder, the temporary file or the file).
pub fn write_whole(path: &Path, text: &str) -> Result<(), (PathBuf, io::Error)> {
    let at = |path: &Path| {
        let path = path.to_owned();
        move |e| (path, e)
    };
    let dir = path.parent().ok_or_else(|| (path.to_owned(), io::Error::other("not a file path")))?;
    fs::create_dir_all(dir).map_err(at(dir))?;
    let tmp = path.with_extension("tmp");
    crate::platform::write_private(&tmp, text.as_bytes()).map_err(at(&tmp))?;
    fs::rename(&tmp, path).map_err(at(path))
}
