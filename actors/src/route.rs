//! The routing table the broker actor publishes and every producer and consumer reads: for each topic, its
//! configuration and the addresses of its partition actors, and the actors of the consumer groups started so far.
//! Requests go straight to partitions and group actors, never through the topic or broker actor (whose mailbox
//! waits on metadata fsyncs).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use actix::Addr;

use crate::config::TopicConfig;
use crate::group::actor::ConsumerGroupActor;
use crate::metadata::TopicMeta;
use crate::partition::PartitionActor;
use callboard_protocol::model::{Partitioning, partition_for_key};

/// All routes, by stream then topic name.
#[derive(Default)]
pub(crate) struct Routes {
    pub(crate) streams: HashMap<String, HashMap<String, std::sync::Arc<Route>>>,
    /// Started group actors, by stream and group name (written only by the broker actor).
    pub(crate) groups: HashMap<(String, String), Addr<ConsumerGroupActor>>,
}

/// One topic's route.
pub(crate) struct Route {
    pub(crate) stream: String,
    pub(crate) topic: String,
    pub(crate) config: TopicConfig,
    pub(crate) partitions: Vec<Addr<PartitionActor>>,
    round_robin: AtomicU32,
}

impl Route {
    pub(crate) fn new(stream: &str, topic: &TopicMeta, partitions: Vec<Addr<PartitionActor>>) -> Self {
        Route {
            stream: stream.to_string(),
            topic: topic.name.clone(),
            config: topic.config.clone(),
            partitions,
            round_robin: AtomicU32::new(0),
        }
    }

    pub(crate) fn count(&self) -> u32 {
        self.partitions.len() as u32
    }

    /// The next partition in round-robin order.
    pub(crate) fn next_balanced(&self) -> u32 {
        self.round_robin.fetch_add(1, Ordering::Relaxed) % self.count().max(1)
    }

    /// The partition for a request (`None` for [`Partitioning::MessageKey`], decided per message).
    pub(crate) fn pick(&self, partitioning: &Partitioning) -> Option<u32> {
        match partitioning {
            Partitioning::Balanced => Some(self.next_balanced()),
            Partitioning::Partition(p) => Some(*p),
            Partitioning::Key(key) => Some(partition_for_key(key, self.count())),
            Partitioning::MessageKey => None,
        }
    }
}
