//! The Settings panel while it is edited: the lists being changed, the
//! checks of every field, what saving sends to the worker, and the small
//! folder browser. The functions that touch the disk ([`load`], [`save`],
//! [`list_folders`]) are for a helper thread, never the UI thread.

use std::path::{Path, PathBuf};

use lanspread_proto::PeerId;
use lanspread_proto::ipc::IpcCommand;

use crate::settings::{
    InputError, Settings, SettingsError, rate_text, validate_catalog, validate_game_dir, validate_party_key,
    validate_peer, validate_peer_id, validate_rate,
};
use crate::view::ViewState;

/// The fields of the panel a person types into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    pub game_dir: String,
    pub catalog: String,
    pub auto_install: bool,
    pub party_key: String,
    pub auto_install_untrusted: bool,
    /// Bandwidth limits as typed (`4MB`; empty: none).
    pub max_download: String,
    pub max_upload: String,
    pub max_upload_per_peer: String,
}

/// A trusted peer as the panel lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedLine {
    pub short: String,
    /// Its name while it is joined, else "offline".
    pub name: String,
}

/// What the app's command line set for this run: it wins over the saved
/// settings until the app starts without it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandLine {
    pub game_dir: Option<PathBuf>,
    pub peers: Vec<String>,
    pub catalog: Option<PathBuf>,
}

impl CommandLine {
    /// What the panel says of the values in effect that the command line
    /// gave, or nothing when it gave none.
    pub fn in_effect(&self) -> String {
        let mut given = Vec::new();
        if let Some(dir) = &self.game_dir {
            given.push(format!("game directory {}", dir.display()));
        }
        match self.peers.len() {
            0 => {}
            1 => given.push(format!("PC to ask {}", self.peers[0])),
            n => given.push(format!("{n} PCs to ask ({})", self.peers.join(", "))),
        }
        if let Some(catalog) = &self.catalog {
            given.push(format!("catalog {}", catalog.display()));
        }
        if given.is_empty() {
            return String::new();
        }
        format!(
            "In effect from the command line for this run: {}. The fields below are what is saved for starts \
             without it.",
            given.join("; ")
        )
    }
}

/// The panel's lists while it is open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsForm {
    pub peers: Vec<String>,
    pub trusted: Vec<PeerId>,
}

impl SettingsForm {
    /// The form and fields for the settings as read (`Err`: the defaults,
    /// and a message saying why). `game_dir_now` is the worker's, shown when
    /// none is saved.
    pub fn open(loaded: Result<Settings, SettingsError>, game_dir_now: Option<&str>) -> (SettingsForm, Fields, String) {
        let (loaded, error) = match loaded {
            Ok(loaded) => (loaded, String::new()),
            Err(e) => (Settings::default(), format!("The saved settings could not be read ({e}); showing defaults.")),
        };
        let game_dir = loaded.game_dir.as_ref().map(|p| p.display().to_string()).or(game_dir_now.map(str::to_owned));
        let fields = Fields {
            game_dir: game_dir.unwrap_or_default(),
            catalog: loaded.catalog.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            auto_install: loaded.auto_install,
            party_key: loaded.party_key.clone().unwrap_or_default(),
            auto_install_untrusted: loaded.auto_install_untrusted,
            max_download: rate_text(loaded.max_download),
            max_upload: rate_text(loaded.max_upload),
            max_upload_per_peer: rate_text(loaded.max_upload_per_peer),
        };
        let form = SettingsForm { trusted: loaded.trusted_ids(), peers: loaded.peers };
        (form, fields, error)
    }

    pub fn add_peer(&mut self, text: &str) -> Result<(), InputError> {
        let peer = validate_peer(text)?;
        if !self.peers.contains(&peer) {
            self.peers.push(peer);
        }
        Ok(())
    }

    pub fn add_trusted(&mut self, text: &str) -> Result<(), InputError> {
        let peer = validate_peer_id(text)?;
        if !self.trusted.contains(&peer) {
            self.trusted.push(peer);
        }
        Ok(())
    }

    /// Removes the row a list's Remove button names, if it is there.
    pub fn remove_peer(&mut self, index: i32) {
        remove_at(&mut self.peers, index);
    }

    pub fn remove_trusted(&mut self, index: i32) {
        remove_at(&mut self.trusted, index);
    }

    pub fn trusted_lines(&self, view: &ViewState) -> Vec<TrustedLine> {
        let online = |peer: &PeerId| view.peers().any(|p| p.peer_id == *peer);
        self.trusted
            .iter()
            .map(|peer| TrustedLine {
                short: peer.short(),
                name: if online(peer) { view.peer_name(peer) } else { "offline".into() },
            })
            .collect()
    }

    /// The settings to save, every field checked (the game directory
    /// against the disk: call it off the UI thread).
    pub fn checked(&self, fields: &Fields) -> Result<Settings, InputError> {
        Ok(Settings {
            game_dir: Some(validate_game_dir(&fields.game_dir)?),
            peers: self.peers.clone(),
            catalog: validate_catalog(&fields.catalog)?,
            auto_install: fields.auto_install,
            party_key: validate_party_key(&fields.party_key)?,
            trusted: self.trusted.iter().map(ToString::to_string).collect(),
            auto_install_untrusted: fields.auto_install_untrusted,
            max_download: validate_rate("Download limit", &fields.max_download)?,
            max_upload: validate_rate("Upload limit", &fields.max_upload)?,
            max_upload_per_peer: validate_rate("Upload limit per PC", &fields.max_upload_per_peer)?,
        })
    }
}

/// Why the settings were not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("{0}")]
    Input(#[from] InputError),
    #[error("Cannot save: {0}")]
    File(#[from] SettingsError),
}

/// Settings just written, and the peers they added to the file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub settings: Settings,
    pub added_peers: Vec<String>,
}

/// Checks the form and writes `file` (for a helper thread).
pub fn save(form: &SettingsForm, fields: &Fields, file: &Path) -> Result<Saved, SaveError> {
    let settings = form.checked(fields)?;
    let before = Settings::load(file).map(|s| s.peers).unwrap_or_default();
    settings.save(file)?;
    let added_peers = settings.peers.iter().filter(|p| !before.contains(p)).cloned().collect();
    Ok(Saved { settings, added_peers })
}

/// Reads the settings file (for a helper thread).
pub fn load(file: &Path) -> Result<Settings, SettingsError> {
    Settings::load(file)
}

/// What the worker is told once settings are saved: auto-install, trust
/// and new peers apply at once, the rest at the next start.
pub fn applied(saved: &Saved, file: &Path) -> (Vec<IpcCommand>, String) {
    let settings = &saved.settings;
    let mut commands = vec![
        IpcCommand::SetAutoInstall { enabled: settings.auto_install },
        settings.trust_command(),
        settings.limits_command(),
    ];
    commands.extend(saved.added_peers.iter().map(|address| IpcCommand::AddPeer { address: address.clone() }));
    let note = format!(
        "Saved to {}. Trust, limits and added PCs apply now; the game directory, removed PCs and the catalog at the \
         next start.",
        file.display()
    );
    (commands, note)
}

fn remove_at<T>(list: &mut Vec<T>, index: i32) {
    if let Ok(index) = usize::try_from(index)
        && index < list.len()
    {
        list.remove(index);
    }
}

/// Where the folder browser starts: the typed folder if it exists, else
/// its nearest existing parent, else the home folder.
pub fn browse_start(typed: &str) -> PathBuf {
    let typed = Path::new(typed.trim());
    let existing = typed.ancestors().find(|p| p.is_absolute() && p.is_dir()).map(Path::to_path_buf);
    existing
        .or_else(|| directories::UserDirs::new().map(|d| d.home_dir().to_path_buf()))
        .unwrap_or_else(|| PathBuf::from(std::path::MAIN_SEPARATOR_STR))
}

/// The folders of `dir`, hidden ones left out, by name (for a helper thread).
pub fn list_folders(dir: &Path) -> std::io::Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| lanspread_proto::path_error::annotate(dir, e))?;
    let mut folders: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|name| !name.starts_with('.'))
        .collect();
    folders.sort_by_key(|name| name.to_lowercase());
    Ok(folders)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_limits_are_typed_with_units_checked_and_applied_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.json");
        let (form, fields, _) = SettingsForm::open(Ok(Settings::default()), None);
        assert_eq!((fields.max_download.as_str(), fields.max_upload.as_str()), ("", ""), "no limit by default");
        let games = dir.path().join("games");
        let typed = Fields {
            game_dir: games.display().to_string(),
            max_download: "4MB".into(),
            max_upload: " 2 MB/s ".into(),
            max_upload_per_peer: "0".into(),
            ..fields.clone()
        };
        let saved = save(&form, &typed, &file).unwrap();
        let (commands, _) = applied(&saved, &file);
        let limits = IpcCommand::SetLimits { download: 4_000_000, upload: 2_000_000, upload_per_peer: 0 };
        assert!(commands.contains(&limits), "{commands:?}");
        let (_, reopened, _) = SettingsForm::open(Settings::load(&file), None);
        assert_eq!((reopened.max_download.as_str(), reopened.max_upload.as_str()), ("4.0MB/s", "2.0MB/s"));
        assert_eq!(reopened.max_upload_per_peer, "");

        for bad in ["fast", "4 parsecs", "-1MB", "200GB"] {
            let typed = Fields { max_upload: bad.into(), ..typed.clone() };
            let error = save(&form, &typed, &file).unwrap_err().to_string();
            assert!(error.starts_with("Upload limit: "), "{bad}: {error}");
        }
    }

    #[test]
    fn a_form_edits_its_lists_and_checks_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let broken = Settings::load(&{
            let path = dir.path().join("settings.json");
            std::fs::write(&path, "{ nope").unwrap();
            path
        });
        let (mut form, fields, error) = SettingsForm::open(broken, Some("/srv/games"));
        assert!(error.starts_with("The saved settings could not be read"), "{error}");
        assert_eq!(fields.game_dir, "/srv/games");
        assert!(fields.auto_install, "the defaults");

        form.add_peer(" 10.0.0.2:47474 ").unwrap();
        form.add_peer("10.0.0.2:47474").unwrap();
        assert_eq!(form.add_peer("10.0.0.2"), Err(InputError::NotAPeerAddress("10.0.0.2".into())));
        assert_eq!(form.peers, ["10.0.0.2:47474"]);
        form.add_trusted(&PeerId([7; 32]).to_string()).unwrap();
        assert!(form.add_trusted("abc").is_err());
        form.remove_trusted(5);
        form.remove_peer(0);
        assert!(form.peers.is_empty() && form.trusted.len() == 1);

        let games = dir.path().join("games");
        let good = Fields { game_dir: games.display().to_string(), ..fields.clone() };
        let file = dir.path().join("conf/settings.json");
        let saved = save(&form, &good, &file).unwrap();
        assert_eq!(Settings::load(&file).unwrap(), saved.settings);
        assert_eq!(saved.settings.trusted, [PeerId([7; 32]).to_string()]);
        let (commands, note) = applied(&saved, &file);
        assert_eq!(commands[0], IpcCommand::SetAutoInstall { enabled: true });
        assert!(matches!(commands[1], IpcCommand::SetTrust { .. }) && note.starts_with("Saved to "));
        let peers_added = |saved: &Saved| saved.added_peers.clone();
        assert_eq!(peers_added(&saved), form.peers, "the first save adds every peer");
        assert!(peers_added(&save(&form, &good, &file).unwrap()).is_empty(), "saving again adds none");
        let relative = Fields { game_dir: "games".into(), ..fields };
        assert!(matches!(save(&form, &relative, &file), Err(SaveError::Input(InputError::NotAbsolute(_)))));
    }

    #[test]
    fn the_command_line_s_values_in_effect_are_named() {
        assert_eq!(CommandLine::default().in_effect(), "");
        let given = CommandLine {
            game_dir: Some("/srv/games".into()),
            peers: vec!["10.0.0.2:47474".into(), "10.0.0.3:47474".into()],
            catalog: None,
        };
        let said = given.in_effect();
        assert!(said.contains("game directory /srv/games") && said.contains("2 PCs to ask"), "{said}");
    }

    #[test]
    fn the_browser_lists_visible_folders_by_name() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b", "A", ".hidden"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("file"), "x").unwrap();
        assert_eq!(list_folders(dir.path()).unwrap(), ["A", "b"]);
        assert!(list_folders(&dir.path().join("missing")).unwrap_err().to_string().contains("missing"));
        assert_eq!(browse_start(&dir.path().join("A/not/yet").display().to_string()), dir.path().join("A"));
    }
}
