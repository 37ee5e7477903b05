//! Errors that say what failed and where: `path: reason`.

use std::io;
use std::path::Path;

/// `e` with `path` in front of its message, keeping its kind; a Windows
/// code in words ([`crate::os_error::readable`]).
///
/// ```
/// let e = lanspread_proto::path_error::annotate("games/x".as_ref(), std::io::ErrorKind::NotFound.into());
/// assert_eq!(e.to_string(), "games/x: entity not found");
/// ```
pub fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {}", path.display(), crate::os_error::readable(&e.to_string())))
}
