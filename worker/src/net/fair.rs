//! Units of an upload resource (upload slots, send memory) shared fairly
//! between the addresses asking for them, so a flood from a few PCs slows
//! the others by a bounded factor instead of queueing them behind it.
//!
//! - **A share per address.** An address that holds units may take one more
//!   only while it holds fewer than its share: the units outside the
//!   reserve divided by the addresses holding or waiting.
//! - **A reserve for newcomers.** [`FairShare::new`]'s `reserve` units are
//!   taken only by an address that holds none, so an honest PC that starts
//!   asking during a flood is served at once.
//! - Waiters are woken on every release and check again; the first whose
//!   check passes takes the unit (an address over its share keeps waiting).
//!
//! The rule itself ([`may_take`]) is plain logic with its own tests.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Whether an address holding `held` of `total` units, with `all_held` held
/// by everyone and `askers` addresses holding or waiting (itself among
/// them), may take one more; `reserve` units are kept for addresses that
/// hold none.
pub fn may_take(total: usize, reserve: usize, all_held: usize, held: usize, askers: usize) -> bool {
    let free = total.saturating_sub(all_held);
    if free == 0 {
        return false;
    }
    if held == 0 {
        return true;
    }
    let share = (total.saturating_sub(reserve) / askers.max(1)).max(1);
    free > reserve && held < share
}

/// The key an address's share is counted under: an IPv4 address, or the
/// /64 network of an IPv6 one (an IPv4-mapped one counts as IPv4).
pub fn share_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[derive(Debug, Default)]
struct Ledger {
    held: HashMap<IpAddr, usize>,
    waiting: HashMap<IpAddr, usize>,
    all_held: usize,
}

impl Ledger {
    fn askers(&self) -> usize {
        let mut keys: Vec<&IpAddr> = self.held.keys().chain(self.waiting.keys()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }

    fn forget_empty(&mut self, key: IpAddr) {
        if self.held.get(&key) == Some(&0) {
            self.held.remove(&key);
        }
        if self.waiting.get(&key) == Some(&0) {
            self.waiting.remove(&key);
        }
    }
}

/// A pool of `total` units shared fairly by address.
#[derive(Debug, Clone)]
pub struct FairShare {
    total: usize,
    reserve: usize,
    ledger: Arc<Mutex<Ledger>>,
    released: Arc<Notify>,
}

/// One unit, given back when dropped.
#[derive(Debug)]
pub struct FairPermit {
    pool: FairShare,
    key: IpAddr,
}

impl Drop for FairPermit {
    fn drop(&mut self) {
        {
            let mut ledger = self.pool.lock();
            if let Some(n) = ledger.held.get_mut(&self.key) {
                *n -= 1;
            }
            ledger.all_held -= 1;
            ledger.forget_empty(self.key);
        }
        self.pool.released.notify_waiters();
    }
}

/// Counts `key` as waiting while it lives.
struct Waiting<'a> {
    pool: &'a FairShare,
    key: IpAddr,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut ledger = self.pool.lock();
        if let Some(n) = ledger.waiting.get_mut(&self.key) {
            *n -= 1;
        }
        ledger.forget_empty(self.key);
    }
}

impl FairShare {
    /// `total` units, `reserve` of them kept for addresses that hold none.
    pub fn new(total: usize, reserve: usize) -> FairShare {
        FairShare { total, reserve: reserve.min(total), ledger: Arc::default(), released: Arc::new(Notify::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A unit for the address `ip` now, if its share allows.
    pub fn try_take(&self, ip: IpAddr) -> Option<FairPermit> {
        let key = share_key(ip);
        let mut ledger = self.lock();
        let held = ledger.held.get(&key).copied().unwrap_or(0);
        let askers =
            ledger.askers() + usize::from(!ledger.held.contains_key(&key) && !ledger.waiting.contains_key(&key));
        if !may_take(self.total, self.reserve, ledger.all_held, held, askers) {
            return None;
        }
        *ledger.held.entry(key).or_default() += 1;
        ledger.all_held += 1;
        Some(FairPermit { pool: self.clone(), key })
    }

    /// Waits for a unit for the address `ip`.
    pub async fn take(&self, ip: IpAddr) -> FairPermit {
        if let Some(permit) = self.try_take(ip) {
            return permit;
        }
        let key = share_key(ip);
        *self.lock().waiting.entry(key).or_default() += 1;
        let _waiting = Waiting { pool: self, key };
        loop {
            let released = self.released.notified();
            if let Some(permit) = self.try_take(ip) {
                return permit;
            }
            released.await;
        }
    }

    /// Whether some address is waiting for a unit.
    pub fn contended(&self) -> bool {
        !self.lock().waiting.is_empty()
    }

    /// Units held by the address `ip`'s key.
    #[cfg(test)]
    fn held_by(&self, ip: IpAddr) -> usize {
        self.lock().held.get(&share_key(ip)).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn an_address_alone_takes_all_but_the_reserve_and_a_newcomer_gets_the_reserve() {
        let pool = FairShare::new(16, 2);
        let flood: Vec<FairPermit> = (0..16).filter_map(|_| pool.try_take(ip(1))).collect();
        assert_eq!(flood.len(), 14, "the reserve is kept");
        let newcomer = pool.try_take(ip(2));
        assert!(newcomer.is_some(), "a newcomer is served at once");
        assert!(pool.try_take(ip(2)).is_none(), "then only within its share");
    }

    #[test]
    fn four_flooding_addresses_leave_room_for_a_fifth() {
        let pool = FairShare::new(64, 8);
        let mut held = Vec::new();
        for round in 0..64 {
            for n in 1..=4 {
                held.extend(pool.try_take(ip(n)));
            }
            let _ = round;
        }
        assert!((1..=4).all(|n| pool.held_by(ip(n)) <= 56 / 4), "each within its share");
        assert!(pool.try_take(ip(5)).is_some(), "an honest PC starting now is served at once");
        drop(held);
        assert_eq!(pool.held_by(ip(1)), 0, "units go back when dropped");
    }

    #[test]
    fn one_ipv6_network_is_one_address() {
        let pool = FairShare::new(16, 2);
        let in_64 = |n: u16| IpAddr::from([0xfd00, 0, 0, 1, 0, 0, 0, n]);
        let held: Vec<FairPermit> = (1..=16).filter_map(|n| pool.try_take(in_64(n))).collect();
        assert_eq!(held.len(), 14, "sixteen addresses of one /64 share one share");
        assert!(pool.try_take(IpAddr::from([0xfd00, 0, 0, 2, 0, 0, 0, 1])).is_some(), "another /64 is a newcomer");
        assert_eq!(share_key("::ffff:10.0.0.1".parse().unwrap()), ip(1));
    }

    #[test]
    fn the_rule() {
        assert!(!may_take(4, 1, 4, 0, 1), "nothing free");
        assert!(may_take(4, 1, 3, 0, 2), "a newcomer may take the reserve");
        assert!(!may_take(4, 1, 3, 1, 2), "one holding units may not");
        assert!(may_take(16, 2, 4, 3, 2) && !may_take(16, 2, 4, 7, 2), "within its share of 7");
    }

    #[tokio::test]
    async fn a_waiter_is_served_when_a_unit_comes_back() {
        let pool = FairShare::new(1, 0);
        let first = pool.take(ip(1)).await;
        let waiter = tokio::spawn({
            let pool = pool.clone();
            async move { pool.take(ip(2)).await }
        });
        tokio::task::yield_now().await;
        assert!(pool.contended() || waiter.is_finished());
        drop(first);
        let second = waiter.await.unwrap();
        assert_eq!(pool.held_by(ip(2)), 1);
        drop(second);
        assert!(!pool.contended());
    }
}
