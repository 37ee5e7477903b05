//! Planners of several downloaders in one virtual room: a seeder holds the
//! game, every node uploads one request at a time at its link's rate, and
//! each verified chunk is known to every other downloader at once (as the
//! swarm's updates tell them). An uploader asked for a chunk it is already
//! sending to another member sends the asker there (as the server does,
//! see `swarm::Swarms::start_sending`).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::tests::asked_of;
use super::*;

const CHUNK: u64 = 1000;
/// Every link's upload, in bytes per virtual millisecond.
const LINK: f64 = 10.0;

fn node(n: u8) -> PeerId {
    PeerId([n; 32])
}

fn wanted(chunks: u32) -> Vec<Wanted> {
    (0..chunks).map(|i| Wanted { chunk: ChunkRef { file: 0, chunk: i }, len: CHUNK }).collect()
}

/// One request queued at an uploader.
struct Upload {
    to: PeerId,
    chunk: ChunkRef,
    asked_at: f64,
    done_at: f64,
}

struct Room {
    seeder: PeerId,
    planners: BTreeMap<PeerId, Planner>,
    /// What each node has queued to upload, in order.
    uploads: BTreeMap<PeerId, VecDeque<Upload>>,
    /// How often each node uploaded each chunk.
    sent: BTreeMap<PeerId, BTreeMap<ChunkRef, u32>>,
    finished: BTreeMap<PeerId, f64>,
    gone: Vec<PeerId>,
    now: f64,
    /// Uploaders send a member elsewhere for a chunk another member is
    /// getting from them.
    spreads: bool,
}

impl Room {
    /// A seeder and `downloaders` nodes that start together, each knowing
    /// the others as swarm members holding nothing yet.
    fn new(chunks: u32, downloaders: u8) -> Room {
        let seeder = node(100);
        let ids: Vec<PeerId> = (1..=downloaders).map(node).collect();
        let mut planners = BTreeMap::new();
        for (i, &me) in ids.iter().enumerate() {
            let mut planner = Planner::new(in_own_order(wanted(chunks), i as u64), CHUNK, [seeder]);
            for &other in ids.iter().filter(|o| **o != me) {
                planner.add_partial_peer(other);
            }
            planners.insert(me, planner);
        }
        let uploads = ids.iter().chain([&seeder]).map(|id| (*id, VecDeque::new())).collect();
        Room {
            seeder,
            planners,
            uploads,
            sent: BTreeMap::new(),
            finished: BTreeMap::new(),
            gone: Vec::new(),
            now: 0.0,
            spreads: true,
        }
    }

    fn poll(&mut self, who: PeerId) {
        let Some(planner) = self.planners.get_mut(&who) else { return };
        let mut again = false;
        for action in planner.poll() {
            match action {
                Action::Request { peer, chunk }
                    if self.spreads && self.uploads[&peer].iter().any(|u| u.chunk == chunk) =>
                {
                    // Another member is getting it from this uploader now.
                    planner.chunk_elsewhere(peer, chunk);
                    again = true;
                }
                Action::Request { peer, chunk } => {
                    let queue = self.uploads.get_mut(&peer).unwrap();
                    let start = queue.back().map_or(self.now, |u| u.done_at.max(self.now));
                    let done_at = start + CHUNK as f64 / LINK;
                    queue.push_back(Upload { to: who, chunk, asked_at: self.now, done_at });
                }
                Action::Cancel { peer, chunk } => {
                    self.uploads.get_mut(&peer).unwrap().retain(|u| !(u.to == who && u.chunk == chunk));
                }
            }
        }
        if again {
            self.poll(who);
        }
    }

    /// Runs until every downloader still here is done (or stuck).
    fn run(&mut self, stop_at: f64) {
        let ids: Vec<PeerId> = self.planners.keys().copied().collect();
        for id in &ids {
            self.poll(*id);
        }
        loop {
            let next = self
                .uploads
                .iter()
                .filter_map(|(from, q)| q.front().map(|u| (*from, u.done_at)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let Some((from, at)) = next else { break };
            if at > stop_at {
                break;
            }
            self.now = at;
            let upload = self.uploads.get_mut(&from).unwrap().pop_front().unwrap();
            *self.sent.entry(from).or_default().entry(upload.chunk).or_default() += 1;
            let elapsed = Duration::from_secs_f64((self.now - upload.asked_at).max(0.001) / 1000.0);
            let Some(planner) = self.planners.get_mut(&upload.to) else { continue };
            if planner.chunk_verified(from, upload.chunk, elapsed) {
                if planner.is_done() {
                    self.finished.insert(upload.to, self.now);
                }
                for (_, planner) in self.planners.iter_mut().filter(|(id, _)| **id != upload.to) {
                    planner.peer_has(upload.to, upload.chunk);
                }
            }
            for id in &ids {
                self.poll(*id);
            }
        }
    }

    /// `who` leaves: its uploads stop and the others lose it.
    fn leave(&mut self, who: PeerId) {
        self.planners.remove(&who);
        self.uploads.get_mut(&who).unwrap().clear();
        for q in self.uploads.values_mut() {
            q.retain(|u| u.to != who);
        }
        for planner in self.planners.values_mut() {
            planner.peer_lost(who);
        }
        self.gone.push(who);
    }

    fn uploads_of(&self, who: PeerId) -> u32 {
        self.sent.get(&who).map_or(0, |m| m.values().sum())
    }
}

/// Time one downloader alone needs from a seeder at the link's rate.
fn alone(chunks: u32) -> f64 {
    f64::from(chunks) * CHUNK as f64 / LINK
}

#[test]
fn one_seeder_and_six_downloaders_with_equal_links_finish_together() {
    let chunks = 150;
    let mut room = Room::new(chunks, 6);
    room.run(f64::INFINITY);
    assert_eq!(room.finished.len(), 6, "every downloader finishes");
    let last = room.finished.values().copied().fold(0.0, f64::max);
    let first = room.finished.values().copied().fold(f64::INFINITY, f64::min);
    let ratio = last / alone(chunks);
    // Without a swarm the seeder sends six copies: about 6. Measured 1.04.
    assert!(ratio < 1.08, "the last of six took {ratio:.3} of one alone");
    assert!(last - first < 0.05 * alone(chunks), "they finish together: {first:.0} … {last:.0} ms");
    // The seeder sends nearly every chunk once; the downloaders trade the rest.
    let seeder_sent = room.uploads_of(room.seeder);
    assert!(seeder_sent <= chunks * 105 / 100, "the seeder sent {seeder_sent} chunks for {chunks}");
}

#[test]
fn a_seeder_that_sends_members_elsewhere_spreads_its_chunks() {
    let chunks = 150;
    let sent = |spreads: bool| {
        let mut room = Room::new(chunks, 6);
        room.spreads = spreads;
        room.run(f64::INFINITY);
        assert_eq!(room.finished.len(), 6);
        (room.uploads_of(room.seeder), room.finished.values().copied().fold(0.0, f64::max))
    };
    let ((spread, spread_last), (plain, plain_last)) = (sent(true), sent(false));
    // Without: every downloader asks the seeder for the few chunks only it
    // holds, and near the end the same ones go out several times.
    assert!(plain > chunks * 108 / 100, "without spreading the seeder sent {plain}");
    assert!(spread < plain && spread_last < plain_last, "{spread} vs {plain} chunks, {spread_last} vs {plain_last} ms");
}

#[test]
fn downloaders_starting_together_ask_the_seeder_for_different_chunks() {
    let mut room = Room::new(60, 6);
    for id in room.planners.keys().copied().collect::<Vec<_>>() {
        room.poll(id);
    }
    let asked: Vec<ChunkRef> = room.uploads[&room.seeder].iter().map(|u| u.chunk).collect();
    let mut distinct = asked.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), asked.len(), "no chunk asked twice: {asked:?}");
}

#[test]
fn rarest_first_keeps_the_seeder_for_chunks_nobody_else_has() {
    let (seeder, partial) = (node(100), node(2));
    let mut planner = Planner::new(wanted(20), CHUNK, [seeder]);
    planner.add_partial_peer(partial);
    for i in 0..10 {
        planner.peer_has(partial, ChunkRef { file: 0, chunk: i });
    }
    let first = planner.poll();
    let from_seeder = asked_of(&first, seeder);
    let from_partial = asked_of(&first, partial);
    assert!(!from_seeder.is_empty() && !from_partial.is_empty(), "{first:?}");
    assert!(from_seeder.iter().all(|c| c.chunk >= 10), "the seeder is asked for rare chunks: {from_seeder:?}");
    assert!(from_partial.iter().all(|c| c.chunk < 10), "a member only for what it holds: {from_partial:?}");
}

#[test]
fn a_member_is_asked_only_for_what_it_holds_and_nothing_without_it() {
    let partial = node(2);
    let mut planner = Planner::new(wanted(4), CHUNK, []);
    planner.add_partial_peer(partial);
    assert_eq!(planner.poll(), [], "it holds nothing yet");
    assert_eq!(planner.failure(), None, "a member may still get chunks");
    planner.peer_has(partial, ChunkRef { file: 0, chunk: 2 });
    assert_eq!(asked_of(&planner.poll(), partial), [ChunkRef { file: 0, chunk: 2 }]);
    planner.peer_has_all(partial);
    assert_eq!(asked_of(&planner.poll(), partial), [], "on probation: one request until it delivers");
    assert!(planner.chunk_verified(partial, ChunkRef { file: 0, chunk: 2 }, Duration::from_millis(10)));
    assert!(asked_of(&planner.poll(), partial).len() >= 2, "delivered: its window grows");
}

#[test]
fn the_endgame_copy_that_loses_is_cancelled() {
    let (fast, slow) = (node(1), node(2));
    let mut planner = Planner::new(wanted(2), CHUNK, [fast, slow]);
    let first = planner.poll();
    let (f, s) = (asked_of(&first, fast), asked_of(&first, slow));
    assert_eq!((f.len(), s.len()), (1, 1), "{first:?}");
    assert!(planner.chunk_verified(fast, f[0], Duration::from_millis(10)));
    // The queue is empty: the idle fast peer doubles the slow one's chunk.
    assert_eq!(planner.poll(), [Action::Request { peer: fast, chunk: s[0] }]);
    assert!(planner.chunk_verified(fast, s[0], Duration::from_millis(10)));
    assert!(planner.is_done());
    assert_eq!(planner.poll(), [Action::Cancel { peer: slow, chunk: s[0] }]);
    assert!(!planner.chunk_verified(slow, s[0], Duration::from_secs(1)), "a late copy counts for nothing");
}

#[test]
fn a_silent_sources_last_chunk_goes_to_an_idle_peer_of_any_speed() {
    let (fast, slow) = (node(1), node(2));
    let mut planner = Planner::new(wanted(5), CHUNK, [fast, slow]);
    let first = planner.poll();
    for c in asked_of(&first, fast) {
        assert!(planner.chunk_verified(fast, c, Duration::from_millis(10)));
    }
    let last = asked_of(&planner.poll(), fast);
    assert_eq!(last.len(), 1, "the fast source takes the last queued chunk");
    for c in asked_of(&first, slow) {
        assert!(planner.chunk_verified(slow, c, Duration::from_secs(1)));
    }
    assert_eq!(planner.poll(), [], "the fast source's last chunk is not doubled by the slow one");
    // Until it goes quiet: then the idle slow source is asked for it, and
    // the quiet one stays a source (it may be serving others first).
    planner.peer_quiet(fast, SILENT_AFTER);
    assert_eq!(planner.poll(), [Action::Request { peer: slow, chunk: last[0] }]);
    assert!(planner.chunk_verified(slow, last[0], Duration::from_secs(1)));
    assert!(planner.is_done());
    assert_eq!(planner.poll(), [Action::Cancel { peer: fast, chunk: last[0] }]);
    assert_eq!(planner.dropped(), []);
}

#[test]
fn a_member_that_stalls_on_probation_is_dropped_at_once_and_its_chunk_goes_elsewhere() {
    let (seeder, liar) = (node(100), node(2));
    let chunk = |i| ChunkRef { file: 0, chunk: i };
    let mut planner = Planner::new(wanted(4), CHUNK, [seeder]);
    planner.add_partial_peer(liar);
    planner.peer_has_all(liar);
    let first = planner.poll();
    let lied_to = asked_of(&first, liar);
    assert_eq!(lied_to.len(), 1, "on probation: one request, {first:?}");
    assert_eq!(planner.stall_limit(liar), Some(SILENT_AFTER));
    planner.peer_quiet(liar, SILENT_AFTER - Duration::from_millis(1));
    assert_eq!(planner.dropped(), []);
    planner.peer_quiet(liar, SILENT_AFTER);
    assert_eq!(planner.dropped(), [(liar, PeerDrop::Stalled(SILENT_AFTER))]);
    for c in asked_of(&first, seeder) {
        assert!(planner.chunk_verified(seeder, c, Duration::from_millis(10)));
    }
    let next = planner.poll();
    assert!(next.contains(&Action::Cancel { peer: liar, chunk: lied_to[0] }), "{next:?}");
    assert!(asked_of(&next, seeder).contains(&lied_to[0]), "{next:?}");
    assert!(asked_of(&next, liar).is_empty());
    // Heard from again, it is still not asked: dropped for this download.
    planner.peer_quiet(liar, Duration::ZERO);
    planner.peer_has(liar, chunk(3));
    for c in asked_of(&next, seeder) {
        assert!(planner.chunk_verified(seeder, c, Duration::from_millis(10)));
    }
    let rest = planner.poll();
    assert!(asked_of(&rest, liar).is_empty(), "{rest:?}");
}

#[test]
fn a_proven_members_stall_limit_follows_its_own_rate_within_bounds() {
    let (seeder, member) = (node(100), node(2));
    let limit_after = |elapsed: Duration| {
        let mut planner = Planner::new(wanted(4), CHUNK, [seeder]);
        planner.add_partial_peer(member);
        planner.peer_has_all(member);
        let first = asked_of(&planner.poll(), member);
        assert!(planner.chunk_verified(member, first[0], elapsed));
        planner.stall_limit(member).unwrap()
    };
    assert_eq!(limit_after(Duration::from_millis(10)), SILENT_AFTER, "fast: a second");
    let limit = limit_after(Duration::from_millis(500));
    assert!(limit > SILENT_AFTER && limit < MAX_STALL_LIMIT, "{limit:?}");
    assert_eq!(limit_after(Duration::from_secs(30)), MAX_STALL_LIMIT, "slow: never past the bound");
}

#[test]
fn endgame_copies_go_to_peers_that_delivered_never_to_a_second_unproven_member() {
    let (seeder, liar, other_liar) = (node(100), node(2), node(3));
    let mut planner = Planner::new(wanted(3), CHUNK, [seeder]);
    for m in [liar, other_liar] {
        planner.add_partial_peer(m);
        planner.peer_has_all(m);
    }
    // The liars never answer; the seeder answers at once. Neither liar
    // is asked for more than its one request on probation, and the seeder,
    // idle, copies what they hold without waiting on them.
    let mut asked_of_liars = Vec::new();
    for _ in 0..10 {
        let actions = planner.poll();
        asked_of_liars.extend(asked_of(&actions, liar).into_iter().map(|c| (liar, c)));
        asked_of_liars.extend(asked_of(&actions, other_liar).into_iter().map(|c| (other_liar, c)));
        for c in asked_of(&actions, seeder) {
            assert!(planner.chunk_verified(seeder, c, Duration::from_millis(10)));
        }
    }
    assert!(planner.is_done(), "done without a word from the liars");
    assert_eq!(asked_of_liars.len(), 2, "one request each: {asked_of_liars:?}");
    assert_ne!(asked_of_liars[0].1, asked_of_liars[1].1, "no endgame copy to a member on probation");
}

#[test]
fn a_member_done_with_its_download_finishes_what_it_sends_and_is_asked_nothing_more() {
    let (seeder, member) = (node(100), node(2));
    // The member, measured fast, is sending one chunk when it says it is
    // done; the seeder has delivered its first ones.
    let done_while_sending = || {
        let mut planner = Planner::new(wanted(6), CHUNK, [seeder]);
        planner.add_partial_peer(member);
        (0..6).for_each(|i| planner.peer_has(member, ChunkRef { file: 0, chunk: i }));
        let first = planner.poll();
        let proof = asked_of(&first, member);
        assert_eq!(proof.len(), 1, "on probation: {first:?}");
        assert!(planner.chunk_verified(member, proof[0], Duration::from_millis(10)));
        let second = planner.poll();
        let sent_by_member = asked_of(&second, member);
        assert!(!sent_by_member.is_empty(), "{second:?}");
        planner.peer_done(member);
        for c in asked_of(&first, seeder).into_iter().chain(asked_of(&second, seeder)) {
            assert!(planner.chunk_verified(seeder, c, Duration::from_millis(100)));
        }
        (planner, sent_by_member[0])
    };
    let (mut planner, on_its_way) = done_while_sending();
    let next = planner.poll();
    assert!(asked_of(&next, member).is_empty(), "nothing new for a member that is done: {next:?}");
    assert!(!asked_of(&next, seeder).contains(&on_its_way), "what it sends is not fetched twice: {next:?}");
    assert!(planner.chunk_verified(member, on_its_way, Duration::from_millis(10)), "and it counts");
    // If its connection drops instead, what it had not sent is asked elsewhere.
    let (mut planner, on_its_way) = done_while_sending();
    planner.peer_lost(member);
    let after = planner.poll();
    assert!(asked_of(&after, seeder).contains(&on_its_way), "{after:?}");
}

#[test]
fn a_downloader_that_leaves_hands_nothing_bad_to_the_others() {
    let chunks = 120;
    let mut room = Room::new(chunks, 6);
    room.run(alone(chunks) * 0.4);
    let leaver = node(3);
    assert!(room.uploads_of(leaver) > 0, "it was serving the others before it left");
    room.leave(leaver);
    room.run(f64::INFINITY);
    assert_eq!(room.finished.len(), 5, "the others finish: {:?}", room.finished);
    for planner in room.planners.values() {
        assert!(planner.is_done() && planner.failure().is_none());
        assert_eq!(planner.dropped(), [(leaver, PeerDrop::Left)]);
    }
    let last = room.finished.values().copied().fold(0.0, f64::max);
    // Measured 1.06: the seeder's and the other members' links carry on.
    assert!(last / alone(chunks) < 1.15, "{:.3} of one alone", last / alone(chunks));
}

#[test]
fn a_seeder_is_kept_for_chunks_no_member_holds_unless_it_is_much_faster() {
    let (seeder, member) = (node(100), node(2));
    let chunk = |i| ChunkRef { file: 0, chunk: i };
    // The member holds chunks 0 to 3 and delivers one a second; the seeder
    // alone holds 4 to 7 and delivers each in `seeder_time`. Returns what
    // the seeder was asked for, request by request.
    let asked_of_seeder = |seeder_time: Duration| {
        let mut planner = Planner::new(wanted(8), CHUNK, [seeder]);
        planner.add_partial_peer(member);
        (0..4).for_each(|i| planner.peer_has(member, chunk(i)));
        let first = planner.poll();
        assert_eq!(asked_of(&first, member), [chunk(0)], "on probation");
        assert!(planner.chunk_verified(member, chunk(0), Duration::from_secs(1)));
        let mut asked = vec![asked_of(&first, seeder)];
        while let Some(next) = asked.last().filter(|next| !next.is_empty()) {
            for c in next.clone() {
                assert!(planner.chunk_verified(seeder, c, seeder_time));
            }
            asked.push(asked_of(&planner.poll(), seeder));
        }
        asked
    };
    // As fast as the member: the seeder is asked for what the member holds
    // only once nothing is left that no member holds.
    let even = asked_of_seeder(Duration::from_secs(1));
    let rare_done = even.iter().position(|batch| batch.contains(&chunk(7))).unwrap();
    assert_eq!(even[..=rare_done].concat(), [chunk(4), chunk(5), chunk(6), chunk(7)], "{even:?}");
    assert!(even[rare_done + 1..].concat().contains(&chunk(2)), "{even:?}");
    // Much faster: what the member holds goes along with the rare ones.
    let fast = asked_of_seeder(Duration::from_millis(10));
    let rare_done = fast.iter().position(|batch| batch.contains(&chunk(7))).unwrap();
    assert!(fast[..=rare_done].concat().contains(&chunk(2)), "{fast:?}");
}

#[test]
fn members_that_fail_a_chunk_they_claim_cannot_make_the_download_give_up() {
    let seeder = node(100);
    let chunk = ChunkRef { file: 0, chunk: 0 };
    let mut planner = Planner::new(wanted(1), CHUNK, [seeder]);
    // More liars than a chunk has attempts, each claiming the one chunk.
    let liars: Vec<PeerId> = (1..=2 * MAX_ATTEMPTS as u8).map(node).collect();
    for liar in &liars {
        planner.add_partial_peer(*liar);
        planner.peer_has(*liar, chunk);
    }
    let mut asked_seeder = false;
    for _ in 0..4 * MAX_ATTEMPTS {
        for action in planner.poll() {
            match action {
                Action::Request { peer, .. } if peer == seeder => asked_seeder = true,
                Action::Request { peer, chunk } => planner.chunk_failed(peer, chunk, "no such chunk"),
                Action::Cancel { .. } => {}
            }
        }
        assert_eq!(planner.failure(), None, "lying members do not use up the chunk's attempts");
    }
    assert!(asked_seeder, "the seeder is asked once the liars are used up");
    assert!(planner.chunk_verified(seeder, chunk, Duration::from_millis(5)));
    assert!(planner.is_done());
}
