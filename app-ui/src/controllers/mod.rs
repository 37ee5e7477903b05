//! Controllers: what each part of the window shows and what its buttons
//! send, as plain models and commands built from the [`ViewState`]. The
//! window's adapters (in the `lanspread` crate) only copy these models into
//! Slint properties, so every decision here is tested without a window.
//!
//! - [`library`]: the grid's cards and what a card's button does.
//! - [`detail`]: which game's detail view is open and what it shows.
//! - [`status`]: the status bar.
//! - [`peers`]: the peer lists and trusting a peer.
//! - [`settings`]: the Settings panel being edited, its checks and saving.
//!
//! [`ViewState`]: crate::view::ViewState

pub mod detail;
pub mod library;
pub mod peers;
pub mod settings;
pub mod status;

/// How much of an operation is done, 0 to 1, for the progress bars.
pub fn fraction(done: u64, total: u64) -> f32 {
    if total == 0 { 0.0 } else { (done as f64 / total as f64).clamp(0.0, 1.0) as f32 }
}
