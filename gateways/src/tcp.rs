//! [`TcpGateway`]: accepts TCP connections and runs one session per connection, within the connection limit; shuts
//! down gracefully (stop accepting, let sessions answer what they read, close).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use callboard_actors::Broker;
use callboard_protocol::ErrorCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::answer::Answer;
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::limit::{ConnectionCount, ConnectionSlot, REFUSED_COUNTER, register_gauge};
use crate::session::{self, SessionCtx};

const GATEWAY: &str = "tcp";
/// How long a closing connection keeps reading (and discarding) what the peer still sends, so the last answers are
/// not lost to a reset.
const LINGER: Duration = Duration::from_millis(250);
/// How long writing the refusal to a connection past the limit may take.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// A running TCP listener. Dropping it stops accepting and lets sessions drain in the background; prefer
/// [`TcpGateway::shutdown`].
#[derive(Debug)]
pub struct TcpGateway {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    accept: Option<JoinHandle<()>>,
    connections: ConnectionCount,
}

impl TcpGateway {
    /// Binds `addr` and starts accepting connections, serving them with `broker`.
    pub async fn bind(addr: SocketAddr, broker: Broker, config: GatewayConfig) -> Result<TcpGateway, GatewayError> {
        config.validate()?;
        let listener = TcpListener::bind(addr).await.map_err(|e| GatewayError::io(format!("binding TCP {addr}"), e))?;
        let local_addr =
            listener.local_addr().map_err(|e| GatewayError::io(format!("reading the address bound for {addr}"), e))?;
        let shutdown = CancellationToken::new();
        let ctx = SessionCtx {
            broker,
            config: Arc::new(config),
            shutdown: shutdown.clone(),
            gateway: GATEWAY,
            peer: String::new(),
            peer_ip: None,
        };
        let connections = ConnectionCount::new();
        register_gauge(GATEWAY);
        let accept = tokio::spawn(accept_loop(listener, ctx, connections.clone()));
        info!(addr = %local_addr, "TCP gateway listening");
        Ok(TcpGateway { local_addr, shutdown, accept: Some(accept), connections })
    }

    /// The address the listener is bound to (with the actual port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The count of open connections.
    pub fn connections(&self) -> ConnectionCount {
        self.connections.clone()
    }

    /// Stops accepting, lets every session finish the requests it has read (answers sent), then closes; waits at
    /// most `grace`, then drops whatever is still running.
    pub async fn shutdown(mut self, grace: Duration) {
        self.shutdown.cancel();
        if let Some(mut accept) = self.accept.take()
            && tokio::time::timeout(grace, &mut accept).await.is_err()
        {
            warn!(addr = %self.local_addr, "TCP sessions still running after the grace period; closing them");
            accept.abort();
            let _ = accept.await;
        }
        info!(addr = %self.local_addr, "TCP gateway stopped");
    }
}

impl Drop for TcpGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Accepts until shutdown, then waits for every session.
async fn accept_loop(listener: TcpListener, ctx: SessionCtx, connections: ConnectionCount) {
    let open = Arc::clone(connections.shared());
    let max = ctx.config.max_connections;
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => break,
            Some(done) = sessions.join_next(), if !sessions.is_empty() => log_join(done),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        debug!(%peer, error = %e, "could not set TCP_NODELAY");
                    }
                    match ConnectionSlot::acquire(&open, max, GATEWAY) {
                        Some(slot) => {
                            let ctx = SessionCtx { peer: peer.to_string(), peer_ip: Some(peer.ip()), ..ctx.clone() };
                            sessions.spawn(connection(stream, slot, ctx));
                        }
                        None => {
                            metrics::counter!(REFUSED_COUNTER, "gateway" => GATEWAY).increment(1);
                            debug!(%peer, max, "connection limit reached; refusing");
                            sessions.spawn(refuse(stream, max));
                        }
                    }
                }
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    while let Some(done) = sessions.join_next().await {
        log_join(done);
    }
}

fn log_join(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        warn!(error = %e, "a TCP session panicked");
    }
}

/// Serves one connection.
async fn connection(stream: TcpStream, slot: ConnectionSlot, ctx: SessionCtx) {
    let (mut reader, writer) = stream.into_split();
    if session::serve(&mut reader, writer, ctx).await.is_some() {
        linger(&mut reader).await;
    }
    drop(slot);
}

/// Answers a connection past the limit with one `LimitExceeded` frame (correlation 0) and closes it.
async fn refuse(stream: TcpStream, max: usize) {
    let answer = Answer::error(0, ErrorCode::LimitExceeded, format!("connection limit of {max} reached"));
    let (mut reader, mut writer) = stream.into_split();
    let write = async {
        writer.write_all(&answer.frame_header()).await?;
        writer.write_all(&answer.head).await?;
        writer.shutdown().await
    };
    if let Ok(Ok(())) = tokio::time::timeout(REFUSAL_TIMEOUT, write).await {
        linger(&mut reader).await;
    }
}

/// After the write side is shut down, reads and discards until the peer closes (or [`LINGER`] passes): closing a
/// socket with unread input resets the connection, and the peer could lose the answers not read yet.
async fn linger<R: AsyncRead + Unpin>(reader: &mut R) {
    let mut scratch = [0u8; 4096];
    let drain = async {
        while let Ok(n) = reader.read(&mut scratch).await
            && n > 0
        {}
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}
