//! [`GatewayConfig`]: the limits and timeouts every gateway session obeys.

use std::time::Duration;

use callboard_protocol::wire::DEFAULT_MAX_FRAME;

use crate::budget::ByteBudget;
use crate::error::GatewayError;

/// Default [`GatewayConfig::max_session_bytes`] (64 MiB).
pub const DEFAULT_SESSION_BYTES: usize = 64 << 20;
/// Default cap of [`GatewayConfig::shared_budget`] (512 MiB).
pub const DEFAULT_SHARED_BYTES: usize = 512 << 20;
/// Smallest accepted session or shared byte cap (64 KiB).
pub const MIN_BUDGET_BYTES: usize = 64 << 10;
/// Largest accepted session or shared byte cap (64 GiB).
pub const MAX_BUDGET_BYTES: usize = 64 << 30;

/// Limits and timeouts of a gateway and its sessions.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Most connections served at once (QUIC: connections, not streams). Past it a new connection gets one
    /// `LimitExceeded` error frame (correlation 0) and is closed. Default 1024.
    pub max_connections: usize,
    /// Most requests in flight per session (per TCP connection or QUIC stream); the session stops reading while
    /// that many are outstanding. Default 128.
    pub max_in_flight: usize,
    /// A session with no request for this long and nothing in flight is closed. Default 300 s.
    pub idle_timeout: Duration,
    /// A session must complete the `Hello` handshake within this long. Default 10 s.
    pub handshake_timeout: Duration,
    /// Largest frame accepted or sent, in bytes after the length field. Default `DEFAULT_MAX_FRAME` (64 MiB).
    pub max_frame: u32,
    /// Most bytes a session holds in requests in flight and answers not yet written; past it the session stops
    /// reading its socket until answers drain (back-pressure). A single request larger than this still goes through,
    /// alone. Default [`DEFAULT_SESSION_BYTES`]; accepted range [`MIN_BUDGET_BYTES`]..=[`MAX_BUDGET_BYTES`].
    pub max_session_bytes: usize,
    /// The same kind of cap shared by every session of every gateway given a clone of this config (TCP and QUIC of
    /// one broker). Default [`DEFAULT_SHARED_BYTES`]; its cap must be in range and at least `max_session_bytes`.
    pub shared_budget: ByteBudget,
    /// A session whose peer takes no byte of its answers for this long is closed (its budget freed): a client
    /// that stops reading holds its connection this long at most. Default 60 s; 1 ms to 1 day.
    pub write_stall_timeout: Duration,
}

impl GatewayConfig {
    /// Checks the limits are in range.
    pub fn validate(&self) -> Result<(), GatewayError> {
        let range = MIN_BUDGET_BYTES..=MAX_BUDGET_BYTES;
        if !range.contains(&self.max_session_bytes) {
            return Err(GatewayError::Config(format!(
                "max_session_bytes {} is outside {MIN_BUDGET_BYTES}..={MAX_BUDGET_BYTES}",
                self.max_session_bytes
            )));
        }
        if !(Duration::from_millis(1)..=Duration::from_secs(86_400)).contains(&self.write_stall_timeout) {
            return Err(GatewayError::Config(format!(
                "write_stall_timeout {:?} is outside 1 ms..=1 day",
                self.write_stall_timeout
            )));
        }
        let shared = self.shared_budget.cap();
        if !range.contains(&shared) || shared < self.max_session_bytes {
            return Err(GatewayError::Config(format!(
                "the shared byte budget {shared} is outside {}..={MAX_BUDGET_BYTES} (at least max_session_bytes)",
                self.max_session_bytes
            )));
        }
        Ok(())
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_connections: 1024,
            max_in_flight: 128,
            idle_timeout: Duration::from_secs(300),
            handshake_timeout: Duration::from_secs(10),
            max_frame: DEFAULT_MAX_FRAME,
            max_session_bytes: DEFAULT_SESSION_BYTES,
            shared_budget: ByteBudget::new(DEFAULT_SHARED_BYTES),
            write_stall_timeout: Duration::from_secs(60),
        }
    }
}
