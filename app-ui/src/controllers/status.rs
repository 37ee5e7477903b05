//! The status bar.

use crate::supervisor::WorkerState;
use crate::view::{ViewState, format_size, format_speed, worker_label};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// "Connected to 2 PCs"; opens the list of peers.
    pub peers: String,
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

/// How many other PCs this one talks to, in words.
pub fn peers_label(count: u32) -> String {
    match count {
        0 => "No other PC found yet".into(),
        1 => "Connected to 1 PC".into(),
        n => format!("Connected to {n} PCs"),
    }
}

pub fn status(view: &ViewState, free_space: Option<u64>) -> Status {
    Status {
        peers: peers_label(view.peer_count),
        download_speed: format_speed(view.download_bps),
        upload_speed: format_speed(view.upload_bps),
        free_space: free_space.map(|b| format!("{} free", format_size(b))).unwrap_or_default(),
        worker: worker_label(view.worker.as_ref()),
        stale: view.is_stale(),
        crash_loop: matches!(view.worker, Some(WorkerState::CrashLoop { .. })),
        message: view.last_failure.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_counted_in_words() {
        assert_eq!(peers_label(0), "No other PC found yet");
        assert_eq!(peers_label(1), "Connected to 1 PC");
        assert_eq!(peers_label(3), "Connected to 3 PCs");
    }
}
