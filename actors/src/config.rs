//! Broker and topic configuration.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use callboard_protocol::model::{DedupWindow, DurabilityPolicy, TopicConfig};
use callboard_protocol::model::{Encryption, MAX_PARTITIONS};
use callboard_storage::{Durability, Env, LogConfig, OsEnv};

use crate::error::{BrokerError, Result};

fn storage_durability(policy: DurabilityPolicy) -> Durability {
    match policy {
        DurabilityPolicy::Always => Durability::Always,
        DurabilityPolicy::Interval { ms } => Durability::Interval(Duration::from_millis(ms.max(1))),
        DurabilityPolicy::Never => Durability::Never,
    }
}

/// What the broker adds to [`TopicConfig`] (defined in `callboard-protocol`, shared with the SDK): validation and
/// the storage configuration it implies.
pub trait TopicConfigExt {
    /// Checks every value.
    fn validate(&self) -> Result<()>;
    /// The storage configuration of each partition's log.
    fn log_config(&self) -> LogConfig;
}

impl TopicConfigExt for TopicConfig {
    fn validate(&self) -> Result<()> {
        if self.partitions == 0 || self.partitions > MAX_PARTITIONS {
            return Err(BrokerError::InvalidConfig(format!(
                "partitions must be between 1 and {MAX_PARTITIONS}, got {}",
                self.partitions
            )));
        }
        if let Some(d) = self.dedup {
            if d.max_ids == 0 || d.max_ids > 10_000_000 {
                return Err(BrokerError::InvalidConfig("dedup.max_ids must be between 1 and 10 000 000".into()));
            }
            if d.max_age_ms == 0 {
                return Err(BrokerError::InvalidConfig("dedup.max_age_ms must be at least 1".into()));
            }
        }
        // Durations are any u64 of milliseconds (u64::MAX meaning forever: time arithmetic saturates), but 0 would
        // delete every sealed segment at once.
        if self.retention_age_ms == Some(0) {
            return Err(BrokerError::InvalidConfig(
                "retention_age_ms must be at least 1 (omit it to keep forever)".into(),
            ));
        }
        if self.retention_bytes == Some(0) {
            return Err(BrokerError::InvalidConfig("retention_bytes must be at least 1 (omit it for no limit)".into()));
        }
        self.log_config().validate().map_err(|e| BrokerError::InvalidConfig(e.to_string()))
    }

    fn log_config(&self) -> LogConfig {
        LogConfig {
            segment_bytes: self.segment_bytes,
            retention_age: self.retention_age_ms.map(Duration::from_millis),
            retention_bytes: self.retention_bytes,
            // Under `interval` the partition actor's timer flushes on a blocking thread; storage's inline interval
            // sync would block the actor thread for an fsync.
            durability: match self.durability {
                DurabilityPolicy::Interval { .. } => callboard_storage::Durability::Never,
                other => storage_durability(other),
            },
            // A sealed batch is stored with its nonce and tag (the partition keeps an encrypted topic's batches that
            // much under the 1 GiB bound).
            max_batch_bytes: self
                .max_message_bytes
                .max(64)
                .saturating_add(match self.encryption {
                    Encryption::None => 0,
                    Encryption::Aes256Gcm => callboard_protocol::batch::SEAL_OVERHEAD as u32,
                })
                .min(callboard_protocol::batch::MAX_DECOMPRESSED_BYTES as u32),
            ..LogConfig::default()
        }
    }
}

/// Configuration of an embedded broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Where streams, topics, logs and offsets live (default `./callboard-data`).
    pub data_dir: PathBuf,
    /// Threads (actix arbiters) partition actors are spread over (default: one per core).
    pub arbiters: usize,
    /// Long polls parked per partition at most.
    pub max_parked_polls: usize,
    /// A partition actor may restart this many times within `restart_window`; one more failure takes it offline.
    pub max_restarts: u32,
    /// Window for `max_restarts`.
    pub restart_window: Duration,
    /// How often retention runs.
    pub retention_check: Duration,
    /// Idle idempotent-producer state is dropped after this long.
    pub producer_expiry: Duration,
    /// After a full disk a partition refuses writes (read-only) for this long before trying again.
    pub read_only_retry: Duration,
    /// Most members one consumer group may have.
    pub max_group_members: usize,
    /// Most consumer groups in the broker (all streams together).
    pub max_groups: usize,
    /// Most streams the broker holds.
    pub max_streams: usize,
    /// Most topics per stream.
    pub max_topics_per_stream: usize,
    /// Most partitions in the broker, all topics (internal ones included) together. `None` (the default) derives
    /// it from the open-file limit, raised to its hard limit at start: see [`crate::budget`].
    pub max_partitions: Option<usize>,
    /// File-system layer for partition logs (the real one by default; tests inject faults through it).
    pub env: Arc<dyn Env>,
    /// Password of the `admin` user created on the first start of a data directory without users (`None`: a
    /// random one, written to `DATA_DIR/admin-credentials`). Ignored once users exist.
    pub admin_password: Option<crate::auth::Secret>,
    /// Master key wrapping the data keys of encrypted topics (`None`: encrypted topics cannot be created, and
    /// existing ones stay offline).
    pub master_key: Option<crate::encryption::MasterKey>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            data_dir: PathBuf::from("callboard-data"),
            arbiters: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_parked_polls: 1024,
            max_restarts: 5,
            restart_window: Duration::from_secs(60),
            retention_check: Duration::from_secs(30),
            producer_expiry: Duration::from_secs(7 * 24 * 3600),
            read_only_retry: Duration::from_secs(5),
            max_group_members: 1000,
            max_groups: 10_000,
            max_streams: 10_000,
            max_topics_per_stream: 10_000,
            max_partitions: None,
            env: Arc::new(OsEnv),
            admin_password: None,
            master_key: None,
        }
    }
}

impl BrokerConfig {
    /// The default configuration with the given data directory.
    pub fn with_data_dir(dir: impl Into<PathBuf>) -> Self {
        BrokerConfig { data_dir: dir.into(), ..BrokerConfig::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_config_ranges_are_checked_once_for_every_interface() {
        let ok = |c: TopicConfig| c.validate().is_ok();
        let base = TopicConfig::default();
        assert!(ok(TopicConfig { retention_age_ms: Some(u64::MAX), retention_bytes: Some(u64::MAX), ..base.clone() }));
        assert!(ok(TopicConfig { dedup: Some(DedupWindow { max_ids: 1, max_age_ms: u64::MAX }), ..base.clone() }));
        assert!(!ok(TopicConfig { retention_age_ms: Some(0), ..base.clone() }));
        assert!(!ok(TopicConfig { retention_bytes: Some(0), ..base.clone() }));
        assert!(!ok(TopicConfig { dedup: Some(DedupWindow { max_ids: 1, max_age_ms: 0 }), ..base.clone() }));
        assert!(!ok(TopicConfig { segment_bytes: 10, ..base.clone() }));
        // The largest max_message_bytes any topic takes is valid for an encrypted one too (sealing's 28 bytes are
        // taken from the partition's limit, not refused as a configuration error that the schema does not show).
        let largest = TopicConfig { max_message_bytes: (1 << 30) - 1, ..base.clone() };
        assert!(ok(largest.clone()));
        assert!(ok(TopicConfig { encryption: Encryption::Aes256Gcm, ..largest }));
        assert!(!ok(TopicConfig { partitions: 0, ..base.clone() }));
        // Forever must stay forever once converted for storage: no wrap to a negative age.
        let forever = TopicConfig { retention_age_ms: Some(u64::MAX), ..base }.log_config();
        assert_eq!(forever.retention_age.map(callboard_storage::millis_i64), Some(i64::MAX));
    }
}
