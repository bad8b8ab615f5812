//! Durability under `always` when fsyncs fail, on the simulated file system (its power loss is a real loss of
//! everything not synced): a producer's retry of a batch whose fsync failed is stored and synced anew, never
//! acknowledged as a duplicate of data that may not be on disk; a batch made only of duplicate message ids is
//! answered only once the originals are durable.

use std::sync::Arc;
use std::time::{Duration, Instant};

use callboard_actors::*;
use callboard_storage::SimEnv;

fn config(dir: &std::path::Path, env: &SimEnv) -> BrokerConfig {
    BrokerConfig { arbiters: 2, env: Arc::new(env.clone()), ..BrokerConfig::with_data_dir(dir) }
}

async fn payloads(broker: &Broker, topic: &str) -> Vec<String> {
    let req = PollRequest::new(PollingStrategy::First).count(10_000);
    let polled = broker.poll("default", topic, 0, req).await.expect("poll");
    polled.messages.iter().map(|m| String::from_utf8_lossy(&m.payload).into_owned()).collect()
}

/// Sends until acknowledged (retriable errors while the partition restarts), at most 30 s.
async fn send_until_acked(broker: &Broker, info: ProducerInfo, messages: &[Message]) -> Sent {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match broker.send_idempotent("default", "t", 0, info, messages).await {
            Ok(sent) => return sent,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("send failed for good: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_failed_fsync_is_written_again_and_survives_power_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = SimEnv::new();
    let broker = Broker::start(config(dir.path(), &env)).await.expect("start");
    broker.create_topic("default", "t", TopicConfig::default()).await.expect("topic");
    let pid = broker.init_producer().await.expect("producer id");
    let info = |seq| ProducerInfo { producer_id: pid, producer_epoch: 0, base_sequence: seq };
    let first = [Message::new("a")];
    broker.send_idempotent("default", "t", 0, info(0), &first).await.expect("a");

    let second = [Message::new("b")];
    env.set_fail_sync(true);
    let failed = broker.send_idempotent("default", "t", 0, info(1), &second).await;
    assert!(failed.is_err(), "b's fsync failed, so b is not acknowledged");
    env.set_fail_sync(false);
    send_until_acked(&broker, info(1), &second).await;
    assert_eq!(payloads(&broker, "t").await, ["a", "b"]);

    // Power loss: only what was fsynced is left. b was acknowledged, so it must be there.
    env.crash();
    drop(broker);
    let broker = Broker::start(config(dir.path(), &env)).await.expect("restart after power loss");
    assert_eq!(payloads(&broker, "t").await, ["a", "b"], "the acknowledged retry was durable");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_duplicate_ids_waits_for_the_originals_fsync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = SimEnv::new();
    let broker = Broker::start(config(dir.path(), &env)).await.expect("start");
    let topic = TopicConfig { dedup: Some(DedupWindow { max_ids: 1000, max_age_ms: 3_600_000 }), ..Default::default() };
    broker.create_topic("default", "d", topic).await.expect("topic");
    let send = |m: Message| {
        let broker = broker.clone();
        async move { broker.send("default", "d", Partitioning::Partition(0), vec![m]).await }
    };
    env.set_fail_sync(true);
    // Queued back to back: the original is written (its fsync fails), then its duplicate is dropped by id. The
    // duplicate may only be answered with success once the original is durable, which it never is here.
    let original = send(Message::new("x").with_id(7));
    let duplicate = send(Message::new("x").with_id(7));
    let (original, duplicate) = tokio::join!(original, duplicate);
    assert!(original.is_err(), "the original fsync failed");
    assert!(duplicate.is_err(), "a duplicate of a message that is not durable was acknowledged: {duplicate:?}");
    env.set_fail_sync(false);
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_power_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = SimEnv::new();
    let broker = Broker::start(config(dir.path(), &env)).await.expect("start");
    broker.create_topic("default", "t", TopicConfig::default()).await.expect("topic");
    let messages: Vec<Message> = (0..10).map(|i| Message::new(format!("m{i}"))).collect();
    broker.send("default", "t", Partitioning::Partition(0), messages).await.expect("send");
    for offset in 1..=7 {
        broker.store_offset("default", "t", 0, "billing", offset).await.expect("commit");
    }
    env.crash();
    drop(broker);
    let broker = Broker::start(config(dir.path(), &env)).await.expect("restart after power loss");
    assert_eq!(broker.get_offset("default", "t", 0, "billing").await.expect("get"), Some(7));
    broker.shutdown().await.expect("shutdown");
}
