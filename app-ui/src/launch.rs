//! Play: start an installed game's program, detached from the launcher.
//!
//! The command comes from the catalog entry for this kind of PC, else from
//! the game's own launch file at its root ([`LAUNCH_FILE`], bounded and
//! checked like a catalog's). Whatever it names must resolve, links
//! followed, to a regular file inside that game's `local/`: a crafted
//! launch file or a link never starts anything else. The UI process starts
//! games, never the worker.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use lanspread_proto::game::{LaunchCommand, LaunchCommandError, LaunchOs, check_launch_commands};
use lanspread_proto::names::check_relative_path;

use crate::platform::plain_path;

/// A game's own launch commands, at its root (JSON: a list of
/// `{"os", "program", "args", "working_dir"}`, as in the catalog).
pub const LAUNCH_FILE: &str = "launch.json";
/// A launch file larger than this is not read.
const MAX_LAUNCH_FILE: u64 = 16 * 1024;
/// The folder an installed game lives in, under its root.
const INSTALL_DIR: &str = "local";

/// Why a game was not started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(
        "{id} says nothing about how to start it on this PC (no launch command in the catalog or its {LAUNCH_FILE})"
    )]
    NoCommand { id: String },
    #[error("{}: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(#[from] LaunchCommandError),
    #[error("{}: the program to start is not there; reinstall the game", .0.display())]
    Missing(PathBuf),
    #[error("{}: not inside the game's local/ folder; not started", .0.display())]
    Outside(PathBuf),
    #[error("{}: not a program file; not started", .0.display())]
    NotAFile(PathBuf),
    #[error("cannot start {}: {source}", program.display())]
    Start { program: PathBuf, source: std::io::Error },
}

/// A checked command, ready to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub dir: PathBuf,
}

/// The kind of PC this is.
fn this_os() -> LaunchOs {
    if cfg!(windows) { LaunchOs::Windows } else { LaunchOs::Linux }
}

/// The command for this PC among `commands`: one for this OS first, else
/// one for any.
fn for_this_pc(commands: &[LaunchCommand]) -> Option<&LaunchCommand> {
    let os = this_os();
    commands.iter().find(|c| c.os == os).or_else(|| commands.iter().find(|c| c.os == LaunchOs::Any))
}

/// Reads the game's own launch file; `Ok(empty)` when it has none.
fn launch_file(root: &Path) -> Result<Vec<LaunchCommand>, LaunchError> {
    let path = root.join(LAUNCH_FILE);
    let bad = |reason: String| LaunchError::BadFile { path: path.clone(), reason };
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(bad(e.to_string())),
    };
    if !meta.is_file() || meta.len() > MAX_LAUNCH_FILE {
        return Err(bad(format!("not a launch file (a regular file of at most {MAX_LAUNCH_FILE} bytes)")));
    }
    let text = fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let commands: Vec<LaunchCommand> = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    check_launch_commands(&commands)?;
    Ok(commands)
}

/// `rel` under `local`, links followed; it must stay inside `local`.
fn resolve_inside(local: &Path, rel: &str) -> Result<PathBuf, LaunchError> {
    let parts = check_relative_path(rel).map_err(|why| LaunchCommandError::Program(rel.to_owned(), why))?;
    let path = parts.iter().fold(local.to_path_buf(), |p, part| p.join(part));
    let resolved = fs::canonicalize(&path).map_err(|_| LaunchError::Missing(path.clone()))?;
    if !resolved.starts_with(local) {
        return Err(LaunchError::Outside(path));
    }
    Ok(resolved)
}

/// The command that starts installed game `id` of `game_dir` on this PC:
/// the catalog's (`catalog`) when it has one for this PC, else the game's
/// launch file's; every path checked.
pub fn plan(game_dir: &Path, id: &str, catalog: &[LaunchCommand]) -> Result<Launch, LaunchError> {
    let root = game_dir.join(id);
    let from_file;
    let command = match for_this_pc(catalog) {
        Some(command) => command,
        None => {
            from_file = launch_file(&root)?;
            for_this_pc(&from_file).ok_or_else(|| LaunchError::NoCommand { id: id.to_owned() })?
        }
    };
    let local_dir = root.join(INSTALL_DIR);
    let local = fs::canonicalize(&local_dir).map_err(|_| LaunchError::Missing(local_dir.clone()))?;
    let program = resolve_inside(&local, &command.program)?;
    if !fs::metadata(&program).is_ok_and(|m| m.is_file()) {
        return Err(LaunchError::NotAFile(program));
    }
    let dir = match &command.working_dir {
        Some(dir) => resolve_inside(&local, dir)?,
        None => program.parent().map_or_else(|| local.clone(), Path::to_path_buf),
    };
    Ok(Launch { program, args: command.args.clone(), dir })
}

/// Starts `launch` detached from the launcher (its own process group, no
/// console, no inherited input or output), so closing LanSpread leaves the
/// game running.
pub fn start(launch: &Launch) -> Result<Child, LaunchError> {
    let mut command = Command::new(startable(&launch.program));
    command.args(&launch.args).current_dir(startable(&launch.dir));
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    crate::platform::detach(&mut command);
    command.spawn().map_err(|source| LaunchError::Start { program: launch.program.clone(), source })
}

/// `path` as Explorer would start a program from it: plain (`C:\…`), since
/// cmd.exe (running a .bat) takes a verbatim working folder (`\\?\C:\…`)
/// for a network share; verbatim only past `MAX_PATH`, which only the
/// verbatim form can reach.
fn startable(path: &Path) -> PathBuf {
    /// Windows' `MAX_PATH`, the terminating NUL included.
    const MAX_PATH: usize = 260;
    let plain = plain_path(path.to_path_buf());
    if plain.as_os_str().len() < MAX_PATH { plain } else { path.to_path_buf() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(os: LaunchOs, program: &str) -> LaunchCommand {
        LaunchCommand { os, program: program.into(), args: vec!["--windowed".into()], working_dir: None }
    }

    fn installed(dir: &Path) -> PathBuf {
        let local = dir.join("game/local");
        fs::create_dir_all(local.join("bin")).unwrap();
        fs::write(local.join("bin/run"), "#!/bin/sh\n").unwrap();
        local
    }

    #[test]
    fn the_catalog_command_for_this_pc_wins_over_the_launch_file() {
        let dir = tempfile::tempdir().unwrap();
        let local = installed(dir.path());
        fs::write(local.join("other"), "x").unwrap();
        let file = serde_json::to_string(&[command(LaunchOs::Any, "other")]).unwrap();
        fs::write(dir.path().join("game").join(LAUNCH_FILE), file).unwrap();
        let catalog = [command(LaunchOs::Any, "bin/run")];
        let launch = plan(dir.path(), "game", &catalog).unwrap();
        let local = fs::canonicalize(&local).unwrap();
        assert_eq!(
            launch,
            Launch { program: local.join("bin/run"), args: vec!["--windowed".into()], dir: local.join("bin") }
        );
        // Without a catalog command, the game's own file says.
        assert_eq!(plan(dir.path(), "game", &[]).unwrap().program, local.join("other"));
        // A command for another kind of PC only is no command here.
        let elsewhere = if cfg!(windows) { LaunchOs::Linux } else { LaunchOs::Windows };
        fs::remove_file(dir.path().join("game").join(LAUNCH_FILE)).unwrap();
        assert!(matches!(
            plan(dir.path(), "game", &[command(elsewhere, "bin/run")]),
            Err(LaunchError::NoCommand { .. })
        ));
    }

    /// A small game for this PC in `local/bin`: it writes the folder it
    /// runs in and its arguments to `played.txt` there.
    fn playable(dir: &Path) -> &'static str {
        let bin = dir.join("game/local/bin");
        fs::create_dir_all(&bin).unwrap();
        if cfg!(windows) {
            fs::write(bin.join("game.bat"), "@echo off\r\ncd > played.txt\r\necho %* >> played.txt\r\n").unwrap();
            "bin/game.bat"
        } else {
            let script = bin.join("game.sh");
            fs::write(&script, "#!/bin/sh\npwd > played.txt\necho \"$@\" >> played.txt\n").unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
            }
            "bin/game.sh"
        }
    }

    #[test]
    fn play_starts_the_program_in_its_folder_with_its_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let program = playable(dir.path());
        let command = LaunchCommand {
            os: LaunchOs::Any,
            program: program.into(),
            args: vec!["--map".into(), "dm1".into()],
            working_dir: None,
        };
        let launch = plan(dir.path(), "game", &[command]).unwrap();
        let status = start(&launch).unwrap().wait().unwrap();
        assert!(status.success(), "{status}");
        let played = fs::read_to_string(dir.path().join("game/local/bin/played.txt")).unwrap();
        let mut lines = played.lines().map(str::trim);
        let ran_in = fs::canonicalize(lines.next().unwrap()).unwrap();
        assert_eq!(ran_in, fs::canonicalize(dir.path().join("game/local/bin")).unwrap(), "{played}");
        assert_eq!(lines.next(), Some("--map dm1"), "{played}");
    }

    #[test]
    fn only_a_file_inside_local_is_started() {
        let dir = tempfile::tempdir().unwrap();
        let local = installed(dir.path());
        assert!(local.join("bin/run").is_file());
        fs::write(dir.path().join("outside"), "x").unwrap();
        let refused = |program: &str| plan(dir.path(), "game", &[command(LaunchOs::Any, program)]);
        assert!(matches!(refused("../outside"), Err(LaunchError::Invalid(_))));
        assert!(matches!(refused("/bin/sh"), Err(LaunchError::Invalid(_))));
        assert!(matches!(refused("bin/missing"), Err(LaunchError::Missing(_))));
        assert!(matches!(refused("bin"), Err(LaunchError::NotAFile(_))));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("outside"), local.join("escape")).unwrap();
            assert!(matches!(refused("escape"), Err(LaunchError::Outside(_))));
            std::os::unix::fs::symlink("/bin", local.join("system")).unwrap();
            assert!(matches!(refused("system/sh"), Err(LaunchError::Outside(_))));
        }
        let huge = serde_json::to_string(&vec![command(LaunchOs::Any, "bin/run"); 5]).unwrap();
        fs::write(dir.path().join("game").join(LAUNCH_FILE), huge).unwrap();
        assert!(matches!(plan(dir.path(), "game", &[]), Err(LaunchError::Invalid(LaunchCommandError::TooMany))));
        fs::write(dir.path().join("game").join(LAUNCH_FILE), "{").unwrap();
        assert!(matches!(plan(dir.path(), "game", &[]), Err(LaunchError::BadFile { .. })));
    }
}
