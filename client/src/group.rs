//! Consumer-group calls: membership, group fetch, fenced commits and group admin.

use std::time::Duration;

use bytes::Bytes;
use callboard_protocol::model::{AssignmentStrategy, GroupDescription, Membership, OffsetReset};
use callboard_protocol::wire::{
    ApiKey, CommitGroupOffset, DeleteGroup, DescribeGroup, GroupFetch, GroupFetchResponse, Heartbeat, JoinGroup,
    LeaveGroup, ListGroups, ResetGroupOffsets, encode_control, split_payload,
};

use crate::client::Client;
use crate::error::Result;

impl Client {
    /// Joins a consumer group (creating it) for `topics`; the member id is prefixed with this client's id.
    pub async fn join_group(
        &self,
        stream: &str,
        group: &str,
        topics: &[&str],
        session_timeout: Duration,
        strategy: AssignmentStrategy,
    ) -> Result<Membership> {
        let request = JoinGroup {
            stream: stream.into(),
            group: group.into(),
            client_id: self.config().client_id.clone(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            session_timeout_ms: session_timeout.as_millis() as u64,
            strategy,
            member_id: None,
        };
        self.call(&request).await
    }

    /// Keeps a member alive; answers the current generation and assignment, which the member thereby accepts.
    pub async fn heartbeat(&self, stream: &str, group: &str, member_id: &str) -> Result<Membership> {
        self.call(&Heartbeat { stream: stream.into(), group: group.into(), member_id: member_id.into() }).await
    }

    /// Leaves a group; its partitions go to the other members.
    pub async fn leave_group(&self, stream: &str, group: &str, member_id: &str) -> Result<()> {
        let request = LeaveGroup { stream: stream.into(), group: group.into(), member_id: member_id.into() };
        self.call(&request).await.map(|_| ())
    }

    /// Polls the member's assigned partitions from the group's committed offsets; answers raw stored batches
    /// (skip records below `start_offset`). The timeout includes the request's `max_wait_ms`.
    pub async fn group_fetch(&self, request: GroupFetch) -> Result<(GroupFetchResponse, Bytes)> {
        let wait = Duration::from_millis(request.max_wait_ms);
        let body = encode_control(&request)?;
        let answer = self.request(ApiKey::GroupFetch, body, wait).await?;
        Ok(split_payload(&answer)?)
    }

    /// Commits a group offset (of the next message the group wants); refused with `StaleGeneration` or
    /// `NotAssigned` unless `member` owns the partition in the current generation.
    pub async fn commit_group_offset(
        &self,
        stream: &str,
        group: &str,
        member: &Membership,
        topic: &str,
        partition: u32,
        offset: u64,
    ) -> Result<()> {
        let request = CommitGroupOffset {
            stream: stream.into(),
            group: group.into(),
            member_id: member.member_id.clone(),
            generation: member.generation,
            topic: topic.into(),
            partition,
            offset,
        };
        self.call(&request).await.map(|_| ())
    }

    /// Names of a stream's consumer groups.
    pub async fn list_groups(&self, stream: &str) -> Result<Vec<String>> {
        self.call(&ListGroups { stream: stream.into() }).await
    }

    /// A group's members, assignment, committed offsets and lag.
    pub async fn describe_group(&self, stream: &str, group: &str) -> Result<GroupDescription> {
        self.call(&DescribeGroup { stream: stream.into(), group: group.into() }).await
    }

    /// Deletes an empty group and its offsets.
    pub async fn delete_group(&self, stream: &str, group: &str) -> Result<()> {
        self.call(&DeleteGroup { stream: stream.into(), group: group.into() }).await.map(|_| ())
    }

    /// Moves an empty group's offsets on every partition of `topic`.
    pub async fn reset_group_offsets(&self, stream: &str, group: &str, topic: &str, to: OffsetReset) -> Result<()> {
        let request = ResetGroupOffsets { stream: stream.into(), group: group.into(), topic: topic.into(), to };
        self.call(&request).await.map(|_| ())
    }
}
