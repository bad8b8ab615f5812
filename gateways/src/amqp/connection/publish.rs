//! The publish path: messages a connection reads in one go are gathered per queue into one record batch
//! ([`PublishBatch`]), appended to the queues' logs (queued in order at once), and a per-connection completion task
//! awaits the appends in order: it hands the stored messages to their queue actors and reports publisher confirms
//! (ack once durable under the queue topic's policy, nack when an append failed) for contiguous tag ranges. Many
//! publishes thus share one append and one fsync.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::Addr;
use callboard_actors::{AppendAck, Broker, BrokerError, encode_batch};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::amqp::message::QueuedMessage;
use crate::amqp::queue::{Appended, QueueActor};
use crate::amqp::vhost::QueueEntry;

/// A batch grows to about this many bytes before it is appended.
pub const BATCH_BYTES: usize = 4 << 20;

type AppendFuture = Pin<Box<dyn Future<Output = Result<AppendAck, BrokerError>> + Send>>;

/// Appends of one flush, and what to report when they are done.
pub struct Flight {
    appends: Vec<(Addr<QueueActor>, AppendFuture, Vec<Arc<QueuedMessage>>)>,
    /// (channel, first tag, last tag) to confirm.
    confirms: Vec<(u16, u64, u64)>,
    barrier: Option<oneshot::Sender<()>>,
}

/// A publisher-confirm outcome for tags `first..=last` of a channel.
#[derive(Debug, Clone, Copy)]
pub struct Confirmed {
    /// Channel.
    pub channel: u16,
    /// First tag.
    pub first: u64,
    /// Last tag.
    pub last: u64,
    /// Stored (ack) or not (nack).
    pub ok: bool,
}

/// A queue's messages in a batch, and their size.
type QueueBatch = (Arc<QueueEntry>, Vec<Arc<QueuedMessage>>, usize);

/// Messages published since the last flush.
#[derive(Default)]
pub struct PublishBatch {
    queues: HashMap<String, QueueBatch>,
    confirms: Vec<(u16, u64, u64)>,
}

impl PublishBatch {
    /// Adds a message routed to `queues` (possibly none); `tag` is its confirm tag on `channel`, if confirming.
    /// Answers whether the batch is large enough to flush now.
    pub fn add(
        &mut self,
        queues: Vec<Arc<QueueEntry>>,
        message: Arc<QueuedMessage>,
        confirm: Option<(u16, u64)>,
    ) -> bool {
        let mut full = false;
        for q in queues {
            let entry = self.queues.entry(q.name.clone()).or_insert_with(|| (Arc::clone(&q), Vec::new(), 0));
            entry.2 += message.size();
            entry.1.push(Arc::clone(&message));
            full |= entry.2 >= BATCH_BYTES;
        }
        if let Some((channel, tag)) = confirm {
            match self.confirms.iter_mut().find(|(c, _, _)| *c == channel) {
                Some((_, _, last)) => *last = tag,
                None => self.confirms.push((channel, tag, tag)),
            }
        }
        full
    }

    /// Whether there is nothing to flush.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty() && self.confirms.is_empty()
    }

    /// Queues the appends (in order, now) and returns the flight for the completion task.
    pub fn take_flight(&mut self, broker: &Broker, stream: &str, now_ms: i64) -> Flight {
        let mut appends = Vec::with_capacity(self.queues.len());
        for (_, (queue, messages, _)) in self.queues.drain() {
            let batch = encode_batch(messages.iter().map(|m| m.to_record()).collect::<Vec<_>>().iter(), now_ms, None);
            let fut = broker.append_batch(stream, &queue.topic, 0, batch);
            appends.push((queue.addr.clone(), Box::pin(fut) as AppendFuture, messages));
        }
        Flight { appends, confirms: std::mem::take(&mut self.confirms), barrier: None }
    }
}

impl Flight {
    /// A flight carrying only a barrier: answered once every earlier flight is done.
    pub fn barrier(done: oneshot::Sender<()>) -> Flight {
        Flight { appends: Vec::new(), confirms: Vec::new(), barrier: Some(done) }
    }
}

/// The completion task of one connection.
pub async fn completion(mut flights: mpsc::Receiver<Flight>, confirmed: mpsc::UnboundedSender<Confirmed>) {
    while let Some(flight) = flights.recv().await {
        let mut ok = true;
        for (queue, append, messages) in flight.appends {
            match append.await {
                Ok(ack) => queue.do_send(Appended { base: ack.base_offset, messages }),
                Err(e) => {
                    warn!(error = %e, "AMQP publish could not be stored");
                    ok = false;
                }
            }
        }
        for (channel, first, last) in flight.confirms {
            let _ = confirmed.send(Confirmed { channel, first, last, ok });
        }
        if let Some(done) = flight.barrier {
            let _ = done.send(());
        }
    }
}
