//! Issue "trust on a LAN party": trusted seeders whose file lists win over
//! newer versions and majorities, a plain home LAN that works as before, a
//! party key that keeps other PCs out without ever being sent, and both
//! changed over the IPC while the worker runs.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lanspread_proto::ipc::{FailureKind, IpcCommand, IpcEvent};
use lanspread_proto::peer::{ErrorCode, PeerRequest, PeerResponse};
use lanspread_worker::net::client::{self, ClientError};
use lanspread_worker::net::party::PartyKey;
use lanspread_worker::net::traffic::Traffic;

use crate::liars::FakeUi;
use crate::support::{WORKER, Worker, assert_same_tree, json_lines, make_game, run_logged, serve_with, stderr};

const GAME: &str = "xonotic";
const KEY: &str = "tangerine-otter-47-lanparty";

/// A seeder of `GAME` at `version` whose files are made from `seed`.
fn seeder(tmp: &Path, name: &str, version: &str, seed: usize, args: &[&str]) -> (Worker, PathBuf) {
    let games = tmp.join(name).join("games");
    make_game(&games, GAME, Some(version), &[("data/xonotic.pk3", 20_000 + seed), ("readme.txt", 100 + seed)]);
    let node = serve_with(name, &games, &tmp.join(name).join("state"), &[], args);
    node.wait_scanned(Duration::from_secs(20));
    (node, games.join(GAME))
}

/// Runs a headless worker command with `--no-mdns`, the static `peers` and `args`.
fn worker(cmd: &str, tmp: &Path, state: &str, peers: &[SocketAddr], args: &[&str]) -> Output {
    let mut command = Command::new(WORKER);
    command.args([cmd, "--no-mdns"]).args(args).arg("--state").arg(tmp.join(state)).env("RUST_LOG", "info");
    for peer in peers {
        command.arg("--peer").arg(peer.to_string());
    }
    run_logged(command)
}

#[test]
fn a_trusted_seeder_wins_over_a_newer_version_and_a_majority() {
    let tmp = tempfile::tempdir().unwrap();
    let (honest, honest_root) = seeder(tmp.path(), "honest", "1.0", 0, &[]);
    let (liar, _) = seeder(tmp.path(), "liar", "1.1", 1, &[]);
    let (twin_a, _) = seeder(tmp.path(), "twin-a", "1.0", 2, &[]);
    let (twin_b, _) = seeder(tmp.path(), "twin-b", "1.0", 2, &[]);
    let peers: Vec<SocketAddr> = [&honest, &liar, &twin_a, &twin_b].iter().map(|n| n.listen_addr()).collect();
    let (honest_id, liar_id) = (honest.peer_id(), liar.peer_id());
    let trust = ["--trust", honest_id.as_str()];

    // The list says what counts and who offers what else.
    let listed = json_lines(&worker("list", tmp.path(), "lister", &peers, &[&["--json"], &trust[..]].concat()));
    let game = listed.iter().find(|g| g["id"] == GAME).expect("xonotic is listed");
    assert_eq!((game["version"].as_str(), game["trusted"].as_bool()), (Some("1.0"), Some(true)), "{game}");
    assert_eq!(game["other_versions"], serde_json::json!(["1.1"]));
    let peer = |id: &str| game["peers"].as_array().unwrap().iter().find(|p| p["id"] == id).cloned().unwrap();
    assert_eq!((peer(&liar_id)["version"].as_str(), peer(&liar_id)["trusted"].as_bool()), (Some("1.1"), Some(false)));
    assert_eq!(peer(&honest_id)["supplies"], true);
    assert_eq!(peer(&honest_id)["short"].as_str().unwrap(), &honest_id[..10]);
    let table = worker("list", tmp.path(), "lister", &peers, &trust);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("also 1.1 from liar") && table.contains("not trusted: not fetched"), "{table}");

    // The fetch takes the trusted files, installs them, and says whose they are.
    let fetcher = tmp.path().join("fetcher");
    let fetch_args = [&["xonotic", "--json", "--games"][..], &[fetcher.to_str().unwrap()], &trust].concat();
    let fetched = worker("fetch", tmp.path(), "fetcher-state", &peers, &fetch_args);
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    let events = json_lines(&fetched);
    let list = events.iter().find(|e| e["event"] == "file_list").expect("a file_list event");
    assert_eq!((list["version"].as_str(), list["trusted"].as_bool()), (Some("1.0"), Some(true)));
    assert_eq!(list["supplied_by"], serde_json::json!([honest_id]));
    assert!(events.iter().any(|e| e["event"] == "installed"), "installed by itself");
    let root = fetcher.join(GAME);
    assert_eq!(std::fs::read_to_string(root.join("version.ini")).unwrap().trim(), "1.0");
    let payload = |r: &Path| std::fs::read(r.join("data/xonotic.pk3")).unwrap();
    assert_eq!(payload(&root), payload(&honest_root), "the trusted file list was fetched");

    // Without the trust, the liar's newer version is fetched but not
    // installed by itself: other versions compete and nobody vouches for it.
    let naive_games = tmp.path().join("naive");
    let untrusted_args = ["xonotic", "--json", "--games", naive_games.to_str().unwrap()];
    let naive = worker("fetch", tmp.path(), "naive-state", &peers, &untrusted_args);
    assert_eq!(naive.status.code(), Some(lanspread_proto::exit::NOT_INSTALLED), "{}", stderr(&naive));
    let events = json_lines(&naive);
    assert!(events.iter().any(|e| e["event"] == "not_installed"), "{events:?}");
    assert!(!events.iter().any(|e| e["event"] == "installed"));
    assert!(!naive_games.join(GAME).join("local").exists());
    drop((honest, liar, twin_a, twin_b));
}

#[test]
fn a_single_offer_on_a_home_lan_installs_as_before() {
    let tmp = tempfile::tempdir().unwrap();
    let (only, _) = seeder(tmp.path(), "only", "1.0", 0, &[]);
    let games = tmp.path().join("fetcher");
    let args = ["xonotic", "--json", "--games", games.to_str().unwrap()];
    let fetched = worker("fetch", tmp.path(), "fetcher-state", &[only.listen_addr()], &args);
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    let events = json_lines(&fetched);
    let list = events.iter().find(|e| e["event"] == "file_list").unwrap();
    assert_eq!((list["trusted"].as_bool(), list["competing"].as_bool()), (Some(false), Some(false)));
    assert!(events.iter().any(|e| e["event"] == "installed"), "{events:?}");
}

#[test]
fn a_party_key_keeps_other_pcs_out_and_is_never_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let key_file = tmp.path().join("party.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let (party, party_root) = seeder(tmp.path(), "party", "1.0", 0, &["--party-key-file", key_file.to_str().unwrap()]);
    let seeder_addr = party.listen_addr();
    // Every packet between the fetcher and the seeder passes a recording relay.
    let relay = Relay::start(seeder_addr);

    // With the key: listed and downloaded as usual.
    let listed = worker("list", tmp.path(), "member", &[relay.addr], &["--json", "--party-key", KEY]);
    assert!(json_lines(&listed).iter().any(|g| g["id"] == GAME), "{}", stderr(&listed));
    let games = tmp.path().join("member-games");
    let args = ["xonotic", "--json", "--party-key", KEY, "--games", games.to_str().unwrap()];
    let fetched = worker("fetch", tmp.path(), "member", &[relay.addr], &args);
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    assert_same_tree(&games.join(GAME).join("local"), &expected_local(&party_root));
    let seen = relay.bytes();
    assert!(seen.len() > 20_000, "the relay carried the transfer ({} bytes)", seen.len());
    assert!(!contains(&seen, KEY.as_bytes()), "the key crossed the wire");
    assert!(!contains(&seen, KEY.to_uppercase().as_bytes()));

    // Without it, or with another: nothing, and a reason.
    for (state, args, why) in [
        ("outsider", vec!["--json"], "party key"),
        ("guesser", vec!["--json", "--party-key", "tangerine-otter-48-lanparty"], "another party key"),
    ] {
        let listed = worker("list", tmp.path(), state, &[seeder_addr], &args);
        assert!(listed.status.success());
        assert!(json_lines(&listed).is_empty(), "{state} sees games");
        assert!(stderr(&listed).contains(why), "{state}: no reason given: {}", stderr(&listed));
    }
    let outsider_games = tmp.path().join("outsider-games");
    let args = ["xonotic", "--games", outsider_games.to_str().unwrap()];
    let refused = worker("fetch", tmp.path(), "outsider", &[seeder_addr], &args);
    assert!(!refused.status.success() && stderr(&refused).contains("party key"), "{}", stderr(&refused));
    assert!(!outsider_games.join(GAME).join("version.ini").exists());
    drop(party);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_requests_without_the_key_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (party, _) = seeder(tmp.path(), "party", "1.0", 0, &["--party-key", KEY]);
    let addr = party.listen_addr();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let chunk = PeerRequest::GetChunk { id: GAME.into(), version: "1.0".into(), file: 0, chunk: 0 };
    let code = |result: Result<PeerResponse, ClientError>| match result {
        Err(ClientError::Refused { error, .. }) => error.code,
        other => panic!("not refused: {other:?}"),
    };

    let outsider = client::connect(&endpoint, addr, None, None, &Traffic::default()).await.unwrap();
    assert_eq!(code(outsider.request(&chunk).await), ErrorCode::PartyKeyRequired);
    assert_eq!(code(outsider.request(&PeerRequest::ListGames).await), ErrorCode::PartyKeyRequired);

    let wrong = PartyKey::new("not the key").unwrap();
    let err = client::connect(&endpoint, addr, None, Some(&wrong), &Traffic::default()).await.unwrap_err();
    assert!(err.to_string().contains("another party key"), "{err}");

    // A member's proof holds on its own connection only.
    let key = PartyKey::new(KEY).unwrap();
    let member = client::connect(&endpoint, addr, None, Some(&key), &Traffic::default()).await.unwrap();
    assert!(matches!(member.request(&chunk).await, Ok(PeerResponse::Chunk { .. })));
    let other = client::connect(&endpoint, addr, None, None, &Traffic::default()).await.unwrap();
    assert_eq!(code(other.request(&chunk).await), ErrorCode::PartyKeyRequired);
    drop(party);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_speaking_the_old_protocol_is_refused_in_words() {
    let tmp = tempfile::tempdir().unwrap();
    let (party, _) = seeder(tmp.path(), "party", "1.0", 0, &["--party-key", KEY]);
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let old = client::connect(&endpoint, party.listen_addr(), None, None, &Traffic::default()).await.unwrap();
    let hello = lanspread_proto::peer::Hello {
        protocol_version: 1,
        peer_id: lanspread_proto::PeerId([1; 32]),
        display_name: "old".into(),
        library_revision: 0,
        listen_port: 0,
    };
    match old.request(&PeerRequest::Hello(hello)).await {
        Err(ClientError::Refused { error, .. }) => {
            assert_eq!(error.code, ErrorCode::VersionMismatch);
            assert!(
                error.message.contains("protocol 1") && error.message.contains("same LanSpread version"),
                "{}",
                error.message
            );
        }
        other => panic!("not refused: {other:?}"),
    }
    drop(party);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_and_the_party_key_apply_over_the_ipc_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (party, _) = seeder(tmp.path(), "party", "1.0", 0, &["--party-key", KEY]);
    let (newer, _) = seeder(tmp.path(), "newer", "2.0", 1, &["--party-key", KEY]);
    let trusted: lanspread_proto::PeerId = party.peer_id().parse().unwrap();
    let games = tmp.path().join("ui-games");
    std::fs::create_dir_all(&games).unwrap();
    let ui = FakeUi::start(tmp.path(), &games, &[party.listen_addr(), newer.listen_addr()]).await;
    let offered = |event: &IpcEvent, version: &str, trusted: bool| {
        matches!(event, IpcEvent::NetworkGames(games)
            if games.iter().any(|g| g.id == GAME && g.newest_version == version && g.trusted == trusted))
    };

    // Keyless, the worker cannot join the party's seeders.
    ui.wait_for(Duration::from_secs(10), "a peer count", |e| matches!(e, IpcEvent::PeerCount(_))).await;
    assert!(!ui.events.lock().unwrap().iter().any(|e| offered(e, "2.0", false)));

    ui.send(IpcCommand::SetTrust { party_key: Some(KEY.into()), trusted: Vec::new(), auto_install_untrusted: false });
    ui.wait_for(Duration::from_secs(15), "the party's games", |e| offered(e, "2.0", false)).await;

    ui.send(IpcCommand::SetTrust {
        party_key: Some(KEY.into()),
        trusted: vec![trusted],
        auto_install_untrusted: false,
    });
    let event = ui.wait_for(Duration::from_secs(10), "the trusted version", |e| offered(e, "1.0", true)).await;
    let IpcEvent::NetworkGames(list) = event else { panic!("not a game list: {event:?}") };
    let game = list.iter().find(|g| g.id == GAME).unwrap();
    assert_eq!(game.supplied_by, [trusted]);
    assert_eq!(game.other_versions[0].version, "2.0");

    // A bad key from the UI is refused in words; the worker keeps running.
    ui.send(IpcCommand::SetTrust {
        party_key: Some("\u{7}".into()),
        trusted: Vec::new(),
        auto_install_untrusted: false,
    });
    ui.wait_for(Duration::from_secs(5), "the refusal", |e| {
        matches!(e, IpcEvent::RuntimeFailure { context, kind: FailureKind::Refused, message } if context == "trust settings" && message.contains("control"))
    })
    .await;
    drop((party, newer));
}

/// The tree a game's `local/` holds after install: its payload files (the
/// test games are not archives) without `version.ini`.
fn expected_local(root: &Path) -> PathBuf {
    let dir = root.parent().unwrap().parent().unwrap().join("expected-local");
    for name in ["data/xonotic.pk3", "readme.txt"] {
        let to = dir.join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join(name), to).unwrap();
    }
    dir
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A UDP relay on loopback in front of `server` that keeps every datagram
/// it carries, both ways: what a packet capture of the LAN would see.
struct Relay {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
}

/// How often the relay's threads look at the stop flag.
const RELAY_POLL: Duration = Duration::from_millis(100);

impl Relay {
    fn start(server: SocketAddr) -> Relay {
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        front.set_read_timeout(Some(RELAY_POLL)).unwrap();
        let addr = front.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (record, stopped) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            // One upstream socket per client address, so answers find their way back.
            let mut upstream: HashMap<SocketAddr, UdpSocket> = HashMap::new();
            let mut buf = vec![0u8; 65_536];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((n, client)) = front.recv_from(&mut buf) else { continue };
                record.lock().unwrap().extend_from_slice(&buf[..n]);
                let socket = upstream.entry(client).or_insert_with(|| {
                    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                    socket.connect(server).unwrap();
                    socket.set_read_timeout(Some(RELAY_POLL)).unwrap();
                    let back = socket.try_clone().unwrap();
                    let (front, record, stopped) = (front.try_clone().unwrap(), record.clone(), stopped.clone());
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 65_536];
                        while !stopped.load(Ordering::Relaxed) {
                            let Ok(n) = back.recv(&mut buf) else { continue };
                            record.lock().unwrap().extend_from_slice(&buf[..n]);
                            let _ = front.send_to(&buf[..n], client);
                        }
                    });
                    socket
                });
                let _ = socket.send(&buf[..n]);
            }
        });
        Relay { addr, seen, stop }
    }

    fn bytes(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// `serve` of `GAME` 1.0 made from `seed`, listening on `ip`.
fn seeder_at(tmp: &Path, name: &str, ip: &str, seed: usize) -> Worker {
    let games = tmp.join(name).join("games");
    make_game(&games, GAME, Some("1.0"), &[("data/xonotic.pk3", 20_000 + seed), ("readme.txt", 100 + seed)]);
    let mut command = Command::new(WORKER);
    command.args(["serve", "--json", "--no-mdns", "--listen", &format!("{ip}:0"), "--name", name]);
    command.arg("--games").arg(&games).arg("--state").arg(tmp.join(name).join("state"));
    let node = Worker::spawn(name, command);
    node.wait_scanned(Duration::from_secs(20));
    node
}

#[test]
fn differing_untrusted_file_lists_download_nothing_until_one_peer_is_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let (honest, honest_root) = seeder(tmp.path(), "honest", "1.0", 0, &[]);
    // One PC holding three addresses and three identities, all sending one
    // other list for the same version: they used to win the vote.
    let liars: Vec<Worker> =
        (2..=4).map(|n| seeder_at(tmp.path(), &format!("liar{n}"), &format!("127.0.0.{n}"), 1)).collect();
    let mut peers = vec![honest.listen_addr()];
    peers.extend(liars.iter().map(Worker::listen_addr));
    let honest_id = honest.peer_id();
    let liar_ids: Vec<String> = liars.iter().map(Worker::peer_id).collect();

    let mut liar_list = liar_ids.clone();
    liar_list.sort();
    let both = [vec![honest_id.clone()], liar_list];
    // Sorted lists of peer ids, the shorter first.
    let lists_of = |value: &serde_json::Value| {
        let mut lists: Vec<Vec<String>> = value
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect())
            .collect();
        lists.iter_mut().for_each(|l: &mut Vec<String>| l.sort());
        lists.sort_by_key(Vec::len);
        lists
    };

    // The list names the disagreement, each list with its peers.
    let listed = json_lines(&worker("list", tmp.path(), "lister", &peers, &["--json"]));
    let game = listed.iter().find(|g| g["id"] == GAME).expect("xonotic is listed");
    assert_eq!(lists_of(&game["disagreement"]), both, "{game}");

    let fetcher = tmp.path().join("fetcher");
    let args = ["xonotic", "--json", "--games", fetcher.to_str().unwrap()];
    let refused = worker("fetch", tmp.path(), "fetcher-state", &peers, &args);
    assert_eq!(refused.status.code(), Some(lanspread_proto::exit::DISAGREEMENT), "{}", stderr(&refused));
    let why = stderr(&refused);
    assert!(why.contains("2 different file lists for version 1.0") && why.contains("--trust"), "{why}");
    let events = json_lines(&refused);
    let disagreement = events.iter().find(|e| e["event"] == "disagreement").expect("a disagreement line");
    let peers_of_lists: Vec<serde_json::Value> =
        disagreement["lists"].as_array().unwrap().iter().map(|l| l["peers"].clone()).collect();
    assert_eq!(lists_of(&serde_json::Value::Array(peers_of_lists)), both, "both lists, each with its peers");
    assert!(!fetcher.join(GAME).join("data").exists(), "nothing was downloaded");

    // The desktop app's worker refuses the same way, at once, for the
    // window to show with its Trust buttons.
    let games = tmp.path().join("ui-games");
    std::fs::create_dir_all(&games).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ui = FakeUi::start(tmp.path(), &games, &peers).await;
        ui.wait_for(
            Duration::from_secs(20),
            "xonotic listed",
            |e| matches!(e, IpcEvent::NetworkGames(g) if g.iter().any(|g| g.id == GAME && g.peers_total == 4)),
        )
        .await;
        ui.send(IpcCommand::DownloadGame { id: GAME.into() });
        let failed = ui
            .wait_for(Duration::from_secs(20), "the download refused", |e| matches!(e, IpcEvent::DownloadFailed { .. }))
            .await;
        let IpcEvent::DownloadFailed { failure, reason, .. } = failed else { unreachable!() };
        assert_eq!(failure, FailureKind::Disagreement, "{reason}");
        assert!(liar_ids.iter().chain([&honest_id]).all(|id| reason.contains(&id[..10])), "{reason}");
        // And the network view says who sent which list, for the detail view.
        ui.wait_for(
            Duration::from_secs(20),
            "the disagreement in the network view",
            |e| matches!(e, IpcEvent::NetworkGames(g) if g.iter().any(|g| g.id == GAME && g.disagreement.len() == 2)),
        )
        .await;
    });
    assert!(!games.join(GAME).join("data").exists(), "nothing was downloaded for the window either");

    // Trusting the honest peer settles it: its list, byte-identical.
    let trusted = [&args[..], &["--trust", honest_id.as_str()]].concat();
    let fetched = worker("fetch", tmp.path(), "fetcher-state", &peers, &trusted);
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    assert_same_tree(&honest_root.join("data"), &fetcher.join(GAME).join("data"));
}
