//! Criterion benchmarks of the actor layer's overhead over the storage it wraps:
//!
//! - `append_1mib_never`: 1 MiB batches (one record, built once with `encode_batch`) under durability `never`,
//!   appended straight to a [`PartitionLog`] in a loop, and through the partition actor with `Broker::append_batch`
//!   with eight requests in flight. Same batch, same volume: the ratio of the two throughputs is the actor path's
//!   overhead (target: the actor path reaches at least 85% of the storage path).
//! - `append_1mib_partitions`: aggregate throughput of the same appends spread round-robin over one partition or
//!   four (on two worker arbiters), four requests in flight per partition.
//! - `long_poll_wakeup`: the time from sending an append of a small message to a partition until a long poll
//!   parked on that partition returns it.
//!
//! Both append paths consume the same owned copies of the template (`Broker::append_batch` takes a `Vec<u8>`): the
//! copies are made outside the timed region, [`CHUNK`] at a time, and each append consumes and frees its copy in
//! both paths. (Appending one cache-hot buffer over and over, as the storage benchmark does, would flatter the
//! storage path with a buffer no producer has.) Data lives in a temporary directory under
//! `CALLBOARD_BENCH_DIR` (default: the system temp directory); logs and topics are recreated outside the timed
//! region before they pass 1 GiB, so disk use stays bounded and no measured append includes a segment roll.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callboard::storage::{Durability, LogConfig, PartitionLog};
use callboard::{
    Broker, BrokerConfig, DEFAULT_STREAM, DurabilityPolicy, Message, PollRequest, PollingStrategy, TopicConfig,
    encode_batch,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tempfile::TempDir;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const MIB: usize = 1 << 20;
const LOG_LIMIT: u64 = 1 << 30;
const SEGMENT_BYTES: u64 = 2 << 30;
/// Batches copied (untimed) and then appended (timed) at a time.
const CHUNK: usize = 128;
const TIMESTAMP: i64 = 1_700_000_000_000;

fn bench_dir() -> TempDir {
    match std::env::var_os("CALLBOARD_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("bench dir"),
        None => tempfile::tempdir().expect("temp dir"),
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

/// One record whose encoded batch is about 1 MiB.
fn batch_1mib() -> Vec<u8> {
    let payload: Vec<u8> = (0..MIB - 100).map(|i| (i % 251) as u8).collect();
    encode_batch(&[Message::new(payload)], TIMESTAMP, None)
}

fn topic_config(partitions: u32) -> TopicConfig {
    TopicConfig {
        partitions,
        durability: DurabilityPolicy::Never,
        segment_bytes: SEGMENT_BYTES,
        ..TopicConfig::default()
    }
}

/// A partition log, recreated (outside the timing) before it holds more than [`LOG_LIMIT`] bytes.
struct BenchLog {
    dir: TempDir,
    log: Option<PartitionLog>,
}

impl BenchLog {
    fn config() -> LogConfig {
        LogConfig { durability: Durability::Never, segment_bytes: SEGMENT_BYTES, ..LogConfig::default() }
    }

    fn new() -> Self {
        let dir = bench_dir();
        let log = PartitionLog::open(dir.path(), Self::config()).expect("open");
        BenchLog { dir, log: Some(log) }
    }

    /// The log, with room for `next_bytes` more.
    fn log(&mut self, next_bytes: u64) -> &mut PartitionLog {
        let size = self.log.as_ref().map_or(0, PartitionLog::size_bytes);
        if size + next_bytes > LOG_LIMIT {
            drop(self.log.take());
            self.dir = bench_dir();
            self.log = Some(PartitionLog::open(self.dir.path(), Self::config()).expect("reopen"));
        }
        self.log.as_mut().expect("log")
    }
}

/// A broker with one topic, recreated (outside the timing) before it holds more than [`LOG_LIMIT`] bytes.
struct BenchTopic {
    _dir: TempDir,
    broker: Broker,
    name: &'static str,
    partitions: u32,
    written: u64,
}

impl BenchTopic {
    fn start(rt: &Runtime, arbiters: usize, name: &'static str, partitions: u32) -> Self {
        let dir = bench_dir();
        let config = BrokerConfig { arbiters, ..BrokerConfig::with_data_dir(dir.path()) };
        let broker = rt.block_on(async {
            let broker = Broker::start(config).await.expect("start broker");
            broker.create_topic(DEFAULT_STREAM, name, topic_config(partitions)).await.expect("create topic");
            broker
        });
        BenchTopic { _dir: dir, broker, name, partitions, written: 0 }
    }

    /// Makes room for `bytes` more, recreating the topic when it would pass the limit.
    async fn reserve(&mut self, bytes: u64) {
        if self.written + bytes > LOG_LIMIT {
            self.broker.delete_topic(DEFAULT_STREAM, self.name).await.expect("delete topic");
            let config = topic_config(self.partitions);
            self.broker.create_topic(DEFAULT_STREAM, self.name, config).await.expect("recreate topic");
            self.written = 0;
        }
        self.written += bytes;
    }

    fn shutdown(self, rt: &Runtime) {
        rt.block_on(self.broker.shutdown()).expect("shutdown");
    }
}

/// Appends `iters` copies of `template` through the broker, spread round-robin over `partitions` partitions with
/// `in_flight` requests in flight per partition; answers the time spent appending (copies are made untimed).
async fn append_through_actors(
    topic: &mut BenchTopic,
    template: &[u8],
    iters: u64,
    partitions: u32,
    in_flight: usize,
) -> Duration {
    let tasks = partitions as usize * in_flight;
    let mut elapsed = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let chunk = left.min(CHUNK);
        left -= chunk;
        topic.reserve((chunk * template.len()) as u64).await;
        let mut shares: Vec<Vec<Vec<u8>>> = vec![Vec::new(); tasks];
        for i in 0..chunk {
            shares[i % tasks].push(template.to_vec());
        }
        let started = Instant::now();
        let mut set = JoinSet::new();
        for (t, share) in shares.into_iter().enumerate().filter(|(_, share)| !share.is_empty()) {
            let (broker, name, partition) = (topic.broker.clone(), topic.name, (t % partitions as usize) as u32);
            set.spawn(async move {
                for batch in share {
                    broker.append_batch(DEFAULT_STREAM, name, partition, batch).await.expect("append");
                }
            });
        }
        while let Some(done) = set.join_next().await {
            done.expect("append task");
        }
        elapsed += started.elapsed();
    }
    elapsed
}

fn append_actor_vs_storage(c: &mut Criterion) {
    const IN_FLIGHT: usize = 8;
    let mut group = c.benchmark_group("append_1mib_never");
    group.sample_size(20).warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(8));
    let template = batch_1mib();
    group.throughput(Throughput::Bytes(template.len() as u64));

    let mut log = BenchLog::new();
    group.bench_function("storage_direct", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                let chunk = left.min(CHUNK);
                left -= chunk;
                let log = log.log((chunk * template.len()) as u64);
                let copies: Vec<Vec<u8>> = (0..chunk).map(|_| template.clone()).collect();
                let started = Instant::now();
                for mut batch in copies {
                    black_box(log.append(&mut batch).expect("append"));
                }
                elapsed += started.elapsed();
            }
            elapsed
        });
    });
    drop(log);

    let rt = runtime();
    let mut topic = BenchTopic::start(&rt, BrokerConfig::default().arbiters, "append", 1);
    group.bench_function(BenchmarkId::new("actors_in_flight", IN_FLIGHT), |b| {
        b.iter_custom(|iters| rt.block_on(append_through_actors(&mut topic, &template, iters, 1, IN_FLIGHT)));
    });
    topic.shutdown(&rt);
    group.finish();
}

fn append_partitions(c: &mut Criterion) {
    const ARBITERS: usize = 2;
    const IN_FLIGHT_PER_PARTITION: usize = 4;
    let mut group = c.benchmark_group("append_1mib_partitions");
    group.sample_size(20).warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(8));
    let template = batch_1mib();
    group.throughput(Throughput::Bytes(template.len() as u64));
    let rt = runtime();
    for partitions in [1u32, 4] {
        let mut topic = BenchTopic::start(&rt, ARBITERS, "spread", partitions);
        let id = BenchmarkId::new(format!("{ARBITERS}_arbiters"), format!("{partitions}_partitions"));
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                rt.block_on(append_through_actors(&mut topic, &template, iters, partitions, IN_FLIGHT_PER_PARTITION))
            });
        });
        topic.shutdown(&rt);
    }
    group.finish();
}

fn long_poll_wakeup(c: &mut Criterion) {
    let mut group = c.benchmark_group("long_poll_wakeup");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(8));
    let rt = runtime();
    let topic = BenchTopic::start(&rt, BrokerConfig::default().arbiters, "wakeup", 1);
    let template = encode_batch(&[Message::new(&b"ping"[..])], TIMESTAMP, None);
    let mut next = 0u64;
    let latencies = Arc::new(Mutex::new(Vec::new()));
    group.bench_function("append_to_poll_return", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let broker = topic.broker.clone();
                    let request = PollRequest::new(PollingStrategy::Offset(next)).wait(Duration::from_secs(5));
                    let poll = tokio::spawn(async move {
                        let polled = broker.poll(DEFAULT_STREAM, "wakeup", 0, request).await.expect("poll");
                        (Instant::now(), polled.messages.len())
                    });
                    // Wait (untimed) until the poll is parked.
                    loop {
                        let details = topic.broker.topic(DEFAULT_STREAM, "wakeup").await.expect("describe");
                        if details.partitions[0].parked_polls > 0 {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                    let batch = template.clone();
                    let sent = Instant::now();
                    topic.broker.append_batch(DEFAULT_STREAM, "wakeup", 0, batch).await.expect("append");
                    let (returned, count) = poll.await.expect("poll task");
                    assert_eq!(count, 1, "the woken poll returns the appended message");
                    let latency = returned.duration_since(sent);
                    latencies.lock().expect("latencies").push(latency);
                    elapsed += latency;
                    next += 1;
                }
                elapsed
            })
        });
    });
    group.finish();
    topic.shutdown(&rt);
    report_latencies("long_poll_wakeup/append_to_poll_return", &mut latencies.lock().expect("latencies"));
}

/// Prints the distribution of individual wake-ups (criterion's figures are per-sample means).
#[allow(clippy::print_stdout)]
fn report_latencies(name: &str, latencies: &mut [Duration]) {
    if latencies.is_empty() {
        return;
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name}: {} wake-ups (warm-up included): p50 {:.1?}, p90 {:.1?}, p99 {:.1?}, max {:.1?}",
        latencies.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}

criterion_group!(benches, append_actor_vs_storage, append_partitions, long_poll_wakeup);
criterion_main!(benches);
