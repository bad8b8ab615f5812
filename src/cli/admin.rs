//! Admin commands: `stream create|list|delete`, `topic create|list|describe|delete|add-partitions`, `status`.

use std::time::Duration;

use anyhow::Context;
use callboard::protocol::model::{
    DurabilityPolicy, Encryption, Health, StreamInfo, TopicConfig, TopicDetails, TopicInfo,
};
use clap::Subcommand;
use serde_json::json;

use super::connect::ClientArgs;
use super::output::{done, print, size, table, time};

/// `callboard stream ...`
#[derive(Subcommand, Debug)]
pub enum StreamCommand {
    /// Create a stream.
    Create {
        /// Stream name.
        name: String,
    },
    /// List streams.
    List,
    /// Delete a stream and all its topics.
    Delete {
        /// Stream name.
        name: String,
    },
}

/// `callboard topic ...`
#[derive(Subcommand, Debug)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        /// Topic name.
        name: String,
        /// Partitions.
        #[arg(long, default_value_t = 1)]
        partitions: u32,
        /// When appends are durable: always (fsync before the answer), interval:MS, never.
        #[arg(long, default_value = "always", value_parser = parse_durability)]
        durability: DurabilityPolicy,
        /// Delete data older than this (e.g. 7d, 12h).
        #[arg(long, value_parser = humantime::parse_duration)]
        retention_age: Option<Duration>,
        /// Keep at most this much data per partition (e.g. 10GiB).
        #[arg(long, value_parser = parse_size)]
        retention_bytes: Option<u64>,
        /// Segment file size (e.g. 1GiB).
        #[arg(long, value_parser = parse_size)]
        segment_bytes: Option<u64>,
        /// Encryption at rest: none or aes-256-gcm (needs a broker started with a master key).
        #[arg(long, default_value = "none")]
        encryption: Encryption,
    },
    /// List the stream's topics.
    List,
    /// Show a topic's configuration and partitions.
    Describe {
        /// Topic name.
        name: String,
    },
    /// Delete a topic and its data.
    Delete {
        /// Topic name.
        name: String,
    },
    /// Add partitions to a topic.
    AddPartitions {
        /// Topic name.
        name: String,
        /// How many to add.
        #[arg(long, default_value_t = 1)]
        count: u32,
    },
}

/// Parses `always`, `never` or `interval:MS`.
pub fn parse_durability(s: &str) -> Result<DurabilityPolicy, String> {
    match s {
        "always" => Ok(DurabilityPolicy::Always),
        "never" => Ok(DurabilityPolicy::Never),
        other => match other.strip_prefix("interval:") {
            Some(ms) => ms
                .parse()
                .map(|ms| DurabilityPolicy::Interval { ms })
                .map_err(|_| format!("interval:MS needs milliseconds, got {ms:?}")),
            None => Err(format!("expected always, interval:MS or never, got {s:?}")),
        },
    }
}

/// Parses a size such as `1048576`, `64MiB` or `1GB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    s.parse::<bytesize::ByteSize>().map(|b| b.as_u64()).map_err(|e| format!("{s:?} is not a size: {e}"))
}

fn durability(d: DurabilityPolicy) -> String {
    match d {
        DurabilityPolicy::Always => "always".into(),
        DurabilityPolicy::Interval { ms } => format!("interval:{ms}"),
        DurabilityPolicy::Never => "never".into(),
    }
}

/// Runs a stream command.
pub async fn stream(command: StreamCommand, args: &ClientArgs) -> anyhow::Result<std::process::ExitCode> {
    let client = args.connect("callboard-cli").await?;
    match command {
        StreamCommand::Create { name } => {
            let info = client.create_stream(&name).await?;
            done(args.output, &info, &format!("created stream {name}"))?;
        }
        StreamCommand::List => {
            let streams = client.streams().await?;
            print(args.output, &streams, |streams: &Vec<StreamInfo>| {
                let mut t = table(&["stream", "id", "topics", "created"]);
                for s in streams {
                    t.add_row(vec![s.name.clone(), s.id.to_string(), s.topics.to_string(), time(s.created_ms)]);
                }
                t
            })?;
        }
        StreamCommand::Delete { name } => {
            client.delete_stream(&name).await?;
            done(args.output, &json!({ "deleted": name }), &format!("deleted stream {name}"))?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Runs a topic command.
pub async fn topic(command: TopicCommand, args: &ClientArgs) -> anyhow::Result<std::process::ExitCode> {
    let client = args.connect("callboard-cli").await?;
    let stream = &args.stream;
    match command {
        TopicCommand::Create {
            name,
            partitions,
            durability,
            retention_age,
            retention_bytes,
            segment_bytes,
            encryption,
        } => {
            let mut config =
                TopicConfig { partitions, durability, retention_bytes, encryption, ..TopicConfig::default() };
            config.retention_age_ms = retention_age.map(|d| d.as_millis() as u64);
            if let Some(b) = segment_bytes {
                config.segment_bytes = b;
            }
            let info = client.create_topic(stream, &name, config).await?;
            let text = format!("created topic {stream}/{name} with {partitions} partition(s)");
            done(args.output, &info, &text)?;
        }
        TopicCommand::List => {
            let topics = client.topics(stream).await?;
            print(args.output, &topics, |topics: &Vec<TopicInfo>| {
                let mut t = table(&["topic", "id", "partitions", "durability", "created"]);
                for tp in topics {
                    t.add_row(vec![
                        tp.name.clone(),
                        tp.id.to_string(),
                        tp.config.partitions.to_string(),
                        durability(tp.config.durability),
                        time(tp.created_ms),
                    ]);
                }
                t
            })?;
        }
        TopicCommand::Describe { name } => {
            let details = client.topic(stream, &name).await?;
            if args.output == super::connect::Output::Table {
                describe_config(&details);
            }
            print(args.output, &details, |d: &TopicDetails| {
                let mut t = table(&["partition", "health", "first offset", "next offset", "size", "segments"]);
                for p in &d.partitions {
                    t.add_row(vec![
                        p.partition.to_string(),
                        health(&p.health),
                        p.log_start.to_string(),
                        p.log_end.to_string(),
                        size(p.size_bytes),
                        p.segments.to_string(),
                    ]);
                }
                t
            })?;
        }
        TopicCommand::Delete { name } => {
            client.delete_topic(stream, &name).await?;
            done(args.output, &json!({ "deleted": name }), &format!("deleted topic {stream}/{name}"))?;
        }
        TopicCommand::AddPartitions { name, count } => {
            let partitions = client.add_partitions(stream, &name, count).await?;
            let text = format!("topic {stream}/{name} now has {partitions} partitions");
            done(args.output, &json!({ "partitions": partitions }), &text)?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn describe_config(d: &TopicDetails) {
    let c = &d.topic.config;
    let age = c
        .retention_age_ms
        .map_or("none".into(), |ms| humantime::format_duration(Duration::from_millis(ms)).to_string());
    println!(
        "topic {}/{}  partitions {}  durability {}  retention age {}  retention bytes {}  segment {}  encryption {}",
        d.topic.stream,
        d.topic.name,
        c.partitions,
        durability(c.durability),
        age,
        c.retention_bytes.map_or("none".into(), size),
        size(c.segment_bytes),
        c.encryption
    );
}

fn health(h: &Health) -> String {
    match h {
        Health::Online => "online".into(),
        Health::ReadOnly(r) => format!("read-only ({r})"),
        Health::Offline(r) => format!("offline ({r})"),
        Health::Retired => "retired".into(),
    }
}

/// Runs `callboard status`.
pub async fn status(args: &ClientArgs) -> anyhow::Result<std::process::ExitCode> {
    let client = args.connect("callboard-cli").await?;
    let status = client.status().await.context("asking for the status")?;
    print(args.output, &status, |s| {
        let mut t = table(&["version", "uptime", "streams", "topics", "online", "read-only", "offline", "restarts"]);
        t.add_row(vec![
            s.version.clone(),
            humantime::format_duration(Duration::from_secs(s.uptime_ms / 1000)).to_string(),
            s.streams.to_string(),
            s.topics.to_string(),
            s.partitions_online.to_string(),
            s.partitions_read_only.to_string(),
            s.partitions_offline.to_string(),
            s.restarts.to_string(),
        ]);
        t
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durability_and_sizes_parse() {
        assert_eq!(parse_durability("always"), Ok(DurabilityPolicy::Always));
        assert_eq!(parse_durability("interval:50"), Ok(DurabilityPolicy::Interval { ms: 50 }));
        assert!(parse_durability("interval:x").is_err());
        assert!(parse_durability("sometimes").is_err());
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert!(parse_size("lots").is_err());
    }
}
