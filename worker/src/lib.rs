//! The LanSpread worker: everything that touches the network or the game
//! directory. It runs as the desktop UI's child (`lanspread-worker ipc`) or
//! headless (`serve`, `list`).
//!
//! # Layout
//! - [`catalog`]: which game ids exist (bundled plus a user file).
//! - [`library`]: scanning the game directory, manifests, the hash index and
//!   the watcher that keeps them current.
//! - [`net`]: node identity, QUIC/TLS settings, the peer server and client,
//!   received chunks.
//! - [`discovery`]: mDNS (and a one-shot question at start), static and
//!   remembered peers, liveness and the peer game DB.
//! - [`trust`]: the party key and trusted peers, and which version and file
//!   list of a game count (plain logic).
//! - [`download`]: verified multi-peer downloads that resume and keep what
//!   an older version already has.
//! - [`swarm`]: what this node's downloads and games offer to other
//!   downloaders of the same file list, and sets of chunks peers hold.
//! - [`install`]: unpacking into `local/`, updates, uninstall, removal and
//!   crash recovery, each a transaction.
//! - [`operations`]: the operation table (which game is downloading,
//!   paused, installing…, as plain logic) and the runner that starts its
//!   tasks.
//! - [`covers`]: each game's cover picture, fetched from peers once and
//!   kept by hash.
//! - [`events`]: what a running node tells its listeners ([`events::NodeEvent`]).
//! - [`faults`]: fault switches for tests (`test-hooks` builds only).
//! - [`node`]: all of the above running together, with one shutdown.
//! - [`fetch`]: the headless `fetch` command: discover, download, report.
//! - [`ipc`]: the bridge to the desktop UI, and the only place node events
//!   become the UI's wire events.
//! - [`manage`]: the headless install, uninstall, remove and recover commands.
//! - [`cli`]: the headless command line; [`report`]: what its commands
//!   print (lines, a progress bar, typed JSON lines).
//! - [`platform`]: paths, durable and unbuffered writes and signals per
//!   operating system.
//!
//! # Example
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use lanspread_worker::{catalog::Catalog, node::{Node, NodeOptions}};
//! let node = Node::start(NodeOptions {
//!     state_dir: "state".into(),
//!     games_dir: None,
//!     listen: "0.0.0.0:0".parse()?,
//!     any_port_if_taken: false,
//!     static_peers: vec!["127.0.0.1:47474".into()],
//!     mdns: false,
//!     catalog: Arc::new(Catalog::bundled()),
//!     display_name: "lister".into(),
//!     trust: Default::default(),
//!     show_covers: false,
//!     limits: Default::default(),
//!     serve_downloads: false,
//!     faults: Default::default(),
//! })
//! .await?;
//! node.wait_for_static_peers(std::time::Duration::from_secs(3)).await;
//! println!("{:?}", node.network_games());
//! node.shutdown().await;
//! # Ok(()) }
//! ```

pub mod catalog;
pub mod cli;
pub mod covers;
pub mod discovery;
pub mod download;
pub mod events;
pub mod faults;
pub mod fetch;
pub mod install;
pub mod ipc;
pub mod library;
pub mod manage;
pub mod net;
pub mod node;
pub mod operations;
pub mod platform;
pub mod report;
pub mod swarm;
pub mod trust;
