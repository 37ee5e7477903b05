//! `lanspread-worker fetch`: discover peers, agree on the newest manifest,
//! download it, and report progress on a terminal bar or as JSON lines.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use lanspread_proto::exit;
use lanspread_proto::ipc::{Phase, Progress};
use lanspread_proto::peer::GameManifest;
use tokio_util::sync::CancellationToken;

use crate::download::{self, DownloadError, planner::short};
use crate::node::{Node, NodeOptions};
use lanspread_proto::units::format_size;

/// Runs the command; returns the exit code.
pub async fn run(options: NodeOptions, id: &str, games: &Path, wait: Duration, json: bool) -> anyhow::Result<i32> {
    let node = Node::start(options).await?;
    node.discover(wait).await;
    let sources = node.open_game(id).await;
    let Some((manifest, peers)) = download::agree_on_manifest(sources) else {
        let found = node.peer_count();
        node.shutdown().await;
        anyhow::bail!("no peer offers {id} ({found} peers found within {:.0} s)", wait.as_secs_f64());
    };
    let here = crate::library::scan::read_version(&games.join(id).join(crate::library::scan::VERSION_FILE));
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
        return Ok(exit::SUCCESS);
    }
    tracing::info!("fetching {id} {} from {} peers", manifest.version, peers.len());

    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    let signals = tokio::spawn(async move {
        crate::platform::signals::shutdown_requested().await;
        on_signal.cancel();
    });
    let mut reporter = Reporter::new(json, &manifest);
    let version = manifest.version.clone();
    let result = download::download(games, manifest, peers, |p| reporter.progress(&p), cancel).await;
    reporter.finish();
    signals.abort();
    node.shutdown().await;

    match result {
        Ok(report) => {
            let per_peer: BTreeMap<String, u64> = report.per_peer.iter().map(|(p, b)| (p.to_string(), *b)).collect();
            let dropped: BTreeMap<String, &str> =
                report.dropped.iter().map(|(p, why)| (p.to_string(), why.as_str())).collect();
            for (peer, why) in &report.dropped {
                tracing::warn!("peer {} was not used to the end: {why}", short(peer));
            }
            if json {
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
            Ok(exit::SUCCESS)
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

/// Shows progress: a bar on a terminal, JSON lines with `--json`.
struct Reporter {
    json: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl Reporter {
    fn new(json: bool, manifest: &GameManifest) -> Self {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(manifest.total_size());
            let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("{} {}", manifest.id, manifest.version));
            bar
        });
        Reporter { json, bar }
    }

    fn progress(&mut self, p: &Progress) {
        if self.json {
            let line = serde_json::json!({
                "event": "progress", "id": p.id, "phase": phase_name(p.phase),
                "bytes_done": p.bytes_done, "bytes_total": p.bytes_total,
                "bytes_per_sec": p.bytes_per_sec, "eta_secs": p.eta_secs, "peers": p.peers.len(),
            });
            println!("{line}");
        } else if let Some(bar) = &self.bar {
            bar.set_position(p.bytes_done);
            let eta = p.eta_secs.map_or_else(|| "--".to_owned(), |s| format!("{s} s"));
            bar.set_message(format!(
                "{}/s, ETA {eta}, {} peers ({})",
                format_size(p.bytes_per_sec),
                p.peers.len(),
                phase_name(p.phase)
            ));
        }
    }

    fn finish(&self) {
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
    }
}
