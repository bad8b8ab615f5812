//! [`LogConfig`] and [`Durability`]: how a partition log rolls, indexes, retains and syncs.

use std::time::Duration;

use crate::error::{Result, StorageError};

/// When appended data is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every append is durable before it is acknowledged; concurrent appends share one fsync (group commit).
    #[default]
    Always,
    /// Data is synced at most this long after it is appended; a power loss may lose that window.
    Interval(Duration),
    /// The operating system decides; a power loss may lose anything not yet written back (a process crash loses
    /// nothing).
    Never,
}

/// Configuration of one partition log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll to a new segment once the active one reaches this size (default 1 GiB; at most 2 GiB).
    pub segment_bytes: u64,
    /// Roll to a new segment once the active one is this old by the wall clock (default 7 days). Its age counts
    /// from its creation, or from the last open after a restart; record timestamps play no part, so producers with
    /// old timestamps cannot force a roll per batch.
    pub segment_age: Option<Duration>,
    /// Bytes of log between two sparse index entries (default 4 KiB).
    pub index_interval_bytes: u32,
    /// Drop sealed segments whose newest record is older than this (default: keep forever).
    pub retention_age: Option<Duration>,
    /// Drop the oldest sealed segment while the log without it would still hold at least this many bytes (Kafka's
    /// rule; default: no limit).
    pub retention_bytes: Option<u64>,
    /// When appends are made durable (default [`Durability::Always`]).
    pub durability: Durability,
    /// Largest batch `append` accepts (default 16 MiB; at most 1 GiB).
    pub max_batch_bytes: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_age: Some(Duration::from_secs(7 * 24 * 3600)),
            index_interval_bytes: 4096,
            retention_age: None,
            retention_bytes: None,
            durability: Durability::Always,
            max_batch_bytes: 16 << 20,
        }
    }
}

/// A duration in whole milliseconds as an `i64`, saturating at `i64::MAX` (about 292 million years): durations
/// meaning "forever" (`u64::MAX` ms) must never wrap negative in time arithmetic.
pub fn millis_i64(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl LogConfig {
    /// Checks every value is in range.
    pub fn validate(&self) -> Result<()> {
        if !(1024..=(2 << 30)).contains(&self.segment_bytes) {
            return Err(StorageError::Config(format!(
                "segment_bytes must be between 1 KiB and 2 GiB, got {}",
                self.segment_bytes
            )));
        }
        if self.index_interval_bytes == 0 {
            return Err(StorageError::Config("index_interval_bytes must be positive".into()));
        }
        if !(64..=(1 << 30)).contains(&self.max_batch_bytes) {
            return Err(StorageError::Config(format!(
                "max_batch_bytes must be between 64 bytes and 1 GiB, got {}",
                self.max_batch_bytes
            )));
        }
        if let Durability::Interval(d) = self.durability
            && d.is_zero()
        {
            return Err(StorageError::Config("a durability interval must be positive".into()));
        }
        Ok(())
    }
}
