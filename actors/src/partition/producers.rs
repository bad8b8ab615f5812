//! Idempotent-producer state of one partition: for each producer id, its epoch and the last few batches it wrote
//! (sequence range and offset), so a retried batch is acknowledged again without being stored twice, a gap in the
//! sequence is refused, and an older epoch is fenced. The state is rebuilt from the log after a restart (batch
//! headers carry producer id, epoch and base sequence) and idle producers expire.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use callboard_protocol::batch::{BatchHeader, NO_PRODUCER_ID};
use callboard_storage::{Env, PartitionLog};

use serde::{Deserialize, Serialize};

use crate::error::{BrokerError, Result};

/// File holding the producer states written at a clean close.
const SNAPSHOT: &str = "producer-state.json";
/// A snapshot larger than this is ignored (the state is then rebuilt from the log).
const MAX_SNAPSHOT_BYTES: u64 = 256 << 20;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    /// The log end when the snapshot was taken: the state covers every batch below it.
    next_offset: u64,
    producers: Producers,
}

/// Batches remembered per producer for answering retries (as Kafka does).
const RECENT_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct BatchMeta {
    base_sequence: i32,
    count: u32,
    base_offset: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct ProducerState {
    epoch: i16,
    recent: VecDeque<BatchMeta>,
    last_seen_ms: i64,
}

impl ProducerState {
    fn last_sequence(&self) -> Option<i32> {
        self.recent.back().map(|b| b.base_sequence.wrapping_add(b.count as i32 - 1))
    }
}

/// What to do with an incoming batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not from an idempotent producer, or the next batch in sequence: append it.
    Append,
    /// A retry of a batch already stored at this offset: acknowledge it again.
    Duplicate {
        /// Where it was stored.
        base_offset: u64,
        /// Its records.
        count: u32,
    },
}

/// Producer states of one partition.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Producers {
    states: HashMap<i64, ProducerState>,
}

impl Producers {
    /// Rebuilds the state from the batches in `log` from `from` on.
    pub(crate) fn rebuild(log: &PartitionLog, from: u64) -> Result<Self> {
        let mut producers = Producers::default();
        producers.scan(log, from)?;
        Ok(producers)
    }

    /// Records every batch of `log` from `from` on.
    fn scan(&mut self, log: &PartitionLog, from: u64) -> Result<()> {
        Ok(log.for_each_batch(from, |batch| {
            let header = *batch.header();
            self.record(&header, header.base_offset, header.max_timestamp);
            Ok(())
        })?)
    }

    /// Loads the state for `log`: from the snapshot of the last clean close plus the batches after it, or else by
    /// scanning the log from `fallback` (the start of the expiry window).
    pub(crate) fn load(env: &dyn Env, log: &PartitionLog, dir: &Path, fallback: u64) -> Result<Self> {
        let snapshot = env
            .open_file(&dir.join(SNAPSHOT), false)
            .and_then(|file| file.read_vec_at(0, file.len()?.min(MAX_SNAPSHOT_BYTES) as usize))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Snapshot>(&bytes).ok())
            .filter(|s| s.version == 1 && s.next_offset <= log.next_offset());
        let Some(snapshot) = snapshot else { return Self::rebuild(log, fallback) };
        let mut producers = snapshot.producers;
        producers.scan(log, snapshot.next_offset)?;
        Ok(producers)
    }

    /// Writes the state covering every batch below `next_offset` (at a clean close).
    pub(crate) fn save(&self, env: &dyn Env, dir: &Path, next_offset: u64) -> Result<()> {
        let body = serde_json::to_vec(&SnapshotRef { version: 1, next_offset, producers: self })
            .map_err(|e| BrokerError::InvalidConfig(e.to_string()))?;
        let path = dir.join(SNAPSHOT);
        env.replace_file(&path, &body, false).map_err(|e| BrokerError::io(&path, e))
    }

    /// Checks a batch against its producer's state. `allocated` is the first producer id not yet handed out.
    pub(crate) fn check(&self, header: &BatchHeader, allocated: i64) -> Result<Verdict> {
        let pid = header.producer_id;
        if pid == NO_PRODUCER_ID {
            return Ok(Verdict::Append);
        }
        if pid < 0 || pid >= allocated {
            return Err(BrokerError::UnknownProducer(pid));
        }
        let Some(state) = self.states.get(&pid) else {
            return match header.base_sequence {
                0 => Ok(Verdict::Append),
                _ => Err(BrokerError::UnknownProducer(pid)),
            };
        };
        if header.producer_epoch < state.epoch {
            return Err(BrokerError::ProducerFenced {
                producer_id: pid,
                current: state.epoch,
                got: header.producer_epoch,
            });
        }
        if header.producer_epoch > state.epoch {
            return match header.base_sequence {
                0 => Ok(Verdict::Append),
                got => Err(BrokerError::OutOfOrderSequence { producer_id: pid, expected: 0, got }),
            };
        }
        if let Some(b) =
            state.recent.iter().find(|b| b.base_sequence == header.base_sequence && b.count == header.record_count)
        {
            return Ok(Verdict::Duplicate { base_offset: b.base_offset, count: b.count });
        }
        let expected = state.last_sequence().map_or(0, |s| s.wrapping_add(1));
        if header.base_sequence == expected {
            Ok(Verdict::Append)
        } else {
            Err(BrokerError::OutOfOrderSequence { producer_id: pid, expected, got: header.base_sequence })
        }
    }

    /// Records a stored batch.
    pub(crate) fn record(&mut self, header: &BatchHeader, base_offset: u64, now_ms: i64) {
        if header.producer_id == NO_PRODUCER_ID {
            return;
        }
        let state = self.states.entry(header.producer_id).or_insert_with(|| ProducerState {
            epoch: header.producer_epoch,
            recent: VecDeque::new(),
            last_seen_ms: now_ms,
        });
        if header.producer_epoch != state.epoch {
            state.epoch = header.producer_epoch;
            state.recent.clear();
        }
        state.recent.push_back(BatchMeta {
            base_sequence: header.base_sequence,
            count: header.record_count,
            base_offset,
        });
        if state.recent.len() > RECENT_BATCHES {
            state.recent.pop_front();
        }
        state.last_seen_ms = state.last_seen_ms.max(now_ms);
    }

    /// Forgets producers idle since before `horizon_ms`.
    pub(crate) fn expire(&mut self, horizon_ms: i64) {
        self.states.retain(|_, s| s.last_seen_ms >= horizon_ms);
    }

    /// Producers tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    next_offset: u64,
    producers: &'a Producers,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: u32) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            batch_length: 0,
            leader_epoch: 0,
            crc: 0,
            version: 1,
            attributes: Default::default(),
            record_count: count,
            first_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
        }
    }

    #[test]
    fn sequences_duplicates_gaps_and_fencing() {
        let mut p = Producers::default();
        assert_eq!(p.check(&header(5, 0, 0, 3), 10).expect("first"), Verdict::Append);
        assert!(matches!(p.check(&header(12, 0, 0, 3), 10), Err(BrokerError::UnknownProducer(12))));
        p.record(&header(5, 0, 0, 3), 100, 0);
        assert_eq!(p.check(&header(5, 0, 3, 2), 10).expect("next"), Verdict::Append);
        assert_eq!(p.check(&header(5, 0, 0, 3), 10).expect("retry"), Verdict::Duplicate { base_offset: 100, count: 3 });
        assert!(matches!(
            p.check(&header(5, 0, 7, 1), 10),
            Err(BrokerError::OutOfOrderSequence { expected: 3, got: 7, .. })
        ));
        assert_eq!(p.check(&header(5, 1, 0, 1), 10).expect("new epoch"), Verdict::Append);
        p.record(&header(5, 1, 0, 1), 103, 0);
        assert!(matches!(
            p.check(&header(5, 0, 3, 1), 10),
            Err(BrokerError::ProducerFenced { current: 1, got: 0, .. })
        ));
        p.expire(1);
        assert_eq!(p.len(), 0);
    }
}
