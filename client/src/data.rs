//! Data calls: send messages, produce raw batches (pipelined), fetch and poll, idempotent producer ids, and named
//! consumers' offsets.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use callboard_protocol::ErrorCode;
use callboard_protocol::model::{
    Message, Partitioning, PollingStrategy, ReceivedMessage, Sent, decode_batches_limited, encode_batch,
};
use callboard_protocol::wire::{
    ApiKey, ConsumerSpec, DeleteOffset, Fetch, FetchResponse, GetOffset, InitProducer, Produce, ProduceTarget,
    StoreOffset, decode_control, encode_with_payload, split_payload,
};

use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::split::split_by_key;

/// What [`Client::poll`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polled {
    /// Partition read.
    pub partition: u32,
    /// Messages, in offset order.
    pub messages: Vec<ReceivedMessage>,
    /// Where the next poll continues.
    pub next_offset: u64,
    /// The partition's log end offset.
    pub log_end: u64,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The messages of a fetch answer's batches from `start_offset` up to `next_offset`; compressed batches are
/// decompressed, at most `max_decompressed` bytes each.
pub(crate) fn decode_fetched(
    batches: &Bytes,
    start_offset: u64,
    next_offset: u64,
    max_decompressed: usize,
) -> Result<Vec<ReceivedMessage>> {
    let wanted = next_offset.saturating_sub(start_offset) as usize;
    if wanted == 0 || batches.is_empty() {
        return Ok(Vec::new());
    }
    Ok(decode_batches_limited(batches, start_offset, wanted, max_decompressed)?)
}

/// The first `count` messages and where the next poll continues: right after the last one kept when some were cut
/// off (so no unreturned message is skipped), else the server's `next_offset`.
fn keep_at_most(mut messages: Vec<ReceivedMessage>, count: u32, next_offset: u64) -> (Vec<ReceivedMessage>, u64) {
    if messages.len() <= count as usize {
        return (messages, next_offset);
    }
    messages.truncate(count as usize);
    let next = messages.last().map_or(next_offset, |m| m.offset + 1).min(next_offset);
    (messages, next)
}

impl Client {
    /// Sends messages as one batch (per partition for `MessageKey`, which splits them client-side with the
    /// topic's cached partition count); answers where each batch landed.
    pub async fn send(
        &self,
        stream: &str,
        topic: &str,
        partitioning: Partitioning,
        messages: &[Message],
    ) -> Result<Vec<Sent>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let target = match partitioning {
            Partitioning::Balanced => ProduceTarget::Balanced,
            Partitioning::Partition(p) => ProduceTarget::Partition(p),
            Partitioning::Key(key) => ProduceTarget::Key(key),
            Partitioning::MessageKey => return self.send_by_key(stream, topic, messages, now).await,
        };
        let batch = Bytes::from(encode_batch(messages, now, None));
        Ok(vec![self.produce_batch(stream, topic, target, batch).await?])
    }

    async fn send_by_key(&self, stream: &str, topic: &str, messages: &[Message], now: i64) -> Result<Vec<Sent>> {
        let partitions = self.partition_count(stream, topic).await?;
        let keyless = self.round_robin().fetch_add(1, Ordering::Relaxed);
        let answers: Vec<_> = split_by_key(messages, partitions, keyless)
            .into_iter()
            .map(|(p, idx)| {
                let batch = Bytes::from(encode_batch(idx.iter().map(|&i| &messages[i]), now, None));
                self.produce_batch(stream, topic, ProduceTarget::Partition(p), batch)
            })
            .collect();
        let mut sent = Vec::with_capacity(answers.len());
        for answer in answers {
            match answer.await {
                Ok(s) => sent.push(s),
                Err(e) => {
                    if matches!(e.code(), Some(ErrorCode::PartitionNotFound | ErrorCode::TopicNotFound)) {
                        self.partition_cache().remove(&(stream.to_string(), topic.to_string()));
                    }
                    return Err(e);
                }
            }
        }
        Ok(sent)
    }

    /// Produces one encoded record batch. The request is queued when this is called (calls made in order are sent
    /// in order, and the broker stores one connection's batches in arrival order); await the answer later to
    /// pipeline.
    pub fn produce_batch(
        &self,
        stream: &str,
        topic: &str,
        target: ProduceTarget,
        batch: Bytes,
    ) -> impl Future<Output = Result<Sent>> + Send + 'static {
        let header = Produce { stream: stream.into(), topic: topic.into(), target };
        let answer = match encode_with_payload(&header, &batch) {
            Ok(body) => Ok(self.request(ApiKey::Produce, body, Duration::ZERO)),
            Err(e) => Err(ClientError::from(e)),
        };
        async move { Ok(decode_control::<Sent>(&answer?.await?)?) }
    }

    /// Fetches raw stored batches (which may start before `start_offset`). Queued when called, like
    /// [`Client::produce_batch`]; the timeout includes the request's `max_wait_ms`.
    pub fn fetch(&self, request: Fetch) -> impl Future<Output = Result<(FetchResponse, Bytes)>> + Send + 'static {
        let wait = Duration::from_millis(request.max_wait_ms);
        let answer = match callboard_protocol::wire::encode_control(&request) {
            Ok(body) => Ok(self.request(ApiKey::Fetch, body, wait)),
            Err(e) => Err(ClientError::from(e)),
        };
        async move { Ok(split_payload::<FetchResponse>(&answer?.await?)?) }
    }

    /// Polls up to `count` messages from a partition, waiting up to `max_wait` when there are none yet.
    ///
    /// `next_offset` never passes a message that was not returned, so storing it skips nothing. A `count` of 0 is
    /// refused with [`ClientError::InvalidArgument`] without asking the server (which would read, and with an
    /// auto-committing consumer store past, one message).
    #[allow(clippy::too_many_arguments)]
    pub async fn poll(
        &self,
        stream: &str,
        topic: &str,
        partition: u32,
        strategy: PollingStrategy,
        count: u32,
        max_wait: Duration,
        consumer: Option<ConsumerSpec>,
    ) -> Result<Polled> {
        if count == 0 {
            return Err(ClientError::InvalidArgument("poll count must be at least 1".into()));
        }
        let request = Fetch {
            stream: stream.into(),
            topic: topic.into(),
            partition,
            strategy,
            max_count: count,
            max_bytes: 1 << 20,
            max_wait_ms: max_wait.as_millis() as u64,
            consumer,
        };
        let (answer, batches) = self.fetch(request).await?;
        let limit = self.config().max_decompressed_bytes;
        let messages = decode_fetched(&batches, answer.start_offset, answer.next_offset, limit)?;
        let (messages, next_offset) = keep_at_most(messages, count, answer.next_offset);
        Ok(Polled { partition, messages, next_offset, log_end: answer.log_end })
    }

    /// Allocates an idempotent producer id.
    pub async fn init_producer(&self) -> Result<i64> {
        Ok(self.call(&InitProducer {}).await?.producer_id)
    }

    /// Stores a named consumer's offset (of the next message it wants).
    pub async fn store_offset(
        &self,
        stream: &str,
        topic: &str,
        partition: u32,
        consumer: &str,
        offset: u64,
    ) -> Result<()> {
        let request =
            StoreOffset { stream: stream.into(), topic: topic.into(), partition, consumer: consumer.into(), offset };
        self.call(&request).await.map(|_| ())
    }

    /// A named consumer's stored offset.
    pub async fn get_offset(&self, stream: &str, topic: &str, partition: u32, consumer: &str) -> Result<Option<u64>> {
        let request = GetOffset { stream: stream.into(), topic: topic.into(), partition, consumer: consumer.into() };
        Ok(self.call(&request).await?.offset)
    }

    /// Deletes a named consumer's stored offset; answers whether there was one.
    pub async fn delete_offset(&self, stream: &str, topic: &str, partition: u32, consumer: &str) -> Result<bool> {
        let request = DeleteOffset { stream: stream.into(), topic: topic.into(), partition, consumer: consumer.into() };
        Ok(self.call(&request).await?.deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: u64) -> ReceivedMessage {
        ReceivedMessage {
            offset,
            timestamp: 0,
            id: None,
            key: None,
            headers: Vec::new(),
            payload: Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn a_truncated_poll_continues_after_the_last_message_kept() {
        let (kept, next) = keep_at_most((5..15).map(at).collect(), 3, 15);
        assert_eq!(kept.iter().map(|m| m.offset).collect::<Vec<_>>(), vec![5, 6, 7]);
        assert_eq!(next, 8, "messages 8..15 were not returned, so they are not skipped");
        // Nothing cut off: the server's next offset stands (it may pass gaps).
        let (kept, next) = keep_at_most(vec![at(5), at(9)], 3, 12);
        assert_eq!((kept.len(), next), (2, 12));
    }
}
