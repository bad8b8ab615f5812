//! [`Consumer`]: polls one partition (anonymously or as a named consumer whose offset the broker keeps) or a
//! consumer group's assignment (joining the group and heartbeating in a background task), and commits explicitly.

mod config;
mod group;
mod membership;

use callboard_protocol::model::{Membership, PollingStrategy, ReceivedMessage};
use callboard_protocol::wire::{ConsumerSpec, Fetch};
use tokio::task::JoinHandle;

pub use config::{ConsumerConfig, ConsumerKind, DEFAULT_SESSION_TIMEOUT};

use crate::client::Client;
use crate::data::decode_fetched;
use crate::error::Result;
use group::GroupReader;
use membership::Member;

/// A consumed message with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// The message.
    pub message: ReceivedMessage,
}

enum Mode {
    Partition { partition: u32, name: Option<String>, position: Option<u64>, committed: Option<u64> },
    Group { reader: Box<GroupReader>, heartbeat: JoinHandle<()> },
}

/// A consumer of one partition or of a consumer group's assignment.
pub struct Consumer {
    client: Client,
    config: ConsumerConfig,
    mode: Mode,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("config", &self.config).finish()
    }
}

impl Consumer {
    /// Starts a consumer; a group member joins and starts heartbeating every third of its session timeout.
    pub async fn new(client: Client, config: ConsumerConfig) -> Result<Consumer> {
        let mode = match &config.kind {
            ConsumerKind::Partition { partition, name } => {
                Mode::Partition { partition: *partition, name: name.clone(), position: None, committed: None }
            }
            ConsumerKind::Group { group, session_timeout, strategy } => {
                let member =
                    Member::join(client.clone(), &config.stream, group, &config.topic, *session_timeout, *strategy)
                        .await?;
                let heartbeat = tokio::spawn(member.clone().heartbeat_loop());
                Mode::Group { reader: Box::new(GroupReader::new(member)), heartbeat }
            }
        };
        Ok(Consumer { client, config, mode })
    }

    /// Polls, waiting up to `max_wait` when there is nothing; an empty vector when nothing came.
    pub async fn poll(&mut self) -> Result<Vec<Consumed>> {
        let config = &self.config;
        match &mut self.mode {
            Mode::Group { reader, .. } => reader.poll(config).await,
            Mode::Partition { partition, name, position, .. } => {
                let request = Fetch {
                    stream: config.stream.clone(),
                    topic: config.topic.clone(),
                    partition: *partition,
                    strategy: position.map_or(config.start, PollingStrategy::Offset),
                    max_count: config.batch_count,
                    max_bytes: config.max_bytes,
                    max_wait_ms: config.max_wait.as_millis() as u64,
                    consumer: name.as_ref().map(|name| ConsumerSpec {
                        name: name.clone(),
                        auto_commit: config.auto_commit,
                        reset: config.reset,
                    }),
                };
                let (answer, batches) = self.client.fetch(request).await?;
                let limit = self.client.config().max_decompressed_bytes;
                let messages = decode_fetched(&batches, answer.start_offset, answer.next_offset, limit)?;
                *position = Some(answer.next_offset);
                let (topic, partition) = (&config.topic, *partition);
                Ok(messages.into_iter().map(|message| Consumed { topic: topic.clone(), partition, message }).collect())
            }
        }
    }

    /// Commits the offsets after everything returned so far (named consumers and groups; a no-op for anonymous
    /// partition consumers). A group member refused as stale or unassigned refreshes its membership, drops the
    /// revoked partitions' pending commits and returns the error.
    pub async fn commit(&mut self) -> Result<()> {
        let config = &self.config;
        match &mut self.mode {
            Mode::Group { reader, .. } => reader.commit(config).await,
            Mode::Partition { partition, name: Some(name), position: Some(position), committed } => {
                if *committed != Some(*position) {
                    self.client.store_offset(&config.stream, &config.topic, *partition, name, *position).await?;
                    *committed = Some(*position);
                }
                Ok(())
            }
            Mode::Partition { .. } => Ok(()),
        }
    }

    /// The group membership as last seen (`None` for partition consumers).
    pub fn membership(&self) -> Option<Membership> {
        match &self.mode {
            Mode::Group { reader, .. } => Some(reader.member.get()),
            Mode::Partition { .. } => None,
        }
    }

    /// Stops heartbeating and leaves the group (commit first: closing does not commit).
    pub async fn close(mut self) -> Result<()> {
        if let Mode::Group { reader, heartbeat } = &mut self.mode {
            heartbeat.abort();
            reader.member.leave().await?;
        }
        Ok(())
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if let Mode::Group { heartbeat, .. } = &self.mode {
            heartbeat.abort();
        }
    }
}
