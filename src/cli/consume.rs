//! `callboard consume TOPIC`: prints messages as text, JSON lines or hex. Without `--follow` it stops after
//! `--count` messages or at the end: the high watermark of each partition it reads, taken when it starts (in a
//! group: when none of its partitions has more). With `--group` or `--consumer` it commits what it printed.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use callboard::protocol::model::{PollingStrategy, ReceivedMessage, ResetPolicy};
use callboard::protocol::wire::ConsumerSpec;
use callboard_client::{Client, Consumer, ConsumerConfig, ConsumerKind};
use clap::{Args, ValueEnum};

use super::connect::ClientArgs;

/// Options of `callboard consume`.
#[derive(Args, Debug)]
pub struct ConsumeArgs {
    /// Topic.
    topic: String,
    /// Read only this partition (default: all).
    #[arg(long, conflicts_with = "group")]
    partition: Option<u32>,
    /// Where to start: first, last, next (a named consumer's offset), offset:N, timestamp:MS.
    #[arg(long, value_parser = parse_from)]
    from: Option<PollingStrategy>,
    /// Stop after this many messages.
    #[arg(long)]
    count: Option<u64>,
    /// Consume as a member of this consumer group (partitions are shared with the other members).
    #[arg(long)]
    group: Option<String>,
    /// Consume as this named consumer (the broker keeps its offset per partition).
    #[arg(long, conflicts_with = "group")]
    consumer: Option<String>,
    /// Keep waiting for new messages.
    #[arg(long)]
    follow: bool,
    /// How to print each message.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// In JSON, always write payloads and keys in base64 (otherwise only when they are not UTF-8).
    #[arg(long)]
    base64: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Output format of `consume`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// The payload, then a newline.
    Text,
    /// One JSON object per message.
    Json,
    /// The payload in hex.
    Hex,
}

fn parse_from(s: &str) -> Result<PollingStrategy, String> {
    match s {
        "first" => Ok(PollingStrategy::First),
        "last" => Ok(PollingStrategy::Last),
        "next" => Ok(PollingStrategy::Next),
        _ => {
            if let Some(n) = s.strip_prefix("offset:") {
                n.parse().map(PollingStrategy::Offset).map_err(|_| format!("bad offset in {s:?}"))
            } else if let Some(ms) = s.strip_prefix("timestamp:") {
                ms.parse().map(PollingStrategy::Timestamp).map_err(|_| format!("bad timestamp in {s:?}"))
            } else {
                Err(format!("expected first, last, next, offset:N or timestamp:MS, got {s:?}"))
            }
        }
    }
}

/// Writes messages to stdout in the chosen format.
struct Printer {
    out: std::io::BufWriter<std::io::Stdout>,
    format: Format,
    base64: bool,
    printed: u64,
}

impl Printer {
    fn text_or_base64(&self, bytes: &[u8]) -> (String, &'static str) {
        match std::str::from_utf8(bytes) {
            Ok(s) if !self.base64 => (s.to_string(), "utf8"),
            _ => (BASE64.encode(bytes), "base64"),
        }
    }

    fn print(&mut self, partition: u32, m: &ReceivedMessage) -> std::io::Result<()> {
        match self.format {
            Format::Text => {
                self.out.write_all(&m.payload)?;
                self.out.write_all(b"\n")?;
            }
            Format::Hex => writeln!(self.out, "{}", hex::encode(&m.payload))?,
            Format::Json => {
                let (payload, encoding) = self.text_or_base64(&m.payload);
                let key = m.key.as_ref().map(|k| self.text_or_base64(k).0);
                let headers: serde_json::Map<String, serde_json::Value> =
                    m.headers.iter().map(|(k, v)| (k.clone(), self.text_or_base64(v).0.into())).collect();
                let line = serde_json::json!({
                    "partition": partition,
                    "offset": m.offset,
                    "timestamp": m.timestamp,
                    "key": key,
                    "headers": headers,
                    "payload": payload,
                    "encoding": encoding,
                });
                writeln!(self.out, "{line}")?;
            }
        }
        self.printed += 1;
        Ok(())
    }

    /// Flushes; a closed pipe (`| head`) ends the command quietly.
    fn flush(&mut self) -> anyhow::Result<bool> {
        match self.out.flush() {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Runs `callboard consume`.
pub async fn run(args: ConsumeArgs) -> anyhow::Result<ExitCode> {
    let client = args.client.connect("callboard-consume").await?;
    let details = client.topic(&args.client.stream, &args.topic).await?;
    let mut printer = Printer {
        out: std::io::BufWriter::new(std::io::stdout()),
        format: args.format,
        base64: args.base64,
        printed: 0,
    };
    if let Some(group) = &args.group {
        consume_group(client, &args, group, &mut printer).await?;
    } else {
        let partitions: Vec<u32> = match args.partition {
            Some(p) => vec![p],
            None => (0..details.topic.config.partitions).collect(),
        };
        let ends: BTreeMap<u32, u64> = details
            .partitions
            .iter()
            .filter(|p| partitions.contains(&p.partition))
            .map(|p| (p.partition, p.log_end))
            .collect();
        consume_partitions(&client, &args, &partitions, &ends, &mut printer).await?;
    }
    printer.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn remaining(args: &ConsumeArgs, printer: &Printer) -> Option<u64> {
    args.count.map(|c| c.saturating_sub(printer.printed))
}

async fn consume_partitions(
    client: &Client,
    args: &ConsumeArgs,
    partitions: &[u32],
    ends: &BTreeMap<u32, u64>,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    let stream = &args.client.stream;
    let spec = args.consumer.as_ref().map(|name| ConsumerSpec {
        name: name.clone(),
        auto_commit: false,
        reset: ResetPolicy::Earliest,
    });
    let start = args.from.unwrap_or(if spec.is_some() { PollingStrategy::Next } else { PollingStrategy::First });
    // Next offset per partition once known; partitions done (at their end, without --follow) are dropped.
    let mut position: BTreeMap<u32, Option<u64>> = partitions.iter().map(|&p| (p, None)).collect();
    let wait = if args.follow { Duration::from_millis(500) } else { Duration::ZERO };
    loop {
        if remaining(args, printer) == Some(0) || position.is_empty() {
            return Ok(());
        }
        let mut got_any = false;
        let current: Vec<(u32, Option<u64>)> = position.iter().map(|(&p, &o)| (p, o)).collect();
        // With several partitions only the last one of a round waits, so one idle partition never stalls the rest.
        let last = current.len() - 1;
        for (i, (partition, at)) in current.into_iter().enumerate() {
            let end = ends.get(&partition).copied().unwrap_or(0);
            if !args.follow && at.is_some_and(|a| a >= end) {
                position.remove(&partition);
                continue;
            }
            if !args.follow && at.is_none() && end == 0 {
                position.remove(&partition);
                continue;
            }
            let strategy = at.map_or(start, PollingStrategy::Offset);
            let count = remaining(args, printer).map_or(1000, |r| r.min(1000) as u32);
            let max_wait = if i == last && !got_any { wait } else { Duration::ZERO };
            let polled = client
                .poll(stream, &args.topic, partition, strategy, count, max_wait, spec.clone())
                .await
                .with_context(|| format!("polling partition {partition}"))?;
            for m in &polled.messages {
                if !args.follow && m.offset >= end {
                    break;
                }
                if remaining(args, printer) == Some(0) {
                    break;
                }
                printer.print(partition, m)?;
                position.insert(partition, Some(m.offset + 1));
                got_any = true;
            }
            if polled.messages.is_empty() {
                position.insert(partition, Some(polled.next_offset));
            }
            if !printer.flush()? {
                return Ok(());
            }
            if let (Some(spec), Some(Some(next))) = (&spec, position.get(&partition)) {
                client.store_offset(stream, &args.topic, partition, &spec.name, *next).await?;
            }
        }
    }
}

async fn consume_group(client: Client, args: &ConsumeArgs, group: &str, printer: &mut Printer) -> anyhow::Result<()> {
    let config = ConsumerConfig {
        stream: args.client.stream.clone(),
        topic: args.topic.clone(),
        kind: ConsumerKind::Group {
            group: group.to_string(),
            session_timeout: Duration::from_secs(10),
            strategy: Default::default(),
        },
        start: args.from.unwrap_or(PollingStrategy::Next),
        batch_count: args.count.map_or(1000, |c| c.min(1000) as u32),
        max_bytes: 1 << 20,
        max_wait: if args.follow { Duration::from_millis(1000) } else { Duration::from_millis(300) },
        auto_commit: false,
        reset: ResetPolicy::Earliest,
    };
    let mut consumer = Consumer::new(client, config).await?;
    let result = async {
        loop {
            if remaining(args, printer) == Some(0) {
                return Ok(());
            }
            let batch = tokio::select! {
                batch = consumer.poll() => batch?,
                _ = stop_signal() => return Ok(()),
            };
            if batch.is_empty() && !args.follow {
                return Ok(());
            }
            for c in &batch {
                if remaining(args, printer) == Some(0) {
                    break;
                }
                printer.print(c.partition, &c.message)?;
            }
            if !printer.flush()? {
                return Ok(());
            }
            match consumer.commit().await {
                Ok(()) => {}
                // A rebalance moved a partition away: its new owner reads on from the last commit.
                Err(e) if is_rebalance(&e) => tracing::info!(error = %e, "commit refused after a rebalance"),
                Err(e) => return Err(e.into()),
            }
        }
    }
    .await;
    consumer.close().await?;
    result
}

fn is_rebalance(e: &callboard_client::ClientError) -> bool {
    use callboard::protocol::ErrorCode;
    matches!(e.code(), Some(ErrorCode::StaleGeneration | ErrorCode::NotAssigned | ErrorCode::UnknownMember))
}

/// Resolves on SIGINT or SIGTERM, so a following group member leaves its group before exiting.
async fn stop_signal() {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_parse() {
        assert_eq!(parse_from("first"), Ok(PollingStrategy::First));
        assert_eq!(parse_from("offset:3"), Ok(PollingStrategy::Offset(3)));
        assert_eq!(parse_from("timestamp:99"), Ok(PollingStrategy::Timestamp(99)));
        assert!(parse_from("middle").is_err());
    }
}
