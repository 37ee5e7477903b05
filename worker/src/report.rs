//! What the headless commands print: lines for people, a progress bar on a
//! terminal, and with `--json` one typed JSON object per line ([`JsonLine`]).
//!
//! Standard output may be a pipe that closes early (`fetch --json | head`):
//! then nothing more is written, the command stops as it would on Ctrl-C
//! (a download keeps its journal, an install its previous state), and the
//! process exits quietly with success, as ripgrep does, instead of
//! panicking on the failed write.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use lanspread_proto::ipc::{Phase, Progress};
use lanspread_proto::units::format_size;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// One of the file lists peers disagree on ([`JsonLine::Disagreement`]).
#[derive(Debug, Serialize)]
pub struct FileListJson {
    pub peers: Vec<String>,
    pub files: usize,
    pub bytes: u64,
}

/// One line of `--json` output. Field names are part of the command line's
/// interface: add fields and events, never rename them.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JsonLine<'a> {
    Progress {
        id: &'a str,
        phase: &'static str,
        bytes_done: u64,
        bytes_total: u64,
        bytes_per_sec: u64,
        eta_secs: Option<u64>,
        peers: usize,
        /// Verified bytes from each peer so far, by peer id.
        per_peer: BTreeMap<String, u64>,
        /// Of `peers`, those still fetching the game themselves.
        peers_downloading: usize,
    },
    /// Whose file list is fetched.
    FileList {
        id: &'a str,
        version: &'a str,
        trusted: bool,
        competing: bool,
        supplied_by: Vec<String>,
    },
    UpToDate {
        id: &'a str,
        version: &'a str,
    },
    /// Peers disagree on the file list of the version to fetch: each list
    /// with the peers that sent it; nothing was downloaded.
    Disagreement {
        id: &'a str,
        version: &'a str,
        lists: Vec<FileListJson>,
    },
    Finished {
        id: &'a str,
        version: &'a str,
        bytes_total: u64,
        bytes_fetched: u64,
        bytes_reused: u64,
        /// Requests sent: a chunk or a run of small files each.
        requests: u64,
        seconds: f64,
        per_peer: BTreeMap<String, u64>,
        dropped: BTreeMap<String, &'a str>,
    },
    Cancelled {
        id: &'a str,
    },
    Failed {
        id: &'a str,
        reason: String,
    },
    NotInstalled {
        id: &'a str,
        reason: &'a str,
    },
    Installed {
        id: &'a str,
        version: &'a str,
        bytes: u64,
        items: usize,
        /// Bytes read from the archives (each is read once).
        archive_bytes_read: u64,
    },
    Updated {
        id: &'a str,
        version: &'a str,
        bytes: u64,
        items: usize,
        /// Bytes read from the archives (each is read once).
        archive_bytes_read: u64,
    },
    InstallFailed {
        id: &'a str,
        reason: String,
    },
    /// `serve`, `fetch`: the node listens (the first line); `fetch` serves
    /// the chunks it has verified there.
    Listening {
        addr: &'a str,
        peer_id: &'a str,
        name: &'a str,
    },
    /// `serve`: a library scan ended; the games listed are ready to serve.
    Library {
        revision: u64,
        games: usize,
        downloaded: usize,
        /// What the scan hashed (files already in the hash index are not).
        files_hashed: u64,
        bytes_hashed: u64,
        files_reused: u64,
    },
    PeerJoined {
        id: &'a str,
        name: &'a str,
        address: &'a str,
    },
    PeerLeft {
        id: &'a str,
    },
}

/// A game of `list --json` (one per line, no `event` field).
#[derive(Debug, Serialize)]
pub struct ListedGame<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub version: &'a str,
    /// Peers with the version a download fetches.
    pub sources: u32,
    pub peers_total: u32,
    pub size: u64,
    pub trusted: bool,
    pub other_versions: Vec<&'a str>,
    /// The peers whose file list counts, grouped by the list each sent,
    /// when they differ: nothing is fetched until one is trusted.
    pub disagreement: Vec<Vec<String>>,
    pub peers: Vec<ListedPeer<'a>>,
}

/// A peer offering a game, in [`ListedGame`].
#[derive(Debug, Serialize)]
pub struct ListedPeer<'a> {
    pub id: String,
    pub short: String,
    pub name: &'a str,
    pub address: &'a str,
    pub version: &'a str,
    pub trusted: bool,
    /// Its file list is the one fetched.
    pub supplies: bool,
}

/// Cancelled once standard output is a closed pipe. Standard output is
/// the process's, so this is too.
fn output_closed() -> &'static CancellationToken {
    static CLOSED: OnceLock<CancellationToken> = OnceLock::new();
    CLOSED.get_or_init(CancellationToken::new)
}

/// Whether standard output turned out to be a closed pipe: the command
/// then stops and the process exits with success.
pub fn output_gone() -> bool {
    output_closed().is_cancelled()
}

/// Prints `line` on standard output; nothing once the pipe is closed.
pub fn say(line: impl Display) {
    if output_gone() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            output_closed().cancel();
        } else {
            tracing::warn!("cannot write to standard output: {e}");
        }
    }
}

/// Resolves on Ctrl-C (SIGTERM on Unix) or once standard output is closed.
pub async fn stop_requested() {
    tokio::select! {
        () = crate::platform::signals::shutdown_requested() => {}
        () = output_closed().cancelled() => {}
    }
}

/// A token cancelled when the command should stop ([`stop_requested`]),
/// and the task watching for it (abort it when the work is done).
pub fn cancel_on_stop() -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let cancel = CancellationToken::new();
    let on_stop = cancel.clone();
    let task = tokio::spawn(async move {
        stop_requested().await;
        on_stop.cancel();
    });
    (cancel, task)
}

/// Prints one JSON line.
pub fn json(line: &impl Serialize) {
    match serde_json::to_string(line) {
        Ok(text) => say(text),
        Err(e) => tracing::warn!("cannot encode a JSON line: {e}"),
    }
}

/// Most unjoined peers named in a message.
const MAX_UNJOINED_NAMED: usize = 5;

/// "; not joined: why, …" for a message about what was found, or nothing.
pub fn unjoined_note(unjoined: &[(String, String)]) -> String {
    if unjoined.is_empty() {
        return String::new();
    }
    let named: Vec<&str> = unjoined.iter().take(MAX_UNJOINED_NAMED).map(|(_, why)| why.as_str()).collect();
    let more = unjoined.len().saturating_sub(MAX_UNJOINED_NAMED);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    format!("; not joined: {}{more}", named.join("; "))
}

/// Shows progress: a bar on a terminal, JSON lines with `--json`.
#[derive(Debug)]
pub struct Reporter {
    json: bool,
    bar: Option<indicatif::ProgressBar>,
    /// Bytes found on disk before the transfer (the last checking phase's).
    already_here: u64,
}

impl Reporter {
    pub fn new(json: bool, prefix: String, total: u64) -> Self {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(prefix);
            bar
        });
        Reporter { json, bar, already_here: 0 }
    }

    pub fn progress(&mut self, p: &Progress) {
        if self.json {
            json(&JsonLine::Progress {
                id: &p.id,
                phase: phase_name(p.phase),
                bytes_done: p.bytes_done,
                bytes_total: p.bytes_total,
                bytes_per_sec: p.bytes_per_sec,
                eta_secs: p.eta_secs,
                peers: p.peers.len(),
                per_peer: p.peers.iter().map(|s| (s.peer_id.to_string(), s.bytes)).collect(),
                peers_downloading: p.peers.iter().filter(|s| s.still_downloading).count(),
            });
        } else if let Some(bar) = &self.bar {
            if p.phase == Phase::Checking {
                self.already_here = p.bytes_done;
            }
            bar.set_length(p.bytes_total);
            bar.set_position(p.bytes_done);
            let eta = p.eta_secs.map_or_else(|| "--".to_owned(), |s| format!("{s} s"));
            let here = match self.already_here {
                0 => String::new(),
                n => format!(", {} already here", format_size(n)),
            };
            bar.set_message(format!(
                "{}/s, ETA {eta}, {} peers ({}){here}",
                format_size(p.bytes_per_sec),
                p.peers.len(),
                phase_name(p.phase)
            ));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Checking => "checking",
        Phase::Downloading => "downloading",
        Phase::Committing => "committing",
        Phase::Installing => "installing",
    }
}

/// Uploads named in one line of [`uploads_line`]; the rest are counted.
const MAX_UPLOADS_NAMED: usize = 6;

/// `serve`'s line of what it uploaded to whom in the last minute, largest
/// first; `None` when it uploaded nothing.
pub fn uploads_line(sent: &BTreeMap<(String, std::net::IpAddr), u64>) -> Option<String> {
    let mut sent: Vec<_> = sent.iter().filter(|(_, bytes)| **bytes > 0).collect();
    if sent.is_empty() {
        return None;
    }
    sent.sort_by(|a, b| b.1.cmp(a.1));
    let total: u64 = sent.iter().map(|(_, b)| **b).sum();
    let named: Vec<String> = sent
        .iter()
        .take(MAX_UPLOADS_NAMED)
        .map(|((game, to), b)| format!("{} of {game} to {to}", format_size(**b)))
        .collect();
    let more = match sent.len().saturating_sub(MAX_UPLOADS_NAMED) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    Some(format!("uploaded {} in the last minute: {}{more}", format_size(total), named.join(", ")))
}
