//! The user's settings: game directory, extra peers, an extra catalog file,
//! whether downloads install by themselves, trust (the party key, the
//! trusted peers, whether untrusted downloads install by themselves) and
//! bandwidth limits. Kept as JSON in the platform config directory
//! (readable by its owner only, as it may hold the party key); trust and
//! limits apply at once, the rest when the app starts.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use lanspread_proto::PeerId;
use lanspread_proto::ipc::{IpcCommand, MAX_TRUSTED_PEERS};
use lanspread_proto::names::is_valid_peer_address;
use lanspread_proto::peer::{PartyKeyError, party_key_text};
use lanspread_proto::units::{MAX_RATE, RateError, format_size, parse_rate};
use serde::{Deserialize, Serialize};

/// A settings file larger than this is not ours.
const MAX_SETTINGS_FILE: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `None`: the worker's default ("LanSpread Games" in the home folder).
    pub game_dir: Option<PathBuf>,
    /// `HOST:PORT` peers contacted directly, for networks without multicast.
    pub peers: Vec<String>,
    pub catalog: Option<PathBuf>,
    pub auto_install: bool,
    /// Only PCs with the same key see and serve each other.
    pub party_key: Option<String>,
    /// Peer ids (52 characters) whose versions and file lists win.
    pub trusted: Vec<String>,
    /// Install downloads no trusted peer vouches for even when another
    /// version competes.
    pub auto_install_untrusted: bool,
    /// Bandwidth limits in bytes per second (0: none): all downloads, all
    /// uploads, and the upload to each PC.
    pub max_download: u64,
    pub max_upload: u64,
    pub max_upload_per_peer: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            game_dir: None,
            peers: Vec::new(),
            catalog: None,
            auto_install: true,
            party_key: None,
            trusted: Vec::new(),
            auto_install_untrusted: false,
            max_download: 0,
            max_upload: 0,
            max_upload_per_peer: 0,
        }
    }
}

/// Why the settings file could not be read or written; says which file.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: too large to be a settings file", .0.display())]
    TooLarge(PathBuf),
    #[error("{}: {source}", path.display())]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("{}: not a file path", .0.display())]
    NotAFilePath(PathBuf),
}

impl SettingsError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> SettingsError + '_ {
        move |source| SettingsError::Io { path: path.to_owned(), source }
    }
}

/// Why a value typed in the settings was not taken; the message says what
/// to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("Choose a folder for the games.")]
    NoGameDir,
    #[error("{0}: give the full path (it must start at the top of a drive).")]
    NotAbsolute(String),
    #[error("{0}: no part of this path exists")]
    NothingExists(String),
    #[error("{0}: this is a file, not a folder.")]
    NotAFolder(String),
    #[error("{0}: this folder is read-only.")]
    ReadOnly(String),
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("Not saved: {0}.")]
    PartyKey(PartyKeyError),
    #[error("{0:?} is not a peer id: copy the whole id (52 letters and digits).")]
    NotAPeerId(String),
    #[error("{0:?}: write a peer as HOST:PORT, e.g. 192.168.1.20:47474")]
    NotAPeerAddress(String),
    #[error("{0}: no such file")]
    NoSuchFile(String),
    #[error("{what}: {error}")]
    Rate { what: &'static str, error: RateError },
}

impl Settings {
    /// Reads `path`; a missing file gives the defaults, a broken one an
    /// error naming it.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let text = match crate::state_file::read_small(path, MAX_SETTINGS_FILE) {
            Ok(None) => return Ok(Settings::default()),
            Ok(Some(text)) => text,
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => return Err(SettingsError::TooLarge(path.to_owned())),
            Err(e) => return Err(SettingsError::io(path)(e)),
        };
        Settings::parse(&text).map_err(|source| SettingsError::Parse { path: path.to_owned(), source })
    }

    /// Reads the text of a settings file.
    pub fn parse(text: &str) -> Result<Settings, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Writes `path` atomically (temp file, then rename), readable by its
    /// owner only.
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        if path.parent().is_none() {
            return Err(SettingsError::NotAFilePath(path.to_owned()));
        }
        let text = serde_json::to_string_pretty(self)
            .map_err(|source| SettingsError::Parse { path: path.to_owned(), source })?;
        crate::state_file::write_whole(path, &text).map_err(|(path, source)| SettingsError::Io { path, source })
    }

    /// Adds `address` to the peers kept in `path` (a first-run "Add PC"),
    /// keeping everything else as it is there.
    pub fn remember_peer(path: &Path, address: &str) -> Result<(), SettingsError> {
        let mut settings = Settings::load(path)?;
        if !settings.peers.iter().any(|p| p == address) {
            settings.peers.push(address.to_owned());
            settings.save(path)?;
        }
        Ok(())
    }

    /// The trusted peers that are valid ids (a hand-edited file may hold others).
    pub fn trusted_ids(&self) -> Vec<PeerId> {
        self.trusted.iter().filter_map(|t| t.parse().ok()).take(MAX_TRUSTED_PEERS).collect()
    }

    /// The bandwidth limits for the worker (a hand-edited file's values
    /// above [`MAX_RATE`] are taken as that).
    pub fn limits_command(&self) -> IpcCommand {
        IpcCommand::SetLimits {
            download: self.max_download.min(MAX_RATE),
            upload: self.max_upload.min(MAX_RATE),
            upload_per_peer: self.max_upload_per_peer.min(MAX_RATE),
        }
    }

    /// The command that gives the worker these trust settings.
    pub fn trust_command(&self) -> IpcCommand {
        IpcCommand::SetTrust {
            party_key: self.party_key.clone().filter(|k| !k.trim().is_empty()),
            trusted: self.trusted_ids(),
            auto_install_untrusted: self.auto_install_untrusted,
        }
    }
}

/// Checks a party key typed by the user: empty for none, else the rule of
/// [`party_key_text`].
pub fn validate_party_key(text: &str) -> Result<Option<String>, InputError> {
    match party_key_text(text) {
        Ok(key) => Ok(Some(key.to_owned())),
        Err(PartyKeyError::Empty) => Ok(None),
        Err(e) => Err(InputError::PartyKey(e)),
    }
}

/// Checks a peer id pasted by the user.
pub fn validate_peer_id(text: &str) -> Result<PeerId, InputError> {
    let text = text.trim();
    text.parse().map_err(|_| InputError::NotAPeerId(text.to_owned()))
}

/// Where the settings live.
pub fn settings_file() -> PathBuf {
    directories::ProjectDirs::from("", "", "LanSpread")
        .map_or_else(|| PathBuf::from("lanspread-settings.json"), |d| d.config_dir().join("settings.json"))
}

/// Checks a game directory typed or picked by the user: an absolute path
/// that is a writable folder, or that can be created under a writable one.
/// Nothing is written: the UI leaves the game directory to the worker,
/// which creates it at its next start.
pub fn validate_game_dir(text: &str) -> Result<PathBuf, InputError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(InputError::NoGameDir);
    }
    let path = PathBuf::from(text);
    if !path.is_absolute() {
        return Err(InputError::NotAbsolute(text.to_owned()));
    }
    let existing = path
        .ancestors()
        .find(|p| fs::symlink_metadata(p).is_ok())
        .ok_or_else(|| InputError::NothingExists(text.to_owned()))?;
    let shown = existing.display().to_string();
    let meta =
        fs::metadata(existing).map_err(|e| InputError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
    if !meta.is_dir() {
        return Err(InputError::NotAFolder(shown));
    }
    if meta.permissions().readonly() {
        return Err(InputError::ReadOnly(shown));
    }
    Ok(path)
}

/// Checks a peer address: `HOST:PORT` with a port from 1 to 65535.
pub fn validate_peer(text: &str) -> Result<String, InputError> {
    let text = text.trim();
    if is_valid_peer_address(text) { Ok(text.to_owned()) } else { Err(InputError::NotAPeerAddress(text.to_owned())) }
}

/// A bandwidth limit as typed (`4MB`, `500KB`; empty or `0`: none), for the
/// field called `what`.
pub fn validate_rate(what: &'static str, text: &str) -> Result<u64, InputError> {
    if text.trim().is_empty() {
        return Ok(0);
    }
    parse_rate(text).map_err(|error| InputError::Rate { what, error })
}

/// A limit as the Settings field shows it: empty for none.
pub fn rate_text(bytes_per_sec: u64) -> String {
    match bytes_per_sec {
        0 => String::new(),
        n => format!("{}/s", format_size(n)).replace(' ', ""),
    }
}

/// Checks an extra catalog file: empty for none, else an existing file.
pub fn validate_catalog(text: &str) -> Result<Option<PathBuf>, InputError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let path = PathBuf::from(text);
    if !path.is_file() {
        return Err(InputError::NoSuchFile(text.to_owned()));
    }
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conf/settings.json");
        assert_eq!(Settings::load(&path).unwrap(), Settings::default());
        let settings = Settings {
            game_dir: Some(dir.path().join("games")),
            peers: vec!["10.0.0.2:47474".into()],
            catalog: None,
            auto_install: false,
            party_key: Some("our party".into()),
            trusted: vec![PeerId([3; 32]).to_string(), "not an id".into()],
            auto_install_untrusted: true,
            max_download: 4_000_000,
            max_upload: 0,
            max_upload_per_peer: 500_000,
        };
        settings.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o077, 0, "only its owner reads it");
        }
        assert_eq!(
            settings.trust_command(),
            IpcCommand::SetTrust {
                party_key: Some("our party".into()),
                trusted: vec![PeerId([3; 32])],
                auto_install_untrusted: true
            }
        );
        assert_eq!(Settings::load(&path).unwrap(), settings);
        fs::write(&path, "{ nope").unwrap();
        assert!(Settings::load(&path).unwrap_err().to_string().contains("settings.json"));
    }

    #[test]
    fn game_dirs_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new/games");
        assert_eq!(validate_game_dir(new.to_str().unwrap()).unwrap(), new);
        assert!(!new.exists(), "the worker creates it, not the UI");
        assert_eq!(validate_game_dir(dir.path().to_str().unwrap()).unwrap(), dir.path());
        assert_eq!(validate_game_dir(""), Err(InputError::NoGameDir));
        assert_eq!(validate_game_dir("relative/games"), Err(InputError::NotAbsolute("relative/games".into())));
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        let not_a_folder = Err(InputError::NotAFolder(file.display().to_string()));
        assert_eq!(validate_game_dir(file.to_str().unwrap()), not_a_folder);
        assert_eq!(validate_game_dir(file.join("games").to_str().unwrap()), not_a_folder);
    }

    #[test]
    fn peers_and_catalogs_are_checked() {
        assert_eq!(validate_peer(" 10.0.0.2:47474 ").unwrap(), "10.0.0.2:47474");
        assert_eq!(validate_peer("[::1]:47474").unwrap(), "[::1]:47474");
        for bad in ["10.0.0.2", ":47474", "host:0", "host:99999", "a b:1"] {
            assert!(validate_peer(bad).is_err(), "{bad}");
        }
        assert_eq!(validate_catalog(" ").unwrap(), None);
        assert_eq!(validate_party_key("  ").unwrap(), None);
        assert_eq!(validate_party_key(" our words ").unwrap().as_deref(), Some("our words"));
        assert!(validate_party_key("a\u{1b}b").is_err());
        let id = PeerId([5; 32]);
        assert_eq!(validate_peer_id(&format!(" {id} ")).unwrap(), id);
        assert_eq!(validate_peer_id("abc"), Err(InputError::NotAPeerId("abc".into())));
        assert!(matches!(validate_catalog("/nonexistent/catalog.json"), Err(InputError::NoSuchFile(_))));
    }
}
