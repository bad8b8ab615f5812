//! [`PartitionLog`]: one partition's append-only log, made of segments, with group commit, retention and recovery.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use callboard_protocol::batch::{self, BatchHeader, BatchRef};
use tracing::{info, warn};

use crate::checkpoint;
use crate::commit::Committer;
use crate::config::{Durability, LogConfig, millis_i64};
use crate::env::{DirLock, Env};
use crate::error::{Result, StorageError};
use crate::os_env::{LOCK_FILE, OsEnv};
use crate::segment::{RecoveryReport, Segment};
use crate::segment_file::ColdFiles;

/// Histogram of append latency (validation and write, without fsync), in seconds.
pub const APPEND_SECONDS: &str = "callboard_storage_append_seconds";
/// Marker written by a clean [`PartitionLog::close`]; its absence on open means the last run crashed.
pub(crate) const CLEAN_MARKER: &str = ".clean-shutdown";

/// Where an appended batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the batch's first record.
    pub base_offset: u64,
    /// Offset of its last record.
    pub last_offset: u64,
    /// Offset the next append will get; pass it to [`Committer::sync_to`] to wait for durability.
    pub next_offset: u64,
}

/// Stored batches returned by a read, byte for byte as appended (with their assigned offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBatches {
    /// Whole batches, back to back; empty when the read starts at the log end.
    pub bytes: Bytes,
    /// Offset just after the last returned batch: where the next read continues.
    pub next_offset: u64,
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Bytes freed.
    pub bytes_deleted: u64,
}

/// A summary of one segment, for status pages and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Offset of its first batch.
    pub base_offset: u64,
    /// Offset after its last batch.
    pub next_offset: u64,
    /// Bytes in its log file.
    pub size_bytes: u64,
}

/// An append-only, segmented partition log on disk.
///
/// The log is single-writer (`&mut self` appends); durability waits go through the shared [`Committer`] so they
/// never hold the log. With `Durability::Always`, acknowledge an append only after
/// `committer.sync_to(appended.next_offset)` returns: concurrent writers then share fsyncs (group commit).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use callboard_protocol::batch::{BatchBuilder, RecordData};
/// use callboard_storage::{LogConfig, PartitionLog};
/// let dir = tempfile::tempdir()?;
/// let mut log = PartitionLog::open(dir.path(), LogConfig::default())?;
/// let mut builder = BatchBuilder::new();
/// builder.push(&RecordData { timestamp: 1, value: Some(b"hi"), ..Default::default() });
/// let mut batch = builder.finish();
/// let appended = log.append(&mut batch)?;
/// log.committer().sync_to(appended.next_offset)?; // durable from here
/// let read = log.read(0, 1 << 20)?;
/// assert_eq!(&read.bytes[..], &batch[..]);
/// log.close()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PartitionLog {
    env: Arc<dyn Env>,
    dir: PathBuf,
    config: LogConfig,
    segments: BTreeMap<u64, Segment>,
    log_start: u64,
    committer: Arc<Committer>,
    leader_epoch: u32,
    recovery: Option<RecoveryReport>,
    /// Sealed segments whose files are open (see [`crate::segment_file`]).
    cold: ColdFiles,
    _lock: Box<dyn DirLock>,
}

impl PartitionLog {
    /// Opens (or creates) the log in `dir` on the real file system.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Self> {
        Self::open_in(Arc::new(OsEnv), dir, config)
    }

    /// Opens (or creates) the log in `dir` through `env`, recovering from an unclean shutdown if needed.
    pub fn open_in(env: Arc<dyn Env>, dir: impl AsRef<Path>, config: LogConfig) -> Result<Self> {
        config.validate()?;
        let dir = dir.as_ref().to_path_buf();
        env.create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        let lock = env.lock_dir(&dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock => StorageError::Locked { path: dir.clone() },
            _ => StorageError::io(&dir, e),
        })?;
        let names = env.list_dir(&dir).map_err(|e| StorageError::io(&dir, e))?;
        let clean = names.iter().any(|n| n == CLEAN_MARKER);
        let mut bases = Vec::new();
        let mut strays = Vec::new();
        for name in &names {
            match name.rsplit_once('.') {
                Some((stem, "log")) if stem.len() == 20 => match stem.parse::<u64>() {
                    Ok(base) => bases.push(base),
                    Err(_) => warn!(file = name, "ignoring a file that looks like a segment but is not one"),
                },
                Some((stem, "index" | "timeindex")) => strays.push((stem.to_string(), name)),
                _ if checkpoint::is_temporary(name) => strays.push((String::new(), name)),
                _ => {}
            }
        }
        bases.sort_unstable();
        let mut removed = false;
        for (stem, name) in strays {
            if stem.parse::<u64>().is_ok_and(|b| bases.binary_search(&b).is_ok()) {
                continue;
            }
            let path = dir.join(name);
            env.remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            removed = true;
        }
        if clean {
            let marker = dir.join(CLEAN_MARKER);
            env.remove_file(&marker).map_err(|e| StorageError::io(&marker, e))?;
            removed = true;
        }
        if removed {
            env.sync_dir(&dir).map_err(|e| StorageError::io(&dir, e))?;
        }

        let checkpoint = checkpoint::read(env.as_ref(), &dir);
        let mut segments = BTreeMap::new();
        let mut recovery = None;
        for (i, &base) in bases.iter().enumerate() {
            let next_base = bases.get(i + 1).copied();
            let (seg, report) = Segment::open(&env, &dir, base, next_base, !clean, config.index_interval_bytes)?;
            if let Some(r) = &report {
                info!(dir = %dir.display(), batches = r.batches, cut_bytes = r.truncated_bytes, "recovered active segment");
            }
            recovery = report.or(recovery);
            if next_base.is_some() {
                // Sealed: its file is opened again by the first read that needs it.
                seg.close_file();
            }
            segments.insert(base, seg);
        }
        let next = segments.values().next_back().map_or(0, |s| s.next_offset);
        let start = checkpoint.unwrap_or(0);
        if segments.is_empty() || start > next {
            if !segments.is_empty() {
                warn!(dir = %dir.display(), start, next, "log start is past the recovered end; starting empty there");
            }
            for (_, seg) in std::mem::take(&mut segments) {
                seg.delete(env.as_ref())?;
            }
            let seg = Segment::create(&env, &dir, start, config.index_interval_bytes)?;
            env.sync_dir(&dir).map_err(|e| StorageError::io(&dir, e))?;
            segments.insert(start, seg);
        }
        let log_start = start.max(segments.keys().next().copied().unwrap_or(0));
        let active = segments.values().next_back().ok_or_else(|| StorageError::Config("no segment".into()))?;
        if !clean {
            // After an unclean shutdown the recovered tail, and the entry of a segment created just before the
            // crash, may exist only in the page cache: make them durable before the committer calls them so.
            active.sync_log()?;
            env.sync_dir(&dir).map_err(|e| StorageError::io(&dir, e))?;
        }
        let committer = Arc::new(Committer::new(dir.clone(), active.log_file()?, active.next_offset, env.now_ms()));
        Ok(PartitionLog {
            env,
            dir,
            config,
            segments,
            log_start,
            committer,
            leader_epoch: 0,
            recovery,
            cold: ColdFiles::default(),
            _lock: lock,
        })
    }

    /// Records a read of the segment at `base`; when it is sealed, closes the files of the sealed segments read
    /// longest ago past [`crate::segment_file::MAX_COLD_FILES`].
    fn used(&self, base: u64) {
        if self.segments.keys().next_back() == Some(&base) {
            return;
        }
        for stale in self.cold.touch(base) {
            if let Some(seg) = self.segments.get(&stale)
                && self.segments.keys().next_back() != Some(&stale)
            {
                seg.close_file();
            }
        }
    }

    /// Sealed segments of this log whose files are open now (at most
    /// [`crate::segment_file::MAX_COLD_FILES`]).
    pub fn open_sealed_files(&self) -> usize {
        self.segments.values().rev().skip(1).filter(|s| s.file_is_open()).count()
    }

    fn active(&self) -> &Segment {
        self.segments.values().next_back().expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments.values_mut().next_back().expect("a log always has an active segment")
    }

    /// Validates a batch, assigns it the next offsets (and the leader epoch) in place, and appends it.
    ///
    /// The batch is written but not yet durable under `Always`: see [`Committer::sync_to`]. Under `Interval` the
    /// append syncs when the interval has passed. On an error nothing was appended.
    pub fn append(&mut self, batch: &mut [u8]) -> Result<Appended> {
        let started = Instant::now();
        if let Some(cause) = self.committer.failure() {
            return Err(StorageError::Failed { path: self.dir.clone(), cause });
        }
        if batch.len() > self.config.max_batch_bytes as usize {
            return Err(StorageError::BatchTooLarge { size: batch.len(), max: self.config.max_batch_bytes });
        }
        let header = *batch::validate(batch)?.header();
        self.maybe_roll(batch.len(), header.record_count)?;
        let base_offset = self.next_offset();
        batch::set_base_offset(batch, base_offset);
        batch::set_leader_epoch(batch, self.leader_epoch);
        let header = BatchHeader { base_offset, leader_epoch: self.leader_epoch, ..header };
        if let Err(e) = self.active_mut().append(batch, &header) {
            if let StorageError::Failed { cause, .. } = &e {
                self.committer.fail(cause.clone());
            }
            return Err(e);
        }
        self.committer.advance(header.next_offset());
        metrics::histogram!(APPEND_SECONDS).record(started.elapsed().as_secs_f64());
        if let Durability::Interval(every) = self.config.durability
            && let Err(e) = self.committer.sync_if_older(millis_i64(every), self.env.now_ms())
        {
            warn!(dir = %self.dir.display(), error = %e, "interval sync failed");
        }
        Ok(Appended { base_offset, last_offset: header.last_offset(), next_offset: header.next_offset() })
    }

    fn maybe_roll(&mut self, batch_len: usize, records: u32) -> Result<()> {
        let now = self.env.now_ms();
        let active = self.active();
        if active.size == 0 {
            return Ok(());
        }
        let full = active.size + batch_len as u64 > self.config.segment_bytes;
        let old = self.config.segment_age.is_some_and(|age| now.saturating_sub(active.opened_ms) >= millis_i64(age));
        let offsets_exhausted = active.next_offset + u64::from(records) - active.base_offset > u64::from(u32::MAX);
        if full || old || offsets_exhausted { self.roll() } else { Ok(()) }
    }

    /// Seals the active segment (fsyncing it and its indexes whatever the durability) and starts a new one.
    fn roll(&mut self) -> Result<()> {
        self.roll_to(self.next_offset())
    }

    /// Seals the active segment and starts a new one at `next` (the log end, or the log start when truncation
    /// leaves nothing at or above it).
    fn roll_to(&mut self, next: u64) -> Result<()> {
        let sealed = self.active().base_offset;
        self.active_mut().seal()?;
        let seg = Segment::create(&self.env, &self.dir, next, self.config.index_interval_bytes)?;
        self.env.sync_dir(&self.dir).map_err(|e| StorageError::io(&self.dir, e))?;
        self.committer.reset(seg.log_file()?, next, next);
        self.segments.insert(next, seg);
        // The segment just sealed is the most recently used cold one (its file is still open).
        self.used(sealed);
        Ok(())
    }

    /// Reads whole stored batches starting with the one that holds `from`, up to about `max_bytes` (always at
    /// least one batch when any is there). Reading at the log end returns no bytes; below the log start or past
    /// the end is an error.
    pub fn read(&self, from: u64, max_bytes: usize) -> Result<ReadBatches> {
        self.read_until(from, max_bytes, u64::MAX)
    }

    /// Like [`PartitionLog::read`], but returns no batch starting at or after `upper` (for example the durable
    /// offset, or a replication high watermark).
    pub fn read_until(&self, from: u64, max_bytes: usize, upper: u64) -> Result<ReadBatches> {
        let end = self.next_offset();
        if from < self.log_start {
            return Err(StorageError::BelowLogStart { requested: from, log_start: self.log_start });
        }
        if from > end {
            return Err(StorageError::BeyondLogEnd { requested: from, log_end: end });
        }
        let empty = ReadBatches { bytes: Bytes::new(), next_offset: from };
        let upper = upper.min(end);
        if from >= upper {
            return Ok(empty);
        }
        let (_, seg) = self
            .segments
            .range(..=from)
            .next_back()
            .ok_or(StorageError::BelowLogStart { requested: from, log_start: self.log_start })?;
        let located = seg.locate(from);
        self.used(seg.base_offset);
        match located? {
            Some((pos, _)) => {
                let (bytes, next_offset) = seg.read(pos, max_bytes, upper, from)?;
                Ok(ReadBatches { bytes: Bytes::from(bytes), next_offset: next_offset.max(from) })
            }
            // Segments are contiguous, so only a damaged segment can lack an offset below the log end.
            None => Err(StorageError::Corrupt {
                segment: seg.base_offset,
                position: seg.size,
                first_offset: from,
                reason: "the segment ends before this offset".into(),
            }),
        }
    }

    /// Calls `visit` with every stored batch (CRC-checked, as stored) from the one holding `from` to the log end,
    /// reading a few MiB at a time. Owners use it to rebuild state from the log after a restart.
    pub fn for_each_batch(&self, from: u64, mut visit: impl FnMut(BatchRef<'_>) -> Result<()>) -> Result<()> {
        let mut at = from.max(self.log_start);
        while at < self.next_offset() {
            let read = self.read(at, 4 << 20)?;
            let mut rest = &read.bytes[..];
            while !rest.is_empty() {
                let len = BatchHeader::parse(rest)?.total_len().min(rest.len());
                visit(BatchRef::trusted(&rest[..len])?)?;
                rest = &rest[len..];
            }
            at = read.next_offset.max(at + 1);
        }
        Ok(())
    }

    /// Offset of the first record whose timestamp is at or after `timestamp_ms`, or `None` if there is none.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<u64>> {
        let candidates =
            self.segments.values().filter(|s| s.next_offset > self.log_start && s.max_timestamp >= timestamp_ms);
        for seg in candidates {
            let found = seg.find_timestamp(timestamp_ms, self.log_start);
            self.used(seg.base_offset);
            if let Some(offset) = found? {
                return Ok(Some(offset));
            }
        }
        Ok(None)
    }

    /// Removes every batch from the one holding `offset` onwards (replication uses it to drop a diverged tail).
    /// Returns the new log end offset.
    pub fn truncate_to(&mut self, offset: u64) -> Result<u64> {
        if offset < self.log_start {
            return Err(StorageError::TruncateBelowStart { requested: offset, log_start: self.log_start });
        }
        if offset >= self.next_offset() {
            return Ok(self.next_offset());
        }
        let doomed: Vec<u64> = self.segments.range(offset + 1..).map(|(b, _)| *b).rev().collect();
        let keep_base = self.segments.range(..=offset).next_back().map(|(b, _)| *b);
        for base in doomed {
            if Some(base) == keep_base {
                continue;
            }
            if let Some(seg) = self.segments.remove(&base) {
                self.cold.forget(base);
                seg.delete(self.env.as_ref())?;
            }
        }
        if let Some(base) = keep_base {
            // Active from here on: never closed as a cold file.
            self.cold.forget(base);
        }
        self.env.sync_dir(&self.dir).map_err(|e| StorageError::io(&self.dir, e))?;
        let holder = self.active().locate(offset)?.map(|(_, header)| header.base_offset);
        if holder.is_some_and(|base| base < self.log_start) {
            // Cutting at that batch would put the log end below the log start: continue from an empty segment at
            // the log start instead, and drop everything before it.
            let start = self.log_start;
            self.roll_to(start)?;
            let doomed: Vec<u64> = self.segments.keys().copied().filter(|&b| b != start).collect();
            self.delete_segments(&doomed)?;
            info!(dir = %self.dir.display(), offset, start, "truncated to the log start");
            return Ok(start);
        }
        let env = Arc::clone(&self.env);
        let seg = self.active_mut();
        let next = seg.truncate_to(env.as_ref(), offset)?;
        let file = seg.log_file()?;
        self.committer.reset(file, next, next);
        info!(dir = %self.dir.display(), offset, next, "truncated log");
        Ok(next)
    }

    /// After a failed fsync, drops everything above the last durable offset and returns it.
    ///
    /// A failed fsync may have lost any write since the last good one while the page cache still shows it (Linux
    /// marks the failed pages clean, so a later fsync "succeeds" without writing them: PostgreSQL's fsyncgate).
    /// Keeping that tail would let a reopened log serve it and acknowledge a producer's retry of it as a duplicate
    /// although it may never reach the disk; cutting it makes the retry be written and synced again. Does nothing
    /// when no fsync failed.
    pub fn discard_undurable(&mut self) -> Result<u64> {
        if self.committer.failure().is_none() {
            return Ok(self.next_offset());
        }
        let durable = self.committer.durable_offset().max(self.log_start);
        let next = self.truncate_to(durable)?;
        self.active().sync_log()?;
        warn!(dir = %self.dir.display(), durable, "an fsync failed: discarded everything written after the last good one");
        Ok(next)
    }

    /// Advances the log start offset to `offset` (durably) and deletes every segment wholly below it. Reads below
    /// it fail from now on. Returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: u64) -> Result<u64> {
        let end = self.next_offset();
        if offset > end {
            return Err(StorageError::BeyondLogEnd { requested: offset, log_end: end });
        }
        if offset <= self.log_start {
            return Ok(self.log_start);
        }
        checkpoint::write(self.env.as_ref(), &self.dir, offset)?;
        self.log_start = offset;
        if self.active().next_offset <= offset && self.active().size > 0 {
            self.roll()?;
        }
        let doomed: Vec<u64> =
            self.segments.iter().rev().skip(1).filter(|(_, s)| s.next_offset <= offset).map(|(b, _)| *b).collect();
        self.delete_segments(&doomed)?;
        Ok(self.log_start)
    }

    /// Deletes sealed segments past the configured retention age or total size, oldest first.
    pub fn enforce_retention(&mut self) -> Result<RetentionReport> {
        let now = self.env.now_ms();
        let mut total: u64 = self.size_bytes();
        let mut doomed = Vec::new();
        for seg in self.segments.values().rev().skip(1).collect::<Vec<_>>().into_iter().rev() {
            let too_old =
                self.config.retention_age.is_some_and(|age| seg.max_timestamp < now.saturating_sub(millis_i64(age)));
            let too_big = self.config.retention_bytes.is_some_and(|limit| total - seg.size >= limit);
            if !(too_old || too_big) {
                break;
            }
            total -= seg.size;
            doomed.push(seg.base_offset);
        }
        let before = self.size_bytes();
        let count = doomed.len();
        self.delete_segments(&doomed)?;
        Ok(RetentionReport { segments_deleted: count, bytes_deleted: before - self.size_bytes() })
    }

    fn delete_segments(&mut self, bases: &[u64]) -> Result<()> {
        if bases.is_empty() {
            return Ok(());
        }
        for base in bases {
            self.cold.forget(*base);
            if let Some(seg) = self.segments.remove(base) {
                seg.delete(self.env.as_ref())?;
            }
        }
        self.env.sync_dir(&self.dir).map_err(|e| StorageError::io(&self.dir, e))?;
        if let Some(&first) = self.segments.keys().next() {
            self.log_start = self.log_start.max(first);
        }
        Ok(())
    }

    /// Makes everything appended so far durable.
    pub fn flush(&self) -> Result<()> {
        self.committer.sync_to(self.next_offset())
    }

    /// Under `Durability::Interval`, syncs if the interval has passed since the last sync (for an owner's timer).
    pub fn flush_if_due(&self) -> Result<()> {
        match self.config.durability {
            Durability::Interval(every) => self.committer.sync_if_older(millis_i64(every), self.env.now_ms()),
            _ => Ok(()),
        }
    }

    /// Syncs everything and marks the shutdown clean, so the next open skips re-validating the active segment.
    pub fn close(self) -> Result<()> {
        if let Some(cause) = self.committer.failure() {
            return Err(StorageError::Failed { path: self.dir.clone(), cause });
        }
        self.active().sync_all()?;
        let marker = self.dir.join(CLEAN_MARKER);
        self.env.open_file(&marker, true).map_err(|e| StorageError::io(&marker, e))?;
        self.env.sync_dir(&self.dir).map_err(|e| StorageError::io(&self.dir, e))
    }

    /// The shared durability handle.
    pub fn committer(&self) -> Arc<Committer> {
        Arc::clone(&self.committer)
    }

    /// Sets the leader epoch stamped on later appends.
    pub fn set_leader_epoch(&mut self, epoch: u32) {
        self.leader_epoch = epoch;
    }

    /// First offset still held.
    pub fn log_start_offset(&self) -> u64 {
        self.log_start
    }

    /// Offset the next append will get (the log end offset).
    pub fn next_offset(&self) -> u64 {
        self.active().next_offset
    }

    /// Offset below which everything is durable.
    pub fn durable_offset(&self) -> u64 {
        self.committer.durable_offset()
    }

    /// Bytes in all segment files.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size).sum()
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.segments
            .values()
            .map(|s| SegmentInfo { base_offset: s.base_offset, next_offset: s.next_offset, size_bytes: s.size })
            .collect()
    }

    /// What recovery did when the log was opened after an unclean shutdown.
    pub fn recovery_report(&self) -> Option<&RecoveryReport> {
        self.recovery.as_ref()
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's configuration.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }
}

/// Names of files a log directory may hold besides segments (for tools that list directories).
pub const RESERVED_FILES: &[&str] = &[LOCK_FILE, CLEAN_MARKER, checkpoint::LOG_START_FILE];

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
