//! Writes the man pages and shell completions of `lanspread-worker`, made
//! from its clap definition, for the packages (`scripts/package.sh`):
//!
//! ```sh
//! cargo run -p lanspread-worker --example docs -- OUT_DIR
//! ```
//!
//! `OUT_DIR/man/` gets `lanspread-worker.1` and one page per subcommand
//! (`lanspread-worker-serve.1`, …); `OUT_DIR/completions/` gets the bash,
//! zsh and fish completions.

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;
use lanspread_worker::cli::Cli;

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(std::env::args_os().nth(1).expect("usage: docs OUT_DIR"));
    let man = out.join("man");
    let completions = out.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    let command = Cli::command();
    clap_mangen::generate_to(command.clone(), &man)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut command.clone(), "lanspread-worker", &completions)?;
    }
    Ok(())
}
