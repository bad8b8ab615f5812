//! [`TcpGateway`]: accepts TCP connections and runs one session per connection, within the connection limit; shuts
//! down gracefully (stop accepting, let sessions answer what they read, close). With TLS ([`TcpGateway::bind_tls`])
//! each connection first completes a TLS handshake within the handshake timeout, holding its connection slot while
//! it does; a plaintext client is answered with one plaintext error frame saying the listener speaks TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use callboard_actors::Broker;
use callboard_protocol::ErrorCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::answer::Answer;
use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::limit::{ConnectionCount, ConnectionSlot, REFUSED_COUNTER, register_gauge};
use crate::session::{self, SessionCtx};
use crate::tls::accept::{Handshake, accept};
use crate::tls::{ALPN, ServerTls};

const GATEWAY: &str = "tcp";
/// How long a closing connection keeps reading (and discarding) what the peer still sends, so the last answers are
/// not lost to a reset.
const LINGER: Duration = Duration::from_millis(250);
/// How long writing the refusal to a connection past the limit may take.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);
/// TLS connections past the limit being refused at once at most (each costs a handshake); past it further ones are
/// dropped without a word.
const MAX_TLS_REFUSING: usize = 64;

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
        Self::start(addr, broker, config, None).await
    }

    /// [`TcpGateway::bind`] speaking TLS (ALPN `callboard/1` offered, not required) with the certificate of `tls`.
    pub async fn bind_tls(
        addr: SocketAddr,
        broker: Broker,
        config: GatewayConfig,
        tls: ServerTls,
    ) -> Result<TcpGateway, GatewayError> {
        let acceptor = tls.acceptor(&[ALPN])?;
        Self::start(addr, broker, config, Some(acceptor)).await
    }

    async fn start(
        addr: SocketAddr,
        broker: Broker,
        config: GatewayConfig,
        tls: Option<TlsAcceptor>,
    ) -> Result<TcpGateway, GatewayError> {
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
        let secure = tls.is_some();
        let accept = tokio::spawn(accept_loop(listener, ctx, connections.clone(), tls));
        info!(addr = %local_addr, tls = secure, "TCP gateway listening");
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
async fn accept_loop(listener: TcpListener, ctx: SessionCtx, connections: ConnectionCount, tls: Option<TlsAcceptor>) {
    let open = Arc::clone(connections.shared());
    let refusing = Arc::new(AtomicUsize::new(0));
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
                            sessions.spawn(connection(stream, slot, ctx, tls.clone()));
                        }
                        None => {
                            metrics::counter!(REFUSED_COUNTER, "gateway" => GATEWAY).increment(1);
                            debug!(%peer, max, "connection limit reached; refusing");
                            match &tls {
                                None => {
                                    sessions.spawn(refuse(stream, max));
                                }
                                // The guard takes a place among the refusals; the last arm gives it back.
                                Some(tls) if refusing.fetch_add(1, Ordering::AcqRel) < MAX_TLS_REFUSING => {
                                    let (tls, refusing, peer) = (tls.clone(), Arc::clone(&refusing), peer.to_string());
                                    sessions.spawn(async move {
                                        refuse_tls(stream, max, tls, peer).await;
                                        refusing.fetch_sub(1, Ordering::AcqRel);
                                    });
                                }
                                Some(_) => {
                                    refusing.fetch_sub(1, Ordering::AcqRel);
                                    drop(stream);
                                }
                            }
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

/// Serves one connection (after its TLS handshake with `tls`).
async fn connection(stream: TcpStream, slot: ConnectionSlot, ctx: SessionCtx, tls: Option<TlsAcceptor>) {
    match tls {
        None => {
            let (mut reader, writer) = stream.into_split();
            if session::serve(&mut reader, writer, ctx).await.is_some() {
                linger(&mut reader).await;
            }
        }
        Some(tls) => match accept(&tls, stream, ctx.config.handshake_timeout, GATEWAY, &ctx.peer).await {
            Handshake::Done(stream) => {
                let (mut reader, writer) = tokio::io::split(stream);
                if session::serve(&mut reader, writer, ctx).await.is_some() {
                    linger(&mut reader).await;
                }
            }
            Handshake::Plaintext(stream) => {
                let message = "this listener speaks TLS: connect with TLS (SDK Transport::Tls, CLI --tls)";
                let (reader, writer) = stream.into_split();
                write_refusal(reader, writer, Answer::error(0, ErrorCode::InvalidRequest, message)).await;
            }
            Handshake::Failed => {}
        },
    }
    drop(slot);
}

/// Answers a connection past the limit with one `LimitExceeded` frame (correlation 0) and closes it.
async fn refuse(stream: TcpStream, max: usize) {
    let (reader, writer) = stream.into_split();
    write_refusal(reader, writer, limit_answer(max)).await;
}

/// [`refuse`] over TLS: the handshake and the answer within the refusal timeout.
async fn refuse_tls(stream: TcpStream, max: usize, tls: TlsAcceptor, peer: String) {
    let refusal = async {
        if let Handshake::Done(stream) = accept(&tls, stream, REFUSAL_TIMEOUT, GATEWAY, &peer).await {
            let (reader, writer) = tokio::io::split(stream);
            write_refusal(reader, writer, limit_answer(max)).await;
        }
    };
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT * 2, refusal).await;
}

fn limit_answer(max: usize) -> Answer {
    Answer::error(0, ErrorCode::LimitExceeded, format!("connection limit of {max} reached"))
}

/// Writes one answer, shuts the write side down and lingers.
async fn write_refusal<R, W>(mut reader: R, mut writer: W, answer: Answer)
where
    R: AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
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
