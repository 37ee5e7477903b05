//! A taken listen port: the desktop app's worker moves to a free one, a
//! seeder (which others reach at a fixed port) refuses with a clear error.

use std::sync::Arc;

use lanspread_worker::catalog::Catalog;
use lanspread_worker::node::{Node, NodeOptions};

fn options(tmp: &std::path::Path, listen: std::net::SocketAddr, any_port_if_taken: bool) -> NodeOptions {
    std::fs::create_dir_all(tmp.join("games")).unwrap();
    NodeOptions {
        state_dir: tmp.join("state"),
        games_dir: Some(tmp.join("games")),
        listen,
        any_port_if_taken,
        static_peers: Vec::new(),
        mdns: false,
        catalog: Arc::new(Catalog::bundled()),
        display_name: "listener".into(),
        trust: Default::default(),
        show_covers: false,
        limits: Default::default(),
        serve_downloads: false,
        faults: Default::default(),
    }
}

#[tokio::test]
async fn a_taken_port_moves_the_app_worker_and_stops_a_seeder() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();

    let err = Node::start(options(tmp.path(), addr, false)).await.unwrap_err();
    assert!(format!("{err:#}").contains(&format!("cannot listen on {addr}")), "{err:#}");

    let node = Node::start(options(tmp.path(), addr, true)).await.unwrap();
    assert_eq!(node.local_addr.ip(), addr.ip());
    assert_ne!(node.local_addr.port(), addr.port());
    node.shutdown().await;
}
