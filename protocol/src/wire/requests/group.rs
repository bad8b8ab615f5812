//! Bodies of the consumer-group APIs.

use serde::{Deserialize, Serialize};

use crate::model::{AssignmentStrategy, OffsetReset, ResetPolicy};

/// Joins a consumer group (creating it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinGroup {
    /// Stream.
    pub stream: String,
    /// Group.
    pub group: String,
    /// Free-form client id (prefix of the member id).
    pub client_id: String,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// Expire the member after this long without a heartbeat.
    pub session_timeout_ms: u64,
    /// Assignment strategy.
    pub strategy: AssignmentStrategy,
    /// Rejoin as this member.
    pub member_id: Option<String>,
}

/// Keeps a member alive; the answer is the current generation and assignment, which the member thereby accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Stream.
    pub stream: String,
    /// Group.
    pub group: String,
    /// Member id.
    pub member_id: String,
}

/// Leaves a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveGroup {
    /// Stream.
    pub stream: String,
    /// Group.
    pub group: String,
    /// Member id.
    pub member_id: String,
}

/// Polls a member's assigned partitions (taking turns) from the group's committed offsets. The answer is a payload
/// body: [`GroupFetchResponse`] then the stored batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupFetch {
    /// Stream.
    pub stream: String,
    /// Group.
    pub group: String,
    /// Member id.
    pub member_id: String,
    /// The generation the member acts in.
    pub generation: u32,
    /// The partitions the member holds in that generation (each is checked with the group before it is read).
    pub assignment: Vec<crate::model::TopicPartition>,
    /// At most this many messages.
    pub max_count: u32,
    /// About this many bytes at most.
    pub max_bytes: u32,
    /// Wait this long for data when none of the partitions has any.
    pub max_wait_ms: u64,
    /// Commit the offset after the returned messages before answering.
    pub auto_commit: bool,
    /// Where to start on a partition without a committed offset.
    pub reset: ResetPolicy,
    /// Where the member's reads stand on partitions it read past its last commit: the broker reads those from here
    /// instead of from the committed offset (explicit commits; reads stay fenced by generation either way).
    #[serde(default)]
    pub positions: Vec<ReadPosition>,
}

/// A member's read position on one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadPosition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Offset of the next message to read.
    pub offset: u64,
}

/// Header of the answer to [`GroupFetch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupFetchResponse {
    /// Topic the batches come from (empty when the member has no partitions).
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// First offset asked for: skip records below it.
    pub start_offset: u64,
    /// Where the next poll continues: commit this once the messages are processed.
    pub next_offset: u64,
    /// The partition's log end offset.
    pub log_end: u64,
}

/// Commits a group offset; refused unless the member owns the partition in the current generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitGroupOffset {
    /// Stream.
    pub stream: String,
    /// Group.
    pub group: String,
    /// Member id.
    pub member_id: String,
    /// The generation the member acts in.
    pub generation: u32,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Offset of the next message the group wants.
    pub offset: u64,
}

/// Lists a stream's consumer groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListGroups {
    /// Stream.
    pub stream: String,
}

/// Describes a group: members, assignment, offsets and lag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeGroup {
    /// Stream.
    pub stream: String,
    /// Group.
    pub group: String,
}

/// Deletes an empty group and its offsets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteGroup {
    /// Stream.
    pub stream: String,
    /// Group.
    pub group: String,
}

/// Moves an empty group's offsets on every partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetGroupOffsets {
    /// Stream.
    pub stream: String,
    /// Group.
    pub group: String,
    /// Topic.
    pub topic: String,
    /// Where to.
    pub to: OffsetReset,
}
