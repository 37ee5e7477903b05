//! The intent log: `.lanspread.json` at a game root names the operation in
//! progress and how far it got. It is replaced atomically (temp file, fsync,
//! rename), so after a crash it holds either the previous step or the next,
//! never a torn mix, and recovery reads it to finish or undo the operation.

use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::platform::fs::annotate;
use crate::platform::fs::{remove_atomic, write_atomic};

/// The intent log at a game root.
pub const INTENT_FILE: &str = ".lanspread.json";
/// Anything larger is not an intent log we wrote.
const MAX_INTENT_FILE: u64 = 16 * 1024;

/// What is being done to the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Unpack into `local/` where there was none.
    Install,
    /// Unpack anew while the old `local/` keeps working until the swap.
    Update,
    /// Remove `local/`.
    Uninstall,
    /// Delete the whole root.
    Remove,
}

/// How far the operation got. Recovery undoes an install or update that
/// did not reach [`Step::Swapping`] with its staging gone, and finishes
/// uninstalls and removals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Writing `.local.installing/`; `local/` is untouched.
    Unpacking,
    /// Moving the old `local/` aside and the new one in.
    Swapping,
    /// The new `local/` is in place; only cleanup is left.
    Committed,
    /// Deleting (`local/` for an uninstall, the root for a removal).
    Removing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub operation: Operation,
    pub step: Step,
    /// The version being installed, for the log.
    #[serde(default)]
    pub version: Option<String>,
}

impl Intent {
    /// Writes the log durably before the step it names begins.
    pub fn record(&self, root: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        write_atomic(&root.join(INTENT_FILE), &bytes)
    }

    /// The log at `root`: `Ok(None)` when there is none, an error naming the
    /// file when it is there but unreadable.
    pub fn read(root: &Path) -> io::Result<Option<Intent>> {
        let path = root.join(INTENT_FILE);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(annotate(&path, e)),
        };
        if !meta.is_file() || meta.len() > MAX_INTENT_FILE {
            return Err(annotate(&path, io::Error::other("not an intent log LanSpread wrote")));
        }
        let bytes = fs::read(&path).map_err(|e| annotate(&path, e))?;
        Intent::parse(&bytes).map(Some).map_err(|e| annotate(&path, io::Error::other(e)))
    }

    /// Reads the bytes of an intent log.
    pub fn parse(bytes: &[u8]) -> Result<Intent, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Ends the operation: no log means nothing to recover. A log whose
    /// write a crash cut short goes too (it never named a step).
    pub fn clear(root: &Path) -> io::Result<()> {
        remove_atomic(&root.join(INTENT_FILE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_round_trips_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Intent::read(dir.path()).unwrap(), None);
        let intent = Intent { operation: Operation::Update, step: Step::Swapping, version: Some("1.2".into()) };
        intent.record(dir.path()).unwrap();
        let text = fs::read_to_string(dir.path().join(INTENT_FILE)).unwrap();
        assert!(text.contains("\"update\"") && text.contains("\"swapping\""), "{text}");
        assert_eq!(Intent::read(dir.path()).unwrap(), Some(intent));
        Intent::clear(dir.path()).unwrap();
        Intent::clear(dir.path()).unwrap();
        assert_eq!(Intent::read(dir.path()).unwrap(), None);
    }

    #[test]
    fn a_foreign_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(INTENT_FILE), "not json").unwrap();
        let err = Intent::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains(INTENT_FILE), "{err}");
    }
}
