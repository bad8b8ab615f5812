//! Admin calls: ping, status, streams and topics.

use callboard_protocol::model::{BrokerStatus, StreamInfo, TopicConfig, TopicDetails, TopicInfo};
use callboard_protocol::wire::{
    AddPartitions, CreateStream, CreateTopic, DeleteStream, DeleteTopic, DescribeTopic, ListStreams, ListTopics, Ping,
    StatusRequest,
};

use crate::client::Client;
use crate::error::Result;

impl Client {
    /// Checks the broker answers.
    pub async fn ping(&self) -> Result<()> {
        self.call(&Ping {}).await.map(|_| ())
    }

    /// The broker's status.
    pub async fn status(&self) -> Result<BrokerStatus> {
        self.call(&StatusRequest {}).await
    }

    /// Creates a stream.
    pub async fn create_stream(&self, name: &str) -> Result<StreamInfo> {
        self.call(&CreateStream { name: name.into() }).await
    }

    /// Deletes a stream with its topics.
    pub async fn delete_stream(&self, name: &str) -> Result<()> {
        self.call(&DeleteStream { name: name.into() }).await.map(|_| ())
    }

    /// Lists streams.
    pub async fn streams(&self) -> Result<Vec<StreamInfo>> {
        self.call(&ListStreams {}).await
    }

    /// Creates a topic.
    pub async fn create_topic(&self, stream: &str, name: &str, config: TopicConfig) -> Result<TopicInfo> {
        let partitions = config.partitions;
        let info = self.call(&CreateTopic { stream: stream.into(), name: name.into(), config }).await?;
        self.partition_cache().insert((stream.into(), name.into()), partitions.max(1));
        Ok(info)
    }

    /// Deletes a topic and its data.
    pub async fn delete_topic(&self, stream: &str, name: &str) -> Result<()> {
        self.partition_cache().remove(&(stream.to_string(), name.to_string()));
        self.call(&DeleteTopic { stream: stream.into(), name: name.into() }).await.map(|_| ())
    }

    /// Lists a stream's topics.
    pub async fn topics(&self, stream: &str) -> Result<Vec<TopicInfo>> {
        self.call(&ListTopics { stream: stream.into() }).await
    }

    /// Describes a topic and its partitions (and refreshes the cached partition count).
    pub async fn topic(&self, stream: &str, name: &str) -> Result<TopicDetails> {
        let details: TopicDetails = self.call(&DescribeTopic { stream: stream.into(), name: name.into() }).await?;
        self.partition_cache().insert((stream.into(), name.into()), (details.partitions.len() as u32).max(1));
        Ok(details)
    }

    /// Adds `count` partitions to a topic; answers the partition count now.
    pub async fn add_partitions(&self, stream: &str, name: &str, count: u32) -> Result<u32> {
        let answer = self.call(&AddPartitions { stream: stream.into(), name: name.into(), count }).await?;
        self.partition_cache().insert((stream.into(), name.into()), answer.partitions.max(1));
        Ok(answer.partitions)
    }

    /// The topic's partition count, from the cache or described.
    pub async fn partition_count(&self, stream: &str, topic: &str) -> Result<u32> {
        if let Some(n) = self.partition_cache().get(&(stream.to_string(), topic.to_string())) {
            return Ok(*n);
        }
        Ok(self.topic(stream, topic).await?.partitions.len() as u32)
    }
}
