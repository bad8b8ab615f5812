//! Bodies of the admin APIs: ping, status, streams and topics.

use serde::{Deserialize, Serialize};

use crate::model::TopicConfig;

/// Liveness check; answered with an empty body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {}

/// Asks for the broker's status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRequest {}

/// Creates a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateStream {
    /// Stream name.
    pub name: String,
}

/// Deletes a stream with its topics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteStream {
    /// Stream name.
    pub name: String,
}

/// Lists streams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListStreams {}

/// Creates a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTopic {
    /// Stream.
    pub stream: String,
    /// Topic name.
    pub name: String,
    /// Configuration.
    pub config: TopicConfig,
}

/// Deletes a topic and its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteTopic {
    /// Stream.
    pub stream: String,
    /// Topic name.
    pub name: String,
}

/// Lists a stream's topics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListTopics {
    /// Stream.
    pub stream: String,
}

/// Describes a topic and its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeTopic {
    /// Stream.
    pub stream: String,
    /// Topic name.
    pub name: String,
}

/// Adds partitions to a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddPartitions {
    /// Stream.
    pub stream: String,
    /// Topic name.
    pub name: String,
    /// Partitions to add.
    pub count: u32,
}

/// The answer to [`AddPartitions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddPartitionsResponse {
    /// The topic's partition count now.
    pub partitions: u32,
}
