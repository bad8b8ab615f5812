//! Consumer offsets of one partition, persisted atomically as `consumer-offsets.json` in the partition directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{BrokerError, Result};
use crate::metadata::write_atomically;

const FILE: &str = "consumer-offsets.json";

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
}

impl ConsumerOffsets {
    /// Loads the offsets stored in `dir` (none when the file does not exist).
    pub(crate) fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(FILE);
        let offsets = match fs::read(&path) {
            Ok(bytes) => {
                let file: OffsetsFile = serde_json::from_slice(&bytes)
                    .map_err(|e| BrokerError::io(&path, std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
                file.offsets
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(BrokerError::io(&path, e)),
        };
        Ok(ConsumerOffsets { dir: dir.to_path_buf(), offsets })
    }

    pub(crate) fn get(&self, consumer: &str) -> Option<u64> {
        self.offsets.get(consumer).copied()
    }

    /// Stores and persists an offset (durable when this returns).
    pub(crate) fn store(&mut self, consumer: &str, offset: u64) -> Result<()> {
        if self.offsets.get(consumer) == Some(&offset) {
            return Ok(());
        }
        let previous = self.offsets.insert(consumer.to_string(), offset);
        self.persist().inspect_err(|_| {
            match previous {
                Some(p) => self.offsets.insert(consumer.to_string(), p),
                None => self.offsets.remove(consumer),
            };
        })
    }

    /// Deletes an offset; returns whether there was one.
    pub(crate) fn delete(&mut self, consumer: &str) -> Result<bool> {
        if self.offsets.remove(consumer).is_none() {
            return Ok(false);
        }
        self.persist()?;
        Ok(true)
    }

    fn persist(&self) -> Result<()> {
        let body = OffsetsFile { version: 1, offsets: self.offsets.clone() };
        let bytes = serde_json::to_vec(&body).map_err(|e| BrokerError::InvalidConfig(e.to_string()))?;
        write_atomically(&self.dir, FILE, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_get_delete_and_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut offsets = ConsumerOffsets::load(dir.path()).expect("load");
        assert_eq!(offsets.get("a"), None);
        offsets.store("a", 5).expect("store");
        offsets.store("b", 7).expect("store");
        assert!(offsets.delete("b").expect("delete"));
        assert!(!offsets.delete("b").expect("delete again"));
        let reloaded = ConsumerOffsets::load(dir.path()).expect("reload");
        assert_eq!(reloaded.get("a"), Some(5));
        assert_eq!(reloaded.get("b"), None);
    }
}
