//! [`AmqpConfig`]: limits and timeouts of the AMQP gateway (logins are checked against the broker's users).

use std::time::Duration;

/// Configuration of the AMQP 0-9-1 gateway.
#[derive(Debug, Clone)]
pub struct AmqpConfig {
    /// Most connections at once (default 1024); past it a connection is answered up to its `connection.open`, which
    /// gets `connection.close` 530 not-allowed ("connection limit (N) is reached").
    pub max_connections: usize,
    /// Largest frame offered in `connection.tune` (bytes, envelope included). Default 128 KiB.
    pub frame_max: u32,
    /// Most channels per connection. Default 2047.
    pub channel_max: u16,
    /// Heartbeat interval offered (the client may lower it, 0 disables). Default 60 s.
    pub heartbeat: Duration,
    /// The handshake (protocol header to `connection.open`) must finish within this. Default 10 s.
    pub handshake_timeout: Duration,
    /// Largest message body accepted. Default 16 MiB.
    pub max_message_bytes: u64,
    /// Bytes of unacknowledged deliveries past which publishers are blocked. Default 256 MiB.
    pub memory_high_watermark: usize,
    /// Bytes a connection may have queued for its socket and not yet written; past it the connection stops reading
    /// the socket and taking deliveries until the peer reads (back-pressure). Default 16 MiB.
    pub max_write_backlog: usize,
    /// A connection whose peer reads nothing for this long while its write backlog is full is closed (its backlog
    /// freed): a stalled reader holds its budget this long at most. Default 60 s.
    pub write_stall_timeout: Duration,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            max_connections: 1024,
            frame_max: 128 * 1024,
            channel_max: 2047,
            heartbeat: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            max_message_bytes: 16 << 20,
            memory_high_watermark: 256 << 20,
            max_write_backlog: 16 << 20,
            write_stall_timeout: Duration::from_secs(60),
        }
    }
}
