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

/// A total speed, and its limit when one is set.
fn speed_label(bytes_per_sec: u64, limit: u64) -> String {
    match limit {
        0 => format_speed(bytes_per_sec),
        limit => format!("{} (limit {})", format_speed(bytes_per_sec), format_speed(limit)),
    }
}

/// The total upload, which games it is of, and the limit.
fn upload_label(view: &ViewState) -> String {
    let (_, upload, per_peer) = view.limits;
    let mut label = speed_label(view.upload_bps, upload);
    if per_peer > 0 {
        label = match upload {
            0 => format!("{label} (limit {} per PC)", format_speed(per_peer)),
            _ => label.replacen(')', &format!(", {} per PC)", format_speed(per_peer)), 1),
        };
    }
    match view.uploads.as_slice() {
        [] => label,
        [(id, _)] => format!("{label}: {}", view.game_name(id)),
        [(id, _), rest @ ..] => format!("{label}: {} and {} more", view.game_name(id), rest.len()),
    }
}

pub fn status(view: &ViewState, free_space: Option<u64>) -> Status {
    Status {
        peers: peers_label(view.peer_count),
        download_speed: speed_label(view.download_bps, view.limits.0),
        upload_speed: upload_label(view),
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
    fn speeds_name_their_limits_and_the_games_uploaded() {
        use lanspread_proto::CatalogEntry;
        use lanspread_proto::ipc::{GameSpeed, IpcEvent};

        use crate::supervisor::SupervisorEvent;

        let mut view = ViewState::default();
        let entry = |id: &str, name: &str| CatalogEntry { id: id.into(), name: name.into(), ..CatalogEntry::default() };
        let catalog = vec![entry("openarena", "OpenArena"), entry("xonotic", "Xonotic")];
        view.apply(SupervisorEvent::Worker(IpcEvent::Catalog(catalog)));
        let uploads = vec![
            GameSpeed { id: "openarena".into(), bytes_per_sec: 2_000_000 },
            GameSpeed { id: "uncatalogued".into(), bytes_per_sec: 9 },
        ];
        view.apply(SupervisorEvent::Worker(IpcEvent::Traffic { download_bps: 0, upload_bps: 2_000_000, uploads }));
        let shown = status(&view, None);
        assert_eq!((shown.download_speed.as_str(), shown.upload_speed.as_str()), ("0 B/s", "2.0 MB/s: OpenArena"));
        assert_eq!(view.upload_of("openarena"), 2_000_000);

        view.limits = (4_000_000, 2_000_000, 500_000);
        let uploads = vec![
            GameSpeed { id: "openarena".into(), bytes_per_sec: 1_500_000 },
            GameSpeed { id: "xonotic".into(), bytes_per_sec: 500_000 },
        ];
        view.apply(SupervisorEvent::Worker(IpcEvent::Traffic { download_bps: 0, upload_bps: 2_000_000, uploads }));
        let shown = status(&view, None);
        assert_eq!(shown.download_speed, "0 B/s (limit 4.0 MB/s)");
        assert_eq!(shown.upload_speed, "2.0 MB/s (limit 2.0 MB/s, 500.0 KB/s per PC): OpenArena and 1 more");
        view.limits = (0, 0, 500_000);
        assert_eq!(status(&view, None).upload_speed, "2.0 MB/s (limit 500.0 KB/s per PC): OpenArena and 1 more");
    }

    #[test]
    fn peers_are_counted_in_words() {
        assert_eq!(peers_label(0), "No other PC found yet");
        assert_eq!(peers_label(1), "Connected to 1 PC");
        assert_eq!(peers_label(3), "Connected to 3 PCs");
    }
}
