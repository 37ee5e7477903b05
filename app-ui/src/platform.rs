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

/// Writes a file only its owner may read (the settings may hold the party
/// key). Windows: files in the user's profile are private to the user
/// already, so a plain write does.
#[cfg(unix)]
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // An older file keeps its mode through `open`; tighten it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)
}

/// Writes a file only its owner may read (see the Unix version).
#[cfg(not(unix))]
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Starts the worker without a console window of its own: the app is a GUI
/// program, and a console flashing up beside it would be noise.
#[cfg(windows)]
pub fn hide_console(command: &mut tokio::process::Command) {
    /// `CREATE_NO_WINDOW` from the Windows process creation flags.
    const CREATE_NO_WINDOW: u32 = 0x0800_0000;
    command.creation_flags(CREATE_NO_WINDOW);
}

/// Programs started from a terminal share it; there is no console to hide.
#[cfg(not(windows))]
pub fn hide_console(_command: &mut tokio::process::Command) {}

/// `path` in the plain form that mount point lists and file viewers use.
/// Windows' `canonicalize` gives verbatim paths (`\\?\C:\games`), which
/// never match a mount point (`C:\`) as a prefix and which Explorer does not
/// open.
#[cfg(windows)]
pub fn plain_path(path: PathBuf) -> PathBuf {
    use std::path::{Component, Prefix};
    let mut components = path.components();
    let plain_prefix = match components.next() {
        Some(Component::Prefix(prefix)) => match prefix.kind() {
            Prefix::VerbatimDisk(disk) => format!("{}:", char::from(disk)),
            Prefix::VerbatimUNC(server, share) => {
                format!(r"\\{}\{}", server.to_string_lossy(), share.to_string_lossy())
            }
            _ => return path,
        },
        _ => return path,
    };
    let mut plain = PathBuf::from(plain_prefix);
    plain.extend(components);
    plain
}

/// `path` in the plain form that mount point lists and file viewers use
/// (already so here).
#[cfg(not(windows))]
pub fn plain_path(path: PathBuf) -> PathBuf {
    path
}

#[cfg(all(test, windows))]
mod tests {
    use std::path::{Path, PathBuf};

    #[test]
    fn verbatim_paths_become_plain() {
        assert_eq!(super::plain_path(PathBuf::from(r"\\?\C:\games\x")), Path::new(r"C:\games\x"));
        assert_eq!(super::plain_path(PathBuf::from(r"\\?\UNC\srv\share\g")), Path::new(r"\\srv\share\g"));
        assert_eq!(super::plain_path(PathBuf::from(r"D:\games")), Path::new(r"D:\games"));
    }
}

/// Makes `command` start a program that outlives the launcher: its own
/// process group on Unix (no hang-up or Ctrl-C from ours), a new process
/// group and no console on Windows.
#[cfg(unix)]
pub fn detach(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
}

/// Makes `command` start a program that outlives the launcher: its own
/// process group on Unix (no hang-up or Ctrl-C from ours), a new process
/// group and no console on Windows.
#[cfg(windows)]
pub fn detach(command: &mut std::process::Command) {
    use std::os::windows::process::CommandExt;
    const DETACHED_PROCESS: u32 = 0x0000_0008;
    const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
    command.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
}

/// The disk space a file takes: its allocated blocks where the system says
/// (a sparse or preallocated file), else its length.
#[cfg(unix)]
pub fn allocated(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.blocks().saturating_mul(512)
}

#[cfg(not(unix))]
pub fn allocated(meta: &std::fs::Metadata) -> u64 {
    meta.len()
}
