//! [`VHost`]: one AMQP virtual host, backed by one Callboard stream: its exchanges, queues and bindings, routing,
//! and the persistence of the durable ones. Declarations are serialized by an async admin lock; routing (the publish
//! hot path) only takes a short read lock.

pub mod exchange;
mod queues;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use actix::Addr;
use amq_protocol::protocol::exchange as ex;
use amq_protocol::types::FieldTable;

pub use exchange::{Binding, Destination, Exchange, ExchangeKind};
pub use queues::{QueueEntry, topic_for};

use crate::amqp::queue::QueueActor;
use crate::amqp::reply::{AmqpError, ReplyCode, access_refused, internal, not_found, precondition};
use crate::amqp::shared::Shared;

/// The built-in exchanges every virtual host has.
const BUILTIN: [(&str, ExchangeKind); 6] = [
    ("", ExchangeKind::Direct),
    ("amq.direct", ExchangeKind::Direct),
    ("amq.fanout", ExchangeKind::Fanout),
    ("amq.topic", ExchangeKind::Topic),
    ("amq.headers", ExchangeKind::Headers),
    ("amq.match", ExchangeKind::Headers),
];

/// Exchanges and queues of a virtual host.
#[derive(Debug, Default)]
pub struct State {
    /// Exchanges by name (the default exchange is "").
    pub exchanges: HashMap<String, Exchange>,
    /// Queues by name.
    pub queues: HashMap<String, Arc<QueueEntry>>,
}

/// A virtual host.
#[derive(Debug)]
pub struct VHost {
    /// The stream it maps to.
    pub stream: String,
    shared: Arc<Shared>,
    admin: tokio::sync::Mutex<()>,
    state: RwLock<State>,
    path: PathBuf,
}

impl VHost {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues (by their actor) a message published to `exchange` with `key` and `headers` goes to. An unknown
    /// exchange is 404; an internal one 403.
    pub fn route(
        &self,
        exchange: &str,
        key: &str,
        headers: Option<&FieldTable>,
    ) -> Result<Vec<Arc<QueueEntry>>, AmqpError> {
        self.route_from(exchange, key, headers, false)
    }

    /// Queues a dead letter sent to `exchange` goes to (internal exchanges included); `None` when the exchange does
    /// not exist (the message is dropped, as RabbitMQ does).
    pub fn route_dead_letter(
        &self,
        exchange: &str,
        key: &str,
        headers: Option<&FieldTable>,
    ) -> Option<Vec<Arc<QueueEntry>>> {
        self.route_from(exchange, key, headers, true).ok()
    }

    fn route_from(
        &self,
        exchange: &str,
        key: &str,
        headers: Option<&FieldTable>,
        internal_ok: bool,
    ) -> Result<Vec<Arc<QueueEntry>>, AmqpError> {
        let state = self.read();
        let start = state.exchanges.get(exchange).ok_or_else(|| not_found(format!("no exchange '{exchange}'")))?;
        if start.internal && !internal_ok {
            return Err(access_refused(format!("cannot publish to internal exchange '{exchange}'")));
        }
        if exchange.is_empty() {
            return Ok(state.queues.get(key).cloned().into_iter().collect());
        }
        let mut queues: Vec<Arc<QueueEntry>> = Vec::new();
        let mut seen_queues = HashSet::new();
        let mut seen_exchanges = HashSet::from([exchange.to_string()]);
        let mut todo = vec![start];
        while let Some(x) = todo.pop() {
            for dest in x.matches(key, headers) {
                match dest {
                    Destination::Queue(q) => {
                        if seen_queues.insert(q.as_str())
                            && let Some(entry) = state.queues.get(q)
                        {
                            queues.push(Arc::clone(entry));
                        }
                    }
                    Destination::Exchange(e) => {
                        if seen_exchanges.insert(e.clone())
                            && let Some(next) = state.exchanges.get(e)
                        {
                            todo.push(next);
                        }
                    }
                }
            }
        }
        Ok(queues)
    }

    /// `exchange.declare`.
    pub async fn declare_exchange(&self, d: &ex::Declare) -> Result<(), AmqpError> {
        let _admin = self.admin.lock().await;
        let name = d.exchange.as_str();
        {
            let state = self.read();
            if let Some(existing) = state.exchanges.get(name) {
                if d.passive {
                    return Ok(());
                }
                if existing.kind.name() != d.kind.as_str() {
                    return Err(precondition(format!(
                        "inequivalent arg 'type' for exchange '{name}': received '{}' but current is '{}'",
                        d.kind,
                        existing.kind.name()
                    )));
                }
                if existing.durable != d.durable {
                    return Err(precondition(format!(
                        "inequivalent arg 'durable' for exchange '{name}': received '{}' but current is '{}'",
                        d.durable, existing.durable
                    )));
                }
                return Ok(());
            }
        }
        if d.passive {
            return Err(not_found(format!("no exchange '{name}'")));
        }
        if name.starts_with("amq.") || name.is_empty() {
            return Err(access_refused(format!("exchange name '{name}' contains reserved prefix 'amq.'")));
        }
        let kind = ExchangeKind::parse(d.kind.as_str())
            .ok_or_else(|| AmqpError::new(ReplyCode::CommandInvalid, format!("unknown exchange type '{}'", d.kind)))?;
        let exchange = Exchange {
            name: name.into(),
            kind,
            durable: d.durable,
            auto_delete: d.auto_delete,
            internal: d.internal,
            arguments: d.arguments.clone(),
            bindings: Vec::new(),
        };
        self.write().exchanges.insert(name.into(), exchange);
        if d.durable {
            self.persist().await?;
        }
        Ok(())
    }

    /// `exchange.delete`.
    pub async fn delete_exchange(&self, name: &str, if_unused: bool) -> Result<(), AmqpError> {
        let _admin = self.admin.lock().await;
        if name.is_empty() || name.starts_with("amq.") {
            return Err(access_refused(format!("cannot delete built-in exchange '{name}'")));
        }
        let durable = {
            let mut state = self.write();
            let x = state.exchanges.get(name).ok_or_else(|| not_found(format!("no exchange '{name}'")))?;
            let used_as_destination = state
                .exchanges
                .values()
                .any(|e| e.bindings.iter().any(|b| b.destination == Destination::Exchange(name.into())));
            if if_unused && (!x.bindings.is_empty() || used_as_destination) {
                return Err(precondition(format!("exchange '{name}' in use")));
            }
            let durable = x.durable;
            state.exchanges.remove(name);
            for e in state.exchanges.values_mut() {
                e.bindings.retain(|b| b.destination != Destination::Exchange(name.into()));
            }
            durable
        };
        if durable {
            self.persist().await?;
        }
        Ok(())
    }

    /// Adds a binding (idempotent). `dest_durable` tells whether it is persisted along with a durable source.
    fn add_binding(&self, source: &str, binding: Binding) -> Result<(), AmqpError> {
        let mut state = self.write();
        if source.is_empty() {
            return Err(access_refused("operation not permitted on the default exchange"));
        }
        let exists = match &binding.destination {
            Destination::Queue(q) => state.queues.contains_key(q),
            Destination::Exchange(e) => state.exchanges.contains_key(e),
        };
        if !exists {
            return Err(not_found(match &binding.destination {
                Destination::Queue(q) => format!("no queue '{q}'"),
                Destination::Exchange(e) => format!("no exchange '{e}'"),
            }));
        }
        let x = state.exchanges.get_mut(source).ok_or_else(|| not_found(format!("no exchange '{source}'")))?;
        if !x.bindings.contains(&binding) {
            x.bindings.push(binding);
        }
        Ok(())
    }

    /// Removes a binding; an auto-delete source left without bindings is deleted.
    fn remove_binding(&self, source: &str, binding: &Binding) -> Result<(), AmqpError> {
        let mut state = self.write();
        if source.is_empty() {
            return Err(access_refused("operation not permitted on the default exchange"));
        }
        let x = state.exchanges.get_mut(source).ok_or_else(|| not_found(format!("no exchange '{source}'")))?;
        x.bindings.retain(|b| {
            !(b.destination == binding.destination
                && b.routing_key == binding.routing_key
                && (b.arguments == binding.arguments || binding.arguments.inner().is_empty()))
        });
        Self::drop_unused_auto_delete(&mut state);
        Ok(())
    }

    fn drop_unused_auto_delete(state: &mut State) {
        state.exchanges.retain(|_, e| !(e.auto_delete && e.bindings.is_empty()));
    }

    /// `exchange.bind` (exchange-to-exchange).
    pub async fn bind_exchange(&self, b: &ex::Bind) -> Result<(), AmqpError> {
        let _admin = self.admin.lock().await;
        let binding = Binding {
            destination: Destination::Exchange(b.destination.to_string()),
            routing_key: b.routing_key.to_string(),
            arguments: b.arguments.clone(),
        };
        self.add_binding(b.source.as_str(), binding)?;
        self.persist().await
    }

    /// `exchange.unbind`.
    pub async fn unbind_exchange(&self, b: &ex::Unbind) -> Result<(), AmqpError> {
        let _admin = self.admin.lock().await;
        let binding = Binding {
            destination: Destination::Exchange(b.destination.to_string()),
            routing_key: b.routing_key.to_string(),
            arguments: b.arguments.clone(),
        };
        self.remove_binding(b.source.as_str(), &binding)?;
        self.persist().await
    }

    /// Writes the durable part of the virtual host, on a blocking thread (two fsyncs and a rename must not stall
    /// the connection tasks sharing this worker). Callers hold the admin lock, so writes land in order.
    async fn persist(&self) -> Result<(), AmqpError> {
        let stored = {
            let state = self.read();
            let durable_queue = |q: &str| state.queues.get(q).is_some_and(|e| e.durable);
            let durable_exchange = |x: &str| state.exchanges.get(x).is_some_and(|e| e.durable);
            store::Stored {
                exchanges: state
                    .exchanges
                    .values()
                    .filter(|e| e.durable && !BUILTIN.iter().any(|(n, _)| *n == e.name))
                    .cloned()
                    .collect(),
                queues: state
                    .queues
                    .values()
                    .filter(|q| q.durable)
                    .map(|q| store::StoredQueue {
                        name: q.name.clone(),
                        topic: q.topic.clone(),
                        auto_delete: q.auto_delete,
                        arguments: q.arguments.clone(),
                    })
                    .collect(),
                bindings: state
                    .exchanges
                    .values()
                    .filter(|e| e.durable)
                    .flat_map(|e| e.bindings.iter().map(move |b| (e, b)))
                    .filter(|(_, b)| match &b.destination {
                        Destination::Queue(q) => durable_queue(q),
                        Destination::Exchange(x) => durable_exchange(x),
                    })
                    .map(|(e, b)| store::StoredBinding { source: e.name.clone(), binding: b.clone() })
                    .collect(),
            }
        };
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || store::save(&path, &stored)).await.map_err(internal)?.map_err(internal)
    }

    /// The actor of a queue this connection may use (404 when missing, 405 when exclusive to another connection).
    pub fn queue(&self, name: &str, connection: u64) -> Result<Arc<QueueEntry>, AmqpError> {
        let state = self.read();
        let q = state.queues.get(name).ok_or_else(|| not_found(format!("no queue '{name}' in vhost")))?;
        if q.exclusive.is_some_and(|owner| owner != connection) {
            return Err(AmqpError::new(
                ReplyCode::ResourceLocked,
                format!("cannot obtain exclusive access to locked queue '{name}'"),
            ));
        }
        Ok(Arc::clone(q))
    }

    /// Every queue actor (for the shutdown commit).
    pub fn queue_actors(&self) -> Vec<Addr<QueueActor>> {
        self.read().queues.values().map(|q| q.addr.clone()).collect()
    }
}
