//! The operation runner end to end, in one process: two nodes on
//! `127.0.0.1:0`, a real download over QUIC and a real install, and the
//! events the UI would see, in their order.

use std::sync::Arc;
use std::time::Duration;

use lanspread_proto::ipc::OperationKind;
use lanspread_worker::catalog::Catalog;
use lanspread_worker::events::NodeEvent;
use lanspread_worker::library::LocalGameState;
use lanspread_worker::node::{Node, NodeOptions};
use lanspread_worker::operations::table::{DownloadKind, WorkKind};

use crate::support::{assert_same_tree, make_random_game};

fn options(dir: &std::path::Path, peers: Vec<String>) -> NodeOptions {
    std::fs::create_dir_all(dir.join("games")).unwrap();
    NodeOptions {
        state_dir: dir.join("state"),
        games_dir: Some(dir.join("games")),
        listen: "127.0.0.1:0".parse().unwrap(),
        any_port_if_taken: false,
        static_peers: peers,
        mdns: false,
        catalog: Arc::new(Catalog::bundled()),
        display_name: dir.file_name().unwrap().to_string_lossy().into_owned(),
        trust: Default::default(),
        show_covers: false,
        limits: Default::default(),
        serve_downloads: false,
        faults: Default::default(),
    }
}

/// The events of operations on `id`, in order, until `last` holds.
async fn operation_events(
    events: &mut tokio::sync::broadcast::Receiver<NodeEvent>,
    id: &str,
    last: impl Fn(&NodeEvent) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    let collect = async {
        loop {
            let event = events.recv().await.expect("the node's events");
            let step = match &event {
                NodeEvent::OperationsChanged(ops) => {
                    let ops: Vec<String> = ops.iter().filter(|o| o.id == id).map(|o| format!("{:?}", o.kind)).collect();
                    format!("operations [{}]", ops.join(", "))
                }
                NodeEvent::DownloadBegin { .. } => "download begins".into(),
                NodeEvent::DownloadFinished { .. } => "download finished".into(),
                NodeEvent::DownloadFailed { failure, .. } => format!("download failed: {failure}"),
                NodeEvent::WorkBegin { kind, .. } => format!("{kind:?} begins"),
                NodeEvent::WorkFinished { kind, .. } => format!("{kind:?} finished"),
                NodeEvent::WorkFailed { kind, failure, .. } => format!("{kind:?} failed: {failure}"),
                _ => continue,
            };
            seen.push(step);
            if last(&event) {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), collect).await.unwrap_or_else(|_| panic!("so far: {seen:?}"));
    seen
}

/// Waits until the library, scanned again after an operation, shows `id`
/// as `shown` says.
async fn library_shows(node: &Node, id: &str, shown: impl Fn(&LocalGameState) -> bool) {
    let mut state = node.library.as_ref().unwrap().subscribe();
    let wait = state.wait_for(|s| s.games.get(id).is_some_and(&shown));
    tokio::time::timeout(Duration::from_secs(30), wait).await.expect("the library shows it").unwrap();
}

#[tokio::test]
async fn a_download_installs_by_itself_as_it_comes_and_every_step_is_told_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let source = make_random_game(&tmp.path().join("seed/games"), "openarena", "0.8.8", 3 << 20, 12);
    let seeder = Node::start(options(&tmp.path().join("seed"), Vec::new())).await.unwrap();
    let node = Node::start(options(&tmp.path().join("pc"), vec![seeder.local_addr.to_string()])).await.unwrap();
    node.discover(Duration::from_secs(20), Some("openarena")).await;
    let operations = node.operations.clone().expect("a node with a game directory runs operations");

    let mut events = node.subscribe();
    operations.start_download("openarena", DownloadKind::Download);
    let installed = |e: &NodeEvent| matches!(e, NodeEvent::WorkFinished { kind: OperationKind::Install, .. });
    let steps = operation_events(&mut events, "openarena", installed).await;
    assert_eq!(
        steps,
        [
            "operations [Download]",
            "download begins",
            "download finished",
            // Installed as the bytes came: told as an install that begins
            // and ends with the download's end.
            "Install begins",
            "operations []",
            "Install finished",
        ]
    );
    let root = tmp.path().join("pc/games/openarena");
    assert_same_tree(&source.join("data"), &root.join("local/data"));
    // The game is scanned again once freed, and served from its new file list.
    library_shows(&node, "openarena", |g| g.installed && g.manifest.is_some()).await;

    // Freed before it was told: the next operation is taken at once.
    operations.start_work("openarena", WorkKind::Uninstall);
    let uninstalled = |e: &NodeEvent| matches!(e, NodeEvent::WorkFinished { kind: OperationKind::Uninstall, .. });
    let steps = operation_events(&mut events, "openarena", uninstalled).await;
    assert_eq!(steps, ["operations [Uninstall]", "Uninstall begins", "operations []", "Uninstall finished"]);
    assert!(!root.join("local").exists() && root.join("version.ini").exists());
    library_shows(&node, "openarena", |g| !g.installed && g.manifest.is_some()).await;

    // A second operation while one runs is refused as busy, by kind.
    operations.start_work("openarena", WorkKind::Remove);
    operations.start_work("openarena", WorkKind::Install);
    let refused = |e: &NodeEvent| matches!(e, NodeEvent::WorkFailed { .. });
    let steps = operation_events(&mut events, "openarena", refused).await;
    assert_eq!(steps.last().unwrap(), "Install failed: openarena is busy with another operation", "{steps:?}");
    node.shutdown().await;
    seeder.shutdown().await;
}

/// A node that starts shows the games its last run found at once, before
/// its first pass has read the disk (the window's badges in its first
/// second), and never lists them to peers from that memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_shows_its_last_library_before_scanning() {
    let tmp = tempfile::tempdir().unwrap();
    let options = options(tmp.path(), Vec::new());
    make_random_game(&tmp.path().join("games"), "openarena", "0.8.8", 1, 2);
    let node = Node::start(options.clone()).await.unwrap();
    let library = node.library.clone().unwrap();
    let mut state = library.subscribe();
    let _ = state.wait_for(|s| s.passes >= 1 && s.games.contains_key("openarena")).await;
    // The pass's findings are written right after it ends.
    let kept = tmp.path().join("state").join(lanspread_worker::library::remembered::LIBRARY_FILE);
    for _ in 0..500 {
        if kept.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.shutdown().await;

    let node = Node::start(options).await.unwrap();
    let first = node.library.as_ref().unwrap().state();
    assert_eq!(first.passes, 0, "no pass has ended yet");
    assert_eq!(first.games.get("openarena").and_then(|g| g.version.as_deref()), Some("0.8.8"));
    assert!(node.library.as_ref().unwrap().game_list().games.is_empty(), "nothing listed before it is scanned");
    node.shutdown().await;
}
