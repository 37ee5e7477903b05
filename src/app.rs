//! The app: the window, the supervised worker, and the loop between them.
//!
//! The worker's events are applied to the [`ViewState`] on a tokio task;
//! each new state reaches the UI thread through a channel the window's
//! event loop reads ([`slint::spawn_local`]), so nothing blocks the window
//! and no state hides in thread-locals.

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use anyhow::Context;
use lanspread_app_ui::controllers::settings::CommandLine;
use lanspread_app_ui::disk;
use lanspread_app_ui::memory::{Remembered, WindowPlace, memory_file};
use lanspread_app_ui::settings::Settings;
use lanspread_app_ui::supervisor::SupervisorEvent;
use lanspread_app_ui::supervisor::{Supervisor, SupervisorConfig};
use lanspread_app_ui::view::ViewState;
use lanspread_proto::ipc::{IpcCommand, IpcEvent};
use slint::ComponentHandle;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::MainWindow;
use crate::adapters::{self, Background, Ui, UiConfig, UiRequest};

/// The free space of the game directory's disk is measured when the
/// directory is known, when an operation starts or ends, and this often.
const FREE_SPACE_INTERVAL: Duration = Duration::from_secs(30);
/// Progress and speeds reach the window at most this often; anything else
/// at once.
const FREQUENT_UPDATES: Duration = Duration::from_millis(100);
/// How long the worker gets to stop once the window closed.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(5);

/// What the window is told from the app's loop.
#[derive(Debug)]
enum Update {
    View(Box<ViewState>),
    /// Only progress and speeds changed since the last view.
    Progress(Box<ViewState>),
    FreeSpace(Option<u64>),
}

/// A started app: call [`App::run`].
pub struct App {
    runtime: tokio::runtime::Runtime,
    window: MainWindow,
    ui: Rc<Ui>,
    updates: mpsc::UnboundedReceiver<Update>,
    closing: CancellationToken,
    app_loop: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("ui", &self.ui).finish_non_exhaustive()
    }
}

impl App {
    /// Opens the window and starts the worker with `worker`; `saved` are
    /// the settings read at start, kept in `settings_file`.
    pub fn start(
        worker: SupervisorConfig,
        saved: &Settings,
        settings_file: PathBuf,
        command_line: CommandLine,
    ) -> anyhow::Result<App> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        choose_renderer().context("cannot open the window")?;
        let window = MainWindow::new().context("cannot open the window")?;
        let supervisor = {
            let _guard = runtime.enter();
            Supervisor::start(worker).context("cannot start the worker")?
        };
        supervisor.send(IpcCommand::SetAutoInstall { enabled: saved.auto_install });
        supervisor.send(saved.trust_command());
        let (requests, request_rx) = mpsc::unbounded_channel();
        // Through the app loop, so the status bar knows the limits too.
        let _ = requests.send(UiRequest::Command(saved.limits_command()));
        let remembered = Remembered::load(&memory_file(&settings_file));
        if let Some(place) = remembered.window {
            window.window().set_size(slint::PhysicalSize::new(place.width, place.height));
            window.window().set_position(slint::PhysicalPosition::new(place.x, place.y));
        }
        let config = UiConfig {
            settings_file,
            trusted: saved.trusted_ids().into_iter().collect(),
            command_line,
            remembered,
            background: Background::Threads,
        };
        let ui = adapters::connect(&window, config, move |request| drop(requests.send(request)));
        let weak = Rc::downgrade(&ui);
        let shown = window.as_weak();
        window.window().on_close_requested(move || {
            if let (Some(ui), Some(window)) = (weak.upgrade(), shown.upgrade()) {
                let (size, at) = (window.window().size(), window.window().position());
                ui.remember_window(WindowPlace { x: at.x, y: at.y, width: size.width, height: size.height });
            }
            slint::CloseRequestResponse::HideWindow
        });
        let (update_tx, updates) = mpsc::unbounded_channel();
        let closing = CancellationToken::new();
        let app_loop = runtime.spawn(app_loop(supervisor, request_rx, update_tx, closing.clone()));
        Ok(App { runtime, window, ui, updates, closing, app_loop })
    }

    /// Shows the window until it is closed, then stops the worker.
    pub fn run(self) -> anyhow::Result<()> {
        let App { runtime, window, ui, mut updates, closing, app_loop } = self;
        let remembered = ui.clone();
        slint::spawn_local(async move {
            while let Some(update) = updates.recv().await {
                match update {
                    Update::View(view) => ui.update(*view),
                    Update::Progress(view) => ui.update_progress(*view),
                    Update::FreeSpace(bytes) => ui.set_free_space(bytes),
                }
            }
        })?;
        window.run()?;
        tracing::info!("the window closed; stopping the worker");
        let (memory, file) = remembered.remembered();
        if let Err(e) = memory.save(&file) {
            tracing::warn!("{e}");
        }
        closing.cancel();
        runtime.block_on(async {
            let _ = tokio::time::timeout(SHUTDOWN_LIMIT, app_loop).await;
        });
        Ok(())
    }
}

/// Draws with Slint's own software renderer unless `SLINT_BACKEND` says
/// otherwise: it redraws only what changed, where the GL renderer redraws
/// the whole window for a progress bar (measured by `scripts/ui-bench.sh`:
/// 4 % of a core instead of 41 % during a download with 1,000 games).
/// A failure here is the window's: the backend it sets up is the one the
/// window would open with (winit cannot be set up twice in a process).
fn choose_renderer() -> Result<(), slint::PlatformError> {
    if std::env::var_os("SLINT_BACKEND").is_some() {
        return Ok(());
    }
    slint::BackendSelector::new().backend_name("winit".into()).renderer_name("software".into()).select()
}

/// Applies the worker's events to the view state and sends each new state
/// to the window; carries the window's requests to the worker.
async fn app_loop(
    mut supervisor: Supervisor,
    mut requests: mpsc::UnboundedReceiver<UiRequest>,
    updates: mpsc::UnboundedSender<Update>,
    closing: CancellationToken,
) {
    let mut view = ViewState::default();
    let mut free_space = tokio::time::interval(FREE_SPACE_INTERVAL);
    let mut frequent = tokio::time::interval(FREQUENT_UPDATES);
    frequent.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Progress applied but not shown yet.
    let mut unshown = false;
    loop {
        tokio::select! {
            () = closing.cancelled() => break,
            event = supervisor.next_event() => {
                let Some(event) = event else { break };
                let (often, disk_changes) = match &event {
                    SupervisorEvent::Worker(IpcEvent::Progress(_) | IpcEvent::Traffic { .. }) => (true, false),
                    SupervisorEvent::Worker(IpcEvent::ActiveOperations(_)) => (false, true),
                    SupervisorEvent::Worker(IpcEvent::Library(l)) => (false, view.game_dir() != Some(l.game_dir.as_str())),
                    _ => (false, false),
                };
                view.apply(event);
                if often {
                    unshown = true;
                } else {
                    unshown = false;
                    let _ = updates.send(Update::View(Box::new(view.clone())));
                }
                if disk_changes {
                    let _ = updates.send(Update::FreeSpace(measure_free_space(&view).await));
                }
            }
            _ = frequent.tick(), if unshown => {
                unshown = false;
                let _ = updates.send(Update::Progress(Box::new(view.clone())));
            }
            request = requests.recv() => match request {
                Some(UiRequest::Command(command)) => {
                    if view.note_command(&command) {
                        let _ = updates.send(Update::View(Box::new(view.clone())));
                    }
                    supervisor.send(command);
                }
                Some(UiRequest::Retry) => supervisor.retry(),
                None => break,
            },
            _ = free_space.tick() => {
                let _ = updates.send(Update::FreeSpace(measure_free_space(&view).await));
            }
        }
    }
    supervisor.shutdown().await;
}

/// Free space on the game directory's disk, read off the async threads.
async fn measure_free_space(view: &ViewState) -> Option<u64> {
    let dir = view.game_dir().map(PathBuf::from)?;
    tokio::task::spawn_blocking(move || disk::free_space(&dir)).await.ok().flatten()
}
