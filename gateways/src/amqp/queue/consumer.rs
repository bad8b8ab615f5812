//! A consumer as a queue actor sees it ([`ConsumerHandle`]): where its deliveries go (its connection's event
//! channel) and the credit that bounds them ([`Credit`]: `basic.qos` prefetch per consumer and per channel).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use actix::Addr;
use tokio::sync::mpsc::UnboundedSender;

use crate::amqp::message::QueuedMessage;
use crate::amqp::queue::QueueActor;

/// Messages a consumer may hold unacknowledged when it set no prefetch (keeps unacked memory bounded).
pub const DEFAULT_MAX_UNACKED: u32 = 10_000;
/// Messages a no-ack consumer may have on their way to its socket.
pub const NO_ACK_WINDOW: u32 = 1_000;

/// Messages in flight against a limit (0: no limit). Taken by the queue actor when it delivers, given back by the
/// connection when the delivery is acknowledged (or, for no-ack consumers, written).
#[derive(Debug, Default)]
pub struct Credit {
    /// Deliveries in flight.
    pub inflight: AtomicU32,
    /// The limit; 0 for none.
    pub limit: AtomicU32,
    /// Paused by `channel.flow` (only on a channel's credit).
    pub paused: std::sync::atomic::AtomicBool,
}

impl Credit {
    /// A credit with this limit.
    pub fn with_limit(limit: u32) -> Arc<Credit> {
        Arc::new(Credit { inflight: AtomicU32::new(0), limit: AtomicU32::new(limit), paused: Default::default() })
    }

    /// Whether one more delivery fits.
    pub fn has_room(&self) -> bool {
        let limit = self.limit.load(Ordering::Acquire);
        limit == 0 || self.inflight.load(Ordering::Acquire) < limit
    }

    /// Takes one.
    pub fn take(&self) {
        self.inflight.fetch_add(1, Ordering::AcqRel);
    }

    /// Gives `n` back; answers whether the credit was exhausted before (the queue needs a kick).
    pub fn give(&self, n: u32) -> bool {
        let before = self
            .inflight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| Some(v.saturating_sub(n)))
            .unwrap_or_default();
        let limit = self.limit.load(Ordering::Acquire);
        limit != 0 && before >= limit
    }
}

/// A message on its way to a consumer.
#[derive(Debug)]
pub struct Delivery {
    /// Channel of the consumer.
    pub channel: u16,
    /// Consumer id (unique in the gateway).
    pub consumer_id: u64,
    /// Consumer tag.
    pub consumer_tag: Arc<str>,
    /// The queue it comes from.
    pub queue: Addr<QueueActor>,
    /// Its offset in the queue's log.
    pub offset: u64,
    /// Whether it was delivered before.
    pub redelivered: bool,
    /// The message.
    pub message: Arc<QueuedMessage>,
}

/// What queue actors tell a connection.
#[derive(Debug)]
pub enum QueueEvent {
    /// A delivery.
    Deliver(Delivery),
    /// The consumer was cancelled by the broker (its queue was deleted): `basic.cancel` to the client.
    Cancelled {
        /// Channel.
        channel: u16,
        /// Consumer tag.
        consumer_tag: Arc<str>,
    },
}

/// A consumer registered with a queue.
#[derive(Debug, Clone)]
pub struct ConsumerHandle {
    /// Unique id.
    pub id: u64,
    /// Tag.
    pub tag: Arc<str>,
    /// Channel.
    pub channel: u16,
    /// Deliveries are settled when sent.
    pub no_ack: bool,
    /// The consumer wants the queue to itself.
    pub exclusive: bool,
    /// Per-consumer credit.
    pub credit: Arc<Credit>,
    /// Per-channel credit (global `basic.qos`).
    pub channel_credit: Arc<Credit>,
    /// The connection.
    pub events: UnboundedSender<QueueEvent>,
}

impl ConsumerHandle {
    /// Whether the consumer can take one more delivery.
    pub fn has_room(&self) -> bool {
        self.credit.has_room()
            && !self.channel_credit.paused.load(Ordering::Acquire)
            && (self.no_ack || self.channel_credit.has_room())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit() {
        let c = Credit::with_limit(2);
        c.take();
        assert!(c.has_room());
        c.take();
        assert!(!c.has_room());
        assert!(c.give(1), "was exhausted");
        assert!(!c.give(1));
        assert!(Credit::with_limit(0).has_room());
    }
}
