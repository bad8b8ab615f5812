//! [`Producer`]: a batching, pipelining, retrying producer for one topic. A background task does the work; the
//! handle feeds it messages (waiting when `max_in_flight` batches are unanswered and the next one is full) and
//! reads its acknowledged count.
//!
//! In idempotent mode (the default) the producer takes a producer id once, numbers each partition's records from 0,
//! and stamps every batch with its base sequence. A batch is built once; after a retriable failure (including a lost
//! connection, which the client reopens) it is resent byte-identical, in order with the partition's later batches,
//! so the broker stores it exactly once and acknowledges a repeat as duplicates.

mod acks;
mod config;
mod partition;
mod task;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use callboard_protocol::model::{Message, Partitioning};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use config::ProducerConfig;

use crate::client::Client;
use crate::error::{ClientError, ProducerError, Result};
use task::{Command, Shared, Task};

/// Messages queued between the handle and the task.
const QUEUE: usize = 1024;

/// A batching producer for one topic.
pub struct Producer {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("acknowledged", &self.acknowledged()).finish()
    }
}

impl Producer {
    /// Starts a producer: looks up the topic's partition count and, when idempotent, takes a producer id.
    pub async fn new(client: Client, config: ProducerConfig) -> Result<Producer> {
        let partitions = client.topic(&config.stream, &config.topic).await?.partitions.len() as u32;
        if partitions == 0 {
            return Err(ClientError::InvalidArgument(format!("{}/{} has no partitions", config.stream, config.topic)));
        }
        if let Partitioning::Partition(p) = config.partitioning
            && p >= partitions
        {
            return Err(ClientError::InvalidArgument(format!(
                "partition {p} of {}/{}, which has {partitions}",
                config.stream, config.topic
            )));
        }
        let producer_id = if config.idempotent { Some(client.init_producer().await?) } else { None };
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = Task::new(client, config, producer_id, partitions, Arc::clone(&shared));
        let task = tokio::spawn(task.run(rx));
        Ok(Producer { tx, shared, task })
    }

    /// Buffers a message; the batch goes out when full or when its linger passed. Waits while `max_in_flight`
    /// batches are unanswered and the next one is ready; fails early once an earlier batch failed for good.
    pub async fn send(&mut self, message: Message) -> Result<()> {
        if let Some(e) = self.shared.failure() {
            return Err(e);
        }
        self.tx.send(Command::Send(message)).await.map_err(|_| self.stopped().into())
    }

    /// Sends what is buffered and waits for every acknowledgement.
    pub async fn flush(&mut self) -> Result<(), ProducerError> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Command::Flush(reply)).await.is_err() {
            return Err(self.stopped());
        }
        answer.await.unwrap_or_else(|_| Err(self.stopped()))
    }

    /// Messages acknowledged so far, counted from the first send without a gap: message `i` (0-based) is
    /// acknowledged iff `i < acknowledged()`.
    pub fn acknowledged(&self) -> u64 {
        self.shared.acknowledged.load(Ordering::Acquire)
    }

    /// Flushes and stops the producer.
    pub async fn close(self) -> Result<(), ProducerError> {
        let mut this = self;
        let flushed = this.flush().await;
        let Producer { tx, task, .. } = this;
        drop(tx);
        let _ = task.await;
        flushed
    }

    fn stopped(&self) -> ProducerError {
        self.shared.error().unwrap_or_else(|| {
            let acknowledged = self.acknowledged();
            ProducerError::Failed {
                acknowledged,
                first_failed: acknowledged,
                source: ClientError::Closed("the producer task stopped".into()),
            }
        })
    }
}
