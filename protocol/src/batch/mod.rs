//! The record batch: the unit a producer builds, the broker stores and a consumer receives, byte for byte.
//!
//! See the crate documentation for the exact layout. [`BatchHeader`] reads the fixed header, [`validate`] checks a
//! whole batch (CRC, version, attributes, every record's framing), [`BatchRef`] iterates over the records of a
//! validated batch, and [`BatchBuilder`] encodes new batches.

mod builder;
mod error;
mod header;
mod record;

pub use builder::{BatchBuilder, Header, ProducerInfo, RecordData};
pub use error::BatchError;
pub use header::{
    Attributes, BatchHeader, Compression, FORMAT_VERSION, HEADER_LEN, LENGTH_PREFIX, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
    NO_SEQUENCE, crc_of, set_base_offset, set_leader_epoch,
};
pub use record::{BatchRef, HeaderIter, HeaderRef, RecordIter, RecordRef, validate};

#[cfg(test)]
mod tests;
