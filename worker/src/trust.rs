//! Whose word counts on this node: the party key (who may talk to it at
//! all) and the trusted seeders (whose versions and file lists win), set
//! when the node starts and changeable while it runs.
//!
//! [`choose`] is the plain logic that picks, for one game, the version and
//! the peers whose file list counts, from the offers peers listed: with a
//! trusted peer among them only trusted offers count; without one the
//! newest version does, as on a plain home LAN. File lists are then
//! compared by [`agree`]: the peers whose list counts must all send the
//! same one. There is no vote: one PC can hold many addresses and make
//! identities at will, so where they differ the user decides whom to trust
//! before anything is downloaded.

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
    /// The peers whose word made it the one (the trusted ones, or every
    /// peer with the version when none is trusted).
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

/// Why no file list counts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoAgreement {
    /// None of the peers whose list counts sent one.
    #[error("no {}peer that has it sent its file list", if *trusted { "trusted " } else { "" })]
    NoFileList {
        /// Only the trusted peers' lists counted.
        trusted: bool,
    },
    /// The peers whose list counts sent different ones (at least two);
    /// `trusted`: they are trusted peers.
    #[error("{}", disagreement_text(.version, .lists, *.trusted))]
    Disagreement { version: String, lists: Vec<FileListOffer>, trusted: bool },
}

/// One of the file lists peers disagree on, and who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileListOffer {
    pub peers: Vec<PeerId>,
    pub files: usize,
    pub bytes: u64,
}

fn disagreement_text(version: &str, lists: &[FileListOffer], trusted: bool) -> String {
    let lists: Vec<String> = lists
        .iter()
        .map(|l| {
            let peers: Vec<String> = l.peers.iter().map(|p| p.short().to_string()).collect();
            let size = lanspread_proto::units::format_size(l.bytes);
            format!("{} files, {size}, from {}", l.files, peers.join(", "))
        })
        .collect();
    let (whose, settle) = if trusted {
        ("trusted peers", "stop trusting the peers whose list you do not want")
    } else {
        ("peers", "trust the peer whose list you want")
    };
    format!(
        "{whose} offer {} different file lists for version {version} ({}); nothing was downloaded: {settle}",
        lists.len(),
        lists.join("; ")
    )
}

/// Picks the file list of `choice` from the sources' answers: the one every
/// authority that answered sent. Sources whose list differs from it are
/// rejected. `Err` carries why none counts, with every connection to close.
pub fn agree<C>(choice: &Choice, answers: Vec<Answer<C>>) -> Result<Agreement<C>, (NoAgreement, Vec<C>)> {
    let mut groups: Vec<(GameManifest, Vec<Answer<C>>)> = Vec::new();
    for answer in answers {
        let manifest = answer.manifest.clone();
        match groups.iter_mut().find(|(m, _)| *m == manifest) {
            Some((_, members)) => members.push(answer),
            None => groups.push((manifest, vec![answer])),
        }
    }
    let authorities_in = |members: &[Answer<C>]| -> Vec<PeerId> {
        members.iter().filter(|a| choice.authorities.contains(&a.peer)).map(|a| a.peer).collect()
    };
    let counted: Vec<usize> = (0..groups.len()).filter(|&i| !authorities_in(&groups[i].1).is_empty()).collect();
    let close_all =
        |groups: Vec<(GameManifest, Vec<Answer<C>>)>| groups.into_iter().flat_map(|(_, m)| m).map(|a| a.conn).collect();
    let best = match counted.as_slice() {
        [] => return Err((NoAgreement::NoFileList { trusted: choice.trusted }, close_all(groups))),
        [one] => *one,
        _ => {
            let lists = counted
                .iter()
                .map(|&i| FileListOffer {
                    peers: authorities_in(&groups[i].1),
                    files: groups[i].0.files.len(),
                    bytes: groups[i].0.total_size(),
                })
                .collect();
            let why = NoAgreement::Disagreement { version: choice.version.clone(), lists, trusted: choice.trusted };
            return Err((why, close_all(groups)));
        }
    };
    let competing = choice.has_competition() || groups.len() > 1;
    let (manifest, members) = groups.swap_remove(best);
    let rejected = groups.into_iter().flat_map(|(_, m)| m).map(|a| (a.peer, a.conn)).collect();
    let supplied_by = authorities_in(&members);
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
    fn differing_file_lists_without_trust_are_a_disagreement_however_many_addresses_back_one() {
        let offers = [offer(1, "1.0"), offer(2, "1.0"), offer(3, "1.0"), offer(4, "1.0")];
        let choice = choose(&offers, &BTreeSet::new()).unwrap();
        // Peers 2, 3 and 4 agree, from three addresses (one PC can hold
        // them all); peer 1 alone sends another list. No vote decides.
        let answers = || {
            let liars = (2..=4).map(|n| answer_as(n, n, "liar", 2));
            std::iter::once(answer(1, 1, "honest")).chain(liars).collect::<Vec<_>>()
        };
        let (why, closed) = agree(&choice, answers()).unwrap_err();
        let NoAgreement::Disagreement { version, lists, trusted: false } = &why else { panic!("{why:?}") };
        assert_eq!(version, "1.0");
        let peers: Vec<Vec<PeerId>> = lists.iter().map(|l| l.peers.clone()).collect();
        assert_eq!(peers, [ids(&[1]), ids(&[2, 3, 4])]);
        assert_eq!(closed, [1, 2, 3, 4], "nothing is downloaded from anyone");
        let text = why.to_string();
        assert!(text.contains("2 different file lists for version 1.0") && text.contains("trust the peer"), "{text}");
        // Trusting one side settles it.
        let trusted: BTreeSet<PeerId> = ids(&[1]).into_iter().collect();
        let agreed = agree(&choose(&offers, &trusted).unwrap(), answers()).unwrap();
        assert_eq!(agreed.manifest.files[0].path, "honest");
        assert_eq!(agreed.rejected.iter().map(|(_, c)| *c).collect::<Vec<_>>(), [2, 3, 4]);
        // Two trusted peers that disagree: trusting more cannot settle it.
        let trusted: BTreeSet<PeerId> = ids(&[1, 2]).into_iter().collect();
        let (why, _) = agree(&choose(&offers, &trusted).unwrap(), answers()).unwrap_err();
        assert!(matches!(why, NoAgreement::Disagreement { trusted: true, .. }), "{why:?}");
        assert!(why.to_string().contains("stop trusting"), "{why}");
    }

    #[test]
    fn untrusted_peers_that_agree_give_their_list_and_competition_is_noted() {
        let offers = [offer(1, "1.0"), offer(2, "1.0"), offer(3, "0.9")];
        let choice = choose(&offers, &BTreeSet::new()).unwrap();
        let agreed = agree(&choice, vec![answer_as(1, 1, "same", 7), answer_as(2, 2, "same", 7)]).unwrap();
        assert_eq!(agreed.sources, [1, 2]);
        assert!(agreed.competing && !agreed.trusted, "another version is on offer");
        assert!(!agreed.may_auto_install(&TrustSettings::default()));
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
        assert_eq!(why, NoAgreement::NoFileList { trusted: true });
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
