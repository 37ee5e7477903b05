//! The window's adapters: fill the `.slint` globals from the view state and
//! serve their callbacks. The UI thread only copies state into properties
//! and hands requests to the sink; anything slow runs elsewhere.

mod detail;
mod library;
mod peers;
mod settings;
mod status;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::rc::Rc;

use lanspread_app_ui::view::{Filter, ViewState};
use lanspread_proto::PeerId;
use lanspread_proto::ipc::IpcCommand;
use slint::ComponentHandle;

use crate::{DetailAdapter, LibraryAdapter, MainWindow, SearchAdapter, StatusAdapter};

/// What the window asks of the rest of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiRequest {
    /// Send this to the worker.
    Command(IpcCommand),
    /// Start the worker again after the crash loop.
    Retry,
}

/// The window's state on the UI thread.
pub struct Ui {
    window: slint::Weak<MainWindow>,
    view: RefCell<ViewState>,
    /// The game whose detail view is open.
    detail: RefCell<Option<String>>,
    detail_message: RefCell<String>,
    free_space: Cell<Option<u64>>,
    sink: Box<dyn Fn(UiRequest)>,
    settings: settings::SettingsPanel,
    /// The peers trusted in the settings, for the Trust buttons.
    trusted: RefCell<BTreeSet<PeerId>>,
}

impl std::fmt::Debug for Ui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ui").field("detail", &self.detail).finish_non_exhaustive()
    }
}

/// Binds the window's callbacks; requests go to `sink`. `settings_file` is
/// where the Settings panel saves; `trusted` the peers trusted in it.
pub fn connect(
    window: &MainWindow,
    settings_file: PathBuf,
    trusted: BTreeSet<PeerId>,
    sink: impl Fn(UiRequest) + 'static,
) -> Rc<Ui> {
    let ui = Rc::new(Ui {
        window: window.as_weak(),
        view: RefCell::new(ViewState::default()),
        detail: RefCell::new(None),
        detail_message: RefCell::new(String::new()),
        free_space: Cell::new(None),
        trusted: RefCell::new(trusted),
        sink: Box::new(sink),
        settings: settings::SettingsPanel::new(settings_file),
    });
    library::connect(window, &ui);
    detail::connect(window, &ui);
    peers::connect(window, &ui);
    settings::connect(window, &ui);
    window.global::<SearchAdapter<'_>>().on_changed(with_ui(&ui, |ui| ui.render()));
    window.global::<StatusAdapter<'_>>().on_retry(with_ui(&ui, |ui| (ui.sink)(UiRequest::Retry)));
    ui.render();
    ui
}

impl Ui {
    /// Shows a new view state.
    pub fn update(&self, view: ViewState) {
        *self.view.borrow_mut() = view;
        self.render();
    }

    /// Free space on the game directory's disk, measured off the UI thread.
    pub fn set_free_space(&self, bytes: Option<u64>) {
        self.free_space.set(bytes);
        self.render();
    }

    /// The trusted peers changed (in the settings, or with a Trust button).
    fn set_trusted(&self, trusted: BTreeSet<PeerId>) {
        *self.trusted.borrow_mut() = trusted;
        self.render();
    }

    fn send(&self, command: IpcCommand) {
        (self.sink)(UiRequest::Command(command));
    }

    fn filter(window: &MainWindow) -> Filter {
        match window.global::<SearchAdapter<'_>>().get_filter() {
            1 => Filter::OnThisPc,
            2 => Filter::OnNetwork,
            _ => Filter::All,
        }
    }

    fn render(&self) {
        let Some(window) = self.window.upgrade() else { return };
        let view = self.view.borrow();
        let query = window.global::<SearchAdapter<'_>>().get_query();
        library::show(&window, &view, Self::filter(&window), &query);
        status::show(&window, &view, self.free_space.get());
        let trusted = self.trusted.borrow();
        peers::show(&window, &view, &trusted);
        detail::show(&window, &view, &trusted, self.detail.borrow().as_deref(), &self.detail_message.borrow());
    }

    /// Carries out the main action of `id`'s card (and detail view) for the
    /// state it is in now.
    fn act(self: &Rc<Self>, id: &str) {
        let action = self.view.borrow().row_of(id).and_then(|row| row.action());
        match action.map(|action| action.command(id)) {
            Some(Some(command)) => self.send(command),
            Some(None) => self.view_files(id),
            None => {}
        }
    }

    /// Opens the game's folder from a helper thread; a refusal shows in the
    /// detail view (or the status line).
    fn view_files(self: &Rc<Self>, id: &str) {
        let Some(game_dir) = self.view.borrow().game_dir().map(PathBuf::from) else {
            self.show_message("The worker has not reported its game directory yet.".into());
            return;
        };
        let weak = self.window.clone();
        let id = id.to_owned();
        std::thread::spawn(move || {
            if let Err(e) = lanspread_app_ui::files::view_files(&game_dir, &id) {
                let message = e.to_string();
                let _ = weak.upgrade_in_event_loop(move |window| {
                    window.global::<DetailAdapter<'_>>().set_message(message.clone().into());
                    window.global::<StatusAdapter<'_>>().set_message(message.into());
                });
            }
        });
    }

    fn show_message(&self, message: String) {
        *self.detail_message.borrow_mut() = message;
        self.render();
    }
}

/// A callback that runs `action` with the UI while it lives. Callbacks hold
/// the UI weakly: the window owns them and the UI owns the window.
fn with_ui(ui: &Rc<Ui>, action: impl Fn(&Rc<Ui>) + 'static) -> impl Fn() + 'static {
    let weak = Rc::downgrade(ui);
    move || {
        if let Some(ui) = weak.upgrade() {
            action(&ui);
        }
    }
}

/// Like [`with_ui`], for callbacks that name a game.
fn with_game(ui: &Rc<Ui>, action: impl Fn(&Rc<Ui>, &str) + 'static) -> impl Fn(slint::SharedString) + 'static {
    let weak = Rc::downgrade(ui);
    move |id| {
        if let Some(ui) = weak.upgrade() {
            action(&ui, &id);
        }
    }
}

/// How much of an operation is done, 0 to 1, for the progress bars.
fn fraction(done: u64, total: u64) -> f32 {
    if total == 0 { 0.0 } else { (done as f64 / total as f64).clamp(0.0, 1.0) as f32 }
}

fn library_adapter(window: &MainWindow) -> LibraryAdapter<'_> {
    window.global::<LibraryAdapter<'_>>()
}
