//! QUIC between nodes: identity, the party key, transport settings, the
//! server that answers peers and the client that asks them.

pub mod client;
pub mod identity;
pub mod log_limit;
pub mod party;
pub mod received;
pub mod server;
pub mod traffic;
pub mod transport;
