//! Default locations: the per-user data directory for node state, and a
//! default game directory.

use std::path::PathBuf;

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "LanSpread")
}

/// Where a node keeps its key, certificate and hash index.
pub fn default_state_dir() -> PathBuf {
    project_dirs().map_or_else(|| PathBuf::from(".lanspread-state"), |d| d.data_dir().to_owned())
}

/// Where games live when no `--games` is given.
pub fn default_games_dir() -> PathBuf {
    directories::UserDirs::new().map(|d| d.home_dir().join("LanSpread Games")).unwrap_or_else(|| PathBuf::from("games"))
}
