//! The harness: runs each operation on the log and on the model, compares the results, and checks the invariants
//! that hold after every operation.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use callboard_protocol::batch::{BatchBuilder, BatchHeader, Header, RecordData, validate};
use callboard_storage::{CrashMode, Env, LogConfig, OsEnv, PartitionLog, SegmentInfo, SimEnv, StorageError};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::T0;
use crate::model::{Expect, MBatch, Model};
use crate::ops::{Op, Params, Rec};

const DIR: &str = "/data/topic-0";
/// Byte range of the base offset in a stored batch.
const BASE_OFFSET_BYTES: std::ops::Range<usize> = 0..8;
/// Byte range of the leader epoch in a stored batch.
const LEADER_EPOCH_BYTES: std::ops::Range<usize> = 12..16;

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

pub(crate) fn fail(what: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(what.to_string())
}

fn ok<T>(result: Result<T, StorageError>, what: &str) -> Result<T, TestCaseError> {
    result.map_err(|e| fail(format!("{what}: unexpected error {e:?}")))
}

pub(crate) struct Harness {
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
    pub(crate) fn new(params: Params, real_fs: bool) -> Result<Self, TestCaseError> {
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

    pub(crate) fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
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
    pub(crate) fn check(&self) -> Result<(), TestCaseError> {
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
