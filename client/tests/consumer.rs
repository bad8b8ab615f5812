//! Consumers: a named partition consumer resumes after its commit; two group members split a topic, commit, and a
//! later member continues after the committed offsets.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use callboard_client::{AssignmentStrategy, Client, Consumer, ConsumerConfig, ConsumerKind, Message, Partitioning};
use common::{Fixture, topic_config};

async fn fill(client: &Client, topic: &str, partitions: u32, per_partition: usize) -> anyhow::Result<()> {
    for p in 0..partitions {
        let messages: Vec<Message> = (0..per_partition).map(|i| Message::new(format!("{p}-{i}"))).collect();
        client.send("s", topic, Partitioning::Partition(p), &messages).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_consumer_resumes_after_its_commit() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let client = fixture.client().await?;
    client.create_stream("s").await?;
    client.create_topic("s", "named", topic_config(1)).await?;
    fill(&client, "named", 1, 50).await?;

    let config = ConsumerConfig { batch_count: 20, ..ConsumerConfig::named("s", "named", 0, "reader") };
    let mut consumer = Consumer::new(client.clone(), config.clone()).await?;
    let first = consumer.poll().await?;
    assert_eq!(first.len(), 20);
    assert_eq!(first[0].message.offset, 0);
    let second = consumer.poll().await?;
    assert_eq!(second[0].message.offset, 20, "polls move on before a commit");
    consumer.commit().await?;
    assert_eq!(client.get_offset("s", "named", 0, "reader").await?, Some(40));
    consumer.close().await?;

    let mut again = Consumer::new(client.clone(), config).await?;
    let resumed = again.poll().await?;
    assert_eq!(resumed.first().map(|c| c.message.offset), Some(40));
    assert_eq!(resumed.len(), 10);
    assert!(again.membership().is_none());

    // An anonymous consumer starts at the first message.
    let mut anonymous = Consumer::new(client.clone(), ConsumerConfig::partition("s", "named", 0)).await?;
    assert_eq!(anonymous.poll().await?.len(), 50);
    fixture.stop().await
}

fn group_config(topic: &str) -> ConsumerConfig {
    ConsumerConfig {
        kind: ConsumerKind::Group {
            group: "workers".into(),
            session_timeout: Duration::from_millis(1500),
            strategy: AssignmentStrategy::CooperativeSticky,
        },
        max_wait: Duration::from_millis(100),
        ..ConsumerConfig::group("s", topic, "workers")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_split_a_topic_and_commits_carry_over() -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let client = fixture.client().await?;
    client.create_stream("s").await?;
    client.create_topic("s", "jobs", topic_config(4)).await?;
    fill(&client, "jobs", 4, 100).await?;

    let mut a = Consumer::new(client.clone(), group_config("jobs")).await?;
    let mut b = Consumer::new(fixture.client().await?, group_config("jobs")).await?;
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for consumer in [&mut a, &mut b] {
            for c in consumer.poll().await? {
                assert!(c.message.offset < 100);
                seen.insert((c.partition, c.message.offset));
            }
            // A commit refused after a rebalance is fine: the partition's new owner reads it again.
            let _ = consumer.commit().await;
        }
        let (ma, mb) = (a.membership().expect("member"), b.membership().expect("member"));
        let split = ma.assignment.len() == 2 && mb.assignment.len() == 2 && ma.generation == mb.generation;
        let lag: u64 = client.describe_group("s", "workers").await?.partitions.iter().map(|p| p.lag).sum();
        if split && seen.len() == 400 && lag == 0 {
            let parts: BTreeSet<_> = ma.assignment.iter().chain(&mb.assignment).cloned().collect();
            assert_eq!(parts.len(), 4, "the members hold disjoint partitions covering the topic");
            break;
        }
        assert!(Instant::now() < deadline, "group did not settle: seen {}, lag {lag}, {ma:?} {mb:?}", seen.len());
    }
    a.close().await?;
    b.close().await?;

    // A new member continues after the committed offsets.
    fill(&client, "jobs", 4, 10).await?;
    let mut c = Consumer::new(client.clone(), group_config("jobs")).await?;
    let mut fresh = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while fresh.len() < 40 {
        for m in c.poll().await? {
            assert!(m.message.offset >= 100, "committed messages are not read again: {m:?}");
            fresh.insert((m.partition, m.message.offset));
        }
        assert!(Instant::now() < deadline, "only {} new messages", fresh.len());
    }
    c.commit().await?;
    c.close().await?;
    fixture.stop().await
}
