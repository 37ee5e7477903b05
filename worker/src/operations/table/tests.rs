//! The table's transitions and the order of what it asks for, with `()`
//! standing in for a root's lock.

use super::*;

type Table = OperationTable<()>;

fn free() -> Result<(), Failure> {
    Ok(())
}

fn held() -> Result<(), Failure> {
    Err(Failure::new(FailureKind::Busy, "held by another process"))
}

/// The effects as short words, events by name: what the order tests read.
fn steps(effects: &[Effect<()>]) -> Vec<String> {
    effects
        .iter()
        .map(|effect| match effect {
            Effect::StartDownload { id, .. } => format!("start download {id}"),
            Effect::StartWork { id, kind, .. } => format!("start {kind:?} {id}"),
            Effect::Cancel(_) => "cancel".into(),
            Effect::Release { id, .. } => format!("release {id}"),
            Effect::Emit(NodeEvent::OperationsChanged(ops)) => {
                let ops: Vec<String> = ops
                    .iter()
                    .map(|o| format!("{}:{:?}{}", o.id, o.kind, if o.paused { " paused" } else { "" }))
                    .collect();
                format!("operations [{}]", ops.join(", "))
            }
            Effect::Emit(NodeEvent::DownloadFinished { id, version }) => format!("finished {id} {version}"),
            Effect::Emit(NodeEvent::DownloadStopped { id, paused }) => format!("stopped {id} paused={paused}"),
            Effect::Emit(NodeEvent::DownloadFailed { id, failure }) => {
                format!("download failed {id} {:?}", failure.kind)
            }
            Effect::Emit(NodeEvent::WorkBegin { id, kind }) => format!("begin {kind:?} {id}"),
            Effect::Emit(NodeEvent::WorkFinished { id, kind }) => format!("done {kind:?} {id}"),
            Effect::Emit(NodeEvent::WorkFailed { id, kind, failure }) => {
                format!("{kind:?} failed {id} {:?}", failure.kind)
            }
            Effect::Emit(NodeEvent::Failed { context, failure }) => format!("{context} failed {:?}", failure.kind),
            Effect::Emit(other) => format!("{other:?}"),
        })
        .collect()
}

fn cancel_token(effects: &[Effect<()>]) -> CancellationToken {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::StartDownload { cancel, .. } | Effect::StartWork { cancel, .. } => Some(cancel.clone()),
            _ => None,
        })
        .expect("a task was started")
}

/// Carries out the `Cancel` effects, as the runner does.
fn cancel_as_asked(effects: &[Effect<()>]) {
    for effect in effects {
        if let Effect::Cancel(token) = effect {
            token.cancel();
        }
    }
}

fn finished(install: Install) -> DownloadEnd {
    DownloadEnd::Finished { version: "2.0".into(), install }
}

#[test]
fn a_download_takes_the_game_then_frees_it_before_saying_it_finished() {
    let mut table = Table::default();
    let begun = table.download("xonotic", DownloadKind::Download, false, free);
    assert_eq!(steps(&begun), ["operations [xonotic:Download]", "start download xonotic"]);
    assert_eq!(table.busy(), BTreeSet::from(["xonotic".to_owned()]));

    let ended = table.download_ended("xonotic", finished(Install::Off));
    assert_eq!(steps(&ended), ["release xonotic", "operations []", "finished xonotic 2.0"]);
    assert!(table.busy().is_empty() && table.state("xonotic").is_none());
}

#[test]
fn an_install_streamed_with_the_download_is_told_as_one_that_begins_and_ends_then() {
    let mut table = Table::default();
    table.download("xonotic", DownloadKind::Download, false, free);
    let ended = table.download_ended("xonotic", finished(Install::Streamed(Ok(()))));
    assert_eq!(
        steps(&ended),
        ["finished xonotic 2.0", "begin Install xonotic", "release xonotic", "operations []", "done Install xonotic"]
    );
    assert!(table.busy().is_empty());
    table.download("xonotic", DownloadKind::Update, false, free);
    let failure = Failure::new(FailureKind::Refused, "a link out");
    let ended = table.download_ended("xonotic", finished(Install::Streamed(Err(failure))));
    assert_eq!(steps(&ended).last().unwrap(), "Install failed xonotic Refused");
    // A cancel after the last chunk stopped it: only the download is told.
    table.download("xonotic", DownloadKind::Update, false, free);
    table.cancel("xonotic");
    let cancelled = Failure::new(FailureKind::Cancelled, "the install was cancelled");
    let ended = table.download_ended("xonotic", finished(Install::Streamed(Err(cancelled))));
    assert_eq!(steps(&ended), ["release xonotic", "operations []", "finished xonotic 2.0"]);
}

#[test]
fn a_finished_download_goes_on_to_its_install_holding_the_same_lock() {
    let mut table = Table::default();
    let begun = table.download("xonotic", DownloadKind::Update, false, free);
    let cancel = cancel_token(&begun);
    let ended = table.download_ended("xonotic", finished(Install::Now));
    assert_eq!(
        steps(&ended),
        ["finished xonotic 2.0", "operations [xonotic:Install]", "begin Install xonotic", "start Install xonotic"]
    );
    assert!(!ended.iter().any(|e| matches!(e, Effect::Release { .. })), "the lock is kept between the two");
    assert_eq!(table.busy().len(), 1);
    // Cancelling now stops the install, with the download's own token.
    let cancelled = table.cancel("xonotic");
    assert_eq!(steps(&cancelled), ["cancel"]);
    cancel_as_asked(&cancelled);
    assert!(cancel.is_cancelled());
}

/// The bug fixed in fe6eee6: the event that an operation ended went out
/// while the game was still held, so a UI that removed the game right after
/// its uninstall was refused as busy.
#[test]
fn the_end_of_any_operation_is_told_only_once_the_game_is_free() {
    for kind in [WorkKind::Install, WorkKind::Uninstall, WorkKind::Remove] {
        for result in [Ok(()), Err(Failure::new(FailureKind::Io, "disk"))] {
            let mut table = Table::default();
            let begun = table.work("xonotic", kind, free);
            assert_eq!(
                steps(&begun),
                [
                    format!("operations [xonotic:{kind:?}]"),
                    format!("begin {kind:?} xonotic"),
                    format!("start {kind:?} xonotic")
                ]
            );
            let ended = table.work_ended("xonotic", result.clone());
            let last = match &result {
                Ok(()) => format!("done {kind:?} xonotic"),
                Err(_) => format!("{kind:?} failed xonotic Io"),
            };
            assert_eq!(steps(&ended), ["release xonotic".to_owned(), "operations []".to_owned(), last]);
            // What the UI does next is taken at once.
            let next = table.work("xonotic", WorkKind::Remove, free);
            assert_eq!(steps(&next)[1], "begin Remove xonotic");
        }
    }
}

#[test]
fn pause_keeps_the_download_without_its_lock_and_resume_takes_it_again() {
    let mut table = Table::default();
    let begun = table.download("xonotic", DownloadKind::Download, false, free);
    let cancel = cancel_token(&begun);
    let paused = table.pause("xonotic");
    assert_eq!(steps(&paused), ["cancel"]);
    cancel_as_asked(&paused);
    assert!(cancel.is_cancelled());
    // The task sees its token and ends.
    let ended = table.download_ended("xonotic", DownloadEnd::Stopped);
    assert_eq!(
        steps(&ended),
        ["release xonotic", "operations [xonotic:Download paused]", "stopped xonotic paused=true"]
    );
    assert!(table.busy().is_empty(), "a paused download holds nothing");
    assert!(table.pause("xonotic").is_empty(), "pausing twice changes nothing");

    let resumed = table.resume("xonotic", free);
    assert_eq!(steps(&resumed), ["operations [xonotic:Download]", "start download xonotic"]);
    assert!(!cancel_token(&resumed).is_cancelled(), "a fresh token");
}

#[test]
fn cancel_drops_a_running_or_a_paused_download() {
    let mut table = Table::default();
    table.download("a", DownloadKind::Download, false, free);
    assert_eq!(steps(&table.cancel("a")), ["cancel"]);
    assert_eq!(
        steps(&table.download_ended("a", DownloadEnd::Stopped)),
        ["release a", "operations []", "stopped a paused=false"]
    );

    table.download("b", DownloadKind::Update, false, free);
    table.pause("b");
    table.download_ended("b", DownloadEnd::Stopped);
    assert_eq!(steps(&table.cancel("b")), ["operations []", "stopped b paused=false"]);
    assert!(table.state("b").is_none());
}

#[test]
fn a_pause_then_cancel_before_the_task_ends_is_a_cancel() {
    let mut table = Table::default();
    table.download("a", DownloadKind::Download, false, free);
    table.pause("a");
    table.cancel("a");
    assert_eq!(steps(&table.download_ended("a", DownloadEnd::Stopped))[2], "stopped a paused=false");
}

/// The review's find: a pause or cancel that comes after the last chunk
/// used to start the install with a cancelled token, which then "failed".
#[test]
fn a_stop_asked_after_the_last_chunk_ends_the_download_without_installing() {
    for stop in [Stop::Pause, Stop::Cancel] {
        let mut table = Table::default();
        table.download("a", DownloadKind::Download, false, free);
        match stop {
            Stop::Pause => table.pause("a"),
            Stop::Cancel => table.cancel("a"),
        };
        let ended = table.download_ended("a", finished(Install::Now));
        assert_eq!(steps(&ended), ["release a", "operations []", "finished a 2.0"], "{stop:?}");
        assert!(table.busy().is_empty() && table.state("a").is_none());
    }
}

/// Uninstalling the old version while an update download is paused keeps
/// the paused download to resume afterwards.
#[test]
fn work_on_a_game_with_a_paused_download_keeps_it_paused() {
    let mut table = Table::default();
    table.download("a", DownloadKind::Update, false, free);
    table.pause("a");
    table.download_ended("a", DownloadEnd::Stopped);
    assert_eq!(steps(&table.work("a", WorkKind::Uninstall, free))[0], "operations [a:Uninstall]");
    let ended = table.work_ended("a", Ok(()));
    assert_eq!(steps(&ended), ["release a", "operations [a:Update paused]", "done Uninstall a"]);
    assert!(table.busy().is_empty());
    assert_eq!(steps(&table.resume("a", free)), ["operations [a:Update]", "start download a"]);
}

#[test]
fn uninstalls_and_removals_are_not_cancelled() {
    let mut table = Table::default();
    table.work("a", WorkKind::Remove, free);
    assert_eq!(steps(&table.cancel("a")), ["cancel failed Refused"]);
    table.work("b", WorkKind::Install, free);
    assert_eq!(steps(&table.cancel("b")), ["cancel"]);
}

#[test]
fn a_busy_game_refuses_a_second_operation_with_the_kind_busy() {
    let mut table = Table::default();
    table.download("a", DownloadKind::Download, false, free);
    let acquired = std::cell::Cell::new(false);
    let refused = table.work("a", WorkKind::Uninstall, || {
        acquired.set(true);
        free()
    });
    assert_eq!(steps(&refused), ["Uninstall failed a Busy"]);
    assert!(!acquired.get(), "the lock is not even tried");
    assert_eq!(steps(&table.download("a", DownloadKind::Update, false, free)), ["download failed a Busy"]);
    // Another process holding the root is told the same way.
    assert_eq!(steps(&table.work("b", WorkKind::Install, held)), ["Install failed b Busy"]);
    assert!(table.state("b").is_none());
}

#[test]
fn refusals_say_what_was_wrong() {
    let mut table = Table::default();
    assert_eq!(steps(&table.download("a", DownloadKind::Download, true, free)), ["download failed a Refused"]);
    // An update of the version that is here is allowed (a repair).
    assert_eq!(steps(&table.download("a", DownloadKind::Update, true, free)).len(), 2);
    assert_eq!(steps(&table.pause("none")), ["pause failed Refused"]);
    assert_eq!(steps(&table.cancel("none")), ["cancel failed Refused"]);
    assert_eq!(steps(&table.resume("a", free)), ["resume failed Refused"]);
    table.work("w", WorkKind::Install, free);
    assert_eq!(steps(&table.pause("w")), ["pause failed Refused"]);
}

#[test]
fn a_failed_or_untrusted_download_frees_the_game_first() {
    let mut table = Table::default();
    table.download("a", DownloadKind::Download, false, free);
    let failed = table.download_ended("a", DownloadEnd::Failed(Failure::new(FailureKind::NoPeers, "nobody")));
    assert_eq!(steps(&failed), ["release a", "operations []", "download failed a NoPeers"]);

    table.download("b", DownloadKind::Download, false, free);
    let held_back = table.download_ended("b", finished(Install::NotTrusted));
    assert_eq!(steps(&held_back), ["install failed NotTrusted", "release b", "operations []", "finished b 2.0"]);
}

#[test]
fn ends_of_tasks_the_table_did_not_start_change_nothing() {
    let mut table = Table::default();
    assert!(table.download_ended("a", DownloadEnd::Stopped).is_empty());
    assert!(table.work_ended("a", Ok(())).is_empty());
    table.work("a", WorkKind::Install, free);
    assert!(table.download_ended("a", DownloadEnd::Stopped).is_empty(), "a is installing, not downloading");
    assert_eq!(table.busy().len(), 1);
}

/// A task that panicked is reported as failed by the runner; the table
/// frees its game like any failure, so nothing stays busy for good.
#[test]
fn a_task_that_crashed_frees_its_game() {
    let mut table = Table::default();
    table.download("a", DownloadKind::Download, false, free);
    let crashed = Failure::new(FailureKind::Other, "the download task failed: panicked");
    assert_eq!(steps(&table.download_ended("a", DownloadEnd::Failed(crashed.clone())))[0], "release a");
    table.work("b", WorkKind::Install, free);
    assert_eq!(steps(&table.work_ended("b", Err(crashed)))[0], "release b");
    assert!(table.busy().is_empty() && table.snapshot().is_empty());
}
