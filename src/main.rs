//! `lanspread`: the desktop app. Starts and supervises `lanspread-worker`,
//! and shows the LAN's games.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use lanspread::MainWindow;
use lanspread_app_ui::supervisor::{Supervisor, SupervisorConfig};
use lanspread_app_ui::view::ViewState;
use slint::ComponentHandle;
use tokio_util::sync::CancellationToken;

/// Options passed through to the worker.
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
    fn worker_args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        let mut push = |flag: &str, value: OsString| {
            args.push(flag.into());
            args.push(value);
        };
        if let Some(games) = &self.games {
            push("--games", games.clone().into());
        }
        if let Some(state) = &self.state {
            push("--state", state.clone().into());
        }
        if let Some(catalog) = &self.catalog {
            push("--catalog", catalog.clone().into());
        }
        for peer in &self.peers {
            push("--peer", peer.into());
        }
        if self.no_mdns {
            args.push("--no-mdns".into());
        }
        args
    }
}

fn init_logging(log_file: &std::path::Path) -> anyhow::Result<()> {
    if let Some(dir) = log_file.parent() {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file)
        .with_context(|| log_file.display().to_string())?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let log_file = lanspread_app_ui::platform::log_file();
    init_logging(&log_file)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let window = MainWindow::new().context("cannot open the window")?;

    let config = SupervisorConfig {
        worker_exe: lanspread_app_ui::platform::worker_exe(),
        worker_args: args.worker_args(),
        log_file: Some(log_file),
    };
    let closing = CancellationToken::new();
    let mut supervisor = {
        let _guard = runtime.enter();
        Supervisor::start(config).context("cannot start the worker")?
    };
    let weak = window.as_weak();
    let stop = closing.clone();
    let events = runtime.spawn(async move {
        let mut view = ViewState::default();
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => break,
                event = supervisor.next_event() => match event { Some(e) => e, None => break },
            };
            view.apply(event);
            let snapshot = view.clone();
            let _ = weak.upgrade_in_event_loop(move |window| lanspread::adapters::show(&window, &snapshot));
        }
        supervisor.shutdown().await;
    });

    window.run()?;
    closing.cancel();
    runtime.block_on(async {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), events).await;
    });
    Ok(())
}
