//! The load tool's actors: each producer and consumer runs on its own connection, warms up, then measures until its
//! batch count or the duration is reached. Producers send one pre-encoded batch over and over (the broker assigns
//! offsets in place); consumers count what they receive from batch headers, without decoding records.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use callboard::protocol::model::{
    AssignmentStrategy, Message, PollingStrategy, ResetPolicy, decode_batches, encode_batch_compressed,
};
use callboard::protocol::wire::{Fetch, GroupFetch, ProduceTarget};
use callboard_client::Client;
use hdrhistogram::Histogram;

use super::report::Report;
use super::{BenchArgs, Scenario};

/// A pinned actor's partition.
#[derive(Debug, Clone)]
pub struct Target {
    /// Stream.
    pub stream: String,
    /// Partition of topic `bench`.
    pub partition: u32,
}

/// What one side of a run measured.
pub struct Side {
    /// Messages after the warm-up.
    pub messages: u64,
    /// Payload bytes after the warm-up.
    pub bytes: u64,
    /// Measured time (the longest actor's).
    pub elapsed: Duration,
    /// Latency in microseconds.
    pub latency: Histogram<u64>,
}

impl Side {
    pub(super) fn new() -> Side {
        Side { messages: 0, bytes: 0, elapsed: Duration::ZERO, latency: histogram() }
    }

    pub(super) fn merge(&mut self, other: Side) -> anyhow::Result<()> {
        self.messages += other.messages;
        self.bytes += other.bytes;
        self.elapsed = self.elapsed.max(other.elapsed);
        self.latency.add(&other.latency).context("merging histograms")?;
        Ok(())
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 10 min, 3 significant digits; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| Histogram::new(3).expect("valid histogram"))
}

/// Limits shared by every actor of a run.
pub struct Plan {
    batches: Option<u64>,
    duration: Option<Duration>,
    warmup: Duration,
    /// Seconds between two batches of one producer, when rate-limited.
    interval: Option<Duration>,
    /// The batch producers send (offsets are assigned by the broker).
    batch: Bytes,
    /// Hard stop for any actor.
    deadline: Duration,
}

impl Plan {
    /// The plan for these options.
    pub fn new(args: &BenchArgs) -> Plan {
        let batches = match (args.batches, args.duration) {
            (None, None) => Some(1000),
            (b, _) => b,
        };
        let messages: Vec<Message> = (0..args.messages_per_batch)
            .map(|i| Message::new(args.payload.make(u64::from(i), args.message_size)))
            .collect();
        let batch = Bytes::from(encode_batch_compressed(&messages, now_ms(), None, args.compression));
        let interval = args.rate.filter(|r| *r > 0).map(|rate| {
            let per_producer = rate as f64 / args.producers.max(1) as f64;
            Duration::from_secs_f64(f64::from(args.messages_per_batch) / per_producer)
        });
        let deadline = args.warmup + args.duration.unwrap_or(Duration::from_secs(600)) + Duration::from_secs(60);
        Plan { batches, duration: args.duration, warmup: args.warmup, interval, batch, deadline }
    }

    /// The limits a paced producer needs.
    pub fn limits(&self) -> super::latency::Limits {
        super::latency::Limits { batches: self.batches, duration: self.duration, warmup: self.warmup }
    }

    fn done(&self, measured_batches: u64, measuring_since: Option<Instant>) -> bool {
        let Some(since) = measuring_since else { return false };
        self.batches.is_some_and(|b| measured_batches >= b) || self.duration.is_some_and(|d| since.elapsed() >= d)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

type Pending<T> = Pin<Box<dyn Future<Output = Result<T, callboard_client::ClientError>> + Send>>;
/// An outstanding request: when it was sent, whether it counts (after the warm-up), and its answer.
type InFlight<T> = VecDeque<(Instant, bool, Pending<T>)>;

/// One pinned producer: keeps `in_flight` produce requests outstanding, optionally paced.
async fn producer(client: Client, target: Target, plan: Arc<Plan>, args: Arc<BenchArgs>) -> anyhow::Result<Side> {
    let mut side = Side::new();
    let started = Instant::now();
    let mut measuring: Option<Instant> = None;
    let mut measured_batches = 0u64;
    let mut inflight: InFlight<callboard::protocol::model::Sent> = VecDeque::new();
    let mut next_send = Instant::now();
    let per_batch = u64::from(args.messages_per_batch);
    loop {
        if measuring.is_none() && started.elapsed() >= plan.warmup {
            measuring = Some(Instant::now());
        }
        let stop = plan.done(measured_batches + inflight.iter().filter(|f| f.1).count() as u64, measuring)
            || started.elapsed() > plan.deadline;
        while !stop && inflight.len() < args.in_flight {
            if let Some(interval) = plan.interval {
                tokio::time::sleep_until(next_send.into()).await;
                next_send += interval;
            }
            let request = client.produce_batch(
                &target.stream,
                "bench",
                ProduceTarget::Partition(target.partition),
                plan.batch.clone(),
            );
            inflight.push_back((Instant::now(), measuring.is_some(), Box::pin(request)));
            if plan.interval.is_some() {
                break;
            }
        }
        let Some((sent_at, measured, request)) = inflight.pop_front() else { break };
        let ack = request.await.with_context(|| format!("producing to {}/{}", target.stream, target.partition))?;
        anyhow::ensure!(ack.stored == args.messages_per_batch, "broker stored {} of a batch", ack.stored);
        if measured {
            measured_batches += 1;
            side.messages += per_batch;
            side.bytes += per_batch * args.message_size as u64;
            side.latency.saturating_record(sent_at.elapsed().as_micros() as u64);
        }
    }
    side.elapsed = measuring.map_or(Duration::ZERO, |m| m.elapsed());
    Ok(side)
}

/// One pinned consumer: reads its partition from `from` until its batch count, the duration, or the end of the data
/// (`until`: the log end at the start, or `None` to wait for more, reading one batch at a time).
async fn consumer(
    client: Client,
    target: Target,
    plan: Arc<Plan>,
    args: Arc<BenchArgs>,
    from: u64,
    until: Option<u64>,
    producers_done: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> anyhow::Result<Side> {
    let mut side = Side::new();
    let started = Instant::now();
    let mut measuring: Option<Instant> = None;
    let mut measured_batches = 0u64;
    let mut inflight: InFlight<(callboard::protocol::wire::FetchResponse, Bytes)> = VecDeque::new();
    let per_batch = args.messages_per_batch;
    let mut next_request: u64 = from;
    let mut position: u64 = from;
    // Past the known end, requests cannot be pipelined at guessed offsets.
    let in_flight = if until.is_some() { args.in_flight } else { 1 };
    let max_bytes = (u64::from(per_batch) * (args.message_size as u64 + 64)).min(64 << 20) as u32;
    loop {
        if measuring.is_none() && started.elapsed() >= plan.warmup {
            measuring = Some(Instant::now());
        }
        if plan.done(measured_batches, measuring) || started.elapsed() > plan.deadline {
            break;
        }
        if until.is_some_and(|end| position >= end) {
            break;
        }
        // Requests beyond the first are pipelined at the offsets the earlier ones will end at (full batches).
        while inflight.len() < in_flight && until.is_none_or(|end| next_request < end) {
            let fetch = Fetch {
                stream: target.stream.clone(),
                topic: "bench".into(),
                partition: target.partition,
                strategy: PollingStrategy::Offset(next_request),
                max_count: per_batch,
                max_bytes,
                max_wait_ms: if until.is_some() { 0 } else { 1000 },
                consumer: None,
            };
            inflight.push_back((Instant::now(), measuring.is_some(), Box::pin(client.fetch(fetch))));
            next_request += u64::from(per_batch);
        }
        let Some((sent_at, measured, request)) = inflight.pop_front() else { break };
        let (resp, batches) =
            request.await.with_context(|| format!("fetching {}/{}", target.stream, target.partition))?;
        let got = resp.next_offset.saturating_sub(resp.start_offset);
        if args.decode && got > 0 {
            let decoded = decode_batches(&batches, resp.start_offset, got as usize)?;
            anyhow::ensure!(decoded.len() as u64 == got, "decoded {} of {got} records", decoded.len());
        }
        // Reading alongside producers: once they are done and nothing more comes, the run is over.
        if got == 0 && producers_done.as_ref().is_some_and(|d| d.load(std::sync::atomic::Ordering::Acquire)) {
            break;
        }
        // Answers come in request order; a read below the log start begins at the log start.
        position = position.max(resp.next_offset);
        if got < u64::from(per_batch) {
            // Short read (end of data, or a batch boundary): drop the pipelined guesses and continue from here.
            inflight.clear();
            next_request = position;
        }
        if measured && got > 0 {
            measured_batches += 1;
            side.messages += got;
            side.bytes += got * args.message_size as u64;
            side.latency.saturating_record(sent_at.elapsed().as_micros() as u64);
        }
    }
    side.elapsed = measuring.map_or(Duration::ZERO, |m| m.elapsed());
    if until.is_some() && measuring.is_none() {
        anyhow::bail!("the data ran out during the warm-up: use more --batches or a shorter --warmup");
    }
    Ok(side)
}

async fn connect_all(args: &BenchArgs, n: usize, role: &str) -> anyhow::Result<Vec<Client>> {
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        clients.push(args.connect(&format!("bench-{role}-{i}")).await?);
    }
    Ok(clients)
}

async fn join_sides(handles: Vec<tokio::task::JoinHandle<anyhow::Result<Side>>>) -> anyhow::Result<Side> {
    let mut total = Side::new();
    for h in handles {
        total.merge(h.await.context("actor task")??)?;
    }
    Ok(total)
}

/// Runs `pinned-producer`.
pub async fn produce(args: &BenchArgs, plan: &Plan) -> anyhow::Result<Report> {
    let producers = spawn_producers(args, plan).await?;
    Ok(Report {
        scenario: "pinned-producer",
        producers: Some(join_sides(producers).await?),
        consumers: None,
        latency_from_consumers: false,
    })
}

async fn spawn_producers(
    args: &BenchArgs,
    plan: &Plan,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<anyhow::Result<Side>>>> {
    let shared = Arc::new(args.clone());
    let plan = Arc::new(plan_clone(plan));
    let clients = connect_all(args, args.producers, "producer").await?;
    Ok(clients
        .into_iter()
        .zip(args.targets(args.producers))
        .map(|(c, t)| tokio::spawn(producer(c, t, Arc::clone(&plan), Arc::clone(&shared))))
        .collect())
}

fn plan_clone(plan: &Plan) -> Plan {
    Plan {
        batches: plan.batches,
        duration: plan.duration,
        warmup: plan.warmup,
        interval: plan.interval,
        batch: plan.batch.clone(),
        deadline: plan.deadline,
    }
}

/// Makes sure every consumer's partition holds what the run will read, producing the shortfall first.
pub async fn ensure_data(args: &BenchArgs, plan: &Plan, admin: &Client) -> anyhow::Result<()> {
    // The measured batches plus a quarter more for the warm-up (which reads stored data too).
    let batches = plan.batches.unwrap_or(2000);
    let warmup = if plan.warmup.is_zero() { 0 } else { (batches / 4).max(100) };
    let wanted = (batches + warmup) * u64::from(args.messages_per_batch);
    let mut targets = args.targets(args.consumers);
    if args.scenario == Scenario::BalancedConsumerGroup {
        let p = args.partitions.unwrap_or(1);
        targets = (0..p).map(|partition| Target { stream: "bench".into(), partition }).collect();
    }
    targets.sort_by(|a, b| (&a.stream, a.partition).cmp(&(&b.stream, b.partition)));
    targets.dedup_by(|a, b| a.stream == b.stream && a.partition == b.partition);
    for t in targets {
        let details = admin.topic(&t.stream, "bench").await?;
        let have = details.partitions.get(t.partition as usize).map_or(0, |p| p.log_end - p.log_start);
        let mut missing = wanted.saturating_sub(have).div_ceil(u64::from(args.messages_per_batch));
        if missing > 0 {
            eprintln!("writing {missing} batches to {}/{} first", t.stream, t.partition);
        }
        while missing > 0 {
            let n = missing.min(64);
            let requests: Vec<_> = (0..n)
                .map(|_| {
                    admin.produce_batch(&t.stream, "bench", ProduceTarget::Partition(t.partition), plan.batch.clone())
                })
                .collect();
            for r in requests {
                r.await?;
            }
            missing -= n;
        }
    }
    Ok(())
}

/// Runs `pinned-consumer`.
pub async fn consume(args: &BenchArgs, plan: &Plan) -> anyhow::Result<Report> {
    let shared = Arc::new(args.clone());
    let plan = Arc::new(plan_clone(plan));
    let clients = connect_all(args, args.consumers, "consumer").await?;
    let mut handles = Vec::new();
    for (client, target) in clients.into_iter().zip(args.targets(args.consumers)) {
        let details = client.topic(&target.stream, "bench").await?;
        let (start, end) =
            details.partitions.get(target.partition as usize).map_or((0, 0), |p| (p.log_start, p.log_end));
        handles.push(tokio::spawn(consumer(
            client,
            target,
            Arc::clone(&plan),
            Arc::clone(&shared),
            start,
            Some(end),
            None,
        )));
    }
    Ok(Report {
        scenario: "pinned-consumer",
        producers: None,
        consumers: Some(join_sides(handles).await?),
        latency_from_consumers: true,
    })
}

/// Runs `pinned-producer-and-consumer`: consumers read from the end of the data at the start while producers write.
pub async fn produce_and_consume(args: &BenchArgs, plan: &Plan) -> anyhow::Result<Report> {
    let shared = Arc::new(args.clone());
    let cplan = Arc::new(plan_clone(plan));
    let producers_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients = connect_all(args, args.consumers, "consumer").await?;
    let mut consumers = Vec::new();
    for (client, target) in clients.into_iter().zip(args.targets(args.consumers)) {
        let details = client.topic(&target.stream, "bench").await?;
        let end = details.partitions.get(target.partition as usize).map_or(0, |p| p.log_end);
        let done = Some(Arc::clone(&producers_done));
        consumers.push(tokio::spawn(consumer(
            client,
            target,
            Arc::clone(&cplan),
            Arc::clone(&shared),
            end,
            None,
            done,
        )));
    }
    let producers = spawn_producers(args, plan).await?;
    let producers = join_sides(producers).await;
    producers_done.store(true, std::sync::atomic::Ordering::Release);
    let producers = producers?;
    let consumers = join_sides(consumers).await?;
    Ok(Report {
        scenario: "pinned-producer-and-consumer",
        producers: Some(producers),
        consumers: Some(consumers),
        latency_from_consumers: false,
    })
}

/// Runs `balanced-consumer-group`: every consumer joins a new group (`bench-<time>`, so each run reads the data from
/// the start) on topic `bench` of stream `bench`, heartbeats, follows rebalances, and reads (auto-commit) until the
/// data ends or the limits are reached; members leave only once all are done.
pub async fn group_consume(args: &BenchArgs, plan: &Plan) -> anyhow::Result<Report> {
    anyhow::ensure!(args.partitions.is_some(), "balanced-consumer-group needs --partitions");
    let group: Arc<str> = format!("bench-{}", now_ms()).into();
    let shared = Arc::new(args.clone());
    let plan = Arc::new(plan_clone(plan));
    let clients = connect_all(args, args.consumers, "group").await?;
    let mut members = Vec::new();
    for client in &clients {
        let m = client
            .join_group("bench", &group, &["bench"], Duration::from_secs(10), AssignmentStrategy::RoundRobin)
            .await?;
        members.push(m);
    }
    // Let every member see the final assignment before reading.
    for _ in 0..20 {
        for (client, m) in clients.iter().zip(members.iter_mut()) {
            *m = client.heartbeat("bench", &group, &m.member_id).await?;
        }
        let owned: usize = members.iter().map(|m| m.assignment.len()).sum();
        if owned == args.partitions.unwrap_or(1) as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut handles = Vec::new();
    for (client, member) in clients.iter().cloned().zip(members.iter().cloned()) {
        let (plan, args, group) = (Arc::clone(&plan), Arc::clone(&shared), Arc::clone(&group));
        handles.push(tokio::spawn(group_member(client, member, group, plan, args)));
    }
    let side = join_sides(handles).await;
    for (client, member) in clients.iter().zip(&members) {
        let _ = client.leave_group("bench", &group, &member.member_id).await;
    }
    Ok(Report {
        scenario: "balanced-consumer-group",
        producers: None,
        consumers: Some(side?),
        latency_from_consumers: true,
    })
}

/// One group member's reads: heartbeats every 3 s, and refreshes its membership when a read is refused.
async fn group_member(
    client: Client,
    mut member: callboard::protocol::model::Membership,
    group: Arc<str>,
    plan: Arc<Plan>,
    args: Arc<BenchArgs>,
) -> anyhow::Result<Side> {
    use callboard::protocol::ErrorCode;
    let mut side = Side::new();
    let started = Instant::now();
    let mut measuring = None;
    let mut measured_batches = 0;
    let mut last_heartbeat = Instant::now();
    loop {
        if measuring.is_none() && started.elapsed() >= plan.warmup {
            measuring = Some(Instant::now());
        }
        if plan.done(measured_batches, measuring) || started.elapsed() > plan.deadline {
            break;
        }
        if last_heartbeat.elapsed() >= Duration::from_secs(3) {
            member = client.heartbeat("bench", &group, &member.member_id).await?;
            last_heartbeat = Instant::now();
        }
        let request = GroupFetch {
            stream: "bench".into(),
            group: group.to_string(),
            member_id: member.member_id.clone(),
            generation: member.generation,
            assignment: member.assignment.clone(),
            max_count: args.messages_per_batch,
            max_bytes: (u64::from(args.messages_per_batch) * (args.message_size as u64 + 64)).min(64 << 20) as u32,
            max_wait_ms: 0,
            auto_commit: true,
            reset: ResetPolicy::Earliest,
            positions: Vec::new(),
        };
        let sent_at = Instant::now();
        let (resp, _) = match client.group_fetch(request).await {
            Ok(answer) => answer,
            Err(e) if matches!(e.code(), Some(ErrorCode::StaleGeneration | ErrorCode::NotAssigned)) => {
                member = client.heartbeat("bench", &group, &member.member_id).await?;
                last_heartbeat = Instant::now();
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let got = resp.next_offset.saturating_sub(resp.start_offset);
        if got == 0 {
            break;
        }
        if measuring.is_some() {
            measured_batches += 1;
            side.messages += got;
            side.bytes += got * args.message_size as u64;
            side.latency.saturating_record(sent_at.elapsed().as_micros() as u64);
        }
    }
    side.elapsed = measuring.map_or(Duration::ZERO, |m: Instant| m.elapsed());
    Ok(side)
}
