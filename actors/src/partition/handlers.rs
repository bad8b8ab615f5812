//! Message handlers of [`PartitionActor`]: append (with deduplication and group-commit durability), fetch (with
//! long-poll parking), consumer offsets, describe and retire.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use actix::{AsyncContext, Context, Handler, ResponseFuture};
use bytes::{Bytes, BytesMut};
use callboard_protocol::batch::{
    BatchBuilder, BatchError, BatchHeader, Compression, Header, NO_PRODUCER_ID, ProducerInfo, RecordData,
    SEALED_ATTRIBUTE, validate,
};
use callboard_storage::{Committer, StorageError};
use tokio::sync::oneshot;

use super::PartitionActor;
use super::messages::*;
use super::producers::Verdict;
use crate::config::DurabilityPolicy;
use crate::error::{BrokerError, Result};

/// Counter of messages appended.
pub const MESSAGES_IN: &str = "callboard_messages_in_total";
/// Counter of bytes appended.
pub const BYTES_IN: &str = "callboard_bytes_in_total";
/// Histogram of append latency as a producer sees it (queueing, write and durability wait), in seconds.
pub const APPEND_SECONDS: &str = "callboard_append_seconds";
/// Counter of bytes served to consumers.
pub const BYTES_OUT: &str = "callboard_bytes_out_total";
/// Counter of messages served to consumers.
pub const MESSAGES_OUT: &str = "callboard_messages_out_total";

type Pending = (AppendAck, Option<(Arc<Committer>, u64)>);

fn needs_restart(e: &BrokerError) -> bool {
    matches!(e, BrokerError::Storage(StorageError::Failed { .. } | StorageError::Io { .. }))
}

fn panic_reason(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

impl PartitionActor {
    /// Runs `f`; a panic or an I/O failure stops the actor (the supervisor restarts it) and becomes a retriable error.
    pub(super) fn guarded<T>(&mut self, ctx: &mut Context<Self>, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(Err(e)) if needs_restart(&e) => {
                self.fail(ctx, e.to_string());
                Err(e)
            }
            Ok(result) => result,
            Err(payload) => {
                self.fail(ctx, format!("panic: {}", panic_reason(payload)));
                Err(self.unavailable("restarting after a failure"))
            }
        }
    }

    fn append_now(&mut self, mut batch: BytesMut) -> Result<Pending> {
        self.serving()?;
        if let Health::ReadOnly(reason) = &self.health
            && self.read_only_until.is_some_and(|t| Instant::now() < t)
        {
            return Err(self.read_only(reason.clone()));
        }
        // A log whose fsync failed takes nothing until the restart has cut its undurable tail: not even a batch
        // answered from memory (an idempotent retry, duplicate ids), which would never call the log and so never
        // trigger that restart.
        if let Some(cause) = self.serving()?.committer().failure() {
            return Err(StorageError::Failed { path: self.setup.dir.clone(), cause }.into());
        }
        let mut max = self.setup.config.max_message_bytes;
        if self.setup.config.encryption != callboard_protocol::model::Encryption::None {
            // Sealing adds its nonce and tag; a sealed batch must still open within the decompression bound.
            max = max.min(
                (callboard_protocol::batch::MAX_DECOMPRESSED_BYTES - callboard_protocol::batch::SEAL_OVERHEAD) as u32,
            );
        }
        if batch.len() > max as usize {
            return Err(BrokerError::MessageTooLarge { size: batch.len(), max });
        }
        let now = self.setup.env.now_ms();
        let header = BatchHeader::parse(&batch).map_err(StorageError::from)?;
        if header.attributes.sealed() {
            // Only the broker seals batches, as it stores them.
            return Err(StorageError::from(BatchError::ReservedAttributes(SEALED_ATTRIBUTE)).into());
        }
        let allocated = self.setup.producer_ids.load(std::sync::atomic::Ordering::Acquire);
        if let Verdict::Duplicate { base_offset, count } = self.producers.check(&header, allocated)? {
            let log = self.serving()?;
            let sync = matches!(self.setup.config.durability, DurabilityPolicy::Always)
                .then(|| (log.committer(), base_offset + u64::from(count)));
            return Ok((AppendAck { base_offset, stored: count, duplicates: 0 }, sync));
        }
        let mut fresh_ids = Vec::new();
        let mut duplicates = 0;
        // An idempotent producer's batches are deduplicated by sequence; dropping records from them would break
        // its sequence accounting.
        if let Some(dedup) = self.dedup.as_mut().filter(|_| header.producer_id == NO_PRODUCER_ID) {
            dedup.expire(now);
            let (kept, ids, dropped) = drop_duplicates(&batch, max as usize, |id| dedup.contains(id))?;
            duplicates = dropped;
            fresh_ids = ids;
            match kept {
                Kept::All => {}
                Kept::Some(rebuilt) => batch = BytesMut::from(Bytes::from(rebuilt)),
                Kept::None => {
                    // Every record repeats one already written, maybe not yet durable: answer after the same fsync.
                    let log = self.serving()?;
                    let base_offset = log.next_offset();
                    let sync = matches!(self.setup.config.durability, DurabilityPolicy::Always)
                        .then(|| (log.committer(), base_offset));
                    return Ok((AppendAck { base_offset, stored: 0, duplicates }, sync));
                }
            }
        } else if header.attributes.compression().map_err(StorageError::from)? != Compression::None {
            check_compressed(&batch, max as usize)?;
        }
        let log = self.log.as_mut().ok_or(BrokerError::ShuttingDown)?;
        if let Some(cipher) = self.setup.sealing.cipher() {
            // The partition's mailbox serializes appends: the next offset is the one this batch gets.
            validate(&batch).map_err(StorageError::from)?;
            batch = cipher.seal(self.setup.partition, &batch, log.next_offset())?;
        }
        match log.append(&mut batch) {
            Ok(appended) => {
                self.producers.record(&header, appended.base_offset, now);
                if let Some(dedup) = self.dedup.as_mut() {
                    for id in fresh_ids {
                        dedup.insert(id, now);
                    }
                }
                if matches!(self.health, Health::ReadOnly(_)) {
                    self.health = Health::Online;
                    self.read_only_until = None;
                }
                let stored = (appended.next_offset - appended.base_offset) as u32;
                let labels = self.setup.metric_labels();
                metrics::counter!(MESSAGES_IN, &labels).increment(u64::from(stored));
                metrics::counter!(BYTES_IN, &labels).increment(batch.len() as u64);
                let sync = matches!(self.setup.config.durability, DurabilityPolicy::Always)
                    .then(|| (log.committer(), appended.next_offset));
                self.note_appended(batch.len());
                Ok((AppendAck { base_offset: appended.base_offset, stored, duplicates }, sync))
            }
            Err(StorageError::DiskFull { path }) => {
                let reason = format!("disk full while writing {}", path.display());
                self.health = Health::ReadOnly(reason.clone());
                self.read_only_until = Some(Instant::now() + self.setup.read_only_retry);
                Err(self.read_only(reason))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn read_only(&self, reason: String) -> BrokerError {
        BrokerError::ReadOnly {
            topic: format!("{}/{}", self.setup.stream, self.setup.topic),
            partition: self.setup.partition,
            reason,
        }
    }

    /// Serves a fetch now, or `None` when there is nothing at its start yet.
    fn fetch_now(&mut self, req: &Fetch) -> Result<Option<Fetched>> {
        check_fence(req.fence.as_ref(), req.consumer.as_ref().map(|c| c.name.as_str()))?;
        let log = self.serving()?;
        let (log_start, log_end) = (log.log_start_offset(), log.next_offset());
        // Under `always`, consumers see only durable messages: nothing they read (or auto-commit) can vanish in a
        // crash or come back as a producer's retry after a failed fsync.
        let visible_end = match self.setup.config.durability {
            DurabilityPolicy::Always => log.durable_offset().min(log_end),
            _ => log_end,
        };
        let start = self.resolve_start(req)?;
        if start >= visible_end {
            return Ok(None);
        }
        let log = self.serving()?;
        // Stop at the batch holding the last wanted offset: reading (and CRC-checking) up to `max_bytes` for a
        // small `max_count` wastes work.
        let upper = start.saturating_add(u64::from(req.max_count.max(1))).min(visible_end);
        let mut read = log.read_until(start, req.max_bytes, upper)?;
        if let Some(cipher) = self.setup.sealing.cipher() {
            read.bytes = cipher.open_all(self.setup.partition, &read.bytes)?;
        }
        let next_offset = read.next_offset.min(start.saturating_add(u64::from(req.max_count.max(1))));
        if let Some(consumer) = req.consumer.as_ref().filter(|c| c.auto_commit) {
            self.offsets.as_mut().ok_or(BrokerError::ShuttingDown)?.store(&consumer.name, next_offset, false)?;
        }
        let labels = self.setup.metric_labels();
        metrics::counter!(BYTES_OUT, &labels).increment(read.bytes.len() as u64);
        metrics::counter!(MESSAGES_OUT, &labels).increment(next_offset - start);
        Ok(Some(Fetched { batches: read.bytes, start_offset: start, next_offset, log_start, log_end }))
    }

    fn empty_fetch(&self, req: &Fetch) -> Result<Fetched> {
        let log = self.serving()?;
        let (log_start, log_end) = (log.log_start_offset(), log.next_offset());
        let start = self.resolve_start(req)?;
        Ok(Fetched { batches: Default::default(), start_offset: start, next_offset: start, log_start, log_end })
    }

    /// The offset a fetch starts at, applying the consumer's reset policy below the log start.
    fn resolve_start(&self, req: &Fetch) -> Result<u64> {
        let log = self.serving()?;
        let (log_start, log_end) = (log.log_start_offset(), log.next_offset());
        let policy = req.consumer.as_ref().map_or(ResetPolicy::Earliest, |c| c.reset);
        let reset = |reason: &str| -> Result<u64> {
            match policy {
                ResetPolicy::Earliest => Ok(log_start),
                ResetPolicy::Latest => Ok(log_end),
                ResetPolicy::Error => Err(BrokerError::NoOffset {
                    consumer: req.consumer.as_ref().map_or_else(String::new, |c| c.name.clone()),
                    partition: self.setup.partition,
                    reason: reason.to_string(),
                }),
            }
        };
        match req.strategy {
            PollingStrategy::Offset(o) if o < log_start => reset("the offset is below the log start"),
            PollingStrategy::Offset(o) if o > log_end => {
                Err(StorageError::BeyondLogEnd { requested: o, log_end }.into())
            }
            PollingStrategy::Offset(o) => Ok(o),
            PollingStrategy::Timestamp(ts) => Ok(log.offset_for_timestamp(ts)?.unwrap_or(log_end)),
            PollingStrategy::First => Ok(log_start),
            PollingStrategy::Last => Ok(if log_end > log_start { log_end - 1 } else { log_end }),
            PollingStrategy::Next => {
                let consumer = req
                    .consumer
                    .as_ref()
                    .ok_or_else(|| BrokerError::InvalidConfig("polling `next` needs a consumer name".into()))?;
                match self.offsets.as_ref().and_then(|o| o.get(&consumer.name)) {
                    Some(o) if o < log_start => reset("the stored offset is below the log start"),
                    Some(o) if o > log_end => reset("the stored offset is past the log end"),
                    Some(o) => Ok(o),
                    None => reset("no offset is stored"),
                }
            }
        }
    }

    /// Serves every parked poll that now has data, cancelling its timeout.
    fn wake_parked(&mut self, ctx: &mut Context<Self>) {
        if self.parked.is_empty() {
            return;
        }
        for poll in self.parked.drain() {
            let answer = match self.fetch_now(&poll.request) {
                Ok(None) => {
                    self.parked.park_again(poll);
                    continue;
                }
                Ok(Some(fetched)) => Ok(fetched),
                Err(e) => Err(e),
            };
            if let Some(timer) = poll.timer {
                ctx.cancel_future(timer);
            }
            let _ = poll.reply.send(answer);
        }
    }
}

/// Refuses a request whose group generation is no longer current.
fn check_fence(fence: Option<&GenerationFence>, consumer: Option<&str>) -> Result<()> {
    match fence {
        Some(f) if !f.holds() => Err(BrokerError::StaleGeneration {
            group: consumer.map(|c| c.strip_prefix("group:").unwrap_or(c).to_string()).unwrap_or_default(),
            current: f.live.load(std::sync::atomic::Ordering::Acquire),
            got: f.generation,
        }),
        _ => Ok(()),
    }
}

enum Kept {
    All,
    Some(Vec<u8>),
    None,
}

/// Checks a compressed batch's records as an uncompressed batch's are checked on append: it is decompressed once,
/// at most `limit` bytes (the topic's `max_message_bytes`: a decompression bomb is refused with `MessageTooLarge`),
/// and its records must match its header. It is stored as sent, still compressed.
fn check_compressed(batch: &[u8], limit: usize) -> Result<()> {
    validate(batch).and_then(|view| view.decompress(limit).map(drop)).map_err(|e| StorageError::from(e).into())
}

/// Splits a batch into records to keep (ids not seen, first occurrence within the batch) and duplicates. A
/// compressed batch is decompressed (at most `limit` bytes); if records are dropped, the rest is compressed again
/// with the same codec.
fn drop_duplicates(batch: &[u8], limit: usize, seen: impl Fn(u128) -> bool) -> Result<(Kept, Vec<u128>, u32)> {
    let view = validate(batch).map_err(StorageError::from)?;
    let records = view.decompress(limit).map_err(StorageError::from)?;
    let mut ids = Vec::new();
    // Ids already kept from this batch: a set, so a batch of n records costs O(n), not O(n²).
    let mut in_batch = std::collections::HashSet::new();
    let mut keep = Vec::new();
    let mut dropped = 0u32;
    for record in records.iter() {
        let record = record.map_err(StorageError::from)?;
        match record.id {
            Some(id) if seen(id) || !in_batch.insert(id) => dropped += 1,
            Some(id) => {
                ids.push(id);
                keep.push(record);
            }
            None => keep.push(record),
        }
    }
    if dropped == 0 {
        return Ok((Kept::All, ids, 0));
    }
    if keep.is_empty() {
        return Ok((Kept::None, ids, dropped));
    }
    let h = view.header();
    let producer =
        ProducerInfo { producer_id: h.producer_id, producer_epoch: h.producer_epoch, base_sequence: h.base_sequence };
    let mut builder = BatchBuilder::with_capacity(batch.len()).producer(producer);
    let mut headers: Vec<Header<'_>> = Vec::new();
    for r in &keep {
        headers.clear();
        for header in r.headers() {
            let header = header.map_err(StorageError::from)?;
            headers.push(Header { key: header.key, value: header.value });
        }
        builder.push(&RecordData { timestamp: r.timestamp, id: r.id, key: r.key, value: r.value, headers: &headers });
    }
    Ok((Kept::Some(builder.finish_compressed(view.compression())), ids, dropped))
}

impl Handler<QueuedAppend> for PartitionActor {
    type Result = ();

    fn handle(&mut self, msg: QueuedAppend, ctx: &mut Context<Self>) {
        let answer = <Self as Handler<Append>>::handle(self, Append { batch: msg.batch }, ctx);
        actix::spawn(async move {
            // The caller may have stopped waiting; the batch is appended either way.
            let _ = msg.reply.send(answer.await);
        });
    }
}

impl Handler<Append> for PartitionActor {
    type Result = ResponseFuture<Result<AppendAck>>;

    fn handle(&mut self, msg: Append, ctx: &mut Context<Self>) -> Self::Result {
        let started = Instant::now();
        let (stream, topic) = (self.setup.stream.clone(), self.setup.topic.clone());
        let record = move || {
            metrics::histogram!(APPEND_SECONDS, "stream" => stream, "topic" => topic)
                .record(started.elapsed().as_secs_f64())
        };
        match self.guarded(ctx, |act| act.append_now(msg.batch)) {
            Ok((ack, sync)) => {
                if ack.stored > 0 && sync.is_none() {
                    self.wake_parked(ctx);
                }
                let me = ctx.address();
                match sync {
                    None => {
                        record();
                        Box::pin(async move { Ok(ack) })
                    }
                    Some((committer, to)) => {
                        let unavailable = self.unavailable("the durability wait was interrupted");
                        Box::pin(async move {
                            let synced = tokio::task::spawn_blocking(move || committer.sync_to(to)).await;
                            record();
                            match synced {
                                Ok(Ok(())) => {
                                    // Now durable, so visible: serve the long polls waiting for it.
                                    me.do_send(WakeParked);
                                    Ok(ack)
                                }
                                Ok(Err(e)) => Err(e.into()),
                                Err(_) => Err(unavailable),
                            }
                        })
                    }
                }
            }
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}

/// Serves parked polls that can now see data (sent by an append once it is durable).
#[derive(actix::Message)]
#[rtype(result = "()")]
struct WakeParked;

impl Handler<WakeParked> for PartitionActor {
    type Result = ();

    fn handle(&mut self, _msg: WakeParked, ctx: &mut Context<Self>) {
        self.wake_parked(ctx);
    }
}

impl Handler<Fetch> for PartitionActor {
    type Result = ResponseFuture<Result<Fetched>>;

    fn handle(&mut self, msg: Fetch, ctx: &mut Context<Self>) -> Self::Result {
        let result = self.guarded(ctx, |act| act.fetch_now(&msg));
        match result {
            Ok(Some(fetched)) => Box::pin(async move { Ok(fetched) }),
            Ok(None) if msg.max_wait.is_zero() => {
                let empty = self.empty_fetch(&msg);
                Box::pin(async move { empty })
            }
            Ok(None) => {
                // Fix where the poll starts now: re-resolving `Latest` (or a timestamp) on every wake-up would chase
                // the log end forever.
                let mut msg = msg;
                match self.resolve_start(&msg) {
                    Ok(start) => msg.strategy = PollingStrategy::Offset(start),
                    Err(e) => return Box::pin(async move { Err(e) }),
                }
                if self.parked.len() >= self.setup.max_parked {
                    let limit = self.setup.max_parked;
                    return Box::pin(async move { Err(BrokerError::TooManyParkedPolls(limit)) });
                }
                let (tx, rx) = oneshot::channel();
                let wait = msg.max_wait;
                let id = self.parked.park(msg, tx);
                let timer = ctx.run_later(wait, move |act, _| {
                    if let Some(poll) = act.parked.take(id) {
                        let _ = poll.reply.send(act.empty_fetch(&poll.request));
                    }
                });
                self.parked.set_timer(id, timer);
                let unavailable = self.unavailable("the partition restarted during a long poll");
                Box::pin(async move { rx.await.unwrap_or(Err(unavailable)) })
            }
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }
}

impl Handler<StoreOffset> for PartitionActor {
    type Result = Result<()>;

    fn handle(&mut self, msg: StoreOffset, ctx: &mut Context<Self>) -> Result<()> {
        self.guarded(ctx, |act| {
            check_fence(msg.fence.as_ref(), Some(&msg.consumer))?;
            let log_end = act.serving()?.next_offset();
            if msg.offset > log_end {
                return Err(StorageError::BeyondLogEnd { requested: msg.offset, log_end }.into());
            }
            act.offsets.as_mut().ok_or(BrokerError::ShuttingDown)?.store(&msg.consumer, msg.offset, true)
        })
    }
}

impl Handler<GetOffset> for PartitionActor {
    type Result = Result<Option<u64>>;

    fn handle(&mut self, msg: GetOffset, _ctx: &mut Context<Self>) -> Result<Option<u64>> {
        self.serving()?;
        Ok(self.offsets.as_ref().and_then(|o| o.get(&msg.consumer)))
    }
}

impl Handler<DeleteOffset> for PartitionActor {
    type Result = Result<bool>;

    fn handle(&mut self, msg: DeleteOffset, ctx: &mut Context<Self>) -> Result<bool> {
        self.guarded(ctx, |act| {
            act.serving()?;
            act.offsets.as_mut().ok_or(BrokerError::ShuttingDown)?.delete(&msg.consumer)
        })
    }
}

impl Handler<Describe> for PartitionActor {
    type Result = actix::MessageResult<Describe>;

    fn handle(&mut self, _msg: Describe, _ctx: &mut Context<Self>) -> Self::Result {
        let (log_start, log_end, size_bytes, segments) = self
            .log
            .as_ref()
            .map_or((0, 0, 0, 0), |l| (l.log_start_offset(), l.next_offset(), l.size_bytes(), l.segments().len()));
        actix::MessageResult(PartitionInfo {
            partition: self.setup.partition,
            health: self.health.clone(),
            log_start,
            log_end,
            size_bytes,
            segments,
            restarts: self.total_restarts,
            parked_polls: self.parked.len(),
        })
    }
}

impl Handler<Retire> for PartitionActor {
    type Result = ();

    fn handle(&mut self, msg: Retire, ctx: &mut Context<Self>) {
        for timer in self.timers.drain(..) {
            ctx.cancel_future(timer);
        }
        self.deleted = msg.delete_files;
        self.health = Health::Retired;
        let (stream, topic, deleted) = (self.setup.stream.clone(), self.setup.topic.clone(), self.deleted);
        self.retire_parked(|| {
            if deleted {
                BrokerError::TopicNotFound { stream: stream.clone(), topic: topic.clone() }
            } else {
                BrokerError::ShuttingDown
            }
        });
        if !msg.delete_files
            && let Some(Err(e)) = self.offsets.as_mut().map(|o| o.sync())
        {
            tracing::warn!(dir = %self.setup.dir.display(), error = %e, "syncing consumer offsets failed");
        }
        self.offsets = None;
        self.dedup = None;
        // A deleted partition's files are removed below: syncing them first would only cost I/O (up to a whole
        // segment's fsync, blocking every partition on this arbiter).
        if msg.delete_files {
            self.log = None;
        } else {
            self.close_log();
        }
        if msg.delete_files
            && let Err(e) = std::fs::remove_dir_all(&self.setup.dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.setup.dir.display(), error = %e, "removing a deleted partition's files failed");
        }
    }
}
