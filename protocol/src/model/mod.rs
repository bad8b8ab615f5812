//! The shapes server and SDK share: messages and their batch encoding, partitioners, topic configuration, poll
//! strategies, and what admin and group calls answer. The embedded broker (`callboard-actors`) re-exports them, the
//! wire protocol carries them as MessagePack, and the SDK uses them unchanged: each is defined once, here.

mod auth;
mod config;
mod group;
mod info;
mod message;
mod partitioner;
mod poll;

pub use auth::{AUDIT_TOPIC, Access, CreatedToken, GlobalPermission, Grants, Permission, TokenInfo, UserInfo};
pub use config::{DedupWindow, DurabilityPolicy, Encryption, MAX_PARTITIONS, TopicConfig, UnknownEncryption};
pub use group::{
    AssignmentStrategy, GroupDescription, GroupState, MemberInfo, Membership, PartitionLag, TopicPartition,
};
pub use info::{BrokerStatus, Health, PartitionInfo, StreamInfo, TopicDetails, TopicInfo};
pub use message::{
    Message, ReceivedMessage, decode_batches, decode_batches_limited, encode_batch, encode_batch_compressed,
};
pub use partitioner::{Partitioning, murmur2, partition_for_key};
pub use poll::{AppendAck, OffsetReset, PollingStrategy, ResetPolicy, Sent};
