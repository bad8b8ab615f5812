//! Sparse segment indexes, held in memory and mirrored to `.index` and `.timeindex` files.
//!
//! `.index` holds 8-byte entries (relative offset `u32`, file position `u32`, little-endian): one every
//! `index_interval_bytes` of log. `.timeindex` holds 12-byte entries (timestamp `i64`, relative offset `u32`): the
//! largest timestamp seen so far in the segment and the batch where it was reached, written at the same points when
//! that maximum grew. Both are rebuilt from the log whenever they are missing or do not make sense.

/// Size of one `.index` entry.
pub(crate) const OFFSET_ENTRY_LEN: usize = 8;
/// Size of one `.timeindex` entry.
pub(crate) const TIME_ENTRY_LEN: usize = 12;

/// Offset → file position, sparse.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct OffsetIndex {
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    /// Decodes an index file; `None` if it is not a strictly increasing sequence of positions inside the log.
    pub(crate) fn decode(bytes: &[u8], log_size: u64) -> Option<Self> {
        if !bytes.len().is_multiple_of(OFFSET_ENTRY_LEN) {
            return None;
        }
        let mut entries = Vec::with_capacity(bytes.len() / OFFSET_ENTRY_LEN);
        for chunk in bytes.chunks_exact(OFFSET_ENTRY_LEN) {
            let rel = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let pos = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            if u64::from(pos) >= log_size {
                return None;
            }
            if let Some(&(prev_rel, prev_pos)) = entries.last()
                && (rel <= prev_rel || pos <= prev_pos)
            {
                return None;
            }
            entries.push((rel, pos));
        }
        Some(OffsetIndex { entries })
    }

    /// The encoded form of one entry.
    pub(crate) fn encode_entry(rel: u32, pos: u32) -> [u8; OFFSET_ENTRY_LEN] {
        let mut out = [0u8; OFFSET_ENTRY_LEN];
        out[..4].copy_from_slice(&rel.to_le_bytes());
        out[4..].copy_from_slice(&pos.to_le_bytes());
        out
    }

    /// The whole index, encoded.
    pub(crate) fn encode(&self) -> Vec<u8> {
        self.entries.iter().flat_map(|&(r, p)| Self::encode_entry(r, p)).collect()
    }

    /// The entry with the largest relative offset not above `rel`, or the segment start.
    pub(crate) fn floor(&self, rel: u32) -> (u32, u32) {
        let i = self.entries.partition_point(|&(r, _)| r <= rel);
        if i == 0 { (0, 0) } else { self.entries[i - 1] }
    }

    /// Adds an entry (callers add them in increasing order).
    pub(crate) fn push(&mut self, rel: u32, pos: u32) {
        self.entries.push((rel, pos));
    }

    /// The last entry.
    pub(crate) fn last(&self) -> Option<(u32, u32)> {
        self.entries.last().copied()
    }

    /// Drops entries at or past byte `pos`.
    pub(crate) fn truncate_at_position(&mut self, pos: u64) {
        let keep = self.entries.partition_point(|&(_, p)| u64::from(p) < pos);
        self.entries.truncate(keep);
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Timestamp → offset, sparse.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TimeIndex {
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    /// Decodes a time index file; `None` if timestamps or offsets decrease or offsets pass `max_rel`.
    pub(crate) fn decode(bytes: &[u8], max_rel: u32) -> Option<Self> {
        if !bytes.len().is_multiple_of(TIME_ENTRY_LEN) {
            return None;
        }
        let mut entries = Vec::with_capacity(bytes.len() / TIME_ENTRY_LEN);
        for chunk in bytes.chunks_exact(TIME_ENTRY_LEN) {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&chunk[..8]);
            let ts = i64::from_le_bytes(ts);
            let rel = u32::from_le_bytes([chunk[8], chunk[9], chunk[10], chunk[11]]);
            if rel > max_rel {
                return None;
            }
            if let Some(&(prev_ts, prev_rel)) = entries.last()
                && (ts <= prev_ts || rel <= prev_rel)
            {
                return None;
            }
            entries.push((ts, rel));
        }
        Some(TimeIndex { entries })
    }

    /// The encoded form of one entry.
    pub(crate) fn encode_entry(ts: i64, rel: u32) -> [u8; TIME_ENTRY_LEN] {
        let mut out = [0u8; TIME_ENTRY_LEN];
        out[..8].copy_from_slice(&ts.to_le_bytes());
        out[8..].copy_from_slice(&rel.to_le_bytes());
        out
    }

    /// The whole index, encoded.
    pub(crate) fn encode(&self) -> Vec<u8> {
        self.entries.iter().flat_map(|&(t, r)| Self::encode_entry(t, r)).collect()
    }

    /// Relative offset of a batch from which a scan for the first record at or after `ts` may start: every record
    /// before it has a smaller timestamp.
    pub(crate) fn scan_start(&self, ts: i64) -> u32 {
        let i = self.entries.partition_point(|&(t, _)| t < ts);
        if i == 0 { 0 } else { self.entries[i - 1].1 }
    }

    /// Largest timestamp recorded, if any.
    pub(crate) fn last(&self) -> Option<(i64, u32)> {
        self.entries.last().copied()
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds an entry (callers add them with growing timestamps and offsets).
    pub(crate) fn push(&mut self, ts: i64, rel: u32) {
        self.entries.push((ts, rel));
    }

    /// Drops entries at or past relative offset `rel`.
    pub(crate) fn truncate_at_rel(&mut self, rel: u32) {
        let keep = self.entries.partition_point(|&(_, r)| r < rel);
        self.entries.truncate(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_floor_and_round_trip() {
        let mut idx = OffsetIndex::default();
        idx.push(10, 4096);
        idx.push(25, 8200);
        assert_eq!(idx.floor(0), (0, 0));
        assert_eq!(idx.floor(9), (0, 0));
        assert_eq!(idx.floor(10), (10, 4096));
        assert_eq!(idx.floor(24), (10, 4096));
        assert_eq!(idx.floor(1000), (25, 8200));
        let decoded = OffsetIndex::decode(&idx.encode(), 9000).expect("valid");
        assert_eq!(decoded, idx);
        assert!(OffsetIndex::decode(&idx.encode(), 8200).is_none(), "position past the log");
        assert!(OffsetIndex::decode(&idx.encode()[..7], 9000).is_none(), "partial entry");
        idx.truncate_at_position(8200);
        assert_eq!(idx.last(), Some((10, 4096)));
    }

    #[test]
    fn offset_index_rejects_non_increasing_entries() {
        let mut bytes = OffsetIndex::encode_entry(5, 100).to_vec();
        bytes.extend(OffsetIndex::encode_entry(5, 200));
        assert!(OffsetIndex::decode(&bytes, 1000).is_none());
    }

    #[test]
    fn time_index_scan_start() {
        let mut idx = TimeIndex::default();
        idx.push(100, 0);
        idx.push(200, 7);
        idx.push(300, 15);
        assert_eq!(idx.scan_start(50), 0);
        assert_eq!(idx.scan_start(100), 0);
        assert_eq!(idx.scan_start(101), 0);
        assert_eq!(idx.scan_start(250), 7);
        assert_eq!(idx.scan_start(301), 15);
        assert_eq!(TimeIndex::decode(&idx.encode(), 15).expect("valid"), idx);
        assert!(TimeIndex::decode(&idx.encode(), 14).is_none());
        idx.truncate_at_rel(7);
        assert_eq!(idx.last(), Some((100, 0)));
    }
}
