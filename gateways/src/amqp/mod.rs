//! The AMQP 0-9-1 gateway: [`AmqpGateway`] accepts TCP connections and serves each with a connection task (frames
//! through the `amq-protocol` crate). Virtual hosts are Callboard streams (`/` is the `default` stream); exchanges
//! route to queues; every queue is a one-partition topic of its stream with a supervised queue actor owning its
//! delivery state. Durable exchanges, queues and bindings are persisted per virtual host. Logins (PLAIN, AMQPLAIN)
//! are checked against the broker's users, and every operation against the user's grants (see
//! `connection::access` for how virtual hosts, queues and exchanges map to streams and topics).

mod config;
mod connection;
pub(crate) mod frame;
mod memory;
mod message;
mod queue;
mod reply;
mod shared;
mod system;
mod vhost;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use callboard_actors::Broker;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use config::AmqpConfig;
pub use reply::{AmqpError, ReplyCode};

use crate::error::GatewayError;
use crate::limit::{ConnectionCount, ConnectionSlot, REFUSED_COUNTER, register_gauge};
use shared::Shared;
use system::ActorThread;

const GATEWAY: &str = "amqp";
/// Connections over the limit being refused at once at most (each is answered `connection.close` 530 at its
/// `connection.open`, its credentials unchecked); past it further ones are dropped without a word.
const MAX_REFUSING: usize = 64;
/// How long a refused connection may take to reach `connection.open`.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A running AMQP listener.
#[derive(Debug)]
pub struct AmqpGateway {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    accept: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    actors: Option<ActorThread>,
    connections: ConnectionCount,
}

impl AmqpGateway {
    /// Binds `addr`, loads every virtual host (removing the logs of non-durable queues of an earlier run) and starts
    /// accepting connections.
    pub async fn bind(addr: SocketAddr, broker: Broker, config: AmqpConfig) -> Result<AmqpGateway, GatewayError> {
        let listener =
            TcpListener::bind(addr).await.map_err(|e| GatewayError::io(format!("binding AMQP {addr}"), e))?;
        let local_addr =
            listener.local_addr().map_err(|e| GatewayError::io(format!("reading the address bound for {addr}"), e))?;
        let actors = ActorThread::start().map_err(|e| GatewayError::io("starting the AMQP actor thread", e))?;
        let shared = Arc::new(Shared::new(broker, config, actors.arbiter().clone()));
        shared
            .load_all()
            .await
            .map_err(|e| GatewayError::io("loading AMQP virtual hosts", std::io::Error::other(e.to_string())))?;
        let shutdown = CancellationToken::new();
        let connections = ConnectionCount::new();
        register_gauge(GATEWAY);
        let accept = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            shutdown.clone(),
            Arc::clone(connections.shared()),
        ));
        info!(addr = %local_addr, "AMQP gateway listening");
        Ok(AmqpGateway { local_addr, shutdown, accept: Some(accept), shared, actors: Some(actors), connections })
    }

    /// The count of open connections (refused ones are not counted).
    pub fn connections(&self) -> ConnectionCount {
        self.connections.clone()
    }

    /// The most bytes any connection had queued for its socket and not yet written (bounded by
    /// [`AmqpConfig::max_write_backlog`] plus one round of frames).
    pub fn write_backlog_peak(&self) -> usize {
        self.shared.write_backlog_peak.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Connections closed so far because their peer read nothing for [`AmqpConfig::write_stall_timeout`] while
    /// their write backlog was full.
    pub fn write_stalls(&self) -> u64 {
        self.shared.write_stalls.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The address bound (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes every connection (`connection.close` 320; unacknowledged deliveries are requeued),
    /// persists every queue's position, and stops the queue actors. Waits at most `grace` for connections.
    pub async fn shutdown(mut self, grace: Duration) {
        self.shutdown.cancel();
        if let Some(mut accept) = self.accept.take()
            && tokio::time::timeout(grace, &mut accept).await.is_err()
        {
            warn!(addr = %self.local_addr, "AMQP connections still open after the grace period; dropping them");
            accept.abort();
            let _ = accept.await;
        }
        for vhost in self.shared.vhosts().await {
            for queue in vhost.queue_actors() {
                let _ = tokio::time::timeout(Duration::from_secs(2), queue.send(queue::Commit)).await;
            }
        }
        if let Some(mut actors) = self.actors.take() {
            let _ = tokio::task::spawn_blocking(move || actors.stop()).await;
        }
        info!(addr = %self.local_addr, "AMQP gateway stopped");
    }
}

impl Drop for AmqpGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken, open: Arc<AtomicUsize>) {
    let refusing = Arc::new(AtomicUsize::new(0));
    let max = shared.config.max_connections;
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = done && e.is_panic() {
                    warn!(error = %e, "an AMQP connection task panicked");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    match ConnectionSlot::acquire(&open, max, GATEWAY) {
                        Some(slot) => {
                            let (shared, shutdown) = (Arc::clone(&shared), shutdown.clone());
                            connections.spawn(async move {
                                connection::serve(stream, peer, shared, shutdown, None).await;
                                drop(slot);
                            });
                        }
                        None => {
                            metrics::counter!(REFUSED_COUNTER, "gateway" => GATEWAY).increment(1);
                            debug!(%peer, max, "AMQP connection limit reached; refusing");
                            if refusing.fetch_add(1, Ordering::AcqRel) < MAX_REFUSING {
                                let (shared, shutdown, refusing) =
                                    (Arc::clone(&shared), shutdown.clone(), Arc::clone(&refusing));
                                let refusal = AmqpError::new(
                                    ReplyCode::NotAllowed,
                                    format!("connection limit ({max}) is reached"),
                                );
                                connections.spawn(async move {
                                    let serve = connection::serve(stream, peer, shared, shutdown, Some(refusal));
                                    let _ = tokio::time::timeout(REFUSE_TIMEOUT, serve).await;
                                    refusing.fetch_sub(1, Ordering::AcqRel);
                                });
                            } else {
                                refusing.fetch_sub(1, Ordering::AcqRel);
                                drop(stream);
                            }
                        }
                    }
                }
                Err(e) => {
                    warn!(error = %e, "AMQP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}
