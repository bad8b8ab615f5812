//! Where polls start, what consumers do without an offset, and what produce requests answer.

use serde::{Deserialize, Serialize};

/// What a consumer does when its offset is below the log start (removed by retention) or it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetPolicy {
    /// Start from the first message still held.
    #[default]
    Earliest,
    /// Start after the last message.
    Latest,
    /// Fail the poll with the `NoOffset` error code.
    Error,
}

/// Where a poll starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PollingStrategy {
    /// At this offset.
    Offset(u64),
    /// At the first message whose timestamp is at or after this (ms since the Unix epoch).
    Timestamp(i64),
    /// At the first message still held.
    First,
    /// At the last existing message.
    Last,
    /// At the named consumer's stored offset (the consumer named in the request).
    Next,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendAck {
    /// Offset of the first stored record (the log end when every record was a duplicate).
    pub base_offset: u64,
    /// Records stored.
    pub stored: u32,
    /// Records dropped as duplicates (message-id deduplication).
    pub duplicates: u32,
}

/// Where `reset_group_offsets` moves a group's offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetReset {
    /// The log start.
    Earliest,
    /// The log end.
    Latest,
    /// The first message at or after this timestamp (ms since the Unix epoch).
    Timestamp(i64),
    /// This offset.
    Offset(u64),
}

/// Where a produced batch landed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// Partition.
    pub partition: u32,
    /// Offset of its first stored message.
    pub base_offset: u64,
    /// Messages stored.
    pub stored: u32,
    /// Messages dropped as duplicates.
    pub duplicates: u32,
}
