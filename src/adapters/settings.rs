//! The Settings panel: load, check and save the settings file, and a small
//! folder browser for picking the game directory.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use lanspread_app_ui::settings::{
    Settings, validate_catalog, validate_game_dir, validate_party_key, validate_peer, validate_peer_id,
};
use lanspread_proto::PeerId;
use lanspread_proto::ipc::IpcCommand;
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use super::Ui;
use crate::{MainWindow, SearchAdapter, SettingsAdapter, TrustedLine};

/// The panel's state beyond what the `.slint` properties hold.
#[derive(Debug)]
pub(super) struct SettingsPanel {
    file: PathBuf,
    peers: RefCell<Vec<String>>,
    /// The trusted peers being edited.
    trusted: RefCell<Vec<PeerId>>,
    browse_path: RefCell<PathBuf>,
}

impl SettingsPanel {
    pub(super) fn new(file: PathBuf) -> Self {
        SettingsPanel { file, peers: RefCell::default(), trusted: RefCell::default(), browse_path: RefCell::default() }
    }

    pub(super) fn file(&self) -> &Path {
        &self.file
    }
}

fn adapter(window: &MainWindow) -> SettingsAdapter<'_> {
    window.global::<SettingsAdapter<'_>>()
}

fn set_peers(window: &MainWindow, peers: &[String]) {
    let model: Vec<SharedString> = peers.iter().map(Into::into).collect();
    adapter(window).set_peers(ModelRc::from(Rc::new(VecModel::from(model))));
}

fn set_trusted(window: &MainWindow, ui: &Ui, trusted: &[PeerId]) {
    let view = ui.view.borrow();
    let online = |peer: &PeerId| view.peers().any(|p| p.peer_id == *peer);
    let lines: Vec<TrustedLine> = trusted
        .iter()
        .map(|peer| TrustedLine {
            short: peer.short().into(),
            name: if online(peer) { view.peer_name(peer) } else { "offline".into() }.into(),
        })
        .collect();
    adapter(window).set_trusted(ModelRc::from(Rc::new(VecModel::from(lines))));
}

/// Fills the panel from the settings file and shows it.
fn open(window: &MainWindow, ui: &Ui, game_dir_now: Option<&str>) {
    let panel = &ui.settings;
    let settings = adapter(window);
    let (loaded, error) = match Settings::load(&panel.file) {
        Ok(loaded) => (loaded, String::new()),
        Err(e) => (Settings::default(), format!("The saved settings could not be read ({e}); showing defaults.")),
    };
    let game_dir = loaded.game_dir.as_ref().map(|p| p.display().to_string()).or(game_dir_now.map(str::to_owned));
    settings.set_game_dir(game_dir.unwrap_or_default().into());
    settings.set_catalog(loaded.catalog.as_ref().map(|p| p.display().to_string()).unwrap_or_default().into());
    settings.set_auto_install(loaded.auto_install);
    settings.set_new_peer("".into());
    set_peers(window, &loaded.peers);
    settings.set_party_key(loaded.party_key.clone().unwrap_or_default().into());
    settings.set_show_party_key(false);
    settings.set_new_trusted("".into());
    settings.set_auto_install_untrusted(loaded.auto_install_untrusted);
    let trusted = loaded.trusted_ids();
    set_trusted(window, ui, &trusted);
    *panel.trusted.borrow_mut() = trusted;
    *panel.peers.borrow_mut() = loaded.peers;
    settings.set_error(error.into());
    settings.set_note("".into());
    settings.set_browsing(false);
    settings.set_open(true);
}

/// Checks every field and writes the file; the worker gets auto-install
/// and trust now, the rest applies at the next start.
fn save(window: &MainWindow, ui: &Ui) {
    let settings = adapter(window);
    settings.set_note("".into());
    let checked = validate_game_dir(&settings.get_game_dir()).and_then(|game_dir| {
        Ok((game_dir, validate_catalog(&settings.get_catalog())?, validate_party_key(&settings.get_party_key())?))
    });
    let (game_dir, catalog, party_key) = match checked {
        Ok(fields) => fields,
        Err(e) => return settings.set_error(e.to_string().into()),
    };
    let new = Settings {
        game_dir: Some(game_dir),
        peers: ui.settings.peers.borrow().clone(),
        catalog,
        auto_install: settings.get_auto_install(),
        party_key,
        trusted: ui.settings.trusted.borrow().iter().map(ToString::to_string).collect(),
        auto_install_untrusted: settings.get_auto_install_untrusted(),
    };
    match new.save(&ui.settings.file) {
        Ok(()) => {
            ui.send(IpcCommand::SetAutoInstall { enabled: new.auto_install });
            ui.send(new.trust_command());
            ui.set_trusted(new.trusted_ids().into_iter().collect());
            settings.set_error("".into());
            settings.set_note(
                format!(
                    "Saved to {}. Trust applies now; the game directory, peers and catalog at the next start.",
                    ui.settings.file.display()
                )
                .into(),
            );
        }
        Err(e) => settings.set_error(format!("Cannot save: {e}").into()),
    }
}

/// Removes the row a list's Remove button names, if it is there.
fn remove_at<T>(list: &mut Vec<T>, index: i32) {
    if let Ok(index) = usize::try_from(index)
        && index < list.len()
    {
        list.remove(index);
    }
}

fn add_trusted(window: &MainWindow, ui: &Ui) {
    let settings = adapter(window);
    match validate_peer_id(&settings.get_new_trusted()) {
        Ok(peer) => {
            let mut trusted = ui.settings.trusted.borrow_mut();
            if !trusted.contains(&peer) {
                trusted.push(peer);
            }
            set_trusted(window, ui, &trusted);
            settings.set_new_trusted("".into());
            settings.set_error("".into());
        }
        Err(e) => settings.set_error(e.to_string().into()),
    }
}

fn add_peer(window: &MainWindow, panel: &SettingsPanel) {
    let settings = adapter(window);
    match validate_peer(&settings.get_new_peer()) {
        Ok(peer) => {
            let mut peers = panel.peers.borrow_mut();
            if !peers.contains(&peer) {
                peers.push(peer);
            }
            set_peers(window, &peers);
            settings.set_new_peer("".into());
            settings.set_error("".into());
        }
        Err(e) => settings.set_error(e.to_string().into()),
    }
}

/// Lists the folders of `dir` (hidden ones left out) in the browser.
fn browse_to(window: &MainWindow, panel: &SettingsPanel, dir: PathBuf) {
    let settings = adapter(window);
    let mut folders: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|name| !name.starts_with('.'))
            .collect(),
        Err(e) => return settings.set_error(format!("{}: {e}", dir.display()).into()),
    };
    folders.sort_by_key(|name| name.to_lowercase());
    let model: Vec<SharedString> = folders.iter().map(Into::into).collect();
    settings.set_browse_folders(ModelRc::from(Rc::new(VecModel::from(model))));
    settings.set_browse_path(dir.display().to_string().into());
    settings.set_browsing(true);
    settings.set_error("".into());
    *panel.browse_path.borrow_mut() = dir;
}

/// Where the browser starts: the typed folder if it exists, else its
/// nearest existing parent, else the home folder.
fn browse_start(typed: &str) -> PathBuf {
    let typed = Path::new(typed.trim());
    let existing = typed.ancestors().find(|p| p.is_absolute() && p.is_dir()).map(Path::to_path_buf);
    existing
        .or_else(|| directories::UserDirs::new().map(|d| d.home_dir().to_path_buf()))
        .unwrap_or_else(|| PathBuf::from(std::path::MAIN_SEPARATOR_STR))
}

pub(super) fn connect(window: &MainWindow, ui: &Rc<Ui>) {
    let settings = adapter(window);
    let handler = |action: fn(&MainWindow, &Ui)| {
        let weak = Rc::downgrade(ui);
        move || {
            if let Some(ui) = weak.upgrade()
                && let Some(window) = ui.window.upgrade()
            {
                action(&window, &ui);
            }
        }
    };
    window.global::<SearchAdapter<'_>>().on_open_settings(handler(|window, ui| {
        let game_dir = ui.view.borrow().game_dir().map(str::to_owned);
        open(window, ui, game_dir.as_deref());
    }));
    settings.on_add_trusted(handler(add_trusted));
    settings.on_close(handler(|window, _| adapter(window).set_open(false)));
    settings.on_save(handler(save));
    settings.on_add_peer(handler(|window, ui| add_peer(window, &ui.settings)));
    settings.on_browse(handler(|window, ui| {
        browse_to(window, &ui.settings, browse_start(&adapter(window).get_game_dir()));
    }));
    settings.on_browse_up(handler(|window, ui| {
        let parent = ui.settings.browse_path.borrow().parent().map(Path::to_path_buf);
        if let Some(parent) = parent {
            browse_to(window, &ui.settings, parent);
        }
    }));
    settings.on_browse_choose(handler(|window, ui| {
        let chosen = ui.settings.browse_path.borrow().display().to_string();
        adapter(window).set_game_dir(chosen.into());
        adapter(window).set_browsing(false);
    }));
    let weak = Rc::downgrade(ui);
    settings.on_browse_into(move |name| {
        if let Some(ui) = weak.upgrade()
            && let Some(window) = ui.window.upgrade()
        {
            let dir = ui.settings.browse_path.borrow().join(name.as_str());
            browse_to(&window, &ui.settings, dir);
        }
    });
    let weak = Rc::downgrade(ui);
    settings.on_remove_trusted(move |index| {
        if let Some(ui) = weak.upgrade()
            && let Some(window) = ui.window.upgrade()
        {
            let mut trusted = ui.settings.trusted.borrow_mut();
            remove_at(&mut trusted, index);
            set_trusted(&window, &ui, &trusted);
        }
    });
    let weak = Rc::downgrade(ui);
    settings.on_remove_peer(move |index| {
        if let Some(ui) = weak.upgrade()
            && let Some(window) = ui.window.upgrade()
        {
            let mut peers = ui.settings.peers.borrow_mut();
            remove_at(&mut peers, index);
            set_peers(&window, &peers);
        }
    });
}
