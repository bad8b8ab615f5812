//! [`Node`]: what the process knows about itself and shares with the HTTP gateway: whether it is ready (storage
//! open and every listener bound) and which listeners it runs, with their open-connection counts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use utoipa::ToSchema;

use crate::limit::ConnectionCount;

/// A listener as `/api/v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ListenerInfo {
    /// Protocol name (`tcp`, `quic`, `http`, `amqp`).
    pub name: String,
    /// Bound address.
    pub addr: String,
}

#[derive(Debug)]
struct Listener {
    info: ListenerInfo,
    connections: Option<ConnectionCount>,
}

#[derive(Debug, Default)]
struct Inner {
    ready: AtomicBool,
    listeners: RwLock<Vec<Listener>>,
}

/// Shared process state: readiness and the listeners. Clones share it. Not ready until [`Node::set_ready`].
#[derive(Debug, Clone, Default)]
pub struct Node {
    inner: Arc<Inner>,
}

impl Node {
    /// A node with no listeners, not ready.
    pub fn new() -> Self {
        Node::default()
    }

    /// Records a bound listener and, when it counts them, its open connections.
    pub fn add_listener(&self, name: &str, addr: SocketAddr, connections: Option<ConnectionCount>) {
        let listener = Listener { info: ListenerInfo { name: name.into(), addr: addr.to_string() }, connections };
        self.inner.listeners.write().unwrap_or_else(|p| p.into_inner()).push(listener);
    }

    /// Marks the node ready (or not: when stopping).
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Release);
    }

    /// Whether `/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// The listeners, in the order they were bound.
    pub fn listeners(&self) -> Vec<ListenerInfo> {
        self.inner.listeners.read().unwrap_or_else(|p| p.into_inner()).iter().map(|l| l.info.clone()).collect()
    }

    /// Open connections per listener name (listeners that count them).
    pub fn connections(&self) -> BTreeMap<String, usize> {
        let listeners = self.inner.listeners.read().unwrap_or_else(|p| p.into_inner());
        let mut out = BTreeMap::new();
        for l in listeners.iter() {
            if let Some(count) = &l.connections {
                *out.entry(l.info.name.clone()).or_insert(0) += count.get();
            }
        }
        out
    }
}
