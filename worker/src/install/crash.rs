//! A test-only fault switch: with `LANSPREAD_TEST_CRASH_AT=<operation>:<point>`
//! set, a debug build aborts the process (no unwinding, no cleanup, like
//! kill -9) when an operation reaches that point, so tests can check what
//! recovery makes of every intermediate state. Release builds ignore it.

use super::plan::CrashPoint;

/// The environment variable naming the crash point.
pub const CRASH_ENV: &str = "LANSPREAD_TEST_CRASH_AT";

/// Aborts here if the switch names `point`.
#[cfg(debug_assertions)]
pub fn point(point: CrashPoint) {
    if std::env::var(CRASH_ENV).is_ok_and(|at| at == point.name()) {
        eprintln!("{CRASH_ENV}: aborting at {}", point.name());
        std::process::abort();
    }
}

#[cfg(not(debug_assertions))]
pub fn point(_point: CrashPoint) {}
