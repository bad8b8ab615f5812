//! [`Broker`]: the embedded broker. `Broker::start` opens the data directory (locking it), starts the actor system
//! and returns a cloneable handle whose async methods work from any runtime; `shutdown` drains and closes every log.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix::{Actor, Addr, MailboxError};
use bytes::{Bytes, BytesMut};
use callboard_protocol::batch::ProducerInfo;
use callboard_storage::Env;

use crate::broker::*;
use crate::config::{BrokerConfig, TopicConfig};
use crate::error::{BrokerError, Result};
use crate::group::actor::ConsumerGroupActor;
use crate::partition::{
    AppendAck, ConsumerRef, DeleteOffset, DeleteRecordsBefore, Describe, Fetch, Fetched, GetOffset, Health,
    PartitionActor, PollingStrategy, QueuedAppend, StoreOffset,
};
use crate::route::{Route, Routes};
use crate::system::ActorThreads;
pub(crate) use callboard_protocol::model::{BrokerStatus, Sent};
use callboard_protocol::model::{Message, ReceivedMessage, decode_batches, encode_batch};
use callboard_protocol::model::{Partitioning, partition_for_key};

/// A poll.
#[derive(Debug, Clone)]
pub struct PollRequest {
    /// Where to start.
    pub strategy: PollingStrategy,
    /// At most this many messages (at least 1).
    pub count: u32,
    /// About this many bytes at most.
    pub max_bytes: usize,
    /// Wait this long for data when there is none (long poll).
    pub max_wait: Duration,
    /// The consumer (for `Next` and auto-commit).
    pub consumer: Option<ConsumerRef>,
}

impl PollRequest {
    /// A poll with this strategy, up to 100 messages, 1 MiB, no waiting, no consumer.
    pub fn new(strategy: PollingStrategy) -> Self {
        PollRequest { strategy, count: 100, max_bytes: 1 << 20, max_wait: Duration::ZERO, consumer: None }
    }

    /// Sets the message count limit.
    pub fn count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// Waits up to `wait` for data.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Polls as the named consumer.
    pub fn consumer(mut self, consumer: ConsumerRef) -> Self {
        self.consumer = Some(consumer);
        self
    }
}

/// The answer to a poll.
#[derive(Debug, Clone)]
pub struct Polled {
    /// Partition polled.
    pub partition: u32,
    /// Messages, in offset order.
    pub messages: Vec<ReceivedMessage>,
    /// Offset where the next poll continues.
    pub next_offset: u64,
    /// Log end offset of the partition when polled (lag = `log_end - next_offset`).
    pub log_end: u64,
}

pub(crate) struct Inner {
    pub(crate) broker: Addr<BrokerActor>,
    routes: Arc<RwLock<Routes>>,
    threads: Mutex<ActorThreads>,
    /// Users and tokens (shared with the metadata actor, which republishes them).
    pub(crate) auth: Arc<crate::auth::Authenticator>,
    pub(crate) env: Arc<dyn Env>,
    started: Instant,
    stopped: AtomicBool,
    /// Turn counter spreading group polls over assigned partitions.
    pub(crate) poll_turn: AtomicUsize,
    data_dir: PathBuf,
    lock: Mutex<Option<File>>,
}

/// A running embedded broker. Clones share it.
#[derive(Clone)]
pub struct Broker {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").field("data_dir", &self.inner.data_dir).finish()
    }
}

const LOCK_FILE: &str = ".broker.lock";

/// Locks a data directory for one owner (a broker, or an offline tool such as key rotation).
pub(crate) fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File> {
    let lock_path = dir.join(LOCK_FILE);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| BrokerError::io(&lock_path, e))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(BrokerError::DataDirLocked(dir.display().to_string())),
        Err(std::fs::TryLockError::Error(e)) => Err(BrokerError::io(&lock_path, e)),
    }
}

pub(crate) fn closed(_: MailboxError) -> BrokerError {
    BrokerError::ShuttingDown
}

impl Broker {
    /// Opens (or creates) the data directory, locks it, loads the metadata and starts every topic's actors.
    pub async fn start(config: BrokerConfig) -> Result<Broker> {
        let dir = config.data_dir.clone();
        callboard_storage::create_dir_all_synced(&dir).map_err(|e| BrokerError::io(&dir, e))?;
        let lock = lock_data_dir(&dir)?;
        let threads = ActorThreads::start(config.arbiters).map_err(|e| BrokerError::io(&dir, e))?;
        let routes = Arc::new(RwLock::new(Routes::default()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (workers, shared, env) = (threads.workers(), Arc::clone(&routes), Arc::clone(&config.env));
        let (audit, audit_queue) = crate::auth::audit::AuditSink::new();
        threads.control().spawn_fn(move || {
            let _ = tx.send(BrokerActor::new(config, workers, shared, audit).map(|actor| {
                let auth = Arc::clone(&actor.auth);
                (actor.start(), auth)
            }));
        });
        let (broker, auth) = rx.await.map_err(|_| BrokerError::ShuttingDown)??;
        let inner = Inner {
            broker,
            auth,
            routes,
            threads: Mutex::new(threads),
            env,
            started: Instant::now(),
            stopped: AtomicBool::new(false),
            poll_turn: AtomicUsize::new(0),
            data_dir: dir,
            lock: Mutex::new(Some(lock)),
        };
        let control = inner.threads.lock().unwrap_or_else(|p| p.into_inner()).control().clone();
        let broker = Broker { inner: Arc::new(inner) };
        match broker
            .create_internal_topic(
                crate::metadata::DEFAULT_STREAM,
                crate::auth::AUDIT_TOPIC,
                crate::auth::audit::audit_topic_config(),
            )
            .await
        {
            Ok(_) | Err(BrokerError::TopicExists { .. }) => {}
            Err(e) => return Err(e),
        }
        control.spawn(crate::auth::audit::drain(Arc::downgrade(&broker.inner), audit_queue));
        Ok(broker)
    }

    pub(crate) fn route(&self, stream: &str, topic: &str) -> Result<Arc<Route>> {
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err(BrokerError::ShuttingDown);
        }
        let routes = self.inner.routes.read().unwrap_or_else(|p| p.into_inner());
        let topics = routes.streams.get(stream).ok_or_else(|| BrokerError::StreamNotFound(stream.into()))?;
        topics
            .get(topic)
            .cloned()
            .ok_or_else(|| BrokerError::TopicNotFound { stream: stream.into(), topic: topic.into() })
    }

    /// The running actor of a started group, from the routing table (`None` when not started or stopped).
    pub(crate) fn started_group(&self, stream: &str, name: &str) -> Result<Option<Addr<ConsumerGroupActor>>> {
        if self.inner.stopped.load(Ordering::Acquire) {
            return Err(BrokerError::ShuttingDown);
        }
        let routes = self.inner.routes.read().unwrap_or_else(|p| p.into_inner());
        Ok(routes.groups.get(&(stream.to_string(), name.to_string())).filter(|a| a.connected()).cloned())
    }

    fn partition(route: &Route, partition: u32) -> Result<&Addr<PartitionActor>> {
        route
            .partitions
            .get(partition as usize)
            .ok_or(BrokerError::PartitionNotFound { partition, count: route.count() })
    }

    /// Queues a batch on a partition now, in order with the batches queued before it; the answer to wait for.
    fn queue_append(
        route: &Route,
        partition: u32,
        batch: BytesMut,
    ) -> Result<impl Future<Output = Result<AppendAck>> + Send + 'static + use<>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        Self::partition(route, partition)?.do_send(QueuedAppend { batch, reply });
        let unavailable = BrokerError::PartitionUnavailable {
            topic: format!("{}/{}", route.stream, route.topic),
            partition,
            reason: "the partition actor stopped before answering".into(),
        };
        Ok(async move { answer.await.map_err(|_| unavailable)? })
    }

    fn unavailable(route: &Route, partition: u32) -> impl Fn(MailboxError) -> BrokerError + '_ {
        move |_| BrokerError::PartitionUnavailable {
            topic: format!("{}/{}", route.stream, route.topic),
            partition,
            reason: "the partition actor is not answering".into(),
        }
    }

    /// Creates a stream.
    pub async fn create_stream(&self, name: &str) -> Result<StreamInfo> {
        self.inner.broker.send(CreateStream(name.into())).await.map_err(closed)?
    }

    /// Deletes a stream with all its topics.
    pub async fn delete_stream(&self, name: &str) -> Result<()> {
        self.inner.broker.send(DeleteStream(name.into())).await.map_err(closed)?
    }

    /// Lists streams.
    pub async fn streams(&self) -> Result<Vec<StreamInfo>> {
        self.inner.broker.send(ListStreams).await.map_err(closed)
    }

    /// Creates a topic.
    pub async fn create_topic(&self, stream: &str, name: &str, config: TopicConfig) -> Result<TopicInfo> {
        let msg = CreateTopic { stream: stream.into(), name: name.into(), config, internal: false };
        self.inner.broker.send(msg).await.map_err(closed)?
    }

    /// Creates a gateway-owned topic (such as the log behind an AMQP queue): its name must start with
    /// [`crate::INTERNAL_PREFIX`], which [`Broker::create_topic`] refuses, so users' topics never clash with it.
    pub async fn create_internal_topic(&self, stream: &str, name: &str, config: TopicConfig) -> Result<TopicInfo> {
        let msg = CreateTopic { stream: stream.into(), name: name.into(), config, internal: true };
        self.inner.broker.send(msg).await.map_err(closed)?
    }

    /// Deletes a topic: its actors stop, parked polls fail with `TopicNotFound`, its files are removed.
    pub async fn delete_topic(&self, stream: &str, name: &str) -> Result<()> {
        self.inner.broker.send(DeleteTopic { stream: stream.into(), name: name.into() }).await.map_err(closed)?
    }

    /// Lists a stream's topics.
    pub async fn topics(&self, stream: &str) -> Result<Vec<TopicInfo>> {
        self.inner.broker.send(ListTopics(stream.into())).await.map_err(closed)?
    }

    /// Describes a topic and its partitions.
    pub async fn topic(&self, stream: &str, name: &str) -> Result<TopicDetails> {
        self.inner.broker.send(DescribeTopic { stream: stream.into(), name: name.into() }).await.map_err(closed)?
    }

    /// Adds `count` partitions to a live topic; returns the new partition count.
    pub async fn add_partitions(&self, stream: &str, name: &str, count: u32) -> Result<u32> {
        let msg = AddPartitions { stream: stream.into(), name: name.into(), count };
        self.inner.broker.send(msg).await.map_err(closed)?
    }

    /// Produces messages; answers once they are durable under the topic's policy. Messages for one partition go in
    /// one batch, so their order is kept.
    pub async fn send(
        &self,
        stream: &str,
        topic: &str,
        partitioning: Partitioning,
        messages: Vec<Message>,
    ) -> Result<Vec<Sent>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let route = self.route(stream, topic)?;
        let groups: Vec<(u32, Vec<&Message>)> = match route.pick(&partitioning) {
            Some(p) => vec![(p, messages.iter().collect())],
            None => {
                let keyless = route.next_balanced();
                let mut groups: Vec<(u32, Vec<&Message>)> = Vec::new();
                for m in &messages {
                    let p = m.key.as_ref().map_or(keyless, |k| partition_for_key(k, route.count()));
                    match groups.iter_mut().find(|(q, _)| *q == p) {
                        Some((_, list)) => list.push(m),
                        None => groups.push((p, vec![m])),
                    }
                }
                groups
            }
        };
        let now = self.inner.env.now_ms();
        // Encode and check every batch before sending any, so a request refused up front stores nothing.
        let mut batches = Vec::with_capacity(groups.len());
        for (p, group) in groups {
            Self::partition(&route, p)?;
            let batch = encode_batch(group, now, None);
            if batch.len() > route.config.max_message_bytes as usize {
                return Err(BrokerError::MessageTooLarge { size: batch.len(), max: route.config.max_message_bytes });
            }
            batches.push((p, batch));
        }
        let mut pending = Vec::with_capacity(batches.len());
        for (p, batch) in batches {
            pending.push((p, Self::queue_append(&route, p, BytesMut::from(Bytes::from(batch)))?));
        }
        let mut sent = Vec::with_capacity(pending.len());
        for (p, request) in pending {
            let ack = request.await?;
            sent.push(Sent {
                partition: p,
                base_offset: ack.base_offset,
                stored: ack.stored,
                duplicates: ack.duplicates,
            });
        }
        Ok(sent)
    }

    /// Allocates an idempotent producer id. Send with it through [`Broker::send_idempotent`], epoch 0 and sequences
    /// counting records from 0; bump the epoch (restarting sequences at 0) to fence an older instance.
    pub async fn init_producer(&self) -> Result<i64> {
        self.inner.broker.send(AllocateProducerId).await.map_err(closed)?
    }

    /// Produces messages to one partition as an idempotent producer: a retry of the same batch (same producer id,
    /// epoch and base sequence) is acknowledged again but stored once; a gap or an old epoch is an error.
    pub async fn send_idempotent(
        &self,
        stream: &str,
        topic: &str,
        partition: u32,
        producer: ProducerInfo,
        messages: &[Message],
    ) -> Result<Sent> {
        if messages.is_empty() {
            return Err(BrokerError::InvalidConfig("an idempotent batch needs at least one message".into()));
        }
        let batch = encode_batch(messages, self.inner.env.now_ms(), Some(producer));
        let ack = self.append_batch(stream, topic, partition, batch).await?;
        Ok(Sent { partition, base_offset: ack.base_offset, stored: ack.stored, duplicates: ack.duplicates })
    }

    /// Appends an already encoded record batch to one partition (what gateways forward). The batch is queued on the
    /// partition when this is called, not when the returned future is first polled: batches appended one after the
    /// other from one task are stored in that order even when their answers are awaited concurrently (pipelining).
    pub fn append_batch(
        &self,
        stream: &str,
        topic: &str,
        partition: u32,
        batch: Vec<u8>,
    ) -> impl Future<Output = Result<AppendAck>> + Send + 'static {
        // A `Vec` becomes a `BytesMut` without a copy.
        self.append_batch_mut(stream, topic, partition, BytesMut::from(Bytes::from(batch)))
    }

    /// [`Broker::append_batch`] of a batch in a [`BytesMut`]: a gateway passes the memory it received the batch into,
    /// and the partition stamps its offsets there and writes it from there (no copy on the way).
    pub fn append_batch_mut(
        &self,
        stream: &str,
        topic: &str,
        partition: u32,
        batch: BytesMut,
    ) -> impl Future<Output = Result<AppendAck>> + Send + 'static {
        let queued = self.route(stream, topic).and_then(|route| Self::queue_append(&route, partition, batch));
        async move { queued?.await }
    }

    /// The partition a produce request goes to (for [`Partitioning::MessageKey`], decided per message, an error).
    pub fn partition_for(&self, stream: &str, topic: &str, partitioning: &Partitioning) -> Result<u32> {
        let route = self.route(stream, topic)?;
        route.pick(partitioning).ok_or_else(|| {
            BrokerError::InvalidConfig("per-message key partitioning needs the messages; pick a partition".into())
        })
    }

    /// Fetches stored batches from one partition, as stored (what gateways forward).
    pub async fn fetch(&self, stream: &str, topic: &str, partition: u32, fetch: Fetch) -> Result<Fetched> {
        let route = self.route(stream, topic)?;
        let addr = Self::partition(&route, partition)?;
        addr.send(fetch).await.map_err(Self::unavailable(&route, partition))?
    }

    /// Polls messages from one partition.
    pub async fn poll(&self, stream: &str, topic: &str, partition: u32, request: PollRequest) -> Result<Polled> {
        let count = request.count.max(1);
        let fetch = Fetch {
            strategy: request.strategy,
            max_count: count,
            max_bytes: request.max_bytes,
            max_wait: request.max_wait,
            consumer: request.consumer,
            fence: None,
        };
        let fetched = self.fetch(stream, topic, partition, fetch).await?;
        let wanted = (fetched.next_offset - fetched.start_offset) as usize;
        let messages = decode_batches(&fetched.batches, fetched.start_offset, wanted)?;
        Ok(Polled { partition, messages, next_offset: fetched.next_offset, log_end: fetched.log_end })
    }

    /// Stores a consumer's offset on a partition (the offset of the next message it wants).
    pub async fn store_offset(
        &self,
        stream: &str,
        topic: &str,
        partition: u32,
        consumer: &str,
        offset: u64,
    ) -> Result<()> {
        let route = self.route(stream, topic)?;
        let msg = StoreOffset { consumer: consumer.into(), offset, fence: None };
        Self::partition(&route, partition)?.send(msg).await.map_err(Self::unavailable(&route, partition))?
    }

    /// Advances a partition's log start to `offset` (durably; whole segments below it are deleted) and answers the
    /// new log start. Reads below it fail from then on; an offset past the log end is an error.
    pub async fn delete_records_before(&self, stream: &str, topic: &str, partition: u32, offset: u64) -> Result<u64> {
        let route = self.route(stream, topic)?;
        let msg = DeleteRecordsBefore { offset };
        Self::partition(&route, partition)?.send(msg).await.map_err(Self::unavailable(&route, partition))?
    }

    /// A consumer's stored offset on a partition.
    pub async fn get_offset(&self, stream: &str, topic: &str, partition: u32, consumer: &str) -> Result<Option<u64>> {
        let route = self.route(stream, topic)?;
        let msg = GetOffset { consumer: consumer.into() };
        Self::partition(&route, partition)?.send(msg).await.map_err(Self::unavailable(&route, partition))?
    }

    /// Deletes a consumer's stored offset on a partition; answers whether there was one.
    pub async fn delete_offset(&self, stream: &str, topic: &str, partition: u32, consumer: &str) -> Result<bool> {
        let route = self.route(stream, topic)?;
        let msg = DeleteOffset { consumer: consumer.into() };
        Self::partition(&route, partition)?.send(msg).await.map_err(Self::unavailable(&route, partition))?
    }

    /// Broker status: counts of streams, topics and partitions by health, and restarts.
    pub async fn status(&self) -> Result<BrokerStatus> {
        let routes: Vec<Arc<Route>> = {
            let r = self.inner.routes.read().unwrap_or_else(|p| p.into_inner());
            r.streams.values().flat_map(|t| t.values().cloned()).collect()
        };
        let streams = self.streams().await?.len();
        let mut status = BrokerStatus {
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_ms: self.inner.started.elapsed().as_millis() as u64,
            streams,
            topics: routes.len(),
            partitions_online: 0,
            partitions_read_only: 0,
            partitions_offline: 0,
            restarts: 0,
        };
        for route in &routes {
            for addr in &route.partitions {
                match addr.send(Describe).await {
                    Ok(info) => {
                        status.restarts += u64::from(info.restarts);
                        match info.health {
                            Health::Online => status.partitions_online += 1,
                            Health::ReadOnly(_) => status.partitions_read_only += 1,
                            Health::Offline(_) | Health::Retired => status.partitions_offline += 1,
                        }
                    }
                    Err(_) => status.partitions_offline += 1,
                }
            }
        }
        Ok(status)
    }

    /// The data directory this broker keeps its streams, topics and logs in.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.inner.data_dir
    }

    /// Stops accepting requests, closes every log cleanly and stops the actor threads.
    pub async fn shutdown(&self) -> Result<()> {
        if self.inner.stopped.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _ = self.inner.broker.send(Shutdown).await;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            inner.threads.lock().unwrap_or_else(|p| p.into_inner()).stop();
            // Every log is closed: another broker may open the directory now.
            inner.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
        })
        .await
        .map_err(|_| BrokerError::ShuttingDown)
    }
}
