//! A test-only fault switch: with `LANSPREAD_TEST_CRASH_AT=<operation>:<point>`
//! set, a debug build aborts the process (no unwinding, no cleanup, like
//! kill -9) when an operation reaches that point, so tests can check what
//! recovery makes of every intermediate state. Release builds ignore it.

/// The environment variable naming the crash point.
pub const CRASH_ENV: &str = "LANSPREAD_TEST_CRASH_AT";

/// Every point an operation passes, in order per operation.
pub const CRASH_POINTS: &[&str] = &[
    "install:unpacking",
    "install:unpacked",
    "install:swapped",
    "install:committed",
    "update:unpacking",
    "update:unpacked",
    "update:backed-up",
    "update:swapped",
    "update:committed",
    "uninstall:started",
    "uninstall:moved",
    "uninstall:deleted",
    "remove:started",
    "remove:sentinel-deleted",
    "remove:emptied",
];

/// Aborts here if the switch names `point`.
#[cfg(debug_assertions)]
pub fn point(point: &str) {
    debug_assert!(CRASH_POINTS.contains(&point), "unlisted crash point {point}");
    if std::env::var(CRASH_ENV).is_ok_and(|at| at == point) {
        eprintln!("{CRASH_ENV}: aborting at {point}");
        std::process::abort();
    }
}

#[cfg(not(debug_assertions))]
pub fn point(_point: &str) {}
