//! QUIC between nodes: identity, the party key, transport settings, the
//! server that answers peers (and how its chunk bytes leave, `upload`) and
//! the client that asks them.

pub mod candidate;
pub mod client;
pub mod fair;
pub mod identity;
pub mod log_limit;
pub mod party;
pub mod rate;
pub mod received;
pub mod server;
pub mod traffic;
pub mod transport;
pub mod upload;
pub mod vetting;

/// The message for a hello with another protocol version, for either side.
pub fn version_mismatch(theirs: u32) -> String {
    format!(
        "the other node speaks LanSpread protocol {theirs}, this one speaks {}; install the same LanSpread version on both PCs",
        lanspread_proto::peer::PEER_PROTOCOL_VERSION
    )
}
