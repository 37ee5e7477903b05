//! `lanspread`: the desktop app. Starts and supervises `lanspread-worker`,
//! and shows the LAN's games.

// A GUI program on Windows: release builds open no console window (debug
// builds keep one for their log output).
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use lanspread::app::App;
use lanspread_app_ui::controllers::settings::CommandLine;
use lanspread_app_ui::log::LogSink;
use lanspread_app_ui::settings::{self, Settings};
use lanspread_app_ui::supervisor::SupervisorConfig;

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

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let log_file = lanspread_app_ui::platform::log_file();
    let log = init_logging(&log_file)?;
    let settings_file = settings::settings_file();
    let saved = Settings::load(&settings_file).unwrap_or_else(|e| {
        tracing::warn!("{e}; using the default settings");
        Settings::default()
    });
    let worker = SupervisorConfig {
        worker_exe: lanspread_app_ui::platform::worker_exe(),
        worker_args: args.worker_args(&saved),
        log: Some(log),
    };
    let command_line =
        CommandLine { game_dir: args.games.clone(), peers: args.peers.clone(), catalog: args.catalog.clone() };
    App::start(worker, &saved, settings_file, command_line)?.run()
}
