//! What admin calls describe: streams, topics, partitions and the broker's status.

use serde::{Deserialize, Serialize};

use super::config::TopicConfig;

/// A stream as listed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// Numeric id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
    /// Number of topics.
    pub topics: usize,
}

/// A topic as listed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    /// Numeric id.
    pub id: u32,
    /// Stream name.
    pub stream: String,
    /// Topic name.
    pub name: String,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
    /// Configuration.
    pub config: TopicConfig,
}

/// A topic with the state of each partition.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicDetails {
    /// The topic.
    pub topic: TopicInfo,
    /// Its partitions.
    pub partitions: Vec<PartitionInfo>,
}

/// Health of a partition.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum Health {
    /// Serving.
    Online,
    /// Reads work, writes are refused (for example: disk full).
    ReadOnly(String),
    /// Failed more often than the restart bound allows, or (an encrypted topic) its data key is not available.
    Offline(String),
    /// Its topic was deleted or the broker is stopping.
    Retired,
}

/// A partition's state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// Partition number.
    pub partition: u32,
    /// Health.
    pub health: Health,
    /// First offset held.
    pub log_start: u64,
    /// Next offset to be written.
    pub log_end: u64,
    /// Bytes on disk.
    pub size_bytes: u64,
    /// Segments.
    pub segments: usize,
    /// Restarts since the broker started.
    pub restarts: u32,
    /// Long polls parked now.
    pub parked_polls: usize,
}

/// Broker-wide state for status pages.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerStatus {
    /// Version of this build.
    pub version: String,
    /// Milliseconds since start.
    pub uptime_ms: u64,
    /// Streams.
    pub streams: usize,
    /// Topics.
    pub topics: usize,
    /// Partitions serving.
    pub partitions_online: usize,
    /// Partitions read-only.
    pub partitions_read_only: usize,
    /// Partitions offline (failed past the restart bound).
    pub partitions_offline: usize,
    /// Partition actor restarts since start.
    pub restarts: u64,
}
