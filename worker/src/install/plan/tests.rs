//! Each goal planned on each state a root can be found in.

use super::*;

fn facts() -> RootFacts {
    RootFacts {
        root: Found::Folder,
        local: Found::Nothing,
        staging: Found::Nothing,
        backup: Found::Nothing,
        downloaded: true,
        partial: false,
        log: None,
    }
}

fn installed() -> RootFacts {
    RootFacts { local: Found::Folder, ..facts() }
}

fn logged(operation: Operation, step: Step, facts: RootFacts) -> RootFacts {
    RootFacts { log: Some(Intent { operation, step, version: Some("2.0".into()) }), ..facts }
}

/// The steps without the crash points, log writes and checks: what moves on disk.
fn moves(steps: &[Action]) -> Vec<&Action> {
    steps.iter().filter(|a| !matches!(a, Action::Crash(_) | Action::Record(_) | Action::CheckFree(_))).collect()
}

fn logged_steps(steps: &[Action]) -> Vec<Step> {
    steps
        .iter()
        .filter_map(|a| match a {
            Action::Record(intent) => Some(intent.step),
            _ => None,
        })
        .collect()
}

fn crash_points(steps: &[Action]) -> Vec<&'static str> {
    steps
        .iter()
        .filter_map(|a| match a {
            Action::Crash(point) => Some(point.name()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_first_install_unpacks_aside_and_renames_it_in() {
    let steps = install(&facts(), "2.0").unwrap();
    assert_eq!(logged_steps(&steps), [Step::Unpacking, Step::Swapping, Step::Committed]);
    assert_eq!(
        moves(&steps),
        [
            &Action::CreateStaging,
            &Action::Unpack,
            &Action::RemoveMarker(Place::Staging),
            &Action::Rename { from: Place::Staging, to: Place::Local },
            &Action::RecordInstalled("2.0".into()),
            &Action::ClearLog,
        ]
    );
    assert_eq!(crash_points(&steps), ["install:unpacking", "install:unpacked", "install:swapped", "install:committed"]);
    let Action::Record(first) = &steps[0] else { panic!("the log comes first: {steps:?}") };
    assert_eq!(first.operation, Operation::Install);
}

#[test]
fn an_update_keeps_the_old_install_until_the_new_one_is_whole() {
    let steps = install(&installed(), "2.0").unwrap();
    let moves = moves(&steps);
    let unpack = moves.iter().position(|a| **a == Action::Unpack).unwrap();
    let aside = moves.iter().position(|a| **a == Action::Rename { from: Place::Local, to: Place::Backup }).unwrap();
    let discard = moves.iter().position(|a| **a == Action::Discard(Place::Backup)).unwrap();
    let recorded = moves.iter().position(|a| matches!(a, Action::RecordInstalled(_))).unwrap();
    assert!(unpack < aside && aside < recorded && recorded < discard, "{moves:?}");
    assert_eq!(
        crash_points(&steps),
        ["update:unpacking", "update:unpacked", "update:backed-up", "update:swapped", "update:committed"]
    );
}

#[test]
fn only_a_finished_download_installs() {
    assert_eq!(install(&RootFacts { downloaded: false, ..facts() }, "2.0"), Err(Refusal::NotDownloaded));
}

#[test]
fn uninstall_takes_the_game_out_of_installed_with_one_rename_first() {
    assert!(uninstall(&facts()).is_empty(), "not installed: nothing to do");
    assert!(uninstall(&RootFacts { local: Found::Other, ..facts() }).is_empty(), "a link is never followed");
    let steps = uninstall(&installed());
    assert!(matches!(&steps[1], Action::Record(Intent { operation: Operation::Uninstall, .. })));
    assert_eq!(
        moves(&steps),
        [
            &Action::Rename { from: Place::Local, to: Place::Backup },
            &Action::MarkOwned(Place::Backup),
            &Action::ForgetInstalled,
            &Action::Discard(Place::Backup),
            &Action::ClearLog,
        ]
    );
}

#[test]
fn remove_is_refused_unless_the_root_is_a_finished_download_not_installed() {
    assert_eq!(remove(&RootFacts { root: Found::Nothing, ..facts() }, None), Err(Refusal::Missing));
    assert_eq!(remove(&RootFacts { root: Found::Other, ..facts() }, None), Err(Refusal::NotAFolder));
    assert_eq!(remove(&installed(), None), Err(Refusal::Installed));
    assert_eq!(remove(&RootFacts { local: Found::Other, ..facts() }, None), Err(Refusal::Installed));
    assert_eq!(remove(&RootFacts { downloaded: false, ..facts() }, None), Err(Refusal::NotDownloaded));
    // A download that stopped before the end may be deleted too.
    assert!(remove(&RootFacts { downloaded: false, partial: true, ..facts() }, None).is_ok());
    let steps = remove(&facts(), Some("1.0".into())).unwrap();
    assert_eq!(
        moves(&steps),
        [&Action::DeleteSentinel, &Action::EmptyRoot, &Action::ClearLog, &Action::RemoveRoot],
        "the sentinel goes first, so a crash never leaves it looking downloaded"
    );
}

#[test]
fn recovery_undoes_an_install_that_had_not_swapped() {
    for step in [Step::Unpacking, Step::Swapping] {
        // Unpacking with the old install in place, or swapping before the rename.
        let facts = logged(Operation::Update, step, RootFacts { staging: Found::OwnedFolder, ..installed() });
        let (steps, done, _) = recover(&facts);
        assert_eq!(steps, [Action::Discard(Place::Staging), Action::ClearLog]);
        assert_eq!(done, [Recovered::UndidInstall]);
    }
    // The old install was moved aside when the crash came: it is put back.
    let aside = logged(
        Operation::Update,
        Step::Swapping,
        RootFacts { staging: Found::OwnedFolder, backup: Found::OwnedFolder, ..facts() },
    );
    let (steps, ..) = recover(&aside);
    assert_eq!(
        steps,
        [
            Action::Discard(Place::Staging),
            Action::Rename { from: Place::Backup, to: Place::Local },
            Action::RemoveMarker(Place::Local),
            Action::ClearLog
        ]
    );
}

#[test]
fn recovery_keeps_an_install_that_had_swapped_and_finishes_a_committed_one() {
    let swapped = logged(Operation::Update, Step::Swapping, RootFacts { backup: Found::OwnedFolder, ..installed() });
    let (steps, done, _) = recover(&swapped);
    assert_eq!(steps, [Action::Discard(Place::Backup), Action::RecordInstalled("2.0".into()), Action::ClearLog]);
    assert_eq!(done, [Recovered::KeptNewInstall(Some("2.0".into()))]);

    let committed = logged(Operation::Install, Step::Committed, installed());
    let (steps, done, _) = recover(&committed);
    assert_eq!(steps[..2], [Action::Discard(Place::Staging), Action::Discard(Place::Backup)]);
    assert_eq!(done[0].to_string(), "finished installing 2.0");
}

#[test]
fn recovery_finishes_uninstalls_and_removals() {
    let started = logged(Operation::Uninstall, Step::Removing, installed());
    let (steps, done, _) = recover(&started);
    assert_eq!(steps[0], Action::Rename { from: Place::Local, to: Place::Backup });
    assert_eq!(done, [Recovered::FinishedUninstall]);
    let moved = logged(Operation::Uninstall, Step::Removing, RootFacts { backup: Found::OwnedFolder, ..facts() });
    assert_eq!(recover(&moved).0, [Action::ForgetInstalled, Action::Discard(Place::Backup), Action::ClearLog]);

    let removing = logged(Operation::Remove, Step::Removing, RootFacts { downloaded: false, ..facts() });
    let (steps, done, _) = recover(&removing);
    assert_eq!(steps.last(), Some(&Action::RemoveRoot));
    assert_eq!(done, [Recovered::FinishedRemoval]);
}

#[test]
fn without_a_log_only_marked_folders_are_touched() {
    assert_eq!(recover(&facts()), (vec![Action::ClearLog], Vec::new(), Vec::new()), "a consistent root");
    let leftovers = RootFacts { staging: Found::OwnedFolder, backup: Found::OwnedFolder, ..installed() };
    let (steps, done, _) = recover(&leftovers);
    assert_eq!(steps, [Action::ClearLog, Action::Discard(Place::Staging), Action::Discard(Place::Backup)]);
    assert_eq!(done, [Recovered::RemovedUnfinishedInstall, Recovered::RemovedLeftoverBackup]);

    let only_backup = RootFacts { backup: Found::OwnedFolder, ..facts() };
    assert_eq!(recover(&only_backup).1, [Recovered::RestoredPreviousInstall]);

    let foreign = RootFacts { staging: Found::Folder, backup: Found::Other, ..installed() };
    let (steps, done, left_alone) = recover(&foreign);
    assert_eq!((steps, done), (vec![Action::ClearLog], Vec::new()));
    assert_eq!(left_alone, [Place::Staging, Place::Backup]);
}

#[test]
fn a_root_that_is_not_a_folder_is_never_recovered() {
    for root in [Found::Nothing, Found::Other] {
        let facts = logged(Operation::Remove, Step::Removing, RootFacts { root, ..facts() });
        assert_eq!(recover(&facts), (Vec::new(), Vec::new(), Vec::new()));
    }
}

#[test]
fn an_install_a_running_game_holds_is_checked_before_anything_is_logged_or_moved() {
    let position = |steps: &[Action], wanted: &Action| steps.iter().position(|a| a == wanted);
    let check = Action::CheckFree(Place::Local);
    let uninstall = uninstall(&installed());
    assert_eq!(uninstall.first(), Some(&check), "first of all: a refused uninstall leaves no log to finish");
    let update = install(&installed(), "2.0").unwrap();
    assert_eq!(update.first(), Some(&check), "before the slow unpack");
    let swap = position(&update, &Action::Rename { from: Place::Local, to: Place::Backup }).unwrap();
    assert_eq!(update[swap - 1], check, "and again just before the swap");
    assert!(!install(&facts(), "2.0").unwrap().contains(&check), "a first install has nothing to check");
}
