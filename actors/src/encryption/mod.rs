//! Encryption at rest: topics created with `encryption: aes-256-gcm` store every batch sealed ([`seal`]) under a
//! random per-topic data key, kept in the metadata wrapped by the broker's [`MasterKey`] ([`keys`]). Partitions seal
//! batches as they append them and open them as they serve fetches, so clients never need a key.
//!
//! A topic whose data key cannot be unwrapped (no master key, or another one) keeps its files untouched and its
//! partitions offline with the reason; every other topic works. [`rotate_master_key`] re-wraps the data keys under
//! a new master key without rewriting any data.

pub mod keys;
pub(crate) mod seal;

use std::path::Path;
use std::sync::Arc;

pub use keys::{KeyError, MasterKey, WrappedKey};
use seal::BatchCipher;

use crate::error::{BrokerError, Result};
use crate::metadata::{Metadata, TopicMeta};
use callboard_protocol::model::Encryption;

/// How a partition stores its batches.
#[derive(Debug, Clone)]
pub(crate) enum Sealing {
    /// As produced.
    Plain,
    /// Sealed with the topic's cipher.
    Sealed(Arc<BatchCipher>),
    /// Encrypted, but the data key is not available: the partition stays offline with this reason.
    Unavailable(String),
}

impl Sealing {
    /// The cipher, if batches are sealed.
    pub(crate) fn cipher(&self) -> Option<&BatchCipher> {
        match self {
            Sealing::Sealed(cipher) => Some(cipher),
            _ => None,
        }
    }
}

fn no_master_key() -> String {
    "the broker has no master key (start it with --master-key-file FILE or CALLBOARD_MASTER_KEY)".into()
}

/// The sealing of a topic's partitions under the broker's master key.
pub(crate) fn sealing(master: Option<&MasterKey>, topic: &TopicMeta) -> Sealing {
    if topic.config.encryption == Encryption::None {
        return Sealing::Plain;
    }
    let unavailable = |reason: String| {
        let reason = format!("encrypted topic ({}) cannot be opened: {reason}", topic.config.encryption);
        tracing::error!(topic = %topic.name, %reason, "encrypted topic is offline");
        Sealing::Unavailable(reason)
    };
    let Some(master) = master else { return unavailable(no_master_key()) };
    let Some(wrapped) = topic.data_key.as_ref() else {
        return unavailable("the metadata holds no data key for it".into());
    };
    match master.unwrap(topic.id, wrapped) {
        Ok(key) => Sealing::Sealed(Arc::new(BatchCipher::new(topic.id, &key))),
        Err(e) => unavailable(e.to_string()),
    }
}

/// A new wrapped data key for topic `topic_id` created with `encryption` (`None` for unencrypted topics).
pub(crate) fn new_data_key(
    master: Option<&MasterKey>,
    topic_id: u32,
    encryption: Encryption,
) -> Result<Option<WrappedKey>> {
    if encryption == Encryption::None {
        return Ok(None);
    }
    let master = master.ok_or_else(|| {
        BrokerError::InvalidConfig(format!(
            "a topic with encryption {encryption} needs a master key: {}",
            no_master_key()
        ))
    })?;
    let key = keys::DataKey::generate().map_err(|e| BrokerError::InvalidConfig(e.to_string()))?;
    master.wrap(topic_id, &key).map(Some).map_err(|e| BrokerError::InvalidConfig(e.to_string()))
}

/// What [`rotate_master_key`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Encrypted topics (`stream/topic`) whose data key was re-wrapped.
    pub rewrapped: Vec<String>,
    /// Encrypted topics already wrapped by the new key (an earlier, interrupted run).
    pub already_current: Vec<String>,
}

/// Re-wraps every encrypted topic's data key, now under `old`, under `new`, in the metadata of the stopped broker
/// whose data directory is `data_dir` (refused while a broker holds it). Data files are not touched. All or
/// nothing: if any topic's key does not unwrap with `old`, nothing is written.
pub fn rotate_master_key(data_dir: &Path, old: &MasterKey, new: &MasterKey) -> Result<Rotation> {
    let env = callboard_storage::OsEnv;
    if !data_dir.join("metadata.json").is_file() {
        return Err(BrokerError::InvalidConfig(format!("{} holds no broker metadata", data_dir.display())));
    }
    let _lock = crate::handle::lock_data_dir(data_dir)?;
    let mut metadata = Metadata::load_or_create(&env, data_dir, 0)?;
    let mut rotation = Rotation::default();
    for stream in &mut metadata.streams {
        for topic in &mut stream.topics {
            let Some(wrapped) = topic.data_key.as_ref() else { continue };
            let name = format!("{}/{}", stream.name, topic.name);
            if wrapped.master_fingerprint == new.fingerprint() && new.unwrap(topic.id, wrapped).is_ok() {
                rotation.already_current.push(name);
                continue;
            }
            let key =
                old.unwrap(topic.id, wrapped).map_err(|e| BrokerError::InvalidConfig(format!("topic {name}: {e}")))?;
            topic.data_key =
                Some(new.wrap(topic.id, &key).map_err(|e| BrokerError::InvalidConfig(format!("topic {name}: {e}")))?);
            rotation.rewrapped.push(name);
        }
    }
    if !rotation.rewrapped.is_empty() {
        metadata.save(&env, data_dir)?;
    }
    Ok(rotation)
}
