//! `lanspread-worker`: see `lanspread-worker --help`.

use clap::Parser;
use lanspread_proto::exit;
use lanspread_worker::cli::{self, Cli};
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = Cli::parse();
    let default_level = match cli.command {
        cli::Command::List { .. } => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)))
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(exit::FAILURE);
        }
    };
    let code = match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", lanspread_proto::os_error::readable(&format!("{e:#}")));
            exit::FAILURE
        }
    };
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    // The reader of our output left (`… | head`): that is no failure.
    std::process::exit(if lanspread_worker::report::output_gone() { exit::SUCCESS } else { code });
}
