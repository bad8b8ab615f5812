//! The producer's background task: assigns messages to partitions, seals batches when full or when their linger
//! passed, sends them in order per partition with at most `max_in_flight` unanswered, retries retriable failures
//! (resending every unacknowledged batch of the partition, byte-identical, in order) and answers flushes.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use callboard_protocol::ErrorCode;
use callboard_protocol::model::{Message, Partitioning, Sent, partition_for_key};
use callboard_protocol::wire::ProduceTarget;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{mpsc, oneshot};

use super::acks::AckTracker;
use super::config::ProducerConfig;
use super::partition::{Limits, PartitionState};
use crate::client::Client;
use crate::data::now_ms;
use crate::error::{ClientError, ProducerError, Result};

/// Commands the front end sends.
pub(crate) enum Command {
    /// Buffer a message.
    Send(Message),
    /// Seal what is buffered and answer once everything is acknowledged (or failed).
    Flush(oneshot::Sender<Result<(), ProducerError>>),
}

/// What the front end reads.
#[derive(Default)]
pub(crate) struct Shared {
    /// Messages acknowledged without a gap.
    pub acknowledged: AtomicU64,
    /// The permanent failure, once a batch failed for good: nothing is sent after it.
    pub failure: Mutex<Option<ClientError>>,
}

impl Shared {
    pub(crate) fn failure(&self) -> Option<ClientError> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The producer's error once it failed. `first_failed` is the first message not acknowledged (the end of the
    /// acknowledged prefix), never later than the first message that may be missing: batches dropped on other
    /// partitions may start before the batch that failed.
    pub(crate) fn error(&self) -> Option<ProducerError> {
        self.failure().map(|source| {
            let acknowledged = self.acknowledged.load(Ordering::Acquire);
            ProducerError::Failed { acknowledged, first_failed: acknowledged, source }
        })
    }
}

struct Completion {
    partition: u32,
    batch: u64,
    result: Result<Sent>,
}

type InFlight = FuturesUnordered<Pin<Box<dyn Future<Output = Completion> + Send>>>;

/// Commands taken per wake-up at most before looking at answers again.
const DRAIN: usize = 4096;

pub(crate) struct Task {
    client: Client,
    config: ProducerConfig,
    limits: Limits,
    producer_id: Option<i64>,
    partitions: Vec<PartitionState>,
    /// Partition of the balanced batch being filled.
    balanced: u32,
    acks: AckTracker,
    shared: Arc<Shared>,
    in_flight: InFlight,
    next_batch: u64,
    flushers: Vec<oneshot::Sender<Result<(), ProducerError>>>,
    /// Where the next dispatch scan starts (fairness across partitions).
    scan_from: usize,
}

impl Task {
    pub(crate) fn new(
        client: Client,
        config: ProducerConfig,
        producer_id: Option<i64>,
        partitions: u32,
        shared: Arc<Shared>,
    ) -> Self {
        let limits = Limits {
            max_messages: config.batch_max_messages.max(1),
            max_bytes: config.batch_max_bytes,
            compression: config.compression,
        };
        // Start the balanced rotation somewhere else for each producer, so short-lived producers spread out too.
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let balanced = client.round_robin().fetch_add(1, Ordering::Relaxed).wrapping_add(seed) % partitions;
        Task {
            client,
            config,
            limits,
            producer_id,
            partitions: (0..partitions).map(|_| PartitionState::default()).collect(),
            balanced,
            acks: AckTracker::default(),
            shared,
            in_flight: FuturesUnordered::new(),
            next_batch: 0,
            flushers: Vec::new(),
            scan_from: 0,
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut input_open = true;
        loop {
            self.dispatch();
            self.answer_flushers();
            if !input_open && self.is_settled() {
                break;
            }
            let deadline = self.next_deadline();
            let accept = input_open && self.waiting() == 0;
            tokio::select! {
                biased;
                Some(done) = self.in_flight.next(), if !self.in_flight.is_empty() => self.complete(done),
                cmd = rx.recv(), if accept => match cmd {
                    None => {
                        input_open = false;
                        self.seal_all();
                    }
                    Some(cmd) => {
                        self.command(cmd);
                        for _ in 0..DRAIN {
                            if self.waiting() > 0 {
                                break;
                            }
                            match rx.try_recv() {
                                Ok(cmd) => self.command(cmd),
                                Err(_) => break,
                            }
                        }
                    }
                },
                _ = sleep_until(deadline), if deadline.is_some() => self.seal_expired(),
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Send(message) => self.push(message),
            Command::Flush(reply) => {
                self.seal_all();
                self.flushers.push(reply);
            }
        }
    }

    fn partition_of(&self, message: &Message) -> u32 {
        let n = self.partitions.len() as u32;
        match &self.config.partitioning {
            Partitioning::Partition(p) => *p,
            Partitioning::Key(key) => partition_for_key(key, n),
            Partitioning::MessageKey => match &message.key {
                Some(key) => partition_for_key(key, n),
                None => self.balanced,
            },
            Partitioning::Balanced => self.balanced,
        }
    }

    fn push(&mut self, message: Message) {
        if self.shared.failure().is_some() {
            return;
        }
        let p = self.partition_of(&message);
        let now = now_ms();
        if self.partitions[p as usize].must_seal_before(&message, self.limits, now) {
            self.seal(p);
        }
        let index = self.acks.next_index();
        if self.partitions[p as usize].push(&message, index, &mut self.acks, self.limits, now) {
            self.seal(p);
        }
    }

    fn seal(&mut self, p: u32) {
        let id = self.next_batch;
        if self.partitions[p as usize].seal(self.producer_id, id, self.limits.compression) {
            self.next_batch += 1;
            if p == self.balanced {
                self.balanced = (self.balanced + 1) % self.partitions.len() as u32;
            }
        }
    }

    fn seal_all(&mut self) {
        for p in 0..self.partitions.len() as u32 {
            self.seal(p);
        }
    }

    fn seal_expired(&mut self) {
        let now = Instant::now();
        for p in 0..self.partitions.len() as u32 {
            if self.partitions[p as usize].open_since().is_some_and(|t| t + self.config.linger <= now) {
                self.seal(p);
            }
        }
    }

    /// The next linger expiry or retry time. A retry blocked by unanswered batches (of its partition, or
    /// `max_in_flight` in all) is left out: an answer wakes the task, so a past retry time cannot spin the loop.
    fn next_deadline(&self) -> Option<Instant> {
        let global_full = self.in_flight.len() >= self.config.max_in_flight.max(1);
        self.partitions.iter().filter_map(|s| s.deadline(self.config.linger, global_full)).min()
    }

    /// Sealed batches not in flight.
    fn waiting(&self) -> usize {
        self.partitions.iter().map(PartitionState::waiting).sum()
    }

    fn is_settled(&self) -> bool {
        self.in_flight.is_empty() && self.partitions.iter().all(PartitionState::is_idle)
    }

    /// Sends what may be sent: in order per partition, `max_in_flight` at most.
    fn dispatch(&mut self) {
        if self.shared.failure().is_some() {
            // Nothing is sent after a permanent failure: a later batch would only be refused as out of order.
            return;
        }
        let n = self.partitions.len();
        let now = Instant::now();
        for k in 0..n {
            let p = (self.scan_from + k) % n;
            while self.in_flight.len() < self.config.max_in_flight.max(1) {
                let Some(batch) = self.partitions[p].next_to_send(now) else { break };
                batch.in_flight = true;
                let (id, bytes) = (batch.id, batch.bytes.clone());
                let target = ProduceTarget::Partition(p as u32);
                let answer = self.client.produce_batch(&self.config.stream, &self.config.topic, target, bytes);
                let partition = p as u32;
                self.in_flight.push(Box::pin(async move { Completion { partition, batch: id, result: answer.await } }));
            }
        }
        self.scan_from = (self.scan_from + 1) % n;
    }

    fn complete(&mut self, done: Completion) {
        let failed = self.shared.failure().is_some();
        let state = &mut self.partitions[done.partition as usize];
        let error = match done.result {
            Ok(sent) => {
                if sent.duplicates > 0 {
                    tracing::debug!(partition = done.partition, duplicates = sent.duplicates, "retry acknowledged");
                }
                if let Some(batch) = state.acknowledge(done.batch) {
                    self.acks.ack(&batch.ranges);
                    self.shared.acknowledged.store(self.acks.acknowledged(), Ordering::Release);
                }
                return;
            }
            Err(e) => e,
        };
        if failed {
            // After a permanent failure an answered attempt is never resent: drop the batch (its messages stay
            // unacknowledged, so the acknowledged count stops before them).
            state.drop_batch(done.batch);
            return;
        }
        let Some(oldest) = state.attempt_failed(done.batch) else { return };
        // A batch behind a failed one is refused as out of order: it is resent with its predecessor.
        let retriable = error.is_retriable() || (!oldest && error.code() == Some(ErrorCode::OutOfOrderSequence));
        if retriable && state.retry_at.is_some() {
            // This round's resend is scheduled already; the batch goes with it.
            return;
        }
        if retriable && state.attempts < self.config.retries {
            let at = Instant::now() + self.config.backoff(state.attempts + 1);
            state.schedule_retry(at);
            tracing::debug!(partition = done.partition, %error, attempt = state.attempts, "batch failed, retrying");
            return;
        }
        tracing::warn!(partition = done.partition, %error, "batch failed for good");
        *self.shared.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        for state in &mut self.partitions {
            state.abandon();
        }
        // The failed batch is not in flight any more, so `abandon` dropped it.
    }

    fn answer_flushers(&mut self) {
        if self.flushers.is_empty() {
            return;
        }
        let outcome = match self.shared.error() {
            Some(e) if self.in_flight.is_empty() => Err(e),
            None if self.is_settled() => Ok(()),
            _ => return,
        };
        for reply in self.flushers.drain(..) {
            let _ = reply.send(outcome.clone());
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline.into()).await;
    }
}
