//! Must show 3 (peer side): truncated frames, a 4 GiB length, random bytes
//! and an unknown request each get a clear error, and the server keeps
//! serving this connection and others.

use std::time::Duration;

use lanspread_proto::PeerId;
use lanspread_proto::io::read_frame;
use lanspread_proto::peer::{ErrorCode, MAX_RUN_FILES, PeerRequest, PeerResponse};
use lanspread_worker::net::client::{self, ClientError, PeerConnection};
use lanspread_worker::net::received::ReceivedChunk;
use lanspread_worker::net::traffic::Traffic;

use crate::support::{make_game, serve};

/// Sends raw bytes on a new stream and returns the server's error answer.
async fn send_raw(conn: &PeerConnection, bytes: &[u8]) -> (ErrorCode, String) {
    let (mut send, mut recv) = conn.quic().open_bi().await.unwrap();
    // The server may answer and stop reading before all bytes are written.
    let _ = send.write_all(bytes).await;
    let _ = send.finish();
    let answer = tokio::time::timeout(Duration::from_secs(15), read_frame::<PeerResponse, _>(&mut recv))
        .await
        .expect("the server answers a bad request")
        .expect("the answer is a valid frame")
        .expect("the server answers before closing");
    match answer {
        PeerResponse::Error(e) => (e.code, e.message),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Deterministic noise (xorshift), so a failure can be replayed.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_clear_errors_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    make_game(&games, "wesnoth", Some("1.18"), &[("wesnoth.zip", 5000)]);
    let node = serve("server", &games, &tmp.path().join("state"), &[]);
    let addr = node.listen_addr();
    let server_id: PeerId = node.peer_id().parse().unwrap();
    node.wait_scanned(Duration::from_secs(20));

    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = client::connect(&endpoint, addr, Some(server_id), None, &Traffic::default()).await.unwrap();
    assert_eq!(conn.peer_id, server_id);

    // A frame that says 100 bytes and ends after 3.
    let (code, message) = send_raw(&conn, &[100, 0, 0, 0, 1, 2, 3]).await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("truncated: expected 104 bytes, got 7"), "{message}");

    // A 4 GiB length is refused before the body is read.
    let (code, message) = send_raw(&conn, &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("4294967295 bytes exceeds the limit"), "{message}");

    // Random bytes, with a plausible length prefix and without one.
    let mut framed = 60u32.to_le_bytes().to_vec();
    framed.push(3); // GetGame, then noise where the id should be
    framed.extend(noise(59, 7));
    let (code, message) = send_raw(&conn, &framed).await;
    assert_eq!(code, ErrorCode::BadFrame);
    assert!(message.contains("peer request"), "{message}");
    let (code, _) = send_raw(&conn, &noise(300, 11)).await;
    assert_eq!(code, ErrorCode::BadFrame);

    // A request variant from a newer protocol.
    let (code, message) = send_raw(&conn, &[1, 0, 0, 0, 42]).await;
    assert_eq!(code, ErrorCode::UnknownRequest);
    assert!(message.contains("unknown peer request variant 42"), "{message}");

    // The same connection and a new one are still served.
    let games_listed = conn.list_games().await.unwrap();
    assert_eq!(games_listed.games.len(), 1);
    let other = client::connect(&endpoint, addr, None, None, &Traffic::default()).await.unwrap();
    let manifest = loop {
        match other.get_game("wesnoth").await {
            Ok(manifest) => break manifest,
            Err(ClientError::Refused { error, .. }) if error.code == ErrorCode::NotReady => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    let data = std::fs::read(games.join("wesnoth/wesnoth.zip")).unwrap();
    let file = manifest.files.iter().find(|f| f.path == "wesnoth.zip").unwrap();
    assert_eq!(file.chunks, [*blake3::hash(&data).as_bytes()]);
    let err = other.get_game("../../etc").await.unwrap_err();
    assert!(matches!(err, ClientError::Refused { ref error, .. } if error.code == ErrorCode::NotFound), "{err}");
    assert!(node.log().contains("bad request"), "the server logs what was wrong");

    // A client that expects another identity refuses this server.
    let err = client::connect(&endpoint, addr, Some(PeerId([9; 32])), None, &Traffic::default()).await.unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err}");
}

/// Issue "games as they are on disk": a run of small files is answered only
/// when it keeps the rule (whole files of at most one chunk, at most
/// `MAX_RUN_FILES` and a chunk's bytes, inside the file list); anything else
/// is refused and the connection keeps being served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_that_break_the_rule_are_refused_and_good_ones_are_served() {
    let tmp = tempfile::tempdir().unwrap();
    let games = tmp.path().join("games");
    let big = 5 << 20;
    let root = make_game(&games, "wesnoth", Some("1.18"), &[("a.bin", 3000), ("b.bin", 4000), ("c.bin", big)]);
    let node = serve("server", &games, &tmp.path().join("state"), &[]);
    let addr = node.listen_addr();
    node.wait_scanned(Duration::from_secs(20));
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = client::connect(&endpoint, addr, None, None, &Traffic::default()).await.unwrap();
    let manifest = conn.get_game("wesnoth").await.unwrap();
    let names: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(names, ["a.bin", "b.bin", "c.bin", "version.ini"]);

    let run = |id: &str, version: &str, file: u32, count: u32| PeerRequest::GetRun {
        id: id.into(),
        version: version.into(),
        file,
        count,
    };
    let hostile = [
        run("wesnoth", "1.18", 0, 0),
        run("wesnoth", "1.18", u32::MAX, u32::MAX),
        run("wesnoth", "1.18", 3, 2),
        run("wesnoth", "1.18", 1, 2),
        run("wesnoth", "1.18", 0, MAX_RUN_FILES + 1),
        run("wesnoth", "0.9", 0, 2),
        run("../../etc", "1.18", 0, 2),
    ];
    for request in hostile {
        let mut bytes = ReceivedChunk::with_capacity(16);
        let err = conn.get_chunk(&request, 7000, &mut bytes).await.unwrap_err();
        assert!(
            matches!(err, ClientError::Refused { ref error, .. } if error.code == ErrorCode::NotFound),
            "{request:?}: {err}"
        );
    }

    let mut bytes = ReceivedChunk::with_capacity(7000);
    conn.get_chunk(&run("wesnoth", "1.18", 0, 2), 7000, &mut bytes).await.unwrap();
    let mut expected = std::fs::read(root.join("a.bin")).unwrap();
    expected.extend(std::fs::read(root.join("b.bin")).unwrap());
    assert!(bytes.as_slice() == expected, "the run is the two files, one after the other");
    assert_eq!(conn.list_games().await.unwrap().games.len(), 1, "the connection is still served");
}
