//! The peer list (from the status bar) and trusting a peer with one click,
//! there or in a game's detail view.

use std::collections::BTreeSet;

use lanspread_proto::PeerId;

use crate::settings::Settings;
use crate::view::ViewState;

/// A peer as a line of the lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerLine {
    pub id: String,
    pub short: String,
    pub name: String,
    /// Where it is, or what it offers.
    pub note: String,
    pub trusted: bool,
}

impl PeerLine {
    pub fn of(view: &ViewState, trusted: &BTreeSet<PeerId>, peer: &PeerId, note: String) -> PeerLine {
        PeerLine {
            id: peer.to_string(),
            short: peer.short(),
            name: view.peer_name(peer),
            note,
            trusted: trusted.contains(peer),
        }
    }
}

/// Every joined peer, by name.
pub fn lines(view: &ViewState, trusted: &BTreeSet<PeerId>) -> Vec<PeerLine> {
    let mut lines: Vec<PeerLine> =
        view.peers().map(|p| PeerLine::of(view, trusted, &p.peer_id, p.address.clone())).collect();
    lines.sort_by_key(|line| line.name.to_lowercase());
    lines
}

/// `settings` with `peer` trusted (or not): what a Trust button saves.
pub fn with_trust(mut settings: Settings, peer: PeerId, trust: bool) -> Settings {
    settings.trusted.retain(|t| t.parse::<PeerId>().ok() != Some(peer));
    if trust {
        settings.trusted.push(peer.to_string());
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusting_twice_keeps_one_entry_and_untrusting_removes_it() {
        let peer = PeerId([4; 32]);
        let other = PeerId([5; 32]).to_string();
        let settings = Settings { trusted: vec![other.clone(), "junk".into()], ..Settings::default() };
        let trusted = with_trust(with_trust(settings, peer, true), peer, true);
        assert_eq!(trusted.trusted, [other.clone(), "junk".into(), peer.to_string()]);
        assert_eq!(with_trust(trusted, peer, false).trusted, [other, "junk".to_owned()]);
    }
}
