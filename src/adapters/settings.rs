//! The Settings panel's adapter. The form's lists and checks live in the
//! controller; reading, checking against the disk and writing the file,
//! and listing folders for the browser, run off the UI thread.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use lanspread_app_ui::controllers::settings::{
    CommandLine, Fields, SettingsForm, applied, browse_start, list_folders, load, save,
};
use lanspread_app_ui::settings::InputError;
use slint::{ComponentHandle, SharedString};

use super::{Ui, list};
use crate::{MainWindow, SearchAdapter, SettingsAdapter, TrustedLine};

/// The panel's state beyond what the `.slint` properties hold.
#[derive(Debug)]
pub(super) struct SettingsPanel {
    file: PathBuf,
    command_line: CommandLine,
    form: RefCell<SettingsForm>,
    browse_path: RefCell<PathBuf>,
}

impl SettingsPanel {
    pub(super) fn new(file: PathBuf, command_line: CommandLine) -> Self {
        SettingsPanel { file, command_line, form: RefCell::default(), browse_path: RefCell::default() }
    }

    pub(super) fn file(&self) -> &Path {
        &self.file
    }
}

fn adapter(window: &MainWindow) -> SettingsAdapter<'_> {
    window.global::<SettingsAdapter<'_>>()
}

/// Shows the form's lists.
fn show_lists(window: &MainWindow, ui: &Ui) {
    let form = ui.settings.form.borrow();
    let peers: Vec<SharedString> = form.peers.iter().map(Into::into).collect();
    adapter(window).set_peers(list(peers));
    let lines = form.trusted_lines(&ui.view.borrow());
    let lines = lines.into_iter().map(|l| TrustedLine { short: l.short.into(), name: l.name.into() }).collect();
    adapter(window).set_trusted(list(lines));
}

fn fields(window: &MainWindow) -> Fields {
    let settings = adapter(window);
    Fields {
        game_dir: settings.get_game_dir().into(),
        catalog: settings.get_catalog().into(),
        auto_install: settings.get_auto_install(),
        party_key: settings.get_party_key().into(),
        auto_install_untrusted: settings.get_auto_install_untrusted(),
        max_download: settings.get_max_download().into(),
        max_upload: settings.get_max_upload().into(),
        max_upload_per_peer: settings.get_max_upload_per_peer().into(),
    }
}

/// Reads the settings file and shows the panel filled from it.
fn open(ui: &Rc<Ui>) {
    let file = ui.settings.file.clone();
    ui.off_thread(
        move || load(&file),
        |ui, loaded| {
            let Some(window) = ui.window.upgrade() else { return };
            let game_dir_now = ui.view.borrow().game_dir().map(str::to_owned);
            let (form, fields, error) = SettingsForm::open(loaded, game_dir_now.as_deref());
            *ui.settings.form.borrow_mut() = form;
            let settings = adapter(&window);
            settings.set_game_dir(fields.game_dir.into());
            settings.set_catalog(fields.catalog.into());
            settings.set_auto_install(fields.auto_install);
            settings.set_party_key(fields.party_key.into());
            settings.set_auto_install_untrusted(fields.auto_install_untrusted);
            settings.set_max_download(fields.max_download.into());
            settings.set_max_upload(fields.max_upload.into());
            settings.set_max_upload_per_peer(fields.max_upload_per_peer.into());
            settings.set_new_peer("".into());
            settings.set_show_party_key(false);
            settings.set_new_trusted("".into());
            show_lists(&window, ui);
            settings.set_in_effect(ui.settings.command_line.in_effect().into());
            settings.set_error(error.into());
            settings.set_note("".into());
            settings.set_browsing(false);
            settings.set_open(true);
        },
    );
}

/// Checks every field and writes the file; the worker gets auto-install
/// and trust now, the rest applies at the next start.
fn save_form(window: &MainWindow, ui: &Rc<Ui>) {
    adapter(window).set_note("".into());
    let (form, fields, file) = (ui.settings.form.borrow().clone(), fields(window), ui.settings.file.clone());
    ui.off_thread(
        move || save(&form, &fields, &file),
        |ui, saved| {
            let Some(window) = ui.window.upgrade() else { return };
            let settings = adapter(&window);
            match saved {
                Ok(saved) => {
                    let (commands, note) = applied(&saved, &ui.settings.file);
                    commands.into_iter().for_each(|command| ui.send(command));
                    ui.set_trusted(saved.settings.trusted_ids().into_iter().collect());
                    settings.set_error("".into());
                    settings.set_note(note.into());
                }
                Err(e) => settings.set_error(e.to_string().into()),
            }
        },
    );
}

/// Runs a change of the form's lists and shows the outcome; `true` when
/// the change was taken.
fn edit(window: &MainWindow, ui: &Ui, change: impl FnOnce(&mut SettingsForm) -> Result<(), InputError>) -> bool {
    let result = change(&mut ui.settings.form.borrow_mut());
    show_lists(window, ui);
    adapter(window).set_error(result.as_ref().err().map(ToString::to_string).unwrap_or_default().into());
    result.is_ok()
}

/// Lists the folders of `dir` (off the UI thread) and shows them.
fn browse_to(ui: &Rc<Ui>, dir: impl FnOnce() -> PathBuf + Send + 'static) {
    ui.off_thread(
        move || {
            let dir = dir();
            let folders = list_folders(&dir);
            (dir, folders)
        },
        |ui, (dir, folders)| {
            let Some(window) = ui.window.upgrade() else { return };
            let settings = adapter(&window);
            match folders {
                Ok(folders) => {
                    settings.set_browse_folders(list(folders.iter().map(Into::into).collect()));
                    settings.set_browse_path(dir.display().to_string().into());
                    settings.set_browsing(true);
                    settings.set_error("".into());
                    *ui.settings.browse_path.borrow_mut() = dir;
                }
                Err(e) => settings.set_error(e.to_string().into()),
            }
        },
    );
}

pub(super) fn connect(window: &MainWindow, ui: &Rc<Ui>) {
    let settings = adapter(window);
    let handler = |action: fn(&MainWindow, &Rc<Ui>)| {
        let weak = Rc::downgrade(ui);
        move || {
            if let Some(ui) = weak.upgrade()
                && let Some(window) = ui.window.upgrade()
            {
                action(&window, &ui);
            }
        }
    };
    window.global::<SearchAdapter<'_>>().on_open_settings(handler(|_, ui| open(ui)));
    settings.on_close(handler(|window, ui| {
        adapter(window).set_open(false);
        // The grid was not kept up to date under the panel.
        ui.render();
    }));
    settings.on_save(handler(save_form));
    settings.on_add_peer(handler(|window, ui| {
        let text = adapter(window).get_new_peer();
        if edit(window, ui, |form| form.add_peer(&text)) {
            adapter(window).set_new_peer("".into());
        }
    }));
    settings.on_add_trusted(handler(|window, ui| {
        let text = adapter(window).get_new_trusted();
        if edit(window, ui, |form| form.add_trusted(&text)) {
            adapter(window).set_new_trusted("".into());
        }
    }));
    settings.on_browse(handler(|window, ui| {
        let typed = adapter(window).get_game_dir().to_string();
        browse_to(ui, move || browse_start(&typed));
    }));
    settings.on_browse_up(handler(|_, ui| {
        let parent = ui.settings.browse_path.borrow().parent().map(Path::to_path_buf);
        if let Some(parent) = parent {
            browse_to(ui, move || parent);
        }
    }));
    settings.on_browse_choose(handler(|window, ui| {
        let chosen = ui.settings.browse_path.borrow().display().to_string();
        adapter(window).set_game_dir(chosen.into());
        adapter(window).set_browsing(false);
    }));
    let weak = Rc::downgrade(ui);
    settings.on_browse_into(move |name| {
        if let Some(ui) = weak.upgrade() {
            let dir = ui.settings.browse_path.borrow().join(name.as_str());
            browse_to(&ui, move || dir);
        }
    });
    settings.on_remove_trusted(remove_handler(ui, SettingsForm::remove_trusted));
    settings.on_remove_peer(remove_handler(ui, SettingsForm::remove_peer));
}

/// A list's Remove button: `remove` the row it names.
fn remove_handler(ui: &Rc<Ui>, remove: fn(&mut SettingsForm, i32)) -> impl Fn(i32) + 'static {
    let weak = Rc::downgrade(ui);
    move |index| {
        if let Some(ui) = weak.upgrade()
            && let Some(window) = ui.window.upgrade()
        {
            edit(&window, &ui, |form| {
                remove(form, index);
                Ok(())
            });
        }
    }
}
