//! [`ProducerConfig`]: where a [`super::Producer`] sends and how it batches and retries.

use std::time::Duration;

use callboard_protocol::batch::Compression;
use callboard_protocol::model::Partitioning;

/// Configuration of a [`super::Producer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// Stream.
    pub stream: String,
    /// Topic.
    pub topic: String,
    /// Where messages go (default `Balanced`: each batch to the next partition).
    pub partitioning: Partitioning,
    /// A batch is sent once it holds this many messages (default 1000).
    pub batch_max_messages: usize,
    /// A batch is sent before it would grow past this many bytes (default 1 MiB).
    pub batch_max_bytes: usize,
    /// A batch is sent at most this long after its first message (default 5 ms).
    pub linger: Duration,
    /// Batches sent and not yet acknowledged, at most (default 4); `send` waits beyond that.
    pub max_in_flight: usize,
    /// Stamp batches with a producer id and sequence numbers so retries are stored once (default true).
    pub idempotent: bool,
    /// Retry rounds per partition after retriable failures before giving up (default 5).
    pub retries: u32,
    /// Wait before the first retry; doubles each round, at most 5 s (default 100 ms).
    pub retry_backoff: Duration,
    /// Codec each batch's records are compressed with (default none). The broker stores batches as sent; batch
    /// limits (`batch_max_bytes`, the topic's `max_message_bytes`) apply to the uncompressed records.
    pub compression: Compression,
}

impl ProducerConfig {
    /// The defaults for `stream`/`topic`.
    pub fn new(stream: &str, topic: &str) -> Self {
        ProducerConfig {
            stream: stream.into(),
            topic: topic.into(),
            partitioning: Partitioning::Balanced,
            batch_max_messages: 1000,
            batch_max_bytes: 1 << 20,
            linger: Duration::from_millis(5),
            max_in_flight: 4,
            idempotent: true,
            retries: 5,
            retry_backoff: Duration::from_millis(100),
            compression: Compression::None,
        }
    }

    /// The wait before retry round `attempt` (1-based).
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.retry_backoff.saturating_mul(factor).min(Duration::from_secs(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let c = ProducerConfig::new("s", "t");
        assert_eq!(c.backoff(1), Duration::from_millis(100));
        assert_eq!(c.backoff(3), Duration::from_millis(400));
        assert_eq!(c.backoff(40), Duration::from_secs(5));
    }
}
