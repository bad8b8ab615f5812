//! The consumer-group part of the embedded API: join, heartbeat, leave, poll the assigned partitions, commit
//! (fenced by generation), and the admin calls (list, describe with lag, delete, reset offsets).

use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::Addr;

use super::actor::{
    CheckOwner, ConsumerGroupActor, DescribeGroupState, Heartbeat, JoinGroup, LeaveGroup, Membership, group_consumer,
};
use super::assign::{AssignmentStrategy, TopicPartition};
use super::registry::{ForgetGroup, GetGroup, ListGroups};
use crate::error::{BrokerError, Result};
use crate::handle::{Broker, closed};
use crate::metadata::GroupMeta;
use crate::partition::{ConsumerRef, Describe, Fetch, Fetched, PollingStrategy, ResetPolicy, StoreOffset};
pub(crate) use callboard_protocol::model::{GroupDescription, OffsetReset, PartitionLag};
use callboard_protocol::model::{ReceivedMessage, decode_batches};

/// A join request.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Free-form client id (prefix of the member id).
    pub client_id: String,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// Expire the member after this long without a heartbeat (default 10 s).
    pub session_timeout: Duration,
    /// Assignment strategy (default cooperative-sticky).
    pub strategy: AssignmentStrategy,
    /// Rejoin as this member.
    pub member_id: Option<String>,
}

impl JoinRequest {
    /// A request for these topics with the defaults.
    pub fn new(client_id: impl Into<String>, topics: &[&str]) -> Self {
        JoinRequest {
            client_id: client_id.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            session_timeout: Duration::from_secs(10),
            strategy: AssignmentStrategy::default(),
            member_id: None,
        }
    }
}

/// A group member's poll.
#[derive(Debug, Clone)]
pub struct GroupPoll {
    /// At most this many messages.
    pub count: u32,
    /// About this many bytes at most.
    pub max_bytes: usize,
    /// Wait this long for data when none of the assigned partitions has any.
    pub max_wait: Duration,
    /// Commit the offset after the returned messages before answering (at-most-once).
    pub auto_commit: bool,
    /// Where to start on a partition without a committed offset (or below the log start).
    pub reset: ResetPolicy,
    /// Read these partitions from these offsets rather than from the committed ones (a member with explicit
    /// commits that has read past its last commit).
    pub positions: Vec<(TopicPartition, u64)>,
}

impl Default for GroupPoll {
    fn default() -> Self {
        GroupPoll {
            count: 100,
            max_bytes: 1 << 20,
            max_wait: Duration::ZERO,
            auto_commit: false,
            reset: ResetPolicy::Earliest,
            positions: Vec::new(),
        }
    }
}

/// Messages from one assigned partition.
#[derive(Debug, Clone)]
pub struct GroupPolled {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Messages (empty when none of the assigned partitions had any).
    pub messages: Vec<ReceivedMessage>,
    /// Offset after the last message: commit this once they are processed.
    pub next_offset: u64,
}

impl Broker {
    async fn group(
        &self,
        stream: &str,
        name: &str,
        create: bool,
        topics: Vec<String>,
    ) -> Result<(Addr<ConsumerGroupActor>, GroupMeta)> {
        let msg = GetGroup { stream: stream.into(), name: name.into(), create, topics };
        self.inner.broker.send(msg).await.map_err(closed)?
    }

    /// The actor of an existing group: straight from the routing table once started (heartbeats, fetches and
    /// commits never queue behind the broker actor's metadata writes), through the broker actor otherwise (a
    /// group remembered in the metadata whose actor starts on first use after a restart).
    async fn group_actor(&self, stream: &str, name: &str) -> Result<Addr<ConsumerGroupActor>> {
        match self.started_group(stream, name)? {
            Some(addr) => Ok(addr),
            None => Ok(self.group(stream, name, false, Vec::new()).await?.0),
        }
    }

    /// Joins a consumer group (creating it); answers the member id, generation and assignment.
    pub async fn join_group(&self, stream: &str, group: &str, request: JoinRequest) -> Result<Membership> {
        for topic in &request.topics {
            self.route(stream, topic)?;
        }
        let (addr, _) = self.group(stream, group, true, request.topics.clone()).await?;
        let msg = JoinGroup {
            member_id: request.member_id,
            client_id: request.client_id,
            topics: request.topics,
            session_timeout: request.session_timeout,
            strategy: request.strategy,
        };
        addr.send(msg).await.map_err(closed)?
    }

    /// Keeps a member alive and returns the current generation and its assignment, which the member acknowledges
    /// by calling: from now on it holds exactly those partitions.
    pub async fn heartbeat(&self, stream: &str, group: &str, member_id: &str) -> Result<Membership> {
        let addr = self.group_actor(stream, group).await?;
        addr.send(Heartbeat { member_id: member_id.into() }).await.map_err(closed)?
    }

    /// Leaves a group; its partitions go to the other members.
    pub async fn leave_group(&self, stream: &str, group: &str, member_id: &str) -> Result<()> {
        let addr = self.group_actor(stream, group).await?;
        addr.send(LeaveGroup { member_id: member_id.into() }).await.map_err(closed)?
    }

    /// Polls the member's assigned partitions (taking turns), starting at the group's committed offsets.
    pub async fn group_poll(
        &self,
        stream: &str,
        group: &str,
        member: &Membership,
        poll: GroupPoll,
    ) -> Result<GroupPolled> {
        let (tp, fetched) = self.group_fetch(stream, group, member, poll).await?;
        let Some(fetched) = fetched else {
            return Ok(GroupPolled { topic: tp.0, partition: tp.1, messages: Vec::new(), next_offset: 0 });
        };
        let wanted = (fetched.next_offset - fetched.start_offset) as usize;
        Ok(GroupPolled {
            topic: tp.0,
            partition: tp.1,
            messages: decode_batches(&fetched.batches, fetched.start_offset, wanted)?,
            next_offset: fetched.next_offset,
        })
    }

    /// Like [`Broker::group_poll`], answering stored batches as they are (what gateways forward): the partition read
    /// and what it returned, or `None` when the member holds no partitions (after waiting `max_wait`).
    pub async fn group_fetch(
        &self,
        stream: &str,
        group: &str,
        member: &Membership,
        poll: GroupPoll,
    ) -> Result<(TopicPartition, Option<Fetched>)> {
        let addr = self.group_actor(stream, group).await?;
        let parts = &member.assignment;
        if parts.is_empty() {
            if !poll.max_wait.is_zero() {
                tokio::time::sleep(poll.max_wait).await;
            }
            return Ok(((String::new(), 0), None));
        }
        let turn = self.inner.poll_turn.fetch_add(1, Ordering::Relaxed);
        let consumer = ConsumerRef { name: group_consumer(group), auto_commit: poll.auto_commit, reset: poll.reset };
        for i in 0..parts.len() {
            let last = i + 1 == parts.len();
            let tp = &parts[(turn + i) % parts.len()];
            let check = CheckOwner {
                member_id: member.member_id.clone(),
                generation: member.generation,
                partition: tp.clone(),
            };
            let fence = addr.send(check).await.map_err(closed)??;
            let strategy = poll
                .positions
                .iter()
                .find(|(p, _)| p == tp)
                .map_or(PollingStrategy::Next, |(_, offset)| PollingStrategy::Offset(*offset));
            let fetch = Fetch {
                strategy,
                max_count: poll.count.max(1),
                max_bytes: poll.max_bytes,
                max_wait: if last { poll.max_wait } else { Duration::ZERO },
                consumer: Some(consumer.clone()),
                fence: Some(fence),
            };
            let fetched = self.fetch(stream, &tp.0, tp.1, fetch).await?;
            if fetched.next_offset > fetched.start_offset || last {
                return Ok((tp.clone(), Some(fetched)));
            }
        }
        // The last partition's answer returns inside the loop.
        Ok(((String::new(), 0), None))
    }

    /// Commits a group offset for a partition; refused unless the member owns the partition in the current
    /// generation.
    pub async fn commit_group_offset(
        &self,
        stream: &str,
        group: &str,
        member: &Membership,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<()> {
        let addr = self.group_actor(stream, group).await?;
        let check = CheckOwner {
            member_id: member.member_id.clone(),
            generation: member.generation,
            partition: (topic.to_string(), partition),
        };
        let fence = addr.send(check).await.map_err(closed)??;
        let route = self.route(stream, topic)?;
        let target = route
            .partitions
            .get(partition as usize)
            .ok_or(BrokerError::PartitionNotFound { partition, count: route.count() })?;
        let msg = StoreOffset { consumer: group_consumer(group), offset, fence: Some(fence) };
        target.send(msg).await.map_err(closed)?
    }

    /// Names of a stream's consumer groups.
    pub async fn list_groups(&self, stream: &str) -> Result<Vec<String>> {
        let groups = self.inner.broker.send(ListGroups(stream.into())).await.map_err(closed)??;
        Ok(groups.into_iter().map(|g| g.name).collect())
    }

    /// A group's members, assignment, committed offsets, high watermarks and lag.
    pub async fn describe_group(&self, stream: &str, group: &str) -> Result<GroupDescription> {
        let (addr, meta) = self.group(stream, group, false, Vec::new()).await?;
        let state = addr.send(DescribeGroupState).await.map_err(closed)?;
        let consumer = group_consumer(group);
        let mut partitions = Vec::new();
        for topic in &meta.topics {
            let Ok(route) = self.route(stream, topic) else { continue };
            for (p, part) in route.partitions.iter().enumerate() {
                let info = part.send(Describe).await.map_err(closed)?;
                let committed = self.get_offset(stream, topic, p as u32, &consumer).await?;
                let from = committed.unwrap_or(info.log_start).max(info.log_start);
                partitions.push(PartitionLag {
                    topic: topic.clone(),
                    partition: p as u32,
                    committed,
                    log_start: info.log_start,
                    log_end: info.log_end,
                    lag: info.log_end.saturating_sub(from),
                });
            }
        }
        Ok(GroupDescription { state, partitions })
    }

    async fn require_empty(&self, stream: &str, group: &str) -> Result<GroupMeta> {
        let (addr, meta) = self.group(stream, group, false, Vec::new()).await?;
        if !addr.send(DescribeGroupState).await.map_err(closed)?.members.is_empty() {
            return Err(BrokerError::GroupNotEmpty(group.into()));
        }
        Ok(meta)
    }

    /// Deletes an empty group and its committed offsets.
    pub async fn delete_group(&self, stream: &str, group: &str) -> Result<()> {
        let meta = self.require_empty(stream, group).await?;
        let consumer = group_consumer(group);
        for topic in &meta.topics {
            let Ok(route) = self.route(stream, topic) else { continue };
            for p in 0..route.count() {
                self.delete_offset(stream, topic, p, &consumer).await?;
            }
        }
        self.inner.broker.send(ForgetGroup { stream: stream.into(), name: group.into() }).await.map_err(closed)?
    }

    /// Moves an empty group's offsets on every partition of `topic`.
    pub async fn reset_group_offsets(&self, stream: &str, group: &str, topic: &str, to: OffsetReset) -> Result<()> {
        self.require_empty(stream, group).await?;
        self.group(stream, group, true, vec![topic.to_string()]).await?;
        let route = self.route(stream, topic)?;
        let consumer = group_consumer(group);
        for p in 0..route.count() {
            let offset = match to {
                OffsetReset::Offset(o) => {
                    // Like Kafka's reset to an offset: clamped into the partition's range.
                    let info = route.partitions[p as usize].send(Describe).await.map_err(closed)?;
                    o.clamp(info.log_start, info.log_end)
                }
                OffsetReset::Earliest | OffsetReset::Latest | OffsetReset::Timestamp(_) => {
                    let strategy = match to {
                        OffsetReset::Timestamp(ts) => PollingStrategy::Timestamp(ts),
                        _ => PollingStrategy::First,
                    };
                    let fetch = Fetch {
                        strategy,
                        max_count: 1,
                        max_bytes: 1,
                        max_wait: Duration::ZERO,
                        consumer: None,
                        fence: None,
                    };
                    let fetched = self.fetch(stream, topic, p, fetch).await?;
                    if to == OffsetReset::Latest { fetched.log_end } else { fetched.start_offset }
                }
            };
            self.store_offset(stream, topic, p, &consumer, offset).await?;
        }
        Ok(())
    }
}
