//! [`MemoryGauge`]: bytes held by AMQP queues for messages delivered but not yet acknowledged, with a high-water
//! mark: past it publishers are blocked (`connection.blocked`) until it drains below half of it.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;

/// Shared by every queue and connection of a gateway.
#[derive(Debug)]
pub struct MemoryGauge {
    used: AtomicUsize,
    high: usize,
    blocked: watch::Sender<bool>,
}

impl MemoryGauge {
    /// A gauge with this high-water mark in bytes.
    pub fn new(high: usize) -> MemoryGauge {
        MemoryGauge { used: AtomicUsize::new(0), high, blocked: watch::Sender::new(false) }
    }

    /// Counts `n` more bytes held.
    pub fn add(&self, n: usize) {
        let now = self.used.fetch_add(n, Ordering::AcqRel) + n;
        if now >= self.high && !*self.blocked.borrow() {
            tracing::warn!(used = now, high = self.high, "AMQP memory high-water mark reached; blocking publishers");
            self.blocked.send_replace(true);
        }
    }

    /// Counts `n` bytes released.
    pub fn sub(&self, n: usize) {
        let now = self.used.fetch_sub(n, Ordering::AcqRel).saturating_sub(n);
        if now < self.high / 2 && *self.blocked.borrow() {
            tracing::info!(used = now, "AMQP memory drained; unblocking publishers");
            self.blocked.send_replace(false);
        }
    }

    /// Bytes held now.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Watches whether publishers are blocked.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.blocked.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_at_high_water_and_unblocks_below_half() {
        let gauge = MemoryGauge::new(100);
        let rx = gauge.watch();
        gauge.add(60);
        assert!(!*rx.borrow());
        gauge.add(50);
        assert!(*rx.borrow());
        gauge.sub(20);
        assert!(*rx.borrow(), "still above half");
        gauge.sub(50);
        assert!(!*rx.borrow());
        assert_eq!(gauge.used(), 40);
    }
}
