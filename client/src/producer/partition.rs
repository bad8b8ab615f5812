//! One partition's side of a producer: the batch being filled, the sealed batches not yet acknowledged (in sequence
//! order, the ones in flight first), the next sequence number, and the retry state. Pure bookkeeping, no I/O.

use std::collections::VecDeque;
use std::ops::Range;
use std::time::{Duration, Instant};

use bytes::Bytes;
use callboard_protocol::batch::{BatchBuilder, Compression, Header, ProducerInfo, RecordData};
use callboard_protocol::model::Message;

use super::acks::AckTracker;

/// Batch size limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Messages per batch.
    pub max_messages: usize,
    /// Bytes per batch (uncompressed).
    pub max_bytes: usize,
    /// Codec sealed batches are compressed with.
    pub compression: Compression,
}

/// The batch being filled.
struct OpenBatch {
    builder: BatchBuilder,
    ranges: Vec<Range<u64>>,
    created: Instant,
}

/// A sealed batch: its bytes never change, so a retry is identical to the first attempt.
#[derive(Debug)]
pub(crate) struct SealedBatch {
    /// Producer-wide batch id.
    pub id: u64,
    /// The encoded batch.
    pub bytes: Bytes,
    /// The message numbers it holds.
    pub ranges: Vec<Range<u64>>,
    /// Whether an attempt is waiting for its answer.
    pub in_flight: bool,
}

/// One partition's producer state.
#[derive(Default)]
pub(crate) struct PartitionState {
    next_sequence: i32,
    open: Option<OpenBatch>,
    unacked: VecDeque<SealedBatch>,
    /// Resend everything unacknowledged once nothing is in flight and this instant has passed.
    pub retry_at: Option<Instant>,
    /// Retry rounds since the last success.
    pub attempts: u32,
}

fn record_of<'a>(m: &'a Message, headers: &'a [Header<'a>], now_ms: i64) -> RecordData<'a> {
    RecordData {
        timestamp: m.timestamp.unwrap_or(now_ms),
        id: m.id,
        key: m.key.as_deref(),
        value: Some(&m.payload),
        headers,
    }
}

impl PartitionState {
    /// Whether `message` should go into a new batch: the open one is full or would grow past the limits.
    pub(crate) fn must_seal_before(&self, message: &Message, limits: Limits, now_ms: i64) -> bool {
        let Some(open) = &self.open else { return false };
        if open.builder.record_count() as usize >= limits.max_messages {
            return true;
        }
        let headers: Vec<Header<'_>> = message.headers.iter().map(|(k, v)| Header { key: k, value: Some(v) }).collect();
        let size = open.builder.record_size(&record_of(message, &headers, now_ms));
        open.builder.size_bytes() + size > limits.max_bytes
    }

    /// Adds message number `index` to the open batch; answers whether the batch is now full.
    pub(crate) fn push(
        &mut self,
        message: &Message,
        index: u64,
        acks: &mut AckTracker,
        limits: Limits,
        now_ms: i64,
    ) -> bool {
        let open = self.open.get_or_insert_with(|| OpenBatch {
            builder: BatchBuilder::new(),
            ranges: Vec::new(),
            created: Instant::now(),
        });
        let headers: Vec<Header<'_>> = message.headers.iter().map(|(k, v)| Header { key: k, value: Some(v) }).collect();
        open.builder.push(&record_of(message, &headers, now_ms));
        acks.add(&mut open.ranges, index);
        open.builder.record_count() as usize >= limits.max_messages || open.builder.size_bytes() >= limits.max_bytes
    }

    /// When the open batch was started.
    pub(crate) fn open_since(&self) -> Option<Instant> {
        self.open.as_ref().map(|o| o.created)
    }

    /// Seals the open batch (if any) with the next sequence numbers when `producer_id` is given.
    pub(crate) fn seal(&mut self, producer_id: Option<i64>, id: u64, compression: Compression) -> bool {
        let Some(open) = self.open.take() else { return false };
        let count = open.builder.record_count();
        let builder = match producer_id {
            Some(producer_id) => {
                let info = ProducerInfo { producer_id, producer_epoch: 0, base_sequence: self.next_sequence };
                self.next_sequence = self.next_sequence.wrapping_add(count as i32);
                open.builder.producer(info)
            }
            None => open.builder,
        };
        let bytes = Bytes::from(builder.finish_compressed(compression));
        self.unacked.push_back(SealedBatch { id, bytes, ranges: open.ranges, in_flight: false });
        true
    }

    /// The next batch to send: the first one not in flight, unless a retry is pending.
    pub(crate) fn next_to_send(&mut self, now: Instant) -> Option<&mut SealedBatch> {
        if let Some(at) = self.retry_at {
            if now < at || self.in_flight() > 0 {
                return None;
            }
            self.retry_at = None;
        }
        self.unacked.iter_mut().find(|b| !b.in_flight)
    }

    /// Batches waiting for an answer.
    pub(crate) fn in_flight(&self) -> usize {
        self.unacked.iter().filter(|b| b.in_flight).count()
    }

    /// Sealed batches not in flight.
    pub(crate) fn waiting(&self) -> usize {
        self.unacked.iter().filter(|b| !b.in_flight).count()
    }

    /// Whether nothing is buffered or unacknowledged.
    pub(crate) fn is_idle(&self) -> bool {
        self.open.is_none() && self.unacked.is_empty()
    }

    /// Removes an acknowledged batch.
    pub(crate) fn acknowledge(&mut self, id: u64) -> Option<SealedBatch> {
        let pos = self.unacked.iter().position(|b| b.id == id)?;
        self.attempts = 0;
        self.unacked.remove(pos)
    }

    /// Marks a failed attempt; answers whether the batch was the oldest unacknowledged batch.
    pub(crate) fn attempt_failed(&mut self, id: u64) -> Option<bool> {
        let pos = self.unacked.iter().position(|b| b.id == id)?;
        self.unacked[pos].in_flight = false;
        Some(pos == 0)
    }

    /// Removes a batch without acknowledging it (after a permanent failure).
    pub(crate) fn drop_batch(&mut self, id: u64) {
        self.unacked.retain(|b| b.id != id);
    }

    /// When the task must wake for this partition: the open batch's linger expiry, and the retry time unless the
    /// retry is blocked by unanswered batches (this partition's, or all `max_in_flight` when `global_full`), whose
    /// answers wake the task anyway. Answering a past retry time while blocked would spin the task.
    pub(crate) fn deadline(&self, linger: Duration, global_full: bool) -> Option<Instant> {
        let linger = self.open_since().map(|t| t + linger);
        let retry = self.retry_at.filter(|_| !global_full && self.in_flight() == 0);
        linger.into_iter().chain(retry).min()
    }

    /// Starts a retry round unless one is pending: everything unacknowledged is resent at `at`, in order.
    pub(crate) fn schedule_retry(&mut self, at: Instant) {
        if self.retry_at.is_none() {
            self.attempts += 1;
            self.retry_at = Some(at);
        }
    }

    /// Drops everything not in flight (after a permanent failure).
    pub(crate) fn abandon(&mut self) {
        self.open = None;
        self.retry_at = None;
        self.unacked.retain(|b| b.in_flight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callboard_protocol::batch::BatchHeader;

    const LIMITS: Limits = Limits { max_messages: 3, max_bytes: 1 << 20, compression: Compression::None };

    fn fill(state: &mut PartitionState, acks: &mut AckTracker, n: usize) {
        for _ in 0..n {
            let i = acks.next_index();
            state.push(&Message::new("x"), i, acks, LIMITS, 1);
        }
    }

    #[test]
    fn sequences_count_records_and_batches_keep_their_bytes() {
        let (mut state, mut acks) = (PartitionState::default(), AckTracker::default());
        fill(&mut state, &mut acks, 3);
        assert!(state.seal(Some(7), 1, Compression::None));
        fill(&mut state, &mut acks, 2);
        assert!(state.seal(Some(7), 2, Compression::None));
        assert!(!state.seal(Some(7), 3, Compression::None), "nothing open");
        let headers: Vec<_> = state.unacked.iter().map(|b| BatchHeader::parse(&b.bytes).expect("header")).collect();
        assert_eq!((headers[0].producer_id, headers[0].base_sequence, headers[0].record_count), (7, 0, 3));
        assert_eq!((headers[1].base_sequence, headers[1].record_count), (3, 2));
        assert_eq!(headers[1].producer_epoch, 0);
        // Non-idempotent batches carry no producer fields.
        fill(&mut state, &mut acks, 1);
        state.seal(None, 3, Compression::None);
        let last = BatchHeader::parse(&state.unacked[2].bytes).expect("header");
        assert_eq!((last.producer_id, last.base_sequence), (-1, -1));
    }

    #[test]
    fn failures_resend_everything_unacknowledged_in_order() {
        let (mut state, mut acks) = (PartitionState::default(), AckTracker::default());
        for id in 0..3 {
            fill(&mut state, &mut acks, 1);
            state.seal(Some(1), id, Compression::None);
        }
        let now = Instant::now();
        let sent: Vec<u64> = (0..3)
            .map(|_| {
                let b = state.next_to_send(now).expect("batch");
                b.in_flight = true;
                b.id
            })
            .collect();
        assert_eq!(sent, vec![0, 1, 2]);
        let bytes_before = state.unacked[1].bytes.clone();
        assert_eq!(state.attempt_failed(1), Some(false));
        state.schedule_retry(now);
        assert!(state.next_to_send(now).is_none(), "waits for the attempts in flight");
        assert_eq!(state.attempt_failed(2), Some(false));
        assert!(state.acknowledge(0).is_some());
        let again = state.next_to_send(now).expect("retry");
        assert_eq!(again.id, 1);
        assert_eq!(again.bytes, bytes_before, "a retry is byte-identical");
        assert_eq!(state.attempts, 0, "the success reset the retry count");
    }

    #[test]
    fn a_blocked_retry_sets_no_deadline() {
        let (mut state, mut acks) = (PartitionState::default(), AckTracker::default());
        let linger = Duration::from_secs(60);
        for id in 0..2 {
            fill(&mut state, &mut acks, 1);
            state.seal(Some(1), id, Compression::None);
        }
        let past = Instant::now() - Duration::from_secs(1);
        for _ in 0..2 {
            state.next_to_send(past).expect("batch").in_flight = true;
        }
        assert_eq!(state.attempt_failed(0), Some(true));
        state.schedule_retry(past);
        // Batch 1 is still unanswered: the past retry time must not wake the task (its answer will).
        assert_eq!(state.deadline(linger, false), None);
        assert_eq!(state.attempt_failed(1), Some(false));
        assert_eq!(state.deadline(linger, false), Some(past), "ready once nothing is in flight");
        assert_eq!(state.deadline(linger, true), None, "unless the producer-wide limit blocks it");
        // The open batch's linger still counts.
        fill(&mut state, &mut acks, 1);
        let open = state.open_since().expect("open");
        assert_eq!(state.deadline(linger, true), Some(open + linger));
        assert_eq!(state.deadline(linger, false), Some(past));
    }

    #[test]
    fn limits_seal_batches() {
        let (mut state, mut acks) = (PartitionState::default(), AckTracker::default());
        let limits = Limits { max_messages: 100, max_bytes: 200, compression: Compression::None };
        let big = Message::new(vec![0u8; 120]);
        assert!(!state.must_seal_before(&big, limits, 1));
        assert!(state.push(&big, acks.next_index(), &mut acks, limits, 1) || state.open_since().is_some());
        assert!(state.must_seal_before(&big, limits, 1), "a second one would exceed 200 bytes");
    }
}
