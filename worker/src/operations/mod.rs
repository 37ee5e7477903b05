//! Long-running work on games started by the UI: downloads and updates
//! (which install by themselves unless that is turned off), installs,
//! uninstalls and removals.
//!
//! [`table`] decides: it owns every game's state and lock and answers each
//! command or task end with effects. This module only carries them out
//! (spawns the tasks, sends the events, publishes which games are busy
//! for the library and the peer server), one table call at a time, so the
//! effects of two calls never interleave.

pub mod table;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lanspread_proto::ipc::FailureKind;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::discovery::access::PeerAccess;
use crate::download::{self, DownloadError};
use crate::events::{Failure, NodeEvent, RunningOperation};
use crate::faults::Faults;
use crate::install::{self, InstallError};
use crate::library::Library;
use crate::library::lock::RootLock;
use crate::library::root::RootError;
use crate::net::client::PeerConnection;
use crate::trust::{Agreement, NoAgreement, TrustSettings};
use table::{DownloadEnd, DownloadKind, Effect, Install, OperationTable, WorkKind};

/// How long a download looks for peers offering the game before failing.
const PEER_WAIT: Duration = Duration::from_secs(10);
/// How often it looks again meanwhile.
const PEER_RETRY: Duration = Duration::from_millis(500);

/// The operations of one worker.
#[derive(Debug, Clone)]
pub struct Operations {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    table: Mutex<OperationTable<RootLock>>,
    busy: watch::Sender<Arc<BTreeSet<String>>>,
    events: broadcast::Sender<NodeEvent>,
    access: PeerAccess,
    library: Library,
    auto_install: AtomicBool,
    faults: Faults,
}

impl Operations {
    /// `busy` is where the table publishes the games it holds (the library
    /// was started with its receiver).
    pub fn new(
        events: broadcast::Sender<NodeEvent>,
        busy: watch::Sender<Arc<BTreeSet<String>>>,
        access: PeerAccess,
        library: Library,
        faults: Faults,
    ) -> Self {
        let auto_install = AtomicBool::new(true);
        let inner = Inner { table: Mutex::default(), busy, events, access, library, auto_install, faults };
        Operations { inner: Arc::new(inner) }
    }

    pub fn snapshot(&self) -> Vec<RunningOperation> {
        self.table().snapshot()
    }

    /// Whether a finished download installs by itself.
    pub fn set_auto_install(&self, enabled: bool) {
        self.inner.auto_install.store(enabled, Ordering::Relaxed);
    }

    fn table(&self) -> std::sync::MutexGuard<'_, OperationTable<RootLock>> {
        self.inner.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one table call and carries out its effects, in order, before
    /// the next call.
    fn apply(&self, call: impl FnOnce(&mut OperationTable<RootLock>) -> Vec<Effect<RootLock>>) {
        let mut table = self.table();
        let effects = call(&mut table);
        self.carry_out(&table, effects);
    }

    /// The effects of one call, carried out while the table is held. The
    /// busy games are published before a task starts (so the library and
    /// the peer server leave the game alone before it changes) and after a
    /// lock is let go (so a game looks free only once it is).
    fn carry_out(&self, table: &OperationTable<RootLock>, effects: Vec<Effect<RootLock>>) {
        let busy = table.busy();
        for effect in effects {
            match effect {
                Effect::StartDownload { id, cancel, lock } => {
                    self.publish_busy(&busy);
                    let (this, root) = (self.clone(), lock.root().to_owned());
                    tokio::spawn(async move {
                        // A task that panicked still ends its operation.
                        let end = tokio::spawn(this.clone().download(id.clone(), root, cancel)).await;
                        let end = end.unwrap_or_else(|e| {
                            DownloadEnd::Failed(Failure::new(FailureKind::Other, format!("the download failed: {e}")))
                        });
                        this.apply(|table| table.download_ended(&id, end));
                    });
                }
                Effect::StartWork { id, kind, cancel, lock } => {
                    self.publish_busy(&busy);
                    tokio::spawn(self.clone().work(id, kind, lock, cancel));
                }
                Effect::Cancel(token) => token.cancel(),
                Effect::Release { id, lock } => {
                    drop(lock);
                    self.publish_busy(&busy);
                    self.inner.library.released(&id);
                }
                Effect::Emit(event) => drop(self.inner.events.send(event)),
            }
        }
        self.publish_busy(&busy);
    }

    /// Publishes the games the table holds, when they changed.
    fn publish_busy(&self, busy: &BTreeSet<String>) {
        if **self.inner.busy.borrow() != *busy {
            self.inner.busy.send_replace(Arc::new(busy.clone()));
        }
    }

    /// Takes the lock on `id`'s root for an operation.
    fn acquire(&self, id: &str) -> Result<RootLock, Failure> {
        let game_dir = self.inner.library.state().game_dir.clone();
        match RootLock::try_acquire(&game_dir, id, self.inner.library.catalog()) {
            Ok(Some(lock)) => Ok(lock),
            Ok(None) => Err(Failure::new(
                FailureKind::Busy,
                format!("{id} is busy: another LanSpread process is working on it"),
            )),
            Err(RootError::Io(e)) => Err(Failure::new(FailureKind::of_io(&e), format!("{e}; nothing was changed"))),
            Err(e) => Err(Failure::new(FailureKind::Refused, format!("{e}; nothing was changed"))),
        }
    }

    /// Starts downloading (or updating) `id` from the peers.
    pub fn start_download(&self, id: &str, kind: DownloadKind) {
        let newest = kind == DownloadKind::Download && self.has_newest(id);
        self.apply(|table| table.download(id, kind, newest, || self.acquire(id)));
    }

    /// Starts an install (an update when installed), uninstall or removal.
    pub fn start_work(&self, id: &str, kind: WorkKind) {
        self.apply(|table| table.work(id, kind, || self.acquire(id)));
    }

    /// Pauses a running download.
    pub fn pause(&self, id: &str) {
        self.apply(|table| table.pause(id));
    }

    /// Cancels a download (a paused one is dropped) or an install.
    pub fn cancel(&self, id: &str) {
        self.apply(|table| table.cancel(id));
    }

    /// Continues a paused download.
    pub fn resume(&self, id: &str) {
        self.apply(|table| table.resume(id, || self.acquire(id)));
    }

    fn has_newest(&self, id: &str) -> bool {
        let state = self.inner.library.state();
        let here = state.games.get(id).and_then(|g| g.version.clone());
        let newest = self.inner.access.newest_version(id);
        matches!((here, newest), (Some(here), Some(newest)) if here == newest)
    }

    async fn download(self, id: String, root: std::path::PathBuf, cancel: CancellationToken) -> DownloadEnd {
        match self.run_download(&id, &root, &cancel).await {
            Ok((version, may_install, streamed)) => {
                let install = match (self.inner.auto_install.load(Ordering::Relaxed), may_install, streamed) {
                    (_, _, Some(result)) => {
                        Install::Streamed(result.map(drop).map_err(|e| Failure::new(e.kind(), e.to_string())))
                    }
                    (false, _, None) => Install::Off,
                    (true, true, None) => Install::Now,
                    (true, false, None) => Install::NotTrusted,
                };
                DownloadEnd::Finished { version, install }
            }
            Err(DownloadError::Cancelled) => DownloadEnd::Stopped,
            Err(e) => DownloadEnd::Failed(Failure::new(e.kind(), e.to_string())),
        }
    }

    /// Downloads `id`, installing it as the bytes come when it may install
    /// by itself (see [`Agreement::may_auto_install`]) and installs are on;
    /// returns the version, whether it may install by itself and how the
    /// install along with it ended.
    async fn run_download(
        &self,
        id: &str,
        root: &Path,
        cancel: &CancellationToken,
    ) -> Result<(String, bool, Option<Result<install::InstallReport, InstallError>>), DownloadError> {
        let (agreement, trust) = self.find_sources(id, cancel).await?;
        let may_install = agreement.may_auto_install(&trust);
        let along = (may_install && self.inner.auto_install.load(Ordering::Relaxed)).then(|| self.inner.faults.clone());
        let (manifest, peers) = (agreement.manifest, agreement.sources);
        let version = manifest.version.clone();
        let begin = NodeEvent::DownloadBegin {
            id: id.to_owned(),
            version: version.clone(),
            bytes_total: manifest.total_size(),
        };
        let _ = self.inner.events.send(begin);
        let events = self.inner.events.clone();
        let kept = manifest.clone();
        let progress = |p| drop(events.send(NodeEvent::Progress(p)));
        let swarm = Some(self.inner.access.swarm_link());
        let report = download::download(root, manifest, peers, (swarm, along), progress, cancel.clone()).await?;
        self.inner.library.remember_download(kept);
        Ok((version, may_install, report.installed))
    }

    /// The agreed manifest and the peers offering it. A worker that just
    /// started (after a restart, say) may not have met its peers yet, so
    /// this keeps looking for [`PEER_WAIT`] before giving up.
    async fn find_sources(
        &self,
        id: &str,
        cancel: &CancellationToken,
    ) -> Result<(Agreement<PeerConnection>, TrustSettings), DownloadError> {
        let access = &self.inner.access;
        let deadline = tokio::time::Instant::now() + PEER_WAIT;
        access.wait_for_static_peers(PEER_WAIT).await;
        loop {
            let mut why = format!("no peer offered {id} within {} s", PEER_WAIT.as_secs());
            if let Some(sources) = access.open_game(id).await {
                let trust = sources.trust.clone();
                match download::agree_on_manifest(sources) {
                    Ok(agreement) => return Ok((agreement, trust)),
                    // Waiting changes nothing: the user decides whom to trust.
                    Err(e @ NoAgreement::Disagreement { .. }) => {
                        return Err(DownloadError::Disagreement(format!("cannot download {id}: {e}")));
                    }
                    Err(e) => why = format!("cannot download {id}: {e}"),
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DownloadError::NoPeers(why));
            }
            tokio::select! {
                () = cancel.cancelled() => return Err(DownloadError::Cancelled),
                () = tokio::time::sleep(PEER_RETRY) => {}
            }
        }
    }

    /// Runs an install, uninstall or removal on a blocking thread; the lock
    /// is let go of before the end is reported.
    async fn work(self, id: String, kind: WorkKind, lock: Arc<RootLock>, cancel: CancellationToken) {
        let (events, faults) = (self.inner.events.clone(), self.inner.faults.clone());
        let work = move || -> Result<(), InstallError> {
            let lock = &*lock;
            match kind {
                WorkKind::Uninstall => install::uninstall(lock, &faults).map(drop),
                WorkKind::Remove => install::remove_downloaded(lock, &faults),
                WorkKind::Install => {
                    let mut progress = |p| drop(events.send(NodeEvent::Progress(p)));
                    install::install(lock, &mut progress, &cancel, &faults).map(drop)
                }
            }
        };
        let result = tokio::task::spawn_blocking(work)
            .await
            .unwrap_or_else(|e| Err(InstallError::Io(std::io::Error::other(format!("the task failed: {e}")))))
            .map_err(|e| Failure::new(e.kind(), e.to_string()));
        self.apply(|table| table.work_ended(&id, result));
    }

    /// Asks the peers for a game's file list and reports it.
    pub fn get_game(&self, id: &str) {
        let this = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            let event = match this.inner.access.open_game(&id).await.map(download::agree_on_manifest) {
                Some(Ok(agreement)) => {
                    let peers = agreement.sources.iter().map(|c| c.peer_id).collect();
                    for conn in agreement.sources {
                        conn.close();
                    }
                    NodeEvent::GameFiles { manifest: Arc::new(agreement.manifest), peers }
                }
                Some(Err(why @ NoAgreement::Disagreement { .. })) => {
                    failed(FailureKind::Disagreement, format!("{id}: {why}"))
                }
                Some(Err(why)) => failed(FailureKind::NoPeers, format!("{id}: {why}")),
                None => failed(FailureKind::NoPeers, format!("no peer offers {id} right now")),
            };
            let _ = this.inner.events.send(event);
        });
    }
}

fn failed(kind: FailureKind, message: String) -> NodeEvent {
    NodeEvent::Failed { context: "get game", failure: Failure::new(kind, message) }
}
