//! Sealing and opening stored batches of an encrypted topic.
//!
//! A sealed batch keeps its 57-byte header in the clear (offsets, timestamps, counts, producer fields: recovery,
//! indexes, retention and producer state need no key) with attribute bit 8 ([`SEALED_ATTRIBUTE`]) set; its record
//! region (compressed or not) becomes `nonce (12) | AES-256-GCM ciphertext | tag (16)`, and its length and CRC cover
//! the sealed bytes, so storage validates it like any batch. The additional data binds the topic id, the partition,
//! the base offset and the rest of the header (leader epoch and CRC aside, which storage stamps): a batch moved to
//! another position, partition or topic, or with an edited header, fails to open.

use bytes::{Bytes, BytesMut};
use callboard_protocol::batch::{
    BatchHeader, HEADER_LEN, LENGTH_PREFIX, SEAL_NONCE_LEN, SEAL_OVERHEAD, SEALED_ATTRIBUTE, crc_of, set_base_offset,
};
use callboard_storage::StorageError;
use ring::aead::{Aad, LessSafeKey, Nonce};

use super::keys::{DataKey, aead_key, random_nonce};

// Header layout (see the protocol crate's batch documentation).
const OFF_BATCH_LENGTH: usize = 8;
const OFF_CRC: usize = 16;
const CRC_START: usize = 20;
const OFF_ATTRIBUTES: usize = 21;
const AAD_CONTEXT: &[u8] = b"callboard sealed batch v1";
const AAD_LEN: usize = AAD_CONTEXT.len() + 4 + 4 + 8 + 4 + (HEADER_LEN - CRC_START);

/// One topic's batch cipher: its data key, and the topic id every batch's additional data names.
pub(crate) struct BatchCipher {
    key: LessSafeKey,
    topic_id: u32,
}

impl std::fmt::Debug for BatchCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BatchCipher(topic {}, ***)", self.topic_id)
    }
}

fn put_u32(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

impl BatchCipher {
    pub(crate) fn new(topic_id: u32, key: &DataKey) -> Self {
        BatchCipher { key: aead_key(&key.0), topic_id }
    }

    /// The additional data of a batch whose (sealed) header is `header`.
    fn aad(&self, partition: u32, header: &[u8]) -> [u8; AAD_LEN] {
        let mut aad = [0u8; AAD_LEN];
        let mut at = AAD_CONTEXT.len();
        aad[..at].copy_from_slice(AAD_CONTEXT);
        for part in [&self.topic_id.to_le_bytes()[..], &partition.to_le_bytes(), &header[..8], &header[8..12]] {
            aad[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        aad[at..].copy_from_slice(&header[CRC_START..HEADER_LEN]);
        aad
    }

    /// Seals a validated plaintext batch that will be stored at `base_offset` of `partition`.
    pub(crate) fn seal(&self, partition: u32, batch: &[u8], base_offset: u64) -> Result<BytesMut, StorageError> {
        let failed = |reason: &str| StorageError::Unauthentic { first_offset: base_offset, reason: reason.into() };
        let header = BatchHeader::parse(batch)?;
        if header.attributes.sealed() {
            return Err(failed("the batch is already marked as sealed"));
        }
        let sealed_len = u32::try_from(batch.len() - LENGTH_PREFIX + SEAL_OVERHEAD)
            .map_err(|_| failed("the batch is too large to seal"))?;
        let mut out = BytesMut::with_capacity(batch.len() + SEAL_OVERHEAD);
        out.extend_from_slice(&batch[..HEADER_LEN]);
        set_base_offset(&mut out, base_offset);
        put_u32(&mut out, OFF_BATCH_LENGTH, sealed_len);
        let attributes = (header.attributes.0 | SEALED_ATTRIBUTE).to_le_bytes();
        out[OFF_ATTRIBUTES..OFF_ATTRIBUTES + 2].copy_from_slice(&attributes);
        let nonce = random_nonce().map_err(|e| failed(&e.to_string()))?;
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&batch[HEADER_LEN..]);
        let aad = self.aad(partition, &out[..HEADER_LEN]);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad[..]),
                &mut out[HEADER_LEN + SEAL_NONCE_LEN..],
            )
            .map_err(|_| failed("encryption failed"))?;
        out.extend_from_slice(tag.as_ref());
        let crc = crc_of(&out);
        put_u32(&mut out, OFF_CRC, crc);
        Ok(out)
    }

    /// Opens one sealed batch (as stored, CRC already checked) into `out` as the plaintext batch the producer sent,
    /// with its stored offsets. A batch that is not sealed is copied as it is.
    pub(crate) fn open_into(&self, partition: u32, batch: &[u8], out: &mut BytesMut) -> Result<(), StorageError> {
        let header = BatchHeader::parse(batch)?;
        if !header.attributes.sealed() {
            out.extend_from_slice(batch);
            return Ok(());
        }
        let failed = |reason: &str| StorageError::Unauthentic {
            first_offset: header.base_offset,
            reason: format!("encrypted batch {}..={} {reason}", header.base_offset, header.last_offset()),
        };
        if batch.len() != header.total_len() || batch.len() <= HEADER_LEN + SEAL_OVERHEAD {
            return Err(failed("is truncated"));
        }
        let aad = self.aad(partition, &batch[..HEADER_LEN]);
        let mut nonce = [0u8; SEAL_NONCE_LEN];
        nonce.copy_from_slice(&batch[HEADER_LEN..HEADER_LEN + SEAL_NONCE_LEN]);
        let start = out.len();
        out.extend_from_slice(&batch[..HEADER_LEN]);
        let plain_len = batch.len() - SEAL_OVERHEAD;
        put_u32(&mut out[start..], OFF_BATCH_LENGTH, (plain_len - LENGTH_PREFIX) as u32);
        let attributes = (header.attributes.0 & !SEALED_ATTRIBUTE).to_le_bytes();
        out[start + OFF_ATTRIBUTES..start + OFF_ATTRIBUTES + 2].copy_from_slice(&attributes);
        out.extend_from_slice(&batch[HEADER_LEN + SEAL_NONCE_LEN..]);
        let opened = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&aad[..]), &mut out[start + HEADER_LEN..])
            .map(|plain| plain.len());
        match opened {
            Ok(len) => {
                out.truncate(start + HEADER_LEN + len);
                let crc = crc_of(&out[start..]);
                put_u32(&mut out[start..], OFF_CRC, crc);
                Ok(())
            }
            Err(_) => {
                out.truncate(start);
                Err(failed("failed authentication: it was altered on disk, moved, or sealed under another key"))
            }
        }
    }

    /// Opens every batch of a storage read (whole batches, CRC-checked).
    pub(crate) fn open_all(&self, partition: u32, batches: &[u8]) -> Result<Bytes, StorageError> {
        let mut out = BytesMut::with_capacity(batches.len());
        let mut rest = batches;
        while !rest.is_empty() {
            let len = BatchHeader::parse(rest)?.total_len().min(rest.len());
            self.open_into(partition, &rest[..len], &mut out)?;
            rest = &rest[len..];
        }
        Ok(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use callboard_protocol::batch::{BatchBuilder, Compression, RecordData, validate};

    use super::*;

    fn batch(value: &[u8], codec: Compression) -> Vec<u8> {
        let mut builder = BatchBuilder::with_capacity(256);
        for _ in 0..3 {
            builder.push(&RecordData { timestamp: 5, id: None, key: None, value: Some(value), headers: &[] });
        }
        builder.finish_compressed(codec)
    }

    #[test]
    fn seals_opens_and_detects_tampering() {
        let cipher = BatchCipher::new(9, &DataKey::generate().expect("key"));
        for codec in [Compression::None, Compression::Lz4] {
            let plain = batch(b"top secret payload", codec);
            let sealed = cipher.seal(2, &plain, 40).expect("seal");
            let view = validate(&sealed).expect("a sealed batch is a valid stored batch");
            assert!(view.header().attributes.sealed());
            assert_eq!(view.header().base_offset, 40);
            assert!(view.decompress(1 << 20).is_err());
            assert!(!sealed.windows(10).any(|w| w == b"top secret"));
            let opened = cipher.open_all(2, &sealed).expect("open");
            let mut expected = plain.clone();
            set_base_offset(&mut expected, 40);
            assert_eq!(&opened[..], &expected[..]);
            validate(&opened).expect("opened batch validates");

            // Another partition, offset or topic, or one flipped bit: refused, never garbage.
            assert!(cipher.open_all(3, &sealed).is_err());
            let mut moved = sealed.to_vec();
            set_base_offset(&mut moved, 41);
            assert!(cipher.open_all(2, &moved).is_err());
            let other = BatchCipher::new(10, &DataKey::generate().expect("key"));
            assert!(other.open_all(2, &sealed).is_err());
            for at in [30, HEADER_LEN + 1, HEADER_LEN + 20, sealed.len() - 1] {
                let mut bent = sealed.to_vec();
                bent[at] ^= 1;
                let err = cipher.open_all(2, &bent).expect_err("tampered");
                assert!(matches!(err, StorageError::Unauthentic { .. }), "{err}");
            }
        }
    }
}
