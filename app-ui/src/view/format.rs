//! How the window writes sizes, speeds, times and states.

use lanspread_proto::ipc::OperationKind;
pub use lanspread_proto::units::format_size;

use crate::supervisor::WorkerState;

/// `12.3 MB/s`.
pub fn format_speed(bytes_per_sec: u64) -> String {
    format!("{}/s", format_size(bytes_per_sec))
}

/// Time left: `45 s`, `3 min 05 s`, `2 h 07 min`; `--` while unknown.
pub fn format_eta(secs: Option<u64>) -> String {
    match secs {
        None => "--".into(),
        Some(s) if s < 60 => format!("{s} s"),
        Some(s) if s < 3600 => format!("{} min {:02} s", s / 60, s % 60),
        Some(s) => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// `1.2 GB of 4.0 GB`.
pub fn format_bytes_of(done: u64, total: u64) -> String {
    format!("{} of {}", format_size(done), format_size(total))
}

/// An operation's name in a sentence ("Install of … failed").
pub fn kind_label(kind: OperationKind) -> &'static str {
    match kind {
        OperationKind::Download => "Download",
        OperationKind::Update => "Update",
        OperationKind::Install => "Install",
        OperationKind::Uninstall => "Uninstall",
        OperationKind::Remove => "Removal",
    }
}

/// `42%`, rounded down so 100% means done.
pub fn format_percent(done: u64, total: u64) -> String {
    if total == 0 {
        return "0%".into();
    }
    format!("{}%", (u128::from(done) * 100 / u128::from(total)).min(100))
}

/// The worker state for the status bar.
pub fn worker_label(state: Option<&WorkerState>) -> String {
    match state {
        None | Some(WorkerState::Starting) => "Starting…".into(),
        Some(WorkerState::Running { .. }) => "Ready".into(),
        Some(WorkerState::Restarting { reason, retry_in }) => {
            format!("The background service {reason}; restarting it in {:.1} s…", retry_in.as_secs_f64())
        }
        Some(WorkerState::CrashLoop { reason, log_file }) => {
            let log = log_file.as_ref().map(|p| format!("; log: {}", p.display())).unwrap_or_default();
            format!("Stopped: the background service failed again and again ({reason}){log}")
        }
        Some(WorkerState::Stopped) => "Stopped".into(),
    }
}
