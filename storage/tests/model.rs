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
//! One library bug is known (see "Known bug" below): `offset_for_timestamp` also searches records below the log
//! start that are still in a segment and clamps the result up to the log start, so it can return an offset whose
//! record is older than asked for, or `Some` where no record at or after the start qualifies. While
//! [`TOLERATE_KNOWN_BUGS`] is set the model accepts exactly that behaviour in exactly that situation, so everything
//! else stays checked; `MODEL_STRICT=1` in the environment checks it strictly. (Two more bugs this test found are
//! fixed and now checked strictly: an unclean reopen called the never-synced tail durable, so `flush` skipped the
//! fsync and a power loss lost it; and truncating into the batch holding a mid-batch log start left the end below
//! the start.) `PROPTEST_CASES` sets the number of cases (default 256; an eighth of that on the real file system).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use callboard_protocol::batch::{BatchBuilder, BatchHeader, Header, RecordData, validate};
use callboard_storage::{
    CrashMode, Durability, Env, LogConfig, OsEnv, PartitionLog, SegmentInfo, SimEnv, StorageError,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const DIR: &str = "/data/topic-0";
/// The `SimEnv` clock starts here.
const T0: i64 = 1_000_000;
/// Byte range of the base offset in a stored batch.
const BASE_OFFSET_BYTES: std::ops::Range<usize> = 0..8;
/// Byte range of the leader epoch in a stored batch.
const LEADER_EPOCH_BYTES: std::ops::Range<usize> = 12..16;

/// Whether the model accepts the current behaviour of the known bug described at the top (strict checks expect the
/// fixed behaviour). Set it to `false` once it is fixed.
const TOLERATE_KNOWN_BUGS: bool = false;

fn tolerate() -> bool {
    TOLERATE_KNOWN_BUGS && std::env::var("MODEL_STRICT").map_or(true, |v| v != "1")
}

// ---------------------------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------------------------

/// One record to append.
#[derive(Clone)]
struct Rec {
    ts: i64,
    id: Option<u128>,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

impl std::fmt::Debug for Rec {
    /// Compact: only what matters to the log (timestamps and sizes), so shrunk cases stay readable.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rec(ts {}", self.ts)?;
        if self.id.is_some() {
            write!(f, ", id")?;
        }
        if let Some(k) = &self.key {
            write!(f, ", key {}B", k.len())?;
        }
        if let Some(v) = &self.value {
            write!(f, ", value {}B", v.len())?;
        }
        if !self.headers.is_empty() {
            write!(f, ", {} headers", self.headers.len())?;
        }
        write!(f, ")")
    }
}

/// An offset chosen relative to the state at the time the operation runs.
#[derive(Debug, Clone, Copy)]
enum Pick {
    /// Just below the log start (the log start itself when it is 0).
    Below(u8),
    /// Anywhere in `[log_start, log_end]`.
    Within(u32),
    /// The base offset of a stored batch (possibly below the log start).
    Base(u16),
    /// Exactly the log end.
    End,
    /// Just past the log end.
    Beyond(u8),
}

/// A timestamp to look up.
#[derive(Debug, Clone, Copy)]
enum TsPick {
    Raw(i64),
    /// The timestamp of a stored record, nudged by a small delta.
    Record(u16, i8),
}

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Rec>),
    /// Append a batch with one byte flipped (never in the base offset or leader epoch, which the CRC does not cover):
    /// it must be rejected without side effects.
    AppendCorrupt(Vec<Rec>, u16),
    SetLeaderEpoch(u32),
    Read {
        from: Pick,
        max_bytes: usize,
        upper: Option<Pick>,
    },
    OffsetForTimestamp(TsPick),
    Truncate(Pick),
    DeleteRecordsBefore(Pick),
    /// Drop the log without closing it, then reopen (no data is lost: the "process" died, not the machine).
    Reopen,
    /// `close()`, then reopen.
    CloseReopen,
    /// `flush()`, drop, power loss, reopen: nothing may be lost.
    CrashReopen,
    /// Drop without flushing, power loss (optionally keeping a torn part of unsynced appends), reopen.
    CrashUnflushed {
        torn_per_mille: Option<u32>,
    },
    /// Close, reopen with retention settings (kept from now on) and enforce retention. The size limit is this
    /// fraction (of 65535) of the log's size; the age cut-off is the newest timestamp of a segment plus a delta.
    Retention {
        bytes: Option<u16>,
        age: Option<(u16, i8)>,
    },
    AdvanceClock(u32),
}

#[derive(Debug, Clone)]
struct Params {
    segment_bytes: u64,
    index_interval_bytes: u32,
    segment_age_ms: Option<u64>,
    durability: Durability,
    max_batch_bytes: u32,
}

impl Params {
    fn config(&self) -> LogConfig {
        LogConfig {
            segment_bytes: self.segment_bytes,
            index_interval_bytes: self.index_interval_bytes,
            segment_age: self.segment_age_ms.map(Duration::from_millis),
            durability: self.durability,
            max_batch_bytes: self.max_batch_bytes,
            ..LogConfig::default()
        }
    }
}

fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => T0 - 60_000..T0 + 5_000,
        1 => -1_000_000_000_000_000i64..1_000_000_000_000_000i64,
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn rec() -> impl Strategy<Value = Rec> {
    let header = (prop_oneof![3 => "[a-z]{0,6}", 1 => "\\PC{0,3}"], prop::option::of(bytes(8)));
    (
        timestamp(),
        prop::option::weighted(0.3, any::<u128>()),
        prop::option::weighted(0.5, bytes(16)),
        prop::option::weighted(0.9, bytes(300)),
        prop::collection::vec(header, 0..3),
    )
        .prop_map(|(ts, id, key, value, headers)| Rec { ts, id, key, value, headers })
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        1 => any::<u8>().prop_map(Pick::Below),
        6 => any::<u32>().prop_map(Pick::Within),
        3 => any::<u16>().prop_map(Pick::Base),
        1 => Just(Pick::End),
        1 => any::<u8>().prop_map(Pick::Beyond),
    ]
}

fn ts_pick() -> impl Strategy<Value = TsPick> {
    prop_oneof![
        1 => timestamp().prop_map(TsPick::Raw),
        1 => Just(TsPick::Raw(i64::MIN)),
        1 => Just(TsPick::Raw(i64::MAX)),
        4 => (any::<u16>(), -2i8..=2).prop_map(|(i, d)| TsPick::Record(i, d)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let max_bytes = prop_oneof![2 => 0usize..400, 3 => 0usize..6_000, 1 => Just(1usize << 30)];
    prop_oneof![
        18 => prop::collection::vec(rec(), 1..5).prop_map(Op::Append),
        1 => (prop::collection::vec(rec(), 1..3), any::<u16>()).prop_map(|(r, at)| Op::AppendCorrupt(r, at)),
        1 => (0u32..4).prop_map(Op::SetLeaderEpoch),
        5 => (pick(), max_bytes, prop::option::weighted(0.3, pick()))
            .prop_map(|(from, max_bytes, upper)| Op::Read { from, max_bytes, upper }),
        3 => ts_pick().prop_map(Op::OffsetForTimestamp),
        2 => pick().prop_map(Op::Truncate),
        2 => pick().prop_map(Op::DeleteRecordsBefore),
        1 => Just(Op::Reopen),
        1 => Just(Op::CloseReopen),
        1 => Just(Op::CrashReopen),
        1 => prop::option::of(0u32..=1000).prop_map(|torn_per_mille| Op::CrashUnflushed { torn_per_mille }),
        1 => (prop::option::of(any::<u16>()), prop::option::of((any::<u16>(), -2i8..=2)))
            .prop_map(|(bytes, age)| Op::Retention { bytes, age }),
        1 => (0u32..20_000).prop_map(Op::AdvanceClock),
    ]
}

fn params() -> impl Strategy<Value = Params> {
    (
        1024u64..=4096,
        prop_oneof![1 => 1u32..64, 3 => 64u32..=512],
        prop::option::weighted(0.4, 1_000u64..30_000),
        prop_oneof![
            Just(Durability::Never),
            Just(Durability::Always),
            (1u64..5_000).prop_map(|ms| Durability::Interval(Duration::from_millis(ms))),
        ],
        prop_oneof![3 => Just(16u32 << 20), 1 => 200u32..2_000],
    )
        .prop_map(|(segment_bytes, index_interval_bytes, segment_age_ms, durability, max_batch_bytes)| Params {
            segment_bytes,
            index_interval_bytes,
            segment_age_ms,
            durability,
            max_batch_bytes,
        })
}

// ---------------------------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------------------------

/// A batch as it must be stored.
#[derive(Debug, Clone)]
struct MBatch {
    base: u64,
    bytes: Vec<u8>,
    timestamps: Vec<i64>,
}

impl MBatch {
    fn next(&self) -> u64 {
        self.base + self.timestamps.len() as u64
    }

    fn max_ts(&self) -> i64 {
        self.timestamps.iter().copied().max().unwrap_or(i64::MIN)
    }

    fn holds(&self, offset: u64) -> bool {
        self.base <= offset && offset < self.next()
    }
}

#[derive(Debug, Clone)]
struct Model {
    /// Every batch still stored (including ones below the log start whose segment is still there), in order.
    batches: Vec<MBatch>,
    /// Segment bases, ascending; the last is the active segment.
    segs: Vec<u64>,
    /// Clock time each segment was created or last opened, by base (the start of its age for rolling).
    opened_ms: HashMap<u64, i64>,
    log_start: u64,
    next: u64,
    /// Last offset written to the `log-start-offset` checkpoint.
    checkpoint: Option<u64>,
    epoch: u32,
}

#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Below,
    Beyond,
    Bytes(Vec<u8>, u64),
}

impl Model {
    fn new() -> Self {
        Model {
            batches: Vec::new(),
            segs: vec![0],
            opened_ms: HashMap::from([(0, T0)]),
            log_start: 0,
            next: 0,
            checkpoint: None,
            epoch: 0,
        }
    }

    fn seg_end(&self, i: usize) -> u64 {
        self.segs.get(i + 1).copied().unwrap_or(self.next)
    }

    fn seg_batches(&self, i: usize) -> impl Iterator<Item = &MBatch> {
        let (lo, hi) = (self.segs[i], self.seg_end(i));
        self.batches.iter().filter(move |b| b.base >= lo && b.base < hi)
    }

    fn seg_size(&self, i: usize) -> u64 {
        self.seg_batches(i).map(|b| b.bytes.len() as u64).sum()
    }

    fn seg_infos(&self) -> Vec<SegmentInfo> {
        (0..self.segs.len())
            .map(|i| SegmentInfo {
                base_offset: self.segs[i],
                next_offset: self.seg_end(i),
                size_bytes: self.seg_size(i),
            })
            .collect()
    }

    /// Batches a full read from the log start returns.
    fn live(&self) -> Vec<u8> {
        self.batches.iter().filter(|b| b.next() > self.log_start).flat_map(|b| b.bytes.iter().copied()).collect()
    }

    fn resolve(&self, pick: Pick) -> u64 {
        let (lo, hi) = (self.log_start, self.next);
        match pick {
            Pick::Below(k) => lo.saturating_sub(1 + u64::from(k % 4)),
            Pick::Within(k) if hi >= lo => lo + u64::from(k) % (hi - lo + 1),
            Pick::Within(_) => lo,
            Pick::Base(i) if !self.batches.is_empty() => self.batches[usize::from(i) % self.batches.len()].base,
            Pick::Base(_) => lo,
            Pick::End => hi,
            Pick::Beyond(k) => hi + 1 + u64::from(k % 4),
        }
    }

    fn resolve_ts(&self, pick: TsPick) -> i64 {
        match pick {
            TsPick::Raw(ts) => ts,
            TsPick::Record(i, d) => {
                let all: Vec<i64> = self.batches.iter().flat_map(|b| b.timestamps.iter().copied()).collect();
                if all.is_empty() { T0 } else { all[usize::from(i) % all.len()].saturating_add(i64::from(d)) }
            }
        }
    }

    fn expected_read(&self, from: u64, max_bytes: usize, upper: u64) -> Expect {
        if from < self.log_start {
            return Expect::Below;
        }
        if from > self.next {
            return Expect::Beyond;
        }
        let upper = upper.min(self.next);
        if from >= upper {
            return Expect::Bytes(Vec::new(), from);
        }
        let Some(first) = self.batches.iter().position(|b| b.holds(from)) else {
            return Expect::Bytes(Vec::new(), from);
        };
        let seg = self.segs.partition_point(|&s| s <= self.batches[first].base) - 1;
        let seg_end = self.seg_end(seg);
        let mut out = Vec::new();
        let mut next = from;
        for b in &self.batches[first..] {
            if b.base >= seg_end || b.base >= upper || (!out.is_empty() && out.len() + b.bytes.len() > max_bytes) {
                break;
            }
            out.extend_from_slice(&b.bytes);
            next = b.next();
        }
        Expect::Bytes(out, next)
    }

    /// First record at or past the log start whose timestamp is at least `ts`.
    fn offset_for_timestamp(&self, ts: i64) -> Option<u64> {
        self.records().find(|&(o, t)| o >= self.log_start && t >= ts).map(|(o, _)| o)
    }

    /// What the library currently returns (first stored record at or after `ts`, clamped up to the log start).
    fn offset_for_timestamp_as_implemented(&self, ts: i64) -> Option<u64> {
        self.records().find(|&(_, t)| t >= ts).map(|(o, _)| o.max(self.log_start))
    }

    fn records(&self) -> impl Iterator<Item = (u64, i64)> + '_ {
        self.batches.iter().flat_map(|b| b.timestamps.iter().enumerate().map(move |(i, &t)| (b.base + i as u64, t)))
    }

    /// A new active segment starting at the log end.
    fn roll(&mut self, now: i64) {
        self.segs.push(self.next);
        self.opened_ms.insert(self.next, now);
    }

    /// Every segment's age restarts when the log is opened.
    fn reopened(&mut self, now: i64) {
        self.opened_ms = self.segs.iter().map(|&s| (s, now)).collect();
        self.epoch = 0;
    }

    /// Drops the segments before index `keep_from` and the batches they held.
    fn drop_segments_before(&mut self, keep_from: usize) {
        self.segs.drain(..keep_from);
        let first = self.segs[0];
        self.batches.retain(|b| b.base >= first);
        self.log_start = self.log_start.max(first);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------------------------

/// Encodes records into a batch (base offset 0, leader epoch 0).
fn build(recs: &[Rec]) -> Vec<u8> {
    let headers: Vec<Vec<Header<'_>>> = recs
        .iter()
        .map(|r| r.headers.iter().map(|(k, v)| Header { key: k.as_str(), value: v.as_deref() }).collect())
        .collect();
    let mut builder = BatchBuilder::new();
    for (r, h) in recs.iter().zip(&headers) {
        builder.push(&RecordData {
            timestamp: r.ts,
            id: r.id,
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: h,
        });
    }
    builder.finish()
}

fn fail(what: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(what.to_string())
}

fn ok<T>(result: Result<T, StorageError>, what: &str) -> Result<T, TestCaseError> {
    result.map_err(|e| fail(format!("{what}: unexpected error {e:?}")))
}

struct Harness {
    env: Arc<dyn Env>,
    /// The simulated file system, when the log runs on one (crashes and the clock need it).
    sim: Option<SimEnv>,
    dir: PathBuf,
    /// Keeps the real directory alive when the log runs on the real file system.
    _tmp: Option<tempfile::TempDir>,
    params: Params,
    config: LogConfig,
    log: Option<PartitionLog>,
    model: Model,
    now: i64,
}

impl Harness {
    fn new(params: Params, real_fs: bool) -> Result<Self, TestCaseError> {
        let (env, sim, dir, tmp): (Arc<dyn Env>, _, _, _) = if real_fs {
            let tmp = tempfile::tempdir().map_err(fail)?;
            (Arc::new(OsEnv), None, tmp.path().join("topic-0"), Some(tmp))
        } else {
            let sim = SimEnv::new();
            (Arc::new(sim.clone()), Some(sim), PathBuf::from(DIR), None)
        };
        let config = params.config();
        let log = ok(PartitionLog::open_in(Arc::clone(&env), &dir, config.clone()), "first open")?;
        Ok(Harness { env, sim, dir, _tmp: tmp, params, config, log: Some(log), model: Model::new(), now: T0 })
    }

    fn log(&self) -> &PartitionLog {
        self.log.as_ref().expect("the log is open between operations")
    }

    fn log_mut(&mut self) -> &mut PartitionLog {
        self.log.as_mut().expect("the log is open between operations")
    }

    /// Reopens the log; in the model only segment ages and the leader epoch restart.
    fn open(&mut self) -> Result<(), TestCaseError> {
        let log = ok(PartitionLog::open_in(Arc::clone(&self.env), &self.dir, self.config.clone()), "reopen")?;
        self.log = Some(log);
        self.model.reopened(self.now);
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Append(recs) => self.append(recs),
            Op::AppendCorrupt(recs, at) => {
                let mut batch = build(recs);
                let covered: Vec<usize> = (8..batch.len()).filter(|i| !LEADER_EPOCH_BYTES.contains(i)).collect();
                let i = covered[usize::from(*at) % covered.len()];
                batch[i] ^= 0x40;
                let len = batch.len();
                match self.log_mut().append(&mut batch) {
                    Err(StorageError::BatchTooLarge { size, .. }) if len > self.params.max_batch_bytes as usize => {
                        prop_assert_eq!(size, len);
                    }
                    Err(StorageError::InvalidBatch(_)) => {}
                    other => return Err(fail(format!("corrupt batch (byte {i} flipped) accepted: {other:?}"))),
                }
                Ok(())
            }
            Op::SetLeaderEpoch(epoch) => {
                self.log_mut().set_leader_epoch(*epoch);
                self.model.epoch = *epoch;
                Ok(())
            }
            Op::Read { from, max_bytes, upper } => {
                let from = self.model.resolve(*from);
                let upper = upper.map_or(u64::MAX, |p| self.model.resolve(p));
                self.check_read(from, *max_bytes, upper)
            }
            Op::OffsetForTimestamp(pick) => {
                let ts = self.model.resolve_ts(*pick);
                let got = ok(self.log().offset_for_timestamp(ts), "offset_for_timestamp")?;
                let want = self.model.offset_for_timestamp(ts);
                if got != want
                    && tolerate()
                    && self.model.offset_for_timestamp_as_implemented(ts) == got
                    && self.model.records().any(|(o, t)| o < self.model.log_start && t >= ts)
                {
                    // Known bug: records below the log start, still in a segment, take part in the search.
                    return Ok(());
                }
                prop_assert_eq!(got, want, "offset_for_timestamp({})", ts);
                Ok(())
            }
            Op::Truncate(pick) => {
                let offset = self.model.resolve(*pick);
                self.truncate(offset)
            }
            Op::DeleteRecordsBefore(pick) => {
                let offset = self.model.resolve(*pick);
                self.delete_records_before(offset)
            }
            Op::Reopen => {
                drop(self.log.take());
                self.open()
            }
            Op::CloseReopen => {
                let log = self.log.take().expect("open");
                ok(log.close(), "close")?;
                self.open()
            }
            Op::CrashReopen => {
                ok(self.log().flush(), "flush")?;
                prop_assert_eq!(self.log().durable_offset(), self.model.next, "durable offset after flush");
                drop(self.log.take());
                if let Some(sim) = &self.sim {
                    sim.crash();
                }
                self.open()
            }
            Op::CrashUnflushed { torn_per_mille } if self.sim.is_some() => self.crash_unflushed(*torn_per_mille),
            Op::CrashUnflushed { .. } => {
                drop(self.log.take());
                self.open()
            }
            Op::Retention { bytes, age } => {
                // Limits relative to the log, so that retention has something to do: a size limit anywhere between
                // 0 and the log's size, an age cut-off near one segment's newest timestamp.
                let m = &self.model;
                let size: u64 = (0..m.segs.len()).map(|i| m.seg_size(i)).sum();
                let bytes = bytes.map(|f| size * u64::from(f) / u64::from(u16::MAX));
                let sealed = m.segs.len().saturating_sub(1).max(1);
                let age = age.filter(|_| self.sim.is_some());
                let age_ms = age.map(|(i, d)| {
                    let newest = m.seg_batches(usize::from(i) % sealed).map(MBatch::max_ts).max();
                    let cutoff = newest.map_or(self.now, |t| t.saturating_add(i64::from(d)));
                    u64::try_from(self.now.saturating_sub(cutoff)).unwrap_or(0)
                });
                self.retention(bytes, age_ms)
            }
            Op::AdvanceClock(ms) => {
                if let Some(sim) = &self.sim {
                    sim.advance_ms(i64::from(*ms));
                    self.now += i64::from(*ms);
                }
                Ok(())
            }
        }
    }

    fn append(&mut self, recs: &[Rec]) -> Result<(), TestCaseError> {
        let mut batch = build(recs);
        if batch.len() > self.params.max_batch_bytes as usize {
            match self.log_mut().append(&mut batch) {
                Err(StorageError::BatchTooLarge { size, max }) => {
                    prop_assert_eq!((size, max), (batch.len(), self.params.max_batch_bytes));
                    return Ok(());
                }
                other => return Err(fail(format!("oversized batch of {} bytes: {other:?}", batch.len()))),
            }
        }
        let mut want = batch.clone();
        let model = &self.model;
        let base = model.next;
        want[BASE_OFFSET_BYTES].copy_from_slice(&base.to_le_bytes());
        want[LEADER_EPOCH_BYTES].copy_from_slice(&model.epoch.to_le_bytes());

        // Roll prediction: the active segment rolls when it is non-empty and either the batch would overflow it or
        // it was created (or last opened) at least `segment_age` ago by the clock.
        let active = model.segs.len() - 1;
        let size = model.seg_size(active);
        let opened = model.opened_ms[&model.segs[active]];
        let full = size + batch.len() as u64 > self.config.segment_bytes;
        let old = self.params.segment_age_ms.is_some_and(|age| self.now - opened >= age as i64);
        let roll = size > 0 && (full || old);

        let appended = ok(self.log_mut().append(&mut batch), "append")?;
        let n = recs.len() as u64;
        prop_assert_eq!(
            (appended.base_offset, appended.last_offset, appended.next_offset),
            (base, base + n - 1, base + n),
            "Appended"
        );
        prop_assert!(batch == want, "append must only stamp the base offset and leader epoch");
        prop_assert!(validate(&batch).is_ok(), "stamped batch still valid");
        if roll {
            self.model.roll(self.now);
        }
        self.model.batches.push(MBatch { base, bytes: batch, timestamps: recs.iter().map(|r| r.ts).collect() });
        self.model.next = base + n;
        Ok(())
    }

    fn check_read(&self, from: u64, max_bytes: usize, upper: u64) -> Result<(), TestCaseError> {
        let got = self.log().read_until(from, max_bytes, upper);
        let want = self.model.expected_read(from, max_bytes, upper);
        let ctx = format!("read_until({from}, {max_bytes}, {upper})");
        match (got, want) {
            (Err(StorageError::BelowLogStart { requested, log_start }), Expect::Below) => {
                prop_assert_eq!((requested, log_start), (from, self.model.log_start), "{}", ctx);
            }
            (Err(StorageError::BeyondLogEnd { requested, log_end }), Expect::Beyond) => {
                prop_assert_eq!((requested, log_end), (from, self.model.next), "{}", ctx);
            }
            (Ok(read), Expect::Bytes(bytes, next)) => {
                prop_assert_eq!(read.next_offset, next, "{} next_offset", ctx);
                prop_assert!(read.bytes[..] == bytes[..], "{}: {} bytes, model {}", ctx, read.bytes.len(), bytes.len());
            }
            (got, want) => return Err(fail(format!("{ctx}: got {got:?}, model says {want:?}"))),
        }
        Ok(())
    }

    fn truncate(&mut self, offset: u64) -> Result<(), TestCaseError> {
        let got = self.log_mut().truncate_to(offset);
        let m = &mut self.model;
        if offset < m.log_start {
            match got {
                Err(StorageError::TruncateBelowStart { requested, log_start }) => {
                    prop_assert_eq!((requested, log_start), (offset, m.log_start));
                    return Ok(());
                }
                other => return Err(fail(format!("truncate_to({offset}) below the start: {other:?}"))),
            }
        }
        let got = ok(got, "truncate_to")?;
        if offset < m.next {
            let i = m.batches.iter().position(|b| b.holds(offset)).expect("a batch holds every offset in range");
            let cut = m.batches[i].base;
            if cut < m.log_start {
                // The batch holding `offset` also holds the (mid-batch) log start, so every readable record goes;
                // cutting before that batch would put the end below the start. The log starts over, empty, at its
                // start instead, so offsets below the start are never handed out again.
                m.batches.clear();
                m.segs = vec![m.log_start];
                m.opened_ms.insert(m.log_start, self.now);
                m.next = m.log_start;
            } else {
                m.batches.truncate(i);
                m.segs.retain(|&s| s <= offset);
                m.next = cut;
            }
        }
        prop_assert_eq!(got, m.next, "truncate_to({}) result", offset);
        Ok(())
    }

    fn delete_records_before(&mut self, offset: u64) -> Result<(), TestCaseError> {
        let got = self.log_mut().delete_records_before(offset);
        let m = &mut self.model;
        if offset > m.next {
            match got {
                Err(StorageError::BeyondLogEnd { requested, log_end }) => {
                    prop_assert_eq!((requested, log_end), (offset, m.next));
                    return Ok(());
                }
                other => return Err(fail(format!("delete_records_before({offset}) past the end: {other:?}"))),
            }
        }
        let got = ok(got, "delete_records_before")?;
        if offset > m.log_start {
            m.checkpoint = Some(offset);
            m.log_start = offset;
            let active = m.segs.len() - 1;
            if m.next <= offset && m.seg_size(active) > 0 {
                m.roll(self.now);
            }
            let keep_from = (0..m.segs.len() - 1).find(|&i| m.seg_end(i) > offset).unwrap_or(m.segs.len() - 1);
            m.drop_segments_before(keep_from);
        }
        prop_assert_eq!(got, m.log_start, "delete_records_before({}) result", offset);
        Ok(())
    }

    fn retention(&mut self, bytes: Option<u64>, age_ms: Option<u64>) -> Result<(), TestCaseError> {
        let log = self.log.take().expect("open");
        ok(log.close(), "close")?;
        self.config.retention_bytes = bytes;
        self.config.retention_age = age_ms.map(Duration::from_millis);
        self.open()?;
        self.check()?;

        let m = &mut self.model;
        let mut total: u64 = (0..m.segs.len()).map(|i| m.seg_size(i)).sum();
        let mut doomed = 0;
        let mut freed = 0;
        for i in 0..m.segs.len() - 1 {
            let size = m.seg_size(i);
            let max_ts = m.seg_batches(i).map(MBatch::max_ts).max().unwrap_or(i64::MIN);
            let too_old = age_ms.is_some_and(|age| i128::from(max_ts) < i128::from(self.now) - i128::from(age));
            let too_big = bytes.is_some_and(|limit| total - size >= limit);
            if !(too_old || too_big) {
                break;
            }
            total -= size;
            freed += size;
            doomed += 1;
        }
        m.drop_segments_before(doomed);
        let report = ok(self.log_mut().enforce_retention(), "enforce_retention")?;
        prop_assert_eq!((report.segments_deleted, report.bytes_deleted), (doomed, freed), "retention report");
        Ok(())
    }

    fn crash_unflushed(&mut self, torn_per_mille: Option<u32>) -> Result<(), TestCaseError> {
        let durable = self.log().durable_offset();
        let before = self.model.next;
        drop(self.log.take());
        self.sim.as_ref().expect("crashes need the simulated file system").crash_with(match torn_per_mille {
            None => CrashMode::DropUnsynced,
            Some(keep_per_mille) => CrashMode::TornTail { keep_per_mille },
        });
        self.open()?;
        let end = self.log().next_offset();
        let segs = self.log().segments();
        let m = &mut self.model;
        let wiped_shape = [SegmentInfo { base_offset: end, next_offset: end, size_bytes: 0 }];
        let kept: Vec<u64> = m.segs.iter().copied().filter(|&s| s <= end).collect();
        if m.checkpoint == Some(end) && segs[..] == wiped_shape[..] && kept[..] != [end] {
            // The data recovered ended below the checkpointed log start, so the library started empty there; that
            // is only allowed when what was lost was not durable.
            prop_assert!(durable < end, "wiped to the checkpoint {} although {} was durable", end, durable);
            m.batches.clear();
            m.segs = vec![end];
            m.reopened(self.now);
            m.next = end;
            m.log_start = end;
            return Ok(());
        }
        prop_assert!(
            end >= durable,
            "power loss lost durable data: recovered end {} < durable offset {}",
            end,
            durable
        );
        prop_assert!(end <= before, "recovered end {} past the end before the crash {}", end, before);
        prop_assert!(
            end == before || m.batches.iter().any(|b| b.base == end),
            "recovered end {} is not a batch boundary",
            end
        );
        m.batches.retain(|b| b.base < end);
        m.next = end;
        m.segs.retain(|&s| s <= end);
        Ok(())
    }

    /// Invariants that hold after every operation.
    fn check(&self) -> Result<(), TestCaseError> {
        let log = self.log();
        let m = &self.model;
        prop_assert_eq!(log.next_offset(), m.next, "log end offset");
        prop_assert_eq!(log.log_start_offset(), m.log_start, "log start offset");
        prop_assert!(log.durable_offset() <= m.next, "durable offset {} past the end {}", log.durable_offset(), m.next);
        let segs = log.segments();
        prop_assert_eq!(&segs, &m.seg_infos(), "segments");
        for w in segs.windows(2) {
            prop_assert_eq!(w[0].next_offset, w[1].base_offset, "segments are contiguous");
        }
        prop_assert_eq!(log.size_bytes(), segs.iter().map(|s| s.size_bytes).sum::<u64>());
        prop_assert!(m.log_start <= m.next, "log start {} past the log end {}", m.log_start, m.next);

        // Reading everything from the log start, in pieces, reproduces the model's live batches.
        let mut all = Vec::new();
        let mut at = m.log_start;
        while at < m.next {
            let read = ok(log.read(at, 1 << 20), "read")?;
            prop_assert!(!read.bytes.is_empty() && read.next_offset > at, "read at {} made no progress", at);
            let mut rest = &read.bytes[..];
            while !rest.is_empty() {
                let header = BatchHeader::parse(rest).map_err(fail)?;
                validate(&rest[..header.total_len()]).map_err(fail)?;
                rest = &rest[header.total_len()..];
            }
            all.extend_from_slice(&read.bytes);
            at = read.next_offset;
        }
        prop_assert_eq!(at, m.next, "reads end at the log end");
        let live = m.live();
        prop_assert!(all == live, "full read: {} bytes, model {} bytes", all.len(), live.len());
        let end = ok(log.read(m.next, 1 << 20), "read at the end")?;
        prop_assert!(end.bytes.is_empty() && end.next_offset == m.next, "read at the end is empty");
        prop_assert!(
            matches!(log.read(m.next + 1, 1), Err(StorageError::BeyondLogEnd { .. })),
            "read past the end fails"
        );
        Ok(())
    }
}

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
