//! The status bar's adapter.

use lanspread_app_ui::controllers::status::Status;
use slint::ComponentHandle;

use crate::{MainWindow, StatusAdapter};

pub(super) fn show(window: &MainWindow, status: &Status) {
    let adapter = window.global::<StatusAdapter<'_>>();
    adapter.set_peers(status.peers.as_str().into());
    adapter.set_download_speed(status.download_speed.as_str().into());
    adapter.set_upload_speed(status.upload_speed.as_str().into());
    adapter.set_free_space(status.free_space.as_str().into());
    adapter.set_worker(status.worker.as_str().into());
    adapter.set_stale(status.stale);
    adapter.set_crash_loop(status.crash_loop);
    adapter.set_message(status.message.as_str().into());
}
