//! [`Client`]: a cheaply cloned handle on one multiplexed connection, reopened (with a new handshake) on the first
//! call after it failed; and the generic [`Client::call`].

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use callboard_protocol::wire::{ApiKey, Call, HelloResponse, decode_control, encode_control};

use crate::config::{ClientConfig, Transport};
use crate::connection::Connection;
use crate::error::{ClientError, Result};

/// A Callboard client: admin calls, produce, fetch, offsets and consumer groups over one connection (TCP or QUIC)
/// on which requests are pipelined. Clones share the connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    conn: Mutex<Option<Arc<Connection>>>,
    /// Partition counts of topics, for client-side partitioning (`stream`, `topic`).
    pub(crate) partitions: Mutex<HashMap<(String, String), u32>>,
    /// Round-robin counter for messages without a key.
    pub(crate) round_robin: AtomicU32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("transport", &self.inner.config.transport).finish()
    }
}

impl Client {
    /// Connects and exchanges the handshake (which checks the server's protocol version and APIs).
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        let (conn, ready) = Connection::open(&config);
        let hello: HelloResponse =
            ready.await.map_err(|_| ClientError::Closed("the connection task stopped".into()))??;
        tracing::info!(addr = config.transport.addr(), server = %hello.server_version, "connected to Callboard");
        let inner = Inner {
            config,
            conn: Mutex::new(Some(conn)),
            partitions: Mutex::new(HashMap::new()),
            round_robin: AtomicU32::new(0),
        };
        Ok(Client { inner: Arc::new(inner) })
    }

    /// Connects over TCP to `addr` (`host:port`) with the default configuration.
    pub async fn connect_tcp(addr: &str) -> Result<Client> {
        Self::connect(ClientConfig::tcp(addr)).await
    }

    /// Connects over QUIC to `addr`, trusting the certificates in the PEM file `ca_cert`, expecting the server name
    /// `localhost`.
    pub async fn connect_quic(addr: &str, ca_cert: &Path) -> Result<Client> {
        Self::connect(ClientConfig::new(Transport::quic(addr, ca_cert))).await
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The live connection, or a new one when it failed.
    fn connection(&self) -> Arc<Connection> {
        let mut slot = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
        match &*slot {
            Some(conn) if !conn.is_closed() => Arc::clone(conn),
            _ => {
                tracing::debug!(addr = self.inner.config.transport.addr(), "reconnecting");
                let (conn, _ready) = Connection::open(&self.inner.config);
                *slot = Some(Arc::clone(&conn));
                conn
            }
        }
    }

    /// Queues a request now and returns its answer's body to wait for, up to the request timeout plus `extra_wait`.
    pub(crate) fn request(
        &self,
        api: ApiKey,
        body: Bytes,
        extra_wait: Duration,
    ) -> impl Future<Output = Result<Bytes>> + Send + 'static {
        let answer = self.connection().request(api, body);
        let timeout = self.inner.config.request_timeout + extra_wait;
        answer.wait(timeout)
    }

    /// Sends a control request and decodes its answer.
    pub async fn call<C: Call>(&self, request: &C) -> Result<C::Response> {
        let body = encode_control(request)?;
        let answer = self.request(C::API, body, Duration::ZERO).await?;
        Ok(decode_control(&answer)?)
    }

    pub(crate) fn partition_cache(&self) -> MutexGuard<'_, HashMap<(String, String), u32>> {
        self.inner.partitions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn round_robin(&self) -> &AtomicU32 {
        &self.inner.round_robin
    }
}
