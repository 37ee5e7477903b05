//! Waiting for the user or the system to ask us to stop.

/// Resolves on Ctrl-C, or SIGTERM on Unix.
#[cfg(unix)]
pub async fn shutdown_requested() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Resolves on Ctrl-C or Ctrl-Break (console close is handled the same way).
#[cfg(windows)]
pub async fn shutdown_requested() {
    let _ = tokio::signal::ctrl_c().await;
}

/// A token Ctrl-C (or SIGTERM) cancels, and the task watching for it
/// (abort it when the work is done).
pub fn cancel_on_signal() -> (tokio_util::sync::CancellationToken, tokio::task::JoinHandle<()>) {
    let cancel = tokio_util::sync::CancellationToken::new();
    let on_signal = cancel.clone();
    let task = tokio::spawn(async move {
        shutdown_requested().await;
        on_signal.cancel();
    });
    (cancel, task)
}
