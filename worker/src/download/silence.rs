//! How long each peer that owes the download chunks has sent no byte of
//! them. A peer that vanished without a word (its power cut, or its goodbye
//! lost on a full link) is noticed by QUIC only at its idle timeout, many
//! seconds later, and a liar may keep its connection alive and never send
//! a chunk; the planner decides what the quiet time means
//! ([`super::planner::Planner::peer_quiet`]).
//!
//! Plain logic: the transfer loop feeds it how many pieces of chunk bytes
//! each connection has received in all, with the time. Keep-alives and
//! swarm updates are not chunk bytes, so they do not count as being heard.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lanspread_proto::PeerId;

/// When each peer was last heard from while it owed chunks.
#[derive(Debug, Default)]
pub struct SilenceWatch {
    peers: HashMap<PeerId, Heard>,
}

#[derive(Debug)]
struct Heard {
    pieces: u64,
    /// When it last sent chunk bytes, or began to owe chunks.
    at: Instant,
    owed: bool,
}

impl SilenceWatch {
    /// `peer` has sent `pieces` pieces of chunk bytes in all by `now`, and
    /// `owes` says whether requests to it are in flight. Returns how long
    /// it has owed chunks without sending any (zero when it owes none).
    pub fn observe(&mut self, peer: PeerId, pieces: u64, owes: bool, now: Instant) -> Duration {
        let heard = self.peers.entry(peer).or_insert(Heard { pieces, at: now, owed: false });
        if pieces != heard.pieces || !owes || !heard.owed {
            heard.pieces = pieces;
            heard.at = now;
        }
        heard.owed = owes;
        now.duration_since(heard.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_that_owes_chunks_and_sends_nothing_grows_quiet_until_heard_again() {
        let (peer, start) = (PeerId([1; 32]), Instant::now());
        let at = |ms| start + Duration::from_millis(ms);
        let ms = Duration::from_millis;
        let mut watch = SilenceWatch::default();
        assert_eq!(watch.observe(peer, 10, true, at(0)), ms(0));
        assert_eq!(watch.observe(peer, 10, true, at(900)), ms(900));
        assert_eq!(watch.observe(peer, 10, true, at(1500)), ms(1500));
        assert_eq!(watch.observe(peer, 11, true, at(1600)), ms(0), "heard again");
        assert_eq!(watch.observe(peer, 11, true, at(2600)), ms(1000));
    }

    #[test]
    fn a_peer_owed_nothing_is_never_quiet() {
        let (peer, start) = (PeerId([2; 32]), Instant::now());
        let mut watch = SilenceWatch::default();
        for s in 0..5 {
            assert_eq!(watch.observe(peer, 3, false, start + Duration::from_secs(s)), Duration::ZERO);
        }
        // Owed again: the quiet time starts now, not at the last piece.
        assert_eq!(watch.observe(peer, 3, true, start + Duration::from_millis(5500)), Duration::ZERO);
        assert_eq!(watch.observe(peer, 3, true, start + Duration::from_millis(6400)), Duration::from_millis(900));
    }
}
