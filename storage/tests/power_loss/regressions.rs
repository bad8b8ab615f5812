//! Deterministic reproductions of library bugs the power-loss tests found (all fixed): `flush()` skipping the
//! never-synced tail recovered after a process crash, a segment created by a roll interrupted before the directory
//! sync whose directory entry stays volatile, and `truncate_to` leaving the log end below the log start.

use callboard_protocol::batch::{BatchBuilder, RecordData};
use callboard_storage::{Durability, Env, LogConfig, SimEnv};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::harness::{DIR, Model, append_random, open};

/// Bug reproduction: after a process crash (the log dropped without `close`) and a reopen, `durable_offset()`
/// claims the whole recovered log is durable and `flush()` does nothing, although the recovered tail was never
/// synced; a power loss then loses batches that were "flushed".
#[test]
fn flush_after_recovering_from_a_process_crash_makes_the_tail_durable() {
    let env = SimEnv::new();
    let config = LogConfig { segment_bytes: 1 << 20, durability: Durability::Never, ..LogConfig::default() };
    let mut rng = StdRng::seed_from_u64(1);
    let mut model = Model::new();
    let mut next_seq = 0;
    let mut log = open(&env, &config, "first open");
    for _ in 0..10 {
        append_random(&mut log, &env, &mut rng, &mut next_seq, &mut model, "append");
    }
    let end = log.next_offset();
    drop(log); // the process dies; the page cache keeps the data
    let log = open(&env, &config, "reopen after the process crash");
    assert_eq!(log.next_offset(), end, "a process crash loses nothing");
    log.flush().expect("flush after recovery");
    assert_eq!(log.durable_offset(), end);
    env.crash();
    drop(log);
    let log = open(&env, &config, "reopen after the power loss");
    assert_eq!(log.next_offset(), end, "flush() returned, yet a power loss lost the recovered tail");
}

/// Bug reproduction: a process crash inside a segment roll, after the new segment's files were created but before
/// the directory was synced, leaves a segment whose directory entry is not durable. Reopening does not sync the
/// directory, so a batch appended to that segment and acknowledged after `sync_to` is lost by a power loss.
#[test]
fn acknowledged_append_after_a_crash_mid_roll_survives_power_loss() {
    let env = SimEnv::new();
    let config = LogConfig { durability: Durability::Always, ..LogConfig::default() };
    let mut rng = StdRng::seed_from_u64(2);
    let mut model = Model::new();
    let mut next_seq = 0;
    let mut log = open(&env, &config, "first open");
    for _ in 0..5 {
        append_random(&mut log, &env, &mut rng, &mut next_seq, &mut model, "append");
    }
    let end = log.next_offset();
    log.committer().sync_to(end).expect("sync");
    drop(log);
    // The state `roll()` leaves when the process dies between `Segment::create` and `sync_dir`: the old segment is
    // synced, the new one's files exist, but their directory entries are not durable yet.
    for ext in ["log", "index", "timeindex"] {
        let path = std::path::Path::new(DIR).join(format!("{end:020}.{ext}"));
        env.open_file(&path, true).expect("create the new segment's file");
    }
    let mut log = open(&env, &config, "reopen after the process crash");
    assert_eq!(log.segments().last().map(|s| s.base_offset), Some(end), "the new segment is the active one");
    let (base, next) = append_random(&mut log, &env, &mut rng, &mut next_seq, &mut model, "append after reopening");
    log.committer().sync_to(next).expect("sync");
    env.crash();
    drop(log);
    let log = open(&env, &config, "reopen after the power loss");
    assert!(
        log.next_offset() >= next,
        "the batch at {base}, acknowledged after sync_to({next}), was lost: the log ends at {}",
        log.next_offset()
    );
}

/// Bug reproduction: `truncate_to(offset)` with `offset` at the log start but inside a batch that begins below it
/// leaves the log end below the log start; the next append is then acknowledged at an offset no read can reach.
#[test]
fn truncate_to_never_leaves_the_end_below_the_start() {
    let env = SimEnv::new();
    let config = LogConfig { durability: Durability::Always, ..LogConfig::default() };
    let mut log = open(&env, &config, "open");
    let mut two = {
        let mut b = BatchBuilder::new();
        b.push(&RecordData { timestamp: 1, value: Some(b"a"), ..Default::default() });
        b.push(&RecordData { timestamp: 1, value: Some(b"b"), ..Default::default() });
        b.finish()
    };
    log.append(&mut two.clone()).expect("append [0, 2)");
    log.append(&mut two).expect("append [2, 4)");
    assert_eq!(log.delete_records_before(3).expect("delete before 3"), 3);
    let end = log.truncate_to(3).expect("truncate_to(3) is allowed: 3 is the log start");
    assert!(
        end >= log.log_start_offset(),
        "truncate_to(3) left the log end at {end}, below the log start {}",
        log.log_start_offset()
    );
    let mut one = {
        let mut b = BatchBuilder::new();
        b.push(&RecordData { timestamp: 1, value: Some(b"c"), ..Default::default() });
        b.finish()
    };
    let appended = log.append(&mut one).expect("append");
    log.committer().sync_to(appended.next_offset).expect("sync");
    let read = log.read(appended.base_offset, 1 << 10);
    assert!(read.is_ok(), "acknowledged batch at {} cannot be read: {:?}", appended.base_offset, read.err());
}
