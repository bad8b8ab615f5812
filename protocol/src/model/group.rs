//! Consumer-group shapes: assignment strategies, memberships, group state and lag.

use serde::{Deserialize, Serialize};

/// A topic partition.
pub type TopicPartition = (String, u32);

/// How a group spreads partitions over its members.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStrategy {
    /// Per topic, contiguous ranges of partitions to the members subscribed to it (Kafka's range assignor).
    Range,
    /// All partitions, in order, dealt to the subscribed members in turn.
    RoundRobin,
    /// Members keep the partitions they own while the spread stays even; only the surplus moves, and a moved
    /// partition is first revoked from its owner before its new owner gets it (see the group actor).
    #[default]
    CooperativeSticky,
}

/// A member's view of the group after a join or heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The member id assigned by the broker.
    pub member_id: String,
    /// Current generation.
    pub generation: u32,
    /// Partitions the member may consume in this generation.
    pub assignment: Vec<TopicPartition>,
}

/// A member as described by admin calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Member id.
    pub member_id: String,
    /// Client id given at join.
    pub client_id: String,
    /// Assigned partitions.
    pub assignment: Vec<TopicPartition>,
}

/// The group's members, generation and strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    /// Group name.
    pub name: String,
    /// Current generation.
    pub generation: u32,
    /// Assignment strategy.
    pub strategy: AssignmentStrategy,
    /// Members and their assignments.
    pub members: Vec<MemberInfo>,
    /// Topics the members subscribe to.
    pub topics: Vec<String>,
}

/// Committed offset and lag of one partition for a group.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionLag {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Committed offset, if any.
    pub committed: Option<u64>,
    /// Log start offset.
    pub log_start: u64,
    /// Log end offset (high watermark).
    pub log_end: u64,
    /// Messages not yet committed: `log_end - committed` (from the log start when nothing is committed).
    pub lag: u64,
}

/// A group as described by admin calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDescription {
    /// Members, generation, strategy.
    pub state: GroupState,
    /// Offsets and lag per partition of every topic the group has consumed.
    pub partitions: Vec<PartitionLag>,
}
