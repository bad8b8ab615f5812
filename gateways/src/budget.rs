//! [`ByteBudget`]: bytes a session (or every session of a broker) holds in requests in flight and answers not yet
//! written, against a cap. Charges never block (an answer that exists is always queued); the session's reader checks
//! for room before it dispatches the next request and stops reading the socket while there is none (back-pressure),
//! waking when a charge is released.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// A byte cap shared by the holders of its clones; tracks the bytes charged now and the most ever charged at once.
#[derive(Debug, Clone)]
pub struct ByteBudget(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    cap: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
    /// Bumped on every release, so a waiter that looked at the budget cannot miss the release that follows.
    epoch: AtomicU64,
    released: Notify,
}

impl ByteBudget {
    /// A budget of `cap` bytes, nothing charged.
    pub fn new(cap: usize) -> Self {
        ByteBudget(Arc::new(Inner {
            cap,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            epoch: AtomicU64::new(0),
            released: Notify::new(),
        }))
    }

    /// The cap in bytes.
    pub fn cap(&self) -> usize {
        self.0.cap
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.0.used.load(Ordering::Acquire)
    }

    /// The most bytes ever charged at once.
    pub fn peak(&self) -> usize {
        self.0.peak.load(Ordering::Acquire)
    }

    /// Whether `bytes` more fit under the cap; something always fits into an empty budget, so a single request larger
    /// than the cap still goes through (alone).
    pub(crate) fn fits(&self, bytes: usize) -> bool {
        let used = self.used();
        used == 0 || used.saturating_add(bytes) <= self.0.cap
    }

    /// Whether nothing more fits.
    pub(crate) fn is_full(&self) -> bool {
        self.used() >= self.0.cap
    }

    /// The release count now, for [`ByteBudget::released_since`].
    pub(crate) fn epoch(&self) -> u64 {
        self.0.epoch.load(Ordering::Acquire)
    }

    /// Completes once some bytes were released after `epoch` was read.
    pub(crate) async fn released_since(&self, epoch: u64) {
        loop {
            let notified = self.0.released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.epoch() != epoch {
                return;
            }
            notified.await;
        }
    }

    /// Counts `bytes` more (for holders that release by amount rather than with a [`Charge`]).
    pub(crate) fn add(&self, bytes: usize) {
        let used = self.0.used.fetch_add(bytes, Ordering::AcqRel) + bytes;
        self.0.peak.fetch_max(used, Ordering::AcqRel);
    }

    /// Counts `bytes` released and wakes the waiters.
    pub(crate) fn release(&self, bytes: usize) {
        self.0.used.fetch_sub(bytes, Ordering::AcqRel);
        self.0.epoch.fetch_add(1, Ordering::AcqRel);
        self.0.released.notify_waiters();
    }
}

/// A session's budget and the broker-wide one it shares with every other session.
#[derive(Debug, Clone)]
pub(crate) struct SessionBudget {
    /// This session's.
    pub session: ByteBudget,
    /// Shared by every TCP and QUIC session of the broker.
    pub shared: ByteBudget,
}

impl SessionBudget {
    /// Whether `bytes` more fit in both budgets.
    pub fn fits(&self, bytes: usize) -> bool {
        self.session.fits(bytes) && self.shared.fits(bytes)
    }

    /// Whether either budget is full.
    pub fn is_full(&self) -> bool {
        self.session.is_full() || self.shared.is_full()
    }

    /// Both release counts now.
    pub fn epoch(&self) -> (u64, u64) {
        (self.session.epoch(), self.shared.epoch())
    }

    /// Completes once either budget released bytes after `epoch` was read.
    pub async fn released_since(&self, epoch: (u64, u64)) {
        tokio::select! {
            () = self.session.released_since(epoch.0) => {}
            () = self.shared.released_since(epoch.1) => {}
        }
    }

    /// Charges `bytes` to both budgets until the returned charge is dropped.
    pub fn charge(&self, bytes: usize) -> Charge {
        self.session.add(bytes);
        self.shared.add(bytes);
        Charge { budget: self.clone(), bytes }
    }
}

/// Bytes charged to a [`SessionBudget`]; released on drop.
#[derive(Debug)]
pub(crate) struct Charge {
    budget: SessionBudget,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.session.release(self.bytes);
        self.budget.shared.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_counted_released_and_bounded_by_fits() {
        let budget = SessionBudget { session: ByteBudget::new(100), shared: ByteBudget::new(150) };
        assert!(budget.fits(1000), "an empty budget takes anything");
        let a = budget.charge(60);
        assert!(budget.fits(40) && !budget.fits(41));
        let epoch = budget.epoch();
        let b = budget.charge(40);
        assert!(budget.is_full());
        drop(a);
        assert_ne!(budget.epoch(), epoch);
        assert_eq!((budget.session.used(), budget.session.peak(), budget.shared.used()), (40, 100, 40));
        drop(b);
        assert_eq!(budget.shared.used(), 0);
    }
}
