//! Criterion benchmarks of the partition log's hot paths: append under `never` and `always` (one appender with
//! 1 MiB batches, and eight concurrent appenders sharing fsyncs), sequential reads from the page cache, and offset
//! and timestamp lookups.
//!
//! Data lives in a temporary directory under `CALLBOARD_BENCH_DIR` (default: the system temp directory). Logs are
//! recreated outside the timed region before they pass 1 GiB, so disk use stays bounded and no measured append
//! includes a segment roll (the roll's fsync is reported separately by `append_never_1mib_with_rolls`).

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callboard_protocol::batch::{BatchBuilder, RecordData};
use callboard_storage::{Durability, LogConfig, PartitionLog};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tempfile::TempDir;

const MIB: usize = 1 << 20;
const LOG_LIMIT: u64 = 1 << 30;

fn bench_dir() -> TempDir {
    match std::env::var_os("CALLBOARD_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir).expect("bench dir"),
        None => tempfile::tempdir().expect("temp dir"),
    }
}

/// A batch of `count` records of `size` bytes each.
fn batch(count: usize, size: usize) -> Vec<u8> {
    let value: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut b = BatchBuilder::with_capacity(count * (size + 16) + 64);
    for i in 0..count {
        b.push(&RecordData { timestamp: 1_700_000_000_000 + i as i64, value: Some(&value), ..Default::default() });
    }
    b.finish()
}

/// A log that is recreated (outside the timing) before it grows past [`LOG_LIMIT`].
struct BenchLog {
    config: LogConfig,
    dir: TempDir,
    log: Option<PartitionLog>,
}

impl BenchLog {
    fn new(config: LogConfig) -> Self {
        let dir = bench_dir();
        let log = PartitionLog::open(dir.path(), config.clone()).expect("open");
        BenchLog { config, dir, log: Some(log) }
    }

    fn log(&mut self, next_bytes: u64) -> &mut PartitionLog {
        let size = self.log.as_ref().map_or(0, PartitionLog::size_bytes);
        if size + next_bytes > LOG_LIMIT {
            drop(self.log.take());
            self.dir = bench_dir();
            self.log = Some(PartitionLog::open(self.dir.path(), self.config.clone()).expect("reopen"));
        }
        self.log.as_mut().expect("log")
    }
}

fn config(durability: Durability) -> LogConfig {
    LogConfig { durability, segment_bytes: 2 << 30, ..LogConfig::default() }
}

fn append_single(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_1mib");
    group.sample_size(20).measurement_time(Duration::from_secs(8));
    let template = batch(1, MIB - 100);
    group.throughput(Throughput::Bytes(template.len() as u64));
    for (name, durability) in [("never", Durability::Never), ("always", Durability::Always)] {
        let mut bench = BenchLog::new(config(durability));
        let mut buf = template.clone();
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let log = bench.log(buf.len() as u64);
                    let started = Instant::now();
                    let appended = log.append(&mut buf).expect("append");
                    if durability == Durability::Always {
                        log.committer().sync_to(appended.next_offset).expect("sync");
                    }
                    elapsed += started.elapsed();
                }
                elapsed
            });
        });
    }
    group.finish();
}

fn append_with_rolls(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_never_1mib_with_rolls");
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    let template = batch(1, MIB - 100);
    group.throughput(Throughput::Bytes(template.len() as u64));
    let config = LogConfig { durability: Durability::Never, segment_bytes: 256 << 20, ..LogConfig::default() };
    let dir = bench_dir();
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    let mut buf = template.clone();
    group.bench_function("segment_256mib", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                log.append(&mut buf).expect("append");
                elapsed += started.elapsed();
                if log.size_bytes() > LOG_LIMIT {
                    let end = log.next_offset();
                    log.delete_records_before(end).expect("trim");
                }
            }
            elapsed
        });
    });
    group.finish();
}

fn append_concurrent(c: &mut Criterion) {
    const WRITERS: usize = 8;
    let mut group = c.benchmark_group("append_always_concurrent");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    let template = batch(1000, 1000);
    group.throughput(Throughput::Bytes((template.len() * WRITERS) as u64));
    let dir = bench_dir();
    let log = PartitionLog::open(dir.path(), config(Durability::Always)).expect("open");
    let committer = log.committer();
    let log = Arc::new(Mutex::new(log));
    group.bench_function(BenchmarkId::new("writers_x_1000x1kb", WRITERS), |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..WRITERS {
                    let (log, committer, mut buf) = (&log, &committer, template.clone());
                    s.spawn(move || {
                        for _ in 0..iters {
                            let appended = log.lock().expect("lock").append(&mut buf).expect("append");
                            committer.sync_to(appended.next_offset).expect("sync");
                        }
                    });
                }
            });
            let elapsed = started.elapsed();
            let mut log = log.lock().expect("lock");
            if log.size_bytes() > LOG_LIMIT {
                let end = log.next_offset();
                log.delete_records_before(end).expect("trim");
            }
            elapsed
        });
    });
    group.finish();
}

fn read_sequential(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_sequential");
    group.sample_size(20);
    let dir = bench_dir();
    let mut log = PartitionLog::open(dir.path(), config(Durability::Never)).expect("open");
    let template = batch(64, 1000);
    let total: u64 = 256 << 20;
    while log.size_bytes() < total {
        log.append(&mut template.clone()).expect("append");
    }
    let end = log.next_offset();
    for max_bytes in [MIB, 4 * MIB] {
        group.throughput(Throughput::Bytes(log.size_bytes()));
        group.bench_function(BenchmarkId::new("whole_log_256mib", format!("{}mib_reads", max_bytes / MIB)), |b| {
            b.iter(|| {
                let mut at = 0;
                while at < end {
                    let read = log.read(at, max_bytes).expect("read");
                    at = read.next_offset;
                    black_box(read.bytes);
                }
            });
        });
    }
    group.finish();
}

fn lookups(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup");
    let dir = bench_dir();
    let mut log = PartitionLog::open(dir.path(), config(Durability::Never)).expect("open");
    // 100 000 batches of 10 records of 100 bytes, timestamps rising by 1 ms per record.
    let value = [7u8; 100];
    for i in 0..100_000i64 {
        let mut b = BatchBuilder::new();
        for j in 0..10 {
            b.push(&RecordData { timestamp: i * 10 + j, value: Some(&value), ..Default::default() });
        }
        log.append(&mut b.finish()).expect("append");
    }
    let end = log.next_offset();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    group.bench_function("offset_random_1m_records", |b| {
        b.iter(|| black_box(log.read(next() % end, 1).expect("read")));
    });
    group.bench_function("timestamp_random_1m_records", |b| {
        b.iter(|| black_box(log.offset_for_timestamp((next() % end) as i64).expect("lookup")));
    });
    group.finish();
}

criterion_group!(benches, append_single, append_with_rolls, append_concurrent, read_sequential, lookups);
criterion_main!(benches);
