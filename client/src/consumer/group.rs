//! A group member's reading and committing. With explicit commits it reads each assigned partition from its own
//! position (starting at the group's committed offset) so polls move on before a commit; with auto-commit it uses
//! the broker's group fetch, which commits as it answers. Commits are fenced by generation: on `StaleGeneration`,
//! `NotAssigned` or `UnknownMember` the membership is refreshed and the revoked partitions' pending commits dropped.

use std::collections::HashMap;

use callboard_protocol::ErrorCode;
use callboard_protocol::model::{Membership, TopicPartition};
use callboard_protocol::wire::{GroupFetch, ReadPosition};

use super::Consumed;
use super::config::ConsumerConfig;
use super::membership::Member;
use crate::data::decode_fetched;
use crate::error::{ClientError, Result};

/// Whether an error means the member's view of the group is out of date.
pub(crate) fn is_membership_error(e: &ClientError) -> bool {
    matches!(e.code(), Some(ErrorCode::StaleGeneration | ErrorCode::NotAssigned | ErrorCode::UnknownMember))
}

/// A member's read positions and pending commits.
pub(crate) struct GroupReader {
    pub member: Member,
    /// Where the next read of each partition starts.
    positions: HashMap<TopicPartition, u64>,
    /// Offsets to commit.
    pending: HashMap<TopicPartition, u64>,
}

impl GroupReader {
    pub(crate) fn new(member: Member) -> Self {
        GroupReader { member, positions: HashMap::new(), pending: HashMap::new() }
    }

    /// Forgets positions and pending commits of partitions no longer assigned.
    fn retain_assigned(&mut self, membership: &Membership) {
        self.positions.retain(|tp, _| membership.assignment.contains(tp));
        self.pending.retain(|tp, _| membership.assignment.contains(tp));
    }

    /// Polls the assigned partitions.
    pub(crate) async fn poll(&mut self, config: &ConsumerConfig) -> Result<Vec<Consumed>> {
        let membership = self.member.get();
        self.retain_assigned(&membership);
        if membership.assignment.is_empty() {
            tokio::time::sleep(config.max_wait).await;
            return Ok(Vec::new());
        }
        let polled = self.group_fetch(config, &membership).await;
        match polled {
            Err(e) if is_membership_error(&e) => {
                let membership = self.member.refresh().await?;
                self.retain_assigned(&membership);
                Ok(Vec::new())
            }
            other => other,
        }
    }

    /// One fenced group fetch: the broker checks the member still owns the partition in the current generation
    /// before it reads, and reads from the member's own position where it has one (explicit commits), else from the
    /// group's committed offset.
    async fn group_fetch(&mut self, config: &ConsumerConfig, membership: &Membership) -> Result<Vec<Consumed>> {
        let positions = if config.auto_commit {
            Vec::new()
        } else {
            self.positions
                .iter()
                .map(|((topic, partition), offset)| ReadPosition {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: *offset,
                })
                .collect()
        };
        let request = GroupFetch {
            stream: config.stream.clone(),
            group: self.member.group.clone(),
            member_id: membership.member_id.clone(),
            generation: membership.generation,
            assignment: membership.assignment.clone(),
            max_count: config.batch_count,
            max_bytes: config.max_bytes,
            max_wait_ms: config.max_wait.as_millis() as u64,
            auto_commit: config.auto_commit,
            reset: config.reset,
            positions,
        };
        let (answer, batches) = self.member.client.group_fetch(request).await?;
        let mut out = Vec::new();
        if answer.topic.is_empty() {
            return Ok(out);
        }
        let tp = (answer.topic, answer.partition);
        self.take(&tp, answer.start_offset, answer.next_offset, &batches, &mut out)?;
        if config.auto_commit {
            self.pending.remove(&tp);
        }
        Ok(out)
    }

    fn take(
        &mut self,
        tp: &TopicPartition,
        start: u64,
        next: u64,
        batches: &bytes::Bytes,
        out: &mut Vec<Consumed>,
    ) -> Result<()> {
        let messages = decode_fetched(batches, start, next, self.member.client.config().max_decompressed_bytes)?;
        self.positions.insert(tp.clone(), next);
        if !messages.is_empty() {
            self.pending.insert(tp.clone(), next);
        }
        out.extend(messages.into_iter().map(|message| Consumed { topic: tp.0.clone(), partition: tp.1, message }));
        Ok(())
    }

    /// Commits the offsets after everything returned so far.
    pub(crate) async fn commit(&mut self, config: &ConsumerConfig) -> Result<()> {
        let membership = self.member.get();
        let mut pending: Vec<(TopicPartition, u64)> = self.pending.iter().map(|(tp, o)| (tp.clone(), *o)).collect();
        pending.sort();
        for (tp, offset) in pending {
            let committed = self
                .member
                .client
                .commit_group_offset(&config.stream, &self.member.group, &membership, &tp.0, tp.1, offset)
                .await;
            match committed {
                Ok(()) => {
                    if self.pending.get(&tp) == Some(&offset) {
                        self.pending.remove(&tp);
                    }
                }
                Err(e) if is_membership_error(&e) => {
                    if let Ok(membership) = self.member.refresh().await {
                        self.retain_assigned(&membership);
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
