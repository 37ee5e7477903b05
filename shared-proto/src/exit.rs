//! Process exit codes, shared by the worker and the UI's supervisor so the
//! supervisor can tell a clean exit from a crash and report why it restarts.

/// Everything went as asked.
pub const SUCCESS: i32 = 0;
/// Any failure that has no more specific code; the process printed `error: …`.
pub const FAILURE: i32 = 1;
/// Bad command-line usage (clap's own code).
pub const USAGE: i32 = 2;
/// The worker's UI went away (socket closed or heartbeats stopped); not a crash.
pub const UI_GONE: i32 = 3;
/// The UI refused the worker's handshake (wrong token or protocol version).
pub const IPC_REFUSED: i32 = 4;
/// `fetch` downloaded the game but did not install it: no trusted peer
/// vouches for its file list and another version or list is on offer.
pub const NOT_INSTALLED: i32 = 5;
/// `fetch` downloaded nothing: the peers whose file list counts offer
/// different ones, and none of them is trusted to settle it.
pub const DISAGREEMENT: i32 = 6;
/// Interrupted by Ctrl-C or SIGTERM before the work finished.
pub const INTERRUPTED: i32 = 130;

/// What an exit code means, for logs and the supervisor's restart reason.
pub fn describe(code: i32) -> &'static str {
    match code {
        SUCCESS => "exited normally",
        FAILURE => "failed",
        USAGE => "was started with bad arguments",
        UI_GONE => "lost its UI",
        IPC_REFUSED => "was refused by the UI",
        NOT_INSTALLED => "downloaded without installing",
        DISAGREEMENT => "found peers disagreeing on a file list",
        INTERRUPTED => "was interrupted",
        _ => "crashed",
    }
}
