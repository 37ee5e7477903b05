//! The LanSpread desktop app: the Slint window bound to the Slint-free core
//! in `lanspread-app-ui`. This crate only copies the controllers' models
//! into the UI's adapter properties; all logic lives in `app-ui`.
//!
//! # Layout
//! - `ui/index.slint` (compiled by `build.rs`): the window; `ui/globals/`
//!   one adapter per feature (with preview data), `ui/views/` the panels,
//!   `ui/widgets/` their parts.
//! - [`adapters`]: fill those globals from the controllers' models
//!   (`lanspread_app_ui::controllers`) and turn their callbacks into
//!   controller calls and requests (commands for the worker).
//! - [`app`]: the window, the supervised worker and the loop between them.

/// The code Slint generates from `ui/index.slint`; our lints do not apply.
#[allow(unused_qualifications, missing_debug_implementations, clippy::all, rust_2018_idioms)]
mod generated {
    slint::include_modules!();
}

pub use generated::*;

pub mod adapters;
pub mod app;
