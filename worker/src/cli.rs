//! The headless command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use lanspread_proto::ipc::{NetworkGame, PeerSummary};
use lanspread_proto::names::is_valid_peer_address;
use lanspread_proto::peer::DEFAULT_PEER_PORT;
use lanspread_proto::{PeerId, exit};

use crate::catalog::Catalog;
use crate::events::NodeEvent;
use crate::faults::Faults;
use crate::manage::{self, LocalGames, check_game_dir};
use crate::net::party::PartyKey;
use crate::net::rate::TransferLimits;
use crate::node::{Node, NodeOptions};
use crate::platform;
use crate::platform::fs::annotate;
use crate::report::{self, JsonLine, ListedGame, ListedPeer, unjoined_note};
use crate::trust::{MAX_TRUSTED_PEERS, TrustSettings};

#[derive(Debug, Parser)]
#[command(name = "lanspread-worker", version, about = "LanSpread worker: serve and find games on the LAN")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a game directory to the LAN and discover peers until stopped.
    Serve {
        /// The game directory to serve.
        #[arg(long, value_name = "DIR")]
        games: PathBuf,
        /// UDP address to listen on.
        #[arg(long, value_name = "ADDR", default_value_t = default_listen())]
        listen: SocketAddr,
        /// Say what happens as JSON lines on stdout: where it listens, each
        /// finished library scan, peers joining and leaving (for scripts).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Print the games the LAN offers.
    List {
        /// Seconds to discover (without mDNS, returns early once every --peer answered).
        #[arg(long, value_name = "SECS", default_value_t = 3.0)]
        wait: f64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Download a game from every peer that has its newest version.
    ///
    /// Exits 0 once `version.ini` is committed. Ctrl-C cancels (exit 130);
    /// running the same command again resumes.
    Fetch {
        /// The catalog id of the game.
        id: String,
        /// The game directory to download into.
        #[arg(long, value_name = "DIR")]
        games: PathBuf,
        /// Seconds to discover peers (without mDNS, ends once every --peer answered).
        #[arg(long, value_name = "SECS", default_value_t = 3.0)]
        wait: f64,
        /// Progress and the result as JSON lines on stdout.
        #[arg(long)]
        json: bool,
        /// Only download: leave the archives packed (no `local/`).
        #[arg(long)]
        no_install: bool,
        /// UDP address to serve the chunks verified so far on, to others
        /// fetching the same game (announced like `serve`; default: any
        /// free port).
        #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:0")]
        listen: SocketAddr,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Unpack a downloaded game into `local/` (an update when installed).
    ///
    /// The old install keeps working until the new one is whole; Ctrl-C
    /// cancels and keeps the previous state.
    Install {
        /// The catalog id of the game.
        id: String,
        #[command(flatten)]
        local: LocalArgs,
        /// Progress and the result as JSON lines on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove `local/`, keeping the downloaded files.
    Uninstall {
        id: String,
        #[command(flatten)]
        local: LocalArgs,
    },
    /// Delete a downloaded game's folder (it must not be installed).
    Remove {
        id: String,
        #[command(flatten)]
        local: LocalArgs,
    },
    /// Finish or undo operations a crash interrupted, in every game root.
    Recover {
        #[command(flatten)]
        local: LocalArgs,
    },
    /// Run as the desktop UI's worker (started by the UI, not by hand).
    Ipc {
        /// Local socket name the UI listens on; the token is in LANSPREAD_IPC_TOKEN.
        #[arg(long, value_name = "NAME")]
        socket: String,
        /// The game directory (default: "LanSpread Games" in the home directory).
        #[arg(long, value_name = "DIR")]
        games: Option<PathBuf>,
        /// UDP address to listen on (default: port 47474, or any free port
        /// when that one is taken).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        #[command(flatten)]
        net: NetArgs,
    },
}

/// Options every networked command shares.
#[derive(Debug, Args)]
pub struct NetArgs {
    /// A peer to contact directly (repeatable), for networks without multicast.
    #[arg(long = "peer", value_name = "HOST:PORT", value_parser = parse_peer)]
    pub peers: Vec<String>,
    /// Turn mDNS announce and browse off completely.
    #[arg(long)]
    pub no_mdns: bool,
    /// Where the node keeps its key, certificate and hash index.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Extra catalog entries (JSON; see README).
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Name shown to other peers (default: the host name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Only peers with this party key are answered or asked (it is never
    /// sent; see README). Prefer --party-key-file in scripts and services.
    #[arg(long, value_name = "KEY", conflicts_with = "party_key_file")]
    pub party_key: Option<String>,
    /// Read the party key from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub party_key_file: Option<PathBuf>,
    /// Trust this peer (repeatable): where a trusted peer has a game, only
    /// trusted peers' versions and file lists count for it.
    #[arg(long = "trust", value_name = "PEERID")]
    pub trusted: Vec<PeerId>,
    /// Install downloads whose file list no trusted peer vouches for even
    /// when peers offer another version or list.
    #[arg(long)]
    pub install_untrusted: bool,
    /// Download at most this fast, from all peers together: bytes per
    /// second with a unit (4MB, 500KB, 1.5MiB; 0 for no limit).
    #[arg(long, value_name = "RATE", value_parser = lanspread_proto::units::parse_rate, default_value = "0")]
    pub max_download: u64,
    /// Upload at most this fast, to all peers together (4MB, 500KB; 0 for
    /// no limit).
    #[arg(long, value_name = "RATE", value_parser = lanspread_proto::units::parse_rate, default_value = "0")]
    pub max_upload: u64,
    /// Upload at most this fast to any one peer (0 for no limit).
    #[arg(long, value_name = "RATE", value_parser = lanspread_proto::units::parse_rate, default_value = "0")]
    pub max_upload_per_peer: u64,
    #[command(flatten)]
    pub faults: FaultArgs,
}

/// Hidden fault switches for tests, in `test-hooks` builds only (see
/// [`crate::faults`]).
#[derive(Debug, Args)]
pub struct FaultArgs {
    /// Answer each chunk this many milliseconds late.
    #[cfg(feature = "test-hooks")]
    #[arg(long, hide = true, value_name = "MS")]
    pub test_chunk_delay_ms: Option<u64>,
    /// Send every chunk whose file + chunk index is a multiple of N with a wrong byte.
    #[cfg(feature = "test-hooks")]
    #[arg(long, hide = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub test_corrupt_every: Option<u32>,
    /// Abort (as kill -9 would) when an install transaction reaches this point.
    #[cfg(feature = "test-hooks")]
    #[arg(long, hide = true, value_name = "OPERATION:POINT", value_parser = parse_crash_point)]
    pub test_crash_at: Option<crate::faults::CrashPoint>,
    /// While downloading, tell swarm members every chunk is here.
    #[cfg(feature = "test-hooks")]
    #[arg(long, hide = true)]
    pub test_claim_all_chunks: bool,
}

impl FaultArgs {
    fn faults(&self) -> Faults {
        #[cfg(feature = "test-hooks")]
        return Faults {
            chunk_delay: self.test_chunk_delay_ms.map(Duration::from_millis),
            corrupt_every: self.test_corrupt_every,
            crash_at: self.test_crash_at,
            claim_all_chunks: self.test_claim_all_chunks,
        };
        #[cfg(not(feature = "test-hooks"))]
        Faults::default()
    }
}

/// A `--test-crash-at` that names no crash point.
#[cfg(feature = "test-hooks")]
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a crash point")]
struct NotACrashPoint(String);

#[cfg(feature = "test-hooks")]
fn parse_crash_point(text: &str) -> Result<crate::faults::CrashPoint, NotACrashPoint> {
    crate::faults::CrashPoint::named(text).ok_or_else(|| NotACrashPoint(text.to_owned()))
}

/// Options of the commands that only work on the local game directory.
#[derive(Debug, Args)]
pub struct LocalArgs {
    /// The game directory.
    #[arg(long, value_name = "DIR")]
    pub games: PathBuf,
    /// The node's state directory: `remove` drops the removed files from its
    /// hash index there.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Extra catalog entries (JSON; see README).
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    #[command(flatten)]
    pub faults: FaultArgs,
}

impl LocalArgs {
    fn local_games(&self) -> LocalGames {
        LocalGames {
            games: self.games.clone(),
            state: self.state.clone(),
            catalog: self.catalog.clone(),
            faults: self.faults.faults(),
        }
    }
}

/// A `--peer` that is not `HOST:PORT`.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not HOST:PORT (port 1-65535)")]
struct NotAPeerAddress(String);

/// `HOST:PORT` with a numeric port; the host is resolved when the node starts.
fn parse_peer(text: &str) -> Result<String, NotAPeerAddress> {
    if !is_valid_peer_address(text) {
        return Err(NotAPeerAddress(text.to_owned()));
    }
    Ok(text.to_owned())
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], DEFAULT_PEER_PORT))
}

impl NetArgs {
    fn options(&self, games_dir: Option<PathBuf>, listen: SocketAddr) -> anyhow::Result<NodeOptions> {
        let catalog = match &self.catalog {
            Some(path) => Catalog::with_user_file(path)?,
            None => Catalog::bundled(),
        };
        Ok(NodeOptions {
            state_dir: self.state.clone().unwrap_or_else(platform::paths::default_state_dir),
            games_dir,
            listen,
            any_port_if_taken: false,
            static_peers: self.peers.clone(),
            mdns: !self.no_mdns,
            catalog: Arc::new(catalog),
            display_name: self.name.clone().unwrap_or_else(host_name),
            trust: self.trust()?,
            show_covers: false,
            limits: TransferLimits {
                download: self.max_download,
                upload: self.max_upload,
                upload_per_peer: self.max_upload_per_peer,
            },
            serve_downloads: false,
            faults: self.faults.faults(),
        })
    }
}

impl NetArgs {
    fn trust(&self) -> anyhow::Result<TrustSettings> {
        let party_key = match (&self.party_key, &self.party_key_file) {
            (Some(text), _) => Some(PartyKey::new(text).map_err(|e| anyhow::anyhow!("--party-key: {e}"))?),
            (None, Some(path)) => Some(PartyKey::read_file(path)?),
            (None, None) => None,
        };
        if self.trusted.len() > MAX_TRUSTED_PEERS {
            anyhow::bail!("--trust: at most {MAX_TRUSTED_PEERS} peers");
        }
        Ok(TrustSettings {
            party_key,
            trusted: self.trusted.iter().copied().collect(),
            auto_install_untrusted: self.install_untrusted,
        })
    }
}

fn host_name() -> String {
    sysinfo::System::host_name().filter(|n| !n.is_empty()).unwrap_or_else(|| "lanspread".into())
}

/// Runs a parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve { games, listen, json, net } => {
            check_game_dir(&games)?;
            serve(net.options(Some(games), listen)?, json).await
        }
        Command::List { wait, json, net } => list(net.options(None, default_listen())?, wait_time(wait)?, json).await,
        Command::Fetch { id, games, wait, json, no_install, listen, net } => {
            let mut options = net.options(None, listen)?;
            options.serve_downloads = true;
            if !options.catalog.contains(&id) {
                anyhow::bail!("{id:?} is not in the catalog (see --catalog)");
            }
            std::fs::create_dir_all(&games).map_err(|e| annotate(&games, e))?;
            crate::fetch::run(options, &id, &games, wait_time(wait)?, json, !no_install).await
        }
        Command::Install { id, local, json } => manage::install(&id, &local.local_games(), json).await,
        Command::Uninstall { id, local } => manage::uninstall(&id, &local.local_games()),
        Command::Remove { id, local } => manage::remove(&id, &local.local_games()),
        Command::Recover { local } => manage::recover(&local.local_games()),
        Command::Ipc { socket, games, listen, net } => {
            let token = std::env::var(lanspread_proto::ipc::TOKEN_ENV).map_err(|_| {
                anyhow::anyhow!(
                    "{} is not set: the worker is started by the LanSpread app",
                    lanspread_proto::ipc::TOKEN_ENV
                )
            })?;
            let games = games.unwrap_or_else(platform::paths::default_games_dir);
            std::fs::create_dir_all(&games).map_err(|e| annotate(&games, e))?;
            let mut options = net.options(Some(games), listen.unwrap_or_else(default_listen))?;
            options.any_port_if_taken = listen.is_none();
            options.show_covers = true;
            Ok(crate::ipc::run(&socket, token, options).await)
        }
    }
}

fn wait_time(secs: f64) -> anyhow::Result<Duration> {
    if !(0.0..=3600.0).contains(&secs) {
        anyhow::bail!("--wait {secs}: want a number of seconds between 0 and 3600");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// How often `serve` says what it uploaded to whom.
const UPLOAD_LOG_INTERVAL: Duration = Duration::from_secs(60);

async fn serve(options: NodeOptions, json: bool) -> anyhow::Result<i32> {
    let name = options.display_name.clone();
    let node = Arc::new(Node::start(options).await?);
    if json {
        let (addr, peer_id) = (node.local_addr.to_string(), node.peer_id.to_string());
        report::json(&JsonLine::Listening { addr: &addr, peer_id: &peer_id, name: &name });
    }
    let mut events = node.subscribe();
    let logger = tokio::spawn({
        let node = node.clone();
        async move {
            let mut passes = 0;
            loop {
                match events.recv().await {
                    Ok(event) => say_served(&event, &node, json, &mut passes),
                    // Missed events are only log lines; the next ones still come.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    });
    let uploads = tokio::spawn({
        let traffic = node.traffic().clone();
        async move {
            let mut minutes =
                tokio::time::interval_at(tokio::time::Instant::now() + UPLOAD_LOG_INTERVAL, UPLOAD_LOG_INTERVAL);
            loop {
                minutes.tick().await;
                if let Some(line) = report::uploads_line(&traffic.take_sent_by_peer()) {
                    tracing::info!("{line}");
                }
            }
        }
    });
    report::stop_requested().await;
    tracing::info!("shutting down");
    logger.abort();
    uploads.abort();
    let _ = logger.await;
    match Arc::try_unwrap(node) {
        Ok(node) => node.shutdown().await,
        Err(_) => tracing::warn!("the node is still in use; exiting without a goodbye"),
    }
    Ok(exit::SUCCESS)
}

/// What `serve` says of one node event: a debug log line, and with
/// `--json` the events scripts and tests wait on (`passes`: the library
/// scans already told).
fn say_served(event: &NodeEvent, node: &Node, json: bool, passes: &mut u64) {
    match event {
        NodeEvent::LibraryChanged(state) => {
            let downloaded = state.games.values().filter(|g| g.version.is_some()).count();
            tracing::debug!(
                "library revision {}: {} games ({downloaded} downloaded)",
                state.revision,
                state.games.len()
            );
            if json && state.passes > *passes {
                *passes = state.passes;
                report::json(&JsonLine::Library {
                    revision: state.revision,
                    games: state.games.len(),
                    downloaded,
                    files_hashed: state.last_pass.files_hashed,
                    bytes_hashed: state.last_pass.bytes_hashed,
                    files_reused: state.last_pass.files_reused,
                });
            }
        }
        NodeEvent::PeerJoined(peer) if json => {
            if let Some(summary) = node.peer_summary(*peer) {
                let id = peer.to_string();
                report::json(&JsonLine::PeerJoined { id: &id, name: &summary.display_name, address: &summary.address });
            }
        }
        NodeEvent::PeerLeft(peer) if json => report::json(&JsonLine::PeerLeft { id: &peer.to_string() }),
        _ => {}
    }
}

async fn list(options: NodeOptions, wait: Duration, json: bool) -> anyhow::Result<i32> {
    let catalog = options.catalog.clone();
    let node = Node::start(options).await?;
    node.discover(wait, None).await;
    node.fetch_contested_file_lists().await;
    let games = node.network_games();
    let mut offers = node.offers_by_game();
    let offers: Vec<Vec<(PeerSummary, String)>> =
        games.iter().map(|g| offers.remove(&g.id).unwrap_or_default()).collect();
    let (peers, unjoined, trust, scanning) =
        (node.peer_count(), node.unjoined_peers(), node.trust(), node.scanning_peers());
    node.shutdown().await;
    for (_, why) in &unjoined {
        tracing::warn!("not joined: {why}");
    }
    print_games(&games, &offers, &catalog, &trust, json);
    let scanning = match scanning {
        0 => String::new(),
        n => format!("; {n} still scanning their library, so more may come: list again shortly"),
    };
    if !json && games.is_empty() {
        report::say(format_args!("no games found ({peers} peers answered{}{scanning})", unjoined_note(&unjoined)));
    } else if !json {
        report::say(format_args!("{} games from {peers} peers{scanning}", games.len()));
    }
    Ok(exit::SUCCESS)
}

fn print_games(
    games: &[NetworkGame],
    offers: &[Vec<(PeerSummary, String)>],
    catalog: &Catalog,
    trust: &TrustSettings,
    json: bool,
) {
    let name_of = |id: &str| catalog.get(id).map_or_else(|| id.to_owned(), |e| e.name.clone());
    if json {
        for (game, offers) in games.iter().zip(offers) {
            let peers = offers
                .iter()
                .map(|(peer, version)| ListedPeer {
                    id: peer.peer_id.to_string(),
                    short: peer.peer_id.short(),
                    name: &peer.display_name,
                    address: &peer.address,
                    version,
                    trusted: trust.is_trusted(&peer.peer_id),
                    supplies: game.supplied_by.contains(&peer.peer_id),
                })
                .collect();
            report::json(&ListedGame {
                id: &game.id,
                name: &name_of(&game.id),
                version: &game.newest_version,
                sources: game.peers_with_newest,
                peers_total: game.peers_total,
                size: game.size,
                trusted: game.trusted,
                other_versions: game.other_versions.iter().map(|o| o.version.as_str()).collect(),
                disagreement: game
                    .disagreement
                    .iter()
                    .map(|list| list.iter().map(ToString::to_string).collect())
                    .collect(),
                peers,
            });
        }
        return;
    }
    if games.is_empty() {
        return;
    }
    report::say(format_args!(
        "{:<16} {:<28} {:<12} {:>5} {:>10}  FILE LIST FROM",
        "ID", "NAME", "VERSION", "PEERS", "SIZE"
    ));
    // "name (short id)" of the peers among `offers` that are in `wanted`.
    let named = |offers: &[(PeerSummary, String)], wanted: &[PeerId]| {
        let named: Vec<String> = offers
            .iter()
            .filter(|(peer, _)| wanted.contains(&peer.peer_id))
            .map(|(peer, _)| format!("{} ({})", peer.display_name, peer.peer_id.short()))
            .collect();
        named.join(", ")
    };
    for (game, offers) in games.iter().zip(offers) {
        let whose = if game.trusted { "trusted: " } else { "" };
        report::say(format_args!(
            "{:<16} {:<28} {:<12} {:>5} {:>10}  {whose}{}",
            game.id,
            name_of(&game.id),
            game.newest_version,
            game.peers_with_newest,
            lanspread_proto::units::format_size(game.size),
            named(offers, &game.supplied_by)
        ));
        if !game.disagreement.is_empty() {
            let lists: Vec<String> = game.disagreement.iter().map(|list| named(offers, list)).collect();
            report::say(format_args!(
                "{:<16} peers disagree on its file list: {}; not fetched until you trust one",
                "",
                lists.join(" | ")
            ));
        }
        for other in &game.other_versions {
            let note = if game.trusted { ", not trusted: not fetched" } else { "" };
            report::say(format_args!("{:<16} also {} from {}{note}", "", other.version, named(offers, &other.peers)));
        }
    }
}
