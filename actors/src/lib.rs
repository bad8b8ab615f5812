//! # callboard-actors
//!
//! Callboard's actor system and the embedded broker API. Every topic is a [`TopicActor`] supervising one
//! [`PartitionActor`] per partition; a partition actor owns its `callboard-storage` log and its mailbox serializes
//! appends. The [`Broker`] handle sends batches straight to partition actors through a routing table the metadata
//! actor publishes, and works from any async runtime (the actors run on their own threads: one actix arbiter per
//! core for partitions, plus a control thread for metadata).
//!
//! ```no_run
//! # async fn demo() -> Result<(), callboard_actors::BrokerError> {
//! use callboard_actors::*;
//! let broker = Broker::start(BrokerConfig::with_data_dir("data")).await?;
//! broker.create_topic("default", "orders", TopicConfig { partitions: 3, ..Default::default() }).await?;
//! broker.send("default", "orders", Partitioning::Balanced, vec![Message::new("hello")]).await?;
//! let polled = broker.poll("default", "orders", 0, PollRequest::new(PollingStrategy::First)).await?;
//! broker.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod auth;
mod broker;
pub mod budget;
mod config;
pub mod encryption;
mod error;
mod fault;
mod group;
mod handle;
mod metadata;
mod names;
mod partition;
mod route;
mod system;
mod topic;

pub use broker::BrokerActor;
/// Atomic, durable whole-file replacement and directory creation, for gateways that keep files of their own.
pub use callboard_storage::{create_dir_all_synced, replace_file};
pub use config::{BrokerConfig, TopicConfigExt};
pub use error::{BrokerError, Result};
pub use fault::FaultEnv;
pub use group::actor::{ConsumerGroupActor, group_consumer};
pub use group::api::{GroupPoll, GroupPolled, JoinRequest};
pub use group::assign::{MemberView, assign};
pub use handle::{Broker, PollRequest, Polled};
pub use metadata::DEFAULT_STREAM;
pub use names::{INTERNAL_PREFIX, MAX_NAME_BYTES, validate_internal_name, validate_name};
pub use partition::handlers::{APPEND_SECONDS, BYTES_IN, BYTES_OUT, MESSAGES_IN, MESSAGES_OUT};
pub use partition::{Append, ConsumerRef, Fetch, Fetched, GenerationFence, PartitionActor, RESTARTS_TOTAL};
pub use topic::TopicActor;

pub use callboard_protocol::batch::ProducerInfo;
pub use callboard_protocol::model::*;
