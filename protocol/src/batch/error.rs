//! Errors raised while decoding or validating a record batch.

use crate::ErrorCode;

/// Why a record batch was rejected. Decoding never panics and never allocates from an untrusted length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Fewer bytes than a batch header.
    #[error("record batch too short: {len} bytes, a header alone needs {min}")]
    TooShort {
        /// Bytes available.
        len: usize,
        /// Bytes required.
        min: usize,
    },
    /// The length field disagrees with the bytes supplied.
    #[error("record batch length field says {declared} bytes but {actual} were supplied")]
    LengthMismatch {
        /// Total size the header declares.
        declared: u64,
        /// Size of the buffer.
        actual: u64,
    },
    /// The CRC32C stored in the header does not match the content.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// The format version byte is not one this build understands.
    #[error("unsupported record batch format version {0}")]
    UnsupportedVersion(u8),
    /// The compression codec bits name a codec this build does not implement.
    #[error("unsupported compression codec {0}")]
    UnsupportedCompression(u8),
    /// Reserved attribute bits are set.
    #[error("reserved record batch attribute bits set: {0:#06x}")]
    ReservedAttributes(u16),
    /// The batch declares zero records.
    #[error("record batch holds no records")]
    Empty,
    /// The batch declares more records than the configured or format maximum.
    #[error("record batch declares {count} records, more than its {bytes} bytes can hold")]
    TooManyRecords {
        /// Declared count.
        count: u32,
        /// Bytes of record data.
        bytes: usize,
    },
    /// A record runs past the end of the batch.
    #[error("record batch truncated inside a record")]
    Truncated,
    /// A record is structurally wrong.
    #[error("malformed record: {0}")]
    MalformedRecord(&'static str),
    /// A compressed batch's records would decompress past the allowed size (a decompression bomb, or a batch larger
    /// than the topic accepts).
    #[error("record batch decompresses to more than {limit} bytes")]
    DecompressedTooLarge {
        /// The limit, in bytes of decompressed records.
        limit: usize,
    },
    /// A compressed batch's records are not valid data for its codec.
    #[error("cannot decompress {codec} record batch: {reason}")]
    Decompression {
        /// The codec's name.
        codec: &'static str,
        /// What the decoder reported.
        reason: String,
    },
    /// Compressing a batch's records failed.
    #[error("cannot compress record batch with {codec}: {reason}")]
    Compression {
        /// The codec's name.
        codec: &'static str,
        /// What the encoder reported.
        reason: String,
    },
    /// The records of a compressed batch were iterated without decompressing them first
    /// ([`super::BatchRef::decompress`]).
    #[error("the records of a {0}-compressed batch must be decompressed before they are read")]
    Compressed(&'static str),
    /// The records of a sealed (encrypted at rest) batch were read without opening it with its topic's key first.
    #[error("the records of an encrypted batch must be decrypted with the topic's key before they are read")]
    Sealed,
    /// A header field disagrees with the records it describes.
    #[error("record batch header is inconsistent with its records: {0}")]
    Inconsistent(&'static str),
}

impl BatchError {
    /// The wire error code a client receives for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            BatchError::CrcMismatch { .. } => ErrorCode::CorruptMessage,
            BatchError::UnsupportedVersion(_) | BatchError::UnsupportedCompression(_) => ErrorCode::UnsupportedVersion,
            BatchError::DecompressedTooLarge { .. } => ErrorCode::MessageTooLarge,
            _ => ErrorCode::InvalidRecordBatch,
        }
    }
}
