//! [`ConsumerConfig`] and [`ConsumerKind`]: what a [`super::Consumer`] reads and how.

use std::time::Duration;

use callboard_protocol::model::{AssignmentStrategy, PollingStrategy, ResetPolicy};

/// Default session timeout of a group member.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Which partitions a consumer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerKind {
    /// One partition.
    Partition {
        /// Partition number.
        partition: u32,
        /// A named consumer: the broker keeps its offset (committed by [`super::Consumer::commit`]).
        name: Option<String>,
    },
    /// The partitions a consumer group assigns to this member.
    Group {
        /// Group name.
        group: String,
        /// The member expires after this long without a heartbeat; heartbeats go every third of it.
        session_timeout: Duration,
        /// Assignment strategy.
        strategy: AssignmentStrategy,
    },
}

/// Configuration of a [`super::Consumer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// Stream.
    pub stream: String,
    /// Topic.
    pub topic: String,
    /// Partition or group.
    pub kind: ConsumerKind,
    /// Where a partition consumer starts (default `Next` when named, else `First`); groups start at their committed
    /// offsets.
    pub start: PollingStrategy,
    /// Messages per poll and partition, at most (default 1000).
    pub batch_count: u32,
    /// About this many bytes per poll and partition (default 1 MiB).
    pub max_bytes: u32,
    /// How long a poll waits when there is nothing (default 1 s).
    pub max_wait: Duration,
    /// Let the broker commit as it answers (at-most-once) instead of explicit [`super::Consumer::commit`] calls
    /// (default false).
    pub auto_commit: bool,
    /// What to do without a usable committed offset (default `Earliest`).
    pub reset: ResetPolicy,
}

impl ConsumerConfig {
    fn with_kind(stream: &str, topic: &str, kind: ConsumerKind, start: PollingStrategy) -> Self {
        ConsumerConfig {
            stream: stream.into(),
            topic: topic.into(),
            kind,
            start,
            batch_count: 1000,
            max_bytes: 1 << 20,
            max_wait: Duration::from_secs(1),
            auto_commit: false,
            reset: ResetPolicy::Earliest,
        }
    }

    /// An anonymous consumer of one partition, from its first message.
    pub fn partition(stream: &str, topic: &str, partition: u32) -> Self {
        Self::with_kind(stream, topic, ConsumerKind::Partition { partition, name: None }, PollingStrategy::First)
    }

    /// A named consumer of one partition, from its stored offset.
    pub fn named(stream: &str, topic: &str, partition: u32, name: &str) -> Self {
        let kind = ConsumerKind::Partition { partition, name: Some(name.into()) };
        Self::with_kind(stream, topic, kind, PollingStrategy::Next)
    }

    /// A member of consumer group `group` with the default session timeout and strategy.
    pub fn group(stream: &str, topic: &str, group: &str) -> Self {
        let kind = ConsumerKind::Group {
            group: group.into(),
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            strategy: AssignmentStrategy::default(),
        };
        Self::with_kind(stream, topic, kind, PollingStrategy::Next)
    }
}
