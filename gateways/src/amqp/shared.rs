//! [`Shared`]: what every AMQP connection of a gateway shares: the broker, the configuration, the memory gauge,
//! the actix arbiter queue actors run on, and the virtual hosts (loaded once, on first use or at start).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use actix::ArbiterHandle;
use callboard_actors::{Broker, DEFAULT_STREAM};

use crate::amqp::config::AmqpConfig;
use crate::amqp::memory::MemoryGauge;
use crate::amqp::reply::{AmqpError, ReplyCode, internal};
use crate::amqp::vhost::VHost;

/// Shared by the connections of one gateway.
#[derive(Debug)]
pub struct Shared {
    /// The broker.
    pub broker: Broker,
    /// Configuration.
    pub config: AmqpConfig,
    /// Unacknowledged bytes and the publisher block.
    pub memory: Arc<MemoryGauge>,
    /// Where queue actors run.
    pub arbiter: ArbiterHandle,
    /// The largest write backlog any connection had (bytes queued for its socket, not yet written).
    pub write_backlog_peak: AtomicUsize,
    /// Connections closed because their peer read nothing for `write_stall_timeout` with a full backlog.
    pub write_stalls: AtomicU64,
    vhosts: tokio::sync::Mutex<HashMap<String, Arc<VHost>>>,
    next_id: AtomicU64,
}

impl Shared {
    /// A new shared context.
    pub fn new(broker: Broker, config: AmqpConfig, arbiter: ArbiterHandle) -> Shared {
        let memory = Arc::new(MemoryGauge::new(config.memory_high_watermark));
        Shared {
            broker,
            config,
            memory,
            arbiter,
            write_backlog_peak: AtomicUsize::new(0),
            write_stalls: AtomicU64::new(0),
            vhosts: Default::default(),
            next_id: AtomicU64::new(1),
        }
    }

    /// A fresh id (connections, consumers).
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The stream an AMQP virtual host maps to: `/` is the default stream, any other name is a stream's name.
    pub fn stream_for(vhost: &str) -> &str {
        if vhost == "/" { DEFAULT_STREAM } else { vhost }
    }

    /// The virtual host, loaded on first use; an unknown one is 530 not-allowed.
    pub async fn vhost(self: &Arc<Self>, name: &str) -> Result<Arc<VHost>, AmqpError> {
        let stream = Self::stream_for(name).to_string();
        let mut vhosts = self.vhosts.lock().await;
        if let Some(v) = vhosts.get(&stream) {
            return Ok(Arc::clone(v));
        }
        let streams = self.broker.streams().await.map_err(internal)?;
        if !streams.iter().any(|s| s.name == stream) {
            return Err(AmqpError::new(ReplyCode::NotAllowed, format!("vhost '{name}' not found")));
        }
        let vhost = Arc::new(VHost::load(Arc::clone(self), stream.clone()).await?);
        vhosts.insert(stream, Arc::clone(&vhost));
        Ok(vhost)
    }

    /// Loads every stream's virtual host (at start, so non-durable queues of a previous run are removed at once).
    pub async fn load_all(self: &Arc<Self>) -> Result<(), AmqpError> {
        for stream in self.broker.streams().await.map_err(internal)? {
            self.vhost(&stream.name).await?;
        }
        Ok(())
    }

    /// Every loaded virtual host.
    pub async fn vhosts(&self) -> Vec<Arc<VHost>> {
        self.vhosts.lock().await.values().cloned().collect()
    }
}
