//! Whose word counts on this node: the party key (who may talk to it at
//! all) and the trusted seeders (whose versions and file lists win), set
//! when the node starts and changeable while it runs.
//!
//! [`choose`] is the plain logic that picks, for one game, the version and
//! the peers whose file list counts, from the offers peers listed: with a
//! trusted peer among them only trusted offers count; without one the
//! newest version does, as on a plain home LAN. File lists are then
//! compared by [`crate::download::agree_on_manifest`], one vote per address.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use lanspread_proto::PeerId;
use lanspread_proto::game::compare_versions;
use lanspread_proto::peer::GameManifest;

use crate::net::party::PartyKey;

pub use lanspread_proto::ipc::MAX_TRUSTED_PEERS;

/// The node's trust settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustSettings {
    /// With a key, only peers that prove it are answered or asked.
    pub party_key: Option<PartyKey>,
    /// Peers whose versions and file lists win for the games they have.
    pub trusted: BTreeSet<PeerId>,
    /// Whether a download whose file list no trusted peer vouches for, and
    /// that has competition, installs by itself anyway.
    pub auto_install_untrusted: bool,
}

impl TrustSettings {
    pub fn is_trusted(&self, peer: &PeerId) -> bool {
        self.trusted.contains(peer)
    }
}

/// One peer's listing of a game.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub peer: PeerId,
    pub ip: IpAddr,
    pub version: String,
    pub size: u64,
}

/// What the network's offers of one game come to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub version: String,
    pub size: u64,
    /// Every peer listing that version: chunks may come from any of them,
    /// since each chunk is checked against the file list that counts.
    pub sources: Vec<PeerId>,
    /// The peers whose file list counts: the trusted ones with the version,
    /// or every source when no trusted peer has the game.
    pub authorities: Vec<PeerId>,
    /// A trusted peer vouches for the version.
    pub trusted: bool,
    /// Other versions on offer, newest first, with who offers them.
    pub others: Vec<(String, Vec<PeerId>)>,
}

impl Choice {
    /// Whether more than one version is on offer (a different file list
    /// for the same version is found only when the lists are fetched).
    pub fn has_competition(&self) -> bool {
        !self.others.is_empty()
    }
}

/// Picks the version of a game to fetch from `offers` (see the module doc).
pub fn choose(offers: &[Offer], trusted: &BTreeSet<PeerId>) -> Option<Choice> {
    let by_trusted = offers.iter().any(|o| trusted.contains(&o.peer));
    let counts = |o: &Offer| !by_trusted || trusted.contains(&o.peer);
    let version =
        offers.iter().filter(|o| counts(o)).map(|o| &o.version).max_by(|a, b| compare_versions(a, b))?.clone();
    let sources: Vec<&Offer> = offers.iter().filter(|o| o.version == version).collect();
    let mut others: BTreeMap<&str, Vec<PeerId>> = BTreeMap::new();
    for offer in offers.iter().filter(|o| compare_versions(&o.version, &version).is_ne()) {
        others.entry(offer.version.as_str()).or_default().push(offer.peer);
    }
    let mut others: Vec<(String, Vec<PeerId>)> = others.into_iter().map(|(v, p)| (v.to_owned(), p)).collect();
    others.sort_by(|a, b| compare_versions(&b.0, &a.0));
    Some(Choice {
        size: sources.iter().find(|o| counts(o)).map_or(0, |o| o.size),
        authorities: sources.iter().filter(|o| counts(o)).map(|o| o.peer).collect(),
        sources: sources.iter().map(|o| o.peer).collect(),
        trusted: by_trusted,
        others,
        version,
    })
}

/// One source's file list, as it answered.
#[derive(Debug)]
pub struct Answer<C> {
    pub peer: PeerId,
    pub ip: IpAddr,
    pub conn: C,
    pub manifest: GameManifest,
}

/// The file list to fetch and the sources that agree with it.
#[derive(Debug)]
pub struct Agreement<C> {
    pub manifest: GameManifest,
    /// Connections of every source whose list is that one.
    pub sources: Vec<C>,
    /// The peers whose word made it the one (trusted, or the majority).
    pub supplied_by: Vec<PeerId>,
    /// A trusted peer vouches for it.
    pub trusted: bool,
    /// Another version, or another file list of this one, is on offer.
    pub competing: bool,
    /// Sources whose list differs, to be told and closed.
    pub rejected: Vec<(PeerId, C)>,
}

/// Why a download was not installed by itself (see [`Agreement::may_auto_install`]).
pub const NOT_INSTALLED_BY_ITSELF: &str =
    "no trusted peer vouches for its file list and peers offer another version or list";

impl<C> Agreement<C> {
    /// Whether a download of this list may install by itself.
    pub fn may_auto_install(&self, settings: &TrustSettings) -> bool {
        self.trusted || !self.competing || settings.auto_install_untrusted
    }
}

/// No file list counts: none of the peers whose list counts sent one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no {}peer that has it sent its file list", if *trusted { "trusted " } else { "" })]
pub struct NoFileList {
    /// Only the trusted peers' lists counted.
    pub trusted: bool,
}

/// Picks the file list of `choice` from the sources' answers: the one the
/// most addresses among its authorities sent (a PC running many nodes
/// counts once); ties go to the list of the lowest peer id. `Err` carries
/// why none counts, with every connection to close.
pub fn agree<C>(choice: &Choice, answers: Vec<Answer<C>>) -> Result<Agreement<C>, (NoFileList, Vec<C>)> {
    let mut groups: Vec<(GameManifest, Vec<Answer<C>>)> = Vec::new();
    for answer in answers {
        let manifest = answer.manifest.clone();
        match groups.iter_mut().find(|(m, _)| *m == manifest) {
            Some((_, members)) => members.push(answer),
            None => groups.push((manifest, vec![answer])),
        }
    }
    let votes = |members: &[Answer<C>]| {
        let voters = members.iter().filter(|a| choice.authorities.contains(&a.peer));
        let addresses: BTreeSet<IpAddr> = voters.clone().map(|a| a.ip).collect();
        (addresses.len(), std::cmp::Reverse(voters.map(|a| a.peer).min()))
    };
    let best = groups.iter().enumerate().max_by_key(|(_, (_, members))| votes(members)).map(|(i, _)| i);
    let competing = choice.has_competition() || groups.len() > 1;
    let Some(best) = best.filter(|&i| votes(&groups[i].1).0 > 0) else {
        let why = NoFileList { trusted: choice.trusted };
        return Err((why, groups.into_iter().flat_map(|(_, m)| m).map(|a| a.conn).collect()));
    };
    let (manifest, members) = groups.swap_remove(best);
    let rejected = groups.into_iter().flat_map(|(_, m)| m).map(|a| (a.peer, a.conn)).collect();
    let supplied_by = members.iter().filter(|a| choice.authorities.contains(&a.peer)).map(|a| a.peer).collect();
    Ok(Agreement {
        manifest,
        sources: members.into_iter().map(|a| a.conn).collect(),
        supplied_by,
        trusted: choice.trusted,
        competing,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(peer: u8, version: &str) -> Offer {
        Offer { peer: PeerId([peer; 32]), ip: IpAddr::from([10, 0, 0, peer]), version: version.into(), size: 100 }
    }

    fn ids(peers: &[u8]) -> Vec<PeerId> {
        peers.iter().map(|p| PeerId([*p; 32])).collect()
    }

    #[test]
    fn without_trusted_peers_the_newest_version_counts() {
        let offers = [offer(1, "1.0"), offer(2, "1.1"), offer(3, "1.1")];
        let choice = choose(&offers, &BTreeSet::new()).unwrap();
        assert_eq!(choice.version, "1.1");
        assert_eq!(choice.sources, ids(&[2, 3]));
        assert_eq!(choice.authorities, ids(&[2, 3]));
        assert!(!choice.trusted);
        assert_eq!(choice.others, [("1.0".to_owned(), ids(&[1]))]);
        assert!(choice.has_competition());
        assert!(!choose(&[offer(1, "1.0")], &BTreeSet::new()).unwrap().has_competition());
        assert_eq!(choose(&[], &BTreeSet::new()), None);
    }

    fn answer(peer: u8, ip: u8, files: &str) -> Answer<u8> {
        let file = lanspread_proto::peer::FileEntry { path: files.into(), size: 1, chunks: vec![[peer; 32]] };
        let manifest = GameManifest { id: "g".into(), version: "1.0".into(), chunk_size: 4, files: vec![file] };
        Answer { peer: PeerId([peer; 32]), ip: IpAddr::from([10, 0, 0, ip]), conn: peer, manifest }
    }

    fn answer_as(peer: u8, ip: u8, files: &str, like: u8) -> Answer<u8> {
        let mut a = answer(peer, ip, files);
        a.manifest.files[0].chunks = vec![[like; 32]];
        a
    }

    #[test]
    fn file_lists_are_voted_on_one_address_one_vote() {
        let offers = [offer(1, "1.0"), offer(2, "1.0"), offer(3, "1.0")];
        let choice = choose(&offers, &BTreeSet::new()).unwrap();
        // Peers 2 and 3 agree but share a PC; peer 1 is alone on its own: a
        // tie of one address each, which the lowest peer id wins.
        let answers = vec![answer(1, 1, "honest"), answer_as(2, 9, "liar", 2), answer_as(3, 9, "liar", 2)];
        let agreed = agree(&choice, answers).unwrap();
        assert_eq!(agreed.manifest.files[0].path, "honest");
        assert_eq!(agreed.sources, [1]);
        assert_eq!(agreed.rejected.iter().map(|(_, c)| *c).collect::<Vec<_>>(), [2, 3]);
        assert!(agreed.competing && !agreed.trusted);
        assert!(!agreed.may_auto_install(&TrustSettings::default()));
        // Two PCs agreeing outvote one.
        let answers = vec![answer(1, 1, "honest"), answer_as(2, 2, "liar", 2), answer_as(3, 3, "liar", 2)];
        assert_eq!(agree(&choice, answers).unwrap().manifest.files[0].path, "liar");
    }

    #[test]
    fn a_trusted_file_list_wins_and_others_with_it_are_sources() {
        let offers = [offer(1, "1.0"), offer(2, "1.0"), offer(3, "1.0"), offer(4, "1.0")];
        let trusted: BTreeSet<PeerId> = ids(&[1]).into_iter().collect();
        let choice = choose(&offers, &trusted).unwrap();
        let answers = vec![
            answer(1, 1, "honest"),
            answer_as(2, 2, "liar", 2),
            answer_as(3, 3, "liar", 2),
            answer_as(4, 4, "honest", 1),
        ];
        let agreed = agree(&choice, answers).unwrap();
        assert_eq!(agreed.manifest.files[0].path, "honest");
        assert_eq!(agreed.sources, [1, 4], "an untrusted peer with the trusted list is a source");
        assert_eq!(agreed.supplied_by, ids(&[1]));
        assert!(agreed.trusted && agreed.may_auto_install(&TrustSettings::default()));
        // The trusted peer did not answer: the others' lists do not count.
        let answers = vec![answer_as(2, 2, "liar", 2), answer_as(3, 3, "liar", 2)];
        let (why, closed) = agree(&choice, answers).unwrap_err();
        assert_eq!(why, NoFileList { trusted: true });
        assert_eq!(why.to_string(), "no trusted peer that has it sent its file list");
        assert_eq!(closed, [2, 3]);
    }

    #[test]
    fn a_single_offer_installs_by_itself() {
        let choice = choose(&[offer(1, "1.0")], &BTreeSet::new()).unwrap();
        let agreed = agree(&choice, vec![answer(1, 1, "only")]).unwrap();
        assert!(!agreed.competing && agreed.may_auto_install(&TrustSettings::default()));
    }

    #[test]
    fn a_trusted_peer_outweighs_newer_versions_and_majorities() {
        // A trusted seeder at 1.0, a liar announcing 1.1, two more at 1.0.
        let offers = [offer(1, "1.0"), offer(2, "1.1"), offer(3, "1.0"), offer(4, "1.0")];
        let trusted: BTreeSet<PeerId> = ids(&[1]).into_iter().collect();
        let choice = choose(&offers, &trusted).unwrap();
        assert_eq!(choice.version, "1.0");
        assert!(choice.trusted);
        assert_eq!(choice.authorities, ids(&[1]), "only the trusted file list counts");
        assert_eq!(choice.sources, ids(&[1, 3, 4]), "chunks may come from anyone with the version");
        assert_eq!(choice.others, [("1.1".to_owned(), ids(&[2]))]);
        // Trusting a peer without the game changes nothing for it.
        let elsewhere: BTreeSet<PeerId> = ids(&[9]).into_iter().collect();
        assert_eq!(choose(&offers, &elsewhere).unwrap().version, "1.1");
    }
}
