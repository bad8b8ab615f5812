//! The state of one AMQP channel: the message being assembled from publish, header and body frames, confirm mode
//! and its tag counter, consumers, deliveries not yet acknowledged, and prefetch credit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use actix::Addr;
use amq_protocol::protocol::basic::{AMQPProperties, Publish};
use bytes::{Bytes, BytesMut};

use crate::amqp::queue::{Credit, QueueActor};
use crate::amqp::vhost::QueueEntry;

/// A message being received.
#[derive(Debug)]
pub struct Incoming {
    /// The publish method.
    pub publish: Publish,
    /// Content header: body size, raw property bytes, parsed properties.
    pub header: Option<(u64, Bytes, Box<AMQPProperties>)>,
    /// Body so far.
    pub body: BytesMut,
}

/// A delivery waiting for its acknowledgement.
#[derive(Debug)]
pub struct Unacked {
    /// Its queue.
    pub queue: Addr<QueueActor>,
    /// Offset in the queue's log.
    pub offset: u64,
    /// The consumer's credit (none for `basic.get`).
    pub credit: Option<Arc<Credit>>,
}

/// A consumer on the channel.
#[derive(Debug)]
pub struct Consumer {
    /// Gateway-wide id.
    pub id: u64,
    /// Its queue.
    pub queue: Arc<QueueEntry>,
    /// No-ack mode.
    pub no_ack: bool,
    /// Its credit.
    pub credit: Arc<Credit>,
}

/// Whether the channel is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    /// Open.
    Open,
    /// The server sent `channel.close` and waits for `close-ok`; other frames are dropped.
    Closing,
}

/// One channel.
#[derive(Debug)]
pub struct Channel {
    /// Open or closing.
    pub state: ChannelState,
    /// A message being assembled.
    pub incoming: Option<Incoming>,
    /// Publisher confirms on.
    pub confirm: bool,
    /// Last publish tag given (confirm mode).
    pub publish_tag: u64,
    /// Last delivery tag given.
    pub delivery_tag: u64,
    /// Deliveries not acknowledged, by tag.
    pub unacked: BTreeMap<u64, Unacked>,
    /// Consumers by tag.
    pub consumers: HashMap<String, Consumer>,
    /// Prefetch for consumers created from now on (0: none).
    pub prefetch: u16,
    /// Per-channel credit (global qos, flow).
    pub credit: Arc<Credit>,
    /// The queue declared last (an empty queue name means it).
    pub last_queue: Option<String>,
}

impl Channel {
    /// A fresh open channel.
    pub fn new() -> Channel {
        Channel {
            state: ChannelState::Open,
            incoming: None,
            confirm: false,
            publish_tag: 0,
            delivery_tag: 0,
            unacked: BTreeMap::new(),
            consumers: HashMap::new(),
            prefetch: 0,
            credit: Credit::with_limit(0),
            last_queue: None,
        }
    }

    /// Takes the deliveries a `basic.ack`/`nack`/`reject` names: `tag` alone, or every one up to it with `multiple`
    /// (tag 0 with `multiple`: all). `None` when the tag is unknown.
    pub fn take_unacked(&mut self, tag: u64, multiple: bool) -> Option<Vec<Unacked>> {
        if multiple {
            let keep = if tag == 0 { BTreeMap::new() } else { self.unacked.split_off(&(tag + 1)) };
            let taken = std::mem::replace(&mut self.unacked, keep);
            if taken.is_empty() && tag != 0 {
                return None;
            }
            Some(taken.into_values().collect())
        } else {
            self.unacked.remove(&tag).map(|u| vec![u])
        }
    }
}
