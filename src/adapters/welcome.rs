//! The first-run panel's adapter.

use std::path::PathBuf;
use std::rc::Rc;

use lanspread_app_ui::controllers::library::{add_pc, welcome};
use lanspread_app_ui::settings::Settings;
use lanspread_app_ui::view::ViewState;
use lanspread_proto::ipc::IpcCommand;
use slint::ComponentHandle;

use super::{Ui, with_ui};
use crate::{MainWindow, WelcomeAdapter};

pub(super) fn show(window: &MainWindow, view: &ViewState) {
    let adapter = window.global::<WelcomeAdapter<'_>>();
    let game_dir = welcome(view);
    adapter.set_show(game_dir.is_some());
    adapter.set_game_dir(game_dir.unwrap_or_default().into());
}

fn tell(ui: &Ui, message: String, is_error: bool) {
    if let Some(window) = ui.window.upgrade() {
        let adapter = window.global::<WelcomeAdapter<'_>>();
        adapter.set_message(message.into());
        adapter.set_message_is_error(is_error);
    }
}

pub(super) fn connect(window: &MainWindow, ui: &Rc<Ui>) {
    let adapter = window.global::<WelcomeAdapter<'_>>();
    adapter.on_add_pc(with_ui(ui, |ui| {
        let Some(window) = ui.window.upgrade() else { return };
        let text = window.global::<WelcomeAdapter<'_>>().get_address();
        match add_pc(&text) {
            Ok(command) => {
                let IpcCommand::AddPeer { address } = &command else { return };
                let (file, address) = (ui.settings.file().to_owned(), address.clone());
                tell(ui, format!("Looking for {address}… It is also kept in Settings for the next start."), false);
                ui.send(command);
                ui.off_thread(
                    move || Settings::remember_peer(&file, &address),
                    |ui, saved| {
                        if let Err(e) = saved {
                            tell(ui, format!("The PC is asked now, but not kept for the next start: {e}"), true);
                        }
                    },
                );
            }
            Err(e) => tell(ui, e.to_string(), true),
        }
    }));
    adapter.on_open_game_dir(with_ui(ui, |ui| {
        let Some(game_dir) = ui.view.borrow().game_dir().map(PathBuf::from) else { return };
        ui.off_thread(
            move || lanspread_app_ui::files::open_game_dir(&game_dir),
            |ui, opened| {
                if let Err(e) = opened {
                    tell(ui, e.to_string(), true);
                }
            },
        );
    }));
}
