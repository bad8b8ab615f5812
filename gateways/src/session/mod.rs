//! One session per TCP connection or QUIC bidirectional stream, generic over the byte stream's two halves so both
//! gateways share it. The reader ([`reader`]) cuts frames, checks the handshake and dispatches requests with many in
//! flight within the session's byte budget; the writer task ([`writer`]) sends answers as they complete.

mod reader;
mod stall;
mod writer;

use std::sync::Arc;

use callboard_actors::Broker;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::answer::Answer;
use crate::budget::{ByteBudget, Charge, SessionBudget};
use crate::config::GatewayConfig;

/// An answer on its way to the writer, with the bytes it holds charged to the session's budget until written.
pub(crate) type Queued = (Answer, Charge);

/// What a session needs from its gateway.
#[derive(Debug, Clone)]
pub(crate) struct SessionCtx {
    /// The broker requests go to.
    pub broker: Broker,
    /// Limits and timeouts.
    pub config: Arc<GatewayConfig>,
    /// Cancelled when the gateway shuts down: stop reading, finish what was read, close.
    pub shutdown: CancellationToken,
    /// Gateway label for logs and metrics (`tcp` or `quic`).
    pub gateway: &'static str,
    /// The peer, for logs.
    pub peer: String,
    /// The peer's address, for failed-login rate limiting.
    pub peer_ip: Option<std::net::IpAddr>,
}

/// Serves one session until the peer closes it, it fails, idles out or the gateway shuts down. Answers to every
/// request read are sent before the write side is shut down. Returns the writer when everything was written, so the
/// caller can wait for delivery (QUIC).
pub(crate) async fn serve<R, W>(reader: R, writer: W, ctx: SessionCtx) -> Option<W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel(ctx.config.max_in_flight.clamp(1, 1024) + 2);
    let guarded = stall::StallGuard::new(writer, ctx.config.write_stall_timeout);
    let writing =
        tokio::spawn(async move { writer::write_answers(guarded, rx).await.map(stall::StallGuard::into_inner) });
    let budget = SessionBudget {
        session: ByteBudget::new(ctx.config.max_session_bytes),
        shared: ctx.config.shared_budget.clone(),
    };
    reader::Reader::new(&ctx, budget).run(reader, tx).await;
    match writing.await {
        Ok(Ok(writer)) => Some(writer),
        Ok(Err(e)) => {
            debug!(gateway = ctx.gateway, peer = %ctx.peer, error = %e, "session write failed");
            None
        }
        Err(e) => {
            debug!(gateway = ctx.gateway, peer = %ctx.peer, error = %e, "session writer stopped");
            None
        }
    }
}
