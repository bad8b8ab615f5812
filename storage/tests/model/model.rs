//! The plain model the log is checked against: every batch still stored, the segment bases and their ages, the log
//! start and end offsets, and the last `log-start-offset` checkpoint; and what it predicts for reads, timestamp
//! lookups and segment lists.

use std::collections::HashMap;

use callboard_storage::SegmentInfo;

use crate::T0;
use crate::ops::{Pick, TsPick};

/// A batch as it must be stored.
#[derive(Debug, Clone)]
pub(crate) struct MBatch {
    pub(crate) base: u64,
    pub(crate) bytes: Vec<u8>,
    pub(crate) timestamps: Vec<i64>,
}

impl MBatch {
    fn next(&self) -> u64 {
        self.base + self.timestamps.len() as u64
    }

    pub(crate) fn max_ts(&self) -> i64 {
        self.timestamps.iter().copied().max().unwrap_or(i64::MIN)
    }

    pub(crate) fn holds(&self, offset: u64) -> bool {
        self.base <= offset && offset < self.next()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Model {
    /// Every batch still stored (including ones below the log start whose segment is still there), in order.
    pub(crate) batches: Vec<MBatch>,
    /// Segment bases, ascending; the last is the active segment.
    pub(crate) segs: Vec<u64>,
    /// Clock time each segment was created or last opened, by base (the start of its age for rolling).
    pub(crate) opened_ms: HashMap<u64, i64>,
    pub(crate) log_start: u64,
    pub(crate) next: u64,
    /// Last offset written to the `log-start-offset` checkpoint.
    pub(crate) checkpoint: Option<u64>,
    pub(crate) epoch: u32,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    Below,
    Beyond,
    Bytes(Vec<u8>, u64),
}

impl Model {
    pub(crate) fn new() -> Self {
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

    pub(crate) fn seg_end(&self, i: usize) -> u64 {
        self.segs.get(i + 1).copied().unwrap_or(self.next)
    }

    pub(crate) fn seg_batches(&self, i: usize) -> impl Iterator<Item = &MBatch> {
        let (lo, hi) = (self.segs[i], self.seg_end(i));
        self.batches.iter().filter(move |b| b.base >= lo && b.base < hi)
    }

    pub(crate) fn seg_size(&self, i: usize) -> u64 {
        self.seg_batches(i).map(|b| b.bytes.len() as u64).sum()
    }

    pub(crate) fn seg_infos(&self) -> Vec<SegmentInfo> {
        (0..self.segs.len())
            .map(|i| SegmentInfo {
                base_offset: self.segs[i],
                next_offset: self.seg_end(i),
                size_bytes: self.seg_size(i),
            })
            .collect()
    }

    /// Batches a full read from the log start returns.
    pub(crate) fn live(&self) -> Vec<u8> {
        self.batches.iter().filter(|b| b.next() > self.log_start).flat_map(|b| b.bytes.iter().copied()).collect()
    }

    pub(crate) fn resolve(&self, pick: Pick) -> u64 {
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

    pub(crate) fn resolve_ts(&self, pick: TsPick) -> i64 {
        match pick {
            TsPick::Raw(ts) => ts,
            TsPick::Record(i, d) => {
                let all: Vec<i64> = self.batches.iter().flat_map(|b| b.timestamps.iter().copied()).collect();
                if all.is_empty() { T0 } else { all[usize::from(i) % all.len()].saturating_add(i64::from(d)) }
            }
        }
    }

    pub(crate) fn expected_read(&self, from: u64, max_bytes: usize, upper: u64) -> Expect {
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
    pub(crate) fn offset_for_timestamp(&self, ts: i64) -> Option<u64> {
        self.records().find(|&(o, t)| o >= self.log_start && t >= ts).map(|(o, _)| o)
    }

    fn records(&self) -> impl Iterator<Item = (u64, i64)> + '_ {
        self.batches.iter().flat_map(|b| b.timestamps.iter().enumerate().map(move |(i, &t)| (b.base + i as u64, t)))
    }

    /// A new active segment starting at the log end.
    pub(crate) fn roll(&mut self, now: i64) {
        self.segs.push(self.next);
        self.opened_ms.insert(self.next, now);
    }

    /// Every segment's age restarts when the log is opened.
    pub(crate) fn reopened(&mut self, now: i64) {
        self.opened_ms = self.segs.iter().map(|&s| (s, now)).collect();
        self.epoch = 0;
    }

    /// Drops the segments before index `keep_from` and the batches they held.
    pub(crate) fn drop_segments_before(&mut self, keep_from: usize) {
        self.segs.drain(..keep_from);
        let first = self.segs[0];
        self.batches.retain(|b| b.base >= first);
        self.log_start = self.log_start.max(first);
    }
}
