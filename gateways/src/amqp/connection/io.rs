//! Socket halves of an AMQP connection: [`FrameReader`] reads and cuts frames (bounded by `frame_max`), and the
//! writer task writes what the connection queues, coalescing queued buffers into one write.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::amqp::frame::{self, Inbound};
use crate::amqp::reply::AmqpError;
use crate::budget::ByteBudget;

/// Read half of a connection's socket (plain TCP or TLS over TCP).
pub type SocketRead = Box<dyn AsyncRead + Send + Unpin>;
/// Write half of a connection's socket.
pub type SocketWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// An accepted socket a connection runs on: plain TCP splits without a lock, TLS through tokio's split.
pub trait Socket: Send + 'static {
    /// The two halves.
    fn into_halves(self) -> (SocketRead, SocketWrite);
}

impl Socket for TcpStream {
    fn into_halves(self) -> (SocketRead, SocketWrite) {
        let (rd, wr) = self.into_split();
        (Box::new(rd), Box::new(wr))
    }
}

impl Socket for Box<tokio_rustls::server::TlsStream<TcpStream>> {
    fn into_halves(self) -> (SocketRead, SocketWrite) {
        let (rd, wr) = tokio::io::split(self);
        (Box::new(rd), Box::new(wr))
    }
}

/// Reads frames from the socket.
pub struct FrameReader {
    /// The socket's read half.
    pub socket: SocketRead,
    /// Bytes read and not yet parsed.
    pub buf: BytesMut,
}

impl FrameReader {
    /// A reader over `socket`.
    pub fn new(socket: SocketRead) -> FrameReader {
        FrameReader { socket, buf: BytesMut::with_capacity(64 * 1024) }
    }

    /// Reads the 8-byte protocol header (`None` when the peer closed first).
    pub async fn read_exact_header(&mut self) -> Option<[u8; 8]> {
        while self.buf.len() < 8 {
            match self.socket.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
        let mut header = [0u8; 8];
        header.copy_from_slice(&self.buf.split_to(8));
        Some(header)
    }

    /// The next frame; `Ok(None)` when the peer closed.
    pub async fn next(&mut self, frame_max: u32) -> Result<Option<Inbound>, AmqpError> {
        loop {
            if let Some(frame) = frame::parse(&mut self.buf, frame_max)? {
                return Ok(Some(frame));
            }
            match self.socket.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return Ok(None),
                Ok(_) => {}
            }
        }
    }
}

/// Writes queued buffers until every sender is dropped, then shuts the write side down.
/// Each buffer's bytes are released from `backlog` once written.
pub async fn writer(mut socket: SocketWrite, mut rx: mpsc::UnboundedReceiver<Vec<u8>>, backlog: ByteBudget) {
    let mut batch = Vec::with_capacity(64 * 1024);
    while let Some(first) = rx.recv().await {
        batch.clear();
        batch.extend_from_slice(&first);
        while batch.len() < (1 << 20)
            && let Ok(more) = rx.try_recv()
        {
            batch.extend_from_slice(&more);
        }
        let written = socket.write_all(&batch).await;
        backlog.release(batch.len());
        if written.is_err() {
            return;
        }
    }
    let _ = socket.shutdown().await;
}
