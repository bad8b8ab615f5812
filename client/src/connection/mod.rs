//! One multiplexed connection: requests are registered by correlation id and queued to a writer task, a reader task
//! hands each answer to its request. A failure fails every waiting request with a retriable error and marks the
//! connection closed; the [`crate::Client`] then opens a new one on its next call.
//!
//! A connection can be used as soon as it is created: the driver task connects and sends the handshake first, and
//! requests queued meanwhile are written after it, in the order they were queued.

mod driver;
mod pending;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use callboard_protocol::wire::{ApiKey, HelloResponse, RequestFrame, ResponseFrame};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

use crate::config::ClientConfig;
use crate::error::{ClientError, Result};
use pending::PendingTable;

/// Requests on the wire at most, per connection.
pub(crate) const MAX_IN_FLIGHT: usize = 1024;

/// State shared by a connection's handle, its writer and its reader.
pub(crate) struct Shared {
    pending: Mutex<PendingTable>,
    /// Caps requests on the wire.
    permits: Arc<Semaphore>,
    /// Woken when the connection closes.
    closed: Notify,
    /// The API keys the server announced in the handshake.
    apis: OnceLock<HashSet<u16>>,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, PendingTable> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails every waiting request and stops the tasks.
    pub(crate) fn close(&self, error: ClientError) {
        let mut pending = self.pending();
        if pending.is_closed() {
            return;
        }
        tracing::debug!(%error, waiting = pending.len(), "connection closed");
        pending.close(error);
        drop(pending);
        self.permits.close();
        self.closed.notify_waiters();
    }

    fn is_closed(&self) -> bool {
        self.pending().is_closed()
    }
}

/// A connection handle. Dropping the last handle lets the writer finish the queued frames and close the stream.
pub(crate) struct Connection {
    tx: mpsc::UnboundedSender<RequestFrame>,
    shared: Arc<Shared>,
    next_correlation: AtomicU64,
}

/// An answer to wait for.
pub(crate) struct ResponseFuture {
    rx: Result<oneshot::Receiver<Result<ResponseFrame>>>,
    correlation: u64,
    shared: Arc<Shared>,
}

impl ResponseFuture {
    /// Waits up to `timeout` for the answer; a server error becomes [`ClientError::Server`].
    pub(crate) async fn wait(self, timeout: Duration) -> Result<Bytes> {
        let rx = self.rx?;
        let frame = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => answer?,
            Ok(Err(_)) => return Err(ClientError::Closed("the connection task stopped".into())),
            Err(_) => {
                self.shared.pending().cancel(self.correlation);
                return Err(ClientError::Timeout(timeout));
            }
        };
        if frame.error != 0 {
            return Err(ClientError::server(frame.error, &frame.body));
        }
        Ok(frame.body)
    }
}

impl Connection {
    /// Creates a connection and starts its driver; the receiver tells how the handshake went.
    pub(crate) fn open(config: &ClientConfig) -> (Arc<Connection>, oneshot::Receiver<Result<HelloResponse>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            pending: Mutex::new(PendingTable::default()),
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            closed: Notify::new(),
            apis: OnceLock::new(),
        });
        let (ready_tx, ready_rx) = oneshot::channel();
        tokio::spawn(driver::run(config.clone(), rx, Arc::clone(&shared), ready_tx));
        let conn = Connection { tx, shared, next_correlation: AtomicU64::new(1) };
        (Arc::new(conn), ready_rx)
    }

    /// Whether the connection failed or closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Queues a request now (requests are written in the order they are queued) and returns its answer to wait for.
    pub(crate) fn request(&self, api: ApiKey, body: Bytes) -> ResponseFuture {
        let correlation = self.next_correlation.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&self.shared);
        if let Some(apis) = self.shared.apis.get()
            && !apis.contains(&api.as_u16())
        {
            let err = ClientError::Protocol(format!("the server does not speak {api:?}"));
            return ResponseFuture { rx: Err(err), correlation, shared };
        }
        let (reply, rx) = oneshot::channel();
        if let Err(e) = self.shared.pending().register(correlation, reply) {
            return ResponseFuture { rx: Err(e), correlation, shared };
        }
        let version = api.versions().max;
        let frame = RequestFrame { api: api.as_u16(), version, correlation, body };
        if self.tx.send(frame).is_err() {
            self.shared.close(ClientError::Closed("the connection writer stopped".into()));
        }
        ResponseFuture { rx: Ok(rx), correlation, shared }
    }
}
