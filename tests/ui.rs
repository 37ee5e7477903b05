//! The window without a display (Slint's testing backend): the library
//! shows what the worker reported, with the right badges and status.

use i_slint_backend_testing::ElementHandle;
use lanspread::MainWindow;
use lanspread::adapters;
use lanspread_app_ui::supervisor::{SupervisorEvent, WorkerState};
use lanspread_app_ui::view::ViewState;
use lanspread_proto::CatalogEntry;
use lanspread_proto::ipc::{IpcEvent, LibrarySnapshot, LocalGame, NetworkGame};

fn entry(id: &str, name: &str) -> CatalogEntry {
    CatalogEntry {
        id: id.into(),
        name: name.into(),
        description: String::new(),
        genre: "Shooter".into(),
        max_players: 8,
    }
}

fn labels(window: &MainWindow, text: &str) -> usize {
    ElementHandle::find_by_accessible_label(window, text).count()
}

#[test]
fn the_library_lists_the_games_the_worker_reports() {
    i_slint_backend_testing::init_no_event_loop();
    let window = MainWindow::new().unwrap();
    let mut view = ViewState::default();
    view.apply(SupervisorEvent::State(WorkerState::Running { pid: 42 }));
    view.apply(SupervisorEvent::Worker(IpcEvent::Catalog(vec![
        entry("openarena", "OpenArena"),
        entry("xonotic", "Xonotic"),
    ])));
    view.apply(SupervisorEvent::Worker(IpcEvent::Library(LibrarySnapshot {
        game_dir: "/games".into(),
        revision: 3,
        games: vec![LocalGame {
            id: "openarena".into(),
            version: Some("0.8.8".into()),
            installed: true,
            size: 412_000_000,
        }],
    })));
    view.apply(SupervisorEvent::Worker(IpcEvent::NetworkGames(vec![NetworkGame {
        id: "xonotic".into(),
        newest_version: "0.8.6".into(),
        peers_with_newest: 2,
        peers_total: 2,
        size: 1_100_000_000,
    }])));
    view.apply(SupervisorEvent::Worker(IpcEvent::PeerCount(2)));
    adapters::show(&window, &view);

    for text in [
        "OpenArena",
        "Xonotic",
        "Installed",
        "Available from 2 peers",
        "v0.8.8",
        "412.0 MB",
        "1.1 GB",
        "2 peers",
        "Worker: Running",
    ] {
        assert_eq!(labels(&window, text), 1, "{text:?} is shown once");
    }
    // The preview data is gone.
    assert_eq!(labels(&window, "Teeworlds"), 0);

    view.apply(SupervisorEvent::State(WorkerState::Restarting {
        reason: "was killed".into(),
        retry_in: std::time::Duration::from_millis(500),
    }));
    adapters::show(&window, &view);
    assert_eq!(labels(&window, "Reconnecting to the worker…"), 1);
    assert_eq!(labels(&window, "OpenArena"), 1, "the last state stays while the worker restarts");
}
