//! [`QuicGateway`]: a quinn endpoint serving the same frames as TCP, one session per bidirectional stream a client
//! opens; the connection limit counts QUIC connections. A failing stream or connection never affects the others.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use callboard_actors::Broker;
use callboard_protocol::ErrorCode;
use quinn::VarInt;
use tokio::io::AsyncWriteExt;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::answer::Answer;
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::limit::{ConnectionCount, ConnectionSlot, REFUSED_COUNTER, register_gauge};
use crate::session::{self, SessionCtx};
use crate::tls::{ServerTls, TlsSource};

const GATEWAY: &str = "quic";
/// How long a finished stream waits for the peer to acknowledge its last answers.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long refusing a connection past the limit may take.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

/// A running QUIC endpoint. Dropping it stops accepting and lets sessions drain in the background; prefer
/// [`QuicGateway::shutdown`].
#[derive(Debug)]
pub struct QuicGateway {
    local_addr: SocketAddr,
    cert_path: PathBuf,
    tls: ServerTls,
    endpoint: quinn::Endpoint,
    shutdown: CancellationToken,
    accept: Option<JoinHandle<()>>,
    connections: ConnectionCount,
}

impl QuicGateway {
    /// Loads (or generates) the certificate, binds the UDP socket `addr` and starts accepting connections.
    pub async fn bind(
        addr: SocketAddr,
        broker: Broker,
        config: GatewayConfig,
        tls: TlsSource,
    ) -> Result<QuicGateway, GatewayError> {
        config.validate()?;
        let tls = tokio::task::spawn_blocking(move || ServerTls::load(tls))
            .await
            .map_err(|e| GatewayError::Certificate(format!("certificate loading stopped: {e}")))??;
        let cert_path = tls.certificate_path().to_path_buf();
        let server_config = tls.quic_server_config(&config)?;
        let endpoint = quinn::Endpoint::server(server_config, addr)
            .map_err(|e| GatewayError::io(format!("binding QUIC {addr}"), e))?;
        let local_addr =
            endpoint.local_addr().map_err(|e| GatewayError::io(format!("reading the address bound for {addr}"), e))?;
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
        let accept = tokio::spawn(accept_loop(endpoint.clone(), ctx, connections.clone()));
        info!(addr = %local_addr, cert = %cert_path.display(), "QUIC gateway listening");
        Ok(QuicGateway { local_addr, cert_path, tls, endpoint, shutdown, accept: Some(accept), connections })
    }

    /// The UDP address the endpoint is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// PEM certificate clients should trust (the generated or configured one).
    pub fn certificate_path(&self) -> &Path {
        &self.cert_path
    }

    /// The certificate this endpoint serves: [`ServerTls::reload`] re-reads it for new connections (open ones go on).
    pub fn tls(&self) -> &ServerTls {
        &self.tls
    }

    /// The count of open connections.
    pub fn connections(&self) -> ConnectionCount {
        self.connections.clone()
    }

    /// Stops accepting, lets every stream finish the requests it has read (answers sent), closes the connections
    /// and the endpoint; waits at most `grace`.
    pub async fn shutdown(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        self.shutdown.cancel();
        if let Some(mut accept) = self.accept.take()
            && timeout(grace, &mut accept).await.is_err()
        {
            warn!(addr = %self.local_addr, "QUIC sessions still running after the grace period; closing them");
            accept.abort();
            let _ = accept.await;
        }
        self.endpoint.close(VarInt::from_u32(0), b"shutting down");
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        let _ = timeout(left, self.endpoint.wait_idle()).await;
        info!(addr = %self.local_addr, "QUIC gateway stopped");
    }
}

impl Drop for QuicGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Accepts connections until shutdown, then waits for every connection task.
async fn accept_loop(endpoint: quinn::Endpoint, ctx: SessionCtx, connections: ConnectionCount) {
    let open = Arc::clone(connections.shared());
    let max = ctx.config.max_connections;
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => log_join(done, "connection"),
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let peer = incoming.remote_address();
                match ConnectionSlot::acquire(&open, max, GATEWAY) {
                    Some(slot) => {
                        let ctx = SessionCtx { peer: peer.to_string(), peer_ip: Some(peer.ip()), ..ctx.clone() };
                        connections.spawn(connection(incoming, slot, ctx));
                    }
                    None => {
                        metrics::counter!(REFUSED_COUNTER, "gateway" => GATEWAY).increment(1);
                        debug!(%peer, max, "connection limit reached; refusing");
                        connections.spawn(refuse(incoming, max));
                    }
                }
            }
        }
    }
    while let Some(done) = connections.join_next().await {
        log_join(done, "connection");
    }
}

fn log_join(done: Result<(), tokio::task::JoinError>, what: &str) {
    if let Err(e) = done
        && e.is_panic()
    {
        warn!(error = %e, "a QUIC {what} task panicked");
    }
}

/// Completes the QUIC handshake and serves every bidirectional stream the client opens.
async fn connection(incoming: quinn::Incoming, slot: ConnectionSlot, ctx: SessionCtx) {
    let conn = match timeout(ctx.config.handshake_timeout, incoming).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            debug!(peer = %ctx.peer, error = %e, "QUIC handshake failed");
            return;
        }
        Err(_) => {
            debug!(peer = %ctx.peer, "QUIC handshake timed out");
            return;
        }
    };
    debug!(peer = %ctx.peer, "QUIC connection open");
    let mut streams = JoinSet::new();
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => break,
            Some(done) = streams.join_next(), if !streams.is_empty() => log_join(done, "stream"),
            accepted = conn.accept_bi() => match accepted {
                Ok((send, recv)) => {
                    let ctx = SessionCtx { peer: format!("{} stream {}", ctx.peer, send.id()), ..ctx.clone() };
                    streams.spawn(stream(send, recv, ctx));
                }
                Err(e) => {
                    debug!(peer = %ctx.peer, reason = %e, "QUIC connection closed");
                    break;
                }
            },
        }
    }
    while let Some(done) = streams.join_next().await {
        log_join(done, "stream");
    }
    if ctx.shutdown.is_cancelled() {
        conn.close(VarInt::from_u32(0), b"shutting down");
    }
    drop(slot);
}

/// Serves one stream as a session; waits for the peer to acknowledge the last answers.
async fn stream(send: quinn::SendStream, recv: quinn::RecvStream, ctx: SessionCtx) {
    if let Some(send) = session::serve(recv, send, ctx).await {
        let _ = timeout(DELIVERY_TIMEOUT, send.stopped()).await;
    }
}

/// Answers a connection past the limit with one `LimitExceeded` frame (correlation 0) on the first stream the
/// client opens, then closes the connection.
async fn refuse(incoming: quinn::Incoming, max: usize) {
    let refusal = async {
        let conn = incoming.await.ok()?;
        let (mut send, _recv) = conn.accept_bi().await.ok()?;
        let answer = Answer::error(0, ErrorCode::LimitExceeded, format!("connection limit of {max} reached"));
        send.write_all(&answer.frame_header()).await.ok()?;
        send.write_all(&answer.head).await.ok()?;
        send.shutdown().await.ok()?;
        let _ = send.stopped().await;
        Some(conn)
    };
    if let Ok(Some(conn)) = timeout(REFUSAL_TIMEOUT, refusal).await {
        conn.close(VarInt::from_u32(u32::from(ErrorCode::LimitExceeded.as_u16())), b"connection limit reached");
    }
}
