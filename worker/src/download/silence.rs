//! Which peers owe the download chunks and have sent nothing for
//! [`SILENT_AFTER`]. A peer that vanished without a word (its power cut,
//! or its goodbye lost on a full link) is noticed by QUIC only at its idle
//! timeout, many seconds later; at the end of a download the planner hands
//! its chunks to someone else instead of waiting that long
//! ([`super::planner::Planner::peer_silent`]).
//!
//! Plain logic: the transfer loop feeds it how many stream frames each
//! connection has received in all, with the time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lanspread_proto::PeerId;

/// A peer that owes chunks and sent nothing for this long is silent. A
/// live peer sends a chunk's bytes continuously; a seeder may hold a
/// request in its upload queue longer, which only costs an endgame copy.
pub const SILENT_AFTER: Duration = Duration::from_secs(1);

/// When each peer was last heard from while it owed chunks.
#[derive(Debug, Default)]
pub struct SilenceWatch {
    peers: HashMap<PeerId, Heard>,
}

#[derive(Debug)]
struct Heard {
    frames: u64,
    /// When it last sent a frame, or began to owe chunks.
    at: Instant,
    owed: bool,
    silent: bool,
}

impl SilenceWatch {
    /// `peer` has sent `frames` stream frames in all by `now`, and `owes`
    /// says whether requests to it are in flight. Returns whether it is
    /// silent, when that changed.
    pub fn observe(&mut self, peer: PeerId, frames: u64, owes: bool, now: Instant) -> Option<bool> {
        let heard = self.peers.entry(peer).or_insert(Heard { frames, at: now, owed: false, silent: false });
        if frames != heard.frames || !owes || !heard.owed {
            heard.frames = frames;
            heard.at = now;
        }
        heard.owed = owes;
        let silent = now.duration_since(heard.at) >= SILENT_AFTER;
        (silent != heard.silent).then(|| {
            heard.silent = silent;
            silent
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_that_owes_chunks_and_sends_nothing_turns_silent_until_heard_again() {
        let (peer, start) = (PeerId([1; 32]), Instant::now());
        let at = |ms| start + Duration::from_millis(ms);
        let mut watch = SilenceWatch::default();
        assert_eq!(watch.observe(peer, 10, true, at(0)), None);
        assert_eq!(watch.observe(peer, 10, true, at(900)), None);
        assert_eq!(watch.observe(peer, 10, true, at(1000)), Some(true));
        assert_eq!(watch.observe(peer, 10, true, at(1500)), None, "said once");
        assert_eq!(watch.observe(peer, 11, true, at(1600)), Some(false), "heard again");
        assert_eq!(watch.observe(peer, 11, true, at(2500)), None);
        assert_eq!(watch.observe(peer, 11, true, at(2600)), Some(true));
    }

    #[test]
    fn a_peer_owed_nothing_is_never_silent() {
        let (peer, start) = (PeerId([2; 32]), Instant::now());
        let mut watch = SilenceWatch::default();
        for s in 0..5 {
            assert_eq!(watch.observe(peer, 3, false, start + Duration::from_secs(s)), None);
        }
        // Owed again: the quiet time starts now, not at the last frame.
        assert_eq!(watch.observe(peer, 3, true, start + Duration::from_millis(5500)), None);
        assert_eq!(watch.observe(peer, 3, true, start + Duration::from_millis(6400)), None);
        assert_eq!(watch.observe(peer, 3, true, start + Duration::from_millis(6500)), Some(true));
    }
}
