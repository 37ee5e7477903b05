//! A possible peer, as discovery learns of one: from mDNS, from `--peer`,
//! from a serving node that says hello to our server, from an earlier run.
//! Here, below both, so the server can hand discovery what it heard
//! without the two importing each other.

use std::net::SocketAddr;

use lanspread_proto::PeerId;

/// A possible peer.
#[derive(Debug, Clone)]
pub enum Candidate {
    /// Reachable at `addrs` (tried in order); must prove `expected` if known.
    Found { key: String, addrs: Vec<SocketAddr>, expected: Option<PeerId>, origin: Origin },
    /// An mDNS announcement went away.
    Gone { key: String },
}

/// Where a candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `--peer` or the settings: tried for as long as the node runs.
    Static,
    Mdns,
    /// A serving node that said hello to our server.
    Hello,
    /// Met through mDNS on an earlier run (the remembered peers): tried once.
    Remembered,
    /// Answered our one-shot mDNS question at start: tried once.
    Probe,
}
