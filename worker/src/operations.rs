//! Long-running work on games started by the UI (downloads and updates so
//! far), and the active-operations snapshot: the one source of truth for
//! what is running. Each operation's own task removes its entry (or marks it
//! paused) when it ends, so the snapshot never claims work that stopped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lanspread_proto::ipc::{ActiveOperation, GameFile, IpcEvent, OperationKind};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::download::{self, DownloadError};
use crate::library::Library;
use crate::node::PeerAccess;

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
}

impl Operations {
    pub fn new(events: broadcast::Sender<IpcEvent>, access: PeerAccess, library: Library) -> Self {
        Operations { ops: Arc::default(), events, access, library }
    }

    pub fn snapshot(&self) -> Vec<ActiveOperation> {
        let ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        ops.iter()
            .map(|(id, op)| ActiveOperation { id: id.clone(), kind: op.kind, paused: op.cancel.is_none() })
            .collect()
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

    /// Starts downloading (or updating) `id` from the peers.
    pub fn start_download(&self, id: &str, kind: OperationKind) {
        {
            let ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
            if ops.get(id).is_some_and(|op| op.cancel.is_some()) {
                drop(ops);
                return self.fail("download", format!("{id} is already being downloaded"));
            }
        }
        if kind == OperationKind::Download && self.has_newest(id) {
            return self.fail("download", format!("{id} is already here in its newest version"));
        }
        let Some(guard) = self.library.begin_operation(id) else {
            return self.fail("download", format!("{id} is busy with another operation"));
        };
        let cancel = CancellationToken::new();
        self.ops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned(), Operation { kind, cancel: Some(cancel.clone()), pausing: false });
        self.emit_snapshot();
        let this = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            let result = this.run_download(&id, cancel).await;
            drop(guard);
            let paused = {
                let mut ops = this.ops.lock().unwrap_or_else(|p| p.into_inner());
                let pausing = ops.get(&id).is_some_and(|op| op.pausing);
                if pausing && matches!(result, Err(DownloadError::Cancelled)) {
                    if let Some(op) = ops.get_mut(&id) {
                        op.cancel = None;
                        op.pausing = false;
                    }
                } else {
                    ops.remove(&id);
                }
                pausing
            };
            this.emit_snapshot();
            this.emit(match result {
                Ok(version) => IpcEvent::DownloadFinished { id, version },
                Err(DownloadError::Cancelled) => IpcEvent::DownloadCancelled { id, paused },
                Err(e) => IpcEvent::DownloadFailed { id, reason: e.to_string() },
            });
        });
    }

    fn has_newest(&self, id: &str) -> bool {
        let state = self.library.state();
        let here = state.games.get(id).and_then(|g| g.version.clone());
        let newest = self.access.newest_version(id);
        matches!((here, newest), (Some(here), Some(newest)) if here == newest)
    }

    async fn run_download(&self, id: &str, cancel: CancellationToken) -> Result<String, DownloadError> {
        let sources = self.access.open_game(id).await;
        let Some((manifest, peers)) = download::agree_on_manifest(sources) else {
            return Err(DownloadError::NoPeers(format!("no peer offers {id} right now")));
        };
        let version = manifest.version.clone();
        self.emit(IpcEvent::DownloadBegin {
            id: id.to_owned(),
            version: version.clone(),
            bytes_total: manifest.total_size(),
        });
        let game_dir = self.library.state().game_dir.clone();
        let events = self.events.clone();
        download::download(&game_dir, manifest, peers, |p| drop(events.send(IpcEvent::Progress(p))), cancel).await?;
        Ok(version)
    }

    /// Cancels (or pauses) a download; a paused one is dropped on cancel.
    pub fn cancel(&self, id: &str, pause: bool) {
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        let Some(op) = ops.get_mut(id) else {
            drop(ops);
            return self.fail("cancel", format!("{id} is not being downloaded"));
        };
        match &op.cancel {
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
            let ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
            ops.get(id).filter(|op| op.cancel.is_none()).map(|op| op.kind)
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
            let sources = this.access.open_game(&id).await;
            match download::agree_on_manifest(sources) {
                Some((manifest, conns)) => {
                    let peers = conns.iter().map(|c| c.peer_id).collect();
                    for conn in conns {
                        conn.close();
                    }
                    let files =
                        manifest.files.iter().map(|f| GameFile { path: f.path.clone(), size: f.size }).collect();
                    this.emit(IpcEvent::GameFiles { id, version: manifest.version, files, peers });
                }
                None => this.fail("get game", format!("no peer offers {id} right now")),
            }
        });
    }
}
