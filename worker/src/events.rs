//! What a running node tells whoever listens (the IPC bridge, `serve`'s
//! log): the worker's own events, in its own terms. Only `ipc.rs` turns
//! them into the UI's wire events, so a protocol change stays there.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use lanspread_proto::PeerId;
use lanspread_proto::ipc::{FailureKind, OperationKind, Progress};
use lanspread_proto::os_error::readable;
use lanspread_proto::peer::GameManifest;

use crate::library::LibraryState;

/// An event of a running node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeEvent {
    /// The local library was published anew.
    LibraryChanged(Arc<LibraryState>),
    /// A peer joined, left or listed other games: the network's games changed.
    NetworkChanged,
    PeerJoined(PeerId),
    PeerLeft(PeerId),
    /// Every operation running or paused now, after a change.
    OperationsChanged(Vec<RunningOperation>),
    DownloadBegin {
        id: String,
        version: String,
        bytes_total: u64,
    },
    Progress(Progress),
    DownloadFinished {
        id: String,
        version: String,
    },
    /// A download was stopped on request: paused (it can resume) or cancelled.
    DownloadStopped {
        id: String,
        paused: bool,
    },
    DownloadFailed {
        id: String,
        failure: Failure,
    },
    /// An install, uninstall or removal started.
    WorkBegin {
        id: String,
        kind: OperationKind,
    },
    WorkFinished {
        id: String,
        kind: OperationKind,
    },
    WorkFailed {
        id: String,
        kind: OperationKind,
        failure: Failure,
    },
    /// A game's file list as the peers with its newest version have it.
    GameFiles {
        manifest: Arc<GameManifest>,
        peers: Vec<PeerId>,
    },
    /// The games' cover files changed: each game's, by id (see
    /// `covers::ShownCovers`; spelled out so this module needs none).
    CoversChanged(Arc<BTreeMap<String, PathBuf>>),
    /// Something failed that the user should see, outside an operation.
    Failed {
        context: &'static str,
        failure: Failure,
    },
}

/// One operation running (or paused) on a game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningOperation {
    pub id: String,
    pub kind: OperationKind,
    pub paused: bool,
}

/// Why something failed: a kind to act on and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    /// A Windows OS error in `message` is put in words
    /// ([`lanspread_proto::os_error`]): a failure is what a user reads.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure { kind, message: readable(&message.into()).into_owned() }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
