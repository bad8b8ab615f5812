//! `callboard send TOPIC`: one message from `--message`, or every line of standard input as one message (line
//! ending removed, empty lines kept), sent through the SDK's idempotent, batching, pipelining producer. It prints
//! `sent N` to stderr and exits 0 only when all N were acknowledged.

use std::process::ExitCode;

use anyhow::Context;
use bytes::Bytes;
use callboard::protocol::model::{Message, Partitioning};
use callboard_client::{Compression, Producer, ProducerConfig, ProducerError};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::connect::ClientArgs;

/// Options of `callboard send`.
#[derive(Args, Debug)]
pub struct SendArgs {
    /// Topic.
    topic: String,
    /// The message (otherwise every line of standard input is one message).
    #[arg(long)]
    message: Option<String>,
    /// Key of every message (messages with one key go to one partition).
    #[arg(long)]
    key: Option<String>,
    /// Send to this partition.
    #[arg(long, conflicts_with = "key")]
    partition: Option<u32>,
    /// A header `name=value` (repeatable).
    #[arg(long = "header", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Compress each batch's records: none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    compression: Compression,
    #[command(flatten)]
    client: ClientArgs,
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("a header is name=value, got {s:?}"))
}

/// Runs `callboard send`.
pub async fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let client = args.client.connect("callboard-send").await?;
    // Fail fast with a clear message when the topic does not exist.
    client.topic(&args.client.stream, &args.topic).await?;
    let mut config = ProducerConfig::new(&args.client.stream, &args.topic);
    config.partitioning = match (&args.partition, &args.key) {
        (Some(p), _) => Partitioning::Partition(*p),
        (None, Some(k)) => Partitioning::Key(Bytes::from(k.clone())),
        (None, None) => Partitioning::Balanced,
    };
    config.compression = args.compression;
    let mut producer = Producer::new(client, config).await?;
    let make = |payload: Vec<u8>| {
        let mut m = Message::new(payload);
        if let Some(k) = &args.key {
            m = m.with_key(k.clone());
        }
        for (name, value) in &args.headers {
            m = m.with_header(name.clone(), value.clone());
        }
        m
    };
    let progress = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    progress.set_style(ProgressStyle::with_template("{spinner} {pos} messages sent ({per_sec})").context("style")?);
    let mut count: u64 = 0;
    // A failed batch makes `send` fail early; `flush` then reports how far the acknowledgements got.
    let mut send_failed = None;
    let mut input_error = None;
    if let Some(text) = &args.message {
        match producer.send(make(text.clone().into_bytes())).await {
            Ok(()) => count = 1,
            Err(e) => send_failed = Some(e),
        }
    } else {
        let mut stdin = BufReader::with_capacity(1 << 20, tokio::io::stdin());
        let mut line = Vec::new();
        loop {
            line.clear();
            match stdin.read_until(b'\n', &mut line).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    input_error = Some(e);
                    break;
                }
            }
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            if let Err(e) = producer.send(make(line.clone())).await {
                send_failed = Some(e);
                break;
            }
            count += 1;
            if count.is_multiple_of(1024) {
                progress.set_position(producer.acknowledged());
            }
        }
    }
    let flushed = producer.flush().await;
    progress.finish_and_clear();
    match (flushed, send_failed, input_error) {
        (Ok(()), None, None) => {
            eprintln!("sent {count}");
            Ok(ExitCode::SUCCESS)
        }
        (Ok(()), None, Some(e)) => {
            eprintln!("error: reading standard input: {e}");
            eprintln!("{count} messages read before the error were acknowledged");
            Ok(ExitCode::from(1))
        }
        (Err(e), _, _) => {
            let ProducerError::Failed { acknowledged, first_failed, .. } = &e;
            report_failure(*acknowledged, *first_failed, count, &e.to_string());
            Ok(ExitCode::from(1))
        }
        (Ok(()), Some(e), _) => {
            let acked = producer.acknowledged();
            report_failure(acked, acked, count, &e.to_string());
            Ok(ExitCode::from(1))
        }
    }
}

fn report_failure(acked: u64, failed: u64, read: u64, error: &str) {
    eprintln!("error: {error}");
    eprintln!("{acked} of {read} messages acknowledged; the first failed is message {failed} (line {})", failed + 1);
}
