//! What a node does when a downloader reports swarm members that took its
//! requests and delivered nothing ([`PeerRequest::Dropped`]): it stops
//! naming them to others at once, then asks each for one chunk it claims,
//! itself. A member that delivers a verified chunk is named again, and
//! reports of it are not heeded for [`VOUCHED_FOR`] (so reports cannot keep
//! an honest member hidden, or make it upload probes over and over); one
//! that does not stays withheld ([`crate::swarm::Swarms::withhold`]).
//!
//! - **Participants.** The reporting downloader, this node (a seeder or a
//!   member that named the liars), the reported member.
//! - **Goal.** A later downloader is not introduced to members that other
//!   downloaders caught lying, so each liar costs the swarm once.
//! - **Non-goals.** Punishing anyone: a withheld member may still join and
//!   download, and nothing is shared beyond this node's member lists. A
//!   false report hides an honest member for one probe (longer only if the
//!   member cannot answer it, at most [`crate::swarm::WITHHOLD_FOR`]).
//!   A liar that serves this node's probes and nobody else is not caught
//!   here (the downloaders it fails still drop it within a second).
//!
//! Bounded: reports are taken only from members of that swarm here;
//! [`MAX_PROBES`] probes at once, [`MAX_PROBES_PER_REPORTER`] for one
//! reporting address (members beyond them are left as they are), each at
//! most [`PROBE_TIMEOUT`]; [`MAX_VOUCHED`] members remembered; a withheld
//! member is named again after [`crate::swarm::WITHHOLD_FOR`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lanspread_proto::PeerId;
use lanspread_proto::peer::{GameManifest, Have, ManifestHash, PeerRequest, SwarmMember};
use tokio::sync::{Semaphore, watch};

use super::client;
use super::party::PartyKey;
use super::received::ReceivedChunk;
use super::traffic::Traffic;
use crate::swarm::Swarms;
use crate::swarm::chunks::{ChunkIndex, chunk_len};

/// Probes of reported members running at once, all swarms together.
pub const MAX_PROBES: usize = 16;
/// Probes one reporting address may have running at once, so one PC's
/// reports cannot keep the others' from being checked.
pub const MAX_PROBES_PER_REPORTER: usize = 4;
/// A probe's whole time: connect, join, and one chunk. Longer than an
/// honest member's upload queue may hold a request
/// ([`super::upload::SLOT_WAIT`]).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(8);
/// Reports of a member that delivered to a probe are ignored this long.
pub const VOUCHED_FOR: Duration = Duration::from_secs(60);
/// Members that delivered to a probe remembered at most.
pub const MAX_VOUCHED: usize = 256;

/// How to reach members, and which delivered to a probe lately.
#[derive(Debug, Clone)]
pub struct Vetting {
    endpoint: quinn::Endpoint,
    swarms: Swarms,
    party_key: watch::Receiver<Option<PartyKey>>,
    traffic: Traffic,
    peer_id: PeerId,
    probes: Arc<Semaphore>,
    /// Probes running for each reporting address.
    by_reporter: Arc<Mutex<HashMap<IpAddr, usize>>>,
    vouched: Arc<Mutex<HashMap<PeerId, Instant>>>,
}

/// One probe counted against its reporter while it runs.
struct ReporterTurn {
    by_reporter: Arc<Mutex<HashMap<IpAddr, usize>>>,
    reporter: IpAddr,
}

impl Drop for ReporterTurn {
    fn drop(&mut self) {
        let mut by_reporter = self.by_reporter.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(running) = by_reporter.get_mut(&self.reporter) {
            *running -= 1;
            if *running == 0 {
                by_reporter.remove(&self.reporter);
            }
        }
    }
}

impl Vetting {
    pub fn new(
        endpoint: quinn::Endpoint,
        swarms: Swarms,
        party_key: watch::Receiver<Option<PartyKey>>,
        traffic: Traffic,
        peer_id: PeerId,
    ) -> Vetting {
        Vetting {
            endpoint,
            swarms,
            party_key,
            traffic,
            peer_id,
            probes: Arc::new(Semaphore::new(MAX_PROBES)),
            by_reporter: Arc::default(),
            vouched: Arc::default(),
        }
    }

    /// `reporter` says its download got nothing from `peers`, members of
    /// the swarm `hash` of `manifest`: each is withheld and probed.
    pub fn reported(&self, reporter: IpAddr, manifest: Arc<GameManifest>, hash: ManifestHash, peers: &[PeerId]) {
        for &peer in peers {
            let Some(member) = self.swarms.member(hash, peer).filter(|_| !self.is_vouched(peer)) else { continue };
            let Some(turn) = self.reporter_turn(reporter) else { return };
            let Ok(permit) = self.probes.clone().try_acquire_owned() else { return };
            self.swarms.withhold(hash, peer);
            let (vetting, manifest) = (self.clone(), manifest.clone());
            tokio::spawn(async move {
                let outcome = tokio::time::timeout(PROBE_TIMEOUT, vetting.probe(&manifest, hash, &member)).await;
                drop((permit, turn));
                match outcome {
                    Ok(Ok(())) => {
                        tracing::info!(
                            "{}: member {} at {} delivered when asked; the report from {reporter} was false",
                            manifest.id,
                            peer.short(),
                            member.addr
                        );
                        vetting.swarms.name_again(hash, peer);
                        vetting.vouch(peer);
                    }
                    Ok(Err(why)) => vetting.keep_withheld(&manifest.id, &member, &why),
                    Err(_) => {
                        let why = format!("sent no chunk within {} s", PROBE_TIMEOUT.as_secs());
                        vetting.keep_withheld(&manifest.id, &member, &why);
                    }
                }
            });
        }
    }

    fn keep_withheld(&self, game: &str, member: &SwarmMember, why: &str) {
        tracing::warn!(
            "{game}: not naming swarm member {} at {} to others: asked for a chunk it claims, it {why}",
            member.peer_id.short(),
            member.addr
        );
    }

    /// A probe's place among `reporter`'s, if it has one left.
    fn reporter_turn(&self, reporter: IpAddr) -> Option<ReporterTurn> {
        let mut by_reporter = self.by_reporter.lock().unwrap_or_else(|p| p.into_inner());
        let running = by_reporter.entry(reporter).or_default();
        if *running >= MAX_PROBES_PER_REPORTER {
            return None;
        }
        *running += 1;
        Some(ReporterTurn { by_reporter: self.by_reporter.clone(), reporter })
    }

    fn is_vouched(&self, peer: PeerId) -> bool {
        let mut vouched = self.vouched.lock().unwrap_or_else(|p| p.into_inner());
        vouched.retain(|_, at| at.elapsed() < VOUCHED_FOR);
        vouched.contains_key(&peer)
    }

    fn vouch(&self, peer: PeerId) {
        let mut vouched = self.vouched.lock().unwrap_or_else(|p| p.into_inner());
        if vouched.len() < MAX_VOUCHED {
            vouched.insert(peer, Instant::now());
        }
    }

    /// Asks `member` for one chunk it claims and checks it against
    /// `manifest`. `Err` says what it did instead.
    async fn probe(&self, manifest: &GameManifest, hash: ManifestHash, member: &SwarmMember) -> Result<(), String> {
        let party_key = self.party_key.borrow().clone();
        let conn =
            client::connect(&self.endpoint, member.addr, Some(member.peer_id), party_key.as_ref(), &self.traffic)
                .await
                .map_err(|e| format!("could not be reached ({e})"))?;
        let result = async {
            let (first, _stream) = conn
                .join(&manifest.id, hash, self.peer_id, 0)
                .await
                .map_err(|e| format!("refused to say what it holds ({e})"))?;
            let index = ChunkIndex::of(manifest).ok_or("has a file list of too many chunks")?;
            let number = match first.have {
                Some(Have::All) => Some(0),
                Some(Have::More(list)) => list.first().copied(),
                Some(Have::Bits(bits)) => {
                    bits.iter().enumerate().find(|(_, b)| **b != 0).map(|(i, b)| i as u32 * 8 + b.trailing_zeros())
                }
                None => None,
            };
            // A member that claims nothing cannot have taken requests.
            let Some(chunk) = number.and_then(|n| index.chunk(n)) else { return Ok(()) };
            let len = chunk_len(manifest, chunk) as u32;
            let mut bytes = ReceivedChunk::with_capacity(len as usize);
            let request = PeerRequest::GetChunk {
                id: manifest.id.clone(),
                version: manifest.version.clone(),
                file: chunk.file,
                chunk: chunk.chunk,
            };
            conn.get_chunk(&request, len, &mut bytes).await.map_err(|e| format!("did not send it ({e})"))?;
            let expected = &manifest.files[chunk.file as usize].chunks[chunk.chunk as usize];
            if bytes.hash().as_bytes() != expected {
                return Err("sent bytes that fail verification".to_owned());
            }
            Ok(())
        }
        .await;
        conn.close();
        result
    }
}
