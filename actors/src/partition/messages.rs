//! Messages a partition actor handles. Each carries a whole batch or one request, never a single record.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use actix::Message;
use bytes::{Bytes, BytesMut};

use crate::error::Result;
pub(crate) use callboard_protocol::model::{AppendAck, Health, PartitionInfo, PollingStrategy, ResetPolicy};

/// Appends one record batch (as built by a producer); answered once it is durable under the topic's policy.
#[derive(Debug, Message)]
#[rtype(result = "Result<AppendAck>")]
pub struct Append {
    /// The encoded batch; offsets are assigned in place (a gateway passes the memory it received the batch into).
    pub batch: BytesMut,
}

/// [`Append`], queued whatever the mailbox holds (`Addr::do_send`), so the batches one sender queues are appended in
/// the order it queued them even while the mailbox is over capacity or the actor is still starting; the answer comes
/// back on `reply`. Back-pressure is the caller's: the gateways cap requests in flight per connection.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct QueuedAppend {
    /// The encoded batch; offsets are assigned in place.
    pub batch: BytesMut,
    /// Where the append's answer goes.
    pub reply: tokio::sync::oneshot::Sender<Result<AppendAck>>,
}

/// A named consumer whose offset the partition stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRef {
    /// Consumer name.
    pub name: String,
    /// Store the offset after the returned messages before answering (at-most-once).
    pub auto_commit: bool,
    /// What to do without a usable offset.
    pub reset: ResetPolicy,
}

/// Fences a consumer-group member's reads and commits to the generation it acts in: checked by the partition when
/// it reads, when a parked poll wakes, and when it stores the offset, so a member of an older generation can neither
/// read nor commit, even if a rebalance lands while its request is in flight.
#[derive(Debug, Clone)]
pub struct GenerationFence {
    /// The group's current generation, updated by the group actor on every rebalance.
    pub live: Arc<AtomicU32>,
    /// The generation the member acts in.
    pub generation: u32,
}

impl GenerationFence {
    /// Whether the member's generation is still the group's current one.
    pub fn holds(&self) -> bool {
        self.live.load(Ordering::Acquire) == self.generation
    }
}

/// Reads stored batches; parks (long poll) when there is nothing yet and `max_wait` is not zero.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Fetched>")]
pub struct Fetch {
    /// Where to start.
    pub strategy: PollingStrategy,
    /// At most this many messages.
    pub max_count: u32,
    /// About this many bytes at most (at least one batch is returned when there is one).
    pub max_bytes: usize,
    /// How long to wait for data when there is none.
    pub max_wait: Duration,
    /// The consumer, for `Next` and auto-commit.
    pub consumer: Option<ConsumerRef>,
    /// For a consumer-group member: its generation fence.
    pub fence: Option<GenerationFence>,
}

/// The answer to a [`Fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Whole stored batches, byte for byte; may hold records before `start_offset` (the batch holding it).
    pub batches: Bytes,
    /// First offset the poll asked for.
    pub start_offset: u64,
    /// Offset after the last message returned: where the next poll continues.
    pub next_offset: u64,
    /// The partition's log start offset.
    pub log_start: u64,
    /// The partition's log end offset (next offset to be written).
    pub log_end: u64,
}

/// Stores a consumer's offset (the offset of the next message it wants).
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct StoreOffset {
    /// Consumer name.
    pub consumer: String,
    /// Offset.
    pub offset: u64,
    /// For a consumer-group member: its generation fence.
    pub fence: Option<GenerationFence>,
}

/// Reads a consumer's stored offset.
#[derive(Debug, Message)]
#[rtype(result = "Result<Option<u64>>")]
pub struct GetOffset {
    /// Consumer name.
    pub consumer: String,
}

/// Deletes a consumer's stored offset; answers whether there was one.
#[derive(Debug, Message)]
#[rtype(result = "Result<bool>")]
pub struct DeleteOffset {
    /// Consumer name.
    pub consumer: String,
}

/// Describes the partition.
#[derive(Debug, Message)]
#[rtype(result = "PartitionInfo")]
pub struct Describe;

/// Stops the partition for good: closes its log cleanly, fails parked polls, and answers every later request with
/// `reason`'s error. Sent when its topic is deleted or the broker shuts down.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Retire {
    /// Delete the partition's files after closing (topic deletion).
    pub delete_files: bool,
}
