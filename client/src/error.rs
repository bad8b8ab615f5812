//! [`ClientError`], what every SDK call fails with, and [`ProducerError`], what a producer's flush reports.

use std::sync::Arc;
use std::time::Duration;

use callboard_protocol::ErrorCode;
use callboard_protocol::batch::BatchError;
use callboard_protocol::wire::{BodyError, FrameError};

/// Result of SDK calls.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Why an SDK call failed. Cheap to clone, so one failure can be reported to every request it affects.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// A socket error (connecting, reading or writing).
    #[error("I/O error: {0}")]
    Io(Arc<std::io::Error>),
    /// TLS setup failed (certificate file, configuration).
    #[error("TLS error: {0}")]
    Tls(String),
    /// The QUIC connection could not be established or failed.
    #[error("QUIC error: {0}")]
    Quic(String),
    /// A frame exceeded the limits or was malformed.
    #[error("frame error: {0}")]
    Frame(#[from] FrameError),
    /// The server answered something this client cannot understand (body shape, handshake, batch bytes).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server refused the request.
    #[error("server error {code:?}: {message}")]
    Server {
        /// The wire error code.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
    },
    /// No answer came in time.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The connection closed before the answer came (the next call reconnects).
    #[error("connection closed: {0}")]
    Closed(String),
    /// An argument cannot be sent (for example an empty batch or a bad address).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl ClientError {
    /// The wire error code when the server (or the frame layer) produced one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server { code, .. } => Some(*code),
            ClientError::Frame(e) => Some(e.code()),
            _ => None,
        }
    }

    /// Whether sending the same request again may succeed: connection failures and timeouts (the next call
    /// reconnects), and server codes that [`ErrorCode::is_retriable`] says so, plus `ShuttingDown` (another broker
    /// or gateway may answer on reconnect).
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Io(_) | ClientError::Closed(_) | ClientError::Timeout(_) | ClientError::Quic(_) => true,
            ClientError::Server { code, .. } => code.is_retriable() || *code == ErrorCode::ShuttingDown,
            _ => false,
        }
    }

    /// Builds a server error from a response frame's error code and body.
    pub(crate) fn server(code: u16, body: &[u8]) -> Self {
        let message = String::from_utf8_lossy(body).into_owned();
        match ErrorCode::from_u16(code) {
            Some(code) => ClientError::Server { code, message },
            None => ClientError::Server { code: ErrorCode::Unknown, message: format!("error code {code}: {message}") },
        }
    }
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(Arc::new(e))
    }
}

impl From<BodyError> for ClientError {
    fn from(e: BodyError) -> Self {
        ClientError::Protocol(e.to_string())
    }
}

impl From<BatchError> for ClientError {
    fn from(e: BatchError) -> Self {
        ClientError::Protocol(format!("record batch: {e}"))
    }
}

/// Why a [`crate::Producer`] could not deliver every message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProducerError {
    /// A batch failed for good (a non-retriable error, or retries exhausted). Messages from `acknowledged` on may
    /// not have been stored; messages before it were.
    #[error("producer failed at message {first_failed} ({acknowledged} acknowledged): {source}")]
    Failed {
        /// Messages acknowledged without a gap from the first send (message `i` is stored iff `i < acknowledged`,
        /// as far as the producer knows).
        acknowledged: u64,
        /// Index (counted from the first send) of the first message not acknowledged (equal to `acknowledged`).
        first_failed: u64,
        /// The error.
        source: ClientError,
    },
}

impl ProducerError {
    /// The underlying client error.
    pub fn client_error(&self) -> &ClientError {
        match self {
            ProducerError::Failed { source, .. } => source,
        }
    }

    /// Messages acknowledged without a gap.
    pub fn acknowledged(&self) -> u64 {
        match self {
            ProducerError::Failed { acknowledged, .. } => *acknowledged,
        }
    }
}

impl From<ProducerError> for ClientError {
    fn from(e: ProducerError) -> Self {
        match e {
            ProducerError::Failed { source, .. } => source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_map_codes_and_retriability() {
        let e = ClientError::server(ErrorCode::TopicNotFound.as_u16(), b"no topic");
        assert_eq!(e.code(), Some(ErrorCode::TopicNotFound));
        assert!(!e.is_retriable());
        assert!(e.to_string().contains("no topic"));
        assert!(ClientError::server(ErrorCode::PartitionUnavailable.as_u16(), b"").is_retriable());
        let unknown = ClientError::server(60_000, b"x");
        assert_eq!(unknown.code(), Some(ErrorCode::Unknown));
        assert!(ClientError::Closed("gone".into()).is_retriable());
        assert!(ClientError::from(std::io::Error::other("x")).is_retriable());
        assert!(!ClientError::Protocol("x".into()).is_retriable());
    }
}
