//! [`GatewayError`]: why a gateway could not start.

use std::path::Path;

/// Errors starting a gateway (binding, certificates, TLS configuration).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// An I/O operation failed; `context` says which.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (for example "binding 127.0.0.1:7070").
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS configuration is unusable (bad certificate or key, unsupported parameters).
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// A self-signed certificate could not be generated.
    #[error("certificate generation failed: {0}")]
    Certificate(String),
    /// A limit in the configuration is out of range.
    #[error("gateway configuration: {0}")]
    Config(String),
}

impl GatewayError {
    /// An I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        GatewayError::Io { context: context.into(), source }
    }

    /// An I/O error on a file.
    pub(crate) fn file(action: &str, path: &Path, source: std::io::Error) -> Self {
        GatewayError::io(format!("{action} {}", path.display()), source)
    }
}
