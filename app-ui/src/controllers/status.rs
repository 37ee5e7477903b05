//! The status bar.

use crate::supervisor::WorkerState;
use crate::view::{ViewState, format_size, format_speed, worker_label};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub peer_count: u32,
    pub download_speed: String,
    pub upload_speed: String,
    pub free_space: String,
    pub worker: String,
    /// The worker is not connected right now (what is shown may be old).
    pub stale: bool,
    /// The worker crashed again and again; a Retry button shows.
    pub crash_loop: bool,
    pub message: String,
}

pub fn status(view: &ViewState, free_space: Option<u64>) -> Status {
    Status {
        peer_count: view.peer_count,
        download_speed: format_speed(view.download_bps),
        upload_speed: format_speed(view.upload_bps),
        free_space: free_space.map(|b| format!("{} free", format_size(b))).unwrap_or_default(),
        worker: worker_label(view.worker.as_ref()),
        stale: view.is_stale(),
        crash_loop: matches!(view.worker, Some(WorkerState::CrashLoop { .. })),
        message: view.last_failure.clone().unwrap_or_default(),
    }
}
