//! Bodies of the data APIs: produce, fetch, idempotent producer ids, and consumer offsets.

use serde::{Deserialize, Serialize};

use crate::model::{PollingStrategy, ResetPolicy};

/// Where a produce request's batch goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProduceTarget {
    /// The next partition in the broker's round-robin order.
    Balanced,
    /// This partition.
    Partition(u32),
    /// The partition this key hashes to (murmur2, as Kafka).
    Key(bytes::Bytes),
}

/// Appends one record batch: header of a payload body whose payload is the batch, encoded as stored (the broker
/// validates it and assigns offsets in place).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Produce {
    /// Stream.
    pub stream: String,
    /// Topic.
    pub topic: String,
    /// Partition choice.
    pub target: ProduceTarget,
}

/// The answer to [`Produce`] (a control body): where the batch landed.
pub type ProduceResponse = crate::model::Sent;

/// A named consumer for [`Fetch`]: the partition keeps its offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerSpec {
    /// Consumer name.
    pub name: String,
    /// Store the offset after the returned messages before answering (at-most-once).
    pub auto_commit: bool,
    /// What to do without a usable stored offset.
    pub reset: ResetPolicy,
}

/// Reads stored batches from one partition; long-polls up to `max_wait_ms` when there is nothing yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetch {
    /// Stream.
    pub stream: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Where to start.
    pub strategy: PollingStrategy,
    /// At most this many messages.
    pub max_count: u32,
    /// About this many bytes at most (at least one batch is returned when there is one).
    pub max_bytes: u32,
    /// Wait this long for data when there is none.
    pub max_wait_ms: u64,
    /// The consumer, for `next` and auto-commit.
    pub consumer: Option<ConsumerSpec>,
}

/// Header of the answer to [`Fetch`] and [`super::GroupFetch`]; the payload is whole stored batches, which may start
/// before `start_offset` (the batch holding it): skip records below it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    /// First offset asked for.
    pub start_offset: u64,
    /// Where the next poll continues.
    pub next_offset: u64,
    /// The partition's log start offset.
    pub log_start: u64,
    /// The partition's log end offset (high watermark).
    pub log_end: u64,
}

/// Allocates an idempotent producer id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitProducer {}

/// The answer to [`InitProducer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitProducerResponse {
    /// The producer id; send with epoch 0 and sequences from 0.
    pub producer_id: i64,
}

/// Stores a consumer's offset on a partition (the offset of the next message it wants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreOffset {
    /// Stream.
    pub stream: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Consumer name.
    pub consumer: String,
    /// Offset.
    pub offset: u64,
}

/// Reads a consumer's stored offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetOffset {
    /// Stream.
    pub stream: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Consumer name.
    pub consumer: String,
}

/// The answer to [`GetOffset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetOffsetResponse {
    /// The stored offset, if any.
    pub offset: Option<u64>,
}

/// Deletes a consumer's stored offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteOffset {
    /// Stream.
    pub stream: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Consumer name.
    pub consumer: String,
}

/// The answer to [`DeleteOffset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteOffsetResponse {
    /// Whether there was an offset.
    pub deleted: bool,
}
