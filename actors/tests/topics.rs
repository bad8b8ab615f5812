//! Topic lifecycle through the embedded API: names, streams, concurrent producers (every message stored once, in
//! order per producer), add-partitions on a live topic, delete and recreate under load, retention with reset
//! policies, and metadata persistence.

use std::time::Duration;

use callboard_actors::*;

fn config(dir: &std::path::Path) -> BrokerConfig {
    BrokerConfig { arbiters: 2, ..BrokerConfig::with_data_dir(dir) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_topics_and_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    assert_eq!(broker.streams().await.expect("streams")[0].name, DEFAULT_STREAM);
    broker.create_stream("amq vhost é").await.expect("stream");
    assert!(matches!(broker.create_stream("amq vhost é").await, Err(BrokerError::StreamExists(_))));
    assert!(matches!(broker.create_stream("a/b").await, Err(BrokerError::InvalidName { .. })));
    broker.create_topic("amq vhost é", "amq.gen-JzTY20BRgKO", TopicConfig::default()).await.expect("topic");
    let bad = TopicConfig { partitions: 0, ..Default::default() };
    assert!(matches!(broker.create_topic("default", "x", bad).await, Err(BrokerError::InvalidConfig(_))));
    assert!(matches!(
        broker.create_topic("nope", "x", TopicConfig::default()).await,
        Err(BrokerError::StreamNotFound(_))
    ));
    let err =
        broker.send("default", "missing", Partitioning::Balanced, vec![Message::new("x")]).await.expect_err("missing");
    assert!(matches!(err, BrokerError::TopicNotFound { .. }), "{err}");
    assert!(matches!(broker.delete_stream(DEFAULT_STREAM).await, Err(BrokerError::InvalidConfig(_))));
    broker.shutdown().await.expect("shutdown");

    let broker = Broker::start(config(dir.path())).await.expect("restart");
    let topics = broker.topics("amq vhost é").await.expect("topics");
    assert_eq!(topics[0].name, "amq.gen-JzTY20BRgKO", "metadata survives a restart");
    broker.delete_stream("amq vhost é").await.expect("delete stream");
    assert!(matches!(broker.topics("amq vhost é").await, Err(BrokerError::StreamNotFound(_))));
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_producers_store_every_message_once_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    broker.create_topic("default", "c", TopicConfig { partitions: 3, ..Default::default() }).await.expect("topic");
    let mut tasks = Vec::new();
    for producer in 0..10 {
        let broker = broker.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let m = Message::new(format!("{producer}:{i}")).with_key(format!("producer-{producer}"));
                broker.send("default", "c", Partitioning::MessageKey, vec![m]).await.expect("send");
            }
        }));
    }
    for t in tasks {
        t.await.expect("producer");
    }
    let mut seen = std::collections::HashMap::<u32, Vec<u32>>::new();
    for p in 0..3 {
        let polled =
            broker.poll("default", "c", p, PollRequest::new(PollingStrategy::First).count(1000)).await.expect("poll");
        for m in polled.messages {
            let text = String::from_utf8_lossy(&m.payload).into_owned();
            let (producer, i) = text.split_once(':').expect("payload");
            seen.entry(producer.parse().expect("n")).or_default().push(i.parse().expect("i"));
        }
    }
    assert_eq!(seen.len(), 10);
    for (producer, got) in seen {
        assert_eq!(got, (0..50).collect::<Vec<_>>(), "producer {producer}: each message once, in order");
    }
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_partitions_and_delete_recreate_under_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    broker.create_topic("default", "live", TopicConfig::default()).await.expect("topic");
    assert_eq!(broker.add_partitions("default", "live", 2).await.expect("add"), 3);
    broker
        .send("default", "live", Partitioning::Partition(2), vec![Message::new("p2")])
        .await
        .expect("send to new partition");
    assert_eq!(broker.topic("default", "live").await.expect("describe").partitions.len(), 3);

    let parked = {
        let broker = broker.clone();
        tokio::spawn(async move {
            let req = PollRequest::new(PollingStrategy::Offset(1)).wait(Duration::from_secs(30));
            broker.poll("default", "live", 2, req).await
        })
    };
    let load = {
        let broker = broker.clone();
        tokio::spawn(async move {
            let mut errors = 0;
            for i in 0..200 {
                if broker
                    .send("default", "live", Partitioning::Partition(0), vec![Message::new(format!("{i}"))])
                    .await
                    .is_err()
                {
                    errors += 1;
                }
            }
            errors
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    broker.delete_topic("default", "live").await.expect("delete");
    let err = parked.await.expect("join").expect_err("a parked poll fails when its topic is deleted");
    assert!(matches!(err, BrokerError::TopicNotFound { .. }), "{err}");
    load.await.expect("load");
    broker.create_topic("default", "live", TopicConfig::default()).await.expect("recreate");
    broker.send("default", "live", Partitioning::Partition(0), vec![Message::new("fresh")]).await.expect("send");
    let polled = broker.poll("default", "live", 0, PollRequest::new(PollingStrategy::First)).await.expect("poll");
    assert_eq!(polled.messages.len(), 1, "the recreated topic starts empty");
    assert_eq!(polled.messages[0].offset, 0);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_below_the_log_start_follow_the_reset_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = BrokerConfig { retention_check: Duration::from_millis(50), ..config(dir.path()) };
    let broker = Broker::start(config).await.expect("start");
    let topic = TopicConfig { segment_bytes: 1024, retention_bytes: Some(2048), ..Default::default() };
    broker.create_topic("default", "r", topic).await.expect("topic");
    for i in 0..40 {
        broker
            .send("default", "r", Partitioning::Partition(0), vec![Message::new(vec![i as u8; 200])])
            .await
            .expect("send");
    }
    let mut start = 0;
    for _ in 0..100 {
        start = broker.topic("default", "r").await.expect("describe").partitions[0].log_start;
        if start > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(start > 0, "retention removed the oldest segments");
    let earliest = ConsumerRef { name: "e".into(), auto_commit: false, reset: ResetPolicy::Earliest };
    let polled = broker
        .poll("default", "r", 0, PollRequest::new(PollingStrategy::Offset(0)).consumer(earliest))
        .await
        .expect("poll");
    assert_eq!(polled.messages[0].offset, start);
    let latest = ConsumerRef { name: "l".into(), auto_commit: false, reset: ResetPolicy::Latest };
    let polled =
        broker.poll("default", "r", 0, PollRequest::new(PollingStrategy::Next).consumer(latest)).await.expect("poll");
    assert!(polled.messages.is_empty());
    assert_eq!(polled.next_offset, 40);
    let error = ConsumerRef { name: "x".into(), auto_commit: false, reset: ResetPolicy::Error };
    let err = broker
        .poll("default", "r", 0, PollRequest::new(PollingStrategy::Offset(0)).consumer(error))
        .await
        .expect_err("error policy");
    assert!(matches!(err, BrokerError::NoOffset { .. }), "{err}");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_refused_for_one_partition_stores_nothing_anywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    let topic = TopicConfig { partitions: 2, max_message_bytes: 1000, ..Default::default() };
    broker.create_topic("default", "k", topic).await.expect("topic");
    let key_for =
        |p: u32| (0..).map(|i| format!("k{i}")).find(|k| partition_for_key(k.as_bytes(), 2) == p).expect("key");
    let msgs = vec![Message::new("small").with_key(key_for(0)), Message::new(vec![0u8; 2000]).with_key(key_for(1))];
    let err = broker.send("default", "k", Partitioning::MessageKey, msgs).await.expect_err("too large");
    assert!(matches!(err, BrokerError::MessageTooLarge { .. }), "{err}");
    for p in 0..2 {
        let polled = broker.poll("default", "k", p, PollRequest::new(PollingStrategy::First)).await.expect("poll");
        assert!(polled.messages.is_empty(), "partition {p} stored part of a refused send");
    }
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_past_the_broker_budget_are_refused_with_resource_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(BrokerConfig { max_partitions: Some(50), ..config(dir.path()) }).await.expect("start");
    let parts = |partitions| TopicConfig { partitions, durability: DurabilityPolicy::Never, ..Default::default() };
    broker.create_topic("default", "big", parts(40)).await.expect("40 fit");
    let err = broker.create_topic("default", "more", parts(20)).await.expect_err("60 > 50");
    assert!(matches!(err, BrokerError::ResourceLimit(_)), "{err}");
    assert_eq!(err.code(), callboard_protocol::ErrorCode::ResourceLimit);
    // The audit log holds one partition: 40 + 1 + 10 > 50.
    let err = broker.add_partitions("default", "big", 10).await.expect_err("51 > 50");
    assert!(matches!(err, BrokerError::ResourceLimit(_)), "{err}");
    assert_eq!(broker.add_partitions("default", "big", 9).await.expect("50 fit"), 49);
    broker.delete_topic("default", "big").await.expect("delete");
    broker.create_topic("default", "more", parts(20)).await.expect("a deleted topic frees its partitions");
    broker.shutdown().await.expect("shutdown");
}
