//! [`Segment`]: one `<base_offset:020>.log` file with its sparse `.index` and `.timeindex`.
//!
//! A segment appends whole batches, finds the batch holding an offset through its index, reads stored batches back
//! (checking each CRC), and recovers itself on open: a sealed segment trusts its fsynced indexes after checking their
//! tail, the active segment after a crash is re-validated batch by batch and its torn tail cut off.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use callboard_protocol::batch::{BatchHeader, BatchRef, HEADER_LEN, MAX_DECOMPRESSED_BYTES, crc_of, validate};
use tracing::{error, warn};

use crate::env::{Env, LogFile};
use crate::error::{Result, StorageError};
use crate::index::{OFFSET_ENTRY_LEN, OffsetIndex, TIME_ENTRY_LEN, TimeIndex};
use crate::segment_file::SegmentFile;
use crate::walker::{Step, Walker};

/// Read-ahead used when scanning headers only.
const HEADER_SCAN_WINDOW: usize = 64 << 10;
/// Bytes a read fetches first; it reads more (doubling) only while the batches it wants run past them.
const FIRST_READ: usize = 64 << 10;
/// Read-ahead used when validating whole batches.
const RECOVERY_WINDOW: usize = 4 << 20;

/// File name of a segment's log for `base`.
pub(crate) fn log_name(base: u64) -> String {
    format!("{base:020}.log")
}

/// What `Segment::recover` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Batches validated.
    pub batches: u64,
    /// Bytes cut from a torn or corrupt tail.
    pub truncated_bytes: u64,
    /// Why the tail was cut, when it was.
    pub reason: Option<String>,
}

/// One segment of a partition log.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: u64,
    pub(crate) next_offset: u64,
    pub(crate) size: u64,
    pub(crate) max_timestamp: i64,
    /// Wall-clock time the segment was created or, after a restart, opened: the start of its age for rolling.
    pub(crate) opened_ms: i64,
    log: SegmentFile,
    index: OffsetIndex,
    time_index: TimeIndex,
    index_files: Option<(Arc<dyn LogFile>, Arc<dyn LogFile>)>,
    bytes_since_index: u64,
    index_interval: u64,
    log_path: PathBuf,
    index_path: PathBuf,
    time_path: PathBuf,
}

impl Segment {
    fn empty(env: &Arc<dyn Env>, dir: &Path, base: u64, log: Arc<dyn LogFile>, index_interval: u32) -> Self {
        let stem = format!("{base:020}");
        let log_path = dir.join(format!("{stem}.log"));
        Segment {
            index_interval: u64::from(index_interval.max(1)),
            base_offset: base,
            next_offset: base,
            size: 0,
            max_timestamp: i64::MIN,
            opened_ms: 0,
            log: SegmentFile::new(Arc::clone(env), log_path.clone(), log),
            index: OffsetIndex::default(),
            time_index: TimeIndex::default(),
            index_files: None,
            bytes_since_index: 0,
            log_path,
            index_path: dir.join(format!("{stem}.index")),
            time_path: dir.join(format!("{stem}.timeindex")),
        }
    }

    /// Creates a new, empty active segment (the caller syncs the directory).
    pub(crate) fn create(env: &Arc<dyn Env>, dir: &Path, base: u64, index_interval: u32) -> Result<Self> {
        let path = dir.join(log_name(base));
        let log = env.open_file(&path, true).map_err(|e| StorageError::io(&path, e))?;
        log.set_len(0).map_err(|e| StorageError::io(&path, e))?;
        let mut seg = Segment::empty(env, dir, base, log, index_interval);
        seg.opened_ms = env.now_ms();
        seg.open_index_files(env.as_ref(), true)?;
        Ok(seg)
    }

    /// Opens an existing segment. A sealed segment (`is_active == false`) ends where the next one starts
    /// (`next_base`). The active segment is fully re-validated when `full_recovery` is set.
    pub(crate) fn open(
        env: &Arc<dyn Env>,
        dir: &Path,
        base: u64,
        next_base: Option<u64>,
        full_recovery: bool,
        index_interval: u32,
    ) -> Result<(Self, Option<RecoveryReport>)> {
        let path = dir.join(log_name(base));
        let log = env.open_file(&path, false).map_err(|e| StorageError::io(&path, e))?;
        let size = log.len().map_err(|e| StorageError::io(&path, e))?;
        let mut seg = Segment::empty(env, dir, base, log, index_interval);
        seg.opened_ms = env.now_ms();
        seg.size = size;
        let env: &dyn Env = env.as_ref();
        let is_active = next_base.is_none();
        if is_active && full_recovery {
            seg.open_index_files(env, true)?;
            let report = seg.recover()?;
            return Ok((seg, Some(report)));
        }
        let loaded = seg.load_indexes(env);
        match seg.scan_tail()? {
            Ok(()) => {}
            Err(reason) if is_active => {
                warn!(segment = %path.display(), %reason, "active segment tail does not match its index; recovering");
                seg.open_index_files(env, true)?;
                let report = seg.recover()?;
                return Ok((seg, Some(report)));
            }
            Err(reason) => {
                error!(segment = %path.display(), %reason, "sealed segment is damaged; reads of the range will fail");
            }
        }
        if let Some(next) = next_base {
            if seg.next_offset != next {
                error!(
                    segment = %path.display(), expected = next, found = seg.next_offset,
                    "sealed segment does not end where the next one starts"
                );
            }
            seg.next_offset = next;
        }
        if is_active {
            seg.open_index_files(env, true)?;
            seg.write_index_files()?;
        } else if !loaded {
            seg.rewrite_indexes(env)?;
        }
        Ok((seg, None))
    }

    fn open_index_files(&mut self, env: &dyn Env, truncate: bool) -> Result<()> {
        let index = env.open_file(&self.index_path, true).map_err(|e| StorageError::io(&self.index_path, e))?;
        let time = env.open_file(&self.time_path, true).map_err(|e| StorageError::io(&self.time_path, e))?;
        if truncate {
            index.set_len(0).map_err(|e| StorageError::io(&self.index_path, e))?;
            time.set_len(0).map_err(|e| StorageError::io(&self.time_path, e))?;
        }
        self.index_files = Some((index, time));
        Ok(())
    }

    /// Loads both index files; on any problem starts from empty indexes (the tail scan then rebuilds them) and
    /// returns `false`.
    fn load_indexes(&mut self, env: &dyn Env) -> bool {
        let read = |path: &Path| -> Option<Vec<u8>> {
            let file = env.open_file(path, false).ok()?;
            let len = file.len().ok()?;
            let mut buf = vec![0u8; usize::try_from(len).ok()?];
            file.read_exact_at(&mut buf, 0).ok()?;
            Some(buf)
        };
        let index = read(&self.index_path).and_then(|b| OffsetIndex::decode(&b, self.size));
        let max_rel = index.as_ref().and_then(OffsetIndex::last).map_or(0, |(r, _)| r);
        let time = read(&self.time_path).and_then(|b| TimeIndex::decode(&b, max_rel));
        match (index, time) {
            (Some(index), Some(time)) => {
                self.index = index;
                self.time_index = time;
                true
            }
            _ => {
                warn!(segment = %self.log_path.display(), "index missing or invalid; rebuilding it from the log");
                self.index = OffsetIndex::default();
                self.time_index = TimeIndex::default();
                false
            }
        }
    }

    /// Walks batch headers from the last index entry to the end of the file, completing the indexes, the next
    /// offset and the timestamps. Returns `Err(reason)` (inside `Ok`) when the chain of headers breaks.
    fn scan_tail(&mut self) -> Result<std::result::Result<(), String>> {
        let (rel, pos) = self.index.last().unwrap_or((0, 0));
        self.max_timestamp = self.time_index.last().map_or(i64::MIN, |(t, _)| t);
        self.bytes_since_index = 0;
        let mut expected = self.base_offset + u64::from(rel);
        self.next_offset = expected;
        let log = self.log_file()?;
        let mut walker = Walker::new(log.as_ref(), u64::from(pos), self.size, HEADER_SCAN_WINDOW);
        loop {
            let batch_pos = walker.pos;
            let header = match walker.header().map_err(|e| StorageError::io(&self.log_path, e))? {
                Step::End => break,
                Step::Batch(h) => h,
                Step::Bad(reason) => return Ok(Err(format!("at byte {batch_pos}: {reason}"))),
            };
            if header.base_offset != expected {
                return Ok(Err(format!(
                    "batch at byte {batch_pos} has base offset {}, expected {expected}",
                    header.base_offset
                )));
            }
            self.track(batch_pos, &header, false);
            expected = header.next_offset();
            self.next_offset = expected;
            walker.advance(header.total_len());
        }
        Ok(Ok(()))
    }

    /// Validates every batch (CRC and records) from the start, rebuilding the indexes and cutting a bad tail.
    fn recover(&mut self) -> Result<RecoveryReport> {
        self.index = OffsetIndex::default();
        self.time_index = TimeIndex::default();
        self.max_timestamp = i64::MIN;
        self.bytes_since_index = 0;
        self.next_offset = self.base_offset;
        let mut report = RecoveryReport::default();
        let log = self.log_file()?;
        let mut walker = Walker::new(log.as_ref(), 0, self.size, RECOVERY_WINDOW);
        let mut bad = None;
        loop {
            let pos = walker.pos;
            let header = match walker.header().map_err(|e| StorageError::io(&self.log_path, e))? {
                Step::End => break,
                Step::Batch(h) => h,
                Step::Bad(reason) => {
                    bad = Some(reason);
                    break;
                }
            };
            if header.base_offset != self.next_offset {
                bad = Some(format!("base offset {} where {} was expected", header.base_offset, self.next_offset));
                break;
            }
            let body = walker.body(header.total_len()).map_err(|e| StorageError::io(&self.log_path, e))?;
            if let Err(e) = validate(body) {
                bad = Some(e.to_string());
                break;
            }
            self.track(pos, &header, false);
            self.next_offset = header.next_offset();
            report.batches += 1;
            walker.advance(header.total_len());
        }
        let valid = walker.pos;
        if let Some(reason) = bad {
            report.truncated_bytes = self.size - valid;
            warn!(
                segment = %self.log_path.display(), cut_bytes = report.truncated_bytes, at = valid, %reason,
                "cut a torn or corrupt tail off the active segment"
            );
            report.reason = Some(reason);
            log.set_len(valid).map_err(|e| StorageError::io(&self.log_path, e))?;
            log.sync_data().map_err(|e| StorageError::io(&self.log_path, e))?;
            self.size = valid;
        }
        self.write_index_files()?;
        Ok(report)
    }

    /// Updates timestamps and, every `index_interval` bytes, the sparse indexes for a batch at `pos`. When `persist`
    /// is set, new entries are also appended to the index files.
    fn track(&mut self, pos: u64, header: &BatchHeader, persist: bool) {
        let rel = (header.base_offset - self.base_offset) as u32;
        self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
        if pos > 0 && self.bytes_since_index >= self.index_interval {
            self.index.push(rel, pos as u32);
            let time_entry = self.time_index.last().is_none_or(|(t, _)| self.max_timestamp > t);
            if time_entry {
                self.time_index.push(self.max_timestamp, rel);
            }
            if persist {
                self.persist_entry(rel, pos as u32, time_entry);
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += header.total_len() as u64;
    }

    fn persist_entry(&self, rel: u32, pos: u32, time_entry: bool) {
        if let Some((index, _)) = &self.index_files {
            let at = ((self.index.len() - 1) * OFFSET_ENTRY_LEN) as u64;
            if let Err(e) = index.write_all_at(&OffsetIndex::encode_entry(rel, pos), at) {
                warn!(file = %self.index_path.display(), error = %e, "index write failed; it is rebuilt on open");
            }
        }
        if time_entry {
            self.persist_time_entry(rel);
        }
    }

    fn persist_time_entry(&self, rel: u32) {
        if let Some((_, time)) = &self.index_files {
            let at = ((self.time_index.len() - 1) * TIME_ENTRY_LEN) as u64;
            if let Err(e) = time.write_all_at(&TimeIndex::encode_entry(self.max_timestamp, rel), at) {
                warn!(file = %self.time_path.display(), error = %e, "time index write failed; it is rebuilt on open");
            }
        }
    }

    fn write_index_files(&self) -> Result<()> {
        if let Some((index, time)) = &self.index_files {
            for (file, bytes, path) in
                [(index, self.index.encode(), &self.index_path), (time, self.time_index.encode(), &self.time_path)]
            {
                file.set_len(0).map_err(|e| StorageError::io(path, e))?;
                file.write_all_at(&bytes, 0).map_err(|e| StorageError::io(path, e))?;
            }
        }
        Ok(())
    }

    fn rewrite_indexes(&mut self, env: &dyn Env) -> Result<()> {
        let had_files = self.index_files.is_some();
        if !had_files {
            self.open_index_files(env, false)?;
        }
        self.write_index_files()?;
        self.sync_indexes()?;
        if !had_files {
            self.index_files = None;
        }
        Ok(())
    }

    /// Appends a validated batch whose base offset is already stamped. On a failed write the file is cut back,
    /// so the segment stays consistent; if even that fails the error is [`StorageError::Failed`].
    pub(crate) fn append(&mut self, batch: &[u8], header: &BatchHeader) -> Result<()> {
        let pos = self.size;
        let log = self.log_file()?;
        if let Err(e) = log.write_all_at(batch, pos) {
            let err = StorageError::io(&self.log_path, e);
            if let Err(rollback) = log.set_len(pos) {
                return Err(StorageError::Failed {
                    path: self.log_path.clone(),
                    cause: format!("{err}; rolling back failed too: {rollback}"),
                });
            }
            return Err(err);
        }
        self.size += batch.len() as u64;
        self.next_offset = header.next_offset();
        self.track(pos, header, true);
        Ok(())
    }

    /// Position and header of the batch holding `offset`, or `None` when the segment ends before it.
    pub(crate) fn locate(&self, offset: u64) -> Result<Option<(u64, BatchHeader)>> {
        if offset >= self.next_offset || offset < self.base_offset {
            return Ok(None);
        }
        let rel = (offset - self.base_offset).min(u64::from(u32::MAX)) as u32;
        let (_, pos) = self.index.floor(rel);
        // The batch is usually within one index interval of the entry: read just that much ahead.
        let window = (self.index_interval as usize + HEADER_LEN).min(HEADER_SCAN_WINDOW);
        let log = self.log_file()?;
        let mut walker = Walker::new(log.as_ref(), u64::from(pos), self.size, window);
        loop {
            let batch_pos = walker.pos;
            match walker.header().map_err(|e| StorageError::io(&self.log_path, e))? {
                Step::End => return Ok(None),
                Step::Bad(reason) => return Err(self.corrupt(batch_pos, offset, reason)),
                Step::Batch(h) if h.next_offset() > offset => return Ok(Some((batch_pos, h))),
                Step::Batch(h) => walker.advance(h.total_len()),
            }
        }
    }

    /// Reads whole batches starting at byte `pos`: as many as fit in `max_bytes` (at least one), none whose base
    /// offset is at or past `upper`. Each batch's CRC is checked; a corrupt first batch is an error, a corrupt later
    /// one ends the read before it.
    /// Returns the bytes and the offset after the last batch returned.
    pub(crate) fn read(&self, pos: u64, max_bytes: usize, upper: u64, first_offset: u64) -> Result<(Vec<u8>, u64)> {
        let avail = self.size.saturating_sub(pos);
        let want = (max_bytes.max(HEADER_LEN) as u64).min(avail) as usize;
        // Read a first chunk and more only while batches below `upper` still fit in `want`: a small poll must not
        // read (and fault in) megabytes. The buffer is reserved once, so growing it copies nothing.
        let mut buf = Vec::with_capacity(want);
        let log = self.log_file()?;
        log.read_extend_at(pos, want.min(FIRST_READ), &mut buf).map_err(|e| StorageError::io(&self.log_path, e))?;
        let mut off = 0usize;
        let mut next = first_offset;
        while off < want {
            if buf.len() - off < HEADER_LEN && buf.len() < want {
                // The next header straddles the chunk read so far.
                let target = (off + HEADER_LEN).max((buf.len() * 2).min(want)).min(want);
                let (at, more) = (pos + buf.len() as u64, target - buf.len());
                log.read_extend_at(at, more, &mut buf).map_err(|e| StorageError::io(&self.log_path, e))?;
            }
            let header = match BatchHeader::parse(&buf[off..]) {
                Ok(h) => h,
                Err(_) if off > 0 && buf.len() - off < HEADER_LEN => break,
                Err(e) if off == 0 => return Err(self.corrupt(pos, first_offset, e.to_string())),
                Err(_) => break,
            };
            if header.base_offset >= upper {
                break;
            }
            let total = header.total_len();
            if pos + (off + total) as u64 > self.size {
                if off == 0 {
                    return Err(self.corrupt(pos, first_offset, "batch runs past the end of the segment".into()));
                }
                break;
            }
            if off + total > buf.len() {
                if off > 0 && off + total > want {
                    break;
                }
                // Grow to hold this batch (at least doubling, within `want`; a first batch larger than `want` is
                // read whole).
                let target = (off + total).max((buf.len() * 2).min(want));
                let more = target - buf.len();
                let at = pos + buf.len() as u64;
                log.read_extend_at(at, more, &mut buf).map_err(|e| StorageError::io(&self.log_path, e))?;
            }
            let stored = header.crc;
            let computed = crc_of(&buf[off..off + total]);
            if stored != computed {
                if off == 0 {
                    let reason = format!("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}");
                    return Err(self.corrupt(pos, header.base_offset, reason));
                }
                break;
            }
            off += total;
            next = header.next_offset();
        }
        buf.truncate(off);
        Ok((buf, next))
    }

    /// Offset of the first record in this segment at or after offset `from` with a timestamp at or after `ts`.
    pub(crate) fn find_timestamp(&self, ts: i64, from: u64) -> Result<Option<u64>> {
        if self.max_timestamp < ts {
            return Ok(None);
        }
        let start = (self.base_offset + u64::from(self.time_index.scan_start(ts))).max(from);
        let Some((pos, _)) = self.locate(start)? else { return Ok(None) };
        let log = self.log_file()?;
        let mut walker = Walker::new(log.as_ref(), pos, self.size, HEADER_SCAN_WINDOW);
        loop {
            let batch_pos = walker.pos;
            let header = match walker.header().map_err(|e| StorageError::io(&self.log_path, e))? {
                Step::End => return Ok(None),
                Step::Bad(reason) => return Err(self.corrupt(batch_pos, start, reason)),
                Step::Batch(h) => h,
            };
            if header.max_timestamp >= ts {
                let body = walker.body(header.total_len()).map_err(|e| StorageError::io(&self.log_path, e))?;
                if crc_of(body) != header.crc {
                    return Err(self.corrupt(batch_pos, header.base_offset, "CRC mismatch".into()));
                }
                let corrupt = |e: callboard_protocol::batch::BatchError| {
                    self.corrupt(batch_pos, header.base_offset, e.to_string())
                };
                let batch = BatchRef::trusted(body).map_err(corrupt)?;
                // A sealed (encrypted) batch's records cannot be read without its key: its first offset is the
                // answer (a few of its records may be older than `ts`; none after it is skipped).
                if header.attributes.sealed() {
                    return Ok(Some(header.base_offset.max(from)));
                }
                // A compressed batch was checked when appended; the format's ceiling bounds it here.
                let records = batch.decompress(MAX_DECOMPRESSED_BYTES).map_err(corrupt)?;
                for record in records.iter() {
                    let record = record.map_err(|e| self.corrupt(batch_pos, header.base_offset, e.to_string()))?;
                    if record.offset >= from && record.timestamp >= ts {
                        return Ok(Some(record.offset));
                    }
                }
            }
            walker.advance(header.total_len());
        }
    }

    /// Cuts the segment so that it ends just before the batch holding `offset` (or at its end if none does).
    /// Returns the new next offset.
    pub(crate) fn truncate_to(&mut self, env: &dyn Env, offset: u64) -> Result<u64> {
        let Some((pos, header)) = self.locate(offset)? else { return Ok(self.next_offset) };
        let log = self.log_file()?;
        log.set_len(pos).map_err(|e| StorageError::io(&self.log_path, e))?;
        log.sync_data().map_err(|e| StorageError::io(&self.log_path, e))?;
        self.size = pos;
        self.index.truncate_at_position(pos);
        self.time_index.truncate_at_rel((header.base_offset - self.base_offset) as u32);
        if let Err(reason) = self.scan_tail()? {
            return Err(self.corrupt(pos, header.base_offset, reason));
        }
        if self.index_files.is_none() {
            self.open_index_files(env, false)?;
        }
        self.write_index_files()?;
        Ok(self.next_offset)
    }

    /// Makes the log file durable.
    pub(crate) fn sync_log(&self) -> Result<()> {
        self.log_file()?.sync_data().map_err(|e| StorageError::io(&self.log_path, e))
    }

    fn sync_indexes(&self) -> Result<()> {
        if let Some((index, time)) = &self.index_files {
            index.sync_data().map_err(|e| StorageError::io(&self.index_path, e))?;
            time.sync_data().map_err(|e| StorageError::io(&self.time_path, e))?;
        }
        Ok(())
    }

    /// Makes the segment and its indexes durable and stops writing its index files (it is no longer active).
    pub(crate) fn seal(&mut self) -> Result<()> {
        self.sync_log()?;
        self.write_index_files()?;
        self.sync_indexes()?;
        self.index_files = None;
        Ok(())
    }

    /// Makes the segment and its indexes durable (clean shutdown of the active segment).
    pub(crate) fn sync_all(&self) -> Result<()> {
        self.sync_log()?;
        self.write_index_files()?;
        self.sync_indexes()
    }

    /// Removes the segment's files (the caller syncs the directory).
    pub(crate) fn delete(self, env: &dyn Env) -> Result<()> {
        for path in [&self.index_path, &self.time_path, &self.log_path] {
            match env.remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(path, e)),
            }
        }
        Ok(())
    }

    /// The log file, reopened if it was closed (also the handle the group-commit syncer gets).
    pub(crate) fn log_file(&self) -> Result<Arc<dyn LogFile>> {
        self.log.get().map_err(|e| StorageError::io(&self.log_path, e))
    }

    /// Closes the log file of a sealed segment; the next read reopens it.
    pub(crate) fn close_file(&self) {
        self.log.close();
    }

    /// Whether the log file is open now.
    pub(crate) fn file_is_open(&self) -> bool {
        self.log.is_open()
    }

    fn corrupt(&self, position: u64, first_offset: u64, reason: String) -> StorageError {
        StorageError::Corrupt { segment: self.base_offset, position, first_offset, reason }
    }
}
