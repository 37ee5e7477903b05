//! The window without a display (Slint's testing backend): the library and
//! the status bar show what the worker reported, and clicking the window's
//! buttons sends the right commands.

use std::cell::RefCell;
use std::rc::Rc;

use i_slint_backend_testing::ElementHandle;
use lanspread::adapters::{self, UiRequest};
use lanspread::{DetailAdapter, Filter, MainWindow, SearchAdapter, SettingsAdapter};
use lanspread_app_ui::settings::Settings;
use lanspread_app_ui::supervisor::{SupervisorEvent, WorkerState};
use lanspread_app_ui::view::ViewState;
use lanspread_proto::ipc::{
    ActiveOperation, GameSpeed, IpcCommand, IpcEvent, LibrarySnapshot, LocalGame, NetworkGame, OperationKind,
    PeerSpeed, PeerSummary, Phase, Progress,
};
use lanspread_proto::{CatalogEntry, PeerId};
use slint::ComponentHandle;

fn entry(id: &str, name: &str) -> CatalogEntry {
    CatalogEntry {
        id: id.into(),
        name: name.into(),
        description: format!("About {name}."),
        genre: "Shooter".into(),
        max_players: 8,
        launch: Vec::new(),
    }
}

fn net(id: &str, version: &str, peers: u32, size: u64) -> NetworkGame {
    NetworkGame {
        id: id.into(),
        newest_version: version.into(),
        peers_with_newest: peers,
        peers_total: peers,
        size,
        ..NetworkGame::default()
    }
}

/// A library with one game in each state: installed, available, downloaded,
/// update available, not on this PC.
fn library_view() -> ViewState {
    let mut view = ViewState::default();
    let mut apply = |event| view.apply(SupervisorEvent::Worker(event));
    apply(IpcEvent::Catalog(vec![
        entry("openarena", "OpenArena"),
        entry("xonotic", "Xonotic"),
        entry("wesnoth", "Wesnoth"),
        entry("0ad", "0 A.D."),
        entry("teeworlds", "Teeworlds"),
        entry("hedgewars", "Hedgewars"),
    ]));
    let local = |id: &str, version: &str, installed: bool| LocalGame {
        id: id.into(),
        version: Some(version.into()),
        installed,
        size: 412_000_000,
        installed_version: installed.then(|| version.into()),
        partial: None,
    };
    apply(IpcEvent::Library(LibrarySnapshot {
        game_dir: "/games".into(),
        revision: 3,
        games: vec![
            local("openarena", "0.8.8", true),
            local("wesnoth", "1.16", false),
            local("0ad", "0.26", true),
            LocalGame { installed_version: Some("1.0.1".into()), ..local("hedgewars", "1.0.2", true) },
        ],
    }));
    apply(IpcEvent::NetworkGames(vec![
        net("xonotic", "0.8.6", 2, 1_100_000_000),
        net("0ad", "0.27", 1, 3_000_000_000),
    ]));
    apply(IpcEvent::PeerCount(2));
    // Nothing downloads here: the PC only serves.
    let uploads = vec![GameSpeed { id: "openarena".into(), bytes_per_sec: 2_500_000 }];
    apply(IpcEvent::Traffic { download_bps: 0, upload_bps: 2_500_000, uploads });
    view.apply(SupervisorEvent::State(WorkerState::Running { pid: 42 }));
    view
}

/// The window with its adapters; requests land in the returned list.
fn window_with(view: ViewState) -> (MainWindow, Rc<adapters::Ui>, Rc<RefCell<Vec<UiRequest>>>, tempfile::TempDir) {
    window_started_with(view, Default::default())
}

/// [`window_with`], the app started with `command_line`.
fn window_started_with(
    view: ViewState,
    command_line: lanspread_app_ui::controllers::settings::CommandLine,
) -> (MainWindow, Rc<adapters::Ui>, Rc<RefCell<Vec<UiRequest>>>, tempfile::TempDir) {
    i_slint_backend_testing::init_no_event_loop();
    let window = MainWindow::new().unwrap();
    let sent = Rc::new(RefCell::new(Vec::new()));
    let sink = sent.clone();
    let dir = tempfile::tempdir().unwrap();
    // No event loop runs here: the window's file work runs inline.
    let config = adapters::UiConfig {
        settings_file: dir.path().join("settings.json"),
        trusted: Default::default(),
        command_line,
        remembered: Default::default(),
        background: adapters::Background::Inline,
    };
    let ui = adapters::connect(&window, config, move |r| sink.borrow_mut().push(r));
    ui.update(view);
    (window, ui, sent, dir)
}

fn count(window: &MainWindow, label: &str) -> usize {
    ElementHandle::find_by_accessible_label(window, label).count()
}

fn click(window: &MainWindow, label: &str) {
    let elements: Vec<_> = ElementHandle::find_by_accessible_label(window, label).collect();
    assert_eq!(elements.len(), 1, "one {label:?} to click");
    elements[0].invoke_accessible_default_action();
}

fn command(id: &str, make: fn(String) -> IpcCommand) -> UiRequest {
    UiRequest::Command(make(id.into()))
}

#[test]
fn the_library_shows_every_state_with_its_button_and_the_status_bar() {
    let (window, ui, _sent, _dir) = window_with(library_view());
    for text in [
        "OpenArena",
        "Installed",
        "Xonotic",
        "From 2 peers",
        "Wesnoth",
        "Downloaded",
        "0 A.D.",
        "Update available",
        "Teeworlds",
        "Not on this PC",
        "Update downloaded",
        "v0.8.8",
        "1.1 GB",
        "Connected to 2 PCs ▾",
        "↓ 0 B/s",
        "↑ 2.5 MB/s: OpenArena",
        "Ready",
    ] {
        assert_eq!(count(&window, text), 1, "{text:?} is shown once");
    }
    for button in ["Play OpenArena", "Download Xonotic", "Install Wesnoth", "Update 0 A.D.", "Install Hedgewars"] {
        assert_eq!(count(&window, button), 1, "{button:?}");
    }
    assert_eq!(count(&window, "Download Teeworlds"), 0, "nothing to do for a game no one has");

    ui.set_free_space(Some(212_400_000_000));
    assert_eq!(count(&window, "212.4 GB free"), 1);

    let mut view = library_view();
    view.apply(SupervisorEvent::State(WorkerState::Restarting {
        reason: "was killed".into(),
        retry_in: std::time::Duration::from_millis(500),
    }));
    ui.update(view.clone());
    assert_eq!(count(&window, "Restarting the background service…"), 1);
    assert_eq!(count(&window, "OpenArena"), 1, "the last state stays while the worker restarts");
    view.apply(SupervisorEvent::State(WorkerState::CrashLoop { reason: "crashed".into(), log_file: None }));
    ui.update(view);
    assert_eq!(count(&window, "Retry"), 1, "Retry after repeated crashes");
}

#[test]
fn card_buttons_send_their_commands() {
    let (window, _ui, sent, _dir) = window_with(library_view());
    click(&window, "Download Xonotic");
    click(&window, "Install Wesnoth");
    click(&window, "Update 0 A.D.");
    assert_eq!(
        *sent.borrow(),
        [
            command("xonotic", |id| IpcCommand::DownloadGame { id }),
            command("wesnoth", |id| IpcCommand::InstallGame { id }),
            command("0ad", |id| IpcCommand::FetchLatest { id }),
        ]
    );
}

#[test]
fn search_and_filter_narrow_the_cards() {
    let (window, ui, _sent, _dir) = window_with(library_view());
    let search = window.global::<SearchAdapter<'_>>();
    search.set_query("wes".into());
    search.invoke_changed();
    assert_eq!((count(&window, "Wesnoth"), count(&window, "Xonotic")), (1, 0));
    search.set_query("".into());
    search.set_filter(Filter::OnThisPc);
    search.invoke_changed();
    assert_eq!((count(&window, "OpenArena"), count(&window, "Xonotic"), count(&window, "Teeworlds")), (1, 0, 0));
    search.set_filter(Filter::OnNetwork);
    ui.update(library_view());
    assert_eq!((count(&window, "Xonotic"), count(&window, "0 A.D."), count(&window, "Wesnoth")), (1, 1, 0));
}

fn downloading(view: &mut ViewState) {
    let peer = PeerId([7; 32]);
    view.apply(SupervisorEvent::Worker(IpcEvent::PeerJoined(PeerSummary {
        peer_id: peer,
        display_name: "lan-box".into(),
        address: "10.0.0.2:47474".into(),
    })));
    view.apply(SupervisorEvent::Worker(IpcEvent::ActiveOperations(vec![ActiveOperation {
        id: "xonotic".into(),
        kind: OperationKind::Download,
        paused: false,
    }])));
    view.apply(SupervisorEvent::Worker(IpcEvent::Progress(Progress {
        id: "xonotic".into(),
        phase: Phase::Downloading,
        bytes_done: 462_000_000,
        bytes_total: 1_100_000_000,
        bytes_per_sec: 11_800_000,
        eta_secs: Some(65),
        peers: vec![PeerSpeed { peer_id: peer, bytes_per_sec: 11_800_000, bytes: 0, still_downloading: false }],
    })));
}

#[test]
fn a_download_shows_progress_on_its_card_and_cancel_in_its_detail_view() {
    let mut view = library_view();
    downloading(&mut view);
    let (window, ui, sent, _dir) = window_with(view.clone());
    assert_eq!(count(&window, "Download Xonotic"), 0, "the progress replaces the button");
    assert_eq!(count(&window, "42%"), 1);
    assert_eq!(count(&window, "11.8 MB/s"), 1);

    click(&window, "Details of Xonotic");
    assert!(window.global::<DetailAdapter<'_>>().get_open());
    assert_eq!(*sent.borrow(), [command("xonotic", |id| IpcCommand::GetGame { id })]);
    view.apply(SupervisorEvent::Worker(IpcEvent::GameFiles {
        id: "xonotic".into(),
        version: "0.8.6".into(),
        files: Vec::new(),
        peers: vec![PeerId([7; 32])],
    }));
    ui.update(view);
    for text in ["About Xonotic.", "462.0 MB of 1.1 GB", "ETA 1 min 05 s", "Speed 11.8 MB/s"] {
        assert_eq!(count(&window, text), 1, "{text:?} in the detail view");
    }
    assert_eq!(count(&window, "lan-box"), 2, "the peer with the game, and its speed line");
    click(&window, "Cancel");
    assert_eq!(sent.borrow().last(), Some(&command("xonotic", |id| IpcCommand::CancelDownload { id })));
    click(&window, "Close");
    assert!(!window.global::<DetailAdapter<'_>>().get_open());
    click(&window, "Details of Xonotic");
    let escape: slint::SharedString = slint::platform::Key::Escape.into();
    window.window().dispatch_event(slint::platform::WindowEvent::KeyPressed { text: escape.clone() });
    window.window().dispatch_event(slint::platform::WindowEvent::KeyReleased { text: escape });
    assert!(!window.global::<DetailAdapter<'_>>().get_open(), "Escape closes the detail view");
}

#[test]
fn the_detail_view_installs_uninstalls_and_removes_after_a_confirmation() {
    let (window, _ui, sent, _dir) = window_with(library_view());
    click(&window, "Details of Wesnoth");
    click(&window, "Install");
    click(&window, "Remove downloaded files");
    assert_eq!(sent.borrow().len(), 2, "removal waits for the confirmation (after the estimate and Install)");
    click(&window, "Delete files");
    click(&window, "Close");
    click(&window, "Details of OpenArena");
    click(&window, "Reinstall");
    click(&window, "Uninstall");
    click(&window, "Close");
    click(&window, "Details of Hedgewars");
    click(&window, "Install update");
    assert_eq!(count(&window, "Remove downloaded files"), 0, "an installed game is uninstalled first");
    assert_eq!(
        *sent.borrow(),
        [
            command("wesnoth", |id| IpcCommand::EstimateInstall { id }),
            command("wesnoth", |id| IpcCommand::InstallGame { id }),
            command("wesnoth", |id| IpcCommand::RemoveDownloaded { id }),
            command("openarena", |id| IpcCommand::InstallGame { id }),
            command("openarena", |id| IpcCommand::UninstallGame { id }),
            command("hedgewars", |id| IpcCommand::EstimateInstall { id }),
            command("hedgewars", |id| IpcCommand::InstallGame { id }),
        ]
    );
}

#[test]
fn settings_are_checked_and_saved() {
    let (window, _ui, sent, dir) = window_with(library_view());
    let settings = window.global::<SettingsAdapter<'_>>();
    click(&window, "Settings");
    assert!(settings.get_open());
    assert_eq!(settings.get_game_dir(), "/games", "the worker's directory until one is saved");

    settings.set_game_dir("relative/games".into());
    click(&window, "Save");
    assert!(settings.get_error().contains("full path"), "{}", settings.get_error());

    settings.set_new_peer("no-port".into());
    click(&window, "Add peer");
    assert!(settings.get_error().contains("HOST:PORT"));
    settings.set_new_peer("10.0.0.9:47474".into());
    click(&window, "Add peer");
    let games = dir.path().join("my games");
    settings.set_game_dir(games.display().to_string().into());
    settings.set_auto_install(false);
    // Trust: a party key and a pasted peer id, sent to the worker at once.
    settings.set_party_key(" our party words ".into());
    let peer = PeerId([4; 32]);
    settings.set_new_trusted("not an id".into());
    click(&window, "Trust");
    assert!(settings.get_error().contains("not a peer id"), "{}", settings.get_error());
    settings.set_new_trusted(peer.to_string().into());
    click(&window, "Trust");
    settings.set_max_upload("2MB".into());
    click(&window, "Save");
    assert_eq!(settings.get_error(), "");
    assert!(settings.get_note().contains("next start"), "{}", settings.get_note());
    let saved = Settings::load(&dir.path().join("settings.json")).unwrap();
    assert_eq!(saved.game_dir.as_deref(), Some(games.as_path()));
    assert_eq!(saved.peers, ["10.0.0.9:47474"]);
    assert!(!saved.auto_install);
    assert!(!games.exists(), "the UI writes nothing there; the worker creates it");
    assert!(sent.borrow().contains(&UiRequest::Command(IpcCommand::SetAutoInstall { enabled: false })));
    let limits = IpcCommand::SetLimits { download: 0, upload: 2_000_000, upload_per_peer: 0 };
    assert!(sent.borrow().contains(&UiRequest::Command(limits)), "limits apply at once");
    let trust = IpcCommand::SetTrust {
        party_key: Some("our party words".into()),
        trusted: vec![peer],
        auto_install_untrusted: false,
    };
    assert!(sent.borrow().contains(&UiRequest::Command(trust)));
    let added = IpcCommand::AddPeer { address: "10.0.0.9:47474".into() };
    assert_eq!(sent.borrow().last(), Some(&UiRequest::Command(added)), "an added PC is asked at once");
    assert_eq!((saved.party_key.as_deref(), saved.trusted.clone()), (Some("our party words"), vec![peer.to_string()]));

    // The folder browser picks a folder.
    std::fs::create_dir_all(dir.path().join("picked/inner")).unwrap();
    settings.set_game_dir(dir.path().join("picked").display().to_string().into());
    click(&window, "Browse…");
    assert!(settings.get_browsing());
    settings.invoke_browse_into("inner".into());
    click(&window, "Use this folder");
    assert_eq!(settings.get_game_dir(), dir.path().join("picked/inner").display().to_string());
}

/// Presses and releases the left button over the middle of `element`.
fn press_on(window: &MainWindow, element: &ElementHandle) {
    let (at, size) = (element.absolute_position(), element.size());
    let position = slint::LogicalPosition::new(at.x + size.width / 2.0, at.y + size.height / 2.0);
    let button = slint::platform::PointerEventButton::Left;
    window.window().dispatch_event(slint::platform::WindowEvent::PointerPressed { position, button });
    window.window().dispatch_event(slint::platform::WindowEvent::PointerReleased { position, button });
}

fn press_escape(window: &MainWindow) {
    let escape: slint::SharedString = slint::platform::Key::Escape.into();
    window.window().dispatch_event(slint::platform::WindowEvent::KeyPressed { text: escape.clone() });
    window.window().dispatch_event(slint::platform::WindowEvent::KeyReleased { text: escape });
}

#[test]
fn escape_closes_a_panel_whichever_of_its_fields_has_the_focus() {
    let (window, _ui, _sent, _dir) = window_with(library_view());
    window.window().set_size(slint::LogicalSize::new(1000.0, 680.0));
    let settings = window.global::<SettingsAdapter<'_>>();
    click(&window, "Settings");
    let fields: Vec<_> = ElementHandle::find_by_element_type_name(&window, "LineEdit").collect();
    // The search box, then the panel's game directory field.
    let game_dir = fields.iter().find(|f| f.accessible_value().is_some_and(|v| v == "/games")).expect("the field");
    press_on(&window, game_dir);
    press_escape(&window);
    assert!(!settings.get_open(), "Escape with the game directory field focused closes Settings");
}

/// A thousand games: only the cards in view exist, the header counts what
/// shows, and a new search starts at the top of the grid.
#[test]
fn a_thousand_games_build_only_the_cards_in_view_and_a_search_starts_at_the_top() {
    let mut view = ViewState::default();
    let catalog = (0..1000).map(|i| entry(&format!("game{i:04}"), &format!("Game {i:04}"))).collect();
    view.apply(SupervisorEvent::Worker(IpcEvent::Catalog(catalog)));
    view.apply(SupervisorEvent::State(WorkerState::Running { pid: 1 }));
    let (window, _ui, _sent, _dir) = window_with(view);
    window.window().set_size(slint::PhysicalSize::new(1000, 680));
    // The numbers of the games whose cards exist, in order.
    let cards = |window: &MainWindow| {
        let details = i_slint_backend_testing::ElementQuery::from_root(window)
            .match_predicate(|e| e.accessible_label().is_some_and(|l| l.starts_with("Details of Game ")))
            .find_all();
        let mut numbers: Vec<usize> = details
            .iter()
            .filter_map(|e| e.accessible_label()?.trim_start_matches("Details of Game ").parse().ok())
            .collect();
        numbers.sort_unstable();
        numbers
    };
    let shown = cards(&window);
    assert!(shown.len() < 30 && shown.first() == Some(&0), "{shown:?}");
    assert_eq!(count(&window, "1,000 games"), 1);

    // Scroll well down: the first cards go, later ones come.
    for _ in 0..20 {
        let event = slint::platform::WindowEvent::PointerScrolled {
            position: slint::LogicalPosition::new(500.0, 400.0),
            delta_x: 0.0,
            delta_y: -300.0,
        };
        window.window().dispatch_event(event);
    }
    let scrolled = cards(&window);
    assert!(scrolled.first().is_some_and(|&first| first > 50), "{scrolled:?}");

    let search = window.global::<SearchAdapter<'_>>();
    search.set_query("game 00".into());
    search.invoke_changed();
    // Change handlers run with the event loop's next turn.
    slint::platform::update_timers_and_animations();
    assert_eq!(cards(&window).first(), Some(&0), "the results open at the top");
    assert_eq!(count(&window, "100 of 1,000 games"), 1);
}

/// Play starts the program the catalog names inside the game's `local/`,
/// the card says Running until it exits, and then offers Play again.
#[cfg(unix)]
#[test]
fn play_starts_the_game_and_the_card_shows_it_running_until_it_exits() {
    use std::os::unix::fs::PermissionsExt;
    let games = tempfile::tempdir().unwrap();
    let local = games.path().join("openarena/local");
    std::fs::create_dir_all(&local).unwrap();
    let (started, stop) = (games.path().join("started"), games.path().join("stop"));
    let script = format!(
        "#!/bin/sh\necho \"$@\" > '{}'\nwhile [ ! -e '{}' ]; do sleep 0.05; done\n",
        started.display(),
        stop.display()
    );
    std::fs::write(local.join("run.sh"), script).unwrap();
    std::fs::set_permissions(local.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut view = ViewState::default();
    let mut apply = |event| view.apply(SupervisorEvent::Worker(event));
    let launch = lanspread_proto::game::LaunchCommand {
        os: lanspread_proto::game::LaunchOs::Any,
        program: "run.sh".into(),
        args: vec!["+set".into(), "fullscreen 0".into()],
        working_dir: None,
    };
    apply(IpcEvent::Catalog(vec![CatalogEntry { launch: vec![launch], ..entry("openarena", "OpenArena") }]));
    let installed = LocalGame {
        id: "openarena".into(),
        version: Some("0.8.8".into()),
        installed: true,
        size: 1,
        installed_version: Some("0.8.8".into()),
        partial: None,
    };
    let game_dir = games.path().display().to_string();
    apply(IpcEvent::Library(LibrarySnapshot { game_dir, revision: 1, games: vec![installed] }));
    view.apply(SupervisorEvent::State(WorkerState::Running { pid: 1 }));
    let (window, ui, sent, settings_dir) = window_with(view.clone());

    click(&window, "Play OpenArena");
    assert!(sent.borrow().is_empty(), "the UI starts the game itself, not the worker");
    let remembered = lanspread_app_ui::memory::Remembered::load(&settings_dir.path().join("remembered.json"));
    assert!(remembered.played.contains_key("openarena"), "the play time is kept for Recently played");
    assert_eq!((count(&window, "Running"), count(&window, "Play OpenArena")), (1, 0));
    // A progress tick from the worker knows nothing of the game: the
    // detail view must not offer Play for a second copy.
    click(&window, "Details of OpenArena");
    ui.update_progress(view.clone());
    assert_eq!(count(&window, "Play"), 0, "no second Play");
    click(&window, "Close");
    ui.update(view);
    assert_eq!((count(&window, "Running"), count(&window, "Play OpenArena")), (1, 0), "no second Play");
    for _ in 0..200 {
        if started.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&started).unwrap(), "+set fullscreen 0\n", "the program with its arguments");

    std::fs::write(&stop, "").unwrap();
    for _ in 0..200 {
        i_slint_backend_testing::mock_elapsed_time(std::time::Duration::from_millis(600));
        if count(&window, "Play OpenArena") == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!((count(&window, "Running"), count(&window, "Play OpenArena")), (0, 1), "back once it exited");
}

/// A download that stopped (cancelled, or the PC was switched off) shows
/// how far it got and resumes with one click.
#[test]
fn a_stopped_download_shows_resume_with_its_percent() {
    let mut view = library_view();
    let stopped = LocalGame {
        id: "teeworlds".into(),
        version: None,
        installed: false,
        size: 36,
        installed_version: None,
        partial: Some(lanspread_proto::ipc::PartialDownload {
            version: "0.7.5".into(),
            bytes_done: 36,
            bytes_total: 100,
        }),
    };
    view.apply(SupervisorEvent::Worker(IpcEvent::Library(LibrarySnapshot {
        game_dir: "/games".into(),
        revision: 4,
        games: vec![stopped],
    })));
    let (window, _ui, sent, _dir) = window_with(view);
    assert_eq!(count(&window, "Stopped"), 1);
    click(&window, "Resume (36%) Teeworlds");
    assert_eq!(*sent.borrow(), [command("teeworlds", |id| IpcCommand::DownloadGame { id })]);
    // Or its files go, from its detail view.
    click(&window, "Details of Teeworlds");
    click(&window, "Delete partial download");
    click(&window, "Delete files");
    assert_eq!(sent.borrow().last(), Some(&command("teeworlds", |id| IpcCommand::RemoveDownloaded { id })));
}

/// Settings say which values the command line set for this run, beside
/// the saved ones they override.
#[test]
fn settings_name_the_values_the_command_line_set() {
    let command_line = lanspread_app_ui::controllers::settings::CommandLine {
        game_dir: Some("/srv/lan-games".into()),
        peers: vec!["10.0.0.2:47474".into()],
        catalog: None,
    };
    let (window, _ui, _sent, _dir) = window_started_with(library_view(), command_line);
    click(&window, "Settings");
    let settings = window.global::<SettingsAdapter<'_>>();
    let said = settings.get_in_effect();
    assert!(said.contains("game directory /srv/lan-games") && said.contains("PC to ask 10.0.0.2:47474"), "{said}");
    assert_eq!(count(&window, said.as_str()), 1, "shown in the panel");
}

fn press_key(window: &MainWindow, key: impl Into<slint::SharedString>) {
    let text: slint::SharedString = key.into();
    window.window().dispatch_event(slint::platform::WindowEvent::KeyPressed { text: text.clone() });
    window.window().dispatch_event(slint::platform::WindowEvent::KeyReleased { text });
}

/// Typing anywhere searches, Enter opens the first game found, Escape
/// closes it and then clears the search, Ctrl+F goes back to the box.
#[test]
fn the_keyboard_searches_and_opens_games() {
    let (window, _ui, sent, _dir) = window_with(library_view());
    window.window().set_size(slint::LogicalSize::new(1000.0, 680.0));
    let search = window.global::<SearchAdapter<'_>>();
    // A card's button has the focus: letters still go to the search.
    let download = ElementHandle::find_by_accessible_label(&window, "Download Xonotic").next().expect("Download");
    press_on(&window, &download);
    press_key(&window, "x");
    press_key(&window, "o");
    assert_eq!(search.get_query(), "xo");
    assert_eq!((count(&window, "Xonotic"), count(&window, "OpenArena")), (1, 0));
    sent.borrow_mut().clear();
    press_key(&window, slint::platform::Key::Return);
    assert!(window.global::<DetailAdapter<'_>>().get_open(), "Enter opens the first game found");
    assert_eq!(window.global::<DetailAdapter<'_>>().get_game().name, "Xonotic");
    assert_eq!(*sent.borrow(), [command("xonotic", |id| IpcCommand::GetGame { id })]);
    press_key(&window, slint::platform::Key::Escape);
    assert!(!window.global::<DetailAdapter<'_>>().get_open(), "Escape closes the game");

    let search_box = ElementHandle::find_by_element_type_name(&window, "LineEdit").next().expect("the search box");
    press_on(&window, &search_box);
    press_key(&window, slint::platform::Key::Escape);
    assert_eq!(search.get_query(), "", "Escape in the search box clears it");
    assert_eq!(count(&window, "OpenArena"), 1);

    press_on(&window, &ElementHandle::find_by_accessible_label(&window, "Download Xonotic").next().expect("Download"));
    let control: slint::SharedString = slint::platform::Key::Control.into();
    window.window().dispatch_event(slint::platform::WindowEvent::KeyPressed { text: control.clone() });
    press_key(&window, "f");
    window.window().dispatch_event(slint::platform::WindowEvent::KeyReleased { text: control });
    assert_eq!(search.get_query(), "", "Ctrl+F types nothing");
    press_key(&window, "w");
    assert_eq!(search.get_query(), "w", "after Ctrl+F the search box has the focus");
}

/// The first run: nothing here and nobody found. The window says where
/// games go and adds a PC by address at once (kept for the next start);
/// the panel goes once a PC is found.
#[test]
fn the_first_run_says_where_games_go_and_adds_a_pc_by_address() {
    use lanspread::WelcomeAdapter;
    let mut view = ViewState::default();
    let mut apply = |event| view.apply(SupervisorEvent::Worker(event));
    apply(IpcEvent::Catalog(vec![entry("openarena", "OpenArena")]));
    apply(IpcEvent::Library(LibrarySnapshot {
        game_dir: "/home/ana/LanSpread Games".into(),
        revision: 1,
        games: vec![],
    }));
    apply(IpcEvent::PeerCount(0));
    view.apply(SupervisorEvent::State(WorkerState::Running { pid: 1 }));
    let (window, ui, sent, settings_dir) = window_with(view.clone());
    let welcome = window.global::<WelcomeAdapter<'_>>();
    assert!(welcome.get_show());
    assert_eq!(count(&window, "No games on this PC yet, and no other PC found"), 1);
    assert_eq!(welcome.get_game_dir(), "/home/ana/LanSpread Games");

    welcome.set_address("10.0.0.7".into());
    click(&window, "Add PC");
    assert!(sent.borrow().is_empty());
    assert!(welcome.get_message_is_error() && welcome.get_message().contains("HOST:PORT"), "{}", welcome.get_message());

    welcome.set_address("10.0.0.7:47474".into());
    click(&window, "Add PC");
    assert_eq!(*sent.borrow(), [UiRequest::Command(IpcCommand::AddPeer { address: "10.0.0.7:47474".into() })]);
    assert!(!welcome.get_message_is_error());
    let saved = Settings::load(&settings_dir.path().join("settings.json")).unwrap();
    assert_eq!(saved.peers, ["10.0.0.7:47474"], "kept for the next start");

    view.apply(SupervisorEvent::Worker(IpcEvent::PeerCount(1)));
    ui.update(view);
    assert!(!welcome.get_show(), "a PC was found");
}

/// A game with a cover file shows the picture on its card and, larger, in
/// its detail view; a damaged file leaves the generated cover.
#[test]
fn a_cover_picture_shows_on_the_card_and_in_the_detail_view() {
    use lanspread::ArtAdapter;
    let dir = tempfile::tempdir().unwrap();
    let cover = dir.path().join("cover.png");
    image::RgbaImage::from_pixel(300, 400, image::Rgba([10, 120, 200, 255])).save(&cover).unwrap();
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\n not really").unwrap();
    let (window, ui, _sent, _dir) = window_with(library_view());
    window.window().set_size(slint::LogicalSize::new(1000.0, 680.0));
    let images = || ElementHandle::find_by_element_type_name(&window, "Image").count();
    let without_covers = images();
    let mut view = library_view();
    let covers = vec![
        lanspread_proto::ipc::GameCover { id: "openarena".into(), path: cover.display().to_string() },
        lanspread_proto::ipc::GameCover { id: "xonotic".into(), path: broken.display().to_string() },
    ];
    view.apply(SupervisorEvent::Worker(IpcEvent::Covers(covers)));
    ui.update(view);

    let art = window.global::<ArtAdapter<'_>>();
    let card = art.invoke_picture(cover.display().to_string().into(), false, 0);
    assert_eq!((card.size().width, card.size().height), (168, 236), "decoded at the card's size");
    let large = art.invoke_picture(cover.display().to_string().into(), true, 0);
    assert_eq!((large.size().width, large.size().height), (320, 448), "and at the detail view's");
    let none = art.invoke_picture(broken.display().to_string().into(), false, 0);
    assert_eq!(none.size().width, 0, "a damaged picture shows nothing over the generated cover");

    assert_eq!(images(), without_covers + 2, "a picture on each card with a cover file");
    click(&window, "Details of OpenArena");
    assert_eq!(images(), without_covers + 3, "the detail view shows it too");
}

/// Progress alone updates the busy card and the open detail view, not the
/// grid under it; the grid catches up when the view closes.
#[test]
fn progress_updates_the_busy_card_and_the_detail_view_only() {
    let mut view = library_view();
    downloading(&mut view);
    let (window, ui, _sent, _dir) = window_with(view.clone());
    let progress = |done: u64| {
        SupervisorEvent::Worker(IpcEvent::Progress(Progress {
            id: "xonotic".into(),
            phase: Phase::Downloading,
            bytes_done: done,
            bytes_total: 1_100_000_000,
            bytes_per_sec: 11_800_000,
            eta_secs: Some(50),
            peers: Vec::new(),
        }))
    };
    view.apply(progress(550_000_000));
    ui.update_progress(view.clone());
    assert_eq!((count(&window, "50%"), count(&window, "42%")), (1, 0), "the card follows");

    click(&window, "Details of Xonotic");
    view.apply(progress(605_000_000));
    ui.update_progress(view.clone());
    assert_eq!(count(&window, "605.0 MB of 1.1 GB"), 1, "the detail view follows");
    let card_percent = ElementHandle::find_by_accessible_label(&window, "50%").count();
    assert_eq!(card_percent, 1, "the card under the detail view waits");
    click(&window, "Close");
    assert_eq!((count(&window, "55%"), count(&window, "50%")), (1, 0), "and catches up when it closes");
}

/// The detail view says what the game takes on this PC, its download and
/// its install apart.
#[test]
fn the_detail_view_says_what_the_game_takes_on_disk() {
    let games = tempfile::tempdir().unwrap();
    let root = games.path().join("openarena");
    std::fs::create_dir_all(root.join("local")).unwrap();
    std::fs::write(root.join("pack.zip"), vec![1; 2_000_000]).unwrap();
    std::fs::write(root.join("local/pak0.pk3"), vec![2; 3_000_000]).unwrap();
    let mut view = ViewState::default();
    view.apply(SupervisorEvent::Worker(IpcEvent::Catalog(vec![entry("openarena", "OpenArena")])));
    let installed = LocalGame {
        id: "openarena".into(),
        version: Some("0.8.8".into()),
        installed: true,
        size: 2_000_000,
        installed_version: Some("0.8.8".into()),
        partial: None,
    };
    let game_dir = games.path().display().to_string();
    view.apply(SupervisorEvent::Worker(IpcEvent::Library(LibrarySnapshot {
        game_dir,
        revision: 1,
        games: vec![installed],
    })));
    view.apply(SupervisorEvent::State(WorkerState::Running { pid: 1 }));
    let (window, _ui, _sent, _dir) = window_with(view);
    click(&window, "Details of OpenArena");
    let shown: Vec<String> = i_slint_backend_testing::ElementQuery::from_root(&window)
        .match_predicate(|e| e.accessible_label().is_some_and(|l| l.ends_with(" installed")))
        .find_all()
        .iter()
        .filter_map(|e| e.accessible_label().map(|l| l.to_string()))
        .collect();
    assert_eq!(shown, ["2.0 MB downloaded, 3.0 MB installed"]);
}

/// A running download can be paused from its detail view; a paused one
/// shows Resume with its percent on its card, and goes on with one click.
#[test]
fn a_paused_download_shows_resume_with_its_percent() {
    let mut view = library_view();
    downloading(&mut view);
    let (window, ui, sent, _dir) = window_with(view.clone());
    click(&window, "Details of Xonotic");
    sent.borrow_mut().clear();
    click(&window, "Pause");
    assert_eq!(*sent.borrow(), [command("xonotic", |id| IpcCommand::PauseDownload { id })]);
    click(&window, "Close");

    view.apply(SupervisorEvent::Worker(IpcEvent::ActiveOperations(vec![ActiveOperation {
        id: "xonotic".into(),
        kind: OperationKind::Download,
        paused: true,
    }])));
    ui.update(view);
    assert_eq!(count(&window, "Paused"), 1, "the badge says so");
    sent.borrow_mut().clear();
    click(&window, "Resume (42%) Xonotic");
    assert_eq!(*sent.borrow(), [command("xonotic", |id| IpcCommand::ResumeDownload { id })]);
    click(&window, "Details of Xonotic");
    assert_eq!(count(&window, "Resume"), 1, "the detail view offers Resume too");
}

/// A downloaded game's detail view asks what installing it takes and says
/// so before Install is clicked; one that would not fit says that.
#[test]
fn the_detail_view_tells_what_an_install_takes_before_it_starts() {
    let mut view = library_view();
    let (window, ui, sent, _dir) = window_with(view.clone());
    click(&window, "Details of Wesnoth");
    assert!(sent.borrow().contains(&command("wesnoth", |id| IpcCommand::EstimateInstall { id })));
    let estimate = |bytes| {
        SupervisorEvent::Worker(IpcEvent::InstallEstimate {
            id: "wesnoth".into(),
            version: "1.16".into(),
            bytes,
            available: 10_000_000_000,
        })
    };
    view.apply(estimate(2_000_000_000));
    ui.update(view.clone());
    assert_eq!(count(&window, "Installing takes up to 2.0 GB; 10.0 GB free."), 1);
    view.apply(estimate(12_000_000_000));
    ui.update(view);
    assert_eq!(count(&window, "Installing takes up to 12.0 GB, more than the 10.0 GB free: free some space first."), 1);
}
