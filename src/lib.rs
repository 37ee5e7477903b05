//! The LanSpread desktop app: the Slint window bound to the Slint-free core
//! in `lanspread-app-ui`. This crate only turns view state into the UI's
//! adapter properties; all logic lives in `app-ui`.
//!
//! # Layout
//! - `ui/index.slint` (compiled by `build.rs`): the window and one global
//!   adapter per feature.
//! - [`adapters`]: fill those globals from a [`lanspread_app_ui::view::ViewState`]
//!   and turn their callbacks into requests (commands for the worker).

/// The code Slint generates from `ui/index.slint`; our lints do not apply.
#[allow(unused_qualifications, missing_debug_implementations, clippy::all, rust_2018_idioms)]
mod generated {
    slint::include_modules!();
}

pub use generated::*;

pub mod adapters;
