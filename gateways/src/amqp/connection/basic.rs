//! The basic class: publish (assembling method, header and body frames; mandatory returns), consume and cancel,
//! get, ack / nack / reject (single or multiple, requeue), qos (per consumer or per channel) and recover; and what
//! queue actors send back: deliveries and broker-side cancels. Publisher confirms are written here too.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use amq_protocol::protocol::AMQPClass;
use amq_protocol::protocol::basic::{self as b, AMQPProperties};
use bytes::{Bytes, BytesMut};
use callboard_protocol::model::Permission;
use tracing::debug;

use super::Connection;
use super::channel::{ChannelState, Consumer, Incoming, Unacked};
use super::publish::Confirmed;
use crate::amqp::frame::{put_content, put_method};
use crate::amqp::message::QueuedMessage;
use crate::amqp::queue::{ConsumerHandle, Credit, DEFAULT_MAX_UNACKED, Get, NO_ACK_WINDOW, QueueEvent, Subscribe};
use crate::amqp::reply::{AmqpError, ReplyCode, internal, precondition};
use crate::amqp::vhost::topic_for;

/// Writes a publisher confirm.
pub(super) fn put_confirm(out: &mut Vec<u8>, c: Confirmed) {
    let multiple = c.last > c.first;
    let method = if c.ok {
        b::AMQPMethod::Ack(b::Ack { delivery_tag: c.last, multiple })
    } else {
        b::AMQPMethod::Nack(b::Nack { delivery_tag: c.last, multiple, requeue: false })
    };
    put_method(out, c.channel, AMQPClass::Basic(method));
}

impl Connection {
    pub(super) async fn on_basic(&mut self, channel: u16, method: b::AMQPMethod) -> Result<(), AmqpError> {
        match method {
            b::AMQPMethod::Publish(p) => {
                if p.immediate {
                    return Err(AmqpError::new(ReplyCode::NotImplemented, "immediate=true is not supported"));
                }
                if let Some(ch) = self.channels.get_mut(&channel) {
                    ch.incoming = Some(Incoming { publish: p, header: None, body: BytesMut::new() });
                }
                Ok(())
            }
            b::AMQPMethod::Ack(a) => self.settle(channel, a.delivery_tag, a.multiple, Disposition::Ack),
            b::AMQPMethod::Nack(n) => {
                let d = if n.requeue { Disposition::Requeue } else { Disposition::Discard };
                self.settle(channel, n.delivery_tag, n.multiple, d)
            }
            b::AMQPMethod::Reject(r) => {
                let d = if r.requeue { Disposition::Requeue } else { Disposition::Discard };
                self.settle(channel, r.delivery_tag, false, d)
            }
            b::AMQPMethod::Qos(q) => {
                let ch = self.channels.get_mut(&channel).ok_or_else(|| internal("channel vanished"))?;
                if q.global {
                    ch.credit.limit.store(u32::from(q.prefetch_count), Ordering::Release);
                    let queues: Vec<_> = ch.consumers.values().map(|c| c.queue.addr.clone()).collect();
                    self.kicks.extend(queues);
                } else {
                    ch.prefetch = q.prefetch_count;
                }
                put_method(&mut self.out, channel, AMQPClass::Basic(b::AMQPMethod::QosOk(b::QosOk {})));
                Ok(())
            }
            b::AMQPMethod::Consume(c) => self.consume(channel, c).await,
            b::AMQPMethod::Cancel(c) => {
                let consumer =
                    self.channels.get_mut(&channel).and_then(|ch| ch.consumers.remove(c.consumer_tag.as_str()));
                if let Some(consumer) = consumer {
                    self.unsubscribe(consumer).await;
                }
                if !c.nowait {
                    let ok = b::CancelOk { consumer_tag: c.consumer_tag };
                    put_method(&mut self.out, channel, AMQPClass::Basic(b::AMQPMethod::CancelOk(ok)));
                }
                Ok(())
            }
            b::AMQPMethod::Get(g) => self.get(channel, g).await,
            b::AMQPMethod::Recover(r) => {
                self.recover(channel);
                let _ = r.requeue;
                put_method(&mut self.out, channel, AMQPClass::Basic(b::AMQPMethod::RecoverOk(b::RecoverOk {})));
                Ok(())
            }
            b::AMQPMethod::RecoverAsync(_) => {
                self.recover(channel);
                Ok(())
            }
            _ => Err(AmqpError::new(ReplyCode::CommandInvalid, "unexpected basic method")),
        }
    }

    /// `basic.recover`: every unacknowledged delivery of the channel is requeued (and redelivered).
    fn recover(&mut self, channel: u16) {
        let Some(ch) = self.channels.get_mut(&channel) else { return };
        for (_, u) in std::mem::take(&mut ch.unacked) {
            give_credit(&ch.credit, u.credit.as_ref());
            self.settles.entry(u.queue.clone()).or_default().requeue.push(u.offset);
        }
    }

    fn settle(&mut self, channel: u16, tag: u64, multiple: bool, how: Disposition) -> Result<(), AmqpError> {
        let ch = self.channels.get_mut(&channel).ok_or_else(|| internal("channel vanished"))?;
        let taken =
            ch.take_unacked(tag, multiple).ok_or_else(|| precondition(format!("unknown delivery tag {tag}")))?;
        let channel_was_full = !ch.credit.has_room();
        for u in taken {
            give_credit(&ch.credit, u.credit.as_ref());
            let settle = self.settles.entry(u.queue.clone()).or_default();
            match how {
                Disposition::Ack => settle.ack.push(u.offset),
                Disposition::Requeue => settle.requeue.push(u.offset),
                Disposition::Discard => settle.discard.push(u.offset),
            }
        }
        if channel_was_full {
            let queues: Vec<_> = ch.consumers.values().map(|c| c.queue.addr.clone()).collect();
            self.kicks.extend(queues);
        }
        Ok(())
    }

    async fn consume(&mut self, channel: u16, c: b::Consume) -> Result<(), AmqpError> {
        let name = self.queue_name(channel, c.queue.as_str())?;
        self.access.require_queue(Permission::Read, &name, &topic_for(&name))?;
        let queue = self.vhost.queue(&name, self.id)?;
        let tag = if c.consumer_tag.as_str().is_empty() {
            format!("amq.ctag-{}-{}", self.id, self.shared.next_id())
        } else {
            c.consumer_tag.to_string()
        };
        let ch = self.channels.get(&channel).ok_or_else(|| internal("channel vanished"))?;
        if ch.consumers.contains_key(&tag) {
            return Err(AmqpError::new(ReplyCode::NotAllowed, format!("attempt to reuse consumer tag '{tag}'")));
        }
        let limit = match (c.no_ack, ch.prefetch) {
            (true, _) => NO_ACK_WINDOW,
            (false, 0) => DEFAULT_MAX_UNACKED,
            (false, n) => u32::from(n),
        };
        let credit = Credit::with_limit(limit);
        let handle = ConsumerHandle {
            id: self.shared.next_id(),
            tag: Arc::from(tag.as_str()),
            channel,
            no_ack: c.no_ack,
            exclusive: c.exclusive,
            credit: Arc::clone(&credit),
            channel_credit: Arc::clone(&ch.credit),
            events: self.events.clone(),
        };
        let id = handle.id;
        queue.addr.send(Subscribe(handle)).await.map_err(internal)??;
        if !c.nowait {
            let ok = b::ConsumeOk { consumer_tag: tag.clone().into() };
            put_method(&mut self.out, channel, AMQPClass::Basic(b::AMQPMethod::ConsumeOk(ok)));
        }
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.consumers.insert(tag, Consumer { id, queue, no_ack: c.no_ack, credit });
        }
        Ok(())
    }

    async fn get(&mut self, channel: u16, g: b::Get) -> Result<(), AmqpError> {
        self.barrier().await;
        let name = self.queue_name(channel, g.queue.as_str())?;
        self.access.require_queue(Permission::Read, &name, &topic_for(&name))?;
        let queue = self.vhost.queue(&name, self.id)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        queue.addr.send(Get { no_ack: g.no_ack, reply: tx }).await.map_err(internal)?;
        let got = rx.await.map_err(internal)?;
        let Some(got) = got else {
            put_method(&mut self.out, channel, AMQPClass::Basic(b::AMQPMethod::GetEmpty(b::GetEmpty {})));
            return Ok(());
        };
        let ch = self.channels.get_mut(&channel).ok_or_else(|| internal("channel vanished"))?;
        ch.delivery_tag += 1;
        let tag = ch.delivery_tag;
        if !g.no_ack {
            ch.unacked.insert(tag, Unacked { queue: queue.addr.clone(), offset: got.offset, credit: None });
        }
        let ok = b::GetOk {
            delivery_tag: tag,
            redelivered: got.redelivered,
            exchange: got.message.exchange.as_str().into(),
            routing_key: got.message.routing_key.as_str().into(),
            message_count: got.remaining,
        };
        put_method(&mut self.out, channel, AMQPClass::Basic(b::AMQPMethod::GetOk(ok)));
        put_content(&mut self.out, channel, &got.message.properties, &got.message.body, self.frame_max);
        Ok(())
    }

    pub(super) async fn on_content_header(
        &mut self,
        channel: u16,
        class_id: u16,
        body_size: u64,
        raw: Bytes,
        properties: Box<AMQPProperties>,
    ) -> Result<(), AmqpError> {
        let max = self.shared.config.max_message_bytes;
        let Some(ch) = self.channels.get_mut(&channel) else {
            return Err(AmqpError::new(ReplyCode::ChannelError, format!("content on unopened channel {channel}")));
        };
        if ch.state == ChannelState::Closing {
            return Ok(());
        }
        let Some(incoming) = ch.incoming.as_mut().filter(|i| i.header.is_none()) else {
            return Err(AmqpError::new(ReplyCode::UnexpectedFrame, "content header without basic.publish"));
        };
        if class_id != 60 {
            return Err(AmqpError::new(ReplyCode::FrameError, format!("content header of class {class_id}")));
        }
        if body_size > max {
            let e =
                precondition(format!("message size {body_size} is larger than the maximum {max}")).with_ids((60, 40));
            self.close_channel(channel, &e).await;
            return Ok(());
        }
        incoming.header = Some((body_size, raw, properties));
        incoming.body.reserve(body_size as usize);
        if body_size == 0 {
            return self.complete_publish(channel).await;
        }
        Ok(())
    }

    pub(super) async fn on_body(&mut self, channel: u16, body: Bytes) -> Result<(), AmqpError> {
        let Some(ch) = self.channels.get_mut(&channel) else {
            return Err(AmqpError::new(ReplyCode::ChannelError, format!("content on unopened channel {channel}")));
        };
        if ch.state == ChannelState::Closing {
            return Ok(());
        }
        let Some(incoming) = ch.incoming.as_mut().filter(|i| i.header.is_some()) else {
            return Err(AmqpError::new(ReplyCode::UnexpectedFrame, "content body without header"));
        };
        let size = incoming.header.as_ref().map_or(0, |h| h.0);
        if (incoming.body.len() + body.len()) as u64 > size {
            return Err(AmqpError::new(ReplyCode::FrameError, "content body larger than announced"));
        }
        incoming.body.extend_from_slice(&body);
        if incoming.body.len() as u64 == size {
            return self.complete_publish(channel).await;
        }
        Ok(())
    }

    /// A whole message was received: route it, return it when mandatory and unroutable, batch it for its queues.
    async fn complete_publish(&mut self, channel: u16) -> Result<(), AmqpError> {
        let Some(ch) = self.channels.get_mut(&channel) else { return Ok(()) };
        let Some(Incoming { publish, header: Some((_, raw, properties)), body }) = ch.incoming.take() else {
            return Ok(());
        };
        self.published = true;
        let confirm = if ch.confirm {
            ch.publish_tag += 1;
            Some((channel, ch.publish_tag))
        } else {
            None
        };
        let exchange = publish.exchange.as_str();
        let routed = self.vhost.route(exchange, publish.routing_key.as_str(), properties.headers().as_ref());
        let checked = routed.and_then(|queues| {
            // `write` on every queue the message goes to (cached rules: no lookup unless the stream has topic grants).
            for q in &queues {
                self.access.require_queue(Permission::Write, &q.name, &q.topic)?;
            }
            Ok(queues)
        });
        let queues = match checked {
            Ok(q) => q,
            Err(e) => {
                let e = e.with_ids((60, 40));
                self.close_channel(channel, &e).await;
                return Ok(());
            }
        };
        let message = Arc::new(QueuedMessage {
            exchange: exchange.to_string(),
            routing_key: publish.routing_key.to_string(),
            properties: raw,
            body: body.freeze(),
            timestamp_ms: now_ms(),
        });
        if queues.is_empty() && publish.mandatory {
            let ret = b::Return {
                reply_code: ReplyCode::NoRoute.code(),
                reply_text: "NO_ROUTE".into(),
                exchange: publish.exchange.clone(),
                routing_key: publish.routing_key.clone(),
            };
            put_method(&mut self.out, channel, AMQPClass::Basic(b::AMQPMethod::Return(ret)));
            put_content(&mut self.out, channel, &message.properties, &message.body, self.frame_max);
        }
        if self.batch.add(queues, message, confirm) {
            self.flush_publishes().await;
        }
        Ok(())
    }

    /// Cancels every consumer on a queue the user may no longer read (its grant was revoked): `basic.cancel` to the
    /// client, as when the queue is deleted; its unacknowledged deliveries stay on the channel until settled.
    pub(super) async fn cancel_unreadable(&mut self) {
        let mut gone = Vec::new();
        for (&channel, ch) in &mut self.channels {
            if ch.state != ChannelState::Open {
                continue;
            }
            let tags: Vec<String> = ch
                .consumers
                .iter()
                .filter(|(_, c)| !self.access.allows(Permission::Read, &c.queue.topic))
                .map(|(tag, _)| tag.clone())
                .collect();
            for tag in tags {
                if let Some(consumer) = ch.consumers.remove(&tag) {
                    gone.push((channel, tag, consumer));
                }
            }
        }
        for (channel, tag, consumer) in gone {
            debug!(id = self.id, queue = %consumer.queue.name, "read access revoked; cancelling the AMQP consumer");
            self.unsubscribe(consumer).await;
            let cancel = b::Cancel { consumer_tag: tag.into(), nowait: true };
            put_method(&mut self.out, channel, AMQPClass::Basic(b::AMQPMethod::Cancel(cancel)));
        }
    }

    /// A queue actor's event.
    pub(super) fn on_queue_event(&mut self, event: QueueEvent) {
        match event {
            QueueEvent::Deliver(d) => {
                let consumer = self
                    .channels
                    .get_mut(&d.channel)
                    .filter(|ch| ch.state == ChannelState::Open && self.closing.is_none())
                    .and_then(|ch| {
                        let c = ch.consumers.get(d.consumer_tag.as_ref()).filter(|c| c.id == d.consumer_id)?;
                        let (no_ack, credit) = (c.no_ack, Arc::clone(&c.credit));
                        ch.delivery_tag += 1;
                        Some((ch, no_ack, credit))
                    });
                let Some((ch, no_ack, credit)) = consumer else {
                    // The consumer is gone: the message goes back to its queue.
                    self.settles.entry(d.queue.clone()).or_default().requeue.push(d.offset);
                    return;
                };
                let tag = ch.delivery_tag;
                if no_ack {
                    if credit.give(1) {
                        self.kicks.push(d.queue.clone());
                    }
                } else {
                    ch.unacked.insert(tag, Unacked { queue: d.queue.clone(), offset: d.offset, credit: Some(credit) });
                }
                let deliver = b::Deliver {
                    consumer_tag: d.consumer_tag.as_ref().into(),
                    delivery_tag: tag,
                    redelivered: d.redelivered,
                    exchange: d.message.exchange.as_str().into(),
                    routing_key: d.message.routing_key.as_str().into(),
                };
                put_method(&mut self.out, d.channel, AMQPClass::Basic(b::AMQPMethod::Deliver(deliver)));
                put_content(&mut self.out, d.channel, &d.message.properties, &d.message.body, self.frame_max);
            }
            QueueEvent::Cancelled { channel, consumer_tag } => {
                let removed = self.channels.get_mut(&channel).and_then(|ch| ch.consumers.remove(consumer_tag.as_ref()));
                if removed.is_some() && self.closing.is_none() {
                    let cancel = b::Cancel { consumer_tag: consumer_tag.as_ref().into(), nowait: true };
                    put_method(&mut self.out, channel, AMQPClass::Basic(b::AMQPMethod::Cancel(cancel)));
                }
            }
        }
    }
}

/// What a settlement does.
#[derive(Debug, Clone, Copy)]
enum Disposition {
    Ack,
    Requeue,
    Discard,
}

fn give_credit(channel: &Credit, consumer: Option<&Arc<Credit>>) {
    if let Some(c) = consumer {
        c.give(1);
        channel.give(1);
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}
