//! Games, the catalog, versions and peer identities.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A catalog id: the name of a game root under the game directory.
pub type GameId = String;

/// One catalogued game. Only catalogued ids are scanned, announced or served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub id: GameId,
    pub name: String,
    pub description: String,
    pub genre: String,
    pub max_players: u16,
    /// How to start the game, per kind of PC (at most [`MAX_LAUNCH_COMMANDS`]);
    /// empty: the game's own launch file says, if it has one.
    #[serde(default)]
    pub launch: Vec<LaunchCommand>,
}

/// Launch commands a catalog entry or a game's launch file may hold.
pub const MAX_LAUNCH_COMMANDS: usize = 4;
/// Arguments one launch command may pass.
pub const MAX_LAUNCH_ARGS: usize = 32;
/// Bytes of one argument.
pub const MAX_LAUNCH_ARG_LEN: usize = 1024;

/// The kind of PC a launch command is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LaunchOs {
    Linux,
    Windows,
    /// Any PC (a script or a portable program).
    Any,
}

/// How to start a game: a program inside its `local/` folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchCommand {
    pub os: LaunchOs,
    /// The program, relative to `local/`, `/`-separated.
    pub program: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Where it runs, relative to `local/`; by default the program's folder.
    #[serde(default)]
    pub working_dir: Option<String>,
}

/// Why a launch command is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchCommandError {
    #[error("more than {MAX_LAUNCH_COMMANDS} launch commands")]
    TooMany,
    #[error("program {0:?}: {1}")]
    Program(String, &'static str),
    #[error("working folder {0:?}: {1}")]
    WorkingDir(String, &'static str),
    #[error("more than {MAX_LAUNCH_ARGS} arguments, or one longer than {MAX_LAUNCH_ARG_LEN} bytes or with a NUL")]
    Args,
}

/// Checks launch commands from a catalog or a game's launch file: at most
/// [`MAX_LAUNCH_COMMANDS`], portable relative paths (see
/// [`crate::names::check_relative_path`]), bounded arguments.
pub fn check_launch_commands(commands: &[LaunchCommand]) -> Result<(), LaunchCommandError> {
    if commands.len() > MAX_LAUNCH_COMMANDS {
        return Err(LaunchCommandError::TooMany);
    }
    for command in commands {
        crate::names::check_relative_path(&command.program)
            .map_err(|why| LaunchCommandError::Program(command.program.clone(), why))?;
        if let Some(dir) = &command.working_dir {
            crate::names::check_relative_path(dir).map_err(|why| LaunchCommandError::WorkingDir(dir.clone(), why))?;
        }
        let bad_arg = |a: &String| a.len() > MAX_LAUNCH_ARG_LEN || a.contains('\0');
        if command.args.len() > MAX_LAUNCH_ARGS || command.args.iter().any(bad_arg) {
            return Err(LaunchCommandError::Args);
        }
    }
    Ok(())
}

pub use crate::names::is_valid_game_id;

/// Compares two version strings in natural order: runs of digits compare as
/// numbers (`0.8.10` > `0.8.9`), everything else byte-wise.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (na, ra) = split_digits(a);
                let (nb, rb) = split_digits(b);
                let ord = compare_digit_runs(na, nb);
                if ord != Ordering::Equal {
                    return ord;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s.iter().position(|c| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

fn compare_digit_runs(a: &[u8], b: &[u8]) -> Ordering {
    let trim = |s: &[u8]| -> usize { s.iter().position(|&c| c != b'0').unwrap_or(s.len()) };
    let (a, b) = (&a[trim(a)..], &b[trim(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A node's identity: the BLAKE3 hash of its certificate's public key
/// (SubjectPublicKeyInfo, DER). Shown as 52 lowercase base32 characters,
/// which fit in one DNS label for the mDNS instance name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PeerId(pub [u8; 32]);

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut acc = 0u32;
        let mut bits = 0;
        for &byte in &self.0 {
            acc = (acc << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                f.write_fmt(format_args!("{}", BASE32[((acc >> bits) & 31) as usize] as char))?;
            }
        }
        if bits > 0 {
            f.write_fmt(format_args!("{}", BASE32[((acc << (5 - bits)) & 31) as usize] as char))?;
        }
        Ok(())
    }
}

impl PeerId {
    /// Characters of [`PeerId::short`].
    pub const SHORT_LEN: usize = 10;

    /// The first [`Self::SHORT_LEN`] characters, for logs and lists people
    /// read (50 bits: enough to tell a LAN's peers apart, not to trust by;
    /// trusting takes the whole id).
    pub fn short(&self) -> String {
        self.to_string()[..Self::SHORT_LEN].to_owned()
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

/// A string that is not a peer id.
#[derive(Debug, thiserror::Error)]
#[error("not a peer id (want 52 base32 characters): {0:?}")]
pub struct PeerIdParseError(String);

impl FromStr for PeerId {
    type Err = PeerIdParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PeerIdParseError(s.chars().take(80).collect());
        if s.len() != 52 {
            return Err(err());
        }
        let mut out = [0u8; 32];
        let (mut acc, mut bits, mut n) = (0u32, 0, 0);
        for c in s.bytes() {
            let v = BASE32.iter().position(|&b| b == c.to_ascii_lowercase()).ok_or_else(err)? as u32;
            acc = (acc << 5) | v;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                if n == 32 {
                    return Err(err());
                }
                out[n] = (acc >> bits) as u8;
                n += 1;
            }
        }
        if n != 32 || acc & ((1 << bits) - 1) != 0 {
            return Err(err());
        }
        Ok(PeerId(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_version_order() {
        let mut v = vec!["1.10", "1.9", "1.9a", "0.8.10", "0.8.9", "2", "1.09.1"];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(v, ["0.8.9", "0.8.10", "1.9", "1.09.1", "1.9a", "1.10", "2"]);
        assert_eq!(compare_versions("007", "7"), Ordering::Equal);
        assert_eq!(compare_versions("", "0"), Ordering::Less);
    }

    #[test]
    fn peer_id_text_round_trips() {
        let id = PeerId(*b"0123456789abcdefghijklmnopqrstuv");
        let text = id.to_string();
        assert_eq!(text.len(), 52);
        assert_eq!(text.parse::<PeerId>().unwrap(), id);
        assert!("short".parse::<PeerId>().is_err());
        assert!("1".repeat(52).parse::<PeerId>().is_err());
    }
}
