//! Connection accounting: [`ConnectionSlot`] holds one of a gateway's `max_connections` places and keeps the
//! `callboard_gateway_connections` gauge in step.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Gauge of open connections, labelled by gateway.
pub(crate) const CONNECTIONS_GAUGE: &str = "callboard_gateway_connections";
/// Counter of connections refused by the connection limit, labelled by gateway.
pub(crate) const REFUSED_COUNTER: &str = "callboard_gateway_connections_refused_total";

/// A gateway's count of open connections, readable while it runs (for status pages).
#[derive(Debug, Clone, Default)]
pub struct ConnectionCount(Arc<AtomicUsize>);

impl ConnectionCount {
    /// A new count at zero.
    pub fn new() -> Self {
        ConnectionCount::default()
    }

    /// Connections open now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// The shared counter the gateway updates.
    pub(crate) fn shared(&self) -> &Arc<AtomicUsize> {
        &self.0
    }
}

/// Makes `gateway`'s connection gauge exist (at its current value) before the first connection, so scrapes see it.
pub(crate) fn register_gauge(gateway: &'static str) {
    metrics::gauge!(CONNECTIONS_GAUGE, "gateway" => gateway).increment(0.0);
}

/// One open connection's place; freed on drop.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    open: Arc<AtomicUsize>,
    gateway: &'static str,
}

impl ConnectionSlot {
    /// Takes a place if fewer than `max` connections are open.
    pub fn acquire(open: &Arc<AtomicUsize>, max: usize, gateway: &'static str) -> Option<ConnectionSlot> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).ok()?;
        metrics::gauge!(CONNECTIONS_GAUGE, "gateway" => gateway).increment(1.0);
        Some(ConnectionSlot { open: Arc::clone(open), gateway })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!(CONNECTIONS_GAUGE, "gateway" => self.gateway).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_freed() {
        let open = Arc::new(AtomicUsize::new(0));
        let a = ConnectionSlot::acquire(&open, 2, "tcp").unwrap();
        let _b = ConnectionSlot::acquire(&open, 2, "tcp").unwrap();
        assert!(ConnectionSlot::acquire(&open, 2, "tcp").is_none());
        drop(a);
        let _c = ConnectionSlot::acquire(&open, 2, "tcp").unwrap();
        assert_eq!(open.load(Ordering::Acquire), 2);
    }
}
