//! Install transactions as plain logic: `plan(goal, facts on disk)` names
//! every step in order, and `transaction::apply` carries them out. Nothing
//! here touches the disk, so each goal on each state a root can be found in
//! (including every state a crash can leave) is a unit test.

use super::intent::{Intent, Operation, Step};
use crate::faults::CrashPoint;

/// One of the folders of a root an install moves around.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// `local/`: the installed game.
    Local,
    /// `.local.installing/`: a new install being unpacked.
    Staging,
    /// `.local.backup/`: the old `local/` during an update's swap or an
    /// uninstall's delete.
    Backup,
}

/// What is at one of the reserved places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Nothing,
    /// A real folder holding LanSpread's ownership marker.
    OwnedFolder,
    /// A real folder without the marker.
    Folder,
    /// A file, a link or anything else.
    Other,
}

impl Found {
    pub fn is_folder(self) -> bool {
        matches!(self, Found::OwnedFolder | Found::Folder)
    }

    fn exists(self) -> bool {
        self != Found::Nothing
    }
}

/// What is on disk at a game root, read before planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootFacts {
    /// The root is a real folder (not a link, not missing).
    pub root: Found,
    pub local: Found,
    pub staging: Found,
    pub backup: Found,
    /// `version.ini` is a regular file: the download is finished.
    pub downloaded: bool,
    /// A download's journal is there: a download stopped before the end.
    pub partial: bool,
    /// The intent log, when there is a readable one.
    pub log: Option<Intent>,
}

/// One step of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Refuse, changing nothing, when another program holds something in
    /// a place open so that it cannot be moved or deleted (on Windows, a
    /// running game's files and folders).
    CheckFree(Place),
    /// Write the intent log (durably, before the steps it names).
    Record(Intent),
    /// Create the staging folder with its ownership marker.
    CreateStaging,
    /// Unpack the game's archives and files into the staging folder.
    Unpack,
    Rename {
        from: Place,
        to: Place,
    },
    MarkOwned(Place),
    RemoveMarker(Place),
    /// Delete a reserved place and what is in it, if there.
    Discard(Place),
    /// Note which version `local/` holds.
    RecordInstalled(String),
    ForgetInstalled,
    /// Delete `version.ini`, so the root stops looking downloaded.
    DeleteSentinel,
    /// Delete everything in the root but the intent log.
    EmptyRoot,
    ClearLog,
    /// Delete the (empty) root itself.
    RemoveRoot,
    Crash(CrashPoint),
}

/// Why a goal cannot be planned; nothing is changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotDownloaded,
    /// Removal: the root is not there.
    Missing,
    /// Removal: the root is a link or not a folder.
    NotAFolder,
    /// Removal: the game is installed.
    Installed,
}

/// Installing `version` (an update when `local/` is a folder). The caller
/// has recovered the root first.
pub fn install(facts: &RootFacts, version: &str) -> Result<Vec<Action>, Refusal> {
    if !facts.downloaded {
        return Err(Refusal::NotDownloaded);
    }
    let operation = if facts.local.is_folder() { Operation::Update } else { Operation::Install };
    let record = |step| Action::Record(Intent { operation, step, version: Some(version.to_owned()) });
    let [unpacking, unpacked, swapped, committed] = match operation {
        Operation::Update => [
            CrashPoint::UpdateUnpacking,
            CrashPoint::UpdateUnpacked,
            CrashPoint::UpdateSwapped,
            CrashPoint::UpdateCommitted,
        ],
        _ => [
            CrashPoint::InstallUnpacking,
            CrashPoint::InstallUnpacked,
            CrashPoint::InstallSwapped,
            CrashPoint::InstallCommitted,
        ],
    };
    let mut steps = Vec::new();
    if operation == Operation::Update {
        // Before the slow unpack, and again just before the swap: a game
        // started in between is found there, and its undo keeps the old.
        steps.push(Action::CheckFree(Place::Local));
    }
    steps.extend([
        record(Step::Unpacking),
        Action::Crash(unpacking),
        Action::CreateStaging,
        Action::Unpack,
        Action::Crash(unpacked),
        record(Step::Swapping),
    ]);
    if operation == Operation::Update {
        steps.extend([
            Action::CheckFree(Place::Local),
            Action::Rename { from: Place::Local, to: Place::Backup },
            Action::MarkOwned(Place::Backup),
            Action::Crash(CrashPoint::UpdateBackedUp),
        ]);
    }
    steps.extend([
        Action::RemoveMarker(Place::Staging),
        Action::Rename { from: Place::Staging, to: Place::Local },
        Action::Crash(swapped),
        Action::RecordInstalled(version.to_owned()),
        record(Step::Committed),
        Action::Crash(committed),
    ]);
    if operation == Operation::Update {
        steps.push(Action::Discard(Place::Backup));
    }
    steps.push(Action::ClearLog);
    Ok(steps)
}

/// Uninstalling: nothing to do when `local/` is not a folder. One rename
/// takes the game out of "installed"; the slow delete follows.
pub fn uninstall(facts: &RootFacts) -> Vec<Action> {
    if !facts.local.is_folder() {
        return Vec::new();
    }
    vec![
        // Before the log: a refused uninstall must not be finished by a recovery.
        Action::CheckFree(Place::Local),
        Action::Record(Intent { operation: Operation::Uninstall, step: Step::Removing, version: None }),
        Action::Crash(CrashPoint::UninstallStarted),
        Action::Rename { from: Place::Local, to: Place::Backup },
        Action::MarkOwned(Place::Backup),
        Action::ForgetInstalled,
        Action::Crash(CrashPoint::UninstallMoved),
        Action::Discard(Place::Backup),
        Action::Crash(CrashPoint::UninstallDeleted),
        Action::ClearLog,
    ]
}

/// Deleting the root of a downloaded (or partly downloaded), not installed
/// game; `version` (from `version.ini`) goes into the log.
pub fn remove(facts: &RootFacts, version: Option<String>) -> Result<Vec<Action>, Refusal> {
    match facts.root {
        Found::Nothing => return Err(Refusal::Missing),
        Found::Other => return Err(Refusal::NotAFolder),
        Found::OwnedFolder | Found::Folder => {}
    }
    if facts.local.exists() {
        return Err(Refusal::Installed);
    }
    if !facts.downloaded && !facts.partial {
        return Err(Refusal::NotDownloaded);
    }
    let mut steps = vec![
        Action::Record(Intent { operation: Operation::Remove, step: Step::Removing, version }),
        Action::Crash(CrashPoint::RemoveStarted),
    ];
    steps.extend(finish_removal());
    Ok(steps)
}

/// The rest of a removal: the sentinel first (so the root stops looking
/// downloaded), then everything but the log, then the log and the folder.
fn finish_removal() -> Vec<Action> {
    vec![
        Action::DeleteSentinel,
        Action::Crash(CrashPoint::RemoveSentinelDeleted),
        Action::EmptyRoot,
        Action::Crash(CrashPoint::RemoveEmptied),
        Action::ClearLog,
        Action::RemoveRoot,
    ]
}

/// What a recovery did, for the log and the `recover` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    FinishedRemoval,
    FinishedUninstall,
    FinishedInstall(Option<String>),
    KeptNewInstall(Option<String>),
    UndidInstall,
    RemovedUnfinishedInstall,
    RemovedLeftoverBackup,
    RestoredPreviousInstall,
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recovered::FinishedRemoval => f.write_str("finished removing the downloaded files"),
            Recovered::FinishedUninstall => f.write_str("finished uninstalling"),
            Recovered::FinishedInstall(v) => write!(f, "finished installing {}", v.as_deref().unwrap_or_default()),
            Recovered::KeptNewInstall(v) => write!(f, "kept the new install of {}", v.as_deref().unwrap_or_default()),
            Recovered::UndidInstall => f.write_str("undid an unfinished install; the previous state is kept"),
            Recovered::RemovedUnfinishedInstall => f.write_str("removed an unfinished install"),
            Recovered::RemovedLeftoverBackup => f.write_str("removed a leftover backup"),
            Recovered::RestoredPreviousInstall => f.write_str("restored the previous install"),
        }
    }
}

/// A folder left alone by recovery: nothing proves LanSpread made it.
pub type LeftAlone = Place;

/// Bringing a root back to a consistent state from its intent log, or,
/// without one, from the ownership markers (only a marked folder is
/// deleted). Returns the steps, what they achieve, and the reserved folders
/// left alone. A recovery from a log is followed by one from the markers,
/// planned on the facts it left.
pub fn recover(facts: &RootFacts) -> (Vec<Action>, Vec<Recovered>, Vec<LeftAlone>) {
    if !facts.root.is_folder() {
        return (Vec::new(), Vec::new(), Vec::new());
    }
    let Some(log) = &facts.log else {
        return recover_from_markers(facts);
    };
    let version = log.version.clone();
    let (mut steps, done) = match (log.operation, log.step) {
        (Operation::Remove, _) => return (finish_removal(), vec![Recovered::FinishedRemoval], Vec::new()),
        (Operation::Uninstall, _) => {
            let mut steps = Vec::new();
            if facts.local.is_folder() {
                steps.push(Action::Rename { from: Place::Local, to: Place::Backup });
            }
            steps.extend([Action::ForgetInstalled, Action::Discard(Place::Backup)]);
            (steps, Recovered::FinishedUninstall)
        }
        (Operation::Install | Operation::Update, Step::Committed) => {
            let mut steps = vec![Action::Discard(Place::Staging), Action::Discard(Place::Backup)];
            steps.extend(version.clone().map(Action::RecordInstalled));
            (steps, Recovered::FinishedInstall(version))
        }
        (Operation::Install | Operation::Update, step) => {
            let swapped = step != Step::Unpacking && !facts.staging.exists() && facts.local.is_folder();
            if swapped {
                let mut steps = vec![Action::Discard(Place::Backup)];
                steps.extend(version.clone().map(Action::RecordInstalled));
                (steps, Recovered::KeptNewInstall(version))
            } else {
                let mut steps = vec![Action::Discard(Place::Staging)];
                if !facts.local.is_folder() && facts.backup.is_folder() {
                    steps.extend(restore());
                }
                (steps, Recovered::UndidInstall)
            }
        }
    };
    steps.push(Action::ClearLog);
    (steps, vec![done], Vec::new())
}

fn recover_from_markers(facts: &RootFacts) -> (Vec<Action>, Vec<Recovered>, Vec<LeftAlone>) {
    // A log cut short by a crash never named a step: it just goes.
    let mut steps = vec![Action::ClearLog];
    let (mut done, mut left_alone) = (Vec::new(), Vec::new());
    match facts.staging {
        Found::Nothing => {}
        Found::OwnedFolder => {
            steps.push(Action::Discard(Place::Staging));
            done.push(Recovered::RemovedUnfinishedInstall);
        }
        Found::Folder | Found::Other => left_alone.push(Place::Staging),
    }
    match facts.backup {
        Found::Nothing => {}
        Found::OwnedFolder if facts.local.is_folder() => {
            steps.push(Action::Discard(Place::Backup));
            done.push(Recovered::RemovedLeftoverBackup);
        }
        Found::OwnedFolder => {
            steps.extend(restore());
            done.push(Recovered::RestoredPreviousInstall);
        }
        Found::Folder | Found::Other => left_alone.push(Place::Backup),
    }
    (steps, done, left_alone)
}

fn restore() -> [Action; 2] {
    [Action::Rename { from: Place::Backup, to: Place::Local }, Action::RemoveMarker(Place::Local)]
}

#[cfg(test)]
mod tests;
