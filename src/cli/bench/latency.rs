//! The `end-to-end` scenario: producer/consumer pairs on one partition each. Producers send at a steady rate (default
//! 10 000 messages/s in total), every payload starting with its send time; consumers long-poll and record, for every
//! message, the time from send to receipt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use callboard::protocol::model::{Message, PollingStrategy, decode_batches, encode_batch_compressed};
use callboard::protocol::wire::{Fetch, ProduceTarget};
use callboard_client::Client;
use tokio::sync::watch;

use super::BenchArgs;
use super::actors::{Plan, Side, Target};
use super::report::Report;

/// Runs `end-to-end`.
pub async fn end_to_end(args: &BenchArgs, plan: &Plan) -> anyhow::Result<Report> {
    let rate = args.rate.unwrap_or(10_000).max(1);
    let pairs = args.producers.max(1);
    let per_producer = rate as f64 / pairs as f64;
    let interval = Duration::from_secs_f64(f64::from(args.messages_per_batch) / per_producer);
    let base = Instant::now();
    let mut producers = Vec::new();
    let mut consumers = Vec::new();
    for (i, target) in args.targets(pairs).into_iter().enumerate() {
        let pclient = args.connect(&format!("bench-e2e-producer-{i}")).await?;
        let cclient = args.connect(&format!("bench-e2e-consumer-{i}")).await?;
        let details = cclient.topic(&target.stream, "bench").await?;
        let start = details.partitions.get(target.partition as usize).map_or(0, |p| p.log_end);
        let (total_tx, total_rx) = watch::channel(None);
        let limits = plan.limits();
        let (a, t) = (Arc::new(args.clone()), target.clone());
        producers.push(tokio::spawn(async move {
            let sent = produce_paced(pclient, t, a, interval, base, limits).await;
            let _ = total_tx.send(Some(*sent.as_ref().unwrap_or(&0)));
            sent
        }));
        let warmup = plan.limits().warmup;
        consumers.push(tokio::spawn(consume_timed(cclient, target, start, base, warmup, total_rx)));
    }
    let mut sent_total = 0;
    for p in producers {
        sent_total += p.await.context("producer task")??;
    }
    let mut side = Received::empty();
    for c in consumers {
        side.merge_from(c.await.context("consumer task")??)?;
    }
    anyhow::ensure!(side.received_all, "consumers received fewer messages than the {sent_total} sent");
    Ok(Report { scenario: "end-to-end", producers: None, consumers: Some(side.side), latency_from_consumers: true })
}

/// The pieces of [`Plan`] a paced producer needs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Batches after the warm-up.
    pub batches: Option<u64>,
    /// Measuring time.
    pub duration: Option<Duration>,
    /// Warm-up.
    pub warmup: Duration,
}

async fn produce_paced(
    client: Client,
    target: Target,
    args: Arc<BenchArgs>,
    interval: Duration,
    base: Instant,
    limits: Limits,
) -> anyhow::Result<u64> {
    let started = Instant::now();
    let mut next = Instant::now();
    let mut sent = 0u64;
    let mut measured_batches = 0u64;
    let mut inflight = std::collections::VecDeque::new();
    let size = args.message_size.max(8);
    loop {
        let elapsed = started.elapsed();
        if elapsed >= limits.warmup {
            let measuring_for = elapsed - limits.warmup;
            if limits.batches.is_some_and(|b| measured_batches >= b)
                || limits.duration.is_some_and(|d| measuring_for >= d)
            {
                break;
            }
            measured_batches += 1;
        }
        tokio::time::sleep_until(next.into()).await;
        // Latency counts from the planned send time, so a producer falling behind its rate shows in the figures.
        let planned = next.saturating_duration_since(base).as_nanos() as u64;
        next += interval;
        let messages: Vec<Message> = (0..args.messages_per_batch)
            .map(|_| {
                let mut payload = vec![0u8; size];
                payload[..8].copy_from_slice(&planned.to_le_bytes());
                Message::new(Bytes::from(payload))
            })
            .collect();
        let batch = Bytes::from(encode_batch_compressed(&messages, 0, None, args.compression));
        inflight.push_back(client.produce_batch(
            &target.stream,
            "bench",
            ProduceTarget::Partition(target.partition),
            batch,
        ));
        sent += u64::from(args.messages_per_batch);
        while inflight.len() >= args.in_flight.max(1) {
            if let Some(r) = inflight.pop_front() {
                r.await.context("producing")?;
            }
        }
    }
    for r in inflight {
        r.await.context("producing")?;
    }
    Ok(sent)
}

/// What one end-to-end consumer measured.
pub struct Received {
    side: Side,
    received_all: bool,
}

impl Received {
    fn empty() -> Received {
        Received { side: Side::new(), received_all: true }
    }

    fn merge_from(&mut self, other: Received) -> anyhow::Result<()> {
        self.received_all &= other.received_all;
        self.side.merge(other.side)
    }
}

async fn consume_timed(
    client: Client,
    target: Target,
    start: u64,
    base: Instant,
    warmup: Duration,
    mut total: watch::Receiver<Option<u64>>,
) -> anyhow::Result<Received> {
    let mut side = Side::new();
    let started = Instant::now();
    let mut measuring: Option<Instant> = None;
    let mut position = start;
    let mut received = 0u64;
    let mut done_at: Option<Instant> = None;
    loop {
        if let Some(t) = *total.borrow_and_update() {
            if received >= t {
                break;
            }
            // Every message sent should arrive within a few seconds of the producer's end.
            let deadline = *done_at.get_or_insert_with(Instant::now);
            if deadline.elapsed() > Duration::from_secs(10) {
                side.elapsed = measuring.map_or(Duration::ZERO, |m| m.elapsed());
                return Ok(Received { side, received_all: false });
            }
        }
        if measuring.is_none() && started.elapsed() >= warmup {
            measuring = Some(Instant::now());
        }
        let fetch = Fetch {
            stream: target.stream.clone(),
            topic: "bench".into(),
            partition: target.partition,
            strategy: PollingStrategy::Offset(position),
            max_count: 10_000,
            max_bytes: 4 << 20,
            max_wait_ms: 200,
            consumer: None,
        };
        let (resp, batches) = client.fetch(fetch).await.context("fetching")?;
        let now = base.elapsed().as_nanos() as u64;
        let wanted = resp.next_offset.saturating_sub(resp.start_offset) as usize;
        for m in decode_batches(&batches, resp.start_offset, wanted)? {
            received += 1;
            if measuring.is_some() && m.payload.len() >= 8 {
                let mut ts = [0u8; 8];
                ts.copy_from_slice(&m.payload[..8]);
                side.messages += 1;
                side.bytes += m.payload.len() as u64;
                side.latency.saturating_record(now.saturating_sub(u64::from_le_bytes(ts)) / 1000);
            }
        }
        position = resp.next_offset.max(position);
    }
    side.elapsed = measuring.map_or(Duration::ZERO, |m| m.elapsed());
    Ok(Received { side, received_all: true })
}
