//! Dead-lettering and expiry in a [`QueueActor`]: messages that die (rejected without requeue, expired, dropped by
//! `x-max-length`) are republished to the queue's dead-letter exchange, one batch at a time, and a timer removes
//! expired messages from the head of a queue nobody reads.
//!
//! No message is lost on the way: a dying message's offset stays in the queue (it holds the floor back, so its
//! record is not reclaimed) until its dead-lettered copies are appended to the target queues' logs. A failed append
//! is retried. The window is at-least-once: if the broker stops after the copies are stored and before the floor
//! moves past the original, the original is read again after the restart and (when it expires again) dead-lettered
//! again.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use actix::{ActorFutureExt, AsyncContext, Context, SpawnHandle, WrapFuture};
use callboard_actors::encode_batch;
use tracing::{debug, warn};

use super::death::{DeadLetterTo, DeathReason, dead_lettered, expiration_ms, is_cycle};
use super::{Appended, QueueActor};
use crate::amqp::message::QueuedMessage;
use crate::amqp::shared::Shared;
use crate::amqp::vhost::QueueEntry;

/// A failed republish is retried after this.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A queue's dead-letter state.
#[derive(Debug)]
pub struct DeadLetters {
    /// Where dead letters go (`None`: they are dropped).
    to: Option<DeadLetterTo>,
    /// The gateway, to route through the virtual host (weak: the virtual host owns the queue).
    shared: Weak<Shared>,
    /// The virtual host's stream.
    stream: String,
    /// Dying messages not yet handed to a republish.
    pending: Vec<(u64, Arc<QueuedMessage>, DeathReason)>,
    /// Offsets of dying messages whose copies are not stored yet (they hold the floor).
    in_flight: BTreeSet<u64>,
    /// A republish is running.
    busy: bool,
    /// The expiry timer: when it fires (ms since the epoch) and its handle.
    timer: Option<(i64, SpawnHandle)>,
}

impl DeadLetters {
    /// Dead-letter state for a queue of `stream` declared with `arguments`.
    pub fn new(shared: Weak<Shared>, stream: String, arguments: &amq_protocol::types::FieldTable) -> DeadLetters {
        DeadLetters {
            to: DeadLetterTo::from_arguments(arguments),
            shared,
            stream,
            pending: Vec::new(),
            in_flight: BTreeSet::new(),
            busy: false,
            timer: None,
        }
    }

    /// Whether dying messages are republished (rather than dropped).
    pub fn enabled(&self) -> bool {
        self.to.is_some()
    }

    /// The lowest offset still being dead-lettered.
    pub fn floor(&self) -> Option<u64> {
        self.in_flight.first().copied()
    }

    /// Whether `offset` is being dead-lettered.
    pub fn holds(&self, offset: u64) -> bool {
        self.in_flight.contains(&offset)
    }

    /// Forgets what was in progress (the actor restarts and reads its log again from the floor).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.in_flight.clear();
        self.busy = false;
        self.timer = None;
    }
}

impl QueueActor {
    /// When `message` expires (ms since the epoch): `x-message-ttl` or its own `expiration`, whichever is sooner.
    pub(super) fn expires_at(&self, message: &QueuedMessage) -> Option<i64> {
        let ttl = match (self.limits.ttl_ms, expiration_ms(message)) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(message.timestamp_ms.saturating_add(ttl))
    }

    /// A message died: republished to the dead-letter exchange when the queue has one, dropped otherwise.
    pub(super) fn dead_letter(&mut self, offset: u64, message: Arc<QueuedMessage>, reason: DeathReason) {
        debug!(queue = %self.name, offset, reason = reason.name(), "message died");
        if self.dead.enabled() {
            self.dead.in_flight.insert(offset);
            self.dead.pending.push((offset, message, reason));
        }
    }

    /// Removes expired messages from the head of the queue (requeued ones first, then the read-ahead).
    pub(super) fn expire_head(&mut self) {
        if self.limits.ttl_ms.is_none() && self.buffer.is_empty() && self.requeued.is_empty() {
            return;
        }
        let now = crate::amqp::connection::now_ms();
        loop {
            let head = match self.requeued.first_key_value() {
                Some((offset, m)) => (*offset, Arc::clone(m), true),
                None => match self.buffer.front() {
                    Some((offset, m)) => (*offset, Arc::clone(m), false),
                    None => return,
                },
            };
            if self.expires_at(&head.1).is_none_or(|at| now < at) {
                return;
            }
            if head.2 {
                self.requeued.pop_first();
            } else {
                self.buffer.pop_front();
            }
            self.dead_letter(head.0, head.1, DeathReason::Expired);
        }
    }

    /// Sets the expiry timer for the message at the head, if it expires. A timer already set for no later than that
    /// is kept (when it fires, the queue looks at its head again), so a busy queue does not reset it at every step.
    pub(super) fn schedule_expiry(&mut self, ctx: &mut Context<Self>) {
        let head = self.requeued.values().next().or_else(|| self.buffer.front().map(|(_, m)| m));
        let Some(at) = head.and_then(|m| self.expires_at(m)) else { return };
        if self.dead.timer.as_ref().is_some_and(|t| t.0 <= at) {
            return;
        }
        if let Some((_, handle)) = self.dead.timer.take() {
            ctx.cancel_future(handle);
        }
        let wait = (at - crate::amqp::connection::now_ms()).clamp(0, i64::from(u32::MAX)) as u64;
        let handle = ctx.run_later(Duration::from_millis(wait + 1), |act, ctx| {
            act.dead.timer = None;
            if !act.retired {
                act.pump(ctx);
            }
        });
        self.dead.timer = Some((at, handle));
    }

    /// Starts republishing what died, unless a republish is running (it starts the next one when done).
    pub(super) fn flush_dead_letters(&mut self, ctx: &mut Context<Self>) {
        if self.dead.busy || self.dead.pending.is_empty() || self.retired {
            return;
        }
        let Some(to) = self.dead.to.clone() else { return };
        self.dead.busy = true;
        let batch = std::mem::take(&mut self.dead.pending);
        let (shared, stream, queue) = (self.dead.shared.clone(), self.dead.stream.clone(), self.name.clone());
        let fut = republish(shared, stream, queue, to, batch);
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| {
            act.dead.busy = false;
            match res {
                Ok(offsets) => {
                    for offset in offsets {
                        act.dead.in_flight.remove(&offset);
                    }
                    act.flush_dead_letters(ctx);
                }
                Err((e, batch)) => {
                    warn!(queue = %act.name, error = %e, "could not dead-letter messages; retrying");
                    act.dead.pending.splice(0..0, batch);
                    ctx.run_later(RETRY_AFTER, |act, ctx| act.flush_dead_letters(ctx));
                }
            }
        }));
    }
}

type Batch = Vec<(u64, Arc<QueuedMessage>, DeathReason)>;

/// Routes each dead message through the dead-letter exchange and appends the copies to their queues' logs (then
/// hands them to the queues' actors). Answers the offsets done, or the error and the batch to retry.
async fn republish(
    shared: Weak<Shared>,
    stream: String,
    queue: String,
    to: DeadLetterTo,
    batch: Batch,
) -> Result<Vec<u64>, (String, Batch)> {
    let offsets: Vec<u64> = batch.iter().map(|b| b.0).collect();
    let Some(shared) = shared.upgrade() else { return Ok(offsets) };
    let vhost = match shared.vhost(&stream).await {
        Ok(v) => v,
        Err(e) => return Err((e.to_string(), batch)),
    };
    let now = crate::amqp::connection::now_ms();
    let mut targets: HashMap<String, (Arc<QueueEntry>, Vec<Arc<QueuedMessage>>)> = HashMap::new();
    for (offset, message, reason) in &batch {
        let copy = Arc::new(dead_lettered(message, &queue, *reason, &to, now));
        let headers = super::death::properties_of(&copy).headers().clone();
        let Some(queues) = vhost.route_dead_letter(&copy.exchange, &copy.routing_key, headers.as_ref()) else {
            debug!(queue = %queue, offset, exchange = %to.exchange, "dead-letter exchange missing; message dropped");
            continue;
        };
        for q in queues {
            if *reason != DeathReason::Rejected && is_cycle(&copy, &q.name) {
                debug!(queue = %queue, offset, target = %q.name, "dead-letter cycle; message dropped there");
                continue;
            }
            targets.entry(q.name.clone()).or_insert_with(|| (q, Vec::new())).1.push(Arc::clone(&copy));
        }
    }
    for (_, (target, messages)) in targets {
        let records: Vec<_> = messages.iter().map(|m| m.to_record()).collect();
        let encoded = encode_batch(records.iter(), now, None);
        match shared.broker.append_batch(&stream, &target.topic, 0, encoded).await {
            Ok(ack) => target.addr.do_send(Appended { base: ack.base_offset, messages }),
            // A queue deleted meanwhile has no log any more: nothing to deliver there.
            Err(callboard_actors::BrokerError::TopicNotFound { .. }) => {}
            Err(e) => return Err((e.to_string(), batch)),
        }
    }
    Ok(offsets)
}
