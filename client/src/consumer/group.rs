//! A group member's reading and committing. With explicit commits it reads each assigned partition from its own
//! position (starting at the group's committed offset) so polls move on before a commit; with auto-commit it uses
//! the broker's group fetch, which commits as it answers. Commits are fenced by generation: on `StaleGeneration`,
//! `NotAssigned` or `UnknownMember` the membership is refreshed and the revoked partitions' pending commits dropped.

use std::collections::HashMap;
use std::time::Duration;

use callboard_protocol::ErrorCode;
use callboard_protocol::model::{Membership, PollingStrategy, TopicPartition};
use callboard_protocol::wire::{ConsumerSpec, Fetch, GroupFetch};

use super::Consumed;
use super::config::ConsumerConfig;
use super::membership::Member;
use crate::data::decode_fetched;
use crate::error::{ClientError, Result};

/// The consumer name group offsets are stored under in each partition.
pub(crate) fn group_consumer(group: &str) -> String {
    format!("group:{group}")
}

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
    /// Which partition long-polls next when none has data.
    turn: usize,
}

impl GroupReader {
    pub(crate) fn new(member: Member) -> Self {
        GroupReader { member, positions: HashMap::new(), pending: HashMap::new(), turn: 0 }
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
        let polled = if config.auto_commit {
            self.group_fetch(config, &membership).await
        } else {
            self.fetch_assigned(config, &membership).await
        };
        match polled {
            Err(e) if is_membership_error(&e) => {
                let membership = self.member.refresh().await?;
                self.retain_assigned(&membership);
                Ok(Vec::new())
            }
            other => other,
        }
    }

    async fn group_fetch(&mut self, config: &ConsumerConfig, membership: &Membership) -> Result<Vec<Consumed>> {
        let request = GroupFetch {
            stream: config.stream.clone(),
            group: self.member.group.clone(),
            member_id: membership.member_id.clone(),
            generation: membership.generation,
            assignment: membership.assignment.clone(),
            max_count: config.batch_count,
            max_bytes: config.max_bytes,
            max_wait_ms: config.max_wait.as_millis() as u64,
            auto_commit: true,
            reset: config.reset,
        };
        let (answer, batches) = self.member.client.group_fetch(request).await?;
        if answer.topic.is_empty() {
            return Ok(Vec::new());
        }
        let messages = decode_fetched(&batches, answer.start_offset, answer.next_offset)?;
        let (topic, partition) = (answer.topic, answer.partition);
        Ok(messages.into_iter().map(|message| Consumed { topic: topic.clone(), partition, message }).collect())
    }

    fn fetch_request(&self, config: &ConsumerConfig, tp: &TopicPartition, wait: Duration) -> Fetch {
        let strategy = self.positions.get(tp).map_or(PollingStrategy::Next, |&o| PollingStrategy::Offset(o));
        Fetch {
            stream: config.stream.clone(),
            topic: tp.0.clone(),
            partition: tp.1,
            strategy,
            max_count: config.batch_count,
            max_bytes: config.max_bytes,
            max_wait_ms: wait.as_millis() as u64,
            consumer: Some(ConsumerSpec {
                name: group_consumer(&self.member.group),
                auto_commit: false,
                reset: config.reset,
            }),
        }
    }

    /// Reads every assigned partition at once without waiting; when none had anything, long-polls one of them.
    async fn fetch_assigned(&mut self, config: &ConsumerConfig, membership: &Membership) -> Result<Vec<Consumed>> {
        let parts = &membership.assignment;
        let answers: Vec<_> =
            parts.iter().map(|tp| self.member.client.fetch(self.fetch_request(config, tp, Duration::ZERO))).collect();
        let mut out = Vec::new();
        for (tp, answer) in parts.iter().zip(answers) {
            let (answer, batches) = answer.await?;
            self.take(tp, answer.start_offset, answer.next_offset, &batches, &mut out)?;
        }
        if out.is_empty() && !config.max_wait.is_zero() {
            let tp = &parts[self.turn % parts.len()];
            self.turn = self.turn.wrapping_add(1);
            let (answer, batches) = self.member.client.fetch(self.fetch_request(config, tp, config.max_wait)).await?;
            self.take(tp, answer.start_offset, answer.next_offset, &batches, &mut out)?;
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
        let messages = decode_fetched(batches, start, next)?;
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
