//! What the window remembers between runs, apart from the settings: its
//! size and place, and when each game was last started with Play (for the
//! "Recently played" order). Kept as JSON beside the settings file; the
//! file is the user's and may be edited or damaged, so every value is
//! checked when read and a bad one is dropped, never trusted.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use lanspread_proto::names::is_valid_game_id;
use serde::{Deserialize, Serialize};

/// A file larger than this is not ours.
const MAX_MEMORY_FILE: u64 = 256 * 1024;
/// Play times kept: the most recent ones.
pub const MAX_PLAYED_GAMES: usize = 2000;
/// A window side outside these bounds (physical pixels) is not restored.
const WINDOW_SIDE: std::ops::RangeInclusive<u32> = 320..=16_384;
/// A window corner further than this from the screens' origin is not
/// restored (no desktop of screens reaches that far).
const MAX_WINDOW_OFFSET: u32 = 32_768;

/// The window's place on the screen, in physical pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowPlace {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl WindowPlace {
    /// Whether this place can be restored.
    pub fn is_sane(&self) -> bool {
        WINDOW_SIDE.contains(&self.width)
            && WINDOW_SIDE.contains(&self.height)
            && self.x.unsigned_abs() <= MAX_WINDOW_OFFSET
            && self.y.unsigned_abs() <= MAX_WINDOW_OFFSET
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Remembered {
    pub window: Option<WindowPlace>,
    /// Game id → when it was last started (seconds since 1970).
    pub played: BTreeMap<String, u64>,
}

/// Why the file could not be written; says which file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct SaveError {
    path: PathBuf,
    source: io::Error,
}

/// Where it is kept: beside the settings.
pub fn memory_file(settings_file: &Path) -> PathBuf {
    settings_file.with_file_name("remembered.json")
}

impl Remembered {
    /// Reads `path`: a missing, damaged or oversized file gives nothing
    /// remembered (with one log line), and only valid values are kept.
    pub fn load(path: &Path) -> Remembered {
        match crate::state_file::read_small(path, MAX_MEMORY_FILE) {
            Ok(Some(text)) => Self::parse(&text).unwrap_or_else(|e| {
                tracing::warn!("{}: {e}; starting with nothing remembered", path.display());
                Remembered::default()
            }),
            Ok(None) => Remembered::default(),
            Err(e) => {
                tracing::warn!("{}: {e}; starting with nothing remembered", path.display());
                Remembered::default()
            }
        }
    }

    /// Reads the text of the file, keeping only valid values.
    pub fn parse(text: &str) -> Result<Remembered, serde_json::Error> {
        let mut remembered: Remembered = serde_json::from_str(text)?;
        remembered.window = remembered.window.filter(WindowPlace::is_sane);
        remembered.played.retain(|id, _| is_valid_game_id(id));
        remembered.keep_recent();
        Ok(remembered)
    }

    /// Writes `path` atomically (temp file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), SaveError> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| SaveError { path: path.to_owned(), source: io::Error::other(e) })?;
        crate::state_file::write_whole(path, &text).map_err(|(path, source)| SaveError { path, source })
    }

    /// Notes that `id` was started now.
    pub fn played_now(&mut self, id: &str) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.played.insert(id.to_owned(), now);
        self.keep_recent();
    }

    /// Drops the oldest play times beyond [`MAX_PLAYED_GAMES`].
    fn keep_recent(&mut self) {
        if self.played.len() <= MAX_PLAYED_GAMES {
            return;
        }
        let mut times: Vec<u64> = self.played.values().copied().collect();
        times.sort_unstable_by(|a, b| b.cmp(a));
        let oldest_kept = times[MAX_PLAYED_GAMES - 1];
        self.played.retain(|_, &mut at| at >= oldest_kept);
        // Ties at the limit: drop by id until within it.
        while self.played.len() > MAX_PLAYED_GAMES {
            let Some(id) = self.played.iter().find(|(_, at)| **at == oldest_kept).map(|(id, _)| id.clone()) else {
                break;
            };
            self.played.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn what_is_saved_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = memory_file(&dir.path().join("settings.json"));
        let mut remembered = Remembered {
            window: Some(WindowPlace { x: -1200, y: 40, width: 1280, height: 800 }),
            ..Remembered::default()
        };
        remembered.played_now("openarena");
        remembered.save(&path).unwrap();
        assert_eq!(Remembered::load(&path), remembered);
        assert_eq!(Remembered::load(&dir.path().join("missing.json")), Remembered::default());
    }

    #[test]
    fn a_damaged_or_hostile_file_gives_only_valid_values() {
        let text = r#"{"window": {"x": 10, "y": 10, "width": 5, "height": 99999},
                       "played": {"../etc": 5, "quake": 7}}"#;
        let remembered = Remembered::parse(text).unwrap();
        assert_eq!(remembered.window, None, "a window too small or too large is not restored");
        let far = r#"{"window": {"x": -2147483648, "y": 0, "width": 800, "height": 600}}"#;
        assert_eq!(Remembered::parse(far).unwrap().window, None, "a place off every screen is not restored");
        assert_eq!(remembered.played.keys().collect::<Vec<_>>(), ["quake"]);
        assert!(Remembered::parse("{not json").is_err());

        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("remembered.json");
        fs::write(&big, vec![b' '; usize::try_from(MAX_MEMORY_FILE).unwrap() + 1]).unwrap();
        assert_eq!(Remembered::load(&big), Remembered::default());
    }

    #[test]
    fn only_the_most_recent_play_times_are_kept() {
        let played = (0..MAX_PLAYED_GAMES as u64 + 10).map(|i| (format!("game{i}"), i)).collect();
        let mut remembered = Remembered { window: None, played };
        remembered.keep_recent();
        assert_eq!(remembered.played.len(), MAX_PLAYED_GAMES);
        assert!(!remembered.played.contains_key("game9") && remembered.played.contains_key("game10"));
    }
}
