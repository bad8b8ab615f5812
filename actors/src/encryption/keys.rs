//! Keys of encryption at rest: the broker's [`MasterKey`] (from a key file or `CALLBOARD_MASTER_KEY`, never logged)
//! and the per-topic data keys it wraps ([`WrappedKey`], stored in the metadata with the master key's fingerprint).
//!
//! Both are AES-256-GCM keys (ring's AEAD): a data key is wrapped under the master key with a random nonce and the
//! topic id as additional data, so a wrapped key copied to another topic does not unwrap.

use std::path::Path;

use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// Bytes of every key (AES-256).
pub const KEY_LEN: usize = 32;
/// The algorithm name stored with a wrapped key.
pub const WRAP_ALGORITHM: &str = "aes-256-gcm";
const WRAP_CONTEXT: &[u8] = b"callboard data key v1";
const FINGERPRINT_CONTEXT: &[u8] = b"callboard master key fingerprint v1";
/// Largest key file read (a key is at most a few dozen characters).
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Why a key could not be read, made, wrapped or unwrapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key's text is neither 32 raw bytes, 64 hex digits nor base64 of 32 bytes.
    #[error("a master key is 32 bytes: a file of exactly 32 raw bytes, or 64 hex digits, or base64 of 32 bytes")]
    Format,
    /// The key file could not be read.
    #[error("reading the master key file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The wrapped key was made by another master key.
    #[error("its data key is wrapped by master key {stored}, not by master key {given}")]
    WrongMasterKey {
        /// Fingerprint stored with the wrapped key.
        stored: String,
        /// Fingerprint of the key given.
        given: String,
    },
    /// The wrapped key did not authenticate (damaged metadata) or is malformed.
    #[error("its wrapped data key is damaged: {0}")]
    Damaged(&'static str),
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
}

/// The broker's master key. Its bytes are never printed: `Debug` shows only the fingerprint.
pub struct MasterKey {
    bytes: [u8; KEY_LEN],
    fingerprint: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(fingerprint {}, ***)", self.fingerprint)
    }
}

impl Clone for MasterKey {
    fn clone(&self) -> Self {
        MasterKey::from_bytes(self.bytes)
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        // Best effort: the compiler may keep copies, but the key does not linger in this buffer.
        self.bytes.fill(0);
    }
}

impl MasterKey {
    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let digest = sha2::Sha256::new().chain_update(FINGERPRINT_CONTEXT).chain_update(bytes).finalize();
        MasterKey { bytes, fingerprint: hex::encode(&digest[..8]) }
    }

    /// A new random key.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(MasterKey::from_bytes(random_key()?))
    }

    /// Parses a key: exactly 32 raw bytes, or (surrounding whitespace ignored) 64 hex digits or base64 of 32 bytes.
    pub fn parse(data: &[u8]) -> Result<Self, KeyError> {
        let text = std::str::from_utf8(data).ok().map(str::trim);
        let decoded = text.and_then(|t| {
            if t.len() == 2 * KEY_LEN {
                hex::decode(t).ok()
            } else {
                base64::engine::general_purpose::STANDARD.decode(t).ok()
            }
        });
        let bytes = match decoded {
            Some(bytes) if bytes.len() == KEY_LEN => bytes,
            _ if data.len() == KEY_LEN => data.to_vec(),
            _ => return Err(KeyError::Format),
        };
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&bytes);
        Ok(MasterKey::from_bytes(key))
    }

    /// Reads a key file (see [`MasterKey::parse`]).
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let failed = |reason: String| KeyError::File { path: path.display().to_string(), reason };
        let len = std::fs::metadata(path).map_err(|e| failed(e.to_string()))?.len();
        if len > MAX_KEY_FILE_BYTES {
            return Err(failed(format!("{len} bytes; a key file holds one 32-byte key")));
        }
        let data = std::fs::read(path).map_err(|e| failed(e.to_string()))?;
        MasterKey::parse(&data).map_err(|e| failed(e.to_string()))
    }

    /// The key as 64 hex digits (the format `callboard key generate` writes).
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// A short public identifier of the key (16 hex digits of a SHA-256 over it): safe to log and store.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn aead(&self) -> LessSafeKey {
        aead_key(&self.bytes)
    }

    /// Wraps a topic's data key.
    pub(crate) fn wrap(&self, topic_id: u32, data_key: &DataKey) -> Result<WrappedKey, KeyError> {
        let nonce = random_nonce()?;
        let mut sealed = data_key.0.to_vec();
        let tag = self
            .aead()
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(wrap_aad(topic_id)), &mut sealed)
            .map_err(|_| KeyError::Damaged("sealing failed"))?;
        sealed.extend_from_slice(tag.as_ref());
        Ok(WrappedKey {
            algorithm: WRAP_ALGORITHM.into(),
            master_fingerprint: self.fingerprint.clone(),
            nonce: hex::encode(nonce),
            wrapped: hex::encode(sealed),
        })
    }

    /// Unwraps a topic's data key, checking it was wrapped by this master key for this topic.
    pub(crate) fn unwrap(&self, topic_id: u32, wrapped: &WrappedKey) -> Result<DataKey, KeyError> {
        if wrapped.algorithm != WRAP_ALGORITHM {
            return Err(KeyError::Damaged("unknown wrapping algorithm"));
        }
        if wrapped.master_fingerprint != self.fingerprint {
            return Err(KeyError::WrongMasterKey {
                stored: wrapped.master_fingerprint.clone(),
                given: self.fingerprint.clone(),
            });
        }
        let nonce: [u8; NONCE_LEN] =
            hex::decode(&wrapped.nonce).ok().and_then(|n| n.try_into().ok()).ok_or(KeyError::Damaged("bad nonce"))?;
        let mut sealed = hex::decode(&wrapped.wrapped).map_err(|_| KeyError::Damaged("not hex"))?;
        let plain = self
            .aead()
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(wrap_aad(topic_id)), &mut sealed)
            .map_err(|_| KeyError::Damaged("it does not authenticate under this master key"))?;
        let key: [u8; KEY_LEN] = plain.try_into().map_err(|_| KeyError::Damaged("wrong length"))?;
        sealed.fill(0);
        Ok(DataKey(key))
    }
}

/// A topic's data key (never stored in the clear, never printed).
pub(crate) struct DataKey(pub(crate) [u8; KEY_LEN]);

impl DataKey {
    /// A new random data key.
    pub(crate) fn generate() -> Result<Self, KeyError> {
        Ok(DataKey(random_key()?))
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

/// A data key as the metadata stores it: encrypted under the master key named by its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The wrapping algorithm (`aes-256-gcm`).
    pub algorithm: String,
    /// Fingerprint of the master key that wrapped it.
    pub master_fingerprint: String,
    /// The wrapping nonce, hex.
    pub nonce: String,
    /// The encrypted key and its tag, hex.
    pub wrapped: String,
}

fn wrap_aad(topic_id: u32) -> [u8; WRAP_CONTEXT.len() + 4] {
    let mut aad = [0u8; WRAP_CONTEXT.len() + 4];
    aad[..WRAP_CONTEXT.len()].copy_from_slice(WRAP_CONTEXT);
    aad[WRAP_CONTEXT.len()..].copy_from_slice(&topic_id.to_le_bytes());
    aad
}

pub(crate) fn aead_key(bytes: &[u8; KEY_LEN]) -> LessSafeKey {
    // AES-256-GCM takes any 32-byte key: this cannot fail.
    #[allow(clippy::expect_used)]
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte AES-256 key"))
}

fn random_key() -> Result<[u8; KEY_LEN], KeyError> {
    let mut key = [0u8; KEY_LEN];
    SystemRandom::new().fill(&mut key).map_err(|_| KeyError::Random)?;
    Ok(key)
}

/// A random 96-bit AEAD nonce (random nonces keep a nonce from repeating even when a log is cut back and an offset
/// is written again).
pub(crate) fn random_nonce() -> Result<[u8; NONCE_LEN], KeyError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| KeyError::Random)?;
    Ok(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_wrap_and_refuse_the_wrong_master() {
        let raw = [7u8; KEY_LEN];
        let key = MasterKey::parse(&raw).expect("raw");
        let hex_key = MasterKey::parse(format!("{}\n", hex::encode(raw)).as_bytes()).expect("hex");
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        let b64_key = MasterKey::parse(b64.as_bytes()).expect("base64");
        assert_eq!(key.fingerprint(), hex_key.fingerprint());
        assert_eq!(key.fingerprint(), b64_key.fingerprint());
        assert!(matches!(MasterKey::parse(b"short"), Err(KeyError::Format)));
        assert!(!format!("{key:?}").contains(&hex::encode(raw)));

        let data = DataKey::generate().expect("data key");
        let wrapped = key.wrap(3, &data).expect("wrap");
        assert_eq!(key.unwrap(3, &wrapped).expect("unwrap").0, data.0);
        assert!(matches!(key.unwrap(4, &wrapped), Err(KeyError::Damaged(_))));
        let other = MasterKey::generate().expect("generate");
        assert!(matches!(other.unwrap(3, &wrapped), Err(KeyError::WrongMasterKey { .. })));
        let mut bent = wrapped.clone();
        bent.wrapped.replace_range(0..2, if &bent.wrapped[0..2] == "00" { "01" } else { "00" });
        assert!(matches!(key.unwrap(3, &bent), Err(KeyError::Damaged(_))));
    }
}
