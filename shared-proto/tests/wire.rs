//! Wire-format tests: pinned bytes, round trips, hostile input.

use lanspread_proto::frame::{self, FrameDecoder, FrameError, Message};
use lanspread_proto::game::{CatalogEntry, LaunchCommand, LaunchOs, PeerId};
use lanspread_proto::ipc::{
    FailureKind, GameSpeed, HelloReply, IpcCommand, IpcEvent, LibrarySnapshot, LocalGame, OperationKind,
    PartialDownload, PeerSpeed, Phase, Progress, WorkerHello,
};
use lanspread_proto::peer::{
    ErrorCode, FileEntry, GameList, GameManifest, GameSummary, Hello, PartyProof, PeerError, PeerRequest, PeerResponse,
};
use proptest::prelude::*;

fn decode_one<M: Message>(bytes: &[u8]) -> Result<Option<M>, FrameError> {
    let mut decoder = FrameDecoder::<M>::new();
    decoder.push(bytes);
    let msg = decoder.next_frame()?;
    decoder.finish()?;
    Ok(msg)
}

#[test]
fn golden_peer_requests() {
    assert_eq!(frame::encode(&PeerRequest::ListGames).unwrap(), [1, 0, 0, 0, 2]);
    assert_eq!(
        frame::encode(&PeerRequest::GetChunk { id: "x".into(), version: "1".into(), file: 2, chunk: 300 }).unwrap(),
        [8, 0, 0, 0, 4, 1, b'x', 1, b'1', 2, 0xac, 0x02]
    );
    assert_eq!(
        frame::encode(&PeerRequest::GetRun { id: "x".into(), version: "1".into(), file: 2, count: 300 }).unwrap(),
        [8, 0, 0, 0, 9, 1, b'x', 1, b'1', 2, 0xac, 0x02]
    );
    assert_eq!(frame::encode(&PeerResponse::Chunk { len: 5 }).unwrap(), [2, 0, 0, 0, 5, 5]);
    assert_eq!(
        frame::encode(&PeerRequest::GetGame { id: "xonotic".into() }).unwrap(),
        [9, 0, 0, 0, 3, 7, b'x', b'o', b'n', b'o', b't', b'i', b'c']
    );
    let hello = PeerRequest::Hello(Hello {
        protocol_version: 1,
        peer_id: PeerId([7; 32]),
        display_name: "lan".into(),
        library_revision: 300,
        listen_port: 47474,
    });
    let mut expected = vec![43, 0, 0, 0, 0, 1];
    expected.extend([7; 32]);
    expected.extend([3, b'l', b'a', b'n', 0xac, 0x02, 0xf2, 0xf2, 0x02]);
    assert_eq!(frame::encode(&hello).unwrap(), expected);
    // A protocol-1 node's hello still decodes, so it can be refused in words.
    assert_eq!(decode_one::<PeerRequest>(&expected).unwrap(), Some(hello));

    // Appended in protocol 2: the party-key proofs, variant 5 and 6.
    let mut prove = vec![33, 0, 0, 0, 5];
    prove.extend([9; 32]);
    assert_eq!(frame::encode(&PeerRequest::Prove(PartyProof([9; 32]))).unwrap(), prove);
    let mut proven = vec![33, 0, 0, 0, 6];
    proven.extend([8; 32]);
    assert_eq!(frame::encode(&PeerResponse::Proven(PartyProof([8; 32]))).unwrap(), proven);
    let refusal = PeerResponse::Error(PeerError { code: ErrorCode::PartyKeyRequired, message: String::new() });
    assert_eq!(frame::encode(&refusal).unwrap(), [3, 0, 0, 0, 4, 7, 0]);
}

#[test]
fn golden_peer_responses_and_ipc() {
    let games = PeerResponse::Games(vec![GameSummary {
        id: "wesnoth".into(),
        version: "1.18".into(),
        size: 1000,
        installed: true,
        cover: None,
    }]);
    assert_eq!(
        frame::encode(&games).unwrap(),
        [19, 0, 0, 0, 2, 1, 7, b'w', b'e', b's', b'n', b'o', b't', b'h', 4, b'1', b'.', b'1', b'8', 0xe8, 0x07, 1, 0]
    );
    let list = PeerResponse::GameList(GameList { games: Vec::new(), scanning: true });
    assert_eq!(frame::encode(&list).unwrap(), [3, 0, 0, 0, 7, 0, 1]);
    assert_eq!(frame::encode(&IpcCommand::Shutdown).unwrap(), [1, 0, 0, 0, 4]);
    assert_eq!(frame::encode(&IpcEvent::PeerCount(3)).unwrap(), [2, 0, 0, 0, 6, 3]);
    assert_eq!(frame::encode(&HelloReply::Accepted).unwrap(), [1, 0, 0, 0, 0]);
}

/// The last variant of each enum has index VARIANTS - 1, so an appended
/// variant without a bumped count (or a removed one) fails here.
#[test]
fn variant_counts_match_the_enums() {
    fn tag_of<M: Message>(msg: &M) -> u8 {
        frame::encode(msg).unwrap()[4]
    }
    fn known<M: Message>() -> u8 {
        M::VARIANTS.unwrap() as u8 - 1
    }
    let run = PeerRequest::GetRun { id: String::new(), version: String::new(), file: 0, count: 0 };
    assert_eq!(tag_of(&run), known::<PeerRequest>());
    assert_eq!(tag_of(&PeerResponse::Noted), known::<PeerResponse>());
    let limits = IpcCommand::SetLimits { download: 0, upload: 0, upload_per_peer: 0 };
    assert_eq!(tag_of(&limits), known::<IpcCommand>());
    let estimate = IpcEvent::InstallEstimate { id: String::new(), version: String::new(), bytes: 0, available: 0 };
    assert_eq!(tag_of(&estimate), known::<IpcEvent>());
    assert_eq!(tag_of(&HelloReply::Refused { reason: String::new() }), known::<HelloReply>());
}

#[test]
fn truncated_frame_is_an_error() {
    let bytes = frame::encode(&PeerRequest::GetGame { id: "openarena".into() }).unwrap();
    let err = decode_one::<PeerRequest>(&bytes[..bytes.len() - 3]).unwrap_err();
    assert!(matches!(err, FrameError::Truncated { expected: 15, got: 12, .. }), "{err}");
    let err = decode_one::<PeerRequest>(&bytes[..2]).unwrap_err();
    assert!(matches!(err, FrameError::Truncated { .. }), "{err}");
}

#[test]
fn huge_length_is_refused_before_reading_the_body() {
    let err = decode_one::<PeerRequest>(&[0xff, 0xff, 0xff, 0xff, 0]).unwrap_err();
    assert!(matches!(err, FrameError::TooLarge { len: 4_294_967_295, .. }), "{err}");
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
}

#[test]
fn unknown_variant_is_named() {
    let err = decode_one::<PeerRequest>(&[2, 0, 0, 0, 0xc8, 0x01]).unwrap_err();
    assert!(matches!(err, FrameError::UnknownVariant { tag: 200, known: 10, .. }), "{err}");
    let err = decode_one::<IpcCommand>(&[1, 0, 0, 0, 19]).unwrap_err();
    assert!(matches!(err, FrameError::UnknownVariant { tag: 19, .. }), "{err}");
}

#[test]
fn garbage_and_trailing_bytes_are_errors() {
    // GetGame whose string length runs past the body.
    let err = decode_one::<PeerRequest>(&[3, 0, 0, 0, 3, 50, b'x']).unwrap_err();
    assert!(matches!(err, FrameError::Malformed { .. }), "{err}");
    let err = decode_one::<PeerRequest>(&[2, 0, 0, 0, 1, 9]).unwrap_err();
    assert!(matches!(err, FrameError::TrailingBytes { extra: 1, .. }), "{err}");
}

#[test]
fn decoder_splits_a_stream_fed_byte_by_byte() {
    let msgs = [IpcEvent::Heartbeat, IpcEvent::PeerCount(2), IpcEvent::Catalog(vec![catalog_entry()])];
    let bytes: Vec<u8> = msgs.iter().flat_map(|m| frame::encode(m).unwrap()).collect();
    let mut decoder = FrameDecoder::<IpcEvent>::new();
    let mut out = Vec::new();
    for byte in bytes {
        decoder.push(&[byte]);
        while let Some(msg) = decoder.next_frame().unwrap() {
            out.push(msg);
        }
    }
    decoder.finish().unwrap();
    assert_eq!(out, msgs);
}

fn catalog_entry() -> CatalogEntry {
    CatalogEntry {
        id: "teeworlds".into(),
        name: "Teeworlds".into(),
        description: "2D shooter".into(),
        genre: "Shooter".into(),
        max_players: 16,
        launch: vec![LaunchCommand {
            os: LaunchOs::Linux,
            program: "teeworlds".into(),
            args: vec!["--fullscreen".into()],
            working_dir: None,
        }],
    }
}

fn arb_manifest() -> impl Strategy<Value = GameManifest> {
    let file = ("[a-z/]{1,20}", any::<u64>(), prop::collection::vec(any::<[u8; 32]>(), 0..4))
        .prop_map(|(path, size, chunks)| FileEntry { path, size, chunks });
    ("[a-z]{1,12}", "[0-9.]{0,8}", any::<u32>(), prop::collection::vec(file, 0..6))
        .prop_map(|(id, version, chunk_size, files)| GameManifest { id, version, chunk_size, files })
}

fn arb_response() -> impl Strategy<Value = PeerResponse> {
    prop_oneof![
        (any::<u32>(), any::<[u8; 32]>(), ".{0,20}", any::<u64>(), any::<u16>()).prop_map(
            |(v, id, name, rev, port)| {
                PeerResponse::Hello(Hello {
                    protocol_version: v,
                    peer_id: PeerId(id),
                    display_name: name,
                    library_revision: rev,
                    listen_port: port,
                })
            }
        ),
        any::<u64>().prop_map(|library_revision| PeerResponse::Pong { library_revision }),
        prop::collection::vec(
            ("[a-z]{1,12}", ".{0,8}", any::<u64>(), any::<bool>(), any::<Option<[u8; 32]>>())
                .prop_map(|(id, version, size, installed, cover)| GameSummary { id, version, size, installed, cover }),
            0..5
        )
        .prop_map(PeerResponse::Games),
        arb_manifest().prop_map(PeerResponse::Game),
        any::<u32>().prop_map(|len| PeerResponse::Chunk { len }),
        ".{0,40}".prop_map(|message| PeerResponse::Error(PeerError { code: ErrorCode::NotFound, message })),
        any::<[u8; 32]>().prop_map(|proof| PeerResponse::Proven(PartyProof(proof))),
        (
            prop::collection::vec(
                ("[a-z]{1,12}", ".{0,8}", any::<u64>(), any::<bool>(), any::<Option<[u8; 32]>>()).prop_map(
                    |(id, version, size, installed, cover)| GameSummary { id, version, size, installed, cover }
                ),
                0..5
            ),
            any::<bool>()
        )
            .prop_map(|(games, scanning)| PeerResponse::GameList(GameList { games, scanning })),
    ]
}

fn arb_event() -> impl Strategy<Value = IpcEvent> {
    prop_oneof![
        Just(IpcEvent::Heartbeat),
        any::<u32>().prop_map(IpcEvent::PeerCount),
        (
            ".{0,30}",
            any::<u64>(),
            prop::collection::vec(
                ("[a-z]{1,8}", proptest::option::of("[0-9.]{1,6}"), any::<bool>(), any::<u64>()),
                0..4
            )
        )
            .prop_map(|(game_dir, revision, games)| IpcEvent::Library(LibrarySnapshot {
                game_dir,
                revision,
                games: games
                    .into_iter()
                    .map(|(id, version, installed, size)| LocalGame {
                        installed_version: version.clone(),
                        partial: (!installed).then(|| PartialDownload {
                            version: "2".into(),
                            bytes_done: size / 2,
                            bytes_total: size,
                        }),
                        id,
                        version,
                        installed,
                        size,
                    })
                    .collect(),
            })),
        (".{0,20}", arb_failure_kind(), ".{0,20}").prop_map(|(context, kind, message)| IpcEvent::RuntimeFailure {
            context,
            kind,
            message
        }),
        ("[a-z]{1,8}", any::<u64>(), any::<u64>(), any::<u64>(), proptest::option::of(any::<u64>())).prop_map(
            |(id, done, total, speed, eta)| IpcEvent::Progress(Progress {
                id,
                phase: Phase::Downloading,
                bytes_done: done,
                bytes_total: total,
                bytes_per_sec: speed,
                eta_secs: eta,
                peers: vec![PeerSpeed {
                    peer_id: PeerId([3; 32]),
                    bytes_per_sec: speed,
                    bytes: speed / 2,
                    still_downloading: speed % 2 == 0
                }],
            })
        ),
        (any::<u64>(), any::<u64>(), "[a-z]{1,8}", any::<u64>()).prop_map(|(download_bps, upload_bps, id, bps)| {
            IpcEvent::Traffic { download_bps, upload_bps, uploads: vec![GameSpeed { id, bytes_per_sec: bps }] }
        }),
        ("[a-z]{1,8}", arb_failure_kind(), ".{0,30}").prop_map(|(id, failure, reason)| IpcEvent::OperationFailed {
            id,
            kind: OperationKind::Install,
            failure,
            reason
        }),
        ("[a-z]{1,8}", arb_failure_kind(), ".{0,30}").prop_map(|(id, failure, reason)| IpcEvent::DownloadFailed {
            id,
            failure,
            reason
        }),
    ]
}

fn arb_failure_kind() -> impl Strategy<Value = FailureKind> {
    prop_oneof![
        Just(FailureKind::Busy),
        Just(FailureKind::NoSpace),
        Just(FailureKind::NoPeers),
        Just(FailureKind::Refused),
        Just(FailureKind::NotTrusted),
        Just(FailureKind::Archive),
        Just(FailureKind::Io),
        Just(FailureKind::Other),
        Just(FailureKind::Cancelled),
    ]
}

proptest! {
    #[test]
    fn peer_responses_round_trip(msg in arb_response()) {
        let bytes = frame::encode(&msg).unwrap();
        prop_assert_eq!(decode_one::<PeerResponse>(&bytes).unwrap(), Some(msg));
    }

    #[test]
    fn ipc_events_round_trip(msg in arb_event()) {
        let bytes = frame::encode(&msg).unwrap();
        prop_assert_eq!(decode_one::<IpcEvent>(&bytes).unwrap(), Some(msg));
    }

    #[test]
    fn worker_hello_round_trips(token in ".{0,64}", pid in any::<u32>(), version in any::<u32>()) {
        let msg = WorkerHello { protocol_version: version, token, worker_pid: pid };
        let bytes = frame::encode(&msg).unwrap();
        prop_assert_eq!(decode_one::<WorkerHello>(&bytes).unwrap(), Some(msg));
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_one::<PeerRequest>(&bytes);
        let _ = decode_one::<PeerResponse>(&bytes);
        let _ = decode_one::<IpcCommand>(&bytes);
        let _ = decode_one::<IpcEvent>(&bytes);
        let _ = decode_one::<WorkerHello>(&bytes);
    }

    #[test]
    fn random_bodies_with_valid_prefix_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = (body.len() as u32).to_le_bytes().to_vec();
        bytes.extend(&body);
        let _ = decode_one::<PeerResponse>(&bytes);
        let _ = decode_one::<IpcEvent>(&bytes);
    }
}
