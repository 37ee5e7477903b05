//! Long-running work on games started by the UI: downloads and updates
//! (which install by themselves unless that is turned off), installs,
//! uninstalls and removals; and the active-operations snapshot, the one
//! source of truth for what is running. Each operation's own task removes
//! its entry (or marks it paused) when it ends, so the snapshot never claims
//! work that stopped.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lanspread_proto::ipc::{ActiveOperation, GameFile, IpcEvent, OperationKind};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::download::{self, DownloadError};
use crate::install::{self, InstallError};
use crate::library::{BusyGuard, Library};
use crate::net::client::PeerConnection;
use crate::node::PeerAccess;
use crate::trust::{Agreement, NOT_INSTALLED_BY_ITSELF, TrustSettings};

/// How long a download looks for peers offering the game before failing.
const PEER_WAIT: Duration = Duration::from_secs(10);
/// How often it looks again meanwhile.
const PEER_RETRY: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct Operation {
    kind: OperationKind,
    /// `None` while paused.
    cancel: Option<CancellationToken>,
    /// Set by a pause request, read by the task when it stops.
    pausing: bool,
}

/// The running operations of one worker.
#[derive(Debug, Clone)]
pub struct Operations {
    ops: Arc<Mutex<BTreeMap<String, Operation>>>,
    events: broadcast::Sender<IpcEvent>,
    access: PeerAccess,
    library: Library,
    auto_install: Arc<AtomicBool>,
}

impl Operations {
    pub fn new(events: broadcast::Sender<IpcEvent>, access: PeerAccess, library: Library) -> Self {
        Operations { ops: Arc::default(), events, access, library, auto_install: Arc::new(AtomicBool::new(true)) }
    }

    pub fn snapshot(&self) -> Vec<ActiveOperation> {
        let ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        ops.iter()
            .map(|(id, op)| ActiveOperation { id: id.clone(), kind: op.kind, paused: op.cancel.is_none() })
            .collect()
    }

    /// Whether a finished download installs by itself.
    pub fn set_auto_install(&self, enabled: bool) {
        self.auto_install.store(enabled, Ordering::Relaxed);
    }

    fn emit(&self, event: IpcEvent) {
        let _ = self.events.send(event);
    }

    fn emit_snapshot(&self) {
        self.emit(IpcEvent::ActiveOperations(self.snapshot()));
    }

    fn fail(&self, context: &str, message: String) {
        self.emit(IpcEvent::RuntimeFailure { context: context.to_owned(), message });
    }

    /// Registers a new operation on `id`; `None` (with the reason sent) when
    /// the game is busy.
    fn begin(&self, id: &str, kind: OperationKind) -> Option<(BusyGuard, CancellationToken)> {
        let refuse = |reason: String| match kind {
            OperationKind::Download | OperationKind::Update => {
                self.emit(IpcEvent::DownloadFailed { id: id.to_owned(), reason })
            }
            kind => self.emit(IpcEvent::OperationFailed { id: id.to_owned(), kind, reason }),
        };
        if self.ops.lock().unwrap_or_else(|p| p.into_inner()).get(id).is_some_and(|op| op.cancel.is_some()) {
            refuse(format!("{id} is busy with another operation"));
            return None;
        }
        let guard = match self.library.begin_operation(id) {
            Ok(guard) => guard,
            Err(reason) => {
                refuse(reason);
                return None;
            }
        };
        let cancel = CancellationToken::new();
        self.ops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), Operation { kind, cancel: Some(cancel.clone()), pausing: false });
        self.emit_snapshot();
        Some((guard, cancel))
    }

    fn set_kind(&self, id: &str, kind: OperationKind) {
        if let Some(op) = self.ops.lock().unwrap_or_else(|p| p.into_inner()).get_mut(id) {
            op.kind = kind;
        }
        self.emit_snapshot();
    }

    fn end(&self, id: &str) {
        self.ops.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        self.emit_snapshot();
    }

    /// Starts downloading (or updating) `id` from the peers.
    pub fn start_download(&self, id: &str, kind: OperationKind) {
        if kind == OperationKind::Download && self.has_newest(id) {
            return self.fail("download", format!("{id} is already here in its newest version"));
        }
        let Some((guard, cancel)) = self.begin(id, kind) else { return };
        let this = self.clone();
        let id = id.to_owned();
        let root = guard.lock().root().to_owned();
        tokio::spawn(async move {
            let result = this.run_download(&id, &root, cancel.clone()).await;
            let paused = matches!(result, Err(DownloadError::Cancelled)) && {
                let mut ops = this.ops.lock().unwrap_or_else(|p| p.into_inner());
                match ops.get_mut(&id) {
                    Some(op) if op.pausing => {
                        op.cancel = None;
                        op.pausing = false;
                        true
                    }
                    _ => false,
                }
            };
            match result {
                Ok((version, may_install)) => {
                    let auto_install = this.auto_install.load(Ordering::Relaxed);
                    if auto_install && !may_install {
                        this.fail(
                            "install",
                            format!(
                                "{id} {version} was downloaded but not installed: {NOT_INSTALLED_BY_ITSELF}; \
                                 install it from its page if you trust it"
                            ),
                        );
                    }
                    let finished = IpcEvent::DownloadFinished { id: id.clone(), version };
                    if auto_install && may_install {
                        this.emit(finished);
                        this.set_kind(&id, OperationKind::Install);
                        this.emit(IpcEvent::OperationBegin { id: id.clone(), kind: OperationKind::Install });
                        let outcome = this.run_local(&id, OperationKind::Install, guard, cancel).await;
                        this.end(&id);
                        this.emit(outcome);
                    } else {
                        drop(guard);
                        this.end(&id);
                        this.emit(finished);
                    }
                }
                Err(e) => {
                    drop(guard);
                    if !paused {
                        this.end(&id);
                    } else {
                        this.emit_snapshot();
                    }
                    this.emit(match e {
                        DownloadError::Cancelled => IpcEvent::DownloadCancelled { id, paused },
                        e => IpcEvent::DownloadFailed { id, reason: e.to_string() },
                    });
                }
            }
        });
    }

    fn has_newest(&self, id: &str) -> bool {
        let state = self.library.state();
        let here = state.games.get(id).and_then(|g| g.version.clone());
        let newest = self.access.newest_version(id);
        matches!((here, newest), (Some(here), Some(newest)) if here == newest)
    }

    /// Downloads `id`; returns the version and whether it may install by
    /// itself (see [`Agreement::may_auto_install`]).
    async fn run_download(
        &self,
        id: &str,
        root: &Path,
        cancel: CancellationToken,
    ) -> Result<(String, bool), DownloadError> {
        let (agreement, trust) = self.find_sources(id, &cancel).await?;
        let may_install = agreement.may_auto_install(&trust);
        let (manifest, peers) = (agreement.manifest, agreement.sources);
        let version = manifest.version.clone();
        self.emit(IpcEvent::DownloadBegin {
            id: id.to_owned(),
            version: version.clone(),
            bytes_total: manifest.total_size(),
        });
        let events = self.events.clone();
        let kept = manifest.clone();
        download::download(root, manifest, peers, |p| drop(events.send(IpcEvent::Progress(p))), cancel).await?;
        self.library.remember_download(kept);
        Ok((version, may_install))
    }

    /// The agreed manifest and the peers offering it. A worker that just
    /// started (after a restart, say) may not have met its peers yet, so
    /// this keeps looking for [`PEER_WAIT`] before giving up.
    async fn find_sources(
        &self,
        id: &str,
        cancel: &CancellationToken,
    ) -> Result<(Agreement<PeerConnection>, TrustSettings), DownloadError> {
        let deadline = tokio::time::Instant::now() + PEER_WAIT;
        self.access.wait_for_static_peers(PEER_WAIT).await;
        loop {
            let mut why = format!("no peer offered {id} within {} s", PEER_WAIT.as_secs());
            if let Some(sources) = self.access.open_game(id).await {
                let trust = sources.trust.clone();
                match download::agree_on_manifest(sources) {
                    Ok(agreement) => return Ok((agreement, trust)),
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

    /// Starts an install (an update when installed), uninstall or removal.
    pub fn start_local(&self, id: &str, kind: OperationKind) {
        let Some((guard, cancel)) = self.begin(id, kind) else { return };
        self.emit(IpcEvent::OperationBegin { id: id.to_owned(), kind });
        let this = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            let outcome = this.run_local(&id, kind, guard, cancel).await;
            this.end(&id);
            this.emit(outcome);
        });
    }

    /// Runs an install-side operation on a blocking thread, releasing the
    /// guard when it is done, and returns the event that tells how it ended.
    /// The caller sends it once the operation is off the books, so a UI that
    /// acts on it at once finds the game free.
    async fn run_local(&self, id: &str, kind: OperationKind, guard: BusyGuard, cancel: CancellationToken) -> IpcEvent {
        let events = self.events.clone();
        let work = move || -> Result<(), InstallError> {
            let lock = guard.lock();
            match kind {
                OperationKind::Uninstall => install::uninstall(lock).map(drop),
                OperationKind::Remove => install::remove_downloaded(lock),
                _ => {
                    let mut progress = |p| drop(events.send(IpcEvent::Progress(p)));
                    install::install(lock, &mut progress, &cancel).map(drop)
                }
            }
        };
        let result = tokio::task::spawn_blocking(work)
            .await
            .unwrap_or_else(|e| Err(InstallError::Io(std::io::Error::other(format!("the task failed: {e}")))));
        match result {
            Ok(()) => IpcEvent::OperationFinished { id: id.to_owned(), kind },
            Err(e) => IpcEvent::OperationFailed { id: id.to_owned(), kind, reason: e.to_string() },
        }
    }

    /// Cancels (or pauses) a download or an install; a paused download is
    /// dropped on cancel.
    pub fn cancel(&self, id: &str, pause: bool) {
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        let Some(op) = ops.get_mut(id) else {
            drop(ops);
            return self.fail("cancel", format!("nothing is running on {id}"));
        };
        let downloading = matches!(op.kind, OperationKind::Download | OperationKind::Update);
        match &op.cancel {
            Some(_) if pause && !downloading => {
                drop(ops);
                self.fail("pause", format!("only downloads can be paused, and {id} is not downloading"));
            }
            Some(token) => {
                op.pausing = pause;
                token.cancel();
            }
            None if !pause => {
                ops.remove(id);
                drop(ops);
                self.emit_snapshot();
                self.emit(IpcEvent::DownloadCancelled { id: id.to_owned(), paused: false });
            }
            None => {}
        }
    }

    /// Continues a paused download.
    pub fn resume(&self, id: &str) {
        let kind = {
            let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
            let kind = ops.get(id).filter(|op| op.cancel.is_none()).map(|op| op.kind);
            if kind.is_some() {
                ops.remove(id);
            }
            kind
        };
        match kind {
            Some(kind) => self.start_download(id, kind),
            None => self.fail("resume", format!("{id} is not paused")),
        }
    }

    /// Asks the peers for a game's file list and reports it.
    pub fn get_game(&self, id: &str) {
        let this = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            match this.access.open_game(&id).await.map(download::agree_on_manifest) {
                Some(Ok(agreement)) => {
                    let peers = agreement.sources.iter().map(|c| c.peer_id).collect();
                    for conn in agreement.sources {
                        conn.close();
                    }
                    let manifest = agreement.manifest;
                    let files =
                        manifest.files.iter().map(|f| GameFile { path: f.path.clone(), size: f.size }).collect();
                    this.emit(IpcEvent::GameFiles { id, version: manifest.version, files, peers });
                }
                Some(Err(why)) => this.fail("get game", format!("{id}: {why}")),
                None => this.fail("get game", format!("no peer offers {id} right now")),
            }
        });
    }
}
