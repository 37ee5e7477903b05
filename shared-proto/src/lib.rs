//! Everything that crosses a LanSpread process or network boundary.
//!
//! Two protocols share one framing: a `u32` little-endian length, then a
//! [postcard] body. Every read is bounded by a per-protocol limit, and a
//! frame that is too long, truncated, malformed or names a variant this
//! build does not know gives a typed [`FrameError`], never a panic.
//!
//! - **Peer protocol** ([`peer`]): node ⇄ node over QUIC (ALPN [`peer::ALPN`]),
//!   one bidirectional stream per request.
//! - **IPC protocol** ([`ipc`]): the desktop UI ⇄ its worker process over a
//!   local socket, after a launch-token handshake.
//!
//! Wire enums are append-only: a new variant goes at the end, an old one is
//! never removed or reordered, because postcard encodes the variant index.
//! Golden-byte tests in `tests/` pin the encoding of a few messages.
//!
//! # Layout
//! - [`frame`]: the [`Message`] trait, encoding, the sans-IO [`FrameDecoder`]
//!   and [`FrameError`].
//! - [`io`] (feature `tokio`): reading and writing frames on tokio streams.
//! - [`game`]: game ids, catalog entries, natural version order, peer ids.
//! - [`names`]: the one rule per kind of name from outside (game ids,
//!   versions, display names, relative paths), Windows rules included.
//! - [`peer`]: requests and responses between nodes.
//! - [`ipc`]: commands, events and the handshake between UI and worker.
//! - [`exit`]: process exit codes shared by the supervisor and the worker.
//! - [`units`]: byte counts as people read them.
//! - [`path_error`]: I/O errors that name their path.
//! - [`os_error`]: Windows OS errors in words (name and meaning).
//!
//! # Example
//! ```
//! use lanspread_proto::{frame, peer::PeerRequest};
//! let bytes = frame::encode(&PeerRequest::Ping).unwrap();
//! assert_eq!(bytes, [1, 0, 0, 0, 1]); // length 1, variant 1
//! let mut decoder = frame::FrameDecoder::<PeerRequest>::new();
//! decoder.push(&bytes);
//! assert_eq!(decoder.next_frame().unwrap(), Some(PeerRequest::Ping));
//! ```

pub mod exit;
pub mod frame;
pub mod game;
#[cfg(feature = "tokio")]
pub mod io;
pub mod ipc;
pub mod names;
pub mod os_error;
pub mod path_error;
pub mod peer;
pub mod units;

pub use frame::{FrameDecoder, FrameError, Message};
pub use game::{CatalogEntry, GameId, PeerId};
