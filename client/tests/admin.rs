//! Every admin call over TCP, and how server errors map to `ClientError::Server`.

mod common;

use callboard_client::{ClientError, ErrorCode, OffsetReset};
use common::{Fixture, topic_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_over_tcp() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let client = fixture.client().await?;
    client.ping().await?;
    let status = client.status().await?;
    assert!(!status.version.is_empty());

    let stream = client.create_stream("admin").await?;
    assert_eq!(stream.name, "admin");
    assert!(client.streams().await?.iter().any(|s| s.name == "admin"));

    let topic = client.create_topic("admin", "orders", topic_config(2)).await?;
    assert_eq!((topic.name.as_str(), topic.config.partitions), ("orders", 2));
    assert_eq!(client.topics("admin").await?.len(), 1);
    let details = client.topic("admin", "orders").await?;
    assert_eq!(details.partitions.len(), 2);
    assert_eq!(client.add_partitions("admin", "orders", 2).await?, 4);
    assert_eq!(client.topic("admin", "orders").await?.partitions.len(), 4);

    // Offsets of a named consumer.
    assert_eq!(client.get_offset("admin", "orders", 0, "c").await?, None);
    client.store_offset("admin", "orders", 0, "c", 0).await?;
    assert_eq!(client.get_offset("admin", "orders", 0, "c").await?, Some(0));
    assert!(client.delete_offset("admin", "orders", 0, "c").await?);
    assert!(!client.delete_offset("admin", "orders", 0, "c").await?);

    // Group admin.
    let member =
        client.join_group("admin", "g", &["orders"], std::time::Duration::from_secs(10), Default::default()).await?;
    assert_eq!(client.heartbeat("admin", "g", &member.member_id).await?.member_id, member.member_id);
    assert_eq!(client.list_groups("admin").await?, vec!["g".to_string()]);
    let described = client.describe_group("admin", "g").await?;
    assert_eq!(described.state.members.len(), 1);
    let refused = client.delete_group("admin", "g").await.expect_err("group has a member");
    assert_eq!(refused.code(), Some(ErrorCode::GroupNotEmpty));
    client.leave_group("admin", "g", &member.member_id).await?;
    client.reset_group_offsets("admin", "g", "orders", OffsetReset::Earliest).await?;
    client.delete_group("admin", "g").await?;
    assert!(client.list_groups("admin").await?.is_empty());

    client.delete_topic("admin", "orders").await?;
    assert!(client.topics("admin").await?.is_empty());
    client.delete_stream("admin").await?;
    assert!(!client.streams().await?.iter().any(|s| s.name == "admin"));
    fixture.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_carry_their_code() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let client = fixture.client().await?;
    client.create_stream("errs").await?;
    let err = client.topic("errs", "missing").await.expect_err("no such topic");
    assert!(matches!(&err, ClientError::Server { code: ErrorCode::TopicNotFound, .. }), "unexpected error {err:?}");
    assert!(!err.is_retriable());
    let err = client.create_stream("errs").await.expect_err("exists");
    assert_eq!(err.code(), Some(ErrorCode::StreamExists));
    // The connection is still usable after errors.
    client.ping().await?;
    fixture.stop().await
}
