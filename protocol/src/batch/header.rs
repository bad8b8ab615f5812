//! The fixed 57-byte record batch header: layout constants, parsing, CRC, and the fields the broker stamps.

use super::BatchError;
use super::compression::Compression;

/// Current (and only) format version, stored in byte 20 of every batch.
pub const FORMAT_VERSION: u8 = 1;
/// Size of the fixed batch header in bytes.
pub const HEADER_LEN: usize = 57;
/// Bytes before the part counted by the batch length field (base offset + batch length).
pub const LENGTH_PREFIX: usize = 12;
/// `producer_id` of a batch sent by a non-idempotent producer.
pub const NO_PRODUCER_ID: i64 = -1;
/// `producer_epoch` of a batch sent by a non-idempotent producer.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// `base_sequence` of a batch sent by a non-idempotent producer.
pub const NO_SEQUENCE: i32 = -1;

pub(crate) const OFF_BASE_OFFSET: usize = 0;
pub(crate) const OFF_BATCH_LENGTH: usize = 8;
pub(crate) const OFF_LEADER_EPOCH: usize = 12;
pub(crate) const OFF_CRC: usize = 16;
/// First byte covered by the CRC.
pub(crate) const CRC_START: usize = 20;
pub(crate) const OFF_VERSION: usize = 20;
pub(crate) const OFF_ATTRIBUTES: usize = 21;
pub(crate) const OFF_RECORD_COUNT: usize = 23;
pub(crate) const OFF_FIRST_TIMESTAMP: usize = 27;
pub(crate) const OFF_MAX_TIMESTAMP: usize = 35;
pub(crate) const OFF_PRODUCER_ID: usize = 43;
pub(crate) const OFF_PRODUCER_EPOCH: usize = 51;
pub(crate) const OFF_BASE_SEQUENCE: usize = 53;

const COMPRESSION_MASK: u16 = 0b111;
/// Attribute bit 8: the batch is sealed (encrypted at rest). Only the broker sets it, on batches it stores for an
/// encrypted topic; clients never send or receive sealed batches. Bits 3-6 stay free for Kafka's meanings.
pub const SEALED_ATTRIBUTE: u16 = 1 << 8;
const KNOWN_ATTRIBUTES: u16 = COMPRESSION_MASK | SEALED_ATTRIBUTE;
/// Bytes a sealed batch's record region starts with: the AEAD nonce.
pub const SEAL_NONCE_LEN: usize = 12;
/// Bytes a sealed batch's record region ends with: the AEAD tag.
pub const SEAL_TAG_LEN: usize = 16;
/// Bytes sealing adds to a batch (nonce and tag).
pub const SEAL_OVERHEAD: usize = SEAL_NONCE_LEN + SEAL_TAG_LEN;

/// The batch attribute word (bits 0-2: compression codec; bit 8: sealed; the other bits reserved, must be zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attributes(pub u16);

impl Attributes {
    /// Attributes naming `codec` (no other bit set).
    pub fn with_compression(codec: Compression) -> Self {
        Attributes(codec.bits())
    }

    /// The compression codec, or an error if this build does not know it.
    pub fn compression(self) -> Result<Compression, BatchError> {
        Compression::from_bits(self.0 & COMPRESSION_MASK)
    }

    /// Whether the batch is sealed (its record region is `nonce | ciphertext | tag`, see [`SEALED_ATTRIBUTE`]).
    pub fn sealed(self) -> bool {
        self.0 & SEALED_ATTRIBUTE != 0
    }

    fn check(self) -> Result<(), BatchError> {
        if self.0 & !KNOWN_ATTRIBUTES != 0 {
            return Err(BatchError::ReservedAttributes(self.0 & !KNOWN_ATTRIBUTES));
        }
        self.compression().map(|_| ())
    }
}

/// The decoded fixed header of a record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (assigned by the broker).
    pub base_offset: u64,
    /// Bytes following the length field; the whole batch is `LENGTH_PREFIX + batch_length` bytes.
    pub batch_length: u32,
    /// Leader epoch of the partition when the batch was appended (assigned by the broker).
    pub leader_epoch: u32,
    /// CRC32C of bytes `20..` of the batch.
    pub crc: u32,
    /// Format version.
    pub version: u8,
    /// Attribute bits.
    pub attributes: Attributes,
    /// Number of records (at least one).
    pub record_count: u32,
    /// Timestamp of the first record, milliseconds since the Unix epoch.
    pub first_timestamp: i64,
    /// Largest record timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent producer id, or [`NO_PRODUCER_ID`].
    pub producer_id: i64,
    /// Idempotent producer epoch, or [`NO_PRODUCER_EPOCH`].
    pub producer_epoch: i16,
    /// Sequence number of the first record for the idempotent producer, or [`NO_SEQUENCE`].
    pub base_sequence: i32,
}

impl BatchHeader {
    /// Decodes the header from the first [`HEADER_LEN`] bytes of `buf`.
    ///
    /// Checks only what the header alone can prove (size, version, attributes, a non-zero record count); it does
    /// not check the CRC. Use [`super::validate`] for a full check.
    pub fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        let Some(h) = buf.get(..HEADER_LEN) else {
            return Err(BatchError::TooShort { len: buf.len(), min: HEADER_LEN });
        };
        let header = BatchHeader {
            base_offset: u64_at(h, OFF_BASE_OFFSET),
            batch_length: u32_at(h, OFF_BATCH_LENGTH),
            leader_epoch: u32_at(h, OFF_LEADER_EPOCH),
            crc: u32_at(h, OFF_CRC),
            version: h[OFF_VERSION],
            attributes: Attributes(u16::from_le_bytes([h[OFF_ATTRIBUTES], h[OFF_ATTRIBUTES + 1]])),
            record_count: u32_at(h, OFF_RECORD_COUNT),
            first_timestamp: u64_at(h, OFF_FIRST_TIMESTAMP) as i64,
            max_timestamp: u64_at(h, OFF_MAX_TIMESTAMP) as i64,
            producer_id: u64_at(h, OFF_PRODUCER_ID) as i64,
            producer_epoch: i16::from_le_bytes([h[OFF_PRODUCER_EPOCH], h[OFF_PRODUCER_EPOCH + 1]]),
            base_sequence: u32_at(h, OFF_BASE_SEQUENCE) as i32,
        };
        if header.version != FORMAT_VERSION {
            return Err(BatchError::UnsupportedVersion(header.version));
        }
        if (header.batch_length as usize) < HEADER_LEN - LENGTH_PREFIX {
            return Err(BatchError::LengthMismatch { declared: header.total_len() as u64, actual: HEADER_LEN as u64 });
        }
        header.attributes.check()?;
        if header.record_count == 0 {
            return Err(BatchError::Empty);
        }
        // Offsets are `base_offset + delta` for deltas below `record_count`: a base offset that would overflow is
        // refused here, so no later offset arithmetic on a client's batch can (before the broker stamps its own).
        if header.base_offset.checked_add(u64::from(header.record_count)).is_none() {
            return Err(BatchError::Inconsistent("base offset + record count overflows 64 bits"));
        }
        Ok(header)
    }

    /// Total size of the batch in bytes, header included.
    pub fn total_len(&self) -> usize {
        LENGTH_PREFIX + self.batch_length as usize
    }

    /// Offset of the last record in the batch.
    pub fn last_offset(&self) -> u64 {
        self.base_offset + u64::from(self.record_count) - 1
    }

    /// Offset just past the batch: the base offset of the batch that follows it.
    pub fn next_offset(&self) -> u64 {
        self.base_offset + u64::from(self.record_count)
    }
}

/// Computes the CRC32C a batch's header must carry (over bytes `20..`).
pub fn crc_of(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(CRC_START..).unwrap_or(&[]))
}

/// Writes the base offset into a batch in place; the CRC does not cover it, so it stays valid.
///
/// # Panics
/// If `batch` is shorter than [`HEADER_LEN`]; callers validate the batch first.
pub fn set_base_offset(batch: &mut [u8], base_offset: u64) {
    batch[OFF_BASE_OFFSET..OFF_BASE_OFFSET + 8].copy_from_slice(&base_offset.to_le_bytes());
}

/// Writes the partition leader epoch into a batch in place; the CRC does not cover it.
///
/// # Panics
/// If `batch` is shorter than [`HEADER_LEN`]; callers validate the batch first.
pub fn set_leader_epoch(batch: &mut [u8], epoch: u32) {
    batch[OFF_LEADER_EPOCH..OFF_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_le_bytes());
}

#[inline]
pub(crate) fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

#[inline]
pub(crate) fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}
