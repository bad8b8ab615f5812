//! An embedded Callboard broker from start to restart.
//!
//! The example starts a broker on a data directory, creates a topic with three partitions, produces messages with
//! keys and headers (spread by key, then round-robin), reads them back, and lets a named consumer read part of them
//! with auto-commit. It then stops the broker, starts a new one on the same directory and shows that the topic, the
//! messages and the consumer's offsets survived: the consumer continues where it stopped and reads every message
//! exactly once over both runs.
//!
//! ```text
//! cargo run --example embedded [DATA_DIR]
//! ```
//!
//! Without `DATA_DIR` the example works in a fresh temporary directory, removed when it exits. A given `DATA_DIR`
//! must not already hold the example's topic.

#![allow(clippy::print_stdout)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use callboard::{
    Broker, BrokerConfig, ConsumerRef, DEFAULT_STREAM, Message, Partitioning, PollRequest, PollingStrategy,
    ReceivedMessage, ResetPolicy, TopicConfig,
};

const TOPIC: &str = "orders";
const PARTITIONS: u32 = 3;
const CONSUMER: &str = "billing";
/// Messages the consumer reads per partition before the restart.
const FIRST_RUN_LIMIT: u32 = 2;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Keep the temporary directory (if any) alive until the end: dropping it removes the data.
    let (_temp, dir) = match std::env::args_os().nth(1) {
        Some(dir) => (None, PathBuf::from(dir)),
        None => {
            let temp = tempfile::tempdir().context("creating a temporary data directory")?;
            let dir = temp.path().to_path_buf();
            (Some(temp), dir)
        }
    };
    println!("data directory: {}", dir.display());

    // First run: create, produce, consume part.
    let broker = start(&dir).await?;
    if broker.topics(DEFAULT_STREAM).await?.iter().any(|t| t.name == TOPIC) {
        broker.shutdown().await.context("stopping the broker")?;
        bail!("{} already holds topic {DEFAULT_STREAM}/{TOPIC}: pass an empty directory", dir.display());
    }
    let config = TopicConfig { partitions: PARTITIONS, ..TopicConfig::default() };
    let info = broker.create_topic(DEFAULT_STREAM, TOPIC, config).await.context("creating the topic")?;
    println!(
        "created topic {}/{} with {} partitions (durability {:?})",
        info.stream, info.name, info.config.partitions, info.config.durability
    );

    let produced = produce(&broker).await?;
    println!("produced {produced} messages");

    println!("everything stored, read from the first offset of each partition:");
    let mut stored = 0;
    for partition in 0..PARTITIONS {
        let polled = broker.poll(DEFAULT_STREAM, TOPIC, partition, PollRequest::new(PollingStrategy::First)).await?;
        for m in &polled.messages {
            show(partition, m);
        }
        stored += polled.messages.len();
    }
    ensure!(stored == produced, "{stored} messages stored, {produced} produced");

    let mut seen = BTreeSet::new();
    let before = consume(&broker, FIRST_RUN_LIMIT, &mut seen).await?;
    println!("consumer {CONSUMER} read {before} messages before the restart");

    broker.shutdown().await.context("stopping the broker")?;
    println!("broker stopped");

    // Second run: the same directory, a new broker.
    let broker = start(&dir).await?;
    println!("broker restarted on the same directory");
    let details = broker.topic(DEFAULT_STREAM, TOPIC).await.context("the topic did not survive the restart")?;
    println!(
        "topic {}/{} persisted: {} partitions, durability {:?}",
        details.topic.stream,
        details.topic.name,
        details.partitions.len(),
        details.topic.config.durability
    );
    ensure!(details.partitions.len() == PARTITIONS as usize, "the topic lost partitions");
    let mut log_ends = 0;
    for p in &details.partitions {
        let offset = broker.get_offset(DEFAULT_STREAM, TOPIC, p.partition, CONSUMER).await?;
        println!(
            "  partition {}: offsets {}..{}, {} bytes; consumer {CONSUMER} stored offset {}",
            p.partition,
            p.log_start,
            p.log_end,
            p.size_bytes,
            offset.map_or_else(|| "none".to_string(), |o| o.to_string())
        );
        log_ends += p.log_end;
    }
    ensure!(log_ends == produced as u64, "{log_ends} messages persisted, {produced} produced");

    let after = consume(&broker, u32::MAX, &mut seen).await?;
    println!("consumer {CONSUMER} resumed from its stored offsets and read {after} messages after the restart");
    ensure!(before + after == produced, "the consumer read {} of {produced} messages", before + after);
    ensure!(seen.len() == produced, "the consumer read some message twice");
    println!("consumer {CONSUMER} read {} of {produced} messages, each exactly once", seen.len());

    broker.shutdown().await.context("stopping the broker")?;
    println!("broker stopped; done");
    Ok(())
}

async fn start(dir: &Path) -> anyhow::Result<Broker> {
    Broker::start(BrokerConfig::with_data_dir(dir))
        .await
        .with_context(|| format!("starting the broker on {}", dir.display()))
}

/// Produces keyed messages (each to the partition its key hashes to) and keyless ones (round-robin); returns how
/// many were produced.
async fn produce(broker: &Broker) -> anyhow::Result<usize> {
    let mut produced = 0;
    let orders =
        [("alice", "2 books"), ("dave", "1 lamp"), ("carol", "3 mugs"), ("alice", "1 pen"), ("dave", "4 cups")];
    let keyed: Vec<Message> = orders
        .iter()
        .enumerate()
        .map(|(i, (customer, item))| {
            Message::new(format!("order {i}: {item}"))
                .with_key(*customer)
                .with_header("source", "web")
                .with_header("order-id", (1000 + i).to_string())
        })
        .collect();
    produced += keyed.len();
    for sent in broker.send(DEFAULT_STREAM, TOPIC, Partitioning::MessageKey, keyed).await? {
        println!(
            "sent {} keyed message(s) to partition {} at offset {}",
            sent.stored, sent.partition, sent.base_offset
        );
    }
    for i in 0..PARTITIONS {
        let message = Message::new(format!("heartbeat {i}")).with_header("source", "scheduler");
        produced += 1;
        for sent in broker.send(DEFAULT_STREAM, TOPIC, Partitioning::Balanced, vec![message]).await? {
            println!("sent 1 keyless message to partition {} at offset {}", sent.partition, sent.base_offset);
        }
    }
    Ok(produced)
}

/// Reads, as the named consumer with auto-commit, up to `limit` messages of each partition from its stored offset;
/// adds each (partition, offset) to `seen` and returns how many were read.
async fn consume(broker: &Broker, limit: u32, seen: &mut BTreeSet<(u32, u64)>) -> anyhow::Result<usize> {
    let consumer = ConsumerRef { name: CONSUMER.into(), auto_commit: true, reset: ResetPolicy::Earliest };
    let mut read = 0;
    for partition in 0..PARTITIONS {
        let request = PollRequest::new(PollingStrategy::Next).count(limit).consumer(consumer.clone());
        let polled = broker.poll(DEFAULT_STREAM, TOPIC, partition, request).await?;
        println!(
            "consumer {CONSUMER} on partition {partition}: {} messages, next offset {} of {}",
            polled.messages.len(),
            polled.next_offset,
            polled.log_end
        );
        for m in &polled.messages {
            show(partition, m);
            ensure!(seen.insert((partition, m.offset)), "offset {} of partition {partition} read twice", m.offset);
        }
        read += polled.messages.len();
    }
    Ok(read)
}

fn show(partition: u32, m: &ReceivedMessage) {
    let key = m.key.as_ref().map_or_else(|| "-".to_string(), |k| String::from_utf8_lossy(k).into_owned());
    let headers: Vec<String> =
        m.headers.iter().map(|(name, value)| format!("{name}={}", String::from_utf8_lossy(value))).collect();
    println!(
        "  [{partition}@{}] key={key} headers=[{}] payload={:?}",
        m.offset,
        headers.join(", "),
        String::from_utf8_lossy(&m.payload)
    );
}
