//! Encryption at rest in the embedded broker: an encrypted topic with message-id deduplication rebuilds its dedup
//! window from sealed batches after a restart (duplicates are still dropped), grows new partitions that seal too,
//! keeps its master key out of `Debug` output, and cannot be created without a master key.

use callboard_actors::encryption::MasterKey;
use callboard_actors::*;

fn config(dir: &std::path::Path, key: Option<&MasterKey>) -> BrokerConfig {
    BrokerConfig { arbiters: 2, master_key: key.cloned(), ..BrokerConfig::with_data_dir(dir) }
}

fn topic() -> TopicConfig {
    TopicConfig {
        encryption: Encryption::Aes256Gcm,
        dedup: Some(DedupWindow { max_ids: 10_000, max_age_ms: 3_600_000 }),
        ..Default::default()
    }
}

fn messages(ids: std::ops::Range<u128>) -> Vec<Message> {
    ids.map(|i| Message::new(format!("secret-{i}")).with_id(i)).collect()
}

async fn payloads(broker: &Broker, partition: u32) -> Vec<String> {
    let polled = broker
        .poll("default", "e", partition, PollRequest::new(PollingStrategy::First).count(10_000))
        .await
        .expect("poll");
    polled.messages.iter().map(|m| String::from_utf8(m.payload.to_vec()).expect("utf-8")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_topics_deduplicate_across_restarts_and_grow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = MasterKey::generate().expect("key");
    assert!(!format!("{:?}", config(dir.path(), Some(&key))).contains(&key.to_hex()), "Debug shows the key");

    let broker = Broker::start(config(dir.path(), None)).await.expect("start");
    let err = broker.create_topic("default", "e", topic()).await.expect_err("no master key");
    assert!(matches!(err, BrokerError::InvalidConfig(ref m) if m.contains("master key")), "{err}");
    broker.shutdown().await.expect("shutdown");

    let broker = Broker::start(config(dir.path(), Some(&key))).await.expect("start");
    broker.create_topic("default", "e", topic()).await.expect("topic");
    let sent = broker.send("default", "e", Partitioning::Partition(0), messages(0..100)).await.expect("send");
    assert_eq!(sent[0].stored, 100);
    broker.shutdown().await.expect("shutdown");

    // The dedup window is rebuilt by opening the sealed batches.
    let broker = Broker::start(config(dir.path(), Some(&key))).await.expect("restart");
    let sent = broker.send("default", "e", Partitioning::Partition(0), messages(50..150)).await.expect("send");
    assert_eq!((sent[0].stored, sent[0].duplicates), (50, 50));
    let expected: Vec<String> = (0..150).map(|i| format!("secret-{i}")).collect();
    assert_eq!(payloads(&broker, 0).await, expected);

    // A partition added later seals under the same data key.
    assert_eq!(broker.add_partitions("default", "e", 1).await.expect("grow"), 2);
    broker.send("default", "e", Partitioning::Partition(1), messages(1000..1010)).await.expect("send");
    broker.shutdown().await.expect("shutdown");
    let broker = Broker::start(config(dir.path(), Some(&key))).await.expect("restart");
    assert_eq!(payloads(&broker, 1).await.len(), 10);
    assert_eq!(payloads(&broker, 0).await, expected);
    broker.shutdown().await.expect("shutdown");
}
