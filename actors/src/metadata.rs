//! The broker's metadata: streams, their topics and topic configurations, and id counters, persisted atomically
//! (write a temporary file, fsync, rename, fsync the directory) as versioned JSON in `<data_dir>/metadata.json`.
//!
//! Directories use numeric ids: `<data_dir>/streams/<stream_id>/<topic_id>/<partition>/`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::TopicConfig;
use crate::error::{BrokerError, Result};

/// Current metadata format version.
pub const METADATA_VERSION: u32 = 1;
/// Name of the stream that always exists.
pub const DEFAULT_STREAM: &str = "default";
const FILE: &str = "metadata.json";
/// Largest metadata file read back (a few hundred bytes per topic: far more than any broker holds).
const MAX_FILE_BYTES: u64 = 256 << 20;

/// One stream (namespace) and its topics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeta {
    /// Numeric id (directory name).
    pub id: u32,
    /// Name.
    pub name: String,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
    /// Topics, in creation order.
    pub topics: Vec<TopicMeta>,
    /// Consumer groups (their offsets live in the partitions).
    #[serde(default)]
    pub groups: Vec<GroupMeta>,
}

/// A consumer group, remembered across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMeta {
    /// Name.
    pub name: String,
    /// Every topic a member has subscribed to.
    pub topics: std::collections::BTreeSet<String>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    /// Numeric id (directory name), unique in the broker.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: i64,
    /// Configuration (partition count included).
    pub config: TopicConfig,
    /// The data key of an encrypted topic, wrapped by the master key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_key: Option<crate::encryption::WrappedKey>,
}

/// Everything persisted in `metadata.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Format version.
    pub version: u32,
    /// Next stream id.
    pub next_stream_id: u32,
    /// Next topic id.
    pub next_topic_id: u32,
    /// Next idempotent producer id.
    pub next_producer_id: i64,
    /// Streams, in creation order.
    pub streams: Vec<StreamMeta>,
    /// Users, grants and access tokens (absent in files written before users existed).
    #[serde(default)]
    pub auth: crate::auth::AuthMeta,
}

impl Metadata {
    fn fresh(now_ms: i64) -> Self {
        Metadata {
            version: METADATA_VERSION,
            next_stream_id: 2,
            next_topic_id: 1,
            next_producer_id: 1,
            streams: vec![StreamMeta {
                id: 1,
                name: DEFAULT_STREAM.into(),
                created_ms: now_ms,
                topics: vec![],
                groups: vec![],
            }],
            auth: crate::auth::AuthMeta::default(),
        }
    }

    /// Loads the metadata of `data_dir` through `env` (the broker's file-system layer), or creates it (with the
    /// `default` stream) when there is none.
    pub fn load_or_create(env: &dyn callboard_storage::Env, data_dir: &Path, now_ms: i64) -> Result<Self> {
        let path = data_dir.join(FILE);
        let read = env.open_file(&path, false).and_then(|file| {
            let len = file.len()?;
            if len > MAX_FILE_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{len} bytes, more than the {MAX_FILE_BYTES} a metadata file may hold"),
                ));
            }
            file.read_vec_at(0, len as usize)
        });
        match read {
            Ok(bytes) => {
                let meta: Metadata = serde_json::from_slice(&bytes)
                    .map_err(|e| BrokerError::io(&path, std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
                if meta.version != METADATA_VERSION {
                    return Err(BrokerError::InvalidConfig(format!(
                        "{} has format version {}, this build reads {METADATA_VERSION}",
                        path.display(),
                        meta.version
                    )));
                }
                Ok(meta)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let meta = Metadata::fresh(now_ms);
                meta.save(env, data_dir)?;
                Ok(meta)
            }
            Err(e) => Err(BrokerError::io(&path, e)),
        }
    }

    /// Atomically replaces the metadata file through `env` (the broker's file-system layer, so tests can fault it).
    pub fn save(&self, env: &dyn callboard_storage::Env, data_dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| BrokerError::InvalidConfig(e.to_string()))?;
        let path = data_dir.join(FILE);
        env.replace_file(&path, &bytes, false).map_err(|e| BrokerError::io(&path, e))
    }

    /// The stream called `name`.
    pub fn stream(&self, name: &str) -> Result<&StreamMeta> {
        self.streams.iter().find(|s| s.name == name).ok_or_else(|| BrokerError::StreamNotFound(name.into()))
    }

    /// The stream called `name`, mutably.
    pub fn stream_mut(&mut self, name: &str) -> Result<&mut StreamMeta> {
        self.streams.iter_mut().find(|s| s.name == name).ok_or_else(|| BrokerError::StreamNotFound(name.into()))
    }

    /// The topic `stream/topic`.
    pub fn topic(&self, stream: &str, topic: &str) -> Result<(&StreamMeta, &TopicMeta)> {
        let s = self.stream(stream)?;
        let t = s
            .topics
            .iter()
            .find(|t| t.name == topic)
            .ok_or_else(|| BrokerError::TopicNotFound { stream: stream.into(), topic: topic.into() })?;
        Ok((s, t))
    }
}

/// Directory of a topic.
pub fn topic_dir(data_dir: &Path, stream_id: u32, topic_id: u32) -> PathBuf {
    data_dir.join("streams").join(stream_id.to_string()).join(topic_id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut meta = Metadata::load_or_create(&callboard_storage::OsEnv, dir.path(), 5).expect("create");
        assert_eq!(meta.streams[0].name, DEFAULT_STREAM);
        meta.streams[0].topics.push(TopicMeta {
            id: 7,
            name: "orders".into(),
            created_ms: 6,
            config: TopicConfig { partitions: 3, ..TopicConfig::default() },
            data_key: None,
        });
        meta.save(&callboard_storage::OsEnv, dir.path()).expect("save");
        let loaded = Metadata::load_or_create(&callboard_storage::OsEnv, dir.path(), 0).expect("load");
        assert_eq!(loaded, meta);
        assert!(!dir.path().join("metadata.json.tmp").exists());
        assert_eq!(loaded.topic("default", "orders").expect("topic").1.config.partitions, 3);
        assert!(matches!(loaded.topic("default", "nope"), Err(BrokerError::TopicNotFound { .. })));
    }
}
