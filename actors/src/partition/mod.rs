//! [`PartitionActor`]: owns one partition's log. Its mailbox serializes appends; it parks long polls, stores
//! consumer offsets, deduplicates message ids, and survives failures: a failed or panicking handler stops the actor,
//! actix's `Supervisor` restarts it on the same address (queued requests wait), and the restart reopens the log,
//! which runs recovery. Past `max_restarts` within `restart_window` the partition stays offline.

mod dedup;
pub(crate) mod handlers;
mod messages;
mod offsets;
mod parked;
mod producers;
mod trim;

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext, Context, SpawnHandle, Supervised};
use callboard_protocol::batch::MAX_DECOMPRESSED_BYTES;
use callboard_storage::{Env, PartitionLog, StorageError};
use tracing::{error, info, warn};

pub use messages::*;
pub use trim::DeleteRecordsBefore;

use self::dedup::Dedup;
use self::offsets::ConsumerOffsets;
use self::parked::Parked;
use self::producers::Producers;
use crate::config::{DurabilityPolicy, TopicConfig, TopicConfigExt};
use crate::error::{BrokerError, Result};

/// Counter of partition actor restarts.
pub const RESTARTS_TOTAL: &str = "callboard_partition_restarts_total";

/// Everything a partition actor needs to (re)open its log.
#[derive(Debug, Clone)]
pub(crate) struct PartitionSetup {
    pub(crate) stream: String,
    pub(crate) topic: String,
    pub(crate) partition: u32,
    pub(crate) dir: PathBuf,
    pub(crate) config: TopicConfig,
    pub(crate) env: Arc<dyn Env>,
    pub(crate) max_parked: usize,
    pub(crate) max_restarts: u32,
    pub(crate) restart_window: Duration,
    pub(crate) retention_check: Duration,
    pub(crate) producer_expiry: Duration,
    pub(crate) read_only_retry: Duration,
    /// The first producer id not yet allocated (shared with the broker actor).
    pub(crate) producer_ids: Arc<AtomicI64>,
    /// Whether (and with which key) batches are sealed at rest.
    pub(crate) sealing: crate::encryption::Sealing,
}

impl PartitionSetup {
    /// The labels of this partition's metrics: stream, topic and partition.
    pub(crate) fn metric_labels(&self) -> [(&'static str, String); 3] {
        [("stream", self.stream.clone()), ("topic", self.topic.clone()), ("partition", self.partition.to_string())]
    }
}

/// The actor owning one partition.
pub struct PartitionActor {
    setup: PartitionSetup,
    log: Option<PartitionLog>,
    health: Health,
    deleted: bool,
    read_only_until: Option<Instant>,
    restarts: VecDeque<Instant>,
    total_restarts: u32,
    last_failure: String,
    parked: Parked,
    offsets: Option<ConsumerOffsets>,
    dedup: Option<Dedup>,
    producers: Producers,
    /// Interval timers, cancelled on retirement so the actor can stop once its addresses are gone.
    timers: Vec<SpawnHandle>,
    /// Bytes appended since the last background writeback was started (durability `never` and `interval`).
    unsynced_bytes: u64,
    /// A background sync is running.
    syncing: Arc<AtomicBool>,
}

/// Under `never` and `interval`, a background fsync starts after this many appended bytes, so dirty data never
/// piles up: the fsync that seals a segment at roll then has little left to write, and does not stall appends.
const WRITEBACK_BYTES: u64 = 32 << 20;

impl PartitionActor {
    pub(crate) fn new(setup: PartitionSetup) -> Self {
        // An encrypted topic without its key stays offline, its files untouched, until a restart with the key.
        let health = match &setup.sealing {
            crate::encryption::Sealing::Unavailable(reason) => Health::Offline(reason.clone()),
            _ => Health::Online,
        };
        PartitionActor {
            setup,
            log: None,
            health,
            deleted: false,
            read_only_until: None,
            restarts: VecDeque::new(),
            total_restarts: 0,
            last_failure: String::new(),
            parked: Parked::default(),
            offsets: None,
            dedup: None,
            producers: Producers::default(),
            timers: Vec::new(),
            unsynced_bytes: 0,
            syncing: Arc::new(AtomicBool::new(false)),
        }
    }

    fn open(&mut self) -> Result<()> {
        let s = &self.setup;
        let log = PartitionLog::open_in(Arc::clone(&s.env), &s.dir, s.config.log_config())?;
        if let Some(report) = log.recovery_report() {
            info!(topic = %s.topic, partition = s.partition, batches = report.batches, cut = report.truncated_bytes,
                "partition recovered its log");
        }
        let offsets = ConsumerOffsets::load(Arc::clone(&s.env), &s.dir)?;
        let dedup = match s.config.dedup {
            Some(window) => Some(rebuild_dedup(&log, Dedup::new(window), s.env.now_ms(), s)?),
            None => None,
        };
        let horizon = s.env.now_ms().saturating_sub(s.producer_expiry.as_millis().min(i64::MAX as u128) as i64);
        let from = log.offset_for_timestamp(horizon)?.unwrap_or(log.next_offset());
        self.producers = Producers::load(s.env.as_ref(), &log, &s.dir, from)?;
        self.log = Some(log);
        self.offsets = Some(offsets);
        self.dedup = dedup;
        self.health = Health::Online;
        Ok(())
    }

    /// Stops the actor after a failure; the supervisor restarts it.
    fn fail(&mut self, ctx: &mut Context<Self>, reason: String) {
        error!(topic = %self.setup.topic, partition = self.setup.partition, %reason, "partition failed; restarting");
        self.last_failure = reason;
        actix::ActorContext::stop(ctx);
    }

    fn unavailable(&self, reason: impl Into<String>) -> BrokerError {
        BrokerError::PartitionUnavailable {
            topic: format!("{}/{}", self.setup.stream, self.setup.topic),
            partition: self.setup.partition,
            reason: reason.into(),
        }
    }

    /// The log, if the partition is serving (reads are served even when read-only).
    fn serving(&self) -> Result<&PartitionLog> {
        match &self.health {
            Health::Offline(reason) => return Err(self.unavailable(format!("offline: {reason}"))),
            Health::Retired if self.deleted => {
                return Err(BrokerError::TopicNotFound {
                    stream: self.setup.stream.clone(),
                    topic: self.setup.topic.clone(),
                });
            }
            Health::Retired => return Err(BrokerError::ShuttingDown),
            Health::Online | Health::ReadOnly(_) => {}
        }
        self.log.as_ref().ok_or_else(|| self.unavailable("restarting"))
    }

    fn retire_parked(&mut self, error: impl Fn() -> BrokerError) {
        for poll in self.parked.drain() {
            let _ = poll.reply.send(Err(error()));
        }
    }

    fn run_retention(&mut self) {
        // Auto-committed offsets are written without a sync; this timer makes them durable off the fetch path.
        if let Some(Err(e)) = self.offsets.as_mut().map(|o| o.sync()) {
            warn!(topic = %self.setup.topic, partition = self.setup.partition, error = %e, "syncing consumer offsets failed");
        }
        let horizon =
            self.setup.env.now_ms().saturating_sub(self.setup.producer_expiry.as_millis().min(i64::MAX as u128) as i64);
        self.producers.expire(horizon);
        if let Some(log) = self.log.as_mut() {
            match log.enforce_retention() {
                Ok(r) if r.segments_deleted > 0 => {
                    info!(topic = %self.setup.topic, partition = self.setup.partition, segments = r.segments_deleted,
                        bytes = r.bytes_deleted, "retention removed segments");
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(topic = %self.setup.topic, partition = self.setup.partition, error = %e, "retention failed")
                }
            }
        }
    }

    fn open_and_serve(&mut self, ctx: &mut Context<Self>) {
        if matches!(self.health, Health::Offline(_) | Health::Retired) || self.log.is_some() {
            return;
        }
        let opened = std::panic::catch_unwind(AssertUnwindSafe(|| self.open()));
        match opened {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return self.fail(ctx, format!("opening the log failed: {e}")),
            Err(_) => return self.fail(ctx, "opening the log panicked".into()),
        }
        self.timers.push(ctx.run_interval(self.setup.retention_check, |act, _| act.run_retention()));
        if let DurabilityPolicy::Interval { ms } = self.setup.config.durability {
            self.timers.push(ctx.run_interval(Duration::from_millis(ms.max(1)), |act, _| act.flush_in_background()));
        }
    }

    /// Closes the log cleanly and snapshots the producer state, so the next open needs neither a recovery scan nor
    /// a producer-state scan.
    pub(crate) fn close_log(&mut self) {
        if let Some(Err(e)) = self.offsets.as_mut().map(|o| o.sync()) {
            warn!(topic = %self.setup.topic, partition = self.setup.partition, error = %e, "syncing consumer offsets failed");
        }
        let Some(log) = self.log.take() else { return };
        let next = log.next_offset();
        if let Err(e) = log.close() {
            warn!(topic = %self.setup.topic, partition = self.setup.partition, error = %e, "closing the log failed");
            return;
        }
        if let Err(e) = self.producers.save(self.setup.env.as_ref(), &self.setup.dir, next) {
            warn!(topic = %self.setup.topic, partition = self.setup.partition, error = %e, "producer snapshot failed");
        }
    }

    fn flush_in_background(&self) {
        if let Some(log) = &self.log {
            if self.syncing.swap(true, Ordering::AcqRel) {
                return;
            }
            let committer = log.committer();
            let syncing = Arc::clone(&self.syncing);
            drop(tokio::task::spawn_blocking(move || {
                let result = committer.sync_to(committer.written_offset());
                syncing.store(false, Ordering::Release);
                result
            }));
        }
    }

    /// Counts appended bytes and starts a background writeback every [`WRITEBACK_BYTES`] (not under `always`,
    /// whose appends are synced before they are answered).
    pub(crate) fn note_appended(&mut self, bytes: usize) {
        if matches!(self.setup.config.durability, DurabilityPolicy::Always) {
            return;
        }
        self.unsynced_bytes += bytes as u64;
        if self.unsynced_bytes >= WRITEBACK_BYTES {
            self.unsynced_bytes = 0;
            self.flush_in_background();
        }
    }
}

fn rebuild_dedup(log: &PartitionLog, mut dedup: Dedup, now_ms: i64, setup: &PartitionSetup) -> Result<Dedup> {
    let from = log.offset_for_timestamp(dedup.horizon(now_ms))?.unwrap_or(log.next_offset());
    let mut opened = bytes::BytesMut::new();
    log.for_each_batch(from, |batch| {
        let batch = match setup.sealing.cipher() {
            Some(cipher) => {
                opened.clear();
                cipher.open_into(setup.partition, batch.as_bytes(), &mut opened)?;
                callboard_protocol::batch::BatchRef::trusted(&opened).map_err(StorageError::from)?
            }
            None => batch,
        };
        // Stored batches were checked on append against the topic's limit; the format's ceiling bounds them here.
        let records = batch.decompress(MAX_DECOMPRESSED_BYTES).map_err(StorageError::from)?;
        for record in records.iter() {
            let record = record.map_err(StorageError::from)?;
            if let Some(id) = record.id {
                dedup.insert(id, record.timestamp);
            }
        }
        Ok(())
    })?;
    dedup.expire(now_ms);
    Ok(dedup)
}

/// Requests a partition's mailbox holds before senders wait.
const MAILBOX_CAPACITY: usize = 1 << 16;

impl Actor for PartitionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Gateways bound what each connection has in flight; a deep mailbox keeps `send` from ever parking, so the
        // order in which one session queues batches is the order they are stored in.
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        if matches!(self.health, Health::Offline(_) | Health::Retired) {
            return;
        }
        // After a failure, wait before reopening (100 ms, doubling up to 6.4 s): a fault that clears quickly (a lock
        // still held, a transient I/O error) must not use up the restart budget in microseconds. Requests arriving
        // meanwhile get a retriable "restarting" error.
        match self.restarts.len() {
            0 => self.open_and_serve(ctx),
            n => {
                let delay = Duration::from_millis(50 << n.min(7));
                ctx.run_later(delay, |act, ctx| act.open_and_serve(ctx));
            }
        }
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if matches!(self.health, Health::Online | Health::ReadOnly(_)) && self.last_failure.is_empty() {
            self.close_log();
        }
    }
}

impl Supervised for PartitionActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // Drop the log without a clean close: the reopen validates the active segment. After a failed fsync, first
        // cut what was written since the last good one: it may never reach the disk, so it must not be served or
        // count as already stored when a producer retries it.
        if let Some(mut log) = self.log.take()
            && let Err(e) = log.discard_undurable()
        {
            warn!(topic = %self.setup.topic, partition = self.setup.partition, error = %e,
                "discarding the tail after a failed fsync failed");
        }
        self.timers.clear();
        self.offsets = None;
        self.dedup = None;
        let (topic, partition) = (format!("{}/{}", self.setup.stream, self.setup.topic), self.setup.partition);
        self.retire_parked(|| BrokerError::PartitionUnavailable {
            topic: topic.clone(),
            partition,
            reason: "restarting after a failure".into(),
        });
        if matches!(self.health, Health::Offline(_) | Health::Retired) {
            return;
        }
        self.total_restarts += 1;
        metrics::counter!(RESTARTS_TOTAL, "stream" => self.setup.stream.clone(), "topic" => self.setup.topic.clone())
            .increment(1);
        let now = Instant::now();
        self.restarts.push_back(now);
        while self.restarts.front().is_some_and(|t| now.duration_since(*t) > self.setup.restart_window) {
            self.restarts.pop_front();
        }
        if self.restarts.len() > self.setup.max_restarts as usize {
            let reason = format!(
                "failed {} times within {:?}; last failure: {}",
                self.restarts.len(),
                self.setup.restart_window,
                self.last_failure
            );
            error!(topic = %self.setup.topic, partition = self.setup.partition, %reason, "partition is offline");
            self.health = Health::Offline(reason);
        }
        self.last_failure.clear();
    }
}
