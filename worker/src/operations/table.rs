//! The operation table: what each game of this worker is doing, as plain
//! logic.
//!
//! It takes the UI's commands (download, install, pause, resume, cancel)
//! and the ends of the tasks it started, and answers with [`Effect`]s in
//! the order they must happen: start a task, emit an event, release a
//! game. The runner in [`super`] carries them out; no task, socket, clock
//! or file is touched here, so every transition and the order of events
//! are unit tests.
//!
//! A game missing from the table is idle. A busy game (downloading or
//! working on its files) holds its root's lock, of type `L` (the runner's
//! [`crate::library::lock::RootLock`]), taken through the `acquire` closure
//! only when the table lets the operation begin, and released by the
//! [`Effect::Release`] that ends it. A paused download holds no lock: the
//! game is free for its files to be read, listed and served.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lanspread_proto::ipc::{FailureKind, OperationKind};
use tokio_util::sync::CancellationToken;

use crate::events::{Failure, NodeEvent, RunningOperation};

/// A download of a version not here yet, or of a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadKind {
    Download,
    Update,
}

/// Work on the files of a game that is here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkKind {
    /// Unpack into `local/` (an update when it is installed).
    Install,
    /// Remove `local/`, keeping the download.
    Uninstall,
    /// Delete the whole game root.
    Remove,
}

impl From<DownloadKind> for OperationKind {
    fn from(kind: DownloadKind) -> OperationKind {
        match kind {
            DownloadKind::Download => OperationKind::Download,
            DownloadKind::Update => OperationKind::Update,
        }
    }
}

impl From<WorkKind> for OperationKind {
    fn from(kind: WorkKind) -> OperationKind {
        match kind {
            WorkKind::Install => OperationKind::Install,
            WorkKind::Uninstall => OperationKind::Uninstall,
            WorkKind::Remove => OperationKind::Remove,
        }
    }
}

/// What a stop request asked of a running download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Pause,
    Cancel,
}

/// The state of a game that is not idle.
#[derive(Debug)]
pub enum GameState<L> {
    /// Fetching chunks; `stop` is set once a pause or cancel was asked for
    /// and the task has not ended yet.
    Downloading { kind: DownloadKind, stop: Option<Stop>, cancel: CancellationToken, lock: Arc<L> },
    /// A download stopped to be resumed later; no lock held.
    Paused { kind: DownloadKind },
    /// Installing, uninstalling or removing; a download of the game that
    /// was paused (`paused`) is paused again afterwards.
    Working { kind: WorkKind, cancel: CancellationToken, lock: Arc<L>, paused: Option<DownloadKind> },
}

/// Something the runner must do, in order.
#[derive(Debug)]
pub enum Effect<L> {
    /// Start downloading into the root `lock` holds; report its end with
    /// [`OperationTable::download_ended`].
    StartDownload {
        id: String,
        cancel: CancellationToken,
        lock: Arc<L>,
    },
    /// Start the work; report its end with [`OperationTable::work_ended`].
    StartWork {
        id: String,
        kind: WorkKind,
        cancel: CancellationToken,
        lock: Arc<L>,
    },
    /// Stop a running task (it then reports its end as stopped).
    Cancel(CancellationToken),
    /// The game is free: drop the table's hold on its lock.
    Release {
        id: String,
        lock: Arc<L>,
    },
    Emit(NodeEvent),
}

/// How a download task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadEnd {
    /// Committed. `install` says whether to install it now: installs are
    /// on and a trusted peer vouches for the version (or nothing competes).
    Finished {
        version: String,
        install: Install,
    },
    /// Stopped by its cancellation token.
    Stopped,
    Failed(Failure),
}

/// Whether a finished download is installed by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    Now,
    /// Installed as its bytes came, along with the download (or failed).
    Streamed(Result<(), Failure>),
    /// Installing by itself is turned off.
    Off,
    /// No trusted peer vouches for the version; the user installs it from
    /// its page if they trust it.
    NotTrusted,
}

/// What the table knows of the games.
#[derive(Debug)]
pub struct OperationTable<L> {
    games: BTreeMap<String, GameState<L>>,
}

impl<L> Default for OperationTable<L> {
    fn default() -> Self {
        OperationTable { games: BTreeMap::new() }
    }
}

impl<L> GameState<L> {
    /// An operation is changing the game's files.
    fn is_busy(&self) -> bool {
        !matches!(self, GameState::Paused { .. })
    }
}

impl<L> OperationTable<L> {
    /// Every running or paused operation.
    pub fn snapshot(&self) -> Vec<RunningOperation> {
        self.games
            .iter()
            .map(|(id, state)| {
                let (kind, paused) = match state {
                    GameState::Downloading { kind, .. } => (OperationKind::from(*kind), false),
                    GameState::Paused { kind } => (OperationKind::from(*kind), true),
                    GameState::Working { kind, .. } => (OperationKind::from(*kind), false),
                };
                RunningOperation { id: id.clone(), kind, paused }
            })
            .collect()
    }

    /// The games whose files an operation is changing (a paused download
    /// changes nothing until it resumes).
    pub fn busy(&self) -> BTreeSet<String> {
        self.games.iter().filter(|(_, s)| s.is_busy()).map(|(id, _)| id.clone()).collect()
    }

    #[cfg(test)]
    fn state(&self, id: &str) -> Option<&GameState<L>> {
        self.games.get(id)
    }

    fn is_busy(&self, id: &str) -> bool {
        self.games.get(id).is_some_and(GameState::is_busy)
    }

    /// Takes `id`'s state out of the table if it is the one `wanted`.
    fn take(&mut self, id: &str, wanted: impl Fn(&GameState<L>) -> bool) -> Option<GameState<L>> {
        if self.games.get(id).is_some_and(wanted) { self.games.remove(id) } else { None }
    }

    /// The lock and a fresh cancellation token for a new operation on
    /// `id`; the lock is not even tried while the game is busy.
    fn claim(
        &self,
        id: &str,
        acquire: impl FnOnce() -> Result<L, Failure>,
    ) -> Result<(Arc<L>, CancellationToken), Failure> {
        if self.is_busy(id) {
            return Err(busy(id));
        }
        Ok((Arc::new(acquire()?), CancellationToken::new()))
    }

    fn changed(&self) -> Effect<L> {
        Effect::Emit(NodeEvent::OperationsChanged(self.snapshot()))
    }

    /// Starts downloading `id` (replacing a paused download of it).
    /// `already_newest`: the newest version on offer is the one here, so a
    /// plain download has nothing to do. `acquire` takes the root's lock.
    pub fn download(
        &mut self,
        id: &str,
        kind: DownloadKind,
        already_newest: bool,
        acquire: impl FnOnce() -> Result<L, Failure>,
    ) -> Vec<Effect<L>> {
        let refuse = |failure| vec![Effect::Emit(NodeEvent::DownloadFailed { id: id.to_owned(), failure })];
        if kind == DownloadKind::Download && already_newest {
            return refuse(Failure::new(FailureKind::Refused, format!("{id} is already here in its newest version")));
        }
        let (lock, cancel) = match self.claim(id, acquire) {
            Ok(claimed) => claimed,
            Err(failure) => return refuse(failure),
        };
        let state = GameState::Downloading { kind, stop: None, cancel: cancel.clone(), lock: lock.clone() };
        self.games.insert(id.to_owned(), state);
        vec![self.changed(), Effect::StartDownload { id: id.to_owned(), cancel, lock }]
    }

    /// Starts an install, uninstall or removal of `id`.
    pub fn work(&mut self, id: &str, kind: WorkKind, acquire: impl FnOnce() -> Result<L, Failure>) -> Vec<Effect<L>> {
        let refuse =
            |failure| vec![Effect::Emit(NodeEvent::WorkFailed { id: id.to_owned(), kind: kind.into(), failure })];
        let (lock, cancel) = match self.claim(id, acquire) {
            Ok(claimed) => claimed,
            Err(failure) => return refuse(failure),
        };
        let paused = match self.games.get(id) {
            Some(GameState::Paused { kind }) => Some(*kind),
            _ => None,
        };
        let state = GameState::Working { kind, cancel: cancel.clone(), lock: lock.clone(), paused };
        self.games.insert(id.to_owned(), state);
        vec![
            self.changed(),
            Effect::Emit(NodeEvent::WorkBegin { id: id.to_owned(), kind: kind.into() }),
            Effect::StartWork { id: id.to_owned(), kind, cancel, lock },
        ]
    }

    /// Pauses a running download; it is kept as paused once its task ends.
    pub fn pause(&mut self, id: &str) -> Vec<Effect<L>> {
        match self.games.get_mut(id) {
            Some(GameState::Downloading { stop, cancel, .. }) => {
                stop.get_or_insert(Stop::Pause);
                vec![Effect::Cancel(cancel.clone())]
            }
            Some(GameState::Paused { .. }) => Vec::new(),
            Some(GameState::Working { .. }) => refused(
                "pause",
                FailureKind::Refused,
                format!("only downloads can be paused, and {id} is not downloading"),
            ),
            None => refused("pause", FailureKind::Refused, format!("nothing is running on {id}")),
        }
    }

    /// Cancels a download (running or paused) or an install; uninstalls
    /// and removals are refused (they end in moments).
    pub fn cancel(&mut self, id: &str) -> Vec<Effect<L>> {
        match self.games.get_mut(id) {
            Some(GameState::Downloading { stop, cancel, .. }) => {
                *stop = Some(Stop::Cancel);
                vec![Effect::Cancel(cancel.clone())]
            }
            Some(GameState::Working { kind: WorkKind::Install, cancel, .. }) => vec![Effect::Cancel(cancel.clone())],
            Some(GameState::Working { .. }) => refused(
                "cancel",
                FailureKind::Refused,
                format!("{id}: an uninstall or removal cannot be stopped; it ends in moments"),
            ),
            Some(GameState::Paused { .. }) => {
                self.games.remove(id);
                vec![self.changed(), Effect::Emit(NodeEvent::DownloadStopped { id: id.to_owned(), paused: false })]
            }
            None => refused("cancel", FailureKind::Refused, format!("nothing is running on {id}")),
        }
    }

    /// Continues a paused download.
    pub fn resume(&mut self, id: &str, acquire: impl FnOnce() -> Result<L, Failure>) -> Vec<Effect<L>> {
        match self.games.get(id) {
            Some(GameState::Paused { kind }) => {
                let kind = *kind;
                self.download(id, kind, false, acquire)
            }
            _ => refused("resume", FailureKind::Refused, format!("{id} is not paused")),
        }
    }

    /// A download task ended. A finished download that installs now keeps
    /// the game (and its lock) and goes on to the install; anything else
    /// frees the game before the event that says how the download ended, so
    /// a UI that acts on that event at once finds the game free.
    pub fn download_ended(&mut self, id: &str, end: DownloadEnd) -> Vec<Effect<L>> {
        let downloading = |s: &GameState<L>| matches!(s, GameState::Downloading { .. });
        let Some(GameState::Downloading { kind, stop, cancel, lock }) = self.take(id, downloading) else {
            return Vec::new();
        };
        let mut effects = Vec::new();
        let event = match end {
            // A pause or cancel that came after the last chunk stops it
            // before the install.
            DownloadEnd::Finished { version, install: Install::Now } if stop.is_none() => {
                let kind = WorkKind::Install;
                let work = GameState::Working { kind, cancel: cancel.clone(), lock: lock.clone(), paused: None };
                self.games.insert(id.to_owned(), work);
                return vec![
                    Effect::Emit(NodeEvent::DownloadFinished { id: id.to_owned(), version }),
                    self.changed(),
                    Effect::Emit(NodeEvent::WorkBegin { id: id.to_owned(), kind: kind.into() }),
                    Effect::StartWork { id: id.to_owned(), kind, cancel, lock },
                ];
            }
            // Installed already: told as an install that begins and ends now
            // (unless a pause or cancel after the last chunk stopped it: then
            // only the download is told, as when that stops an install).
            DownloadEnd::Finished { version, install: Install::Streamed(result) }
                if !(stop.is_some() && matches!(&result, Err(f) if f.kind == FailureKind::Cancelled)) =>
            {
                let (id, kind) = (id.to_owned(), WorkKind::Install.into());
                let end = match result {
                    Ok(()) => NodeEvent::WorkFinished { id: id.clone(), kind },
                    Err(failure) => NodeEvent::WorkFailed { id: id.clone(), kind, failure },
                };
                return vec![
                    Effect::Emit(NodeEvent::DownloadFinished { id: id.clone(), version }),
                    Effect::Emit(NodeEvent::WorkBegin { id: id.clone(), kind }),
                    Effect::Release { id, lock },
                    self.changed(),
                    Effect::Emit(end),
                ];
            }
            DownloadEnd::Finished { version, install } => {
                if install == Install::NotTrusted {
                    let message = format!(
                        "{id} {version} was downloaded but not installed: {}; install it from its page if you \
                         trust it",
                        crate::trust::NOT_INSTALLED_BY_ITSELF
                    );
                    effects.push(Effect::Emit(NodeEvent::Failed {
                        context: "install",
                        failure: Failure::new(FailureKind::NotTrusted, message),
                    }));
                }
                NodeEvent::DownloadFinished { id: id.to_owned(), version }
            }
            DownloadEnd::Stopped if stop == Some(Stop::Pause) => {
                self.games.insert(id.to_owned(), GameState::Paused { kind });
                NodeEvent::DownloadStopped { id: id.to_owned(), paused: true }
            }
            DownloadEnd::Stopped => NodeEvent::DownloadStopped { id: id.to_owned(), paused: false },
            DownloadEnd::Failed(failure) => NodeEvent::DownloadFailed { id: id.to_owned(), failure },
        };
        effects.extend([Effect::Release { id: id.to_owned(), lock }, self.changed(), Effect::Emit(event)]);
        effects
    }

    /// An install, uninstall or removal ended (`Err` also when cancelled:
    /// nothing was changed then). The game is freed before the event that
    /// says so.
    pub fn work_ended(&mut self, id: &str, result: Result<(), Failure>) -> Vec<Effect<L>> {
        let working = |s: &GameState<L>| matches!(s, GameState::Working { .. });
        let Some(GameState::Working { kind, lock, paused, .. }) = self.take(id, working) else {
            return Vec::new();
        };
        if let Some(kind) = paused {
            self.games.insert(id.to_owned(), GameState::Paused { kind });
        }
        let (id, kind) = (id.to_owned(), kind.into());
        let event = match result {
            Ok(()) => NodeEvent::WorkFinished { id: id.clone(), kind },
            Err(failure) => NodeEvent::WorkFailed { id: id.clone(), kind, failure },
        };
        vec![Effect::Release { id, lock }, self.changed(), Effect::Emit(event)]
    }
}

fn busy(id: &str) -> Failure {
    Failure::new(FailureKind::Busy, format!("{id} is busy with another operation"))
}

fn refused<L>(context: &'static str, kind: FailureKind, message: String) -> Vec<Effect<L>> {
    vec![Effect::Emit(NodeEvent::Failed { context, failure: Failure::new(kind, message) })]
}

#[cfg(test)]
mod tests;
