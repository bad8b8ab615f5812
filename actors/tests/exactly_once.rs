//! Exactly-once produce through the embedded API: message-id deduplication (also after a restart, when the window
//! is rebuilt from the log) and idempotent producers (retries stored once, gaps refused, old epochs fenced, state
//! rebuilt from the log after a restart).

use callboard_actors::*;

fn config(dir: &std::path::Path) -> BrokerConfig {
    BrokerConfig { arbiters: 2, ..BrokerConfig::with_data_dir(dir) }
}

async fn all(broker: &Broker, topic: &str) -> Vec<ReceivedMessage> {
    let req = PollRequest::new(PollingStrategy::First).count(10_000);
    broker.poll("default", topic, 0, req).await.expect("poll").messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_message_ids_are_dropped_within_the_window_even_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    let topic = TopicConfig { dedup: Some(DedupWindow { max_ids: 1000, max_age_ms: 3_600_000 }), ..Default::default() };
    broker.create_topic("default", "d", topic).await.expect("topic");
    let send = |ids: Vec<u128>| {
        let broker = broker.clone();
        async move {
            let msgs = ids.into_iter().map(|id| Message::new(format!("id{id}")).with_id(id)).collect();
            broker.send("default", "d", Partitioning::Partition(0), msgs).await.expect("send")[0]
        }
    };
    let first = send(vec![1, 2, 3]).await;
    assert_eq!((first.stored, first.duplicates), (3, 0));
    let again = send(vec![2, 3, 4, 4]).await;
    assert_eq!((again.stored, again.duplicates), (1, 3), "2 and 3 seen before, the second 4 repeats the first");
    let none = send(vec![1]).await;
    assert_eq!((none.stored, none.duplicates), (0, 1));
    broker.shutdown().await.expect("shutdown");

    let broker = Broker::start(config(dir.path())).await.expect("restart");
    let msgs = vec![Message::new("again").with_id(3), Message::new("new").with_id(5)];
    let sent = broker.send("default", "d", Partitioning::Partition(0), msgs).await.expect("send");
    assert_eq!((sent[0].stored, sent[0].duplicates), (1, 1), "the window is rebuilt from the log");
    let ids: Vec<Option<u128>> = all(&broker, "d").await.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![Some(1), Some(2), Some(3), Some(4), Some(5)]);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retries_are_stored_once_and_gaps_and_old_epochs_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    broker.create_topic("default", "i", TopicConfig::default()).await.expect("topic");
    let pid = broker.init_producer().await.expect("producer id");
    let batch = |seq: i32, epoch: i16| {
        (
            ProducerInfo { producer_id: pid, producer_epoch: epoch, base_sequence: seq },
            vec![Message::new(format!("s{seq}")), Message::new(format!("s{}", seq + 1))],
        )
    };

    let (p, m) = batch(0, 0);
    let first = broker.send_idempotent("default", "i", 0, p, &m).await.expect("send");
    let retry = broker.send_idempotent("default", "i", 0, p, &m).await.expect("retry");
    assert_eq!(first, retry, "a retry is acknowledged with the original offsets");
    let (p, m) = batch(2, 0);
    broker.send_idempotent("default", "i", 0, p, &m).await.expect("next");
    let (p, m) = batch(7, 0);
    let gap = broker.send_idempotent("default", "i", 0, p, &m).await.expect_err("gap");
    assert!(matches!(gap, BrokerError::OutOfOrderSequence { expected: 4, got: 7, .. }), "{gap}");
    let unknown = ProducerInfo { producer_id: pid + 100, producer_epoch: 0, base_sequence: 0 };
    let err = broker.send_idempotent("default", "i", 0, unknown, &m).await.expect_err("unknown");
    assert!(matches!(err, BrokerError::UnknownProducer(_)), "{err}");
    broker.shutdown().await.expect("shutdown");

    let broker = Broker::start(config(dir.path())).await.expect("restart");
    let (p, m) = batch(2, 0);
    let retry = broker.send_idempotent("default", "i", 0, p, &m).await.expect("retry after restart");
    assert_eq!(retry.base_offset, 2, "state is rebuilt from the log");
    let (p, m) = batch(0, 1);
    broker.send_idempotent("default", "i", 0, p, &m).await.expect("new epoch");
    let (p, m) = batch(4, 0);
    let fenced = broker.send_idempotent("default", "i", 0, p, &m).await.expect_err("fenced");
    assert!(matches!(fenced, BrokerError::ProducerFenced { current: 1, got: 0, .. }), "{fenced}");
    let payloads: Vec<String> =
        all(&broker, "i").await.iter().map(|m| String::from_utf8_lossy(&m.payload).into_owned()).collect();
    assert_eq!(payloads, ["s0", "s1", "s2", "s3", "s0", "s1"]);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_state_comes_from_the_snapshot_plus_the_batches_after_it() {
    // On the simulated file system, so the crash below is a real one: everything not fsynced is lost and the old
    // broker's files stop working, so it cannot close its logs cleanly or write a new snapshot.
    let dir = tempfile::tempdir().expect("tempdir");
    let env = callboard_storage::SimEnv::new();
    let config = || BrokerConfig { env: std::sync::Arc::new(env.clone()), ..config(dir.path()) };
    let broker = Broker::start(config()).await.expect("start");
    let topic = broker.create_topic("default", "s", TopicConfig::default()).await.expect("topic");
    // The topic's own snapshots (the audit log's partition keeps one too).
    let topic_dir = format!("/{}/0/producer-state.json", topic.id);
    let snapshots = || env.files().iter().filter(|p| p.to_string_lossy().ends_with(&topic_dir)).count();
    let pid = broker.init_producer().await.expect("producer id");
    let info = |seq| ProducerInfo { producer_id: pid, producer_epoch: 0, base_sequence: seq };
    let one = |seq: i32| vec![Message::new(format!("s{seq}"))];
    broker.send_idempotent("default", "s", 0, info(0), &one(0)).await.expect("send");
    broker.shutdown().await.expect("clean shutdown");
    assert_eq!(snapshots(), 1, "a clean close snapshots the producer state");

    // After the snapshot: more batches, then a power loss (no clean close, so the snapshot is older than the log).
    let broker = Broker::start(config()).await.expect("restart");
    broker.send_idempotent("default", "s", 0, info(1), &one(1)).await.expect("send");
    let last = broker.send_idempotent("default", "s", 0, info(2), &one(2)).await.expect("send");
    env.crash();
    drop(broker);

    let broker = Broker::start(config()).await.expect("restart after a crash");
    let retry = broker.send_idempotent("default", "s", 0, info(2), &one(2)).await.expect("retry");
    assert_eq!(retry, last, "the retry is recognised from the batches after the snapshot");
    let gap = broker.send_idempotent("default", "s", 0, info(5), &one(5)).await.expect_err("gap");
    assert!(matches!(gap, BrokerError::OutOfOrderSequence { expected: 3, .. }), "{gap}");
    assert_eq!(all(&broker, "s").await.len(), 3);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_batches_on_a_dedup_topic_keep_their_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    let topic = TopicConfig { dedup: Some(DedupWindow { max_ids: 1000, max_age_ms: 3_600_000 }), ..Default::default() };
    broker.create_topic("default", "di", topic).await.expect("topic");
    let pid = broker.init_producer().await.expect("producer id");
    let info = |seq| ProducerInfo { producer_id: pid, producer_epoch: 0, base_sequence: seq };
    let msgs = vec![Message::new("a").with_id(1), Message::new("b").with_id(2)];
    broker.send_idempotent("default", "di", 0, info(0), &msgs).await.expect("first");
    broker.send_idempotent("default", "di", 0, info(2), &msgs).await.expect("same ids, next sequence");
    broker.send_idempotent("default", "di", 0, info(4), &msgs).await.expect("the sequence keeps advancing");
    broker.shutdown().await.expect("shutdown");
}
