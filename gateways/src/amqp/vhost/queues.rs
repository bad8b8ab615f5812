//! Queues of a [`VHost`]: loading the persisted ones (and removing the logs of non-durable queues of an earlier run),
//! declare, bind, unbind, delete, and the exclusive queues a closing connection leaves. Each queue is a one-partition
//! topic named `$amqp.q.<name>` in the virtual host's stream (the `$` prefix is reserved, so it never clashes with a
//! user's topic), with a supervised [`QueueActor`] owning its delivery state.

use std::sync::Arc;

use actix::{Addr, Supervisor};
use amq_protocol::protocol::queue as qu;
use amq_protocol::types::{AMQPValue, FieldTable};
use callboard_actors::{BrokerError, DurabilityPolicy, TopicConfig};
use tracing::{info, warn};

use super::exchange::{Binding, Destination, Exchange};
use super::{BUILTIN, State, VHost, store};
use crate::amqp::queue::{DeadLetters, QueueActor, QueueLimits, QueueLog, Retire, Stats};
use crate::amqp::reply::{AmqpError, ReplyCode, access_refused, internal, not_found, precondition};
use crate::amqp::shared::Shared;

/// Prefix of the topics holding queues.
const TOPIC_PREFIX: &str = "$amqp.q.";

/// A queue.
#[derive(Debug)]
pub struct QueueEntry {
    /// Name.
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// Survives a restart.
    pub durable: bool,
    /// The connection owning an exclusive queue.
    pub exclusive: Option<u64>,
    /// Deleted when its last consumer goes.
    pub auto_delete: bool,
    /// Declared arguments.
    pub arguments: FieldTable,
    /// Its actor.
    pub addr: Addr<QueueActor>,
}

/// The topic of a queue: the name after the prefix when it is a valid topic name, otherwise a cleaned-up name with
/// a hash of the real one.
pub fn topic_for(queue: &str) -> String {
    let plain = format!("{TOPIC_PREFIX}{queue}");
    if callboard_actors::validate_internal_name(&plain).is_ok() && plain.len() <= 200 {
        return plain;
    }
    let clean: String = queue.chars().filter(|c| !c.is_control() && *c != '/').take(100).collect();
    format!("{TOPIC_PREFIX}{clean}~{:08x}{:08x}", crc32c::crc32c(queue.as_bytes()), queue.len())
}

fn topic_config(durable: bool) -> TopicConfig {
    TopicConfig {
        partitions: 1,
        durability: if durable { DurabilityPolicy::Always } else { DurabilityPolicy::Never },
        max_message_bytes: 64 << 20,
        ..TopicConfig::default()
    }
}

/// Checks the `x-` arguments a queue understands; others are accepted as they are.
fn check_arguments(args: &FieldTable) -> Result<(), AmqpError> {
    let has = |key: &str| args.inner().contains_key(key);
    if has("x-dead-letter-routing-key") && !has("x-dead-letter-exchange") {
        return Err(precondition("Key x-dead-letter-routing-key should be accompanied by x-dead-letter-exchange"));
    }
    for (key, value) in args.inner() {
        let non_negative_int = match value {
            AMQPValue::ShortShortInt(v) => i64::from(*v) >= 0,
            AMQPValue::ShortShortUInt(_) | AMQPValue::ShortUInt(_) | AMQPValue::LongUInt(_) => true,
            AMQPValue::ShortInt(v) => *v >= 0,
            AMQPValue::LongInt(v) => *v >= 0,
            AMQPValue::LongLongInt(v) => *v >= 0,
            _ => false,
        };
        match key.as_str() {
            "x-message-ttl" | "x-max-length" | "x-expires" | "x-max-length-bytes" if !non_negative_int => {
                return Err(precondition(format!("invalid arg '{key}' for queue: {value:?}")));
            }
            "x-dead-letter-exchange" | "x-dead-letter-routing-key"
                if !matches!(value, AMQPValue::LongString(_) | AMQPValue::ShortString(_)) =>
            {
                return Err(precondition(format!("invalid arg '{key}' for queue: {value:?}")));
            }
            _ => {}
        }
    }
    Ok(())
}

impl VHost {
    /// Loads the virtual host of `stream`: built-in exchanges, persisted exchanges, queues and bindings; removes the
    /// topics of queues that were not durable.
    pub async fn load(shared: Arc<Shared>, stream: String) -> Result<VHost, AmqpError> {
        let path = store::path(shared.broker.data_dir(), &stream);
        let stored = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || store::load(&path)).await.map_err(internal)?.map_err(internal)?
        };
        let mut state = State::default();
        for (name, kind) in BUILTIN {
            state.exchanges.insert(name.into(), Exchange::builtin(name, kind));
        }
        for x in stored.exchanges {
            state.exchanges.insert(x.name.clone(), x);
        }
        let vhost = VHost {
            stream: stream.clone(),
            shared: Arc::clone(&shared),
            admin: Default::default(),
            state: std::sync::RwLock::new(state),
            path,
        };
        let keep: Vec<String> = stored.queues.iter().map(|q| q.topic.clone()).collect();
        for t in shared.broker.topics(&stream).await.map_err(internal)? {
            if t.name.starts_with(TOPIC_PREFIX) && !keep.contains(&t.name) {
                info!(stream = %stream, topic = %t.name, "removing the log of a non-durable AMQP queue");
                if let Err(e) = shared.broker.delete_topic(&stream, &t.name).await {
                    warn!(topic = %t.name, error = %e, "could not remove a stale AMQP queue log");
                }
            }
        }
        for q in stored.queues {
            vhost.ensure_topic(&q.topic, true).await?;
            let addr = vhost.start_actor(&q.name, &q.topic, &q.arguments);
            let entry = QueueEntry {
                name: q.name.clone(),
                topic: q.topic,
                durable: true,
                exclusive: None,
                auto_delete: q.auto_delete,
                arguments: q.arguments,
                addr,
            };
            vhost.write().queues.insert(q.name, Arc::new(entry));
        }
        {
            let mut state = vhost.write();
            for b in stored.bindings {
                if let Some(x) = state.exchanges.get_mut(&b.source)
                    && !x.bindings.contains(&b.binding)
                {
                    x.bindings.push(b.binding);
                }
            }
        }
        Ok(vhost)
    }

    async fn ensure_topic(&self, topic: &str, durable: bool) -> Result<(), AmqpError> {
        let broker = &self.shared.broker;
        match broker.create_internal_topic(&self.stream, topic, topic_config(durable)).await {
            Ok(_) => Ok(()),
            Err(BrokerError::TopicExists { .. }) if durable => Ok(()),
            Err(BrokerError::TopicExists { .. }) => {
                broker.delete_topic(&self.stream, topic).await.map_err(internal)?;
                broker.create_internal_topic(&self.stream, topic, topic_config(durable)).await.map_err(internal)?;
                Ok(())
            }
            Err(e) => Err(internal(e)),
        }
    }

    fn start_actor(&self, name: &str, topic: &str, arguments: &FieldTable) -> Addr<QueueActor> {
        let log = QueueLog { broker: self.shared.broker.clone(), stream: self.stream.clone(), topic: topic.into() };
        let (name, memory) = (name.to_string(), Arc::clone(&self.shared.memory));
        let limits = QueueLimits::from_arguments(arguments);
        let dead = DeadLetters::new(Arc::downgrade(&self.shared), self.stream.clone(), arguments);
        Supervisor::start_in_arbiter(&self.shared.arbiter, move |_| QueueActor::new(name, log, memory, limits, dead))
    }

    /// `queue.declare`; answers the name (server-named when empty), ready messages and consumers.
    pub async fn declare_queue(&self, d: &qu::Declare, connection: u64) -> Result<(String, u32, u32), AmqpError> {
        let _admin = self.admin.lock().await;
        let name =
            if d.queue.as_str().is_empty() && !d.passive { server_name(&self.shared) } else { d.queue.to_string() };
        let existing = self.read().queues.get(&name).cloned();
        if let Some(q) = existing {
            if q.exclusive.is_some_and(|owner| owner != connection) {
                return Err(AmqpError::new(
                    ReplyCode::ResourceLocked,
                    format!("cannot obtain exclusive access to locked queue '{name}'"),
                ));
            }
            if !d.passive {
                if q.durable != d.durable {
                    return Err(precondition(format!("inequivalent arg 'durable' for queue '{name}'")));
                }
                if q.exclusive.is_some() != d.exclusive {
                    return Err(precondition(format!("inequivalent arg 'exclusive' for queue '{name}'")));
                }
                if q.auto_delete != d.auto_delete {
                    return Err(precondition(format!("inequivalent arg 'auto_delete' for queue '{name}'")));
                }
            }
            let (messages, consumers) = q.addr.send(Stats).await.map_err(internal)?;
            return Ok((name, messages, consumers));
        }
        if d.passive {
            return Err(not_found(format!("no queue '{name}' in vhost")));
        }
        if name.starts_with("amq.") && !d.queue.as_str().is_empty() {
            return Err(access_refused(format!("queue name '{name}' contains reserved prefix 'amq.'")));
        }
        check_arguments(&d.arguments)?;
        let topic = topic_for(&name);
        self.ensure_topic(&topic, d.durable).await?;
        let addr = self.start_actor(&name, &topic, &d.arguments);
        let entry = QueueEntry {
            name: name.clone(),
            topic,
            durable: d.durable,
            exclusive: d.exclusive.then_some(connection),
            auto_delete: d.auto_delete,
            arguments: d.arguments.clone(),
            addr,
        };
        self.write().queues.insert(name.clone(), Arc::new(entry));
        // Every queue is bound to the default exchange by its name (routing handles that directly).
        if d.durable {
            self.persist().await?;
        }
        Ok((name, 0, 0))
    }

    /// `queue.bind`.
    pub async fn bind_queue(&self, b: &qu::Bind, connection: u64) -> Result<(), AmqpError> {
        let _admin = self.admin.lock().await;
        self.queue(b.queue.as_str(), connection)?;
        let binding = queue_binding(b.queue.as_str(), b.routing_key.as_str(), &b.arguments);
        self.add_binding(b.exchange.as_str(), binding)?;
        self.persist().await
    }

    /// `queue.unbind`.
    pub async fn unbind_queue(&self, b: &qu::Unbind, connection: u64) -> Result<(), AmqpError> {
        let _admin = self.admin.lock().await;
        self.queue(b.queue.as_str(), connection)?;
        let binding = queue_binding(b.queue.as_str(), b.routing_key.as_str(), &b.arguments);
        self.remove_binding(b.exchange.as_str(), &binding)?;
        self.persist().await
    }

    /// `queue.delete` (and auto-delete, exclusive cleanup); answers the messages it held.
    pub async fn delete_queue(
        &self,
        name: &str,
        if_unused: bool,
        if_empty: bool,
        connection: u64,
    ) -> Result<u32, AmqpError> {
        let _admin = self.admin.lock().await;
        let q = self.queue(name, connection)?;
        let (messages, consumers) = q.addr.send(Stats).await.map_err(internal)?;
        if if_unused && consumers > 0 {
            return Err(precondition(format!("queue '{name}' in use")));
        }
        if if_empty && messages > 0 {
            return Err(precondition(format!("queue '{name}' not empty")));
        }
        {
            let mut state = self.write();
            state.queues.remove(name);
            for x in state.exchanges.values_mut() {
                x.bindings.retain(|b| b.destination != Destination::Queue(name.into()));
            }
            VHost::drop_unused_auto_delete(&mut state);
        }
        q.addr.do_send(Retire);
        if let Err(e) = self.shared.broker.delete_topic(&self.stream, &q.topic).await {
            warn!(queue = %name, error = %e, "could not delete an AMQP queue's log");
        }
        self.persist().await?;
        Ok(messages)
    }

    /// Deletes the exclusive queues of a closed connection.
    pub async fn connection_closed(&self, connection: u64) {
        let mine: Vec<String> =
            self.read().queues.values().filter(|q| q.exclusive == Some(connection)).map(|q| q.name.clone()).collect();
        for name in mine {
            if let Err(e) = self.delete_queue(&name, false, false, connection).await {
                warn!(queue = %name, error = %e, "could not delete an exclusive queue");
            }
        }
    }
}

/// A server-generated queue name: `amq.gen-` and 22 URL-safe characters.
fn server_name(shared: &Shared) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(shared.next_id());
    let (a, b) = (h.finish(), std::collections::hash_map::RandomState::new().build_hasher().finish());
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits = (u128::from(a) << 64) | u128::from(b);
    let name: String = (0..22).map(|i| alphabet[((bits >> (i * 6)) & 63) as usize] as char).collect();
    format!("amq.gen-{name}")
}

/// The binding of a queue to an exchange, as `queue.bind` and `queue.unbind` name it.
fn queue_binding(queue: &str, routing_key: &str, arguments: &FieldTable) -> Binding {
    Binding {
        destination: Destination::Queue(queue.to_string()),
        routing_key: routing_key.to_string(),
        arguments: arguments.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_are_valid_and_distinct() {
        assert_eq!(topic_for("orders"), "$amqp.q.orders");
        for weird in ["a/b", &"x".repeat(255), "tab\there"] {
            let t = topic_for(weird);
            assert!(callboard_actors::validate_internal_name(&t).is_ok(), "{t}");
        }
        assert_ne!(topic_for("a/b"), topic_for("a\tb"));
    }
}
