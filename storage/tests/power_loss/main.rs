//! Power-loss tests of `PartitionLog` on the simulated file system ([`SimEnv`]).
//!
//! `SimEnv` keeps a volatile and a durable view of every file and directory. `crash()` throws away everything not
//! synced, as a power loss would; `crash_with(CrashMode::TornTail { keep_per_mille })` keeps part of each file's
//! unsynced appended tail, as a torn write would. Each test drives a log through random appends (random batch
//! sizes, small segments so that rolls and index entries happen) and crashes at random points, keeps a model of
//! every batch it appended (the exact bytes `append` stored, offsets stamped), reopens the log and proves:
//!
//! * (a) `Durability::Always`: every batch acknowledged by `committer().sync_to(next_offset)` survives `crash()` and
//!   torn crashes, even with unacknowledged appends after the last acknowledgement; reopening succeeds and the log
//!   is a clean prefix of what was appended. The same holds when two threads append and share fsyncs while the
//!   power fails under them.
//! * (b) `Durability::Interval` and `Durability::Never`: after a crash the log reopens as a clean prefix — every
//!   readable batch equals, byte for byte, the batch appended at that offset, offsets are contiguous and every CRC
//!   is valid — and everything made durable by `flush()`, a due interval sync, a segment roll or a clean `close()`
//!   survives.
//! * (c) `delete_records_before` and `truncate_to` mixed with appends and crashes leave a consistent log: it
//!   reopens, the log start never falls below a value `delete_records_before` returned, truncated batches never
//!   come back, and everything durable below the end survives.
//!
//! In every test the log's own claim is checked too: everything below `durable_offset()` at the moment of a power
//! loss must survive it.
//!
//! Every iteration seeds its own `StdRng` from a fixed base seed and its number, and every assertion message names
//! the seed, so a failure replays exactly (apart from thread interleavings in the concurrent test): set
//! `CALLBOARD_POWER_LOSS_SEED=<seed>` to run only that iteration.
//!
//! The helpers live in [`harness`] (seeds, configurations, random batches and the model of expected contents),
//! [`crash`] (the simulated power losses) and [`verify`] (checking a reopened log against the model); the
//! deterministic bug reproductions are in [`regressions`]. This file holds the randomized tests.
//!
//! [`SimEnv`]: callboard_storage::SimEnv

mod crash;
mod harness;
mod regressions;
mod verify;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callboard_storage::{Durability, Env, SimEnv};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crash::{power_loss, power_loss_with_garbage};
use harness::{
    Model, SEED_VAR, append_random, batch_end, forget_lost_tail, open, random_batch, random_config, sealed_end, seeds,
};
use verify::{assert_survived, check_clean_prefix};

/// (a) Under `Durability::Always`, batches acknowledged after `sync_to` survive power losses at random points.
#[test]
fn always_acknowledged_batches_survive_power_loss() {
    for seed in seeds(0xa1_0a75, 400) {
        let mut rng = StdRng::seed_from_u64(seed);
        let env = SimEnv::new();
        let config = random_config(&mut rng, Durability::Always);
        let mut ctx = format!("seed {seed:#x} ({SEED_VAR}), {config:?}");
        let mut log = open(&env, &config, &ctx);
        let mut model = Model::new();
        let mut next_seq = 0;
        let mut acked: Vec<u64> = Vec::new();
        let mut acked_end = 0;
        for cycle in 0..rng.random_range(1..=4) {
            for _ in 0..rng.random_range(0..=25) {
                // Several appends, then one sync for all of them: each is acknowledged once it returns.
                let mut pending = Vec::new();
                let mut last_next = 0;
                for _ in 0..rng.random_range(1..=4) {
                    let (base, next) = append_random(&mut log, &env, &mut rng, &mut next_seq, &mut model, &ctx);
                    pending.push(base);
                    last_next = next;
                }
                log.committer().sync_to(last_next).unwrap_or_else(|e| panic!("{ctx}: sync_to({last_next}): {e}"));
                assert!(log.durable_offset() >= last_next, "{ctx}: sync_to({last_next}) returned, not durable");
                acked.extend(pending);
                acked_end = last_next;
            }
            let unacked = if rng.random_bool(0.5) { rng.random_range(1..=6) } else { 0 };
            for _ in 0..unacked {
                append_random(&mut log, &env, &mut rng, &mut next_seq, &mut model, &ctx);
            }
            let claimed = log.durable_offset();
            let mode = power_loss_with_garbage(&env, &mut rng, &log);
            drop(log);
            ctx = format!("seed {seed:#x} ({SEED_VAR}), {config:?}, cycle {cycle}, {unacked} unacked, {mode}");
            log = open(&env, &config, &ctx);
            let end = log.next_offset();
            assert_eq!(log.log_start_offset(), 0, "{ctx}: log start moved");
            assert!(end >= acked_end, "{ctx}: log end {end} is below the last acknowledged offset {acked_end}");
            assert!(end >= claimed, "{ctx}: log end {end} is below durable_offset() {claimed} before the crash");
            let bases = check_clean_prefix(&log, &model, &mut rng, &ctx);
            for base in &acked {
                assert!(bases.binary_search(base).is_ok(), "{ctx}: acknowledged batch at {base} was lost");
            }
            if rng.random_bool(0.2) {
                // A second power loss right after recovery, before anything new is written.
                let mode = power_loss(&env, &mut rng);
                drop(log);
                let ctx = format!("{ctx}, then {mode:?} right after reopening");
                log = open(&env, &config, &ctx);
                assert_eq!(log.next_offset(), end, "{ctx}: recovery was not durable");
                check_clean_prefix(&log, &model, &mut rng, &ctx);
            }
            forget_lost_tail(&mut model, log.next_offset());
        }
    }
}

/// (a) With two threads appending and sharing fsyncs (group commit), a power loss at a random moment keeps every
/// acknowledged batch and leaves a clean prefix. The seed fixes the batches and the crash mode; the interleaving
/// of the threads, and so the exact crash point, varies from run to run.
#[test]
fn group_commit_acknowledgements_survive_power_loss_under_concurrency() {
    for seed in seeds(0x9c_0a75, 40) {
        let mut rng = StdRng::seed_from_u64(seed);
        let env = SimEnv::new();
        let config = random_config(&mut rng, Durability::Always);
        let ctx = format!("seed {seed:#x} ({SEED_VAR}), {config:?}");
        let log = open(&env, &config, &ctx);
        let committer = log.committer();
        let log = Arc::new(Mutex::new(log));
        let model = Arc::new(Mutex::new(Model::new()));
        let acked = Arc::new(Mutex::new(Vec::new()));
        // Set just before the power loss: a writer that fails while it is still unset found a real error.
        let crashed = Arc::new(AtomicBool::new(false));
        // Set just after it. A writer can outlive the power loss by an operation or two: a roll that sealed the
        // old segment before the crash creates the next one after it, with fresh handles. What it writes then is
        // consistent (and in the model), so the checks below still hold; the flag just ends it.
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                let (log, committer, model, acked, crashed, stop, env) = (
                    Arc::clone(&log),
                    Arc::clone(&committer),
                    Arc::clone(&model),
                    Arc::clone(&acked),
                    Arc::clone(&crashed),
                    Arc::clone(&stop),
                    env.clone(),
                );
                let mut rng = StdRng::seed_from_u64(seed ^ (t + 1));
                let mut next_seq = (t + 1) << 40;
                // Runs until the power loss makes an append or a sync fail; returns an error seen before it.
                std::thread::spawn(move || -> Result<(), String> {
                    while !stop.load(Ordering::SeqCst) {
                        let mut batch = random_batch(&mut rng, &mut next_seq, env.now_ms());
                        let appended = {
                            let mut log = log.lock().expect("log mutex poisoned");
                            match log.append(&mut batch) {
                                Ok(a) => {
                                    model.lock().expect("model mutex poisoned").insert(a.base_offset, batch);
                                    a
                                }
                                Err(_) if crashed.load(Ordering::SeqCst) => return Ok(()),
                                Err(e) => return Err(format!("append failed before the power loss: {e}")),
                            }
                        };
                        match committer.sync_to(appended.next_offset) {
                            Ok(()) => acked.lock().expect("ack mutex poisoned").push(appended.base_offset),
                            Err(_) if crashed.load(Ordering::SeqCst) => return Ok(()),
                            Err(e) => return Err(format!("sync_to failed before the power loss: {e}")),
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        std::thread::sleep(Duration::from_micros(rng.random_range(0..=20_000)));
        crashed.store(true, Ordering::SeqCst);
        let mode = power_loss(&env, &mut rng);
        stop.store(true, Ordering::SeqCst);
        let ctx = format!("{ctx}, {mode:?}");
        for t in threads {
            let result = t.join().unwrap_or_else(|_| panic!("{ctx}: a writer thread panicked"));
            result.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        }
        let acked = std::mem::take(&mut *acked.lock().expect("ack mutex poisoned"));
        let model = std::mem::take(&mut *model.lock().expect("model mutex poisoned"));
        drop(log);
        let log = open(&env, &config, &ctx);
        let bases = check_clean_prefix(&log, &model, &mut rng, &ctx);
        for base in &acked {
            assert!(bases.binary_search(base).is_ok(), "{ctx}: acknowledged batch at {base} was lost");
        }
    }
}

/// (b) Under `Interval` and `Never`, crashes leave a clean prefix that holds everything flushed, synced by a due
/// interval, sealed by a roll or written before a clean close.
#[test]
fn interval_and_never_recover_a_clean_prefix_with_everything_made_durable() {
    for seed in seeds(0xb0_0a75, 400) {
        let mut rng = StdRng::seed_from_u64(seed);
        let env = SimEnv::new();
        let interval_ms: i64 = rng.random_range(10..=500);
        let durability = if rng.random_bool(0.5) {
            Durability::Never
        } else {
            Durability::Interval(Duration::from_millis(interval_ms as u64))
        };
        let config = random_config(&mut rng, durability);
        let mut ctx = format!("seed {seed:#x} ({SEED_VAR}), {config:?}");
        let mut log = open(&env, &config, &ctx);
        let mut model = Model::new();
        let mut next_seq = 0;
        // Everything below this offset was made durable by something the test did.
        let mut guaranteed = 0;
        for cycle in 0..rng.random_range(1..=4) {
            for _ in 0..rng.random_range(0..=60) {
                match rng.random_range(0..100) {
                    0..75 => {
                        let advance = rng.random_range(0..=interval_ms * 2);
                        env.advance_ms(advance);
                        let (_, next) = append_random(&mut log, &env, &mut rng, &mut next_seq, &mut model, &ctx);
                        if matches!(durability, Durability::Interval(_)) && advance >= interval_ms {
                            // The last sync is at least an interval old: this append syncs inline.
                            guaranteed = next;
                        }
                    }
                    75..87 => {
                        log.flush().unwrap_or_else(|e| panic!("{ctx}: flush: {e}"));
                        guaranteed = log.next_offset();
                    }
                    87..95 => {
                        let advance = rng.random_range(0..=interval_ms * 2);
                        env.advance_ms(advance);
                        log.flush_if_due().unwrap_or_else(|e| panic!("{ctx}: flush_if_due: {e}"));
                        if matches!(durability, Durability::Interval(_)) && advance >= interval_ms {
                            guaranteed = log.next_offset();
                        }
                    }
                    95..98 => env.advance_ms(rng.random_range(0..=interval_ms * 2)),
                    _ => {
                        log.close().unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
                        log = open(&env, &config, &format!("{ctx}, reopening after a clean close"));
                        guaranteed = log.next_offset();
                    }
                }
                guaranteed = guaranteed.max(sealed_end(&log));
                assert!(
                    log.durable_offset() >= guaranteed,
                    "{ctx}: durable_offset() {} is below {guaranteed}, which is durable",
                    log.durable_offset()
                );
            }
            let claimed = log.durable_offset();
            let before = log.next_offset();
            let mode = power_loss_with_garbage(&env, &mut rng, &log);
            drop(log);
            ctx = format!("seed {seed:#x} ({SEED_VAR}), {config:?}, cycle {cycle}, {mode}");
            log = open(&env, &config, &ctx);
            let end = log.next_offset();
            assert_eq!(log.log_start_offset(), 0, "{ctx}: log start moved");
            assert!(end <= before, "{ctx}: log end {end} past the end {before} before the crash");
            assert!(end >= guaranteed, "{ctx}: log end {end} is below {guaranteed}, which was durable");
            assert!(end >= claimed, "{ctx}: log end {end} is below durable_offset() {claimed} before the crash");
            let bases = check_clean_prefix(&log, &model, &mut rng, &ctx);
            assert_survived(&bases, &model, 0, guaranteed, "durable", &ctx);
            forget_lost_tail(&mut model, end);
        }
    }
}

/// (c) `delete_records_before` and `truncate_to` interleaved with appends, flushes and crashes keep the log
/// consistent: it reopens, the log start never goes back below a value that was durably set, truncated batches
/// never reappear and durable data survives.
#[test]
fn delete_records_and_truncation_stay_consistent_across_power_loss() {
    for seed in seeds(0xc0_0a75, 400) {
        let mut rng = StdRng::seed_from_u64(seed);
        let env = SimEnv::new();
        let durability = match rng.random_range(0..3) {
            0 => Durability::Always,
            1 => Durability::Never,
            _ => Durability::Interval(Duration::from_millis(100)),
        };
        let config = random_config(&mut rng, durability);
        let mut ctx = format!("seed {seed:#x} ({SEED_VAR}), {config:?}");
        let mut log = open(&env, &config, &ctx);
        let mut model = Model::new();
        let mut next_seq = 0;
        let mut guaranteed = 0;
        // The largest log start `delete_records_before` returned: it is durable once returned.
        let mut durable_start = 0;
        for cycle in 0..rng.random_range(1..=5) {
            for step in 0..rng.random_range(0..=50) {
                let start = log.log_start_offset();
                let end = log.next_offset();
                match rng.random_range(0..100) {
                    0..60 => {
                        env.advance_ms(rng.random_range(0..=50));
                        let (_, next) = append_random(&mut log, &env, &mut rng, &mut next_seq, &mut model, &ctx);
                        if durability == Durability::Always {
                            log.committer().sync_to(next).unwrap_or_else(|e| panic!("{ctx}: sync_to: {e}"));
                            guaranteed = next;
                        }
                    }
                    60..70 => {
                        log.flush().unwrap_or_else(|e| panic!("{ctx}: flush: {e}"));
                        guaranteed = log.next_offset();
                    }
                    70..85 if start <= end => {
                        let offset = rng.random_range(start..=end);
                        let new_start = log
                            .delete_records_before(offset)
                            .unwrap_or_else(|e| panic!("{ctx}: step {step}: delete_records_before({offset}): {e}"));
                        assert_eq!(new_start, offset.max(start), "{ctx}: delete_records_before({offset})");
                        assert_eq!(log.log_start_offset(), new_start, "{ctx}: log start after deleting");
                        durable_start = durable_start.max(new_start);
                        // Forget batches wholly below the start: they may be gone for good.
                        let keep_from = model
                            .range(..=new_start)
                            .next_back()
                            .map_or(new_start, |(&b, bytes)| if batch_end(bytes) > new_start { b } else { new_start });
                        model = model.split_off(&keep_from);
                        if new_start < log.next_offset() {
                            log.read(new_start, 1)
                                .unwrap_or_else(|e| panic!("{ctx}: reading at the new log start {new_start}: {e}"));
                        }
                    }
                    85..95 if start < end => {
                        let offset = rng.random_range(start..end);
                        let holder = model
                            .range(..=offset)
                            .next_back()
                            .map(|(&b, _)| b)
                            .unwrap_or_else(|| panic!("{ctx}: no batch holds offset {offset}"));
                        let new_end = log
                            .truncate_to(offset)
                            .unwrap_or_else(|e| panic!("{ctx}: step {step}: truncate_to({offset}): {e}"));
                        // When the batch holding `offset` begins below the log start, the log restarts empty at
                        // its start (see `regressions::truncate_to_never_leaves_the_end_below_the_start`).
                        let expected = if holder < start { start } else { holder };
                        assert!(
                            new_end == expected,
                            "{ctx}: truncate_to({offset}) returned {new_end}; the batch holding it starts at {holder}"
                        );
                        assert_eq!(log.next_offset(), new_end, "{ctx}: log end after truncate_to({offset})");
                        assert_eq!(log.log_start_offset(), start, "{ctx}: truncate_to({offset}) moved the log start");
                        forget_lost_tail(&mut model, new_end);
                        guaranteed = guaranteed.min(new_end);
                    }
                    _ => {
                        log.close().unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
                        log = open(&env, &config, &format!("{ctx}, reopening after a clean close"));
                        guaranteed = log.next_offset();
                    }
                }
                guaranteed = guaranteed.max(sealed_end(&log));
                assert!(log.log_start_offset() >= durable_start, "{ctx}: log start went backwards in memory");
                assert!(
                    log.durable_offset() >= guaranteed,
                    "{ctx}: durable_offset() {} is below {guaranteed}, which is durable",
                    log.durable_offset()
                );
            }
            let claimed = log.durable_offset();
            let mode = power_loss_with_garbage(&env, &mut rng, &log);
            drop(log);
            ctx = format!("seed {seed:#x} ({SEED_VAR}), {config:?}, cycle {cycle}, {mode}");
            log = open(&env, &config, &ctx);
            let start = log.log_start_offset();
            let end = log.next_offset();
            assert!(start >= durable_start, "{ctx}: log start {start} fell below {durable_start}, durably set");
            assert!(start <= end, "{ctx}: reopened with log start {start} past the log end {end}");
            assert!(end >= guaranteed, "{ctx}: log end {end} is below {guaranteed}, which was durable");
            assert!(end >= claimed, "{ctx}: log end {end} is below durable_offset() {claimed} before the crash");
            let bases = check_clean_prefix(&log, &model, &mut rng, &ctx);
            assert_survived(&bases, &model, start, guaranteed, "durable", &ctx);
            forget_lost_tail(&mut model, end);
            durable_start = start;
        }
    }
}
