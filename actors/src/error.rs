//! [`BrokerError`]: what the embedded broker's operations can fail with, each mapped to one wire [`ErrorCode`].

use callboard_protocol::ErrorCode;
use callboard_storage::StorageError;

/// Errors of the embedded broker API (and, through [`BrokerError::code`], of every gateway).
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// No stream has that name.
    #[error("stream '{0}' not found")]
    StreamNotFound(String),
    /// A stream of that name exists.
    #[error("stream '{0}' already exists")]
    StreamExists(String),
    /// No topic has that name.
    #[error("topic '{stream}/{topic}' not found")]
    TopicNotFound {
        /// Stream name.
        stream: String,
        /// Topic name.
        topic: String,
    },
    /// A topic of that name exists.
    #[error("topic '{stream}/{topic}' already exists")]
    TopicExists {
        /// Stream name.
        stream: String,
        /// Topic name.
        topic: String,
    },
    /// The topic has no such partition.
    #[error("partition {partition} not found (the topic has {count})")]
    PartitionNotFound {
        /// Partition asked for.
        partition: u32,
        /// Partitions the topic has.
        count: u32,
    },
    /// A stream or topic name is not acceptable.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The partition is restarting or offline; the request was not applied and may be retried.
    #[error("partition {partition} of '{topic}' is unavailable ({reason}); retry later")]
    PartitionUnavailable {
        /// Topic name.
        topic: String,
        /// Partition.
        partition: u32,
        /// Why.
        reason: String,
    },
    /// The partition accepts no writes (its disk filled up); reads still work.
    #[error("partition {partition} of '{topic}' is read-only: {reason}")]
    ReadOnly {
        /// Topic name.
        topic: String,
        /// Partition.
        partition: u32,
        /// Why.
        reason: String,
    },
    /// Too many long polls are parked on the partition.
    #[error("too many long polls parked on the partition (limit {0}); retry later")]
    TooManyParkedPolls(usize),
    /// A named consumer has no stored offset and its reset policy is `error`.
    #[error("consumer '{consumer}' has no usable offset on partition {partition} ({reason})")]
    NoOffset {
        /// Consumer name.
        consumer: String,
        /// Partition.
        partition: u32,
        /// Why (none stored, or below the log start).
        reason: String,
    },
    /// An idempotent producer's sequence skips ahead.
    #[error("producer {producer_id}: expected sequence {expected}, got {got}")]
    OutOfOrderSequence {
        /// Producer id.
        producer_id: i64,
        /// Next sequence the partition expects.
        expected: i32,
        /// Sequence received.
        got: i32,
    },
    /// An idempotent producer uses an older epoch than the partition has seen.
    #[error("producer {producer_id} is fenced: epoch {got} is older than {current}")]
    ProducerFenced {
        /// Producer id.
        producer_id: i64,
        /// Epoch the partition knows.
        current: i16,
        /// Epoch received.
        got: i16,
    },
    /// The producer id was never allocated (or its state expired and it restarted mid-sequence).
    #[error("unknown producer id {0}")]
    UnknownProducer(i64),
    /// A message is larger than the topic allows.
    #[error("message of {size} bytes exceeds the topic's limit of {max} bytes")]
    MessageTooLarge {
        /// Encoded size.
        size: usize,
        /// Limit.
        max: u32,
    },
    /// A configured limit was reached.
    #[error("limit reached: {0}")]
    LimitExceeded(String),
    /// A broker-wide resource budget (file descriptors, partitions, memory) would be exceeded.
    #[error("resource limit: {0}")]
    ResourceLimit(String),
    /// The consumer group has no such member.
    #[error("group '{group}' has no member '{member_id}' (it left or expired); join again")]
    UnknownMember {
        /// Group.
        group: String,
        /// Member id.
        member_id: String,
    },
    /// A request from an older generation of the group.
    #[error("group '{group}' is at generation {current}, the request is from generation {got}")]
    StaleGeneration {
        /// Group.
        group: String,
        /// Current generation.
        current: u32,
        /// Generation of the request.
        got: u32,
    },
    /// The partition is not assigned to the member.
    #[error("partition {topic}/{partition} is not assigned to this member of group '{group}'")]
    NotAssigned {
        /// Group.
        group: String,
        /// Topic.
        topic: String,
        /// Partition.
        partition: u32,
    },
    /// No group has that name.
    #[error("consumer group '{0}' not found")]
    GroupNotFound(String),
    /// The group still has members.
    #[error("consumer group '{0}' still has members")]
    GroupNotEmpty(String),
    /// The broker is shutting down (or has shut down).
    #[error("the broker is shutting down")]
    ShuttingDown,
    /// The data directory is used by another broker.
    #[error("data directory {0} is in use by another broker")]
    DataDirLocked(String),
    /// Not logged in, or the credentials are wrong, expired or revoked.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Logged in, but without the permission the request needs.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// No user has that name.
    #[error("user '{0}' not found")]
    UserNotFound(String),
    /// A user of that name exists.
    #[error("user '{0}' already exists")]
    UserExists(String),
    /// No token has that id.
    #[error("access token '{0}' not found")]
    TokenNotFound(String),
    /// A storage error.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Another I/O error (metadata files, directories).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or directory.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

impl BrokerError {
    pub(crate) fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        BrokerError::Io { path: path.as_ref().display().to_string(), source }
    }

    /// The wire error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            BrokerError::StreamNotFound(_) => ErrorCode::StreamNotFound,
            BrokerError::StreamExists(_) => ErrorCode::StreamExists,
            BrokerError::TopicNotFound { .. } => ErrorCode::TopicNotFound,
            BrokerError::TopicExists { .. } => ErrorCode::TopicExists,
            BrokerError::PartitionNotFound { .. } => ErrorCode::PartitionNotFound,
            BrokerError::InvalidName { .. } => ErrorCode::InvalidName,
            BrokerError::InvalidConfig(_) => ErrorCode::InvalidConfig,
            BrokerError::PartitionUnavailable { .. } => ErrorCode::PartitionUnavailable,
            BrokerError::ReadOnly { .. } => ErrorCode::PartitionReadOnly,
            BrokerError::TooManyParkedPolls(_) => ErrorCode::TooManyParkedPolls,
            BrokerError::NoOffset { .. } => ErrorCode::NoOffset,
            BrokerError::OutOfOrderSequence { .. } => ErrorCode::OutOfOrderSequence,
            BrokerError::ProducerFenced { .. } => ErrorCode::ProducerFenced,
            BrokerError::UnknownProducer(_) => ErrorCode::UnknownProducer,
            BrokerError::MessageTooLarge { .. } => ErrorCode::MessageTooLarge,
            BrokerError::LimitExceeded(_) => ErrorCode::LimitExceeded,
            BrokerError::ResourceLimit(_) => ErrorCode::ResourceLimit,
            BrokerError::ShuttingDown => ErrorCode::ShuttingDown,
            BrokerError::UnknownMember { .. } => ErrorCode::UnknownMember,
            BrokerError::StaleGeneration { .. } => ErrorCode::StaleGeneration,
            BrokerError::NotAssigned { .. } => ErrorCode::NotAssigned,
            BrokerError::GroupNotFound(_) => ErrorCode::GroupNotFound,
            BrokerError::GroupNotEmpty(_) => ErrorCode::GroupNotEmpty,
            BrokerError::DataDirLocked(_) => ErrorCode::Locked,
            BrokerError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            BrokerError::Forbidden(_) => ErrorCode::Forbidden,
            BrokerError::UserNotFound(_) => ErrorCode::UserNotFound,
            BrokerError::UserExists(_) => ErrorCode::UserExists,
            BrokerError::TokenNotFound(_) => ErrorCode::TokenNotFound,
            BrokerError::Storage(e) => e.code(),
            BrokerError::Io { .. } => ErrorCode::StorageError,
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retriable(&self) -> bool {
        self.code().is_retriable()
    }
}

/// Shorthand for broker results.
pub type Result<T, E = BrokerError> = std::result::Result<T, E>;

impl From<callboard_protocol::batch::BatchError> for BrokerError {
    fn from(e: callboard_protocol::batch::BatchError) -> Self {
        BrokerError::Storage(StorageError::InvalidBatch(e))
    }
}
