//! The persisted part of a virtual host: durable exchanges, durable queues and the bindings between durable ends,
//! one JSON file per virtual host (`<data dir>/amqp/<stream>.json`), replaced atomically (temporary file, fsync,
//! rename, directory fsync).

use std::path::{Path, PathBuf};

use amq_protocol::types::FieldTable;
use serde::{Deserialize, Serialize};

use super::exchange::{Binding, Exchange};

/// A durable queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredQueue {
    /// Name.
    pub name: String,
    /// The topic holding its messages.
    pub topic: String,
    /// Auto-delete flag.
    pub auto_delete: bool,
    /// Declared arguments.
    pub arguments: FieldTable,
}

/// A binding with its source exchange.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredBinding {
    /// Source exchange.
    pub source: String,
    /// The binding.
    pub binding: Binding,
}

/// Everything persisted for one virtual host.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stored {
    /// Declared durable exchanges (not the built-in ones).
    pub exchanges: Vec<Exchange>,
    /// Durable queues.
    pub queues: Vec<StoredQueue>,
    /// Bindings whose source and destination are durable.
    pub bindings: Vec<StoredBinding>,
}

/// The file of a stream's AMQP metadata.
pub fn path(data_dir: &Path, stream: &str) -> PathBuf {
    data_dir.join("amqp").join(format!("{stream}.json"))
}

/// Reads the file (empty when missing).
pub fn load(path: &Path) -> std::io::Result<Stored> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stored::default()),
        Err(e) => Err(e),
    }
}

/// Replaces the file atomically and durably (the broker's one replace algorithm).
pub fn save(path: &Path, stored: &Stored) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| std::io::Error::other("metadata path without a directory"))?;
    callboard_actors::create_dir_all_synced(dir)?;
    let bytes = serde_json::to_vec_pretty(stored).map_err(std::io::Error::other)?;
    callboard_actors::replace_file(path, &bytes, false)
}
