//! The publish path: messages a connection reads in one go are gathered per queue ([`PublishBatch`]) into a
//! [`Flight`], and a per-connection completion task ([`completion`]) stores them and reports publisher confirms (ack
//! once durable under the queue topic's policy, nack when an append failed) for contiguous tag ranges, flight by
//! flight in order. It keeps at most [`APPENDS_PER_QUEUE`] appends in flight per queue (one: a second one written
//! behind the one waiting for its fsync measured slower, as it carried only what arrived first): what arrives for a
//! queue meanwhile is merged into that queue's next append, issued as soon as the earlier one is answered (the next
//! group commit would have covered it anyway). So one append, one durability wait and one hand-over to the queue actor serve every flight
//! that arrived during an fsync, instead of one each.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::Addr;
use callboard_actors::{AppendAck, Broker, BrokerError, encode_batch};
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::amqp::message::QueuedMessage;
use crate::amqp::queue::{Appended, QueueActor};
use crate::amqp::vhost::QueueEntry;

/// A batch grows to about this many bytes before it is appended.
pub const BATCH_BYTES: usize = 4 << 20;
/// Flights taken by the completion task and not yet confirmed, at most (back-pressure on publishers: past it the
/// dispatcher's bounded flight channel fills and it stops reading).
const MAX_OPEN_FLIGHTS: usize = 64;

/// Appends in flight per queue at most.
pub const APPENDS_PER_QUEUE: usize = 1;

/// A queue in the completion task: its entry's address (the entry is held while the queue has work there).
type QueueKey = usize;
/// What an append answers: its queue, the flights (sequence numbers) it served, and the outcome.
type Answered = (QueueKey, Vec<u64>, Result<AppendAck, BrokerError>);
/// An append in flight.
type AppendFuture = Pin<Box<dyn Future<Output = Answered> + Send>>;

/// A queue's messages of one flight.
type Part = (Arc<QueueEntry>, Vec<Arc<QueuedMessage>>);

/// Messages published since the last flush, per queue, and the confirms they answer.
pub struct Flight {
    parts: Vec<Part>,
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
    queues: HashMap<Addr<QueueActor>, QueueBatch>,
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
            let entry = self.queues.entry(q.addr.clone()).or_insert_with(|| (Arc::clone(&q), Vec::new(), 0));
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

    /// Takes what was published since the last flush, as a flight for the completion task.
    pub fn take_flight(&mut self) -> Flight {
        let parts = self.queues.drain().map(|(_, (queue, messages, _))| (queue, messages)).collect();
        Flight { parts, confirms: std::mem::take(&mut self.confirms), barrier: None }
    }
}

impl Flight {
    /// A flight carrying only a barrier: answered once every earlier flight is done.
    pub fn barrier(done: oneshot::Sender<()>) -> Flight {
        Flight { parts: Vec::new(), confirms: Vec::new(), barrier: Some(done) }
    }
}

/// A flight taken by the completion task: how many of its parts are not stored yet, and whether all stored so far.
struct Open {
    waiting: usize,
    ok: bool,
    confirms: Vec<(u16, u64, u64)>,
    barrier: Option<oneshot::Sender<()>>,
}

/// A queue's append in flight, and the messages (with their flights) gathered for its next one.
#[derive(Default)]
struct QueueState {
    entry: Option<Arc<QueueEntry>>,
    /// Appends in flight.
    in_flight: usize,
    /// Messages for the next append, and the flights they belong to.
    next: Vec<Arc<QueuedMessage>>,
    next_flights: Vec<u64>,
}

/// The completion task of one connection: takes flights from the dispatcher, stores them (one append in flight per
/// queue), hands stored messages to their queue actors, and reports confirms in flight order. Ends once the
/// dispatcher is gone and everything taken is answered.
pub async fn completion(
    broker: Broker,
    stream: String,
    mut flights: mpsc::Receiver<Flight>,
    confirmed: mpsc::UnboundedSender<Confirmed>,
) {
    let mut open: VecDeque<Open> = VecDeque::new();
    // Sequence number of `open[0]`.
    let mut first_seq = 0u64;
    let mut queues: HashMap<QueueKey, QueueState> = HashMap::new();
    let mut appends: FuturesUnordered<AppendFuture> = FuturesUnordered::new();
    let mut receiving = true;
    while receiving || !open.is_empty() {
        tokio::select! {
            flight = flights.recv(), if receiving && open.len() < MAX_OPEN_FLIGHTS => match flight {
                Some(flight) => {
                    let seq = first_seq + open.len() as u64;
                    open.push_back(Open {
                        waiting: flight.parts.len(),
                        ok: true,
                        confirms: flight.confirms,
                        barrier: flight.barrier,
                    });
                    for (entry, messages) in flight.parts {
                        let q = queues.entry(Arc::as_ptr(&entry) as QueueKey).or_default();
                        q.next.extend(messages);
                        q.next_flights.push(seq);
                        q.entry = Some(entry);
                        if q.in_flight < APPENDS_PER_QUEUE {
                            appends.push(issue(&broker, &stream, q));
                        }
                    }
                }
                None => receiving = false,
            },
            Some((key, served, result)) = appends.next(), if !appends.is_empty() => {
                if let Err(e) = &result {
                    warn!(error = %e, "AMQP publish could not be stored");
                }
                for seq in served {
                    if let Some(f) = seq.checked_sub(first_seq).and_then(|i| open.get_mut(i as usize)) {
                        f.waiting = f.waiting.saturating_sub(1);
                        f.ok &= result.is_ok();
                    }
                }
                let Some(q) = queues.get_mut(&key) else { continue };
                q.in_flight = q.in_flight.saturating_sub(1);
                if !q.next.is_empty() {
                    appends.push(issue(&broker, &stream, q));
                } else if q.in_flight == 0 {
                    queues.remove(&key);
                }
            }
        }
        while open.front().is_some_and(|f| f.waiting == 0) {
            let Some(f) = open.pop_front() else { break };
            first_seq += 1;
            for (channel, first, last) in f.confirms {
                let _ = confirmed.send(Confirmed { channel, first, last, ok: f.ok });
            }
            if let Some(done) = f.barrier {
                let _ = done.send(());
            }
        }
    }
}

/// Appends what `q` gathered (queued on the partition now) and returns the future answering it; once stored, the
/// messages are handed to the queue actor (which takes them in memory when they continue its read-ahead, and reads
/// them from the log otherwise, so answers arriving out of order lose nothing).
fn issue(broker: &Broker, stream: &str, q: &mut QueueState) -> AppendFuture {
    let messages = std::mem::take(&mut q.next);
    let served = std::mem::take(&mut q.next_flights);
    q.in_flight += 1;
    let entry = q.entry.clone().expect("a queue with messages has its entry");
    let now = crate::amqp::connection::now_ms();
    let records: Vec<_> = messages.iter().map(|m| m.to_record()).collect();
    let batch = encode_batch(records.iter(), now, None);
    let append = broker.append_batch(stream, &entry.topic, 0, batch);
    Box::pin(async move {
        let result = append.await;
        if let Ok(ack) = &result {
            entry.addr.do_send(Appended { base: ack.base_offset, messages });
        }
        (Arc::as_ptr(&entry) as QueueKey, served, result)
    })
}
