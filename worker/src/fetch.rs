//! `lanspread-worker fetch`: discover peers, agree on the newest manifest,
//! download it, and report progress on a terminal bar or as JSON lines.

use std::path::Path;
use std::time::Duration;

use lanspread_proto::exit;
use lanspread_proto::units::format_size;

use crate::download::{self, DownloadError};
use crate::faults::Faults;
use crate::install;
use crate::library::hash_index::HashIndex;
use crate::library::lock::RootLock;
use crate::manage::install_after;
use crate::net::client::PeerConnection;
use crate::node::{HASH_INDEX_FILE, Node, NodeOptions};
use crate::report::{self, FileListJson, JsonLine, Reporter};
use crate::trust::{Agreement, NOT_INSTALLED_BY_ITSELF, NoAgreement};

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
    let faults = options.faults.clone();
    let name = options.display_name.clone();
    let node = Node::start(options).await?;
    if json {
        let (addr, peer_id) = (node.local_addr.to_string(), node.peer_id.to_string());
        report::json(&JsonLine::Listening { addr: &addr, peer_id: &peer_id, name: &name });
    }
    node.discover(wait, Some(id)).await;
    let agreement = match node.open_game(id).await.map(download::agree_on_manifest) {
        Some(Ok(agreement)) => agreement,
        Some(Err(NoAgreement::Disagreement { version, lists, trusted })) => {
            node.shutdown().await;
            let why = NoAgreement::Disagreement { version: version.clone(), lists: lists.clone(), trusted };
            if json {
                let lists = lists
                    .into_iter()
                    .map(|l| FileListJson {
                        peers: l.peers.iter().map(ToString::to_string).collect(),
                        files: l.files,
                        bytes: l.bytes,
                    })
                    .collect();
                report::json(&JsonLine::Disagreement { id, version: &version, lists });
            }
            let how = if trusted { "without --trust for the other peers" } else { "with --trust PEERID" };
            eprintln!("error: cannot fetch {id}: {why}; run it again {how}");
            return Ok(exit::DISAGREEMENT);
        }
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
                report::unjoined_note(&unjoined)
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
            report::json(&JsonLine::UpToDate { id, version: &manifest.version });
        } else {
            report::say(format_args!("{id} {} is already here", manifest.version));
        }
        let installed =
            std::fs::symlink_metadata(root.join(crate::library::scan::INSTALL_DIR)).is_ok_and(|m| m.is_dir());
        if install && !installed {
            return install_unless_held(lock, json, may_install, &faults).await;
        }
        return Ok(exit::SUCCESS);
    }
    tracing::info!("fetching {id} {} from {} peers", manifest.version, peers.len());

    let (cancel, signals) = report::cancel_on_stop();
    let mut reporter = Reporter::new(json, format!("{id} {}", manifest.version), manifest.total_size());
    let version = manifest.version.clone();
    let kept = manifest.clone();
    let swarm = Some(node.access().swarm_link());
    // Installed as the bytes come, when it installs by itself.
    let along = (install && may_install).then(|| faults.clone());
    let result = download::download(&root, manifest, peers, (swarm, along), |p| reporter.progress(&p), cancel).await;
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
        Ok(mut report) => {
            print_finished(id, &version, &report, json);
            match report.installed.take() {
                Some(installed) => crate::manage::report_install(id, installed, json),
                None if install => install_unless_held(lock, json, may_install, &faults).await,
                None => Ok(exit::SUCCESS),
            }
        }
        Err(DownloadError::Cancelled) => {
            if json {
                report::json(&JsonLine::Cancelled { id });
            }
            if !report::output_gone() {
                eprintln!("error: {}", DownloadError::Cancelled);
            }
            Ok(exit::INTERRUPTED)
        }
        Err(e) => {
            if json {
                report::json(&JsonLine::Failed { id, reason: e.to_string() });
            }
            Err(e.into())
        }
    }
}

/// Says whose file list is fetched, when it is not the only one on offer.
fn report_supplier(id: &str, agreement: &Agreement<PeerConnection>, json: bool) {
    let supplied_by: Vec<String> = agreement.supplied_by.iter().map(ToString::to_string).collect();
    if json {
        report::json(&JsonLine::FileList {
            id,
            version: &agreement.manifest.version,
            trusted: agreement.trusted,
            competing: agreement.competing,
            supplied_by,
        });
    } else if agreement.trusted || agreement.competing {
        let whose = if agreement.trusted { "trusted" } else { "untrusted" };
        let peers: Vec<String> = agreement.supplied_by.iter().map(lanspread_proto::PeerId::short).collect();
        tracing::info!("{id} {}: file list from {whose} peers {}", agreement.manifest.version, peers.join(", "));
    }
}

/// Installs after a download unless the file list is one to hold back: no
/// trusted peer vouches for it and another version or list competes.
async fn install_unless_held(lock: RootLock, json: bool, may_install: bool, faults: &Faults) -> anyhow::Result<i32> {
    if may_install {
        return install_after(lock, json, faults).await;
    }
    let id = lock.id();
    let reason = format!("{NOT_INSTALLED_BY_ITSELF}; run `lanspread-worker install` if you trust it");
    if json {
        report::json(&JsonLine::NotInstalled { id, reason: &reason });
    }
    eprintln!("{id} was downloaded but not installed: {reason}");
    Ok(exit::NOT_INSTALLED)
}

fn print_finished(id: &str, version: &str, report: &download::DownloadReport, json: bool) {
    for (peer, why) in &report.dropped {
        tracing::warn!("peer {} was not used to the end: {why}", peer.short());
    }
    if json {
        report::json(&JsonLine::Finished {
            id,
            version,
            bytes_total: report.bytes_total,
            bytes_fetched: report.bytes_fetched(),
            bytes_reused: report.bytes_reused,
            requests: report.requests,
            seconds: report.elapsed.as_secs_f64(),
            per_peer: report.per_peer.iter().map(|(p, b)| (p.to_string(), *b)).collect(),
            dropped: report.dropped.iter().map(|(p, why)| (p.to_string(), why.as_str())).collect(),
        });
    } else {
        let secs = report.elapsed.as_secs_f64().max(1e-3);
        report::say(format_args!(
            "fetched {id} {version}: {} in {secs:.1} s ({}/s), {} already here",
            format_size(report.bytes_total),
            format_size((report.bytes_fetched() as f64 / secs) as u64),
            format_size(report.bytes_reused)
        ));
    }
}
