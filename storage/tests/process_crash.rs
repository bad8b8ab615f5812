//! Process-crash test of `PartitionLog` on the real file system.
//!
//! A writer runs in a child process: the test binary re-invokes itself (`--exact crash_writer_child`) with
//! `CALLBOARD_CRASH_WRITER_DIR` set, which turns the otherwise empty `crash_writer_child` test into a writer. The
//! writer opens a [`PartitionLog`] with small segments (so segments roll) and two threads append batches forever
//! through a shared `Arc<Mutex<PartitionLog>>`, waiting for durability through the shared [`Committer`] outside the
//! lock (group commit). Every record's key is a sequence number and its value, timestamp and its batch's size are
//! derived from it, so any stored batch can be checked on its own. After each acknowledged append (after
//! `sync_to` under `Durability::Always`, right after `append` under `Durability::Never`) the writer prints
//! `ack <base_offset> <record_count> <first_seq>`.
//!
//! The parent runs [`TRIALS`] trials, alternating `Always` and `Never`, each in a fresh directory. It kills the
//! child with SIGKILL a random 20–150 ms after its first acknowledgement, reopens the log and proves:
//!
//! * (a) every acknowledged batch is readable at its base offset, passes `validate()`, and holds exactly the
//!   records its sequence numbers imply;
//! * (b) the log is contiguous from offset 0 to its end and every stored batch — acknowledged or not — is valid and
//!   self-consistent, each sequence number appearing at most once: only an unacknowledged tail can be missing, and
//!   nothing unacknowledged is corrupt;
//! * (c) the highest acknowledged offset is below the recovered log end.
//!
//! The run is reproducible up to thread scheduling: set `CALLBOARD_CRASH_SEED` to replay the kill delays of a
//! failed run (the seed is printed in every assertion message).
//!
//! [`Committer`]: callboard_storage::Committer

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callboard_protocol::batch::{BatchBuilder, BatchHeader, BatchRef, RecordData, validate};
use callboard_storage::{Durability, LogConfig, PartitionLog};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Name of the test that acts as the writer when [`DIR_VAR`] is set.
const WRITER_TEST: &str = "crash_writer_child";
/// Directory the child writer appends to; its presence turns the writer test on.
const DIR_VAR: &str = "CALLBOARD_CRASH_WRITER_DIR";
/// `always` or `never`: the writer's durability.
const DURABILITY_VAR: &str = "CALLBOARD_CRASH_WRITER_DURABILITY";
/// Overrides the parent's random seed (to replay a failure).
const SEED_VAR: &str = "CALLBOARD_CRASH_SEED";
/// Number of kill-and-recover trials.
const TRIALS: u32 = 50;
/// Writer threads sharing the log.
const WRITER_THREADS: usize = 2;
/// Segment size of the writer's log: small, so that segments roll during a trial.
const SEGMENT_BYTES: u64 = 64 << 10;
/// A writer stops by itself after this long, in case its parent vanished without killing it.
const WRITER_LIFETIME: Duration = Duration::from_secs(60);
/// Timestamp of sequence number 0.
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

/// One acknowledgement line of the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ack {
    base_offset: u64,
    record_count: u32,
    first_seq: u64,
}

fn log_config(durability: Durability) -> LogConfig {
    // Records carry old timestamps (derived from their sequence numbers): no age-based rolls, only size-based.
    LogConfig {
        segment_bytes: SEGMENT_BYTES,
        segment_age: None,
        index_interval_bytes: 1024,
        durability,
        ..LogConfig::default()
    }
}

/// SplitMix64: a cheap, well-mixed function of a sequence number.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Records in the batch whose first record has sequence number `first_seq`.
fn batch_len_for(first_seq: u64) -> u32 {
    1 + (mix(first_seq ^ 0x5eed) % 12) as u32
}

/// The value of record `seq`, all derived from `seq`: usually 0 to 699 bytes, one time in 40 4 to 20 KiB (large
/// writes span several pages, so a kill can land in the middle of one and leave a torn tail).
fn value_for(seq: u64) -> Vec<u8> {
    let r = mix(seq ^ 0xa11ce);
    let len = if r.is_multiple_of(40) { 4096 + (r >> 8) % 16384 } else { r % 700 } as usize;
    let m = mix(seq);
    (0..len).map(|i| (m >> ((i % 8) * 8)) as u8 ^ (i as u8)).collect()
}

fn timestamp_for(seq: u64) -> i64 {
    BASE_TIMESTAMP + seq as i64
}

/// The batch of records `first_seq..first_seq + batch_len_for(first_seq)`.
fn build_batch(first_seq: u64) -> Vec<u8> {
    let mut builder = BatchBuilder::with_capacity(8 << 10);
    for seq in first_seq..first_seq + u64::from(batch_len_for(first_seq)) {
        let key = seq.to_string();
        let value = value_for(seq);
        builder.push(&RecordData {
            timestamp: timestamp_for(seq),
            key: Some(key.as_bytes()),
            value: Some(&value),
            ..Default::default()
        });
    }
    builder.finish()
}

// ---------------------------------------------------------------------------------------------------------------
// The writer (child process).
// ---------------------------------------------------------------------------------------------------------------

/// Does nothing in a normal run. With `CALLBOARD_CRASH_WRITER_DIR` set (only by
/// `acknowledged_batches_survive_sigkill`, which starts it in a child process) it appends to a log in that directory
/// until it is killed, printing one `ack` line per acknowledged batch.
#[test]
fn crash_writer_child() {
    let Some(dir) = std::env::var_os(DIR_VAR) else { return };
    let durability = match std::env::var(DURABILITY_VAR).as_deref() {
        Ok("always") => Durability::Always,
        Ok("never") => Durability::Never,
        other => panic!("{DURABILITY_VAR} must be `always` or `never`, got {other:?}"),
    };
    run_writer(&PathBuf::from(dir), durability);
}

fn run_writer(dir: &Path, durability: Durability) -> ! {
    let log = PartitionLog::open(dir, log_config(durability)).expect("writer: open the log");
    let committer = log.committer();
    let log = Arc::new(Mutex::new(log));
    let next_seq = Arc::new(AtomicU64::new(0));
    {
        // The harness has printed `test crash_writer_child ... ` without a newline; start acks on a fresh line.
        let mut out = std::io::stdout().lock();
        writeln!(out).and_then(|()| out.flush()).expect("writer: write to stdout");
    }
    let started = Instant::now();
    let threads: Vec<_> = (0..WRITER_THREADS)
        .map(|_| {
            let log = Arc::clone(&log);
            let committer = Arc::clone(&committer);
            let next_seq = Arc::clone(&next_seq);
            std::thread::spawn(move || {
                while started.elapsed() < WRITER_LIFETIME {
                    // Sequence numbers are reserved before the batch is built, so the two threads' batches may land
                    // in either order; each batch stays self-describing.
                    let first_seq = loop {
                        let current = next_seq.load(Ordering::SeqCst);
                        let n = u64::from(batch_len_for(current));
                        if next_seq.compare_exchange(current, current + n, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                            break current;
                        }
                    };
                    let mut batch = build_batch(first_seq);
                    let appended = {
                        let mut log = log.lock().expect("writer: log mutex poisoned");
                        log.append(&mut batch)
                    };
                    let appended = appended.unwrap_or_else(|e| writer_fail(&format!("append failed: {e}")));
                    if durability == Durability::Always
                        && let Err(e) = committer.sync_to(appended.next_offset)
                    {
                        writer_fail(&format!("sync_to failed: {e}"));
                    }
                    let count = appended.next_offset - appended.base_offset;
                    let mut out = std::io::stdout().lock();
                    if writeln!(out, "ack {} {count} {first_seq}", appended.base_offset)
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        // The parent is gone (broken pipe): stop quietly.
                        std::process::exit(0);
                    }
                }
                std::process::exit(0);
            })
        })
        .collect();
    for thread in threads {
        if thread.join().is_err() {
            writer_fail("a writer thread panicked");
        }
    }
    std::process::exit(0)
}

fn writer_fail(msg: &str) -> ! {
    let mut err = std::io::stderr().lock();
    // Nothing more can be done if stderr is gone too.
    let _ = writeln!(err, "writer: {msg}");
    std::process::exit(2)
}

// ---------------------------------------------------------------------------------------------------------------
// The parent: kill, recover, verify.
// ---------------------------------------------------------------------------------------------------------------

/// Kills and reaps the child when dropped, so a failing trial never leaves a writer running.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // The child may already be dead and reaped; both errors are expected then.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Parses one complete stdout line of the writer; anything else (harness output) is `None`.
fn parse_ack(line: &str) -> Option<Ack> {
    let mut parts = line.strip_prefix("ack ")?.split(' ');
    let ack = Ack {
        base_offset: parts.next()?.parse().ok()?,
        record_count: parts.next()?.parse().ok()?,
        first_seq: parts.next()?.parse().ok()?,
    };
    parts.next().is_none().then_some(ack)
}

/// What one trial observed, for the summary.
#[derive(Debug, Default)]
struct TrialStats {
    acks: usize,
    batches: usize,
    unacked_batches: usize,
    segments: usize,
    trials_with_roll: usize,
    cut_bytes: u64,
}

/// Checks one stored batch on its own: valid, and its records are exactly those its first sequence number implies.
/// Returns the first sequence number.
fn check_batch(bytes: &[u8], ctx: &str) -> u64 {
    let batch: BatchRef<'_> = validate(bytes).unwrap_or_else(|e| panic!("{ctx}: stored batch fails validation: {e}"));
    let header = *batch.header();
    let mut first_seq = None;
    let mut count = 0u32;
    for (i, record) in batch.records().enumerate() {
        let record = record.unwrap_or_else(|e| panic!("{ctx}: record {i}: {e}"));
        let key = record.key.unwrap_or_else(|| panic!("{ctx}: record {i} has no key"));
        let seq: u64 = std::str::from_utf8(key)
            .ok()
            .and_then(|k| k.parse().ok())
            .unwrap_or_else(|| panic!("{ctx}: record {i} key {key:?} is not a sequence number"));
        let first = *first_seq.get_or_insert(seq);
        assert_eq!(seq, first + i as u64, "{ctx}: record {i} has sequence {seq}, expected {}", first + i as u64);
        assert_eq!(record.offset, header.base_offset + i as u64, "{ctx}: record {i} offset");
        assert_eq!(record.timestamp, timestamp_for(seq), "{ctx}: record {i} (seq {seq}) timestamp");
        assert!(record.value == Some(&value_for(seq)[..]), "{ctx}: record {i} (seq {seq}) value differs");
        count += 1;
    }
    let first = first_seq.unwrap_or_else(|| panic!("{ctx}: batch has no records"));
    assert_eq!(count, header.record_count, "{ctx}: record count");
    assert_eq!(count, batch_len_for(first), "{ctx}: batch starting at seq {first} has the wrong number of records");
    first
}

/// Reopens the log after the kill and checks (a), (b) and (c).
fn verify_trial(dir: &Path, durability: Durability, acks: &[Ack], ctx: &str) -> TrialStats {
    let log = PartitionLog::open(dir, log_config(durability))
        .unwrap_or_else(|e| panic!("{ctx}: reopening after the kill failed: {e}"));
    let start = log.log_start_offset();
    let end = log.next_offset();
    assert_eq!(start, 0, "{ctx}: log start moved");

    // (b) Walk the whole log: contiguous offsets, every batch valid and self-consistent.
    let mut stored: BTreeMap<u64, (u32, u64)> = BTreeMap::new();
    let mut seqs = HashSet::new();
    let mut at = start;
    while at < end {
        let read = log.read(at, 1 << 20).unwrap_or_else(|e| panic!("{ctx}: read at {at} (log end {end}): {e}"));
        assert!(!read.bytes.is_empty(), "{ctx}: read at {at} below the log end {end} returned nothing");
        let mut buf = &read.bytes[..];
        while !buf.is_empty() {
            let header = BatchHeader::parse(buf).unwrap_or_else(|e| panic!("{ctx}: batch header at {at}: {e}"));
            assert_eq!(header.base_offset, at, "{ctx}: offsets are not contiguous");
            let (bytes, rest) = buf.split_at(header.total_len());
            let first_seq = check_batch(bytes, &format!("{ctx}: batch at offset {at}"));
            for seq in first_seq..first_seq + u64::from(header.record_count) {
                assert!(seqs.insert(seq), "{ctx}: sequence number {seq} stored twice (second at offset {at})");
            }
            stored.insert(at, (header.record_count, first_seq));
            at = header.next_offset();
            buf = rest;
        }
        assert_eq!(read.next_offset, at, "{ctx}: read.next_offset disagrees with the batches returned");
    }
    assert_eq!(at, end, "{ctx}: the batches do not end at the log end");

    // (a) Every acknowledged batch, read at its own base offset, is intact and is what was acknowledged.
    let mut acked = HashSet::new();
    for ack in acks {
        let actx = format!("{ctx}: acknowledged {ack:?}");
        assert!(acked.insert(ack.base_offset), "{actx}: base offset acknowledged twice");
        let read = log.read(ack.base_offset, 1).unwrap_or_else(|e| panic!("{actx}: not readable (log end {end}): {e}"));
        let header = BatchHeader::parse(&read.bytes).unwrap_or_else(|e| panic!("{actx}: missing or bad header: {e}"));
        assert_eq!(header.base_offset, ack.base_offset, "{actx}: read returned another batch");
        assert_eq!(header.record_count, ack.record_count, "{actx}: record count");
        let bytes =
            read.bytes.get(..header.total_len()).unwrap_or_else(|| panic!("{actx}: read returned a partial batch"));
        let first_seq = check_batch(bytes, &actx);
        assert_eq!(first_seq, ack.first_seq, "{actx}: holds other records");
        assert_eq!(stored.get(&ack.base_offset), Some(&(ack.record_count, ack.first_seq)), "{actx}: not in the walk");
    }

    // (c) The highest acknowledged offset is below the recovered end.
    if let Some(highest) = acks.iter().map(|a| a.base_offset + u64::from(a.record_count) - 1).max() {
        assert!(highest < end, "{ctx}: acknowledged offset {highest} is at or past the recovered log end {end}");
    }

    let stats = TrialStats {
        acks: acks.len(),
        batches: stored.len(),
        unacked_batches: stored.len() - acked.len(),
        segments: log.segments().len(),
        trials_with_roll: usize::from(log.segments().len() > 1),
        cut_bytes: log.recovery_report().map_or(0, |r| r.truncated_bytes),
    };
    log.close().unwrap_or_else(|e| panic!("{ctx}: close after verification: {e}"));
    stats
}

/// Runs one trial: start a writer, kill it `delay` after its first acknowledgement, verify the log.
fn run_trial(trial: u32, durability: Durability, delay: Duration, ctx: &str) -> TrialStats {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{ctx}: tempdir: {e}"));
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{ctx}: current_exe: {e}"));
    let mode = if durability == Durability::Always { "always" } else { "never" };
    let mut child = KillOnDrop(
        Command::new(exe)
            .args(["--exact", WRITER_TEST, "--nocapture", "--test-threads=1"])
            .env(DIR_VAR, dir.path())
            .env(DURABILITY_VAR, mode)
            .env_remove(SEED_VAR)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{ctx}: spawning the writer: {e}")),
    );
    let stdout = child.0.stdout.take().unwrap_or_else(|| panic!("{ctx}: no stdout pipe"));
    let mut stderr = child.0.stderr.take().unwrap_or_else(|| panic!("{ctx}: no stderr pipe"));

    // Acks are read on a thread, so the parent can kill at the moment it chose.
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut out = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match out.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                // Only complete lines count: a line cut short by the kill is not an acknowledgement.
                Ok(_) if line.ends_with(b"\n") => {
                    if let Some(ack) = std::str::from_utf8(&line).ok().and_then(|l| parse_ack(l.trim_end()))
                        && tx.send(ack).is_err()
                    {
                        break;
                    }
                }
                Ok(_) => {}
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        // Whatever was read before an error is still worth showing.
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let first = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(ack) => ack,
        Err(e) => {
            drop(child);
            let stderr = err_reader.join().unwrap_or_default();
            panic!("{ctx}: trial {trial}: no acknowledgement from the writer ({e}); its stderr:\n{stderr}");
        }
    };
    std::thread::sleep(delay);
    if let Ok(Some(status)) = child.0.try_wait() {
        let stderr = err_reader.join().unwrap_or_default();
        panic!("{ctx}: the writer exited by itself ({status}) before the kill; its stderr:\n{stderr}");
    }
    child.0.kill().unwrap_or_else(|e| panic!("{ctx}: SIGKILL: {e}"));
    let status = child.0.wait().unwrap_or_else(|e| panic!("{ctx}: waiting for the writer: {e}"));
    reader.join().unwrap_or_else(|_| panic!("{ctx}: stdout reader panicked"));
    let stderr = err_reader.join().unwrap_or_default();
    assert!(status.code().is_none(), "{ctx}: the writer exited with {status} instead of being killed:\n{stderr}");

    let mut acks = vec![first];
    acks.extend(rx.try_iter());
    verify_trial(dir.path(), durability, &acks, ctx)
}

/// Kills a two-threaded writer with SIGKILL at random moments and checks that recovery keeps every acknowledged
/// batch intact and leaves a contiguous, fully valid log (see the module documentation).
#[test]
fn acknowledged_batches_survive_sigkill() {
    let seed = std::env::var(SEED_VAR)
        .ok()
        .map(|s| s.parse::<u64>().unwrap_or_else(|e| panic!("{SEED_VAR}={s:?} is not a u64: {e}")))
        .unwrap_or_else(rand::random);
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut totals = [TrialStats::default(), TrialStats::default()];
    for trial in 0..TRIALS {
        let durability = if trial % 2 == 0 { Durability::Always } else { Durability::Never };
        let delay = Duration::from_millis(rng.random_range(20..=150));
        let ctx =
            format!("seed {seed} ({SEED_VAR}), trial {trial}, {durability:?}, kill {delay:?} after the first ack");
        let stats = run_trial(trial, durability, delay, &ctx);
        let total = &mut totals[(trial % 2) as usize];
        total.acks += stats.acks;
        total.batches += stats.batches;
        total.unacked_batches += stats.unacked_batches;
        total.segments += stats.segments;
        total.trials_with_roll += stats.trials_with_roll;
        total.cut_bytes += stats.cut_bytes;
    }
    for (name, total) in ["Always", "Never"].iter().zip(&totals) {
        eprintln!(
            "process_crash seed {seed}, {name}: {} trials, {} acks, {} batches recovered ({} unacknowledged), \
             {} segments ({} trials rolled), {} torn bytes cut, {:?} in all",
            TRIALS / 2,
            total.acks,
            total.batches,
            total.unacked_batches,
            total.segments,
            total.trials_with_roll,
            total.cut_bytes,
            started.elapsed(),
        );
    }
}
