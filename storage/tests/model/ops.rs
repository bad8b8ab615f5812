//! Operations and configurations proptest generates: the records to append, offsets and timestamps picked relative
//! to the state when an operation runs, and the log configuration.

use std::time::Duration;

use callboard_storage::{Durability, LogConfig};
use proptest::prelude::*;

use crate::T0;

/// One record to append.
#[derive(Clone)]
pub(crate) struct Rec {
    pub(crate) ts: i64,
    pub(crate) id: Option<u128>,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) headers: Vec<(String, Option<Vec<u8>>)>,
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
pub(crate) enum Pick {
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
pub(crate) enum TsPick {
    Raw(i64),
    /// The timestamp of a stored record, nudged by a small delta.
    Record(u16, i8),
}

#[derive(Debug, Clone)]
pub(crate) enum Op {
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
pub(crate) struct Params {
    pub(crate) segment_bytes: u64,
    pub(crate) index_interval_bytes: u32,
    pub(crate) segment_age_ms: Option<u64>,
    pub(crate) durability: Durability,
    pub(crate) max_batch_bytes: u32,
}

impl Params {
    pub(crate) fn config(&self) -> LogConfig {
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

pub(crate) fn op() -> impl Strategy<Value = Op> {
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

pub(crate) fn params() -> impl Strategy<Value = Params> {
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
