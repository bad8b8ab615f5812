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
        let count = details.topic.config.partitions;
        let partitions: Vec<u32> = match args.partition {
            Some(p) if p >= count => anyhow::bail!("topic {} has no partition {p} (it has {count})", args.topic),
            Some(p) => vec![p],
            None => (0..count).collect(),
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
        if position.is_empty() {
            return Ok(());
        }
        let mut got_any = false;
        let current: Vec<(u32, Option<u64>)> = position.iter().map(|(&p, &o)| (p, o)).collect();
        // With several partitions only the last one of a round waits, so one idle partition never stalls the rest.
        let last = current.len() - 1;
        for (i, (partition, at)) in current.into_iter().enumerate() {
            // Never poll once the count is reached: a poll moves nothing, but nothing unprinted may be stored.
            let Some(count) = remaining(args, printer).map_or(Some(1000), |r| (r > 0).then(|| r.min(1000) as u32))
            else {
                return Ok(());
            };
            let end = ends.get(&partition).copied().unwrap_or(0);
            if !args.follow && (at.is_some_and(|a| a >= end) || (at.is_none() && end == 0)) {
                position.remove(&partition);
                continue;
            }
            let strategy = at.map_or(start, PollingStrategy::Offset);
            let max_wait = if i == last && !got_any { wait } else { Duration::ZERO };
            let polled = client
                .poll(stream, &args.topic, partition, strategy, count, max_wait, spec.clone())
                .await
                .with_context(|| format!("polling partition {partition}"))?;
            let mut next = None;
            let mut at_end = false;
            for m in polled.messages.iter().take(count as usize) {
                if !args.follow && m.offset >= end {
                    at_end = true;
                    break;
                }
                printer.print(partition, m)?;
                next = Some(m.offset + 1);
                got_any = true;
            }
            if polled.messages.is_empty() {
                // Nothing there yet: the poll resolved where this partition stands (e.g. `last`, `next`).
                next = Some(polled.next_offset);
            }
            if let Some(n) = next {
                position.insert(partition, Some(n));
            }
            if at_end {
                position.remove(&partition);
            }
            if !printer.flush()? {
                return Ok(());
            }
            // A named consumer stores what was printed, never more.
            if let (Some(spec), Some(n)) = (&spec, next) {
                client.store_offset(stream, &args.topic, partition, &spec.name, n).await?;
            }
        }
    }
}

async fn consume_group(client: Client, args: &ConsumeArgs, group: &str, printer: &mut Printer) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.from.is_none(),
        "--from does not apply to --group: a group reads on from its committed offsets (see `group reset-offsets`)"
    );
    // The high watermark of each partition, taken at the start: without --follow nothing at or past it is printed.
    let details = client.topic(&args.client.stream, &args.topic).await?;
    let ends: BTreeMap<u32, u64> = details.partitions.iter().map(|p| (p.partition, p.log_end)).collect();
    let config = ConsumerConfig {
        stream: args.client.stream.clone(),
        topic: args.topic.clone(),
        kind: ConsumerKind::Group {
            group: group.to_string(),
            session_timeout: Duration::from_secs(10),
            strategy: Default::default(),
        },
        start: PollingStrategy::Next,
        batch_count: args.count.map_or(1000, |c| c.clamp(1, 1000) as u32),
        max_bytes: 1 << 20,
        max_wait: if args.follow { Duration::from_millis(1000) } else { Duration::from_millis(300) },
        auto_commit: false,
        reset: ResetPolicy::Earliest,
    };
    let admin = client.clone();
    let mut consumer = Consumer::new(client, config).await?;
    let mut done: BTreeMap<u32, bool> = BTreeMap::new();
    let mut idle_without_partitions = 0;
    let result = async {
        loop {
            if remaining(args, printer) == Some(0) {
                return Ok(());
            }
            let batch = tokio::select! {
                batch = consumer.poll() => batch?,
                _ = stop_signal() => return Ok(()),
            };
            let assigned: Vec<u32> =
                consumer.membership().map(|m| m.assignment.iter().map(|(_, p)| *p).collect()).unwrap_or_default();
            if !args.follow {
                if batch.is_empty() && !assigned.is_empty() {
                    // None of the member's partitions has anything more: it is at the end of each.
                    return Ok(());
                }
                if assigned.is_empty() {
                    idle_without_partitions += 1;
                    if idle_without_partitions >= 10 {
                        return Ok(());
                    }
                    continue;
                }
            }
            // Print what counts; a message past the count or the start-time end is neither printed nor committed.
            let mut printed_to: BTreeMap<u32, u64> = BTreeMap::new();
            let mut partial = false;
            for c in &batch {
                let end = ends.get(&c.partition).copied().unwrap_or(0);
                if remaining(args, printer) == Some(0) || (!args.follow && c.message.offset >= end) {
                    partial = true;
                    if !args.follow && c.message.offset >= end {
                        done.insert(c.partition, true);
                    }
                    continue;
                }
                printer.print(c.partition, &c.message)?;
                printed_to.insert(c.partition, c.message.offset + 1);
                if !args.follow && c.message.offset + 1 >= end {
                    done.insert(c.partition, true);
                }
            }
            if !printer.flush()? {
                return Ok(());
            }
            // Commit exactly what was printed (the SDK's commit would also cover messages read but not printed).
            let committed = commit_printed(&admin, &consumer, args, group, &printed_to).await;
            match committed {
                Ok(()) => {}
                // A rebalance moved a partition away: its new owner reads on from the last commit.
                Err(e) if is_rebalance(&e) => tracing::info!(error = %e, "commit refused after a rebalance"),
                Err(e) => return Err(e.into()),
            }
            if partial && remaining(args, printer) == Some(0) {
                return Ok(());
            }
            if !args.follow && !assigned.is_empty() && assigned.iter().all(|p| done.get(p).copied().unwrap_or(false)) {
                return Ok(());
            }
        }
    }
    .await;
    consumer.close().await?;
    result
}

/// Commits, per partition, the offset after the last printed message.
async fn commit_printed(
    client: &Client,
    consumer: &Consumer,
    args: &ConsumeArgs,
    group: &str,
    printed_to: &BTreeMap<u32, u64>,
) -> Result<(), callboard_client::ClientError> {
    let Some(membership) = consumer.membership() else { return Ok(()) };
    for (&partition, &offset) in printed_to {
        client.commit_group_offset(&args.client.stream, group, &membership, &args.topic, partition, offset).await?;
    }
    Ok(())
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
