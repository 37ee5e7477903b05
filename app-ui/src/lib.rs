//! The UI process's core, free of Slint: it starts and supervises the
//! worker, talks to it over the IPC protocol, and keeps the view state the
//! window shows. Everything here is tested without a window.
//!
//! # Layout
//! - [`ipc`]: the per-launch local socket, the token handshake and the
//!   framed link to a worker.
//! - [`log`]: the log file the UI and its worker share, rotated by size.
//! - [`restart`]: the restart policy (backoff, crash loop), plain logic.
//! - [`supervisor`]: spawning the worker, restarting it, heartbeats.
//! - [`view`]: the games, peers and worker state as the window shows them,
//!   and their formatting.
//! - [`controllers`]: what each part of the window shows (plain models) and
//!   what its buttons send, built from the view state.
//! - [`settings`]: the user's settings, their file and their checks.
//! - [`state_file`]: reading and writing those two files, bounded and whole.
//! - [`memory`]: what the window remembers between runs (its place, play
//!   times).
//! - [`files`]: "View Files", resolving a game's folder safely.
//! - [`art`]: cover pictures, read and decoded within bounds.
//! - [`launch`]: Play: a game's launch command, checked, started detached.
//! - [`disk`]: free space for the status bar.
//! - [`platform`]: where the worker binary and the log file are.

pub mod art;
pub mod controllers;
pub mod disk;
pub mod files;
pub mod ipc;
pub mod launch;
pub mod log;
pub mod memory;
pub mod platform;
pub mod restart;
pub mod settings;
pub mod state_file;
pub mod supervisor;
pub mod view;
