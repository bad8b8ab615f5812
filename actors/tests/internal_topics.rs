//! Gateway-owned topics: the reserved `$` prefix (users cannot create such topics, gateways can) and
//! `delete_records_before` through the embedded API (log start advances durably, reads below it follow the reset
//! policy, an offset past the end is refused).

use callboard_actors::*;

fn config(dir: &std::path::Path) -> BrokerConfig {
    BrokerConfig { arbiters: 2, ..BrokerConfig::with_data_dir(dir) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_prefix_and_delete_records_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    let err = broker.create_topic("default", "$amqp.q", TopicConfig::default()).await.expect_err("reserved");
    assert!(matches!(err, BrokerError::InvalidName { .. }), "{err}");
    let err = broker.create_internal_topic("default", "plain", TopicConfig::default()).await.expect_err("prefix");
    assert!(matches!(err, BrokerError::InvalidName { .. }), "{err}");
    broker.create_internal_topic("default", "$amqp.q", TopicConfig::default()).await.expect("internal topic");
    for i in 0..10 {
        broker
            .send("default", "$amqp.q", Partitioning::Partition(0), vec![Message::new(format!("m{i}"))])
            .await
            .expect("send");
    }
    assert_eq!(broker.delete_records_before("default", "$amqp.q", 0, 4).await.expect("trim"), 4);
    assert_eq!(broker.delete_records_before("default", "$amqp.q", 0, 2).await.expect("no-op"), 4, "never backwards");
    assert!(broker.delete_records_before("default", "$amqp.q", 0, 11).await.is_err(), "past the end");
    let polled = broker.poll("default", "$amqp.q", 0, PollRequest::new(PollingStrategy::First)).await.expect("poll");
    assert_eq!(polled.messages[0].offset, 4);
    assert_eq!(&polled.messages[0].payload[..], b"m4");
    broker.shutdown().await.expect("shutdown");

    let broker = Broker::start(config(dir.path())).await.expect("restart");
    let polled = broker.poll("default", "$amqp.q", 0, PollRequest::new(PollingStrategy::First)).await.expect("poll");
    assert_eq!(polled.messages.len(), 6, "the log start survives a restart");
    assert_eq!(polled.messages[0].offset, 4);
    broker.shutdown().await.expect("shutdown");
}
