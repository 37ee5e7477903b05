//! The status bar.

use lanspread_app_ui::supervisor::WorkerState;
use lanspread_app_ui::view::{ViewState, format_size, format_speed, worker_label};
use slint::ComponentHandle;

use crate::{MainWindow, StatusAdapter};

pub(super) fn show(window: &MainWindow, view: &ViewState, free_space: Option<u64>) {
    let status = window.global::<StatusAdapter<'_>>();
    status.set_peer_count(i32::try_from(view.peer_count).unwrap_or(i32::MAX));
    status.set_download_speed(format_speed(view.download_bps).into());
    status.set_upload_speed(format_speed(view.upload_bps).into());
    status.set_free_space(free_space.map(|b| format!("{} free", format_size(b))).unwrap_or_default().into());
    status.set_worker(worker_label(view.worker.as_ref()).into());
    status.set_stale(view.is_stale());
    status.set_crash_loop(matches!(view.worker, Some(WorkerState::CrashLoop { .. })));
    status.set_message(view.last_failure.clone().unwrap_or_default().into());
}
