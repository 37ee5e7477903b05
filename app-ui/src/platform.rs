//! Per-platform locations for the UI process.

use std::path::PathBuf;

/// Environment variable that overrides where the worker binary is.
pub const WORKER_ENV: &str = "LANSPREAD_WORKER";

/// The worker binary: `$LANSPREAD_WORKER`, else `lanspread-worker` (with the
/// platform's executable suffix) next to the running executable.
pub fn worker_exe() -> PathBuf {
    if let Some(path) = std::env::var_os(WORKER_ENV) {
        return PathBuf::from(path);
    }
    let name = format!("lanspread-worker{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Where the app writes its log (and its worker's output).
pub fn log_file() -> PathBuf {
    let dir = directories::ProjectDirs::from("", "", "LanSpread")
        .map_or_else(|| PathBuf::from("."), |d| d.data_dir().to_owned());
    dir.join("lanspread.log")
}
