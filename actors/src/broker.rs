//! [`BrokerActor`]: the metadata actor. It owns the streams and topics (persisted in `metadata.json`), starts and
//! retires topic actors, and publishes the routing table the broker handle reads on the hot path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use actix::{Actor, ActorFutureExt, Addr, ArbiterHandle, Context, Handler, Message, ResponseActFuture, WrapFuture};
use callboard_storage::Env;

use crate::config::{BrokerConfig, TopicConfig, TopicConfigExt};
use crate::error::{BrokerError, Result};
use crate::group::actor::{StopGroup, TopicsChanged};
use crate::metadata::{DEFAULT_STREAM, Metadata, StreamMeta, TopicMeta, topic_dir};
use crate::names::{INTERNAL_PREFIX, validate_internal_name, validate_name};
use crate::partition::{PartitionActor, PartitionSetup};
use crate::route::{Route, Routes};
use crate::topic::{DescribePartitions, Grow, RetireTopic, TopicActor};
pub(crate) use callboard_protocol::model::{StreamInfo, TopicDetails, TopicInfo};

fn stream_info(s: &StreamMeta) -> StreamInfo {
    StreamInfo { id: s.id, name: s.name.clone(), created_ms: s.created_ms, topics: s.topics.len() }
}

fn topic_info(stream: &str, t: &TopicMeta) -> TopicInfo {
    TopicInfo {
        id: t.id,
        stream: stream.into(),
        name: t.name.clone(),
        created_ms: t.created_ms,
        config: t.config.clone(),
    }
}

/// The metadata actor.
pub struct BrokerActor {
    pub(crate) config: BrokerConfig,
    pub(crate) metadata: Metadata,
    workers: Vec<ArbiterHandle>,
    topics: HashMap<(String, String), Addr<TopicActor>>,
    pub(crate) routes: Arc<RwLock<Routes>>,
    producer_ids: Arc<AtomicI64>,
    /// Most partitions the broker may hold (see [`crate::budget`]).
    partition_budget: usize,
    /// Users and tokens as gateways see them, republished after every change.
    pub(crate) auth: Arc<crate::auth::Authenticator>,
}

impl BrokerActor {
    /// Loads the metadata and starts a topic actor for every topic.
    pub(crate) fn new(
        config: BrokerConfig,
        workers: Vec<ArbiterHandle>,
        routes: Arc<RwLock<Routes>>,
        audit: crate::auth::audit::AuditSink,
    ) -> Result<Self> {
        if config.max_partitions == Some(0) {
            return Err(BrokerError::InvalidConfig("max_partitions must be at least 1".into()));
        }
        let mut metadata = Metadata::load_or_create(config.env.as_ref(), &config.data_dir, config.env.now_ms())?;
        let now = config.env.now_ms();
        if crate::auth::bootstrap::bootstrap(&mut metadata.auth, &config.data_dir, config.admin_password.as_ref(), now)?
        {
            metadata.save(config.env.as_ref(), &config.data_dir)?;
        }
        let auth = Arc::new(crate::auth::Authenticator::new(&metadata.auth, audit));
        let producer_ids = Arc::new(AtomicI64::new(metadata.next_producer_id));
        let partition_budget = config
            .max_partitions
            .unwrap_or_else(|| crate::budget::partition_budget(crate::budget::raise_nofile_limit()));
        let mut actor = BrokerActor {
            partition_budget,
            config,
            metadata,
            workers,
            topics: HashMap::new(),
            routes,
            producer_ids,
            auth,
        };
        let existing: Vec<(StreamMeta, TopicMeta)> =
            actor.metadata.streams.iter().flat_map(|s| s.topics.iter().map(move |t| (s.clone(), t.clone()))).collect();
        for (stream, topic) in existing {
            actor.start_topic(&stream, &topic);
        }
        for s in &actor.metadata.streams {
            actor.routes_mut().streams.entry(s.name.clone()).or_default();
        }
        Ok(actor)
    }

    /// Applies `change` to a copy of the metadata, saves it atomically, and only then makes it current: a failed
    /// save changes nothing.
    pub(crate) fn update_metadata<T>(&mut self, change: impl FnOnce(&mut Metadata) -> Result<T>) -> Result<T> {
        let mut next = self.metadata.clone();
        let out = change(&mut next)?;
        next.save(self.config.env.as_ref(), &self.config.data_dir)?;
        self.metadata = next;
        Ok(out)
    }

    /// The worker thread for a group's actor (spread by name).
    pub(crate) fn worker_for(&self, stream: &str, group: &str) -> ArbiterHandle {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (stream, group).hash(&mut hasher);
        self.workers[hasher.finish() as usize % self.workers.len()].clone()
    }

    pub(crate) fn routes_mut(&self) -> std::sync::RwLockWriteGuard<'_, Routes> {
        self.routes.write().unwrap_or_else(|p| p.into_inner())
    }

    fn env(&self) -> Arc<dyn Env> {
        Arc::clone(&self.config.env)
    }

    fn start_topic(&mut self, stream: &StreamMeta, topic: &TopicMeta) {
        let dir: PathBuf = topic_dir(&self.config.data_dir, stream.id, topic.id);
        let template = PartitionSetup {
            stream: stream.name.clone(),
            topic: topic.name.clone(),
            partition: 0,
            dir: dir.clone(),
            config: topic.config.clone(),
            env: self.env(),
            max_parked: self.config.max_parked_polls,
            max_restarts: self.config.max_restarts,
            restart_window: self.config.restart_window,
            retention_check: self.config.retention_check,
            producer_expiry: self.config.producer_expiry,
            read_only_retry: self.config.read_only_retry,
            producer_ids: Arc::clone(&self.producer_ids),
            sealing: crate::encryption::sealing(self.config.master_key.as_ref(), topic),
        };
        let actor = TopicActor::new(template, dir, topic.id as usize, self.workers.clone(), topic.config.partitions);
        let partitions = actor.partitions();
        let addr = actor.start();
        self.publish(&stream.name, topic, partitions);
        self.topics.insert((stream.name.clone(), topic.name.clone()), addr);
    }

    fn publish(&self, stream: &str, topic: &TopicMeta, partitions: Vec<Addr<PartitionActor>>) {
        let route = Route::new(stream, topic, partitions);
        self.routes_mut().streams.entry(stream.to_string()).or_default().insert(topic.name.clone(), Arc::new(route));
    }
}

impl Actor for BrokerActor {
    type Context = Context<Self>;
}

/// Creates a stream.
#[derive(Message)]
#[rtype(result = "Result<StreamInfo>")]
pub(crate) struct CreateStream(pub(crate) String);

impl Handler<CreateStream> for BrokerActor {
    type Result = Result<StreamInfo>;

    fn handle(&mut self, msg: CreateStream, _ctx: &mut Context<Self>) -> Result<StreamInfo> {
        validate_name(&msg.0)?;
        if self.metadata.stream(&msg.0).is_ok() {
            return Err(BrokerError::StreamExists(msg.0));
        }
        if self.metadata.streams.len() >= self.config.max_streams {
            return Err(BrokerError::LimitExceeded(format!("at most {} streams", self.config.max_streams)));
        }
        let id = self.metadata.next_stream_id;
        let stream = StreamMeta {
            id,
            name: msg.0.clone(),
            created_ms: self.config.env.now_ms(),
            topics: vec![],
            groups: vec![],
        };
        self.update_metadata(|m| {
            m.next_stream_id += 1;
            m.streams.push(stream.clone());
            Ok(())
        })?;
        self.routes_mut().streams.entry(msg.0).or_default();
        Ok(stream_info(&stream))
    }
}

/// Lists streams.
#[derive(Message)]
#[rtype(result = "Vec<StreamInfo>")]
pub(crate) struct ListStreams;

impl Handler<ListStreams> for BrokerActor {
    type Result = actix::MessageResult<ListStreams>;

    fn handle(&mut self, _msg: ListStreams, _ctx: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.metadata.streams.iter().map(stream_info).collect())
    }
}

/// Creates a topic and starts its actors.
#[derive(Message)]
#[rtype(result = "Result<TopicInfo>")]
pub(crate) struct CreateTopic {
    pub(crate) stream: String,
    pub(crate) name: String,
    pub(crate) config: TopicConfig,
    /// A gateway-owned topic: its name must start with [`INTERNAL_PREFIX`].
    pub(crate) internal: bool,
}

impl BrokerActor {
    /// Partitions of every topic, internal ones included.
    fn partitions_in_use(&self) -> usize {
        self.metadata.streams.iter().flat_map(|s| &s.topics).map(|t| t.config.partitions as usize).sum()
    }

    /// Refuses `more` partitions past the broker's budget.
    fn check_partition_budget(&self, more: u32) -> Result<()> {
        let in_use = self.partitions_in_use();
        if in_use.saturating_add(more as usize) > self.partition_budget {
            return Err(BrokerError::ResourceLimit(format!(
                "{more} more partitions would exceed the broker's budget of {} ({in_use} in use); the budget follows \
                 the open-file limit (each partition holds at least {} descriptors)",
                self.partition_budget,
                crate::budget::FDS_PER_PARTITION
            )));
        }
        Ok(())
    }
}

impl Handler<CreateTopic> for BrokerActor {
    type Result = Result<TopicInfo>;

    fn handle(&mut self, msg: CreateTopic, _ctx: &mut Context<Self>) -> Result<TopicInfo> {
        if msg.internal {
            validate_internal_name(&msg.name)?;
            if !msg.name.starts_with(INTERNAL_PREFIX) {
                return Err(BrokerError::InvalidName {
                    name: msg.name,
                    reason: "an internal topic's name starts with '$'",
                });
            }
        } else {
            validate_name(&msg.name)?;
        }
        msg.config.validate()?;
        let stream = self.metadata.stream(&msg.stream)?;
        self.check_partition_budget(msg.config.partitions)?;
        if stream.topics.iter().any(|t| t.name == msg.name) {
            return Err(BrokerError::TopicExists { stream: msg.stream, topic: msg.name });
        }
        if stream.topics.len() >= self.config.max_topics_per_stream {
            return Err(BrokerError::LimitExceeded(format!(
                "at most {} topics per stream",
                self.config.max_topics_per_stream
            )));
        }
        let id = self.metadata.next_topic_id;
        let data_key = crate::encryption::new_data_key(self.config.master_key.as_ref(), id, msg.config.encryption)?;
        let topic = TopicMeta {
            id,
            name: msg.name.clone(),
            created_ms: self.config.env.now_ms(),
            config: msg.config,
            data_key,
        };
        self.update_metadata(|m| {
            m.next_topic_id += 1;
            m.stream_mut(&msg.stream)?.topics.push(topic.clone());
            Ok(())
        })?;
        let stream = self.metadata.stream(&msg.stream)?.clone();
        self.start_topic(&stream, &topic);
        Ok(topic_info(&msg.stream, &topic))
    }
}

/// Lists a stream's topics.
#[derive(Message)]
#[rtype(result = "Result<Vec<TopicInfo>>")]
pub(crate) struct ListTopics(pub(crate) String);

impl Handler<ListTopics> for BrokerActor {
    type Result = Result<Vec<TopicInfo>>;

    fn handle(&mut self, msg: ListTopics, _ctx: &mut Context<Self>) -> Result<Vec<TopicInfo>> {
        let stream = self.metadata.stream(&msg.0)?;
        Ok(stream.topics.iter().map(|t| topic_info(&stream.name, t)).collect())
    }
}

/// Describes a topic and its partitions.
#[derive(Message)]
#[rtype(result = "Result<TopicDetails>")]
pub(crate) struct DescribeTopic {
    pub(crate) stream: String,
    pub(crate) name: String,
}

impl Handler<DescribeTopic> for BrokerActor {
    type Result = ResponseActFuture<Self, Result<TopicDetails>>;

    fn handle(&mut self, msg: DescribeTopic, _ctx: &mut Context<Self>) -> Self::Result {
        let found = self.metadata.topic(&msg.stream, &msg.name).map(|(s, t)| topic_info(&s.name, t));
        let addr = self.topics.get(&(msg.stream.clone(), msg.name.clone())).cloned();
        Box::pin(
            async move {
                let topic = found?;
                let partitions = match addr {
                    Some(addr) => addr.send(DescribePartitions).await.unwrap_or_default(),
                    None => Vec::new(),
                };
                Ok(TopicDetails { topic, partitions })
            }
            .into_actor(self)
            .map(|r, _, _| r),
        )
    }
}

/// Adds partitions to a live topic.
#[derive(Message)]
#[rtype(result = "Result<u32>")]
pub(crate) struct AddPartitions {
    pub(crate) stream: String,
    pub(crate) name: String,
    pub(crate) count: u32,
}

impl Handler<AddPartitions> for BrokerActor {
    type Result = ResponseActFuture<Self, Result<u32>>;

    fn handle(&mut self, msg: AddPartitions, _ctx: &mut Context<Self>) -> Self::Result {
        let prepared = (|| -> Result<_> {
            let (_, topic) = self.metadata.topic(&msg.stream, &msg.name)?;
            let total = topic.config.partitions.saturating_add(msg.count);
            let mut config = topic.config.clone();
            config.partitions = total;
            config.validate()?;
            self.check_partition_budget(msg.count)?;
            let topic = self.update_metadata(|m| {
                let t = m.stream_mut(&msg.stream)?.topics.iter_mut().find(|t| t.name == msg.name).ok_or_else(|| {
                    BrokerError::TopicNotFound { stream: msg.stream.clone(), topic: msg.name.clone() }
                })?;
                t.config.partitions = total;
                Ok(t.clone())
            })?;
            let addr =
                self.topics.get(&(msg.stream.clone(), msg.name.clone())).cloned().ok_or(BrokerError::ShuttingDown)?;
            Ok((addr, topic, total))
        })();
        Box::pin(
            async move {
                let (addr, topic, total) = prepared?;
                let partitions = addr.send(Grow { count: total }).await.map_err(|_| BrokerError::ShuttingDown)?;
                Ok((topic, partitions, total))
            }
            .into_actor(self)
            .map(move |r: Result<_>, act, _| {
                let (topic, partitions, total) = r?;
                // The topic may have been deleted while its partitions grew: never re-publish a deleted route.
                if act.metadata.topic(&msg.stream, &msg.name).is_err() {
                    return Err(BrokerError::TopicNotFound { stream: msg.stream.clone(), topic: msg.name.clone() });
                }
                act.publish(&msg.stream, &topic, partitions);
                for ((stream, _), group) in &act.routes.read().unwrap_or_else(|p| p.into_inner()).groups {
                    if *stream == msg.stream {
                        group.do_send(TopicsChanged);
                    }
                }
                Ok(total)
            }),
        )
    }
}

/// Deletes a topic: stops its actors, fails parked polls and frees its files.
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub(crate) struct DeleteTopic {
    pub(crate) stream: String,
    pub(crate) name: String,
}

impl Handler<DeleteTopic> for BrokerActor {
    type Result = ResponseActFuture<Self, Result<()>>;

    fn handle(&mut self, msg: DeleteTopic, _ctx: &mut Context<Self>) -> Self::Result {
        let removed = (|| -> Result<_> {
            self.metadata.topic(&msg.stream, &msg.name)?;
            self.update_metadata(|m| {
                m.stream_mut(&msg.stream)?.topics.retain(|t| t.name != msg.name);
                Ok(())
            })?;
            if let Some(topics) = self.routes_mut().streams.get_mut(&msg.stream) {
                topics.remove(&msg.name);
            }
            Ok(self.topics.remove(&(msg.stream.clone(), msg.name.clone())))
        })();
        Box::pin(
            async move {
                if let Some(addr) = removed? {
                    let _ = addr.send(RetireTopic { delete_files: true }).await;
                }
                Ok(())
            }
            .into_actor(self)
            .map(|r, _, _| r),
        )
    }
}

/// Deletes a stream and all its topics (the `default` stream cannot be deleted).
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub(crate) struct DeleteStream(pub(crate) String);

impl Handler<DeleteStream> for BrokerActor {
    type Result = ResponseActFuture<Self, Result<()>>;

    fn handle(&mut self, msg: DeleteStream, _ctx: &mut Context<Self>) -> Self::Result {
        let removed = (|| -> Result<_> {
            if msg.0 == DEFAULT_STREAM {
                return Err(BrokerError::InvalidConfig("the default stream cannot be deleted".into()));
            }
            let stream = self.metadata.stream(&msg.0)?.clone();
            self.update_metadata(|m| {
                m.streams.retain(|s| s.name != msg.0);
                Ok(())
            })?;
            let groups = {
                let mut routes = self.routes_mut();
                routes.streams.remove(&msg.0);
                let keys: Vec<_> = routes.groups.keys().filter(|(s, _)| *s == msg.0).cloned().collect();
                keys.into_iter().filter_map(|k| routes.groups.remove(&k)).collect::<Vec<_>>()
            };
            for group in groups {
                group.do_send(StopGroup);
            }
            let addrs: Vec<_> =
                stream.topics.iter().filter_map(|t| self.topics.remove(&(msg.0.clone(), t.name.clone()))).collect();
            let dir = self.config.data_dir.join("streams").join(stream.id.to_string());
            Ok((addrs, dir))
        })();
        Box::pin(
            async move {
                let (addrs, dir) = removed?;
                for addr in addrs {
                    let _ = addr.send(RetireTopic { delete_files: true }).await;
                }
                if let Err(e) = std::fs::remove_dir_all(&dir)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    return Err(BrokerError::io(&dir, e));
                }
                Ok(())
            }
            .into_actor(self)
            .map(|r, _, _| r),
        )
    }
}

/// Retires every topic (closing all logs cleanly) before the broker stops.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Shutdown;

impl Handler<Shutdown> for BrokerActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: Shutdown, _ctx: &mut Context<Self>) -> Self::Result {
        self.routes_mut().streams.clear();
        let addrs: Vec<_> = self.topics.drain().map(|(_, a)| a).collect();
        Box::pin(
            async move {
                for addr in addrs {
                    let _ = addr.send(RetireTopic { delete_files: false }).await;
                }
            }
            .into_actor(self),
        )
    }
}

/// Allocates a new idempotent producer id (persisted, never reused).
#[derive(Message)]
#[rtype(result = "Result<i64>")]
pub(crate) struct AllocateProducerId;

impl Handler<AllocateProducerId> for BrokerActor {
    type Result = Result<i64>;

    fn handle(&mut self, _msg: AllocateProducerId, _ctx: &mut Context<Self>) -> Result<i64> {
        let id = self.update_metadata(|m| {
            m.next_producer_id += 1;
            Ok(m.next_producer_id - 1)
        })?;
        self.producer_ids.store(id + 1, Ordering::Release);
        Ok(id)
    }
}
