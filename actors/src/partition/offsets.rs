//! Consumer offsets of one partition: an append-only write-ahead file, `consumer-offsets.log`, of CRC-framed
//! records (set or delete one consumer's offset), compacted now and then into the snapshot `consumer-offsets.json`
//! (the format earlier versions kept everything in, still read on open).
//!
//! A store appends one small record: an explicit commit then syncs it (one `fdatasync` of a few bytes, instead of
//! rewriting the whole file with two fsyncs and a rename as before); an auto-commit made by a fetch is only
//! written, and becomes durable with the next sync (the next commit, the periodic flush, or a clean close) — a
//! crash may then replay a few messages to an auto-committing consumer, never skip one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use callboard_storage::{Env, LogFile};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::error::{BrokerError, Result};

const SNAPSHOT: &str = "consumer-offsets.json";
const LOG: &str = "consumer-offsets.log";
/// Longest consumer name, in bytes (room for a group's `group:` prefix before a 255-byte group name).
pub(crate) const MAX_CONSUMER_NAME: usize = 1024;
/// Most consumers with a stored offset per partition.
pub(crate) const MAX_CONSUMERS: usize = 10_000;
/// The log is compacted into the snapshot once it is this large and four times the live data.
const COMPACT_BYTES: u64 = 1 << 20;
const SET: u8 = 1;
const DELETE: u8 = 2;

#[derive(Debug, Default, Serialize, Deserialize)]
struct OffsetsFile {
    version: u32,
    offsets: BTreeMap<String, u64>,
}

/// Stored offsets by consumer name.
#[derive(Debug)]
pub(crate) struct ConsumerOffsets {
    dir: PathBuf,
    offsets: BTreeMap<String, u64>,
    env: Arc<dyn Env>,
    log: Arc<dyn LogFile>,
    log_bytes: u64,
    unsynced: bool,
}

/// Checks a consumer name: 1 to 1024 bytes, printable.
pub(crate) fn validate_consumer_name(name: &str) -> Result<()> {
    let bad = |reason| Err(BrokerError::InvalidName { name: name.chars().take(64).collect(), reason });
    if name.is_empty() {
        return bad("a consumer name cannot be empty");
    }
    if name.len() > MAX_CONSUMER_NAME {
        return bad("a consumer name is at most 1024 bytes");
    }
    if name.chars().any(char::is_control) {
        return bad("a consumer name must be printable (no control characters)");
    }
    Ok(())
}

fn encode(kind: u8, name: &str, offset: u64) -> Vec<u8> {
    let mut payload = Vec::with_capacity(11 + name.len());
    payload.push(kind);
    payload.extend_from_slice(&(name.len() as u16).to_le_bytes());
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(&offset.to_le_bytes());
    let mut record = Vec::with_capacity(8 + payload.len());
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    record.extend_from_slice(&payload);
    record
}

/// Applies the records of `bytes` to `offsets`; returns the length of the valid prefix (a torn or damaged tail,
/// from a crash mid-append, ends the replay).
fn replay(bytes: &[u8], offsets: &mut BTreeMap<String, u64>) -> usize {
    let mut at = 0;
    while let Some(head) = bytes.get(at..at + 8) {
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let Some(payload) = bytes.get(at + 8..at + 8 + len).filter(|p| p.len() >= 11) else { break };
        if crc32c::crc32c(payload) != crc {
            break;
        }
        let name_len = u16::from_le_bytes([payload[1], payload[2]]) as usize;
        if payload.len() != 11 + name_len {
            break;
        }
        let Ok(name) = std::str::from_utf8(&payload[3..3 + name_len]) else { break };
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&payload[3 + name_len..]);
        match payload[0] {
            SET => {
                offsets.insert(name.to_string(), u64::from_le_bytes(raw));
            }
            DELETE => {
                offsets.remove(name);
            }
            _ => break,
        }
        at += 8 + len;
    }
    at
}

impl ConsumerOffsets {
    /// Loads the offsets stored in `dir` (through `env`, like the partition's log): the snapshot (if any), then
    /// the records appended after it.
    pub(crate) fn load(env: Arc<dyn Env>, dir: &Path) -> Result<Self> {
        let path = dir.join(SNAPSHOT);
        let read_all = |file: &Arc<dyn LogFile>| file.len().and_then(|len| file.read_vec_at(0, len as usize));
        let mut offsets = match env.open_file(&path, false) {
            Ok(file) => {
                let bytes = read_all(&file).map_err(|e| BrokerError::io(&path, e))?;
                let file: OffsetsFile = serde_json::from_slice(&bytes)
                    .map_err(|e| BrokerError::io(&path, std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
                file.offsets
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(BrokerError::io(&path, e)),
        };
        let log_path = dir.join(LOG);
        let io = |e| BrokerError::io(&log_path, e);
        let log = match env.open_file(&log_path, false) {
            Ok(log) => log,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A new file's directory entry is durable only once the directory is synced.
                let log = env.open_file(&log_path, true).map_err(io)?;
                env.sync_dir(dir).map_err(|e| BrokerError::io(dir, e))?;
                log
            }
            Err(e) => return Err(io(e)),
        };
        let bytes = read_all(&log).map_err(io)?;
        let valid = replay(&bytes, &mut offsets);
        if valid < bytes.len() {
            warn!(file = %log_path.display(), cut = bytes.len() - valid, "consumer offset log had a torn tail; cut");
            log.set_len(valid as u64).map_err(io)?;
            log.sync_data().map_err(io)?;
        }
        Ok(ConsumerOffsets { dir: dir.to_path_buf(), offsets, env, log, log_bytes: valid as u64, unsynced: false })
    }

    pub(crate) fn get(&self, consumer: &str) -> Option<u64> {
        self.offsets.get(consumer).copied()
    }

    /// Stores an offset; durable when this returns if `durable` (an explicit commit), otherwise written and made
    /// durable by the next sync (an auto-commit).
    pub(crate) fn store(&mut self, consumer: &str, offset: u64, durable: bool) -> Result<()> {
        validate_consumer_name(consumer)?;
        if self.offsets.get(consumer) == Some(&offset) {
            return if durable { self.sync() } else { Ok(()) };
        }
        if !self.offsets.contains_key(consumer) && self.offsets.len() >= MAX_CONSUMERS {
            return Err(BrokerError::LimitExceeded(format!(
                "at most {MAX_CONSUMERS} consumers may store offsets on one partition"
            )));
        }
        self.append(&encode(SET, consumer, offset))?;
        self.offsets.insert(consumer.to_string(), offset);
        if durable { self.sync() } else { Ok(()) }?;
        self.maybe_compact()
    }

    /// Deletes an offset (durably); returns whether there was one.
    pub(crate) fn delete(&mut self, consumer: &str) -> Result<bool> {
        if !self.offsets.contains_key(consumer) {
            return Ok(false);
        }
        self.append(&encode(DELETE, consumer, 0))?;
        self.offsets.remove(consumer);
        self.sync()?;
        self.maybe_compact()?;
        Ok(true)
    }

    /// Makes every stored offset durable.
    pub(crate) fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.log.sync_data().map_err(|e| BrokerError::io(self.dir.join(LOG), e))?;
            self.unsynced = false;
        }
        Ok(())
    }

    fn append(&mut self, record: &[u8]) -> Result<()> {
        let path = self.dir.join(LOG);
        if let Err(e) = self.log.write_all_at(record, self.log_bytes) {
            // Cut a partial record so the next append starts on a record boundary.
            let _ = self.log.set_len(self.log_bytes);
            return Err(BrokerError::io(&path, e));
        }
        self.log_bytes += record.len() as u64;
        self.unsynced = true;
        Ok(())
    }

    /// Rewrites the snapshot and empties the log once the log is mostly dead records.
    fn maybe_compact(&mut self) -> Result<()> {
        let live: u64 = self.offsets.keys().map(|k| 19 + k.len() as u64).sum();
        if self.log_bytes < COMPACT_BYTES || self.log_bytes < live.saturating_mul(4) {
            return Ok(());
        }
        let body = OffsetsFile { version: 1, offsets: self.offsets.clone() };
        let bytes = serde_json::to_vec(&body).map_err(|e| BrokerError::InvalidConfig(e.to_string()))?;
        let snapshot = self.dir.join(SNAPSHOT);
        self.env.replace_file(&snapshot, &bytes, false).map_err(|e| BrokerError::io(&snapshot, e))?;
        let log = self.dir.join(LOG);
        self.log.set_len(0).and_then(|()| self.log.sync_data()).map_err(|e| BrokerError::io(&log, e))?;
        self.log_bytes = 0;
        self.unsynced = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use callboard_storage::OsEnv;

    use super::*;

    fn load(dir: &Path) -> ConsumerOffsets {
        ConsumerOffsets::load(Arc::new(OsEnv), dir).expect("load")
    }

    #[test]
    fn store_get_delete_and_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut offsets = load(dir.path());
        assert_eq!(offsets.get("a"), None);
        offsets.store("a", 5, true).expect("store");
        offsets.store("b", 7, false).expect("store");
        assert!(offsets.delete("b").expect("delete"));
        assert!(!offsets.delete("b").expect("delete again"));
        drop(offsets);
        let reloaded = load(dir.path());
        assert_eq!(reloaded.get("a"), Some(5));
        assert_eq!(reloaded.get("b"), None);
    }

    #[test]
    fn an_old_snapshot_is_read_and_a_torn_tail_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(SNAPSHOT), br#"{"version":1,"offsets":{"old":3}}"#).expect("snapshot");
        let mut offsets = load(dir.path());
        assert_eq!(offsets.get("old"), Some(3), "offsets kept by earlier versions are read");
        offsets.store("new", 9, true).expect("store");
        drop(offsets);
        let mut log = std::fs::OpenOptions::new().append(true).open(dir.path().join(LOG)).expect("log");
        log.write_all(&encode(SET, "torn", 1)[..10]).expect("torn record");
        drop(log);
        let mut offsets = load(dir.path());
        assert_eq!((offsets.get("old"), offsets.get("new"), offsets.get("torn")), (Some(3), Some(9), None));
        offsets.store("after", 1, true).expect("appends continue on a record boundary");
        drop(offsets);
        assert_eq!(load(dir.path()).get("after"), Some(1));
    }

    #[test]
    fn names_and_counts_are_bounded_and_the_log_compacts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut offsets = load(dir.path());
        assert!(offsets.store("", 1, true).is_err());
        assert!(offsets.store(&"n".repeat(1025), 1, true).is_err());
        assert!(offsets.store("tab\t", 1, true).is_err());
        for i in 0..60_000u64 {
            offsets.store("busy", i, false).expect("store");
        }
        assert!(offsets.log_bytes < COMPACT_BYTES, "compacted: {} bytes of log", offsets.log_bytes);
        offsets.sync().expect("sync");
        drop(offsets);
        assert_eq!(load(dir.path()).get("busy"), Some(59_999));
    }
}
