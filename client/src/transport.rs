//! Opens the byte stream a connection runs on: a TCP socket with `TCP_NODELAY` (plain or with TLS), or one
//! bidirectional stream of a new QUIC connection.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::Transport;
use crate::error::{ClientError, Result};
use crate::tls;

/// Read half of a connection.
pub(crate) type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// Write half of a connection.
pub(crate) type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// Keeps a QUIC connection and its endpoint alive while its stream is used; closes the connection when dropped.
pub(crate) struct QuicGuard {
    connection: quinn::Connection,
    _endpoint: quinn::Endpoint,
}

impl Drop for QuicGuard {
    fn drop(&mut self) {
        self.connection.close(0u32.into(), b"client closed");
    }
}

/// An open byte stream.
pub(crate) struct Stream {
    /// Bytes from the server.
    pub reader: ReadHalf,
    /// Bytes to the server.
    pub writer: WriteHalf,
    /// The QUIC connection, if any.
    pub guard: Option<QuicGuard>,
}

async fn resolve(addr: &str) -> Result<SocketAddr> {
    let mut addrs = tokio::net::lookup_host(addr).await?;
    addrs.next().ok_or_else(|| ClientError::InvalidArgument(format!("{addr} resolves to no address")))
}

/// Connects with `transport`.
pub(crate) async fn open(transport: &Transport) -> Result<Stream> {
    match transport {
        Transport::Tcp { addr } => {
            let socket = tokio::net::TcpStream::connect(resolve(addr).await?).await?;
            socket.set_nodelay(true)?;
            let (reader, writer) = socket.into_split();
            Ok(Stream { reader: Box::new(reader), writer: Box::new(writer), guard: None })
        }
        Transport::Quic { addr, ca_cert, server_name } => {
            let remote = resolve(addr).await?;
            let local: SocketAddr = if remote.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
            let mut endpoint = quinn::Endpoint::client(local)?;
            endpoint.set_default_client_config(tls::quic_config(ca_cert)?);
            let quic = |e: &dyn std::fmt::Display| ClientError::Quic(format!("{addr}: {e}"));
            let connection =
                endpoint.connect(remote, server_name).map_err(|e| quic(&e))?.await.map_err(|e| quic(&e))?;
            let (send, recv) = connection.open_bi().await.map_err(|e| quic(&e))?;
            let guard = QuicGuard { connection, _endpoint: endpoint };
            Ok(Stream { reader: Box::new(recv), writer: Box::new(send), guard: Some(guard) })
        }
        Transport::Tls { addr, ca_cert, server_name } => {
            let name = ServerName::try_from(server_name.clone())
                .map_err(|e| ClientError::InvalidArgument(format!("TLS server name {server_name:?}: {e}")))?;
            let connector = tokio_rustls::TlsConnector::from(Arc::new(tls::tcp_tls_config(ca_cert.as_deref())?));
            let socket = tokio::net::TcpStream::connect(resolve(addr).await?).await?;
            socket.set_nodelay(true)?;
            let stream = connector.connect(name, socket).await.map_err(|e| tls_failure(addr, &e))?;
            let (reader, writer) = tokio::io::split(stream);
            Ok(Stream { reader: Box::new(reader), writer: Box::new(writer), guard: None })
        }
    }
}

/// A failed TLS handshake, with rustls's reason (an unknown issuer, a name mismatch, a peer not speaking TLS).
fn tls_failure(addr: &str, e: &std::io::Error) -> ClientError {
    let reason = e.get_ref().map_or_else(|| e.to_string(), ToString::to_string);
    ClientError::Tls(format!("TLS handshake with {addr} failed: {reason}"))
}
