//! Topic configuration as clients send it and the broker persists it.

use serde::{Deserialize, Serialize};

/// When a topic's appends are durable.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DurabilityPolicy {
    /// Acknowledged only once fsynced (group commit). The default: safe by default.
    #[default]
    Always,
    /// Fsynced at most this many milliseconds after the append.
    Interval {
        /// Milliseconds between syncs.
        ms: u64,
    },
    /// Left to the operating system.
    Never,
}

/// Per-topic configuration, persisted with the topic.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopicConfig {
    /// Number of partitions (at least 1; can grow, never shrink).
    pub partitions: u32,
    /// Durability of appends.
    pub durability: DurabilityPolicy,
    /// Delete sealed segments whose newest message is older than this.
    pub retention_age_ms: Option<u64>,
    /// Delete the oldest sealed segments while a partition is larger than this.
    pub retention_bytes: Option<u64>,
    /// Segment size.
    pub segment_bytes: u64,
    /// Largest encoded message (and produce batch) accepted.
    pub max_message_bytes: u32,
    /// Messages whose id was seen within this window are dropped as duplicates (`None`: no deduplication).
    pub dedup: Option<DedupWindow>,
    /// Encryption at rest of the stored batches (fixed at creation).
    pub encryption: Encryption,
}

/// How a topic's batches are stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Encryption {
    /// As produced (the default).
    #[default]
    #[serde(rename = "none")]
    None,
    /// Each batch's records sealed with AES-256-GCM under the topic's data key, itself wrapped by the broker's
    /// master key; headers stay readable, so recovery and indexes need no key. Clients always see plaintext.
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
}

impl Encryption {
    /// Every value, as the CLI and the REST API spell them.
    pub const ALL: [Encryption; 2] = [Encryption::None, Encryption::Aes256Gcm];

    /// The name used by the CLI, the REST API and the wire (`none`, `aes-256-gcm`).
    pub fn name(self) -> &'static str {
        match self {
            Encryption::None => "none",
            Encryption::Aes256Gcm => "aes-256-gcm",
        }
    }
}

impl std::fmt::Display for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not `none` or `aes-256-gcm`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown encryption {0:?} (expected none or aes-256-gcm)")]
pub struct UnknownEncryption(pub String);

impl std::str::FromStr for Encryption {
    type Err = UnknownEncryption;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Encryption::ALL
            .into_iter()
            .find(|e| e.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownEncryption(s.into()))
    }
}

/// Bounds of a topic's message-id deduplication window.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupWindow {
    /// At most this many ids are remembered per partition.
    pub max_ids: usize,
    /// Ids older than this are forgotten.
    pub max_age_ms: u64,
}

/// Most partitions one topic may have.
pub const MAX_PARTITIONS: u32 = 10_000;

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            partitions: 1,
            durability: DurabilityPolicy::Always,
            retention_age_ms: None,
            retention_bytes: None,
            segment_bytes: 1 << 30,
            max_message_bytes: 16 << 20,
            dedup: None,
            encryption: Encryption::None,
        }
    }
}
