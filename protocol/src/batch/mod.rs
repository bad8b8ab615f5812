//! The record batch: the unit a producer builds, the broker stores and a consumer receives, byte for byte.
//!
//! See the crate documentation for the exact layout. [`BatchHeader`] reads the fixed header, [`validate`] checks a
//! whole batch (CRC, version, attributes, every record's framing), [`BatchRef`] iterates over the records of a
//! validated batch (after [`BatchRef::decompress`] for a compressed one), [`BatchBuilder`] encodes new batches, and
//! [`compression`] holds the codecs.

mod builder;
pub mod compression;
mod error;
mod header;
mod record;

pub use builder::{BatchBuilder, Header, ProducerInfo, RecordData};
pub use compression::{Compression, MAX_DECOMPRESSED_BYTES};
pub use error::BatchError;
pub use header::{
    Attributes, BatchHeader, FORMAT_VERSION, HEADER_LEN, LENGTH_PREFIX, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
    SEAL_NONCE_LEN, SEAL_OVERHEAD, SEAL_TAG_LEN, SEALED_ATTRIBUTE, crc_of, set_base_offset, set_leader_epoch,
};
pub use record::{BatchRef, HeaderIter, HeaderRef, RecordIter, RecordRef, Records, validate};

#[cfg(test)]
mod compressed_tests;
#[cfg(test)]
mod tests;
