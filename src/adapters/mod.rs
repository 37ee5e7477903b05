//! The window's adapters: copy the controllers' models (from
//! `lanspread_app_ui::controllers`) into the `.slint` globals, and turn the
//! globals' callbacks into controller calls and requests. No decision is
//! made here, and nothing slow runs on the UI thread: reading and writing
//! files goes to a helper thread ([`Background`]).

mod art;
mod detail;
mod library;
mod peers;
mod settings;
mod status;
mod welcome;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::rc::Rc;

use lanspread_app_ui::controllers::detail::DetailController;
use lanspread_app_ui::controllers::library::{
    self as library_controller, Act, Card, Filter, RowChanges, Sort, row_changes,
};
use lanspread_app_ui::controllers::peers::PeerLine;
use lanspread_app_ui::memory::{Remembered, WindowPlace, memory_file};
use lanspread_app_ui::view::ViewState;
use lanspread_proto::PeerId;
use lanspread_proto::ipc::IpcCommand;
use slint::{ComponentHandle, ModelRc, VecModel};

use crate::{MainWindow, SearchAdapter, StatusAdapter};

/// What the window asks of the rest of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiRequest {
    /// Send this to the worker.
    Command(IpcCommand),
    /// Start the worker again after the crash loop.
    Retry,
}

/// Where the window's file work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    /// On one helper thread, one job after another (so two saves of the
    /// settings never race); each result comes back through the event loop.
    Threads,
    /// At once, on the calling thread: for tests that run the window
    /// without an event loop.
    Inline,
}

/// How the window starts.
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// Where the Settings panel saves.
    pub settings_file: PathBuf,
    /// The peers trusted in the saved settings, for the Trust buttons.
    pub trusted: BTreeSet<PeerId>,
    /// What the command line set for this run.
    pub command_line: lanspread_app_ui::controllers::settings::CommandLine,
    /// What the window remembered from the last run.
    pub remembered: Remembered,
    pub background: Background,
}

/// The window's state on the UI thread.
pub struct Ui {
    window: slint::Weak<MainWindow>,
    view: RefCell<ViewState>,
    cards: ShownList<Card, crate::GameCard>,
    peer_lines: ShownList<PeerLine, crate::PeerLine>,
    detail_peers: ShownList<PeerLine, crate::PeerLine>,
    detail_speeds: ShownList<(String, String), crate::PeerSpeedLine>,
    detail: RefCell<DetailController>,
    free_space: Cell<Option<u64>>,
    sink: Box<dyn Fn(UiRequest)>,
    settings: settings::SettingsPanel,
    trusted: RefCell<BTreeSet<PeerId>>,
    /// The helper thread's job queue; `None`: jobs run inline.
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    /// Cover pictures, decoded.
    art: art::ArtShelf,

    /// Games started with Play, until they exit.
    running: RefCell<BTreeMap<String, std::process::Child>>,
    /// Looks whether running games exited, while any runs.
    running_poll: slint::Timer,
    /// What the window remembers between runs; kept beside the settings.
    remembered: RefCell<Remembered>,
    memory_file: PathBuf,
}

/// How often running games are checked for having exited.
const RUNNING_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// A piece of file work for the helper thread.
type Job = Box<dyn FnOnce() + Send>;

/// Starts the helper thread that runs the window's file work in order.
fn helper_thread() -> Option<std::sync::mpsc::Sender<Job>> {
    let (jobs, queue) = std::sync::mpsc::channel::<Job>();
    let started = std::thread::Builder::new().name("lanspread-files".into()).spawn(move || {
        for job in queue {
            job();
        }
    });
    match started {
        Ok(_) => Some(jobs),
        Err(e) => {
            tracing::warn!("cannot start the helper thread ({e}); file work runs on the UI thread");
            None
        }
    }
}

impl std::fmt::Debug for Ui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ui").field("detail", &self.detail).finish_non_exhaustive()
    }
}

/// Binds the window's callbacks; requests go to `sink`.
pub fn connect(window: &MainWindow, config: UiConfig, sink: impl Fn(UiRequest) + 'static) -> Rc<Ui> {
    let ui = Rc::new(Ui {
        window: window.as_weak(),
        view: RefCell::new(ViewState::default()),
        cards: ShownList::default(),
        peer_lines: ShownList::default(),
        detail_peers: ShownList::default(),
        detail_speeds: ShownList::default(),
        detail: RefCell::default(),
        free_space: Cell::new(None),
        trusted: RefCell::new(config.trusted),
        sink: Box::new(sink),
        memory_file: memory_file(&config.settings_file),
        remembered: RefCell::new(config.remembered),
        settings: settings::SettingsPanel::new(config.settings_file, config.command_line),
        jobs: match config.background {
            Background::Threads => helper_thread(),
            Background::Inline => None,
        },
        art: art::ArtShelf::default(),

        running: RefCell::default(),
        running_poll: slint::Timer::default(),
    });
    art::connect(window, &ui);
    library::connect(window, &ui);
    detail::connect(window, &ui);
    peers::connect(window, &ui);
    settings::connect(window, &ui);
    welcome::connect(window, &ui);
    let search = window.global::<SearchAdapter<'_>>();
    search.on_changed(with_ui(&ui, |ui| ui.render()));
    search.on_starts_search(|key| library_controller::starts_search(&key));
    search.on_open_first(with_ui(&ui, |ui| {
        let first = ui.cards.shown.borrow().first().map(|card| card.id.clone());
        if let Some(id) = first {
            ui.open_detail(&id);
        }
    }));
    window.global::<StatusAdapter<'_>>().on_retry(with_ui(&ui, |ui| (ui.sink)(UiRequest::Retry)));
    ui.render();
    ui
}

impl Ui {
    /// Shows a new view state.
    pub fn update(self: &Rc<Self>, view: ViewState) {
        self.take_view(view);
        self.render();
        self.refresh_disk_use();
    }

    /// Shows a new view state in which only progress and speeds changed:
    /// the status bar, the open detail view, and the cards of the games
    /// with an operation (not while a panel covers the grid), without
    /// building every card again.
    pub fn update_progress(&self, view: ViewState) {
        self.take_view(view);
        if self.show_status_and_detail() {
            // Drawn dimmed under the panel; brought up to date when it closes.
            return;
        }
        let view = self.view.borrow();
        for id in view.operation_ids() {
            if let Some(row) = view.row_of(id) {
                self.cards.replace(Card::of(&row), |c| c.id == id, library::card);
            }
        }
    }

    /// Takes a view from the app loop, with what only the window knows.
    fn take_view(&self, view: ViewState) {
        *self.view.borrow_mut() = view;
        self.sync_window_facts();
    }

    /// Tells the view what only the window knows: the games it started that
    /// still run, and when games were played (on a new view, and when
    /// either changes).
    fn sync_window_facts(&self) {
        let mut view = self.view.borrow_mut();
        view.set_running(self.running.borrow().keys().cloned().collect());
        view.set_played(self.remembered.borrow().played.clone());
    }

    /// Shows the status bar and the detail view (if open); says whether a
    /// panel covers the grid.
    fn show_status_and_detail(&self) -> bool {
        let Some(window) = self.window.upgrade() else { return false };
        let view = self.view.borrow();
        status::show(&window, &lanspread_app_ui::controllers::status::status(&view, self.free_space.get()));
        let detail = self.detail.borrow().model(&view, &self.trusted.borrow());
        let covered = detail.is_some()
            || window.global::<crate::SettingsAdapter<'_>>().get_open()
            || window.global::<crate::PeersAdapter<'_>>().get_open();
        detail::show(&window, self, detail);
        covered
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
            crate::Filter::OnThisPc => Filter::OnThisPc,
            crate::Filter::OnNetwork => Filter::OnNetwork,
            crate::Filter::All => Filter::All,
        }
    }

    fn sort(window: &MainWindow) -> Sort {
        match window.global::<SearchAdapter<'_>>().get_sort() {
            crate::Sort::ReadyFirst => Sort::ReadyFirst,
            crate::Sort::Name => Sort::Name,
            crate::Sort::Size => Sort::Size,
            crate::Sort::RecentlyPlayed => Sort::RecentlyPlayed,
        }
    }

    fn render(&self) {
        let Some(window) = self.window.upgrade() else { return };
        let view = self.view.borrow();
        let query = window.global::<SearchAdapter<'_>>().get_query();
        let search = window.global::<SearchAdapter<'_>>();
        let cards = library_controller::cards(&view, Self::filter(&window), &query, Self::sort(&window));
        search.set_count(library_controller::count_label(cards.len(), view.game_count()).into());
        self.cards.show(cards, |c| c.id.clone(), library::card);
        welcome::show(&window, &view);
        let lines = lanspread_app_ui::controllers::peers::lines(&view, &self.trusted.borrow());
        self.peer_lines.show(lines, |l| l.id.clone(), peers::line);
        drop(view);
        self.show_status_and_detail();
    }

    /// Opens `id`'s detail view (asking the peers who has it, and
    /// measuring what it takes on disk).
    fn open_detail(self: &Rc<Self>, id: &str) {
        let ask = self.detail.borrow_mut().open(&self.view.borrow(), id);
        if let Some(command) = ask {
            self.send(command);
        }
        self.refresh_disk_use();
        self.render();
    }

    /// Measures what the open game takes on disk, off the UI thread, and
    /// asks the worker what installing it would take, when the detail
    /// controller says the figures are due.
    fn refresh_disk_use(self: &Rc<Self>) {
        let Some(check) = self.detail.borrow_mut().disk_check(&self.view.borrow()) else { return };
        if check.estimate {
            self.send(IpcCommand::EstimateInstall { id: check.id.clone() });
        }
        let Some(game_dir) = self.view.borrow().game_dir().map(PathBuf::from) else { return };
        let (id, measured) = (check.id.clone(), check.id);
        self.off_thread(
            move || lanspread_app_ui::disk::disk_use(&game_dir, &measured),
            move |ui, usage| {
                // A game with no folder here takes nothing: no line.
                let usage = usage.unwrap_or_default();
                ui.detail.borrow_mut().set_disk_use(&id, usage);
                ui.show_status_and_detail();
            },
        );
    }

    /// Carries out the main action of `id`'s card (and detail view) for the
    /// state it is in now.
    fn act(self: &Rc<Self>, id: &str) {
        let act = library_controller::act(&self.view.borrow(), id);
        match act {
            Some(Act::Send(command)) => self.send(command),
            Some(Act::Play) => self.play(id),
            None => {}
        }
    }

    /// Starts the installed game (checked and started off the UI thread);
    /// its card says Running until it exits, and a refusal shows in the
    /// detail view and the status line.
    fn play(self: &Rc<Self>, id: &str) {
        let Some(game_dir) = self.view.borrow().game_dir().map(PathBuf::from) else {
            self.tell("The worker has not reported its game directory yet.".into());
            return;
        };
        let (id, catalog) = (id.to_owned(), self.view.borrow().launch_commands(id));
        let job_id = id.clone();
        let start = move || {
            let launch = lanspread_app_ui::launch::plan(&game_dir, &job_id, &catalog)?;
            lanspread_app_ui::launch::start(&launch)
        };
        self.off_thread(start, move |ui, started| match started {
            Ok(child) => {
                ui.remembered.borrow_mut().played_now(&id);
                ui.save_remembered();
                ui.running.borrow_mut().insert(id, child);
                ui.sync_window_facts();
                ui.watch_running();
                ui.render();
            }
            Err(e) => ui.tell(e.to_string()),
        });
    }

    /// Checks the running games every [`RUNNING_POLL`] (a non-blocking look
    /// at each process) while any runs.
    fn watch_running(self: &Rc<Self>) {
        if self.running_poll.running() {
            return;
        }
        let weak = Rc::downgrade(self);
        self.running_poll.start(slint::TimerMode::Repeated, RUNNING_POLL, move || {
            let Some(ui) = weak.upgrade() else { return };
            let exited = {
                let mut running = ui.running.borrow_mut();
                let before = running.len();
                running.retain(|_, child| matches!(child.try_wait(), Ok(None)));
                running.len() != before
            };
            if ui.running.borrow().is_empty() {
                ui.running_poll.stop();
            }
            if exited {
                ui.sync_window_facts();
                ui.render();
            }
        });
    }

    /// Opens the game's folder; a refusal shows in the detail view and the
    /// status line.
    fn view_files(self: &Rc<Self>, id: &str) {
        let Some(game_dir) = self.view.borrow().game_dir().map(PathBuf::from) else {
            self.tell("The worker has not reported its game directory yet.".into());
            return;
        };
        let id = id.to_owned();
        self.off_thread(
            move || lanspread_app_ui::files::view_files(&game_dir, &id),
            |ui, opened| {
                if let Err(e) = opened {
                    ui.tell(e.to_string());
                }
            },
        );
    }

    /// Writes what the window remembers, off the UI thread.
    fn save_remembered(self: &Rc<Self>) {
        let (remembered, path) = (self.remembered.borrow().clone(), self.memory_file.clone());
        self.off_thread(
            move || remembered.save(&path),
            |_, saved| {
                if let Err(e) = saved {
                    tracing::warn!("{e}");
                }
            },
        );
    }

    /// Notes where the window is (when it closes), for the next run.
    pub fn remember_window(&self, place: WindowPlace) {
        self.remembered.borrow_mut().window = Some(place);
    }

    /// What the window remembers, and where it keeps it.
    pub fn remembered(&self) -> (Remembered, PathBuf) {
        (self.remembered.borrow().clone(), self.memory_file.clone())
    }

    /// Shows `message` in the detail view and the status line.
    fn tell(&self, message: String) {
        let message = lanspread_proto::os_error::readable(&message).into_owned();
        if let Some(window) = self.window.upgrade() {
            window.global::<StatusAdapter<'_>>().set_message(message.clone().into());
        }
        self.detail.borrow_mut().tell(message);
        self.render();
    }

    /// Runs `job` off the UI thread (see [`Background`]), then `then` with
    /// its result on the UI thread, while the window lives.
    fn off_thread<T: Send + 'static>(
        self: &Rc<Self>,
        job: impl FnOnce() -> T + Send + 'static,
        then: impl FnOnce(&Rc<Ui>, T) + 'static,
    ) {
        match &self.jobs {
            None => then(self, job()),
            Some(jobs) => {
                let (done, result) = tokio::sync::oneshot::channel();
                if jobs.send(Box::new(move || drop(done.send(job())))).is_err() {
                    tracing::warn!("the helper thread is gone; file work is dropped");
                    return;
                }
                let weak = Rc::downgrade(self);
                let spawned = slint::spawn_local(async move {
                    if let (Ok(result), Some(ui)) = (result.await, weak.upgrade()) {
                        then(&ui, result);
                    }
                });
                if let Err(e) = spawned {
                    tracing::warn!("cannot wait for a helper thread: {e}");
                }
            }
        }
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

/// A Slint colour of an RGB triple.
fn color([r, g, b]: [u8; 3]) -> slint::Color {
    slint::Color::from_rgb_u8(r, g, b)
}

/// A Slint list of `items`.
fn list<T: Clone + 'static>(items: Vec<T>) -> ModelRc<T> {
    ModelRc::from(Rc::new(VecModel::from(items)))
}

/// A list the window shows for its whole life (the grid's cards, peer
/// lines): one Slint model, changed row by row, so an update redraws only
/// the rows it changed.
pub(crate) struct ShownList<T, S: 'static> {
    shown: RefCell<Vec<T>>,
    model: Rc<VecModel<S>>,
}

impl<T, S: Clone + 'static> Default for ShownList<T, S> {
    fn default() -> Self {
        ShownList { shown: RefCell::default(), model: Rc::new(VecModel::default()) }
    }
}

impl<T, S> std::fmt::Debug for ShownList<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShownList").field("rows", &self.shown.borrow().len()).finish_non_exhaustive()
    }
}

impl<T: PartialEq, S: Clone + 'static> ShownList<T, S> {
    /// The model to give the `.slint` global once.
    fn model(&self) -> ModelRc<S> {
        ModelRc::from(self.model.clone())
    }

    /// Puts `item` in the row `is_row` picks, if that row shows and differs.
    fn replace(&self, item: T, is_row: impl Fn(&T) -> bool, to_slint: impl Fn(&T) -> S) {
        use slint::Model;
        let mut shown = self.shown.borrow_mut();
        if let Some(row) = shown.iter().position(is_row)
            && shown[row] != item
        {
            self.model.set_row_data(row, to_slint(&item));
            shown[row] = item;
        }
    }

    /// Shows `items` (rows told apart by `key`), setting only what changed.
    fn show<K: PartialEq>(&self, items: Vec<T>, key: impl Fn(&T) -> K, to_slint: impl Fn(&T) -> S) {
        use slint::Model;
        let mut shown = self.shown.borrow_mut();
        match row_changes(&shown, &items, key) {
            RowChanges::None => return,
            RowChanges::Rows(rows) => {
                for row in rows {
                    self.model.set_row_data(row, to_slint(&items[row]));
                }
            }
            RowChanges::All => self.model.set_vec(items.iter().map(to_slint).collect::<Vec<_>>()),
        }
        *shown = items;
    }
}
