//! When to restart the worker: exponential backoff from
//! [`INITIAL_DELAY`] to [`MAX_DELAY`], reset after a worker ran healthily
//! for [`HEALTHY_RUN`]; [`CRASH_LOOP_CRASHES`] exits within
//! [`CRASH_LOOP_WINDOW`] stop the restarts until the user asks again.
//! Plain logic: callers pass the time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub const INITIAL_DELAY: Duration = Duration::from_millis(500);
pub const MAX_DELAY: Duration = Duration::from_secs(10);
pub const HEALTHY_RUN: Duration = Duration::from_secs(60);
pub const CRASH_LOOP_CRASHES: usize = 5;
pub const CRASH_LOOP_WINDOW: Duration = Duration::from_secs(60);

/// What to do after the worker exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartDecision {
    RestartAfter(Duration),
    CrashLoop,
}

#[derive(Debug, Clone)]
pub struct RestartPolicy {
    next_delay: Duration,
    exits: VecDeque<Instant>,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy { next_delay: INITIAL_DELAY, exits: VecDeque::new() }
    }
}

impl RestartPolicy {
    /// The worker that started at `started` exited at `now`.
    pub fn on_exit(&mut self, started: Instant, now: Instant) -> RestartDecision {
        if now.saturating_duration_since(started) >= HEALTHY_RUN {
            self.next_delay = INITIAL_DELAY;
            self.exits.clear();
        }
        self.exits.push_back(now);
        while self.exits.front().is_some_and(|&t| now.saturating_duration_since(t) > CRASH_LOOP_WINDOW) {
            self.exits.pop_front();
        }
        if self.exits.len() >= CRASH_LOOP_CRASHES {
            return RestartDecision::CrashLoop;
        }
        let delay = self.next_delay;
        self.next_delay = (self.next_delay * 2).min(MAX_DELAY);
        RestartDecision::RestartAfter(delay)
    }

    /// The user asked to try again after a crash loop.
    pub fn reset(&mut self) {
        *self = RestartPolicy::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_after_a_healthy_run() {
        let mut policy = RestartPolicy::default();
        let mut now = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..8 {
            // Each run lasts 20 s: not healthy, and the exits are spread so
            // no more than 3 fall into one minute.
            let started = now;
            now += Duration::from_secs(20);
            match policy.on_exit(started, now) {
                RestartDecision::RestartAfter(d) => delays.push(d.as_millis()),
                RestartDecision::CrashLoop => panic!("not a crash loop"),
            }
        }
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
        let started = now;
        now += HEALTHY_RUN;
        assert_eq!(policy.on_exit(started, now), RestartDecision::RestartAfter(INITIAL_DELAY));
    }

    #[test]
    fn five_quick_crashes_are_a_crash_loop_until_reset() {
        let mut policy = RestartPolicy::default();
        let mut now = Instant::now();
        for i in 0..4 {
            let started = now;
            now += 100 * MS;
            assert!(matches!(policy.on_exit(started, now), RestartDecision::RestartAfter(_)), "crash {i}");
        }
        assert_eq!(policy.on_exit(now, now + 100 * MS), RestartDecision::CrashLoop);
        policy.reset();
        assert_eq!(policy.on_exit(now, now + 200 * MS), RestartDecision::RestartAfter(INITIAL_DELAY));
    }
}
