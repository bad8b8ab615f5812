//! `callboard bench`: the load tool. Scenarios in the manner of iggy-bench — pinned producers, pinned consumers,
//! both at once, a balanced consumer group, and end-to-end latency — each actor on its own connection, measured
//! after a warm-up, bounded in count and time, reported as a table or one JSON object.
//!
//! Layout: `--streams S` makes S streams `bench-0..` each with a one-partition topic `bench` (actor i pinned to
//! stream i mod S); `--partitions P` instead makes one stream `bench` whose topic `bench` has P partitions (actor i
//! pinned to partition i mod P).

mod actors;
mod latency;
mod payload;
mod report;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use callboard::protocol::ErrorCode;
use callboard::protocol::batch::Compression;
use callboard::protocol::model::{DurabilityPolicy, TopicConfig};
use callboard_client::{Client, ClientError};
use clap::{Args, ValueEnum};

use self::actors::{Plan, Target};
use self::payload::PayloadKind;
use self::report::Report;
use super::admin::parse_durability;
use super::connect::{ClientArgs, Output};

/// What to measure.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Producers, each pinned to one partition.
    PinnedProducer,
    /// Consumers, each pinned to one partition, reading what a pinned-producer run left (writing it first if short).
    PinnedConsumer,
    /// Pinned producers and pinned consumers at the same time.
    PinnedProducerAndConsumer,
    /// Consumers in one consumer group sharing the partitions (data written first if short).
    BalancedConsumerGroup,
    /// Producers at a steady rate, consumers long-polling; latency is from send to receipt of each message.
    EndToEnd,
}

/// Transport of the load tool's connections.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// TCP.
    Tcp,
    /// QUIC (needs --ca and --quic).
    Quic,
}

/// Options of `callboard bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Scenario.
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// Producers (each on its own connection).
    #[arg(long, default_value_t = 2)]
    pub producers: usize,
    /// Consumers (each on its own connection).
    #[arg(long, default_value_t = 2)]
    pub consumers: usize,
    /// Streams, each with one topic of one partition [default: one per producer/consumer].
    #[arg(long, conflicts_with = "partitions")]
    pub streams: Option<usize>,
    /// One topic with this many partitions instead of several streams.
    #[arg(long)]
    pub partitions: Option<u32>,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 1000)]
    pub message_size: usize,
    /// Messages per batch (per request).
    #[arg(long, default_value_t = 1000)]
    pub messages_per_batch: u32,
    /// Batches each producer sends (or consumer reads) after the warm-up [default: 1000 unless --duration].
    #[arg(long)]
    pub batches: Option<u64>,
    /// Measure for this long instead of a batch count (e.g. 10s); at most 10 minutes.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Run this long before measuring.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub warmup: Duration,
    /// Total messages per second over all producers (default: as fast as possible).
    #[arg(long)]
    pub rate: Option<u64>,
    /// Requests each actor keeps in flight.
    #[arg(long, default_value_t = 1)]
    pub in_flight: usize,
    /// Durability of the topics the tool creates: always, interval:MS, never.
    #[arg(long, default_value = "never", value_parser = parse_durability)]
    pub durability: DurabilityPolicy,
    /// Transport.
    #[arg(long, value_enum, default_value_t = TransportKind::Tcp)]
    pub transport: TransportKind,
    /// Delete the streams the tool made when done.
    #[arg(long)]
    pub cleanup: bool,
    /// What messages hold: fill (one byte repeated), random, json or text.
    #[arg(long, value_enum, default_value_t = PayloadKind::Fill)]
    pub payload: PayloadKind,
    /// Codec producers compress each batch's records with (none, gzip, snappy, lz4, zstd). The batch is built and
    /// compressed once and sent repeatedly, so produce figures are the broker's, without the client's compression.
    #[arg(long, default_value = "none")]
    pub compression: Compression,
    /// Pinned consumers decode every fetched record (decompressing compressed batches), as SDK consumers do;
    /// otherwise they only count offsets.
    #[arg(long)]
    pub decode: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

impl BenchArgs {
    /// The target each actor is pinned to, by actor number (`actors` is the number of actors of that role).
    fn targets(&self, actors: usize) -> Vec<Target> {
        (0..actors)
            .map(|i| match self.partitions {
                Some(p) => Target { stream: "bench".into(), partition: (i as u32) % p.max(1) },
                // Producers and consumers spread over the same streams, so every consumer's stream has a producer.
                None => Target { stream: format!("bench-{}", i % self.stream_names().len().max(1)), partition: 0 },
            })
            .collect()
    }

    fn stream_names(&self) -> Vec<String> {
        match self.partitions {
            Some(_) => vec!["bench".into()],
            None => {
                let s = self.streams.unwrap_or(self.producers.max(self.consumers).max(1));
                (0..s).map(|i| format!("bench-{i}")).collect()
            }
        }
    }

    async fn connect(&self, id: &str) -> anyhow::Result<Client> {
        let mut args = self.client.clone();
        if self.transport == TransportKind::Tcp {
            args.quic = None;
        } else if args.quic.is_none() {
            anyhow::bail!("--transport quic needs --quic ADDR and --ca FILE");
        }
        args.connect(id).await
    }
}

fn exists(e: &ClientError) -> bool {
    matches!(e.code(), Some(ErrorCode::StreamExists | ErrorCode::TopicExists))
}

/// Creates the streams and topics the run uses (keeping existing ones and their data).
async fn setup(args: &BenchArgs, admin: &Client) -> anyhow::Result<()> {
    let partitions = args.partitions.unwrap_or(1).max(1);
    for stream in args.stream_names() {
        if let Err(e) = admin.create_stream(&stream).await
            && !exists(&e)
        {
            return Err(e).with_context(|| format!("creating stream {stream}"));
        }
        let config = TopicConfig { partitions, durability: args.durability, ..TopicConfig::default() };
        match admin.create_topic(&stream, "bench", config).await {
            Ok(_) => {}
            Err(e) if exists(&e) => {
                let have = admin.topic(&stream, "bench").await?.topic.config.partitions;
                if have < partitions {
                    admin.add_partitions(&stream, "bench", partitions - have).await?;
                }
            }
            Err(e) => return Err(e).with_context(|| format!("creating topic {stream}/bench")),
        }
    }
    Ok(())
}

/// Runs `callboard bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.message_size >= 8 || args.scenario != Scenario::EndToEnd, "end-to-end needs 8+ bytes");
    anyhow::ensure!(args.messages_per_batch >= 1 && args.in_flight >= 1, "batches and in-flight must be positive");
    if let Some(d) = args.duration {
        anyhow::ensure!(d <= Duration::from_secs(600), "--duration is at most 10 minutes");
    }
    let admin = args.connect("callboard-bench").await?;
    setup(&args, &admin).await?;
    let plan = Plan::new(&args);
    let report = match args.scenario {
        Scenario::PinnedProducer => actors::produce(&args, &plan).await?,
        Scenario::PinnedConsumer => {
            actors::ensure_data(&args, &plan, &admin).await?;
            actors::consume(&args, &plan).await?
        }
        Scenario::PinnedProducerAndConsumer => actors::produce_and_consume(&args, &plan).await?,
        Scenario::BalancedConsumerGroup => {
            actors::ensure_data(&args, &plan, &admin).await?;
            actors::group_consume(&args, &plan).await?
        }
        Scenario::EndToEnd => latency::end_to_end(&args, &plan).await?,
    };
    if args.cleanup {
        for stream in args.stream_names() {
            admin.delete_stream(&stream).await.with_context(|| format!("deleting stream {stream}"))?;
        }
    }
    print(&args, &report)?;
    Ok(ExitCode::SUCCESS)
}

fn print(args: &BenchArgs, report: &Report) -> anyhow::Result<()> {
    match args.client.output {
        Output::Json => println!("{}", serde_json::to_string(&report.json(args))?),
        Output::Table => println!("{}", report.table(args)),
    }
    Ok(())
}
