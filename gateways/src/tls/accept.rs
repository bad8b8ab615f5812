//! The server side of a TLS handshake on an accepted TCP connection, bounded by a timeout (a peer that stalls or
//! trickles its handshake holds its connection slot that long at most), and telling a plaintext peer apart (its first
//! byte is not a TLS handshake record) so the listener can answer it in its own protocol.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::debug;

/// Counter of TLS handshakes that did not complete, labelled by gateway and reason (`timeout`, `plaintext`, `error`).
pub(crate) const HANDSHAKE_FAILURES: &str = "callboard_gateway_tls_handshake_failures_total";

/// The first byte of a TLS record carrying a handshake message (a `ClientHello` starts with it).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// How a handshake ended.
pub(crate) enum Handshake {
    /// The TLS stream, ready for the listener's protocol.
    Done(Box<TlsStream<TcpStream>>),
    /// The peer spoke plaintext first; nothing was read from the socket.
    Plaintext(TcpStream),
    /// It timed out, failed or the peer closed (logged; the connection is dropped).
    Failed,
}

/// Runs the handshake on `stream` within `timeout`.
pub(crate) async fn accept(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    timeout: Duration,
    gateway: &'static str,
    peer: &str,
) -> Handshake {
    let failed = |reason: &'static str| {
        metrics::counter!(HANDSHAKE_FAILURES, "gateway" => gateway, "reason" => reason).increment(1);
        Handshake::Failed
    };
    let handshake = async {
        let mut first = [0u8; 1];
        match stream.peek(&mut first).await {
            Ok(0) => return Err(None),
            Ok(_) if first[0] != TLS_HANDSHAKE_RECORD => return Ok(Handshake::Plaintext(stream)),
            Ok(_) => {}
            Err(e) => return Err(Some(e)),
        }
        acceptor.accept(stream).await.map(|tls| Handshake::Done(Box::new(tls))).map_err(Some)
    };
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(Handshake::Plaintext(stream))) => {
            debug!(gateway, peer, "plaintext on a TLS listener");
            metrics::counter!(HANDSHAKE_FAILURES, "gateway" => gateway, "reason" => "plaintext").increment(1);
            Handshake::Plaintext(stream)
        }
        Ok(Ok(done)) => done,
        Ok(Err(None)) => {
            debug!(gateway, peer, "peer closed before the TLS handshake");
            failed("error")
        }
        Ok(Err(Some(e))) => {
            debug!(gateway, peer, error = %e, "TLS handshake failed");
            failed("error")
        }
        Err(_) => {
            debug!(gateway, peer, ?timeout, "TLS handshake timed out");
            failed("timeout")
        }
    }
}
