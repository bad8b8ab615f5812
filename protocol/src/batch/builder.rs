//! Encodes records into a new batch, computing the header and CRC.

use super::compression::{Compression, compress_into};
use super::header::Attributes;
use super::header::{
    CRC_START, FORMAT_VERSION, HEADER_LEN, LENGTH_PREFIX, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
    OFF_ATTRIBUTES, OFF_BASE_SEQUENCE, OFF_BATCH_LENGTH, OFF_CRC, OFF_FIRST_TIMESTAMP, OFF_MAX_TIMESTAMP,
    OFF_PRODUCER_EPOCH, OFF_PRODUCER_ID, OFF_RECORD_COUNT, OFF_VERSION,
};
use super::record::RECORD_HAS_ID;
use crate::varint;

/// A record header to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header name (UTF-8).
    pub key: &'a str,
    /// Header value, if any.
    pub value: Option<&'a [u8]>,
}

/// A record to encode.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordData<'a> {
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Optional message id for deduplication.
    pub id: Option<u128>,
    /// Optional key.
    pub key: Option<&'a [u8]>,
    /// Optional value.
    pub value: Option<&'a [u8]>,
    /// Headers, in order.
    pub headers: &'a [Header<'a>],
}

/// Idempotent producer fields of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerInfo {
    /// Producer id allocated by the broker.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Sequence number of the batch's first record.
    pub base_sequence: i32,
}

impl Default for ProducerInfo {
    fn default() -> Self {
        ProducerInfo { producer_id: NO_PRODUCER_ID, producer_epoch: NO_PRODUCER_EPOCH, base_sequence: NO_SEQUENCE }
    }
}

/// Builds one record batch. Records are encoded as they are pushed; [`BatchBuilder::finish`] writes the header.
///
/// ```
/// use callboard_protocol::batch::{validate, BatchBuilder, RecordData};
/// let mut builder = BatchBuilder::new();
/// builder.push(&RecordData { timestamp: 1_700_000_000_000, value: Some(b"hello"), ..Default::default() });
/// let bytes = builder.finish();
/// let batch = validate(&bytes).unwrap();
/// assert_eq!(batch.records().next().unwrap().unwrap().value, Some(&b"hello"[..]));
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    buf: Vec<u8>,
    count: u32,
    first_timestamp: i64,
    max_timestamp: i64,
    producer: ProducerInfo,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    /// A builder for a batch from a non-idempotent producer.
    pub fn new() -> Self {
        Self::with_capacity(256)
    }

    /// A builder whose buffer starts with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes.max(HEADER_LEN));
        buf.resize(HEADER_LEN, 0);
        BatchBuilder { buf, count: 0, first_timestamp: 0, max_timestamp: i64::MIN, producer: ProducerInfo::default() }
    }

    /// Sets the idempotent producer fields.
    pub fn producer(mut self, producer: ProducerInfo) -> Self {
        self.producer = producer;
        self
    }

    /// Number of records pushed so far.
    pub fn record_count(&self) -> u32 {
        self.count
    }

    /// Size the batch would have if finished now.
    pub fn size_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Whether no record has been pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Encoded size of `record` at the current position (what [`BatchBuilder::push`] would add).
    pub fn record_size(&self, record: &RecordData<'_>) -> usize {
        let body = self.body_len(record);
        varint::len_u64(body as u64) + body
    }

    fn body_len(&self, record: &RecordData<'_>) -> usize {
        let ts_delta = record.timestamp.wrapping_sub(self.first_ts_for(record));
        let mut len = 1 + varint::len_i64(ts_delta) + varint::len_u64(u64::from(self.count));
        if record.id.is_some() {
            len += 16;
        }
        len += nullable_len(record.key) + nullable_len(record.value);
        len += varint::len_u64(record.headers.len() as u64);
        for h in record.headers {
            len += nullable_len(Some(h.key.as_bytes())) + nullable_len(h.value);
        }
        len
    }

    fn first_ts_for(&self, record: &RecordData<'_>) -> i64 {
        if self.count == 0 { record.timestamp } else { self.first_timestamp }
    }

    /// Appends a record.
    ///
    /// # Panics
    /// If the batch would exceed `u32::MAX` records or 4 GiB.
    pub fn push(&mut self, record: &RecordData<'_>) {
        assert!(self.count < u32::MAX, "record batch full");
        let body = self.body_len(record);
        if self.count == 0 {
            self.first_timestamp = record.timestamp;
        }
        self.max_timestamp = self.max_timestamp.max(record.timestamp);
        let start = self.buf.len();
        self.buf.reserve(body + varint::MAX_VARINT_LEN);
        varint::put_u64(&mut self.buf, body as u64);
        self.buf.push(if record.id.is_some() { RECORD_HAS_ID } else { 0 });
        varint::put_i64(&mut self.buf, record.timestamp.wrapping_sub(self.first_timestamp));
        varint::put_u64(&mut self.buf, u64::from(self.count));
        if let Some(id) = record.id {
            self.buf.extend_from_slice(&id.to_le_bytes());
        }
        put_nullable(&mut self.buf, record.key);
        put_nullable(&mut self.buf, record.value);
        varint::put_u64(&mut self.buf, record.headers.len() as u64);
        for h in record.headers {
            put_nullable(&mut self.buf, Some(h.key.as_bytes()));
            put_nullable(&mut self.buf, h.value);
        }
        debug_assert_eq!(self.buf.len() - start, varint::len_u64(body as u64) + body);
        self.count += 1;
    }

    /// Writes the header and CRC and returns the encoded batch (base offset 0, leader epoch 0).
    ///
    /// # Panics
    /// If no record was pushed (an empty batch is not valid) or the batch exceeds 4 GiB.
    pub fn finish(mut self) -> Vec<u8> {
        self.write_header(Compression::None);
        self.buf
    }

    /// Like [`BatchBuilder::finish`], with the records compressed by `codec` (the header stays uncompressed; the
    /// CRC covers the compressed bytes). [`Compression::None`] is the same as [`BatchBuilder::finish`].
    ///
    /// The encoders write to memory and do not fail on any input; should one fail all the same, the batch is
    /// finished uncompressed (its attributes say so, and every reader accepts it) rather than lost.
    ///
    /// # Panics
    /// As [`BatchBuilder::finish`].
    pub fn finish_compressed(mut self, codec: Compression) -> Vec<u8> {
        if codec == Compression::None {
            return self.finish();
        }
        let mut out = Vec::with_capacity(HEADER_LEN + self.buf.len() / 2);
        out.extend_from_slice(&self.buf[..HEADER_LEN]);
        if compress_into(codec, &self.buf[HEADER_LEN..], &mut out).is_err() {
            return self.finish();
        }
        self.buf = out;
        self.write_header(codec);
        self.buf
    }

    fn write_header(&mut self, codec: Compression) {
        assert!(self.count > 0, "a record batch needs at least one record");
        let batch_length = u32::try_from(self.buf.len() - LENGTH_PREFIX).expect("record batch over 4 GiB");
        let b = &mut self.buf;
        b[OFF_BATCH_LENGTH..OFF_BATCH_LENGTH + 4].copy_from_slice(&batch_length.to_le_bytes());
        b[OFF_VERSION] = FORMAT_VERSION;
        b[OFF_ATTRIBUTES..OFF_ATTRIBUTES + 2].copy_from_slice(&Attributes::with_compression(codec).0.to_le_bytes());
        b[OFF_RECORD_COUNT..OFF_RECORD_COUNT + 4].copy_from_slice(&self.count.to_le_bytes());
        b[OFF_FIRST_TIMESTAMP..OFF_FIRST_TIMESTAMP + 8].copy_from_slice(&self.first_timestamp.to_le_bytes());
        b[OFF_MAX_TIMESTAMP..OFF_MAX_TIMESTAMP + 8].copy_from_slice(&self.max_timestamp.to_le_bytes());
        b[OFF_PRODUCER_ID..OFF_PRODUCER_ID + 8].copy_from_slice(&self.producer.producer_id.to_le_bytes());
        b[OFF_PRODUCER_EPOCH..OFF_PRODUCER_EPOCH + 2].copy_from_slice(&self.producer.producer_epoch.to_le_bytes());
        b[OFF_BASE_SEQUENCE..OFF_BASE_SEQUENCE + 4].copy_from_slice(&self.producer.base_sequence.to_le_bytes());
        let crc = crc32c::crc32c(&b[CRC_START..]);
        b[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

fn nullable_len(bytes: Option<&[u8]>) -> usize {
    match bytes {
        None => 1,
        Some(b) => varint::len_i64(b.len() as i64) + b.len(),
    }
}

fn put_nullable(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => varint::put_i64(out, -1),
        Some(b) => {
            varint::put_i64(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}
