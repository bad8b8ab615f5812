//! The AMQP 0-9-1 gateway: [`AmqpGateway`] accepts TCP connections and serves each with a connection task (frames
//! through the `amq-protocol` crate). Virtual hosts are Callboard streams (`/` is the `default` stream); exchanges
//! route to queues; every queue is a one-partition topic of its stream with a supervised queue actor owning its
//! delivery state. Durable exchanges, queues and bindings are persisted per virtual host. Logins (PLAIN, AMQPLAIN)
//! are checked against the broker's users, and every operation against the user's grants (see
//! `connection::access` for how virtual hosts, queues and exchanges map to streams and topics).
//! One gateway serves a plain listener, an AMQPS one (TLS first, within the handshake timeout, holding a connection
//! place), or both ([`AmqpGateway::bind_listeners`]).

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
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use config::AmqpConfig;
pub use reply::{AmqpError, ReplyCode};

use crate::error::GatewayError;
use crate::limit::{ConnectionCount, ConnectionSlot, REFUSED_COUNTER, register_gauge};
use crate::tls::ServerTls;
use crate::tls::accept::{Handshake, accept};
use shared::Shared;
use system::ActorThread;

const GATEWAY: &str = "amqp";
/// Metrics label of the AMQPS listener.
const GATEWAY_TLS: &str = "amqps";
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
    tls_listener: Option<(SocketAddr, ConnectionCount)>,
}

impl AmqpGateway {
    /// Binds `addr`, loads every virtual host (removing the logs of non-durable queues of an earlier run) and starts
    /// accepting connections.
    pub async fn bind(addr: SocketAddr, broker: Broker, config: AmqpConfig) -> Result<AmqpGateway, GatewayError> {
        Self::bind_listeners(Some(addr), None, broker, config).await
    }

    /// [`AmqpGateway::bind`] with a plain listener on `plain`, an AMQPS listener (TLS with the certificate of
    /// `tls.1`, RabbitMQ's `amqps`) on `tls.0`, or both; each listener has its own `max_connections`.
    pub async fn bind_listeners(
        plain: Option<SocketAddr>,
        tls: Option<(SocketAddr, ServerTls)>,
        broker: Broker,
        config: AmqpConfig,
    ) -> Result<AmqpGateway, GatewayError> {
        let mut listeners = Vec::new();
        if let Some(addr) = plain {
            listeners.push(Listener::bind(addr, None).await?);
        }
        if let Some((addr, tls)) = tls {
            listeners.push(Listener::bind(addr, Some(tls.acceptor(&[])?)).await?);
        }
        let Some(local_addr) = listeners.first().map(|l| l.addr) else {
            return Err(GatewayError::Config("the AMQP gateway needs a plain or an AMQPS listener".into()));
        };
        let tls_listener = listeners.iter().find(|l| l.tls.is_some()).map(|l| (l.addr, l.connections.clone()));
        let actors = ActorThread::start().map_err(|e| GatewayError::io("starting the AMQP actor thread", e))?;
        let shared = Arc::new(Shared::new(broker, config, actors.arbiter().clone()));
        shared
            .load_all()
            .await
            .map_err(|e| GatewayError::io("loading AMQP virtual hosts", std::io::Error::other(e.to_string())))?;
        let shutdown = CancellationToken::new();
        let connections = listeners[0].connections.clone();
        let loops: Vec<_> = listeners
            .into_iter()
            .map(|listener| {
                info!(addr = %listener.addr, tls = listener.tls.is_some(), "AMQP gateway listening");
                accept_loop(listener, Arc::clone(&shared), shutdown.clone())
            })
            .collect();
        let accept = tokio::spawn(async move {
            futures_util::future::join_all(loops).await;
        });
        Ok(AmqpGateway {
            local_addr,
            shutdown,
            accept: Some(accept),
            shared,
            actors: Some(actors),
            connections,
            tls_listener,
        })
    }

    /// The count of open connections (refused ones are not counted) of the first listener (the plain one when
    /// there is one).
    pub fn connections(&self) -> ConnectionCount {
        self.connections.clone()
    }

    /// The AMQPS listener's address and open connections, when there is one.
    pub fn tls_listener(&self) -> Option<(SocketAddr, ConnectionCount)> {
        self.tls_listener.clone()
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

    /// The address bound (with the real port when bound to port 0): the plain listener's when there is one, else
    /// the AMQPS one's.
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

/// A bound listener: plain, or AMQPS with its TLS acceptor.
struct Listener {
    tcp: TcpListener,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    connections: ConnectionCount,
}

impl Listener {
    async fn bind(addr: SocketAddr, tls: Option<TlsAcceptor>) -> Result<Listener, GatewayError> {
        let name = if tls.is_some() { "AMQPS" } else { "AMQP" };
        let tcp = TcpListener::bind(addr).await.map_err(|e| GatewayError::io(format!("binding {name} {addr}"), e))?;
        let addr =
            tcp.local_addr().map_err(|e| GatewayError::io(format!("reading the address bound for {addr}"), e))?;
        register_gauge(if tls.is_some() { GATEWAY_TLS } else { GATEWAY });
        Ok(Listener { tcp, addr, tls, connections: ConnectionCount::new() })
    }
}

/// Serves one accepted connection, after its TLS handshake on an AMQPS listener (a plaintext peer there is dropped).
async fn serve_accepted(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    refuse: Option<AmqpError>,
    tls: Option<TlsAcceptor>,
) {
    let Some(tls) = tls else {
        return connection::serve(stream, peer, shared, shutdown, refuse).await;
    };
    let timeout = shared.config.handshake_timeout;
    if let Handshake::Done(stream) = accept(&tls, stream, timeout, GATEWAY_TLS, &peer.to_string()).await {
        connection::serve(stream, peer, shared, shutdown, refuse).await;
    }
}

async fn accept_loop(listener: Listener, shared: Arc<Shared>, shutdown: CancellationToken) {
    let Listener { tcp: listener, tls, connections: count, .. } = listener;
    let gateway = if tls.is_some() { GATEWAY_TLS } else { GATEWAY };
    let open: Arc<AtomicUsize> = Arc::clone(count.shared());
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
                    match ConnectionSlot::acquire(&open, max, gateway) {
                        Some(slot) => {
                            let (shared, shutdown, tls) = (Arc::clone(&shared), shutdown.clone(), tls.clone());
                            connections.spawn(async move {
                                serve_accepted(stream, peer, shared, shutdown, None, tls).await;
                                drop(slot);
                            });
                        }
                        None => {
                            metrics::counter!(REFUSED_COUNTER, "gateway" => gateway).increment(1);
                            debug!(%peer, max, "AMQP connection limit reached; refusing");
                            if refusing.fetch_add(1, Ordering::AcqRel) < MAX_REFUSING {
                                let (shared, shutdown, refusing, tls) =
                                    (Arc::clone(&shared), shutdown.clone(), Arc::clone(&refusing), tls.clone());
                                let refusal = AmqpError::new(
                                    ReplyCode::NotAllowed,
                                    format!("connection limit ({max}) is reached"),
                                );
                                connections.spawn(async move {
                                    let serve = serve_accepted(stream, peer, shared, shutdown, Some(refusal), tls);
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
