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
