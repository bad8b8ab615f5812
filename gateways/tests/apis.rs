//! Every API through the TCP gateway, checked against what the broker does: admin (streams, topics, partitions,
//! status), data (produce, fetch with a named consumer, idempotent producer ids, offsets) and consumer groups.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

mod common;

use std::time::Duration;

use bytes::Bytes;
use callboard_gateways::GatewayConfig;
use callboard_protocol::ErrorCode;
use callboard_protocol::model::{
    AssignmentStrategy, OffsetReset, PollingStrategy, ResetPolicy, TopicConfig, decode_batches,
};
use callboard_protocol::wire::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_apis() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    let stream = client.call(&CreateStream { name: "tenant".into() }).await;
    assert_eq!(stream.name, "tenant");
    assert_eq!(code(&client.call_err(&CreateStream { name: "tenant".into() }).await), ErrorCode::StreamExists);
    assert_eq!(code(&client.call_err(&CreateStream { name: "bad/name".into() }).await), ErrorCode::InvalidName);
    let names: Vec<String> = client.call(&ListStreams {}).await.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"tenant".to_string()) && names.contains(&"default".to_string()));

    let config = TopicConfig { partitions: 2, ..TopicConfig::default() };
    let topic = client.call(&CreateTopic { stream: "tenant".into(), name: "t".into(), config }).await;
    assert_eq!((topic.stream.as_str(), topic.name.as_str(), topic.config.partitions), ("tenant", "t", 2));
    let bad = CreateTopic {
        stream: "tenant".into(),
        name: "zero".into(),
        config: TopicConfig { partitions: 0, ..TopicConfig::default() },
    };
    assert_eq!(code(&client.call_err(&bad).await), ErrorCode::InvalidConfig);
    assert_eq!(client.call(&ListTopics { stream: "tenant".into() }).await.len(), 1);
    let added = client.call(&AddPartitions { stream: "tenant".into(), name: "t".into(), count: 1 }).await;
    assert_eq!(added.partitions, 3);
    let details = client.call(&DescribeTopic { stream: "tenant".into(), name: "t".into() }).await;
    assert_eq!(details.partitions.len(), 3);
    let status = client.call(&StatusRequest {}).await;
    // The audit log's topic counts too.
    assert_eq!((status.streams, status.topics, status.partitions_online), (2, 2, 4));
    assert_eq!(client.call(&DeleteTopic { stream: "tenant".into(), name: "t".into() }).await, Empty {});
    let missing = DescribeTopic { stream: "tenant".into(), name: "t".into() };
    assert_eq!(code(&client.call_err(&missing).await), ErrorCode::TopicNotFound);
    assert_eq!(client.call(&DeleteStream { name: "tenant".into() }).await, Empty {});
    assert_eq!(code(&client.call_err(&ListTopics { stream: "tenant".into() }).await), ErrorCode::StreamNotFound);
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_and_offset_apis() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    client.call(&topic_request("data", 1)).await;
    for i in 0..5 {
        assert_eq!(client.request(ApiKey::Produce, produce_one("data", 0, format!("v{i}"))).await.error, 0);
    }
    // A named consumer with auto-commit continues where it stopped.
    let consumer = ConsumerSpec { name: "reader".into(), auto_commit: true, reset: ResetPolicy::Earliest };
    let mut fetch = fetch_request("data", 0, PollingStrategy::Next, 0);
    fetch.max_count = 3;
    fetch.consumer = Some(consumer);
    let (header, messages) = decode_fetch(&client.request(ApiKey::Fetch, encode_control(&fetch).unwrap()).await);
    assert_eq!((header.start_offset, header.next_offset, header.log_end), (0, 3, 5));
    assert_eq!(messages.len(), 3);
    let (header, _) = decode_fetch(&client.request(ApiKey::Fetch, encode_control(&fetch).unwrap()).await);
    assert_eq!((header.start_offset, header.next_offset), (3, 5));
    let offset = |consumer: &str| GetOffset {
        stream: "default".into(),
        topic: "data".into(),
        partition: 0,
        consumer: consumer.into(),
    };
    assert_eq!(client.call(&offset("reader")).await.offset, Some(5));
    let store = StoreOffset {
        stream: "default".into(),
        topic: "data".into(),
        partition: 0,
        consumer: "other".into(),
        offset: 2,
    };
    assert_eq!(client.call(&store).await, Empty {});
    assert_eq!(client.call(&offset("other")).await.offset, Some(2));
    let delete =
        DeleteOffset { stream: "default".into(), topic: "data".into(), partition: 0, consumer: "other".into() };
    assert!(client.call(&delete).await.deleted);
    assert!(!client.call(&delete).await.deleted);
    assert_eq!(client.call(&offset("other")).await.offset, None);
    // Out-of-range offsets and partitions come back with their codes.
    let far = fetch_request("data", 0, PollingStrategy::Offset(1000), 0);
    let frame = client.request(ApiKey::Fetch, encode_control(&far).unwrap()).await;
    assert_eq!(code(&frame), ErrorCode::OffsetOutOfRange);
    let nowhere = fetch_request("data", 9, PollingStrategy::First, 0);
    assert_eq!(
        code(&client.request(ApiKey::Fetch, encode_control(&nowhere).unwrap()).await),
        ErrorCode::PartitionNotFound
    );

    let a = client.call(&InitProducer {}).await.producer_id;
    let b = client.call(&InitProducer {}).await.producer_id;
    assert_ne!(a, b);
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_group_apis() {
    let (broker, gateway, _dir) = tcp_gateway(GatewayConfig::default()).await;
    let mut client = RawClient::tcp_ready(gateway.local_addr()).await;
    client.call(&topic_request("jobs", 2)).await;
    for p in 0..2 {
        for i in 0..3 {
            assert_eq!(client.request(ApiKey::Produce, produce_one("jobs", p, format!("p{p}-{i}"))).await.error, 0);
        }
    }
    let join = JoinGroup {
        stream: "default".into(),
        group: "workers".into(),
        client_id: "w".into(),
        topics: vec!["jobs".into()],
        session_timeout_ms: 30_000,
        strategy: AssignmentStrategy::RoundRobin,
        member_id: None,
    };
    let mut member = client.call(&join).await;
    let hb = Heartbeat { stream: "default".into(), group: "workers".into(), member_id: member.member_id.clone() };
    member = client.call(&hb).await;
    assert_eq!(member.assignment.len(), 2);

    let poll = GroupFetch {
        stream: "default".into(),
        group: "workers".into(),
        member_id: member.member_id.clone(),
        generation: member.generation,
        assignment: member.assignment.clone(),
        max_count: 10,
        max_bytes: 1 << 20,
        max_wait_ms: 0,
        auto_commit: false,
        reset: ResetPolicy::Earliest,
        positions: Vec::new(),
    };
    let frame = client.request(ApiKey::GroupFetch, encode_control(&poll).unwrap()).await;
    assert_eq!(frame.error, 0, "{}", String::from_utf8_lossy(&frame.body));
    let (header, payload): (GroupFetchResponse, Bytes) = split_payload(&frame.body).unwrap();
    assert_eq!((header.topic.as_str(), header.start_offset, header.next_offset), ("jobs", 0, 3));
    let messages = decode_batches(&payload, header.start_offset, usize::MAX).unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0].payload, format!("p{}-0", header.partition).as_bytes());

    let commit = CommitGroupOffset {
        stream: "default".into(),
        group: "workers".into(),
        member_id: member.member_id.clone(),
        generation: member.generation,
        topic: "jobs".into(),
        partition: header.partition,
        offset: header.next_offset,
    };
    assert_eq!(client.call(&commit).await, Empty {});
    let stale = CommitGroupOffset { generation: member.generation + 5, ..commit.clone() };
    assert_eq!(code(&client.call_err(&stale).await), ErrorCode::StaleGeneration);
    assert_eq!(client.call(&ListGroups { stream: "default".into() }).await, vec!["workers".to_string()]);
    let description = client.call(&DescribeGroup { stream: "default".into(), group: "workers".into() }).await;
    let lag: u64 = description.partitions.iter().map(|p| p.lag).sum();
    assert_eq!(lag, 3);

    // A member without partitions gets an empty answer.
    let empty = GroupFetch { assignment: Vec::new(), ..poll.clone() };
    let frame = client.request(ApiKey::GroupFetch, encode_control(&empty).unwrap()).await;
    let (header, payload): (GroupFetchResponse, Bytes) = split_payload(&frame.body).unwrap();
    assert_eq!((header.topic.as_str(), payload.len()), ("", 0));
    // A member's own read position overrides the committed offset.
    let (topic, partition) = member.assignment[0].clone();
    let positioned = GroupFetch {
        positions: vec![callboard_protocol::wire::ReadPosition { topic: topic.clone(), partition, offset: 1 }],
        assignment: vec![(topic, partition)],
        ..poll.clone()
    };
    let frame = client.request(ApiKey::GroupFetch, encode_control(&positioned).unwrap()).await;
    assert_eq!(frame.error, 0, "{}", String::from_utf8_lossy(&frame.body));
    let (header, _): (GroupFetchResponse, Bytes) = split_payload(&frame.body).unwrap();
    assert_eq!(header.start_offset, 1);

    let delete = DeleteGroup { stream: "default".into(), group: "workers".into() };
    assert_eq!(code(&client.call_err(&delete).await), ErrorCode::GroupNotEmpty);
    let leave = LeaveGroup { stream: "default".into(), group: "workers".into(), member_id: member.member_id.clone() };
    assert_eq!(client.call(&leave).await, Empty {});
    let reset = ResetGroupOffsets {
        stream: "default".into(),
        group: "workers".into(),
        topic: "jobs".into(),
        to: OffsetReset::Latest,
    };
    assert_eq!(client.call(&reset).await, Empty {});
    let description = client.call(&DescribeGroup { stream: "default".into(), group: "workers".into() }).await;
    assert_eq!(description.partitions.iter().map(|p| p.lag).sum::<u64>(), 0);
    assert_eq!(client.call(&delete).await, Empty {});
    let gone = DescribeGroup { stream: "default".into(), group: "workers".into() };
    assert_eq!(code(&client.call_err(&gone).await), ErrorCode::GroupNotFound);
    gateway.shutdown(Duration::from_secs(5)).await;
    broker.shutdown().await.unwrap();
}
