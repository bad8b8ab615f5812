//! [`GatewayConfig`]: the limits and timeouts every gateway session obeys.

use std::time::Duration;

use callboard_protocol::wire::DEFAULT_MAX_FRAME;

/// Limits and timeouts of a gateway and its sessions.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Most connections served at once (QUIC: connections, not streams). Past it a new connection gets one
    /// `LimitExceeded` error frame (correlation 0) and is closed. Default 1024.
    pub max_connections: usize,
    /// Most requests in flight per session (per TCP connection or QUIC stream); the session stops reading while
    /// that many are outstanding. Default 128.
    pub max_in_flight: usize,
    /// Most request bytes in flight per session; the session stops reading while that many are outstanding (a
    /// single larger request is still taken alone). With `max_frame` for the partial frame being read and the
    /// writer's bounded queue this bounds a connection's buffered input. Default 64 MiB.
    pub max_in_flight_bytes: usize,
    /// A session with no request for this long and nothing in flight is closed. Default 300 s.
    pub idle_timeout: Duration,
    /// A session must complete the `Hello` handshake within this long. Default 10 s.
    pub handshake_timeout: Duration,
    /// Largest frame accepted or sent, in bytes after the length field. Default `DEFAULT_MAX_FRAME` (64 MiB).
    pub max_frame: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_connections: 1024,
            max_in_flight: 128,
            max_in_flight_bytes: 64 << 20,
            idle_timeout: Duration::from_secs(300),
            handshake_timeout: Duration::from_secs(10),
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}
