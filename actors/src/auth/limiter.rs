//! [`LoginLimiter`]: failed logins are rate-limited per peer address and user name. After [`FREE_FAILURES`]
//! failures each further attempt must wait an exponentially growing delay (from [`FIRST_DELAY`], doubling, at most
//! [`MAX_DELAY`]); after [`LOCKOUT_FAILURES`] the pair is locked out for [`LOCKOUT`]. A success clears the pair.
//! Memory is bounded: at most [`MAX_ENTRIES`] pairs are remembered (the stalest go first).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures allowed before delays start.
pub const FREE_FAILURES: u32 = 3;
/// Delay after the first failure past [`FREE_FAILURES`].
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// Longest delay between attempts before the lockout.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// Failures that lock the pair out.
pub const LOCKOUT_FAILURES: u32 = 10;
/// How long a lockout lasts.
pub const LOCKOUT: Duration = Duration::from_secs(300);
/// Most (peer, user) pairs remembered.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    /// No attempt is accepted before this.
    blocked_until: Instant,
    last: Instant,
}

/// Failed-login bookkeeping.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    entries: HashMap<(Option<IpAddr>, String), Failures>,
}

impl LoginLimiter {
    /// `Err(wait)` when `peer` may not try `user` again yet.
    pub fn check(&self, peer: Option<IpAddr>, user: &str, now: Instant) -> Result<(), Duration> {
        match self.entries.get(&(peer, user.to_string())) {
            Some(f) if f.blocked_until > now => Err(f.blocked_until - now),
            _ => Ok(()),
        }
    }

    /// Records a failure; returns how long the pair must now wait.
    pub fn failed(&mut self, peer: Option<IpAddr>, user: &str, now: Instant) -> Duration {
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(&(peer, user.to_string())) {
            self.evict(now);
        }
        let entry = self.entries.entry((peer, user.to_string())).or_insert(Failures {
            count: 0,
            blocked_until: now,
            last: now,
        });
        entry.count += 1;
        entry.last = now;
        let wait = if entry.count >= LOCKOUT_FAILURES {
            LOCKOUT
        } else if entry.count > FREE_FAILURES {
            (FIRST_DELAY * 2u32.saturating_pow(entry.count - FREE_FAILURES - 1)).min(MAX_DELAY)
        } else {
            Duration::ZERO
        };
        entry.blocked_until = now + wait;
        wait
    }

    /// Clears the pair after a successful login.
    pub fn succeeded(&mut self, peer: Option<IpAddr>, user: &str) {
        self.entries.remove(&(peer, user.to_string()));
    }

    /// Drops pairs whose block has expired and that failed long ago, then the stalest if still full.
    fn evict(&mut self, now: Instant) {
        self.entries.retain(|_, f| f.blocked_until > now || now.duration_since(f.last) < LOCKOUT);
        while self.entries.len() >= MAX_ENTRIES {
            let Some(oldest) = self.entries.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| k.clone()) else { break };
            self.entries.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_lock_out_and_success_clears() {
        let mut limiter = LoginLimiter::default();
        let peer = Some(IpAddr::from([127, 0, 0, 1]));
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(limiter.failed(peer, "bob", t0), Duration::ZERO);
        }
        assert!(limiter.check(peer, "bob", t0).is_ok());
        assert_eq!(limiter.failed(peer, "bob", t0), FIRST_DELAY);
        assert!(limiter.check(peer, "bob", t0).is_err());
        assert!(limiter.check(peer, "alice", t0).is_ok(), "other users are not affected");
        assert!(limiter.check(None, "bob", t0).is_ok(), "other peers are not affected");
        assert!(limiter.check(peer, "bob", t0 + FIRST_DELAY).is_ok());
        assert_eq!(limiter.failed(peer, "bob", t0), FIRST_DELAY * 2);
        let mut last = Duration::ZERO;
        for _ in FREE_FAILURES + 3..LOCKOUT_FAILURES {
            last = limiter.failed(peer, "bob", t0);
        }
        assert!(last <= MAX_DELAY);
        assert_eq!(limiter.failed(peer, "bob", t0), LOCKOUT);
        limiter.succeeded(peer, "bob");
        assert!(limiter.check(peer, "bob", t0).is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let mut limiter = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..MAX_ENTRIES + 10 {
            limiter.failed(None, &i.to_string(), t0);
        }
        assert!(limiter.entries.len() <= MAX_ENTRIES);
    }
}
