//! Supervision under injected faults: while a producer runs, the partition actor is made to panic inside storage
//! writes several times; the supervisor restarts it (reopening and recovering the log), every acknowledged message is
//! readable exactly once afterwards, and past the restart bound the partition reports offline.

use std::time::Duration;

use callboard_actors::*;

fn config(dir: &std::path::Path, fault: &FaultEnv, max_restarts: u32) -> BrokerConfig {
    BrokerConfig {
        arbiters: 2,
        max_restarts,
        env: std::sync::Arc::new(fault.clone()),
        ..BrokerConfig::with_data_dir(dir)
    }
}

fn topic() -> TopicConfig {
    TopicConfig { dedup: Some(DedupWindow { max_ids: 100_000, max_age_ms: 3_600_000 }), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_partition_failures_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = FaultEnv::default();
    let broker = Broker::start(config(dir.path(), &fault, 10)).await.expect("start");
    broker.create_topic("default", "f", topic()).await.expect("topic");
    let producer = {
        let broker = broker.clone();
        tokio::spawn(async move {
            let (mut acked, mut retries) = (Vec::new(), 0u32);
            for i in 0..300u128 {
                // Retry with the same message id until acknowledged: the dedup window keeps it exactly once even
                // when a failed attempt was stored.
                loop {
                    let m = Message::new(format!("m{i}")).with_id(i);
                    match broker.send("default", "f", Partitioning::Partition(0), vec![m]).await {
                        Ok(_) => break,
                        Err(e) if e.is_retriable() => {
                            retries += 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(e) => panic!("non-retriable error: {e}"),
                    }
                }
                acked.push(i);
            }
            (acked, retries)
        })
    };
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        fault.panic_next_writes(1);
    }
    let (acked, retries) = producer.await.expect("producer");
    assert_eq!(acked.len(), 300);
    assert!(fault.injected() >= 1, "faults were injected");
    let polled =
        broker.poll("default", "f", 0, PollRequest::new(PollingStrategy::First).count(10_000)).await.expect("poll");
    let ids: Vec<u128> = polled.messages.iter().map(|m| m.id.expect("id")).collect();
    assert_eq!(ids, (0..300).collect::<Vec<_>>(), "every acknowledged message once, in order");
    let info = &broker.topic("default", "f").await.expect("describe").partitions[0];
    assert_eq!(info.health, Health::Online);
    assert_eq!(info.restarts, fault.injected(), "one restart per injected panic (retries: {retries})");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_failing_past_the_restart_bound_goes_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = FaultEnv::default();
    let broker = Broker::start(config(dir.path(), &fault, 2)).await.expect("start");
    broker.create_topic("default", "o", TopicConfig::default()).await.expect("topic");
    broker.send("default", "o", Partitioning::Partition(0), vec![Message::new("before")]).await.expect("send");
    for round in 1..=3 {
        fault.panic_next_writes(1);
        // Between failures the partition waits (backoff) before reopening and answers "restarting" meanwhile.
        while fault.injected() < round {
            let err = broker
                .send("default", "o", Partitioning::Partition(0), vec![Message::new("x")])
                .await
                .expect_err("injected panic or restarting");
            assert!(err.is_retriable(), "{err}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let err =
        broker.send("default", "o", Partitioning::Partition(0), vec![Message::new("y")]).await.expect_err("offline");
    assert!(matches!(&err, BrokerError::PartitionUnavailable { reason, .. } if reason.contains("offline")), "{err}");
    let status = broker.status().await.expect("status");
    assert_eq!(status.partitions_offline, 1);
    assert_eq!(status.restarts, 3);
    broker.shutdown().await.expect("shutdown");

    // A broker restart brings it back with its data.
    let broker = Broker::start(config(dir.path(), &FaultEnv::default(), 2)).await.expect("restart");
    let polled = broker.poll("default", "o", 0, PollRequest::new(PollingStrategy::First)).await.expect("poll");
    assert_eq!(polled.messages[0].payload, "before");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_makes_the_partition_read_only_until_space_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = FaultEnv::default();
    let config = BrokerConfig { read_only_retry: Duration::from_millis(200), ..config(dir.path(), &fault, 5) };
    let broker = Broker::start(config).await.expect("start");
    broker.create_topic("default", "full", TopicConfig::default()).await.expect("topic");
    broker.send("default", "full", Partitioning::Partition(0), vec![Message::new("kept")]).await.expect("send");
    fault.no_space(true);
    let err =
        broker.send("default", "full", Partitioning::Partition(0), vec![Message::new("x")]).await.expect_err("full");
    assert!(matches!(err, BrokerError::ReadOnly { .. }), "{err}");
    assert!(err.is_retriable(), "writes are retried after read_only_retry, so clients may retry too");
    assert!(err.to_string().contains("disk full"), "{err}");
    fault.no_space(false);
    let again = broker
        .send("default", "full", Partitioning::Partition(0), vec![Message::new("y")])
        .await
        .expect_err("still read-only");
    assert!(matches!(again, BrokerError::ReadOnly { .. }), "{again}");
    let polled =
        broker.poll("default", "full", 0, PollRequest::new(PollingStrategy::First)).await.expect("reads still work");
    assert_eq!(polled.messages.len(), 1);
    assert_eq!(broker.status().await.expect("status").partitions_read_only, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    broker.send("default", "full", Partitioning::Partition(0), vec![Message::new("z")]).await.expect("writable again");
    let polled = broker.poll("default", "full", 0, PollRequest::new(PollingStrategy::First)).await.expect("poll");
    let payloads: Vec<_> = polled.messages.iter().map(|m| m.payload.clone()).collect();
    assert_eq!(payloads, ["kept", "z"], "nothing of the failed appends was stored");
    let info = &broker.topic("default", "full").await.expect("describe").partitions[0];
    assert_eq!((info.health.clone(), info.restarts), (Health::Online, 0), "a full disk is not a crash");
    broker.shutdown().await.expect("shutdown");
}
