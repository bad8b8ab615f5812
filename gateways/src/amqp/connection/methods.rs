//! Dispatch of frames to their handlers: connection-level methods on channel 0, channel open/close/flow, the
//! exchange and queue classes, and the basic and confirm classes (in `basic`). Decides the scope of every error: a
//! soft error closes its channel (`channel.close` with the reply code), a hard one the connection. Checks the
//! permissions of the exchange and queue classes (see `access`) and records their administrative requests in the
//! broker's audit log.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use amq_protocol::protocol::{AMQPClass, access, channel as chan, connection as conn, exchange as ex, queue as qu};
use callboard_actors::BrokerError;
use callboard_protocol::model::Permission;

use super::Connection;
use super::channel::{Channel, ChannelState};
use crate::amqp::frame::{Inbound, put_method};
use crate::amqp::queue::{Purge, Unsubscribe};
use crate::amqp::reply::{AmqpError, ReplyCode, internal};
use crate::amqp::vhost::topic_for;

fn channel_error(text: impl Into<String>) -> AmqpError {
    AmqpError::new(ReplyCode::ChannelError, text)
}

impl Connection {
    /// Handles one frame.
    pub(super) async fn on_frame(&mut self, frame: Inbound) -> Result<(), AmqpError> {
        if self.closing.is_some() {
            match frame {
                Inbound::Method(0, AMQPClass::Connection(conn::AMQPMethod::CloseOk(_))) => self.done = true,
                Inbound::Method(0, AMQPClass::Connection(conn::AMQPMethod::Close(_))) => {
                    put_method(&mut self.out, 0, AMQPClass::Connection(conn::AMQPMethod::CloseOk(conn::CloseOk {})));
                    self.done = true;
                }
                _ => {}
            }
            return Ok(());
        }
        let (channel, method) = match frame {
            Inbound::Heartbeat => return Ok(()),
            Inbound::Method(0, method) => return self.on_connection_method(method).map_err(|e| e.during_ids()),
            Inbound::Method(channel, method) => (channel, method),
            Inbound::Header { channel, class_id, body_size, raw, properties } => {
                return self.on_content_header(channel, class_id, body_size, raw, properties).await;
            }
            Inbound::Body(channel, body) => return self.on_body(channel, body).await,
        };
        let ids = (method.get_amqp_class_id(), method.get_amqp_method_id());
        let state = self.channels.get(&channel).map(|c| (c.state, c.incoming.is_some()));
        match (state, method) {
            (None, AMQPClass::Channel(chan::AMQPMethod::Open(_))) => {
                if channel > self.channel_max {
                    return Err(channel_error(format!("channel {channel} above channel_max {}", self.channel_max)));
                }
                self.channels.insert(channel, Channel::new());
                put_method(&mut self.out, channel, AMQPClass::Channel(chan::AMQPMethod::OpenOk(chan::OpenOk {})));
                Ok(())
            }
            (None, _) => Err(channel_error(format!("expected 'channel.open' on channel {channel}")).with_ids(ids)),
            (Some((ChannelState::Closing, _)), AMQPClass::Channel(chan::AMQPMethod::CloseOk(_))) => {
                self.channels.remove(&channel);
                Ok(())
            }
            (Some((ChannelState::Closing, _)), AMQPClass::Channel(chan::AMQPMethod::Close(_))) => {
                put_method(&mut self.out, channel, AMQPClass::Channel(chan::AMQPMethod::CloseOk(chan::CloseOk {})));
                self.channels.remove(&channel);
                Ok(())
            }
            (Some((ChannelState::Closing, _)), _) => Ok(()),
            (Some((ChannelState::Open, true)), _) => {
                Err(AmqpError::new(ReplyCode::UnexpectedFrame, "expected content header or body").with_ids(ids))
            }
            (Some((ChannelState::Open, false)), method) => match self.on_channel_method(channel, method).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    let e = e.with_ids(ids);
                    if e.code.is_hard() {
                        return Err(e);
                    }
                    self.close_channel(channel, &e).await;
                    Ok(())
                }
            },
        }
    }

    fn on_connection_method(&mut self, method: AMQPClass) -> Result<(), AmqpError> {
        match method {
            AMQPClass::Connection(conn::AMQPMethod::Close(_)) => {
                put_method(&mut self.out, 0, AMQPClass::Connection(conn::AMQPMethod::CloseOk(conn::CloseOk {})));
                self.done = true;
                Ok(())
            }
            AMQPClass::Connection(conn::AMQPMethod::Blocked(_) | conn::AMQPMethod::Unblocked(_)) => Ok(()),
            AMQPClass::Connection(conn::AMQPMethod::UpdateSecret(_)) => {
                Err(AmqpError::new(ReplyCode::NotImplemented, "connection.update-secret is not supported"))
            }
            AMQPClass::Connection(_) => Err(AmqpError::new(ReplyCode::CommandInvalid, "unexpected connection method")),
            other => Err(channel_error(format!(
                "method {}.{} is not allowed on channel 0",
                other.get_amqp_class_id(),
                other.get_amqp_method_id()
            ))),
        }
    }

    /// Closes a channel with an exception: `channel.close` to the client, deliveries requeued, consumers removed.
    pub(super) async fn close_channel(&mut self, channel: u16, error: &AmqpError) {
        self.release_channel(channel).await;
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.state = ChannelState::Closing;
            ch.incoming = None;
        }
        let close = chan::Close {
            reply_code: error.code.code(),
            reply_text: error.reply_text().into(),
            class_id: error.class_id,
            method_id: error.method_id,
        };
        put_method(&mut self.out, channel, AMQPClass::Channel(chan::AMQPMethod::Close(close)));
    }

    /// Requeues a channel's unacknowledged deliveries and removes its consumers (auto-delete queues left without
    /// consumers are deleted).
    pub(super) async fn release_channel(&mut self, channel: u16) {
        let Some(ch) = self.channels.get_mut(&channel) else { return };
        for (_, u) in std::mem::take(&mut ch.unacked) {
            self.settles.entry(u.queue.clone()).or_default().requeue.push(u.offset);
        }
        let consumers: Vec<_> = ch.consumers.drain().map(|(_, c)| c).collect();
        for (queue, settle) in self.settles.drain() {
            queue.do_send(settle);
        }
        for c in consumers {
            self.unsubscribe(c).await;
        }
    }

    /// Removes a consumer from its queue; deletes the queue when it is auto-delete and this was its last consumer.
    pub(super) async fn unsubscribe(&mut self, consumer: super::channel::Consumer) {
        let remaining = consumer.queue.addr.send(Unsubscribe { consumer_id: consumer.id }).await.unwrap_or(1);
        if remaining == 0 && consumer.queue.auto_delete {
            let _ = self.vhost.delete_queue(&consumer.queue.name, false, false, self.id).await;
        }
    }

    /// Releases and forgets a channel.
    pub(super) async fn drop_channel(&mut self, channel: u16) {
        self.release_channel(channel).await;
        self.channels.remove(&channel);
    }

    async fn on_channel_method(&mut self, channel: u16, method: AMQPClass) -> Result<(), AmqpError> {
        let out_ok = |out: &mut Vec<u8>, m: AMQPClass| put_method(out, channel, m);
        match method {
            AMQPClass::Channel(chan::AMQPMethod::Open(_)) => {
                Err(channel_error(format!("channel {channel} is already open")))
            }
            AMQPClass::Channel(chan::AMQPMethod::Close(_)) => {
                self.drop_channel(channel).await;
                out_ok(&mut self.out, AMQPClass::Channel(chan::AMQPMethod::CloseOk(chan::CloseOk {})));
                Ok(())
            }
            AMQPClass::Channel(chan::AMQPMethod::CloseOk(_)) => Ok(()),
            AMQPClass::Channel(chan::AMQPMethod::Flow(flow)) => {
                let queues: Vec<_> = {
                    let ch = self.channels.get(&channel).ok_or_else(|| channel_error("no channel"))?;
                    ch.credit.paused.store(!flow.active, Ordering::Release);
                    ch.consumers.values().map(|c| c.queue.addr.clone()).collect()
                };
                if flow.active {
                    self.kicks.extend(queues);
                }
                let ok = chan::FlowOk { active: flow.active };
                out_ok(&mut self.out, AMQPClass::Channel(chan::AMQPMethod::FlowOk(ok)));
                Ok(())
            }
            AMQPClass::Channel(chan::AMQPMethod::FlowOk(_)) => Ok(()),
            AMQPClass::Channel(_) => Err(AmqpError::new(ReplyCode::CommandInvalid, "unexpected channel method")),
            AMQPClass::Access(access::AMQPMethod::Request(_)) => {
                out_ok(&mut self.out, AMQPClass::Access(access::AMQPMethod::RequestOk(access::RequestOk {})));
                Ok(())
            }
            AMQPClass::Exchange(m) => self.on_exchange(channel, m).await,
            AMQPClass::Queue(m) => self.on_queue(channel, m).await,
            AMQPClass::Basic(m) => self.on_basic(channel, m).await,
            AMQPClass::Confirm(amq_protocol::protocol::confirm::AMQPMethod::Select(s)) => {
                if let Some(ch) = self.channels.get_mut(&channel) {
                    ch.confirm = true;
                }
                if !s.nowait {
                    use amq_protocol::protocol::confirm;
                    out_ok(&mut self.out, AMQPClass::Confirm(confirm::AMQPMethod::SelectOk(confirm::SelectOk {})));
                }
                Ok(())
            }
            AMQPClass::Tx(_) => Err(AmqpError::new(
                ReplyCode::NotImplemented,
                "transactions (tx class) are not supported; use publisher confirms",
            )),
            _ => Err(AmqpError::new(ReplyCode::CommandInvalid, "unexpected method")),
        }
    }

    /// The exchange class: `manage` on the stream for everything but a passive declare; audited.
    async fn on_exchange(&mut self, channel: u16, method: ex::AMQPMethod) -> Result<(), AmqpError> {
        let audit = match &method {
            ex::AMQPMethod::Declare(d) if d.passive => None,
            ex::AMQPMethod::Declare(d) => Some((
                "amqp_exchange_declare",
                format!(
                    "exchange '{}' type {} durable={} auto_delete={}",
                    d.exchange, d.kind, d.durable, d.auto_delete
                ),
            )),
            ex::AMQPMethod::Delete(d) => Some(("amqp_exchange_delete", format!("exchange '{}'", d.exchange))),
            ex::AMQPMethod::Bind(b) => Some((
                "amqp_exchange_bind",
                format!("exchange '{}' to exchange '{}' key '{}'", b.destination, b.source, b.routing_key),
            )),
            ex::AMQPMethod::Unbind(b) => Some((
                "amqp_exchange_unbind",
                format!("exchange '{}' from exchange '{}' key '{}'", b.destination, b.source, b.routing_key),
            )),
            _ => None,
        };
        let result = match &audit {
            Some((_, what)) => self.access.require_stream(Permission::Manage, what),
            None => Ok(()),
        };
        let result = match result {
            Ok(()) => self.exchange_method(channel, method).await,
            Err(e) => Err(e),
        };
        if let Some((action, detail)) = audit {
            self.audit(action, &detail, &result);
        }
        result
    }

    async fn exchange_method(&mut self, channel: u16, method: ex::AMQPMethod) -> Result<(), AmqpError> {
        self.barrier().await;
        let (nowait, reply) = match method {
            ex::AMQPMethod::Declare(d) => {
                self.vhost.declare_exchange(&d).await?;
                (d.nowait, ex::AMQPMethod::DeclareOk(ex::DeclareOk {}))
            }
            ex::AMQPMethod::Delete(d) => {
                self.vhost.delete_exchange(d.exchange.as_str(), d.if_unused).await?;
                (d.nowait, ex::AMQPMethod::DeleteOk(ex::DeleteOk {}))
            }
            ex::AMQPMethod::Bind(b) => {
                self.vhost.bind_exchange(&b).await?;
                (b.nowait, ex::AMQPMethod::BindOk(ex::BindOk {}))
            }
            ex::AMQPMethod::Unbind(b) => {
                self.vhost.unbind_exchange(&b).await?;
                (b.nowait, ex::AMQPMethod::UnbindOk(ex::UnbindOk {}))
            }
            _ => return Err(AmqpError::new(ReplyCode::CommandInvalid, "unexpected exchange method")),
        };
        if !nowait {
            put_method(&mut self.out, channel, AMQPClass::Exchange(reply));
        }
        Ok(())
    }

    /// Records an administrative request of this connection's user in the broker's audit log.
    fn audit(&self, action: &str, detail: &str, result: &Result<(), AmqpError>) {
        let detail = format!("vhost '{}' {detail}", self.vhost.stream);
        let failure = result.as_ref().err().map(|e| match e.code {
            ReplyCode::AccessRefused => BrokerError::Forbidden(e.text.clone()),
            _ => BrokerError::InvalidConfig(e.to_string()),
        });
        self.shared.broker.audit_request(
            self.access.principal(),
            action,
            &detail,
            failure.as_ref().map_or(Ok(()), Err),
        );
    }

    /// What `method` needs (checked before it runs) and, for administrative ones, how the audit log names it.
    fn queue_rights(&self, channel: u16, method: &qu::AMQPMethod) -> Result<Option<(&'static str, String)>, AmqpError> {
        let on_queue = |name: &str| -> Result<String, AmqpError> {
            let name = self.queue_name(channel, name)?;
            self.access.require_queue(Permission::Manage, &name, &topic_for(&name))?;
            Ok(name)
        };
        Ok(match method {
            qu::AMQPMethod::Declare(d) if d.passive => {
                let name = self.queue_name(channel, d.queue.as_str())?;
                self.access.require_any(&name, &topic_for(&name))?;
                None
            }
            qu::AMQPMethod::Declare(d) => {
                let name = d.queue.as_str();
                let what = if name.is_empty() { "server-named queues".to_string() } else { format!("queue '{name}'") };
                if name.is_empty() {
                    self.access.require_stream(Permission::Manage, &what)?;
                } else {
                    self.access.require_queue(Permission::Manage, name, &topic_for(name))?;
                }
                // Its dead letters may be routed to any queue of the virtual host.
                if let Some(dlx) = d.arguments.inner().get("x-dead-letter-exchange") {
                    self.access.require_stream(Permission::Write, &format!("dead-letter exchange {dlx:?}"))?;
                }
                let detail =
                    format!("{what} durable={} exclusive={} auto_delete={}", d.durable, d.exclusive, d.auto_delete);
                Some(("amqp_queue_declare", detail))
            }
            qu::AMQPMethod::Bind(b) => {
                let name = on_queue(b.queue.as_str())?;
                Some((
                    "amqp_queue_bind",
                    format!("queue '{name}' to exchange '{}' key '{}'", b.exchange, b.routing_key),
                ))
            }
            qu::AMQPMethod::Unbind(b) => {
                let name = on_queue(b.queue.as_str())?;
                let detail = format!("queue '{name}' from exchange '{}' key '{}'", b.exchange, b.routing_key);
                Some(("amqp_queue_unbind", detail))
            }
            qu::AMQPMethod::Purge(p) => Some(("amqp_queue_purge", format!("queue '{}'", on_queue(p.queue.as_str())?))),
            qu::AMQPMethod::Delete(d) => {
                Some(("amqp_queue_delete", format!("queue '{}'", on_queue(d.queue.as_str())?)))
            }
            _ => None,
        })
    }

    /// The queue a method names; an empty name means the channel's last declared queue.
    pub(super) fn queue_name(&self, channel: u16, name: &str) -> Result<String, AmqpError> {
        if !name.is_empty() {
            return Ok(name.to_string());
        }
        self.channels
            .get(&channel)
            .and_then(|c| c.last_queue.clone())
            .ok_or_else(|| AmqpError::new(ReplyCode::NotFound, "no previously declared queue"))
    }

    /// The queue class: `manage` on the queue (any permission for a passive declare); audited.
    async fn on_queue(&mut self, channel: u16, method: qu::AMQPMethod) -> Result<(), AmqpError> {
        let audit = match self.queue_rights(channel, &method) {
            Ok(audit) => audit,
            Err(e) => {
                // A refused administrative request is audited too (a refused passive declare is not one).
                if !matches!(&method, qu::AMQPMethod::Declare(d) if d.passive) {
                    self.audit(queue_action(&method), &format!("queue '{}'", queue_of(&method)), &Err(e.clone()));
                }
                return Err(e);
            }
        };
        let result = self.queue_method(channel, method).await;
        if let Some((action, detail)) = audit {
            self.audit(action, &detail, &result);
        }
        result
    }

    async fn queue_method(&mut self, channel: u16, method: qu::AMQPMethod) -> Result<(), AmqpError> {
        self.barrier().await;
        let vhost = Arc::clone(&self.vhost);
        let (nowait, reply) = match method {
            qu::AMQPMethod::Declare(d) => {
                let (name, messages, consumers) = vhost.declare_queue(&d, self.id).await?;
                if let Some(ch) = self.channels.get_mut(&channel) {
                    ch.last_queue = Some(name.clone());
                }
                let ok = qu::DeclareOk { queue: name.into(), message_count: messages, consumer_count: consumers };
                (d.nowait, qu::AMQPMethod::DeclareOk(ok))
            }
            qu::AMQPMethod::Bind(mut b) => {
                b.queue = self.queue_name(channel, b.queue.as_str())?.into();
                vhost.bind_queue(&b, self.id).await?;
                (b.nowait, qu::AMQPMethod::BindOk(qu::BindOk {}))
            }
            qu::AMQPMethod::Unbind(mut b) => {
                b.queue = self.queue_name(channel, b.queue.as_str())?.into();
                vhost.unbind_queue(&b, self.id).await?;
                (false, qu::AMQPMethod::UnbindOk(qu::UnbindOk {}))
            }
            qu::AMQPMethod::Purge(p) => {
                let name = self.queue_name(channel, p.queue.as_str())?;
                let q = vhost.queue(&name, self.id)?;
                let count = q.addr.send(Purge).await.map_err(internal)?;
                (p.nowait, qu::AMQPMethod::PurgeOk(qu::PurgeOk { message_count: count }))
            }
            qu::AMQPMethod::Delete(d) => {
                let name = self.queue_name(channel, d.queue.as_str())?;
                let count = vhost.delete_queue(&name, d.if_unused, d.if_empty, self.id).await?;
                (d.nowait, qu::AMQPMethod::DeleteOk(qu::DeleteOk { message_count: count }))
            }
            _ => return Err(AmqpError::new(ReplyCode::CommandInvalid, "unexpected queue method")),
        };
        if !nowait {
            put_method(&mut self.out, channel, AMQPClass::Queue(reply));
        }
        Ok(())
    }
}

/// How the audit log names a queue method.
fn queue_action(method: &qu::AMQPMethod) -> &'static str {
    match method {
        qu::AMQPMethod::Declare(_) => "amqp_queue_declare",
        qu::AMQPMethod::Bind(_) => "amqp_queue_bind",
        qu::AMQPMethod::Unbind(_) => "amqp_queue_unbind",
        qu::AMQPMethod::Purge(_) => "amqp_queue_purge",
        qu::AMQPMethod::Delete(_) => "amqp_queue_delete",
        _ => "amqp_queue",
    }
}

/// The queue a queue method names (empty: the channel's last declared, or server-named).
fn queue_of(method: &qu::AMQPMethod) -> &str {
    match method {
        qu::AMQPMethod::Declare(d) => d.queue.as_str(),
        qu::AMQPMethod::Bind(b) => b.queue.as_str(),
        qu::AMQPMethod::Unbind(b) => b.queue.as_str(),
        qu::AMQPMethod::Purge(p) => p.queue.as_str(),
        qu::AMQPMethod::Delete(d) => d.queue.as_str(),
        _ => "",
    }
}
