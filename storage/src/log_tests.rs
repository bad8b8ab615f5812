//! Unit tests of `PartitionLog` on the simulated file system: append/read, indexes, roll, retention,
//! `delete_records_before`, truncation, recovery and errors.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use callboard_protocol::batch::{BatchBuilder, RecordData, validate};

use super::*;
use crate::SimEnv;

const DIR: &str = "/data/topic-0";

fn batch(n: usize, ts: i64, size: usize) -> Vec<u8> {
    let value = vec![b'x'; size];
    let mut b = BatchBuilder::new();
    for i in 0..n {
        b.push(&RecordData { timestamp: ts + i as i64, value: Some(&value), ..Default::default() });
    }
    b.finish()
}

fn small_config() -> LogConfig {
    LogConfig { segment_bytes: 4096, index_interval_bytes: 256, durability: Durability::Never, ..LogConfig::default() }
}

fn open(env: &SimEnv, config: LogConfig) -> PartitionLog {
    PartitionLog::open_in(Arc::new(env.clone()), DIR, config).expect("open")
}

/// Offsets of every record readable from `from` to the end.
fn all_offsets(log: &PartitionLog, from: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut at = from;
    while at < log.next_offset() {
        let read = log.read(at, 1000).expect("read");
        assert!(!read.bytes.is_empty(), "read at {at} returned nothing");
        let mut buf = &read.bytes[..];
        while !buf.is_empty() {
            let header = BatchHeader::parse(buf).expect("header");
            let b = validate(&buf[..header.total_len()]).expect("stored batch valid");
            out.extend(b.records().map(|r| r.expect("record").offset).filter(|&o| o >= from));
            buf = &buf[header.total_len()..];
        }
        at = read.next_offset;
    }
    out
}

#[test]
fn append_assigns_offsets_and_reads_return_stored_bytes() {
    let env = SimEnv::new();
    let mut log = open(&env, small_config());
    let mut first = batch(3, 100, 10);
    let a = log.append(&mut first).expect("append");
    assert_eq!((a.base_offset, a.last_offset, a.next_offset), (0, 2, 3));
    let mut second = batch(2, 200, 10);
    let b = log.append(&mut second).expect("append");
    assert_eq!(b.base_offset, 3);
    let read = log.read(0, 1 << 20).expect("read");
    assert_eq!(read.bytes.len(), first.len() + second.len());
    assert_eq!(&read.bytes[..first.len()], &first[..]);
    assert_eq!(read.next_offset, 5);
    let mid = log.read(4, 1 << 20).expect("read");
    assert_eq!(&mid.bytes[..], &second[..], "a read mid-batch returns the whole batch holding the offset");
    assert!(log.read(5, 100).expect("at end").bytes.is_empty());
    assert!(matches!(log.read(6, 100), Err(StorageError::BeyondLogEnd { requested: 6, log_end: 5 })));
    let one = log.read(0, 1).expect("tiny max_bytes");
    assert_eq!(one.bytes.len(), first.len(), "at least one batch is always returned");
}

#[test]
fn invalid_and_oversized_batches_are_rejected_without_side_effects() {
    let env = SimEnv::new();
    let mut log = open(&env, LogConfig { max_batch_bytes: 200, ..small_config() });
    let mut bad = batch(1, 1, 10);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(log.append(&mut bad), Err(StorageError::InvalidBatch(_))));
    assert!(matches!(log.append(&mut batch(1, 1, 500)), Err(StorageError::BatchTooLarge { .. })));
    assert_eq!(log.next_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn segments_roll_by_size_and_reads_cross_them() {
    let env = SimEnv::new();
    let mut log = open(&env, small_config());
    for i in 0..40 {
        log.append(&mut batch(2, i * 10, 100)).expect("append");
    }
    let segs = log.segments();
    assert!(segs.len() >= 3, "expected several segments, got {}", segs.len());
    for pair in segs.windows(2) {
        assert_eq!(pair[0].next_offset, pair[1].base_offset, "segments are contiguous");
        assert!(pair[0].size_bytes <= 4096);
    }
    assert_eq!(all_offsets(&log, 0), (0..80).collect::<Vec<_>>());
    assert_eq!(all_offsets(&log, 37), (37..80).collect::<Vec<_>>());
    let names = env.files();
    assert!(names.iter().any(|p| p.ends_with("00000000000000000000.log")));
    assert!(names.iter().any(|p| p.to_string_lossy().ends_with(".timeindex")));
}

#[test]
fn segments_roll_by_age() {
    let env = SimEnv::new();
    let config = LogConfig { segment_age: Some(Duration::from_secs(60)), ..small_config() };
    let mut log = open(&env, config);
    let now = env.now_ms();
    log.append(&mut batch(1, now, 10)).expect("append");
    log.append(&mut batch(1, now, 10)).expect("append");
    assert_eq!(log.segments().len(), 1);
    env.advance_ms(61_000);
    log.append(&mut batch(1, now + 61_000, 10)).expect("append");
    assert_eq!(log.segments().len(), 2);
}

#[test]
fn index_lookups_find_every_offset() {
    let env = SimEnv::new();
    let config = LogConfig { segment_bytes: 1 << 20, index_interval_bytes: 64, ..small_config() };
    let mut log = open(&env, config);
    for i in 0..200 {
        log.append(&mut batch(1 + (i % 3) as usize, i * 10, 20)).expect("append");
    }
    let end = log.next_offset();
    for offset in 0..end {
        let read = log.read(offset, 1).expect("read");
        let b = validate(&read.bytes).expect("one whole batch");
        let h = b.header();
        assert!(h.base_offset <= offset && offset <= h.last_offset(), "offset {offset} not in {h:?}");
    }
}

#[test]
fn offset_for_timestamp_finds_first_record_at_or_after() {
    let env = SimEnv::new();
    let mut log = open(&env, small_config());
    // Batches of 3 records with timestamps t, t+1, t+2 for t = 0, 10, 20, ...
    for i in 0..60 {
        log.append(&mut batch(3, i * 10, 50)).expect("append");
    }
    assert!(log.segments().len() > 2);
    assert_eq!(log.offset_for_timestamp(-5).expect("lookup"), Some(0));
    assert_eq!(log.offset_for_timestamp(0).expect("lookup"), Some(0));
    assert_eq!(log.offset_for_timestamp(1).expect("lookup"), Some(1));
    assert_eq!(log.offset_for_timestamp(3).expect("lookup"), Some(3));
    assert_eq!(log.offset_for_timestamp(101).expect("lookup"), Some(31));
    assert_eq!(log.offset_for_timestamp(592).expect("lookup"), Some(179));
    assert_eq!(log.offset_for_timestamp(593).expect("lookup"), None);
    for ts in 0..593i64 {
        let want = (0..180u64).find(|o| (*o as i64 / 3) * 10 + (*o as i64 % 3) >= ts);
        assert_eq!(log.offset_for_timestamp(ts).expect("lookup"), want, "ts {ts}");
    }
}

#[test]
fn delete_records_before_advances_start_and_drops_whole_segments() {
    let env = SimEnv::new();
    let mut log = open(&env, small_config());
    for i in 0..40 {
        log.append(&mut batch(2, i, 100)).expect("append");
    }
    let segs = log.segments();
    let cut = segs[2].base_offset + 1;
    assert_eq!(log.delete_records_before(cut).expect("delete"), cut);
    assert_eq!(log.log_start_offset(), cut);
    assert_eq!(log.segments()[0].base_offset, segs[2].base_offset, "segments wholly below are gone");
    assert!(matches!(log.read(cut - 1, 100), Err(StorageError::BelowLogStart { .. })));
    assert!(log.read(cut, 100).is_ok());
    assert!(matches!(log.delete_records_before(1000), Err(StorageError::BeyondLogEnd { .. })));
    drop(log);
    let log = open(&env, small_config());
    assert_eq!(log.log_start_offset(), cut, "log start survives reopen");
    // Deleting everything rolls the active segment away.
    let mut log = log;
    let end = log.next_offset();
    log.delete_records_before(end).expect("delete all");
    assert_eq!(log.segments().len(), 1);
    assert_eq!(log.size_bytes(), 0);
    log.append(&mut batch(1, 0, 10)).expect("append after delete-all");
    assert_eq!(all_offsets(&log, end), vec![end]);
}

#[test]
fn retention_by_size_and_age() {
    let env = SimEnv::new();
    let config = LogConfig { retention_bytes: Some(8192), ..small_config() };
    let mut log = open(&env, config);
    for i in 0..100 {
        log.append(&mut batch(1, i, 200)).expect("append");
    }
    let report = log.enforce_retention().expect("retention");
    assert!(report.segments_deleted > 0);
    assert!(log.size_bytes() <= 8192 + 4096, "size {} after retention", log.size_bytes());
    assert_eq!(log.log_start_offset(), log.segments()[0].base_offset);
    assert_eq!(all_offsets(&log, log.log_start_offset()).last(), Some(&99));

    let env = SimEnv::new();
    let config = LogConfig { retention_age: Some(Duration::from_secs(10)), ..small_config() };
    let mut log = open(&env, config);
    let t0 = env.now_ms();
    for i in 0..30 {
        log.append(&mut batch(1, t0, 400)).expect("append");
        if i == 14 {
            env.advance_ms(20_000);
        }
    }
    let old_segments = log.segments().iter().filter(|s| s.next_offset <= 30).count();
    assert!(old_segments > 1);
    env.advance_ms(5_000);
    let report = log.enforce_retention().expect("retention");
    assert_eq!(report.segments_deleted, old_segments - 1, "all sealed segments are older than 10 s");
}

#[test]
fn retention_and_segment_age_of_forever_keep_everything() {
    // `u64::MAX` ms is the natural "forever"; cast to i64 it used to wrap to -1 ms, so every sealed segment was
    // "too old" (and every append rolled a segment).
    let env = SimEnv::new();
    let forever = Duration::from_millis(u64::MAX);
    let config = LogConfig { retention_age: Some(forever), segment_age: Some(forever), ..small_config() };
    let mut log = open(&env, config);
    let t0 = env.now_ms();
    for _ in 0..30 {
        log.append(&mut batch(1, t0, 400)).expect("append");
    }
    let segments = log.segments().len();
    assert!((2..10).contains(&segments), "rolled by size only: {segments} segments");
    env.advance_ms(1_000_000);
    let report = log.enforce_retention().expect("retention");
    assert_eq!(report.segments_deleted, 0);
    assert_eq!(all_offsets(&log, 0).len(), 30);
}

#[test]
fn truncate_to_cuts_at_the_batch_holding_the_offset() {
    let env = SimEnv::new();
    let mut log = open(&env, small_config());
    for i in 0..40 {
        log.append(&mut batch(2, i, 100)).expect("append");
    }
    assert!(log.segments().len() > 2);
    let next = log.truncate_to(21).expect("truncate");
    assert_eq!(next, 20, "offset 21 lives in the batch starting at 20");
    assert_eq!(log.next_offset(), 20);
    assert_eq!(all_offsets(&log, 0), (0..20).collect::<Vec<_>>());
    let a = log.append(&mut batch(1, 0, 10)).expect("append");
    assert_eq!(a.base_offset, 20);
    drop(log);
    let log = open(&env, small_config());
    assert_eq!(log.next_offset(), 21);
    assert_eq!(all_offsets(&log, 0), (0..21).collect::<Vec<_>>());
}

#[test]
fn clean_close_and_unclean_reopen_keep_everything_written() {
    let env = SimEnv::new();
    let mut log = open(&env, small_config());
    for i in 0..30 {
        log.append(&mut batch(2, i, 100)).expect("append");
    }
    log.close().expect("close");
    let mut log = open(&env, small_config());
    assert!(log.recovery_report().is_none(), "a clean close needs no recovery");
    assert_eq!(log.next_offset(), 60);
    log.append(&mut batch(1, 0, 10)).expect("append");
    drop(log); // no close: the next open re-validates the active segment
    let log = open(&env, small_config());
    assert!(log.recovery_report().is_some());
    assert_eq!(all_offsets(&log, 0), (0..61).collect::<Vec<_>>());
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let env = SimEnv::new();
    let _log = open(&env, small_config());
    let err = PartitionLog::open_in(Arc::new(env.clone()), DIR, small_config()).expect_err("locked");
    assert!(matches!(err, StorageError::Locked { .. }));
}

#[test]
fn os_env_directory_lock_is_exclusive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    assert!(matches!(PartitionLog::open(dir.path(), LogConfig::default()), Err(StorageError::Locked { .. })));
    log.close().expect("close");
    PartitionLog::open(dir.path(), LogConfig::default()).expect("reopen after close");
}

#[test]
fn torn_tail_is_cut_and_reported() {
    let env = SimEnv::new();
    let mut log = open(&env, LogConfig { segment_bytes: 1 << 20, ..small_config() });
    for i in 0..10 {
        log.append(&mut batch(1, i, 100)).expect("append");
    }
    let size = log.size_bytes();
    drop(log);
    let path = Path::new(DIR).join("00000000000000000000.log");
    env.corrupt(&path, size as usize - 5, b"\xff");
    let log = open(&env, LogConfig { segment_bytes: 1 << 20, ..small_config() });
    let report = log.recovery_report().expect("recovered");
    assert_eq!(report.batches, 9);
    assert!(report.truncated_bytes > 0);
    assert_eq!(log.next_offset(), 9);
}

#[test]
fn missing_index_is_rebuilt() {
    let env = SimEnv::new();
    let config = LogConfig { index_interval_bytes: 64, ..small_config() };
    let mut log = open(&env, config.clone());
    for i in 0..60 {
        log.append(&mut batch(1, i * 5, 100)).expect("append");
    }
    log.close().expect("close");
    for path in env.files() {
        let name = path.to_string_lossy().to_string();
        if name.ends_with(".index") || name.ends_with("timeindex") {
            env.remove_file(&path).expect("remove");
        }
    }
    let log = open(&env, config);
    assert_eq!(all_offsets(&log, 0), (0..60).collect::<Vec<_>>());
    assert_eq!(log.offset_for_timestamp(101).expect("lookup"), Some(21));
    assert!(env.files().iter().any(|p| p.to_string_lossy().ends_with("00000000000000000000.index")));
}

#[test]
fn corruption_in_a_sealed_segment_is_an_error_on_read_not_garbage() {
    let env = SimEnv::new();
    let mut log = open(&env, small_config());
    for i in 0..40 {
        log.append(&mut batch(2, i, 100)).expect("append");
    }
    let first = log.segments()[0];
    log.close().expect("close");
    let path = Path::new(DIR).join("00000000000000000000.log");
    // Flip a byte inside the second batch's value.
    let batch_len = batch(2, 0, 100).len();
    env.corrupt(&path, batch_len + 100, b"\x00\x01");
    let log = open(&env, small_config());
    let read = log.read(0, 1 << 20).expect("the first batch is intact");
    assert_eq!(read.bytes.len(), batch_len, "the read stops before the corrupt batch");
    assert_eq!(read.next_offset, 2);
    let err = log.read(2, 1 << 20).expect_err("corrupt");
    assert!(matches!(err, StorageError::Corrupt { segment: 0, first_offset: 2, .. }), "{err}");
    assert!(log.read(first.next_offset, 100).is_ok(), "later segments are still served");
}

#[test]
fn disk_full_is_a_clear_error_and_the_log_stays_consistent() {
    let env = SimEnv::new();
    let mut log = open(&env, LogConfig { segment_bytes: 1 << 20, ..small_config() });
    log.append(&mut batch(1, 0, 100)).expect("append");
    let used: u64 = env.files().iter().filter_map(|p| env.read_file(p)).map(|d| d.len() as u64).sum();
    env.set_capacity(Some(used + 150));
    let err = log.append(&mut batch(1, 0, 1000)).expect_err("full");
    assert!(matches!(err, StorageError::DiskFull { .. }), "{err}");
    assert_eq!(log.next_offset(), 1);
    env.set_capacity(None);
    log.append(&mut batch(1, 0, 10)).expect("append once space is back");
    drop(log);
    let log = open(&env, small_config());
    assert_eq!(all_offsets(&log, 0), vec![0, 1]);
}

#[test]
fn failed_fsync_stops_writes_until_reopen() {
    let env = SimEnv::new();
    let mut log = open(&env, LogConfig { durability: Durability::Always, ..small_config() });
    let a = log.append(&mut batch(1, 0, 10)).expect("append");
    env.set_fail_sync(true);
    assert!(matches!(log.committer().sync_to(a.next_offset), Err(StorageError::Failed { .. })));
    assert!(matches!(log.append(&mut batch(1, 0, 10)), Err(StorageError::Failed { .. })));
    env.set_fail_sync(false);
    drop(log);
    let mut log = open(&env, small_config());
    log.append(&mut batch(1, 0, 10)).expect("writes resume after reopen");
}

#[test]
fn group_commit_shares_fsyncs_between_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
    let committer = log.committer();
    let log = Arc::new(std::sync::Mutex::new(log));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let log = Arc::clone(&log);
            let committer = Arc::clone(&committer);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let appended = log.lock().expect("lock").append(&mut batch(10, 0, 100)).expect("append");
                    committer.sync_to(appended.next_offset).expect("sync");
                    assert!(committer.durable_offset() >= appended.next_offset);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let log = Arc::try_unwrap(log).expect("sole owner").into_inner().expect("lock");
    assert_eq!(log.next_offset(), 2000);
    assert_eq!(log.durable_offset(), 2000);
}

#[test]
fn interval_durability_syncs_once_the_interval_has_passed() {
    let env = SimEnv::new();
    let config = LogConfig { durability: Durability::Interval(Duration::from_millis(100)), ..small_config() };
    let mut log = open(&env, config);
    log.append(&mut batch(1, 0, 10)).expect("append");
    assert_eq!(log.durable_offset(), 0);
    env.advance_ms(150);
    log.flush_if_due().expect("flush");
    assert_eq!(log.durable_offset(), 1);
    env.advance_ms(150);
    log.append(&mut batch(1, 0, 10)).expect("append syncs inline when due");
    assert_eq!(log.durable_offset(), 2);
}

#[test]
fn bad_config_is_rejected() {
    let env = SimEnv::new();
    let err = PartitionLog::open_in(Arc::new(env), DIR, LogConfig { segment_bytes: 10, ..LogConfig::default() })
        .expect_err("bad config");
    assert!(matches!(err, StorageError::Config(_)));
}

#[test]
fn for_each_batch_visits_every_batch_from_the_one_holding_the_offset() {
    let env = SimEnv::new();
    let mut log = open(&env, small_config());
    for i in 0..30 {
        log.append(&mut batch(2, i, 100)).expect("append");
    }
    assert!(log.segments().len() > 1);
    let mut bases = Vec::new();
    log.for_each_batch(5, |b| {
        bases.push(b.header().base_offset);
        Ok(())
    })
    .expect("walk");
    assert_eq!(bases, (4..60).step_by(2).collect::<Vec<_>>());
}

#[test]
fn large_reads_grow_past_the_first_chunk_and_small_reads_stop_early() {
    let env = SimEnv::new();
    let config = LogConfig { segment_bytes: 64 << 20, durability: Durability::Never, ..LogConfig::default() };
    let mut log = open(&env, config);
    // 300 batches of about 1 KiB: several times the first chunk a read fetches, with headers straddling chunks.
    let (mut stored, mut starts) = (Vec::new(), Vec::new());
    for i in 0..300 {
        let mut b = batch(1, 1_000 + i, 1000 + (i as usize % 7) * 13);
        log.append(&mut b).expect("append");
        starts.push(stored.len());
        stored.extend_from_slice(&b);
    }
    let whole = log.read(0, 4 << 20).expect("read all");
    assert_eq!(whole.next_offset, 300);
    assert_eq!(&whole.bytes[..], &stored[..], "every batch, byte for byte");
    // Bounded by bytes: whole batches only, within the budget.
    let part = log.read(0, 100_000).expect("read part");
    assert!(part.bytes.len() <= 100_000 && part.next_offset < 300 && part.next_offset > 50);
    assert_eq!(&part.bytes[..], &stored[..part.bytes.len()]);
    // Bounded by offset: stops at `upper` whatever the byte budget.
    let few = log.read_until(10, 4 << 20, 13).expect("read few");
    assert_eq!(few.next_offset, 13);
    assert_eq!(&few.bytes[..], &stored[starts[10]..starts[13]]);
}

#[test]
fn after_a_failed_fsync_the_unsynced_tail_is_discarded_not_trusted() {
    let env = SimEnv::new();
    let config = LogConfig { durability: Durability::Always, ..small_config() };
    let mut log = open(&env, config.clone());
    let a = log.append(&mut batch(2, 100, 10)).expect("append a");
    log.committer().sync_to(a.next_offset).expect("a is durable");
    let b = log.append(&mut batch(3, 200, 10)).expect("append b");
    env.set_fail_sync(true);
    assert!(log.committer().sync_to(b.next_offset).is_err(), "b's fsync fails");
    assert!(log.append(&mut batch(1, 300, 10)).is_err(), "a failed log takes no more writes");
    env.set_fail_sync(false);
    assert_eq!(log.discard_undurable().expect("discard"), a.next_offset, "cut back to the last good fsync");
    drop(log);

    // Reopened (as the partition actor's restart does), b is gone, so a retry of it is written and synced anew.
    let mut log = open(&env, config.clone());
    assert_eq!(log.next_offset(), a.next_offset);
    let retry = log.append(&mut batch(3, 200, 10)).expect("retry b");
    log.committer().sync_to(retry.next_offset).expect("b is durable now");
    drop(log);
    env.crash();
    let log = open(&env, config);
    assert_eq!(all_offsets(&log, 0), (0..5).collect::<Vec<_>>(), "a and the retried b survive a power loss");
}

#[test]
fn a_failed_fsync_is_not_made_good_by_a_later_one() {
    // The model behind the test above: the failed range stays readable but a later fsync does not persist it
    // (Linux marks those pages clean), so trusting the page cache on reopen would lose acknowledged data.
    let env = SimEnv::new();
    let config = LogConfig { durability: Durability::Always, ..small_config() };
    let mut log = open(&env, config.clone());
    let a = log.append(&mut batch(2, 100, 10)).expect("append a");
    log.committer().sync_to(a.next_offset).expect("a is durable");
    log.append(&mut batch(3, 200, 10)).expect("append b");
    env.set_fail_sync(true);
    assert!(log.flush().is_err());
    env.set_fail_sync(false);
    drop(log);
    let log = open(&env, config.clone());
    assert_eq!(log.next_offset(), 5, "the page cache still shows b");
    drop(log);
    env.crash();
    let log = open(&env, config);
    assert_eq!(log.next_offset(), a.next_offset, "but b never reached the disk");
}

#[test]
fn sealed_segments_keep_no_file_open_beyond_the_most_recently_read() {
    let env = SimEnv::new();
    let mut log = open(&env, small_config());
    for i in 0..40 {
        log.append(&mut batch(4, i, 200)).expect("append");
    }
    let sealed = log.segments().len() - 1;
    assert!(sealed >= 8, "{sealed} sealed segments");
    // Rolling leaves only the segment sealed last open.
    assert!(log.open_sealed_files() <= crate::MAX_COLD_FILES);
    let offsets = all_offsets(&log, 0);
    assert_eq!(offsets, (0..160).collect::<Vec<_>>());
    assert!(log.open_sealed_files() <= crate::MAX_COLD_FILES, "{} open", log.open_sealed_files());
    assert_eq!(log.offset_for_timestamp(3).expect("by time"), Some(3));
    assert!(log.open_sealed_files() <= crate::MAX_COLD_FILES);
    log.close().expect("close");

    // Reopened, sealed segments start closed and are opened by the reads that need them.
    let log = open(&env, small_config());
    assert_eq!(log.open_sealed_files(), 0);
    assert_eq!(all_offsets(&log, 40), (40..160).collect::<Vec<_>>());
    assert!(log.open_sealed_files() <= crate::MAX_COLD_FILES);
}
