//! `lanspread-worker fetch`: discover peers, agree on the newest manifest,
//! download it, and report progress on a terminal bar or as JSON lines.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use lanspread_proto::exit;
use lanspread_proto::ipc::{Phase, Progress};
use tokio_util::sync::CancellationToken;

use crate::download::{self, DownloadError};
use crate::install::{self, InstallError};
use crate::library::hash_index::HashIndex;
use crate::library::lock::RootLock;
use crate::net::client::PeerConnection;
use crate::node::{HASH_INDEX_FILE, Node, NodeOptions};
use crate::trust::{Agreement, NOT_INSTALLED_BY_ITSELF};
use lanspread_proto::units::format_size;

/// Runs the command; returns the exit code.
pub async fn run(
    options: NodeOptions,
    id: &str,
    games: &Path,
    wait: Duration,
    json: bool,
    install: bool,
) -> anyhow::Result<i32> {
    let lock = RootLock::try_acquire(games, id, &options.catalog)?
        .ok_or_else(|| anyhow::anyhow!("{id} is busy: another LanSpread process is working on it"))?;
    // An install a crash cut short is finished or undone before this one looks at the root.
    if let Some(done) = install::recover_root(lock.root())? {
        tracing::info!("recovered {id}: {done}");
    }
    let index_path = options.state_dir.join(HASH_INDEX_FILE);
    let node = Node::start(options).await?;
    node.discover(wait, Some(id)).await;
    let agreement = match node.open_game(id).await.map(download::agree_on_manifest) {
        Some(Ok(agreement)) => agreement,
        Some(Err(why)) => {
            node.shutdown().await;
            anyhow::bail!("cannot fetch {id}: {why}");
        }
        None => {
            let found = node.peer_count();
            let unjoined = node.unjoined_peers();
            node.shutdown().await;
            anyhow::bail!(
                "no peer offers {id} ({found} peers found within {:.0} s){}",
                wait.as_secs_f64(),
                crate::cli::unjoined_note(&unjoined)
            );
        }
    };
    let may_install = agreement.may_auto_install(&node.trust());
    report_supplier(id, &agreement, json);
    let (manifest, peers) = (agreement.manifest, agreement.sources);
    let root = lock.root().to_owned();
    let here = crate::library::scan::read_version(&root.join(crate::library::scan::VERSION_FILE));
    if here.as_deref() == Some(manifest.version.as_str()) {
        for conn in &peers {
            conn.close();
        }
        node.shutdown().await;
        if json {
            println!("{}", serde_json::json!({"event": "up_to_date", "id": id, "version": manifest.version}));
        } else {
            println!("{id} {} is already here", manifest.version);
        }
        let installed =
            std::fs::symlink_metadata(root.join(crate::library::scan::INSTALL_DIR)).is_ok_and(|m| m.is_dir());
        if install && !installed {
            return install_unless_held(lock, json, may_install, id).await;
        }
        return Ok(exit::SUCCESS);
    }
    tracing::info!("fetching {id} {} from {} peers", manifest.version, peers.len());

    let (cancel, signals) = cancel_on_signal();
    let mut reporter = Reporter::new(json, format!("{id} {}", manifest.version), manifest.total_size());
    let version = manifest.version.clone();
    let kept = manifest.clone();
    let result = download::download(&root, manifest, peers, |p| reporter.progress(&p), cancel).await;
    if result.is_ok() {
        // A `serve` on this state directory lists the game without hashing it.
        let mut index = HashIndex::load(&index_path);
        if let Err(e) = index.remember_download(games, &kept).and_then(|()| index.save()) {
            tracing::warn!("{id}: hashes of the download not kept: {e}");
        }
    }
    reporter.finish();
    signals.abort();
    node.shutdown().await;

    match result {
        Ok(report) => {
            print_finished(id, &version, &report, json);
            if install { install_unless_held(lock, json, may_install, id).await } else { Ok(exit::SUCCESS) }
        }
        Err(DownloadError::Cancelled) => {
            if json {
                println!("{}", serde_json::json!({"event": "cancelled", "id": id}));
            }
            eprintln!("error: {}", DownloadError::Cancelled);
            Ok(exit::INTERRUPTED)
        }
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({"event": "failed", "id": id, "reason": e.to_string()}));
            }
            Err(e.into())
        }
    }
}

/// Says whose file list is fetched, when it is not the only one on offer.
fn report_supplier(id: &str, agreement: &Agreement<PeerConnection>, json: bool) {
    let supplied_by: Vec<String> = agreement.supplied_by.iter().map(ToString::to_string).collect();
    if json {
        let line = serde_json::json!({
            "event": "file_list", "id": id, "version": agreement.manifest.version,
            "trusted": agreement.trusted, "competing": agreement.competing, "supplied_by": supplied_by,
        });
        println!("{line}");
    } else if agreement.trusted || agreement.competing {
        let whose = if agreement.trusted { "trusted" } else { "untrusted" };
        let peers: Vec<String> = agreement.supplied_by.iter().map(lanspread_proto::PeerId::short).collect();
        tracing::info!("{id} {}: file list from {whose} peers {}", agreement.manifest.version, peers.join(", "));
    }
}

/// Installs after a download unless the file list is one to hold back: no
/// trusted peer vouches for it and another version or list competes.
async fn install_unless_held(lock: RootLock, json: bool, may_install: bool, id: &str) -> anyhow::Result<i32> {
    if may_install {
        return install_after(lock, json).await;
    }
    let reason = format!("{NOT_INSTALLED_BY_ITSELF}; run `lanspread-worker install` if you trust it");
    if json {
        println!("{}", serde_json::json!({"event": "not_installed", "id": id, "reason": reason}));
    }
    eprintln!("{id} was downloaded but not installed: {reason}");
    Ok(exit::NOT_INSTALLED)
}

fn print_finished(id: &str, version: &str, report: &download::DownloadReport, json: bool) {
    for (peer, why) in &report.dropped {
        tracing::warn!("peer {} was not used to the end: {why}", peer.short());
    }
    if json {
        let per_peer: BTreeMap<String, u64> = report.per_peer.iter().map(|(p, b)| (p.to_string(), *b)).collect();
        let dropped: BTreeMap<String, &str> =
            report.dropped.iter().map(|(p, why)| (p.to_string(), why.as_str())).collect();
        let line = serde_json::json!({
            "event": "finished", "id": id, "version": version,
            "bytes_total": report.bytes_total, "bytes_fetched": report.bytes_fetched(),
            "bytes_reused": report.bytes_reused, "seconds": report.elapsed.as_secs_f64(), "per_peer": per_peer,
            "dropped": dropped,
        });
        println!("{line}");
    } else {
        let secs = report.elapsed.as_secs_f64().max(1e-3);
        println!(
            "fetched {id} {version}: {} in {secs:.1} s ({}/s), {} already here",
            format_size(report.bytes_total),
            format_size((report.bytes_fetched() as f64 / secs) as u64),
            format_size(report.bytes_reused)
        );
    }
}

/// Installs the downloaded game with the lock the download held; Ctrl-C
/// cancels it and keeps the previous state.
pub(crate) async fn install_after(lock: RootLock, json: bool) -> anyhow::Result<i32> {
    let (cancel, signals) = cancel_on_signal();
    let id = lock.id().to_owned();
    let task_cancel = cancel.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut reporter = Reporter::new(json, format!("{} install", lock.id()), 0);
        let result = install::install(&lock, &mut |p| reporter.progress(&p), &task_cancel);
        reporter.finish();
        result
    })
    .await?;
    signals.abort();
    match result {
        Ok(report) => {
            let what = if report.updated { "updated" } else { "installed" };
            if json {
                let line = serde_json::json!({
                    "event": what, "id": id, "version": report.version, "bytes": report.bytes, "items": report.items,
                });
                println!("{line}");
            } else {
                println!("{what} {id} {}: {} in local/", report.version, format_size(report.bytes));
            }
            Ok(exit::SUCCESS)
        }
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({"event": "install_failed", "id": id, "reason": e.to_string()}));
            }
            if matches!(e, InstallError::Cancelled) {
                eprintln!("error: {e}");
                return Ok(exit::INTERRUPTED);
            }
            Err(anyhow::anyhow!("cannot install {id}: {e}"))
        }
    }
}

/// A token Ctrl-C (or SIGTERM) cancels, and the task watching for it
/// (abort it when the work is done).
fn cancel_on_signal() -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let task = tokio::spawn(async move {
        crate::platform::signals::shutdown_requested().await;
        on_signal.cancel();
    });
    (cancel, task)
}

/// Shows progress: a bar on a terminal, JSON lines with `--json`.
pub(crate) struct Reporter {
    json: bool,
    bar: Option<indicatif::ProgressBar>,
    /// Bytes found on disk before the transfer (the last checking phase's).
    already_here: u64,
}

impl Reporter {
    pub(crate) fn new(json: bool, prefix: String, total: u64) -> Self {
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

    pub(crate) fn progress(&mut self, p: &Progress) {
        if self.json {
            let line = serde_json::json!({
                "event": "progress", "id": p.id, "phase": phase_name(p.phase),
                "bytes_done": p.bytes_done, "bytes_total": p.bytes_total,
                "bytes_per_sec": p.bytes_per_sec, "eta_secs": p.eta_secs, "peers": p.peers.len(),
            });
            println!("{line}");
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

    pub(crate) fn finish(&self) {
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
