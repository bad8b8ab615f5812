//! The data APIs: produce (one stored-format batch, queued on its partition in arrival order), fetch and group fetch
//! (stored batches forwarded as they are, after a MessagePack head).

use bytes::{Bytes, BytesMut};
use callboard_actors::{Broker, ConsumerRef, Fetch as BrokerFetch, GroupPoll, Membership, Partitioning, Sent};
use callboard_protocol::wire::{
    Fetch, FetchResponse, GroupFetch, GroupFetchResponse, Produce, ProduceTarget, decode_control, split_payload_mut,
};
use std::time::Duration;

use super::access::Guarded;
use super::{Dispatched, MAX_WAIT};
use crate::answer::Answer;
use callboard_actors::auth::Principal;

/// A long poll's wait, capped.
fn max_wait(ms: u64) -> Duration {
    Duration::from_millis(ms).min(MAX_WAIT)
}

/// Produce: picks the partition and queues the batch on it now; the answer is where it landed.
pub(super) fn produce(broker: &Broker, p: &Principal, correlation: u64, body: BytesMut) -> Dispatched {
    let (request, batch) = match split_payload_mut::<Produce>(body) {
        Ok(parts) => parts,
        Err(e) => return Dispatched::Ready(Answer::error(correlation, e.code(), e)),
    };
    if let Err(e) = request.authorize(p) {
        return Dispatched::Ready(Answer::broker_error(correlation, &e));
    }
    let partition = match request.target {
        ProduceTarget::Partition(p) => Ok(p),
        ProduceTarget::Balanced => broker.partition_for(&request.stream, &request.topic, &Partitioning::Balanced),
        ProduceTarget::Key(key) => broker.partition_for(&request.stream, &request.topic, &Partitioning::Key(key)),
    };
    let partition = match partition {
        Ok(p) => p,
        Err(e) => return Dispatched::Ready(Answer::broker_error(correlation, &e)),
    };
    let appended = broker.append_batch_mut(&request.stream, &request.topic, partition, batch);
    Dispatched::Pending(Box::pin(async move {
        let sent = appended.await.map(|ack| Sent {
            partition,
            base_offset: ack.base_offset,
            stored: ack.stored,
            duplicates: ack.duplicates,
        });
        Answer::control(correlation, sent)
    }))
}

/// Fetch: reads stored batches from one partition (long-polling up to the capped wait), at most `max_bytes` (what
/// fits in a frame) whatever the request asks.
pub(super) fn fetch(broker: &Broker, p: &Principal, correlation: u64, body: &[u8], max_bytes: u32) -> Dispatched {
    let request = match decode_control::<Fetch>(body) {
        Ok(r) => r,
        Err(e) => return Dispatched::Ready(Answer::error(correlation, e.code(), e)),
    };
    if let Err(e) = request.authorize(p) {
        return Dispatched::Ready(Answer::broker_error(correlation, &e));
    }
    let broker = broker.clone();
    Dispatched::Pending(Box::pin(async move {
        let fetch = BrokerFetch {
            strategy: request.strategy,
            max_count: request.max_count,
            max_bytes: request.max_bytes.min(max_bytes) as usize,
            max_wait: max_wait(request.max_wait_ms),
            consumer: request.consumer.map(|c| ConsumerRef {
                name: c.name,
                auto_commit: c.auto_commit,
                reset: c.reset,
            }),
            fence: None,
        };
        match broker.fetch(&request.stream, &request.topic, request.partition, fetch).await {
            Ok(fetched) => {
                let header = FetchResponse {
                    start_offset: fetched.start_offset,
                    next_offset: fetched.next_offset,
                    log_start: fetched.log_start,
                    log_end: fetched.log_end,
                };
                Answer::with_payload(correlation, &header, fetched.batches)
            }
            Err(e) => Answer::broker_error(correlation, &e),
        }
    }))
}

/// Group fetch: polls the member's assigned partitions from the group's committed offsets, at most `max_bytes`.
pub(super) fn group_fetch(broker: &Broker, p: &Principal, correlation: u64, body: &[u8], max_bytes: u32) -> Dispatched {
    let request = match decode_control::<GroupFetch>(body) {
        Ok(r) => r,
        Err(e) => return Dispatched::Ready(Answer::error(correlation, e.code(), e)),
    };
    if let Err(e) = request.authorize(p) {
        return Dispatched::Ready(Answer::broker_error(correlation, &e));
    }
    let broker = broker.clone();
    Dispatched::Pending(Box::pin(async move {
        let member =
            Membership { member_id: request.member_id, generation: request.generation, assignment: request.assignment };
        let poll = GroupPoll {
            count: request.max_count,
            max_bytes: request.max_bytes.min(max_bytes) as usize,
            max_wait: max_wait(request.max_wait_ms),
            auto_commit: request.auto_commit,
            reset: request.reset,
            positions: request.positions.into_iter().map(|p| ((p.topic, p.partition), p.offset)).collect(),
        };
        match broker.group_fetch(&request.stream, &request.group, &member, poll).await {
            Ok(((topic, partition), Some(fetched))) => {
                let header = GroupFetchResponse {
                    topic,
                    partition,
                    start_offset: fetched.start_offset,
                    next_offset: fetched.next_offset,
                    log_end: fetched.log_end,
                };
                Answer::with_payload(correlation, &header, fetched.batches)
            }
            Ok((_, None)) => {
                let header = GroupFetchResponse {
                    topic: String::new(),
                    partition: 0,
                    start_offset: 0,
                    next_offset: 0,
                    log_end: 0,
                };
                Answer::with_payload(correlation, &header, Bytes::new())
            }
            Err(e) => Answer::broker_error(correlation, &e),
        }
    }))
}
