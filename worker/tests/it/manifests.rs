//! A node asks every peer with the newest version for its file list, and
//! each list carries the BLAKE3 hash of every chunk of every file.

use std::sync::Arc;
use std::time::Duration;

use lanspread_worker::catalog::Catalog;
use lanspread_worker::library::hash_index::CHUNK_SIZE;
use lanspread_worker::node::{Node, NodeOptions};

use crate::support::{make_game, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_lists_come_from_every_peer_with_the_newest_version() {
    let tmp = tempfile::tempdir().unwrap();
    let big = 2 * CHUNK_SIZE as usize + 1234;
    let files = [("pak0.pk3", big), ("maps/dm1.bsp", 700)];
    let (ga, gb, gc) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    make_game(&ga, "openarena", Some("0.8.10"), &files);
    make_game(&gb, "openarena", Some("0.8.10"), &files);
    make_game(&gc, "openarena", Some("0.8.8"), &files[..1]);
    let nodes = [
        serve("a", &ga, &tmp.path().join("sa"), &[]),
        serve("b", &gb, &tmp.path().join("sb"), &[]),
        serve("c", &gc, &tmp.path().join("sc"), &[]),
    ];
    for node in &nodes {
        node.wait_scanned(Duration::from_secs(30));
    }
    let node = Node::start(NodeOptions {
        state_dir: tmp.path().join("client"),
        games_dir: None,
        listen: "0.0.0.0:0".parse().unwrap(),
        any_port_if_taken: false,
        static_peers: nodes.iter().map(|n| n.listen_addr().to_string()).collect(),
        mdns: false,
        catalog: Arc::new(Catalog::bundled()),
        display_name: "client".into(),
        trust: Default::default(),
        show_covers: false,
        limits: Default::default(),
        serve_downloads: false,
        faults: Default::default(),
    })
    .await
    .unwrap();
    node.wait_for_static_peers(Duration::from_secs(10)).await;
    assert_eq!(node.peer_count(), 3);

    let sources = node.open_game("openarena").await.expect("peers have it");
    assert_eq!(sources.choice.version, "0.8.10");
    let results = sources.answers;
    assert_eq!(results.len(), 2, "only the two peers with 0.8.10 are asked");
    let data = std::fs::read(ga.join("openarena/pak0.pk3")).unwrap();
    let expected: Vec<[u8; 32]> = data.chunks(CHUNK_SIZE as usize).map(|c| *blake3::hash(c).as_bytes()).collect();
    assert_eq!(expected.len(), 3);
    let mut manifests = Vec::new();
    for (peer, result) in results {
        let (conn, manifest) = result.unwrap_or_else(|e| panic!("{peer}: {e}"));
        assert_eq!(conn.peer_id, peer);
        assert_eq!(manifest.version, "0.8.10");
        let paths: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["maps/dm1.bsp", "pak0.pk3", "version.ini"]);
        let pak = &manifest.files[1];
        assert_eq!((pak.size, &pak.chunks), (big as u64, &expected));
        manifests.push(manifest);
    }
    assert_eq!(manifests[0], manifests[1]);
    assert!(node.open_game("wesnoth").await.is_none(), "nobody has it");
    node.shutdown().await;
}
