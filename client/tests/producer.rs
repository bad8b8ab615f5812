//! The batching producer: everything acknowledged and stored in order, and exactly once across a connection drop.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use callboard_client::{
    Client, ClientConfig, ErrorCode, Message, Partitioning, PollingStrategy, Producer, ProducerConfig, ProducerError,
    TopicConfig, partition_for_key,
};
use common::{Fixture, topic_config};

/// Every payload of every partition, in offset order.
async fn read_all(client: &Client, topic: &str, partitions: u32) -> anyhow::Result<BTreeMap<u32, Vec<Bytes>>> {
    let mut out = BTreeMap::new();
    for p in 0..partitions {
        let mut payloads = Vec::new();
        let mut offset = 0;
        loop {
            let polled =
                client.poll("s", topic, p, PollingStrategy::Offset(offset), 1000, Duration::ZERO, None).await?;
            if polled.messages.is_empty() {
                break;
            }
            payloads.extend(polled.messages.into_iter().map(|m| m.payload));
            offset = polled.next_offset;
        }
        out.insert(p, payloads);
    }
    Ok(out)
}

fn payload(i: u64) -> Bytes {
    Bytes::from(format!("{i:06}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_are_acknowledged_and_stored_in_order() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let client = fixture.client().await?;
    client.create_stream("s").await?;
    client.create_topic("s", "one", topic_config(1)).await?;
    client.create_topic("s", "four", topic_config(4)).await?;

    let mut producer = Producer::new(client.clone(), ProducerConfig::new("s", "one")).await?;
    for i in 0..10_000 {
        producer.send(Message::new(payload(i))).await?;
    }
    producer.flush().await?;
    assert_eq!(producer.acknowledged(), 10_000);
    producer.close().await?;
    let stored = read_all(&client, "one", 1).await?;
    let expected: Vec<Bytes> = (0..10_000).map(payload).collect();
    assert_eq!(stored[&0], expected);

    // Per-message keys over four partitions, not idempotent, small batches: order kept per key.
    let config = ProducerConfig {
        partitioning: Partitioning::MessageKey,
        batch_max_messages: 50,
        idempotent: false,
        ..ProducerConfig::new("s", "four")
    };
    let mut producer = Producer::new(client.clone(), config).await?;
    for i in 0..2_000u64 {
        producer.send(Message::new(payload(i)).with_key(format!("k{}", i % 10))).await?;
    }
    producer.close().await?;
    let stored = read_all(&client, "four", 4).await?;
    assert_eq!(stored.values().map(Vec::len).sum::<usize>(), 2_000);
    for payloads in stored.values() {
        let mut last_per_key = BTreeMap::new();
        for p in payloads {
            let i: u64 = std::str::from_utf8(p)?.parse()?;
            if let Some(prev) = last_per_key.insert(i % 10, i) {
                assert!(prev < i, "key order kept");
            }
        }
    }
    fixture.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_drop_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    let mut fixture = Fixture::start().await?;
    let client = fixture.client().await?;
    client.create_stream("s").await?;
    client.create_topic("s", "drop", topic_config(2)).await?;
    let config = ProducerConfig {
        batch_max_messages: 100,
        linger: Duration::from_millis(1),
        ..ProducerConfig::new("s", "drop")
    };
    let mut producer = Producer::new(client.clone(), config).await?;
    const TOTAL: u64 = 6_000;
    for i in 0..TOTAL {
        if i == TOTAL / 2 {
            // Restart the gateway while batches are in flight; the client reconnects and the producer resends.
            fixture.restart_tcp().await?;
        }
        producer.send(Message::new(payload(i))).await?;
    }
    producer.flush().await?;
    assert_eq!(producer.acknowledged(), TOTAL);
    producer.close().await?;

    let stored = read_all(&client, "drop", 2).await?;
    let mut all: Vec<u64> = Vec::new();
    for payloads in stored.values() {
        let ids: Vec<u64> = payloads
            .iter()
            .map(|p| std::str::from_utf8(p).map(|s| s.parse::<u64>()))
            .collect::<Result<Result<_, _>, _>>()??;
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order within each partition");
        all.extend(ids);
    }
    all.sort_unstable();
    assert_eq!(all, (0..TOTAL).collect::<Vec<_>>(), "every message exactly once");
    fixture.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_acknowledgements_are_retried_exactly_once() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let admin = fixture.client().await?;
    admin.create_stream("s").await?;
    admin.create_topic("s", "cut", topic_config(2)).await?;
    let proxy = common::proxy::Proxy::start(fixture.addr).await?;
    let client = Client::connect(common::as_admin(ClientConfig::tcp(proxy.addr.to_string()))).await?;
    let config = ProducerConfig {
        batch_max_messages: 50,
        linger: Duration::from_millis(1),
        retry_backoff: Duration::from_millis(20),
        ..ProducerConfig::new("s", "cut")
    };
    let mut producer = Producer::new(client, config).await?;
    const TOTAL: u64 = 6_000;
    for i in 0..TOTAL {
        if i > 0 && i % 1_500 == 0 {
            // Requests the broker already took lose their answers: the producer resends the same batches.
            proxy.cut();
        }
        producer.send(Message::new(payload(i))).await?;
    }
    producer.flush().await?;
    assert_eq!(producer.acknowledged(), TOTAL);
    producer.close().await?;

    let stored = read_all(&admin, "cut", 2).await?;
    let mut all: Vec<u64> = Vec::new();
    for payloads in stored.values() {
        let ids: Vec<u64> = payloads
            .iter()
            .map(|p| std::str::from_utf8(p).map(|s| s.parse::<u64>()))
            .collect::<Result<Result<_, _>, _>>()??;
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order within each partition");
        all.extend(ids);
    }
    all.sort_unstable();
    assert_eq!(all, (0..TOTAL).collect::<Vec<_>>(), "every message exactly once");
    fixture.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_reports_what_was_acknowledged() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let client = fixture.client().await?;
    client.create_stream("s").await?;
    let config = TopicConfig { max_message_bytes: 1_000, ..topic_config(1) };
    client.create_topic("s", "small", config).await?;
    let mut producer = Producer::new(client, ProducerConfig::new("s", "small")).await?;
    for i in 0..10 {
        producer.send(Message::new(payload(i))).await?;
    }
    producer.flush().await?;
    producer.send(Message::new(vec![0u8; 5_000])).await?;
    let err = producer.flush().await.expect_err("too large");
    let ProducerError::Failed { acknowledged, first_failed, source } = err;
    assert_eq!((acknowledged, first_failed), (10, 10));
    assert_eq!(source.code(), Some(ErrorCode::MessageTooLarge));
    let early = producer.send(Message::new("more")).await.expect_err("failed producer");
    assert_eq!(early.code(), Some(ErrorCode::MessageTooLarge));
    assert_eq!(producer.acknowledged(), 10);
    fixture.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_with_later_batches_in_flight_answers_the_flush() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let client = fixture.client().await?;
    client.create_stream("s").await?;
    let config = TopicConfig { max_message_bytes: 1_000, ..topic_config(1) };
    client.create_topic("s", "tail", config).await?;
    // One message per batch: the too-large batch and the small one behind it are in flight together, and the
    // broker refuses the second as out of order once the first failed. It must not be resent.
    let config = ProducerConfig { batch_max_messages: 1, ..ProducerConfig::new("s", "tail") };
    let mut producer = Producer::new(client.clone(), config).await?;
    for i in 0..10 {
        producer.send(Message::new(payload(i))).await?;
    }
    producer.flush().await?;
    producer.send(Message::new(vec![0u8; 5_000])).await?;
    producer.send(Message::new(payload(11))).await?;
    let err = tokio::time::timeout(Duration::from_secs(10), producer.flush())
        .await
        .expect("flush answers after a permanent failure")
        .expect_err("too large");
    let ProducerError::Failed { acknowledged, first_failed, source } = err;
    assert_eq!((acknowledged, first_failed), (10, 10));
    assert_eq!(source.code(), Some(ErrorCode::MessageTooLarge));
    let early = producer.send(Message::new("more")).await.expect_err("failed producer");
    assert_eq!(early.code(), Some(ErrorCode::MessageTooLarge));
    let closed = tokio::time::timeout(Duration::from_secs(10), producer.close()).await.expect("close answers");
    assert_eq!(closed.expect_err("failed").acknowledged(), 10);
    let stored = read_all(&client, "tail", 1).await?;
    assert_eq!(stored[&0], (0..10).map(payload).collect::<Vec<_>>());
    fixture.stop().await
}

/// A key that `partition_for_key` puts on `partition` of `partitions`.
fn key_on(partition: u32, partitions: u32) -> String {
    (0..).map(|i| format!("key-{i}")).find(|k| partition_for_key(k.as_bytes(), partitions) == partition).expect("key")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_failed_is_the_first_message_not_acknowledged() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let client = fixture.client().await?;
    client.create_stream("s").await?;
    let config = TopicConfig { max_message_bytes: 1_000, ..topic_config(2) };
    client.create_topic("s", "gap", config).await?;
    let config = ProducerConfig {
        partitioning: Partitioning::MessageKey,
        batch_max_messages: 2,
        linger: Duration::from_secs(60),
        ..ProducerConfig::new("s", "gap")
    };
    let mut producer = Producer::new(client.clone(), config).await?;
    let (k0, k1) = (key_on(0, 2), key_on(1, 2));
    // Message 0 lingers on partition 0; messages 1 and 2 fill a batch on partition 1, which fails for good and
    // drops message 0 unsent. The first message missing is 0, not 1.
    producer.send(Message::new(payload(0)).with_key(k0.clone())).await?;
    producer.send(Message::new(vec![0u8; 5_000]).with_key(k1.clone())).await?;
    producer.send(Message::new(payload(2)).with_key(k1)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let err = tokio::time::timeout(Duration::from_secs(10), producer.flush()).await?.expect_err("too large");
    let ProducerError::Failed { acknowledged, first_failed, source } = err;
    assert_eq!(source.code(), Some(ErrorCode::MessageTooLarge));
    assert_eq!((acknowledged, first_failed), (0, 0));
    let stored = read_all(&client, "gap", 2).await?;
    assert!(stored.values().all(Vec::is_empty), "nothing stored: {stored:?}");
    fixture.stop().await
}
