//! `lanspread`: the desktop app. Starts and supervises `lanspread-worker`,
//! and shows the LAN's games.

// A GUI program on Windows: release builds open no console window (debug
// builds keep one for their log output).
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use lanspread::MainWindow;
use lanspread::adapters::{self, UiRequest};
use lanspread_app_ui::disk;
use lanspread_app_ui::log::LogSink;
use lanspread_app_ui::settings::{self, Settings};
use lanspread_app_ui::supervisor::{Supervisor, SupervisorConfig};
use lanspread_app_ui::view::ViewState;
use lanspread_proto::ipc::IpcCommand;
use slint::ComponentHandle;
use tokio_util::sync::CancellationToken;

/// Options passed through to the worker; each overrides the saved setting.
#[derive(Debug, Parser)]
#[command(name = "lanspread", version, about = "LanSpread: share game libraries across a LAN")]
struct Args {
    /// The game directory.
    #[arg(long, value_name = "DIR")]
    games: Option<PathBuf>,
    /// Where the worker keeps its key, certificate and hash index.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// A peer to contact directly (repeatable).
    #[arg(long = "peer", value_name = "HOST:PORT")]
    peers: Vec<String>,
    /// Turn mDNS off (use --peer).
    #[arg(long)]
    no_mdns: bool,
    /// Extra catalog entries (JSON).
    #[arg(long, value_name = "FILE")]
    catalog: Option<PathBuf>,
}

impl Args {
    fn worker_args(&self, saved: &Settings) -> Vec<OsString> {
        let mut args = Vec::new();
        let mut push = |flag: &str, value: OsString| {
            args.push(flag.into());
            args.push(value);
        };
        if let Some(games) = self.games.as_ref().or(saved.game_dir.as_ref()) {
            push("--games", games.clone().into());
        }
        if let Some(state) = &self.state {
            push("--state", state.clone().into());
        }
        if let Some(catalog) = self.catalog.as_ref().or(saved.catalog.as_ref()) {
            push("--catalog", catalog.clone().into());
        }
        let peers = if self.peers.is_empty() { &saved.peers } else { &self.peers };
        for peer in peers {
            push("--peer", peer.into());
        }
        if self.no_mdns {
            args.push("--no-mdns".into());
        }
        args
    }
}

/// Logs to the rotating log file the worker's lines go to as well.
fn init_logging(log_file: &std::path::Path) -> anyhow::Result<LogSink> {
    let sink = LogSink::open(log_file).with_context(|| log_file.display().to_string())?;
    let writer = sink.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    Ok(sink)
}

/// How often the free space of the game directory's disk is measured.
const FREE_SPACE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let log_file = lanspread_app_ui::platform::log_file();
    let log = init_logging(&log_file)?;
    let settings_file = settings::settings_file();
    let saved = Settings::load(&settings_file).unwrap_or_else(|e| {
        tracing::warn!("{e}; using the default settings");
        Settings::default()
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let window = MainWindow::new().context("cannot open the window")?;

    let config = SupervisorConfig {
        worker_exe: lanspread_app_ui::platform::worker_exe(),
        worker_args: args.worker_args(&saved),
        log: Some(log),
    };
    let closing = CancellationToken::new();
    let mut supervisor = {
        let _guard = runtime.enter();
        Supervisor::start(config).context("cannot start the worker")?
    };
    supervisor.send(IpcCommand::SetAutoInstall { enabled: saved.auto_install });
    supervisor.send(saved.trust_command());
    let (requests, mut request_rx) = tokio::sync::mpsc::unbounded_channel();
    let trusted = saved.trusted_ids().into_iter().collect();
    let ui = adapters::connect(&window, settings_file, trusted, move |request| {
        let _ = requests.send(request);
    });

    let stop = closing.clone();
    let events = runtime.spawn(async move {
        let mut view = ViewState::default();
        let mut free_space = tokio::time::interval(FREE_SPACE_INTERVAL);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                event = supervisor.next_event() => {
                    let Some(event) = event else { break };
                    view.apply(event);
                    let snapshot = view.clone();
                    let _ = slint::invoke_from_event_loop(move || with_ui(|ui| ui.update(snapshot)));
                }
                request = request_rx.recv() => match request {
                    Some(UiRequest::Command(command)) => supervisor.send(command),
                    Some(UiRequest::Retry) => supervisor.retry(),
                    None => break,
                },
                _ = free_space.tick() => {
                    let Some(dir) = view.game_dir().map(PathBuf::from) else { continue };
                    let bytes = tokio::task::spawn_blocking(move || disk::free_space(&dir)).await.ok().flatten();
                    let _ = slint::invoke_from_event_loop(move || with_ui(|ui| ui.set_free_space(bytes)));
                }
            }
        }
        supervisor.shutdown().await;
    });

    UI.with(|slot| *slot.borrow_mut() = Some(ui));
    window.run()?;
    tracing::info!("the window closed; stopping the worker");
    closing.cancel();
    runtime.block_on(async {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), events).await;
    });
    Ok(())
}

thread_local! {
    /// The window's adapters, owned by the UI thread.
    static UI: std::cell::RefCell<Option<std::rc::Rc<adapters::Ui>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with the window's adapters, on the UI thread.
fn with_ui(f: impl FnOnce(&adapters::Ui)) {
    UI.with(|slot| {
        if let Some(ui) = slot.borrow().as_ref() {
            f(ui);
        }
    });
}
