//! Integration tests of the embedded broker API: topics, produce and every polling strategy, long polls, consumer
//! offsets, restart persistence, deduplication, add-partitions, topic deletion and the data-directory lock.

use std::time::{Duration, Instant};

use callboard_actors::*;

fn config(dir: &std::path::Path) -> BrokerConfig {
    BrokerConfig { arbiters: 2, ..BrokerConfig::with_data_dir(dir) }
}

/// Waits until `n` long polls are parked on the partition (observed through the topic's partition details).
async fn wait_parked(broker: &Broker, topic: &str, partition: u32, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let details = broker.topic("default", topic).await.expect("topic details");
        let parked = details.partitions[partition as usize].parked_polls;
        if parked >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{parked} of {n} polls parked on {topic}/{partition} after 10 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn payloads(polled: &Polled) -> Vec<String> {
    polled.messages.iter().map(|m| String::from_utf8_lossy(&m.payload).into_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_poll_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    broker.create_topic("default", "orders", TopicConfig { partitions: 2, ..Default::default() }).await.expect("topic");
    let msgs: Vec<Message> = (0..10).map(|i| Message::new(format!("m{i}")).with_header("n", i.to_string())).collect();
    let sent = broker.send("default", "orders", Partitioning::Partition(1), msgs).await.expect("send");
    assert_eq!(sent, vec![Sent { partition: 1, base_offset: 0, stored: 10, duplicates: 0 }]);

    let first =
        broker.poll("default", "orders", 1, PollRequest::new(PollingStrategy::First).count(3)).await.expect("poll");
    assert_eq!(payloads(&first), ["m0", "m1", "m2"]);
    assert_eq!(first.next_offset, 3);
    assert_eq!(first.messages[2].headers, vec![("n".to_string(), bytes::Bytes::from("2"))]);
    let at = broker.poll("default", "orders", 1, PollRequest::new(PollingStrategy::Offset(7))).await.expect("poll");
    assert_eq!(payloads(&at), ["m7", "m8", "m9"]);
    let last = broker.poll("default", "orders", 1, PollRequest::new(PollingStrategy::Last)).await.expect("poll");
    assert_eq!(payloads(&last), ["m9"]);
    let ts = first.messages[0].timestamp;
    let by_ts = broker
        .poll("default", "orders", 1, PollRequest::new(PollingStrategy::Timestamp(ts)).count(1))
        .await
        .expect("poll");
    assert_eq!(by_ts.messages[0].offset, 0);

    let consumer = ConsumerRef { name: "c1".into(), auto_commit: true, reset: ResetPolicy::Earliest };
    let next = PollRequest::new(PollingStrategy::Next).count(4).consumer(consumer.clone());
    assert_eq!(
        payloads(&broker.poll("default", "orders", 1, next.clone()).await.expect("poll")),
        ["m0", "m1", "m2", "m3"]
    );
    assert_eq!(
        payloads(&broker.poll("default", "orders", 1, next.clone()).await.expect("poll")),
        ["m4", "m5", "m6", "m7"]
    );
    assert_eq!(broker.get_offset("default", "orders", 1, "c1").await.expect("offset"), Some(8));
    broker.shutdown().await.expect("shutdown");

    let broker = Broker::start(config(dir.path())).await.expect("restart");
    assert_eq!(broker.get_offset("default", "orders", 1, "c1").await.expect("offset"), Some(8));
    assert_eq!(payloads(&broker.poll("default", "orders", 1, next).await.expect("poll")), ["m8", "m9"]);
    let topic = broker.topic("default", "orders").await.expect("describe");
    assert_eq!(topic.partitions.len(), 2);
    assert_eq!(topic.partitions[1].log_end, 10);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_returns_when_data_arrives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    broker.create_topic("default", "t", TopicConfig::default()).await.expect("topic");
    let poller = broker.clone();
    let started = Instant::now();
    let waiting = tokio::spawn(async move {
        let req = PollRequest::new(PollingStrategy::Offset(0)).wait(Duration::from_secs(20));
        poller.poll("default", "t", 0, req).await
    });
    wait_parked(&broker, "t", 0, 1).await;
    broker.send("default", "t", Partitioning::Balanced, vec![Message::new("wake")]).await.expect("send");
    let polled = waiting.await.expect("join").expect("poll");
    assert_eq!(payloads(&polled), ["wake"]);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let empty = broker
        .poll("default", "t", 0, PollRequest::new(PollingStrategy::Offset(1)).wait(Duration::from_millis(100)))
        .await
        .expect("timeout poll");
    assert!(empty.messages.is_empty());
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_broker_on_the_same_directory_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    let err = Broker::start(config(dir.path())).await.expect_err("locked");
    assert!(matches!(err, BrokerError::DataDirLocked(_)), "{err}");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_polls_are_capped_per_partition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(BrokerConfig { max_parked_polls: 2, ..config(dir.path()) }).await.expect("start");
    broker.create_topic("default", "cap", TopicConfig::default()).await.expect("topic");
    let park = || {
        let broker = broker.clone();
        tokio::spawn(async move {
            let req = PollRequest::new(PollingStrategy::Offset(0)).wait(Duration::from_secs(20));
            broker.poll("default", "cap", 0, req).await
        })
    };
    let (a, b) = (park(), park());
    wait_parked(&broker, "cap", 0, 2).await;
    let err = park().await.expect("join").expect_err("third parked poll");
    assert!(matches!(err, BrokerError::TooManyParkedPolls(2)), "{err}");
    assert!(err.is_retriable());
    broker.send("default", "cap", Partitioning::Balanced, vec![Message::new("go")]).await.expect("send");
    assert_eq!(a.await.expect("join").expect("poll").messages.len(), 1);
    assert_eq!(b.await.expect("join").expect("poll").messages.len(), 1);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latest_long_poll_returns_the_next_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    broker.create_topic("default", "l", TopicConfig::default()).await.expect("topic");
    broker.send("default", "l", Partitioning::Balanced, vec![Message::new("old")]).await.expect("send");
    let poller = broker.clone();
    let waiting = tokio::spawn(async move {
        let consumer = ConsumerRef { name: "new".into(), auto_commit: true, reset: ResetPolicy::Latest };
        let req = PollRequest::new(PollingStrategy::Next).consumer(consumer).wait(Duration::from_secs(20));
        poller.poll("default", "l", 0, req).await
    });
    wait_parked(&broker, "l", 0, 1).await;
    broker.send("default", "l", Partitioning::Balanced, vec![Message::new("fresh")]).await.expect("send");
    let polled = waiting.await.expect("join").expect("poll");
    assert_eq!(payloads(&polled), ["fresh"], "the start is fixed when the poll parks");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_broker_releases_everything_before_the_next_one_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    broker.create_topic("default", "d", TopicConfig { partitions: 8, ..Default::default() }).await.expect("topic");
    drop(broker);
    let broker = Broker::start(config(dir.path())).await.expect("restart right away");
    broker.send("default", "d", Partitioning::Partition(7), vec![Message::new("x")]).await.expect("send");
    let status = broker.status().await.expect("status");
    // Eight, and the audit log's one.
    assert_eq!((status.partitions_online, status.partitions_offline, status.restarts), (9, 0, 0));
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_queued_together_are_stored_in_queue_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    // Queued straight after creation (while the partition actor may still be starting) and far more than a default
    // mailbox holds: order must still be the order of the calls.
    broker.create_topic("default", "pipe", TopicConfig { partitions: 64, ..Default::default() }).await.expect("topic");
    let answers: Vec<_> = (0..500)
        .map(|i| {
            let batch = encode_batch(&[Message::new(format!("{i}"))], 1_700_000_000_000, None);
            broker.append_batch("default", "pipe", 63, batch)
        })
        .collect();
    for (i, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer.await.expect("append").base_offset, i as u64);
    }
    broker.shutdown().await.expect("shutdown");
}
