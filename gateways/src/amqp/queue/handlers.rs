//! The messages a [`QueueActor`] handles: new messages appended to its log, consumers coming and going,
//! acknowledgements (ack, requeue, discard), `basic.get`, statistics, purge, persisting the floor and retirement.

use std::sync::Arc;

use actix::{ActorContext, Context, Handler, Message, ResponseFuture};
use tokio::sync::oneshot;

use super::{ConsumerHandle, QueueActor, QueueEvent, WaitingGet};
use crate::amqp::message::QueuedMessage;
use crate::amqp::reply::{AmqpError, ReplyCode};

/// Messages were appended to the queue's log at `base..base + messages.len()` (and are durable under its policy).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Appended {
    /// Offset of the first.
    pub base: u64,
    /// The messages, in offset order.
    pub messages: Vec<Arc<QueuedMessage>>,
}

impl Handler<Appended> for QueueActor {
    type Result = ();

    fn handle(&mut self, msg: Appended, ctx: &mut Context<Self>) {
        let end = msg.base + msg.messages.len() as u64;
        // Kept in memory when they continue the read-ahead; otherwise read from the log later.
        if self.ready && msg.base == self.next_offset && !self.fetching && self.buffer.len() < super::BUFFER_MAX {
            for (i, m) in msg.messages.into_iter().enumerate() {
                self.buffer.push_back((msg.base + i as u64, m));
            }
            self.next_offset = end;
        }
        self.log_end = self.log_end.max(end);
        self.pump(ctx);
    }
}

/// Adds a consumer; refused (403) when an exclusive consumer holds the queue, or when an exclusive one is asked for
/// and others exist.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), AmqpError>")]
pub struct Subscribe(pub ConsumerHandle);

impl Handler<Subscribe> for QueueActor {
    type Result = Result<(), AmqpError>;

    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) -> Result<(), AmqpError> {
        if self.retired {
            return Err(AmqpError::new(ReplyCode::NotFound, format!("queue '{}' was deleted", self.name)));
        }
        if self.consumers.iter().any(|c| c.exclusive) || (msg.0.exclusive && !self.consumers.is_empty()) {
            return Err(AmqpError::new(ReplyCode::AccessRefused, format!("queue '{}' in exclusive use", self.name)));
        }
        self.consumers.push(msg.0);
        self.pump(ctx);
        Ok(())
    }
}

/// Removes a consumer; answers how many remain.
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct Unsubscribe {
    /// Its id.
    pub consumer_id: u64,
}

impl Handler<Unsubscribe> for QueueActor {
    type Result = usize;

    fn handle(&mut self, msg: Unsubscribe, _ctx: &mut Context<Self>) -> usize {
        self.consumers.retain(|c| c.id != msg.consumer_id);
        self.consumers.len()
    }
}

/// Settles deliveries: acknowledged ones are done, requeued ones are delivered again (flagged redelivered),
/// discarded ones (rejected without requeue) die (dead-lettered, or dropped).
#[derive(Debug, Default, Message)]
#[rtype(result = "()")]
pub struct Settle {
    /// Acknowledged offsets.
    pub ack: Vec<u64>,
    /// Offsets to deliver again.
    pub requeue: Vec<u64>,
    /// Offsets rejected without requeue.
    pub discard: Vec<u64>,
}

impl Handler<Settle> for QueueActor {
    type Result = ();

    fn handle(&mut self, msg: Settle, ctx: &mut Context<Self>) {
        for offset in msg.ack {
            self.untrack(offset);
        }
        for offset in msg.discard {
            if let Some(message) = self.untrack(offset) {
                self.dead_letter(offset, message, super::death::DeathReason::Rejected);
            }
        }
        for offset in msg.requeue {
            if let Some(message) = self.untrack(offset) {
                self.requeued.insert(offset, message);
            }
        }
        self.pump(ctx);
    }
}

/// Credit was given back: deliver what fits now.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Kick;

impl Handler<Kick> for QueueActor {
    type Result = ();

    fn handle(&mut self, _msg: Kick, ctx: &mut Context<Self>) {
        self.pump(ctx);
    }
}

/// A message taken by `basic.get`.
#[derive(Debug)]
pub struct Got {
    /// Its offset.
    pub offset: u64,
    /// The message.
    pub message: Arc<QueuedMessage>,
    /// Delivered before.
    pub redelivered: bool,
    /// Messages left ready.
    pub remaining: u32,
}

/// `basic.get`: the next ready message, or `None`; answered on `reply` (it may wait for the read-ahead).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Get {
    /// Settled when taken.
    pub no_ack: bool,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Option<Got>>,
}

impl Handler<Get> for QueueActor {
    type Result = ();

    fn handle(&mut self, msg: Get, ctx: &mut Context<Self>) {
        if self.retired {
            let _ = msg.reply.send(None);
            return;
        }
        self.gets.push(WaitingGet { no_ack: msg.no_ack, reply: msg.reply });
        self.pump(ctx);
    }
}

/// Ready messages and consumers, for `queue.declare-ok`.
#[derive(Debug, Message)]
#[rtype(result = "(u32, u32)")]
pub struct Stats;

impl Handler<Stats> for QueueActor {
    type Result = actix::MessageResult<Stats>;

    fn handle(&mut self, _msg: Stats, _ctx: &mut Context<Self>) -> Self::Result {
        actix::MessageResult((self.ready_count().min(u64::from(u32::MAX)) as u32, self.consumers.len() as u32))
    }
}

/// Drops every ready message (not the unacknowledged ones); answers how many.
#[derive(Debug, Message)]
#[rtype(result = "u32")]
pub struct Purge;

impl Handler<Purge> for QueueActor {
    type Result = u32;

    fn handle(&mut self, _msg: Purge, ctx: &mut Context<Self>) -> u32 {
        let count = self.ready_count().min(u64::from(u32::MAX)) as u32;
        self.requeued.clear();
        self.buffer.clear();
        self.next_offset = self.next_offset.max(self.log_end);
        self.commit(ctx);
        count
    }
}

/// Persists the floor now (graceful shutdown); answers when done.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Commit;

impl Handler<Commit> for QueueActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: Commit, _ctx: &mut Context<Self>) -> ResponseFuture<()> {
        let floor = self.floor();
        let log = self.log.clone();
        let ready = self.ready && floor > self.committed;
        Box::pin(async move {
            if ready {
                let _ = log.broker.store_offset(&log.stream, &log.topic, 0, super::FLOOR_CONSUMER, floor).await;
                let _ = log.broker.delete_records_before(&log.stream, &log.topic, 0, floor).await;
            }
        })
    }
}

/// The queue is deleted: consumers are cancelled (`basic.cancel` to clients that asked for notifications), what it
/// held is released, and the actor does nothing more (it ends when the last address to it is dropped).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Retire;

impl Handler<Retire> for QueueActor {
    type Result = ();

    fn handle(&mut self, _msg: Retire, ctx: &mut Context<Self>) {
        self.retired = true;
        for c in self.consumers.drain(..) {
            let _ = c.events.send(QueueEvent::Cancelled { channel: c.channel, consumer_tag: Arc::clone(&c.tag) });
        }
        for get in self.gets.drain(..) {
            let _ = get.reply.send(None);
        }
        let held: usize = self.outstanding.values().map(|o| o.message.size()).sum();
        self.memory.sub(held);
        self.outstanding.clear();
        self.requeued.clear();
        self.buffer.clear();
        self.ready = false;
        ctx.stop();
    }
}
