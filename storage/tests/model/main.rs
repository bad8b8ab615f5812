//! Model-based property test of [`PartitionLog`].
//!
//! proptest picks a small configuration (segments of 1–4 KiB, index entries every 1–512 bytes, optional age-based
//! roll, a durability mode, sometimes a small `max_batch_bytes`) and a sequence of up to 60 operations: appends of
//! random batches (1–4 records, values of 0–300 bytes, non-monotonic timestamps, optional message ids, keys and
//! headers), appends of corrupted or oversized batches, reads with random `from`, `max_bytes` and `upper`, timestamp
//! lookups, truncation, `delete_records_before`, retention by size and by age, leader-epoch changes, clock advances,
//! and four kinds of restart: drop and reopen (unclean), clean `close`, `flush` then power loss, and power loss
//! without a flush (dropping or tearing the unsynced tail).
//!
//! Next to the log runs a plain model: every batch still stored (its bytes exactly as they must be on disk, with the
//! assigned base offset and leader epoch, and its record timestamps), the segment bases with the time each was
//! created or last opened, the log start and end offsets, and the last `log-start-offset` checkpoint. From it the
//! test predicts:
//!
//! * every segment roll (the batch would overflow the active segment, or the segment is `segment_age` old by the
//!   clock), so `segments()` is compared exactly: bases, ends and sizes;
//! * what each read returns, byte for byte: whole batches from the one holding `from`, at least one, no more than
//!   `max_bytes` in total, never past the end of that segment, none starting at or after `upper`; the empty read at
//!   the end; `BelowLogStart` and `BeyondLogEnd` with their fields;
//! * `offset_for_timestamp`: the first record at or after the log start whose timestamp is at least the target;
//! * what `truncate_to`, `delete_records_before` and `enforce_retention` remove, their results and errors;
//! * after a power loss following `flush`, nothing lost; after one without, the log is a prefix of the model that
//!   ends on a batch boundary, reaches at least the durable offset reported before the crash, and restarts empty at
//!   the checkpoint only when the data below it was not durable.
//!
//! After every operation it checks the invariants: end and start offsets, the exact segment list, contiguous
//! segments, that reading everything from the log start in pieces reproduces the model's batches byte for byte (each
//! with a valid CRC), that a read at the end is empty and one past it fails, and that the durable offset is not past
//! the end.
//!
//! The main property runs on the in-memory [`SimEnv`]; a smaller one runs the same model on the real file system
//! ([`OsEnv`] in a temporary directory), where crashes become plain restarts and nothing depends on the clock.
//!
//! Every check is strict. Three library bugs this test found are fixed and stay checked: `offset_for_timestamp`
//! searched records below the log start that were still in a segment (clamping the result up to the start, so it
//! could return a record older than asked for); an unclean reopen called the never-synced tail durable, so `flush`
//! skipped the fsync and a power loss lost it; and truncating into the batch holding a mid-batch log start left the
//! end below the start. `PROPTEST_CASES` sets the number of cases (default 256; an eighth of that on the real file
//! system).
//!
//! The test is split into [`ops`] (what proptest generates), [`model`] (the model and its predictions) and
//! [`harness`] (applying each operation to both and checking the invariants); this file holds the properties.
//!
//! [`PartitionLog`]: callboard_storage::PartitionLog
//! [`SimEnv`]: callboard_storage::SimEnv
//! [`OsEnv`]: callboard_storage::OsEnv

mod harness;
mod model;
mod ops;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use harness::{Harness, fail};
use ops::{Op, Params, op, params};

/// The `SimEnv` clock starts here.
const T0: i64 = 1_000_000;

fn run(params: Params, ops: Vec<Op>, real_fs: bool) -> Result<(), TestCaseError> {
    let mut h = Harness::new(params, real_fs)?;
    h.check()?;
    for (i, op) in ops.iter().enumerate() {
        h.apply(op).map_err(|e| fail(format!("op #{i} {op:?}: {e}")))?;
        h.check().map_err(|e| fail(format!("after op #{i} {op:?}: {e}")))?;
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Writing regression files would add files to the crate; failures print the minimal case instead.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn partition_log_matches_model(params in params(), ops in prop::collection::vec(op(), 1..60)) {
        run(params, ops, false)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases() / 8,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The same model on the real file system (`OsEnv` in a temporary directory). Power losses cannot be simulated
    /// there, so crash operations become plain restarts, and the wall clock runs, so nothing may depend on it: no
    /// age-based roll or retention.
    #[test]
    fn partition_log_on_the_real_file_system_matches_model(
        params in params().prop_map(|p| Params { segment_age_ms: None, ..p }),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        run(params, ops, true)?;
    }
}
