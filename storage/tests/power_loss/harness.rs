//! Shared setup and bookkeeping for the power-loss tests: the seeds each test runs, random log configurations,
//! opening the log, random batches, appending them while recording each in the [`Model`] of expected contents,
//! and the small offset helpers the tests use to keep that model in step with what may legitimately be lost.

use std::collections::BTreeMap;
use std::sync::Arc;

use callboard_protocol::batch::{BatchBuilder, BatchHeader, RecordData};
use callboard_storage::{Durability, Env, LogConfig, PartitionLog, SimEnv};
use rand::Rng;
use rand::rngs::StdRng;

/// Partition directory inside the simulated file system.
pub(crate) const DIR: &str = "/p/0";
/// Replays a single iteration with this seed instead of all of them.
pub(crate) const SEED_VAR: &str = "CALLBOARD_POWER_LOSS_SEED";

/// Every batch appended and still expected at its offset: base offset → exact stored bytes.
pub(crate) type Model = BTreeMap<u64, Vec<u8>>;

/// The seeds one test runs: `count` seeds derived from `base`, or the one in `CALLBOARD_POWER_LOSS_SEED`.
pub(crate) fn seeds(base: u64, count: u64) -> Vec<u64> {
    match std::env::var(SEED_VAR) {
        Ok(s) => vec![parse_seed(&s)],
        Err(_) => (0..count).map(|i| base.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))).collect(),
    }
}

fn parse_seed(s: &str) -> u64 {
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.unwrap_or_else(|e| panic!("{SEED_VAR}={s:?} is not a seed: {e}"))
}

/// A log configuration with small segments and dense indexes, so rolls and index writes happen often.
pub(crate) fn random_config(rng: &mut StdRng, durability: Durability) -> LogConfig {
    LogConfig {
        segment_bytes: rng.random_range(1024..=8192),
        index_interval_bytes: rng.random_range(32..=1024),
        durability,
        ..LogConfig::default()
    }
}

pub(crate) fn open(env: &SimEnv, config: &LogConfig, ctx: &str) -> PartitionLog {
    PartitionLog::open_in(Arc::new(env.clone()), DIR, config.clone())
        .unwrap_or_else(|e| panic!("{ctx}: opening the log failed: {e}"))
}

/// A batch of 1–8 records with unique keys and random values (usually small, now and then larger than a segment).
pub(crate) fn random_batch(rng: &mut StdRng, next_seq: &mut u64, now_ms: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new();
    let big = rng.random_bool(0.03);
    for _ in 0..rng.random_range(1..=8) {
        let key = next_seq.to_string();
        *next_seq += 1;
        let len = if big { rng.random_range(1000..=3000) } else { rng.random_range(0..=200) };
        // Cheap bytes (xorshift seeded from the test's RNG): a debug-build ChaCha per byte would dominate the run.
        let mut x = rng.random::<u64>() | 1;
        let value: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let timestamp = now_ms + rng.random_range(-5..=5);
        builder.push(&RecordData { timestamp, key: Some(key.as_bytes()), value: Some(&value), ..Default::default() });
    }
    builder.finish()
}

/// Appends a random batch and records it in the model. Returns its base offset and the offset after it.
pub(crate) fn append_random(
    log: &mut PartitionLog,
    env: &SimEnv,
    rng: &mut StdRng,
    next_seq: &mut u64,
    model: &mut Model,
    ctx: &str,
) -> (u64, u64) {
    let mut batch = random_batch(rng, next_seq, env.now_ms());
    let appended = log.append(&mut batch).unwrap_or_else(|e| panic!("{ctx}: append failed: {e}"));
    assert!(
        model.range(appended.base_offset..).next().is_none(),
        "{ctx}: append reused offset {} already in the model",
        appended.base_offset
    );
    model.insert(appended.base_offset, batch);
    (appended.base_offset, appended.next_offset)
}

/// Offset where the active (last) segment starts: everything below it is in sealed, fsynced segments.
pub(crate) fn sealed_end(log: &PartitionLog) -> u64 {
    log.segments().last().map_or(0, |s| s.base_offset)
}

/// After a reopen: drops from the model what the crash legitimately lost (everything at or after the new end).
pub(crate) fn forget_lost_tail(model: &mut Model, end: u64) {
    model.split_off(&end);
}

/// Offset after the batch `bytes`.
pub(crate) fn batch_end(bytes: &[u8]) -> u64 {
    BatchHeader::parse(bytes).map_or(0, |h| h.next_offset())
}
