//! [`ClientConfig`] and [`Transport`]: where and how a [`crate::Client`] connects.

use std::path::PathBuf;
use std::time::Duration;

use callboard_protocol::wire::DEFAULT_MAX_FRAME;

/// Default time a request may wait for its answer (long polls add their own wait).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How to reach the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP (with `TCP_NODELAY`).
    Tcp {
        /// `host:port`.
        addr: String,
    },
    /// QUIC with TLS 1.3; each client uses one bidirectional stream of one QUIC connection.
    Quic {
        /// `host:port`.
        addr: String,
        /// PEM file with the certificate(s) to trust.
        ca_cert: PathBuf,
        /// Name the server certificate must carry (usually `"localhost"` for a self-signed broker).
        server_name: String,
    },
    /// TLS over TCP (a broker started with `--tcp-tls`), with `TCP_NODELAY`.
    Tls {
        /// `host:port`.
        addr: String,
        /// PEM file with the certificate(s) to trust; `None` trusts the usual public roots (Mozilla's set).
        ca_cert: Option<PathBuf>,
        /// Name (DNS name or IP address) the server certificate must carry; [`Transport::tls`] takes the host of
        /// `addr`.
        server_name: String,
    },
}

impl Transport {
    /// QUIC to `addr`, trusting `ca_cert`, expecting the server name `localhost`.
    pub fn quic(addr: impl Into<String>, ca_cert: impl Into<PathBuf>) -> Self {
        Transport::Quic { addr: addr.into(), ca_cert: ca_cert.into(), server_name: "localhost".into() }
    }

    /// TLS over TCP to `addr`, trusting `ca_cert` (or the public roots), expecting the host of `addr` as the server
    /// name (`localhost` in `localhost:7070`, `127.0.0.1` in `127.0.0.1:7070`).
    pub fn tls(addr: impl Into<String>, ca_cert: Option<PathBuf>) -> Self {
        let addr = addr.into();
        let server_name = host_of(&addr).to_string();
        Transport::Tls { addr, ca_cert, server_name }
    }

    /// The `host:port` this transport connects to.
    pub fn addr(&self) -> &str {
        match self {
            Transport::Tcp { addr } | Transport::Quic { addr, .. } | Transport::Tls { addr, .. } => addr,
        }
    }
}

/// The host part of `host:port` (`[::1]:7070` gives `::1`); the whole string when it has no port.
fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(host, _)| host);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => addr,
    }
}

/// Configuration of a [`crate::Client`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Free-form id sent in the handshake and used as the prefix of group member ids.
    pub client_id: String,
    /// Where and how to connect.
    pub transport: Transport,
    /// How long a request may wait for its answer; long polls add their `max_wait` (default 30 s).
    pub request_timeout: Duration,
    /// Largest response frame accepted, in bytes (default 64 MiB).
    pub max_frame: u32,
    /// Most bytes one compressed batch's records may decompress to when consumed (default 64 MiB); a batch past it
    /// (a decompression bomb) fails the fetch with a protocol error instead of being allocated.
    pub max_decompressed_bytes: usize,
    /// How the connection logs in right after the handshake (and again on every reconnect). Without credentials
    /// every call but the handshake is refused with `unauthenticated`.
    pub credentials: Option<Credentials>,
}

/// What a client logs in with.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password.
    Password {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// A personal access token (`cbt_…`).
    Token(String),
}

impl Credentials {
    /// The credentials the environment names, as the `callboard` CLI reads them: `CALLBOARD_TOKEN`, else
    /// `CALLBOARD_USER` with `CALLBOARD_PASSWORD`; `None` when neither is set.
    pub fn from_env() -> Option<Credentials> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(token) = var("CALLBOARD_TOKEN") {
            return Some(Credentials::Token(token));
        }
        Some(Credentials::Password { user: var("CALLBOARD_USER")?, password: var("CALLBOARD_PASSWORD")? })
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { user, .. } => write!(f, "Password {{ user: {user:?}, .. }}"),
            Credentials::Token(_) => f.write_str("Token(..)"),
        }
    }
}

/// Default [`ClientConfig::max_decompressed_bytes`]: 64 MiB.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 64 << 20;

impl ClientConfig {
    /// The defaults for this transport.
    pub fn new(transport: Transport) -> Self {
        ClientConfig {
            client_id: "callboard-client".into(),
            transport,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_frame: DEFAULT_MAX_FRAME,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED,
            credentials: None,
        }
    }

    /// Logs in as `user` with `password`.
    pub fn with_password(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::Password { user: user.into(), password: password.into() });
        self
    }

    /// Logs in with a personal access token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.credentials = Some(Credentials::Token(token.into()));
        self
    }

    /// The defaults for plain TCP to `addr`.
    pub fn tcp(addr: impl Into<String>) -> Self {
        Self::new(Transport::Tcp { addr: addr.into() })
    }

    /// The defaults for QUIC to `addr`, trusting the certificates in `ca_cert`.
    pub fn quic(addr: impl Into<String>, ca_cert: impl Into<PathBuf>) -> Self {
        Self::new(Transport::quic(addr, ca_cert))
    }

    /// The defaults for TLS over TCP to `addr`, trusting the certificates in `ca_cert` (or the public roots).
    pub fn tls(addr: impl Into<String>, ca_cert: Option<PathBuf>) -> Self {
        Self::new(Transport::tls(addr, ca_cert))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_server_name_is_the_host_of_the_address() {
        let name = |addr: &str| match Transport::tls(addr, None) {
            Transport::Tls { server_name, .. } => server_name,
            other => panic!("{other:?}"),
        };
        assert_eq!(name("localhost:7070"), "localhost");
        assert_eq!(name("127.0.0.1:7070"), "127.0.0.1");
        assert_eq!(name("[::1]:7070"), "::1");
        assert_eq!(name("broker.example.com"), "broker.example.com");
        assert_eq!(name("::1"), "::1");
    }
}
