//! The planner in virtual time: each simulated peer serves its requests one
//! after another at a fixed rate, like a link of that bandwidth.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::*;

const CHUNK: u64 = 1000;

fn peer(n: u8) -> PeerId {
    PeerId([n; 32])
}

/// The chunks `actions` asks `who` for.
pub(super) fn asked_of(actions: &[Action], who: PeerId) -> Vec<ChunkRef> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Request { peer, chunk } if *peer == who => Some(*chunk),
            _ => None,
        })
        .collect()
}

fn wanted(chunks: u32) -> Vec<Wanted> {
    (0..chunks).map(|i| Wanted { chunk: ChunkRef { file: i / 10, chunk: i % 10 }, len: CHUNK }).collect()
}

/// What a simulated peer does with a request.
#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Good,
    /// Sends wrong bytes for chunks whose index is even.
    CorruptEven,
    /// Sends wrong bytes for every chunk.
    CorruptAll,
}

struct SimPeer {
    bytes_per_ms: f64,
    behaviour: Behaviour,
    /// (chunk, requested at, finishes at)
    fifo: VecDeque<(ChunkRef, f64, f64)>,
    gone: bool,
}

struct Sim {
    planner: Planner,
    sizes: BTreeMap<ChunkRef, u64>,
    peers: BTreeMap<PeerId, SimPeer>,
    now_ms: f64,
    verified: BTreeMap<PeerId, u32>,
}

impl Sim {
    fn new(chunks: u32, peers: &[(PeerId, f64, Behaviour)]) -> Sim {
        Sim::with(wanted(chunks), peers)
    }

    fn with(wanted: Vec<Wanted>, peers: &[(PeerId, f64, Behaviour)]) -> Sim {
        let sizes = wanted.iter().map(|w| (w.chunk, w.len)).collect();
        let planner = Planner::new(wanted, CHUNK, peers.iter().map(|p| p.0));
        let peers = peers
            .iter()
            .map(|&(id, rate, behaviour)| {
                (id, SimPeer { bytes_per_ms: rate, behaviour, fifo: VecDeque::new(), gone: false })
            })
            .collect();
        Sim { planner, sizes, peers, now_ms: 0.0, verified: BTreeMap::new() }
    }

    fn issue(&mut self) {
        for action in self.planner.poll() {
            match action {
                Action::Request { peer, chunk } => {
                    let sim = self.peers.get_mut(&peer).unwrap();
                    let start = sim.fifo.back().map_or(self.now_ms, |b| b.2.max(self.now_ms));
                    let finish = start + self.sizes[&chunk] as f64 / sim.bytes_per_ms;
                    sim.fifo.push_back((chunk, self.now_ms, finish));
                }
                Action::Cancel { peer, chunk } => self.peers.get_mut(&peer).unwrap().fifo.retain(|r| r.0 != chunk),
            }
        }
    }

    /// Runs until done, failed, or `stop_after` completions; returns the
    /// number of completions processed.
    fn run(&mut self, stop_after: usize) -> usize {
        let mut steps = 0;
        self.issue();
        while !self.planner.is_done() && self.planner.failure().is_none() && steps < stop_after {
            let next = self
                .peers
                .iter()
                .filter(|(_, p)| !p.gone)
                .filter_map(|(id, p)| p.fifo.front().map(|f| (*id, f.2)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let Some((id, at)) = next else { break };
            self.now_ms = at;
            let sim = self.peers.get_mut(&id).unwrap();
            let (chunk, requested, _) = sim.fifo.pop_front().unwrap();
            let elapsed = Duration::from_secs_f64((self.now_ms - requested).max(0.001) / 1000.0);
            let corrupt = match sim.behaviour {
                Behaviour::Good => false,
                Behaviour::CorruptEven => chunk.chunk % 2 == 0,
                Behaviour::CorruptAll => true,
            };
            if corrupt {
                self.planner.chunk_corrupt(id, chunk);
            } else if self.planner.chunk_verified(id, chunk, elapsed) {
                *self.verified.entry(id).or_default() += 1;
            }
            steps += 1;
            self.issue();
        }
        steps
    }

    fn lose(&mut self, id: PeerId) {
        let sim = self.peers.get_mut(&id).unwrap();
        sim.gone = true;
        sim.fifo.clear();
        self.planner.peer_lost(id);
        self.issue();
    }
}

#[test]
fn shares_follow_peer_speed() {
    let (fast, slow) = (peer(1), peer(2));
    let mut sim = Sim::new(600, &[(fast, 100.0, Behaviour::Good), (slow, 20.0, Behaviour::Good)]);
    sim.run(usize::MAX);
    assert!(sim.planner.is_done());
    let share = f64::from(sim.verified[&fast]) / 600.0;
    // Ideal is 100 / 120 = 0.83; a fixed round robin would give 0.5.
    assert!((0.78..=0.88).contains(&share), "fast peer share {share:.3}");
    // Together they finish close to the time the sum of their rates allows.
    let ideal_ms = 600.0 * CHUNK as f64 / 120.0;
    assert!(sim.now_ms < ideal_ms * 1.08, "took {:.0} ms, ideal {ideal_ms:.0} ms", sim.now_ms);
}

#[test]
fn equal_peers_share_equally() {
    let (a, b) = (peer(1), peer(2));
    let mut sim = Sim::new(400, &[(a, 50.0, Behaviour::Good), (b, 50.0, Behaviour::Good)]);
    sim.run(usize::MAX);
    let share = f64::from(sim.verified[&a]) / 400.0;
    assert!((0.45..=0.55).contains(&share), "share {share:.3}");
}

#[test]
fn a_lost_peer_gives_its_chunks_to_the_others() {
    let (a, b, c) = (peer(1), peer(2), peer(3));
    let mut sim = Sim::new(300, &[(a, 50.0, Behaviour::Good), (b, 50.0, Behaviour::Good), (c, 50.0, Behaviour::Good)]);
    sim.run(100);
    let c_before = sim.verified.get(&c).copied().unwrap_or(0);
    assert!(c_before > 0);
    sim.lose(c);
    sim.run(usize::MAX);
    assert!(sim.planner.is_done(), "{:?}", sim.planner.failure());
    assert_eq!(sim.verified.values().sum::<u32>(), 300);
    assert_eq!(sim.verified[&c], c_before, "nothing more from the lost peer");
    assert_eq!(sim.planner.dropped(), [(c, PeerDrop::Left)]);
}

#[test]
fn corrupt_chunks_are_refetched_elsewhere_and_the_sender_is_dropped() {
    let (good, bad) = (peer(1), peer(2));
    let mut sim = Sim::new(100, &[(good, 50.0, Behaviour::Good), (bad, 50.0, Behaviour::CorruptAll)]);
    sim.run(usize::MAX);
    assert!(sim.planner.is_done(), "{:?}", sim.planner.failure());
    assert_eq!(sim.verified[&good], 100);
    assert_eq!(sim.planner.dropped(), [(bad, PeerDrop::BadData)]);
}

#[test]
fn a_peer_that_sent_a_bad_chunk_is_demoted() {
    let (good, flaky) = (peer(1), peer(2));
    let mut sim = Sim::new(200, &[(good, 50.0, Behaviour::Good), (flaky, 50.0, Behaviour::CorruptEven)]);
    sim.run(usize::MAX);
    assert!(sim.planner.is_done(), "{:?}", sim.planner.failure());
    assert_eq!(sim.verified.values().sum::<u32>(), 200);
    let flaky_share = f64::from(sim.verified.get(&flaky).copied().unwrap_or(0)) / 200.0;
    assert!(flaky_share < 0.35, "a demoted peer keeps one request at a time: share {flaky_share:.2}");
}

#[test]
fn no_usable_peer_left_fails_with_the_reasons() {
    let bad = peer(2);
    let mut sim = Sim::new(50, &[(bad, 50.0, Behaviour::CorruptEven)]);
    sim.run(usize::MAX);
    let failure = sim.planner.failure().expect("fails");
    assert!(failure.contains("failed verification") || failure.contains("failed 6 times"), "{failure}");
    let mut sim = Sim::new(50, &[(peer(1), 50.0, Behaviour::Good)]);
    sim.run(10);
    sim.lose(peer(1));
    assert!(sim.planner.failure().unwrap().contains("left"), "{:?}", sim.planner.failure());
    let planner = Planner::new(wanted(5), CHUNK, []);
    let mut planner = planner;
    planner.poll();
    assert_eq!(planner.failure(), Some("no peer has this game"));
}

#[test]
fn an_idle_fast_peer_takes_over_the_slow_peers_last_chunk() {
    let (fast, slow) = (peer(1), peer(2));
    let mut sim = Sim::new(20, &[(fast, 1000.0, Behaviour::Good), (slow, 1.0, Behaviour::Good)]);
    sim.run(usize::MAX);
    assert!(sim.planner.is_done());
    // The slow peer would need 1 s per chunk; the fast one finishes the job.
    assert!(sim.now_ms < 200.0, "took {:.0} ms", sim.now_ms);
}

#[test]
fn big_chunks_go_first_so_a_fast_and_a_slow_peer_finish_together() {
    // Files in order, each a few whole chunks and a short tail, the tails
    // of about a twentieth of a chunk.
    let mut wanted = Vec::new();
    for file in 0..20 {
        for chunk in 0..4 {
            wanted.push(Wanted { chunk: ChunkRef { file, chunk }, len: CHUNK });
        }
        wanted.push(Wanted { chunk: ChunkRef { file, chunk: 4 }, len: CHUNK / 20 + u64::from(file) });
    }
    let total: u64 = wanted.iter().map(|w| w.len).sum();
    let (fast, slow) = (peer(1), peer(2));
    // As 100 and 20 Mbit/s with 4 MiB chunks: the fast peer's window holds
    // one or two chunks, and a whole chunk takes the slow one 1.7 s.
    let (fast_rate, slow_rate) = (3.0, 0.6);
    let mut sim = Sim::with(wanted, &[(fast, fast_rate, Behaviour::Good), (slow, slow_rate, Behaviour::Good)]);
    sim.run(usize::MAX);
    assert!(sim.planner.is_done());
    let ideal = total as f64 / (fast_rate + slow_rate);
    // Files in order and no deadline rule: 1.008 of the ideal.
    assert!(sim.now_ms < ideal * 1.005, "took {:.1} ms, {:.3} of the ideal", sim.now_ms, sim.now_ms / ideal);
}

#[test]
fn a_chunk_the_fast_peer_spoilt_goes_to_the_slow_one() {
    let (slow, fast) = (peer(1), peer(2));
    let mut planner = Planner::new(wanted(4), CHUNK, [slow, fast]);
    let first = planner.poll();
    let (slow_chunks, fast_chunks) = (asked_of(&first, slow), asked_of(&first, fast));
    assert_eq!((slow_chunks.len(), fast_chunks.len()), (2, 2));
    assert!(planner.chunk_verified(fast, fast_chunks[0], Duration::from_millis(1)));
    assert!(planner.chunk_verified(slow, slow_chunks[0], Duration::from_secs(1)));
    // The fast peer's last chunk is bad: only the slow one may fetch it again.
    planner.chunk_corrupt(fast, fast_chunks[1]);
    assert!(planner.chunk_verified(slow, slow_chunks[1], Duration::from_secs(1)));
    assert_eq!(planner.poll(), [Action::Request { peer: slow, chunk: fast_chunks[1] }]);
}

#[test]
fn network_errors_requeue_and_repeated_errors_drop_the_peer() {
    let (a, b) = (peer(1), peer(2));
    let mut planner = Planner::new(wanted(4), CHUNK, [a, b]);
    let actions = planner.poll();
    let a_chunks = asked_of(&actions, a);
    assert!(!a_chunks.is_empty());
    for chunk in &a_chunks {
        planner.chunk_failed(a, *chunk, "stream reset");
    }
    let again = planner.poll();
    let again = [asked_of(&again, a), asked_of(&again, b)].concat();
    assert!(a_chunks.iter().all(|c| again.contains(c)), "requeued");
}

#[test]
fn chunks_in_flight_stay_within_the_memory_limit_whatever_their_size() {
    // A file list with the largest chunks allowed, and many peers offering it.
    let big = u64::from(lanspread_proto::peer::MAX_CHUNK_SIZE);
    let wanted: Vec<Wanted> = (0..200).map(|i| Wanted { chunk: ChunkRef { file: 0, chunk: i }, len: big }).collect();
    let peers: Vec<PeerId> = (1..=8).map(peer).collect();
    let mut planner = Planner::new(wanted, big, peers.iter().copied());
    let in_flight = |actions: &[Action]| actions.len() as u64 * big;
    let first = planner.poll();
    assert!(!first.is_empty());
    assert!(in_flight(&first) <= MAX_IN_FLIGHT_BYTES, "{} bytes requested at once", in_flight(&first));
    // A finished chunk frees room for exactly one more.
    let Action::Request { peer: p, chunk } = first[0] else { panic!("{first:?}") };
    assert!(planner.chunk_verified(p, chunk, Duration::from_millis(1)));
    assert_eq!(planner.poll().len(), 1);
}
