//! [`QueueActor`]: one supervised actix actor per AMQP queue, owning the queue's delivery state. The messages live in
//! the queue's Callboard log (a one-partition topic); the actor keeps where delivery stands (`next_offset`), a small
//! buffer of messages read ahead, requeued messages (delivered again first, in offset order, flagged
//! `redelivered`), and the deliveries not yet acknowledged. The lowest offset not acknowledged is the queue's floor:
//! it is persisted as the log's consumer offset and the log start is advanced to it (`delete_records_before`), so
//! acknowledged messages are reclaimed and not delivered again after a restart. Messages that die (rejected,
//! expired, over `x-max-length`) are dead-lettered (`dead_letter`).

mod consumer;
mod dead_letter;
mod death;
mod handlers;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Supervised, WrapFuture};
use callboard_actors::{Broker, Fetch, PollingStrategy, decode_batches};
use tokio::sync::oneshot;
use tracing::{debug, warn};

pub use consumer::*;
pub use dead_letter::DeadLetters;
pub use handlers::*;

use crate::amqp::memory::MemoryGauge;
use crate::amqp::message::QueuedMessage;

/// The consumer name the queue's floor is stored under in its log.
pub const FLOOR_CONSUMER: &str = "amqp-queue";
/// Messages read ahead from the log at most.
const BUFFER_MAX: usize = 1024;
/// A read-ahead is started when the buffer holds fewer than this.
const BUFFER_LOW: usize = 256;
/// How often the floor is persisted.
const COMMIT_EVERY: Duration = Duration::from_millis(500);

/// Where a queue's log is.
#[derive(Debug, Clone)]
pub struct QueueLog {
    /// The broker.
    pub broker: Broker,
    /// The stream (the virtual host).
    pub stream: String,
    /// The topic.
    pub topic: String,
}

/// Limits from a queue's `x-` arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueLimits {
    /// `x-max-length`: ready messages kept at most; the oldest are dropped past it.
    pub max_length: Option<u64>,
    /// `x-message-ttl`: messages older than this (ms) die (are dead-lettered) instead of being delivered.
    pub ttl_ms: Option<i64>,
}

impl QueueLimits {
    /// Reads the limits from queue arguments (already validated as non-negative integers).
    pub fn from_arguments(args: &amq_protocol::types::FieldTable) -> QueueLimits {
        use amq_protocol::types::AMQPValue;
        let int = |key: &str| match args.inner().get(key)? {
            AMQPValue::ShortShortInt(v) => Some(i64::from(*v)),
            AMQPValue::ShortShortUInt(v) => Some(i64::from(*v)),
            AMQPValue::ShortInt(v) => Some(i64::from(*v)),
            AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
            AMQPValue::LongInt(v) => Some(i64::from(*v)),
            AMQPValue::LongUInt(v) => Some(i64::from(*v)),
            AMQPValue::LongLongInt(v) => Some(*v),
            _ => None,
        };
        QueueLimits { max_length: int("x-max-length").map(|v| v.max(0) as u64), ttl_ms: int("x-message-ttl") }
    }
}

/// A delivery not acknowledged yet.
#[derive(Debug)]
struct Outstanding {
    message: Arc<QueuedMessage>,
}

/// A `basic.get` waiting for the read-ahead.
struct WaitingGet {
    no_ack: bool,
    reply: oneshot::Sender<Option<Got>>,
}

/// The queue actor.
pub struct QueueActor {
    name: String,
    log: QueueLog,
    memory: Arc<MemoryGauge>,
    limits: QueueLimits,
    ready: bool,
    next_offset: u64,
    log_end: u64,
    fetching: bool,
    buffer: VecDeque<(u64, Arc<QueuedMessage>)>,
    requeued: BTreeMap<u64, Arc<QueuedMessage>>,
    outstanding: BTreeMap<u64, Outstanding>,
    consumers: Vec<ConsumerHandle>,
    turn: usize,
    gets: Vec<WaitingGet>,
    committed: u64,
    committing: bool,
    addr: Option<actix::Addr<QueueActor>>,
    retired: bool,
    dead: DeadLetters,
}

impl std::fmt::Debug for QueueActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueActor").field("name", &self.name).field("next_offset", &self.next_offset).finish()
    }
}

impl QueueActor {
    /// A queue actor for `name` over `log`; dying messages go where `dead` says.
    pub fn new(
        name: String,
        log: QueueLog,
        memory: Arc<MemoryGauge>,
        limits: QueueLimits,
        dead: DeadLetters,
    ) -> QueueActor {
        QueueActor {
            name,
            log,
            memory,
            limits,
            ready: false,
            next_offset: 0,
            log_end: 0,
            fetching: false,
            buffer: VecDeque::new(),
            requeued: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            consumers: Vec::new(),
            turn: 0,
            gets: Vec::new(),
            committed: 0,
            committing: false,
            addr: None,
            retired: false,
            dead,
        }
    }

    /// Messages ready for delivery.
    fn ready_count(&self) -> u64 {
        self.requeued.len() as u64 + self.buffer.len() as u64 + self.log_end.saturating_sub(self.next_offset)
    }

    /// The lowest offset not acknowledged.
    fn floor(&self) -> u64 {
        let mut floor = self.next_offset;
        for first in [
            self.outstanding.keys().next().copied(),
            self.requeued.keys().next().copied(),
            self.buffer.front().map(|(o, _)| *o),
            self.dead.floor(),
        ]
        .into_iter()
        .flatten()
        {
            floor = floor.min(first);
        }
        floor
    }

    /// Reads where the log stands and where delivery resumes (the stored floor), then starts delivering.
    fn init(&mut self, ctx: &mut Context<Self>) {
        let log = self.log.clone();
        let fut = async move {
            let stored = log.broker.get_offset(&log.stream, &log.topic, 0, FLOOR_CONSUMER).await?;
            let fetch = Fetch {
                strategy: PollingStrategy::First,
                max_count: 1,
                max_bytes: 1,
                max_wait: Duration::ZERO,
                consumer: None,
                fence: None,
            };
            let fetched = log.broker.fetch(&log.stream, &log.topic, 0, fetch).await?;
            Ok::<_, callboard_actors::BrokerError>((stored.unwrap_or(0).max(fetched.log_start), fetched.log_end))
        };
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| match res {
            Ok((start, end)) => {
                act.next_offset = act.next_offset.max(start);
                act.committed = start;
                act.log_end = act.log_end.max(end);
                act.ready = true;
                debug!(queue = %act.name, start, end, "AMQP queue ready");
                act.pump(ctx);
            }
            Err(e) => {
                warn!(queue = %act.name, error = %e, "AMQP queue could not read its log; retrying");
                ctx.run_later(Duration::from_millis(200), |act, ctx| {
                    if !act.retired {
                        act.init(ctx)
                    }
                });
            }
        }));
    }

    /// Reads ahead from the log when the buffer runs low and the log has more.
    fn read_ahead(&mut self, ctx: &mut Context<Self>) {
        if !self.ready || self.fetching || self.next_offset >= self.log_end || self.buffer.len() >= BUFFER_LOW {
            return;
        }
        self.fetching = true;
        let log = self.log.clone();
        let fetch = Fetch {
            strategy: PollingStrategy::Offset(self.next_offset),
            max_count: (BUFFER_MAX - self.buffer.len()) as u32,
            max_bytes: 4 << 20,
            max_wait: Duration::ZERO,
            consumer: None,
            fence: None,
        };
        let fut = async move {
            let fetched = log.broker.fetch(&log.stream, &log.topic, 0, fetch).await?;
            let wanted = (fetched.next_offset - fetched.start_offset) as usize;
            let records = decode_batches(&fetched.batches, fetched.start_offset, wanted)?;
            Ok::<_, callboard_actors::BrokerError>((records, fetched.next_offset, fetched.log_end))
        };
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| {
            act.fetching = false;
            match res {
                Ok((records, next, end)) => {
                    for record in records {
                        let offset = record.offset;
                        if offset < act.next_offset {
                            continue;
                        }
                        act.next_offset = offset + 1;
                        if act.outstanding.contains_key(&offset)
                            || act.requeued.contains_key(&offset)
                            || act.dead.holds(offset)
                        {
                            continue;
                        }
                        match QueuedMessage::from_record(record) {
                            Some(m) => act.buffer.push_back((offset, Arc::new(m))),
                            None => warn!(queue = %act.name, offset, "skipping a record that is not an AMQP message"),
                        }
                    }
                    act.next_offset = act.next_offset.max(next);
                    act.log_end = act.log_end.max(end);
                    act.pump(ctx);
                }
                Err(e) => {
                    // Restarted by its supervisor: the read-ahead is rebuilt from the log.
                    warn!(queue = %act.name, error = %e, "AMQP queue read failed; restarting the queue actor");
                    ctx.stop();
                }
            }
        }));
    }

    /// The next message ready: requeued ones first (lowest offset first), then the read-ahead buffer; expired
    /// messages (`x-message-ttl`, `expiration`) die on the way.
    fn take_next(&mut self) -> Option<(u64, Arc<QueuedMessage>, bool)> {
        let now = crate::amqp::connection::now_ms();
        loop {
            let next = match self.requeued.pop_first() {
                Some((offset, message)) => (offset, message, true),
                None => {
                    let (offset, message) = self.buffer.pop_front()?;
                    (offset, message, false)
                }
            };
            match self.expires_at(&next.1) {
                Some(at) if now >= at => self.dead_letter(next.0, next.1, death::DeathReason::Expired),
                _ => return Some(next),
            }
        }
    }

    /// Drops the oldest ready messages past `x-max-length` (they die: dead-lettered when the queue has a dead-letter
    /// exchange, in which case messages not read from the log yet are dropped once read).
    fn enforce_max_length(&mut self) {
        let Some(max) = self.limits.max_length else { return };
        while self.ready_count() > max {
            if let Some((offset, message)) = self.requeued.pop_first().or_else(|| self.buffer.pop_front()) {
                self.dead_letter(offset, message, death::DeathReason::MaxLen);
                continue;
            }
            if self.next_offset < self.log_end && !self.dead.enabled() {
                self.next_offset += 1;
                continue;
            }
            break;
        }
    }

    fn put_back(&mut self, offset: u64, message: Arc<QueuedMessage>, redelivered: bool) {
        if redelivered {
            self.requeued.insert(offset, message);
        } else {
            self.buffer.push_front((offset, message));
        }
    }

    /// Answers waiting gets, delivers to consumers with credit (round robin), reads ahead.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if !self.ready {
            return;
        }
        self.expire_head();
        self.enforce_max_length();
        while !self.gets.is_empty() {
            if let Some((offset, message, redelivered)) = self.take_next() {
                let get = self.gets.remove(0);
                self.answer_get(get, offset, message, redelivered);
            } else if self.next_offset >= self.log_end && !self.fetching {
                for get in self.gets.drain(..) {
                    let _ = get.reply.send(None);
                }
            } else {
                break;
            }
        }
        self.dispatch();
        self.read_ahead(ctx);
        self.flush_dead_letters(ctx);
        self.schedule_expiry(ctx);
    }

    fn answer_get(&mut self, get: WaitingGet, offset: u64, message: Arc<QueuedMessage>, redelivered: bool) {
        let remaining = self.ready_count().min(u64::from(u32::MAX)) as u32;
        if !get.no_ack {
            self.track(offset, Arc::clone(&message));
        }
        let got = Got { offset, message: Arc::clone(&message), redelivered, remaining };
        if let Err(Some(got)) = get.reply.send(Some(got)) {
            // The asking channel went away: the message is not delivered.
            if !get.no_ack {
                self.untrack(got.offset);
            }
            self.put_back(got.offset, got.message, redelivered);
        }
    }

    fn track(&mut self, offset: u64, message: Arc<QueuedMessage>) {
        self.memory.add(message.size());
        self.outstanding.insert(offset, Outstanding { message });
    }

    fn untrack(&mut self, offset: u64) -> Option<Arc<QueuedMessage>> {
        let out = self.outstanding.remove(&offset)?;
        self.memory.sub(out.message.size());
        Some(out.message)
    }

    fn dispatch(&mut self) {
        while !self.consumers.is_empty() && (!self.requeued.is_empty() || !self.buffer.is_empty()) {
            let n = self.consumers.len();
            let Some(pick) = (0..n).map(|i| (self.turn + i) % n).find(|&i| self.consumers[i].has_room()) else {
                return;
            };
            self.turn = (pick + 1) % n;
            let Some((offset, message, redelivered)) = self.take_next() else { return };
            let Some(queue) = self.addr.clone() else { return };
            let consumer = &self.consumers[pick];
            let delivery = Delivery {
                channel: consumer.channel,
                consumer_id: consumer.id,
                consumer_tag: Arc::clone(&consumer.tag),
                queue,
                offset,
                redelivered,
                message: Arc::clone(&message),
            };
            consumer.credit.take();
            if !consumer.no_ack {
                consumer.channel_credit.take();
            }
            let no_ack = consumer.no_ack;
            if consumer.events.send(QueueEvent::Deliver(delivery)).is_err() {
                // The connection is gone: forget the consumer, keep the message.
                self.consumers.remove(pick);
                self.put_back(offset, message, redelivered);
                continue;
            }
            if !no_ack {
                self.track(offset, message);
            }
        }
    }

    /// Persists the floor (consumer offset, then log start) when it moved.
    fn commit(&mut self, ctx: &mut Context<Self>) {
        let floor = self.floor();
        if !self.ready || self.committing || floor <= self.committed {
            return;
        }
        self.committing = true;
        let log = self.log.clone();
        let fut = async move {
            log.broker.store_offset(&log.stream, &log.topic, 0, FLOOR_CONSUMER, floor).await?;
            log.broker.delete_records_before(&log.stream, &log.topic, 0, floor).await
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            act.committing = false;
            match res {
                Ok(_) => act.committed = floor,
                Err(e) => debug!(queue = %act.name, error = %e, "could not persist the AMQP queue floor"),
            }
        }));
    }
}

impl Actor for QueueActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.retired {
            return;
        }
        self.addr = Some(ctx.address());
        self.init(ctx);
        ctx.run_interval(COMMIT_EVERY, |act, ctx| act.commit(ctx));
    }
}

impl Supervised for QueueActor {
    /// After a failure the read-ahead is dropped and read again from the log; requeued and outstanding messages are
    /// kept (their channels still settle them).
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.next_offset = self.floor();
        self.buffer.clear();
        self.fetching = false;
        self.committing = false;
        self.ready = false;
        self.dead.reset();
    }
}
