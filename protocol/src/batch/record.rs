//! Records inside a batch: full validation, and zero-copy iteration over records and their headers.

use std::borrow::Cow;

use super::BatchError;
use super::compression::{Compression, decompress};
use super::header::{BatchHeader, HEADER_LEN, SEAL_OVERHEAD, crc_of};
use crate::varint;

/// The smallest possible encoded record (length, attributes, deltas, null key and value, no headers).
pub(crate) const MIN_RECORD_LEN: usize = 7;
/// Record attribute bit: a 16-byte message id follows the offset delta.
pub(crate) const RECORD_HAS_ID: u8 = 0b1;

/// A batch whose header and CRC have been checked; records borrow from the underlying buffer (or, for a compressed
/// batch, from the [`Records`] that [`BatchRef::decompress`] returns).
#[derive(Debug, Clone, Copy)]
pub struct BatchRef<'a> {
    buf: &'a [u8],
    header: BatchHeader,
    codec: Compression,
}

/// Validates a whole batch: header, length, CRC, version and attributes, and for an uncompressed batch every
/// record's framing, offset delta, header keys (UTF-8) and the header's timestamps. Returns a view for iterating
/// its records.
///
/// A compressed batch is checked up to its CRC only: its records are checked (count, framing, timestamps against
/// the header) when [`BatchRef::decompress`] decompresses them, which is where a decompression bomb is refused.
pub fn validate(buf: &[u8]) -> Result<BatchRef<'_>, BatchError> {
    let batch = BatchRef::trusted(buf)?;
    let computed = crc_of(buf);
    if computed != batch.header.crc {
        return Err(BatchError::CrcMismatch { stored: batch.header.crc, computed });
    }
    let region = &buf[HEADER_LEN..];
    match batch.codec {
        // A sealed batch's records are ciphertext: the CRC (over what is stored) is all that can be checked here.
        _ if batch.header.attributes.sealed() && region.len() <= SEAL_OVERHEAD => return Err(BatchError::Truncated),
        _ if batch.header.attributes.sealed() => {}
        Compression::None => check_region(region, &batch.header)?,
        _ if region.is_empty() => return Err(BatchError::Truncated),
        _ => {}
    }
    Ok(batch)
}

impl<'a> BatchRef<'a> {
    /// Wraps a batch whose CRC was already verified (for example by a storage read path). Record iteration still
    /// bounds every length, so a wrong assumption yields errors, never a panic.
    pub fn trusted(buf: &'a [u8]) -> Result<Self, BatchError> {
        let header = BatchHeader::parse(buf)?;
        if header.total_len() != buf.len() {
            return Err(BatchError::LengthMismatch { declared: header.total_len() as u64, actual: buf.len() as u64 });
        }
        let codec = header.attributes.compression()?;
        Ok(BatchRef { buf, header, codec })
    }

    /// The decoded header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The batch's bytes, exactly as stored and sent.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The codec the records are compressed with.
    pub fn compression(&self) -> Compression {
        self.codec
    }

    /// Iterates over the records of an uncompressed batch. For a compressed batch the iterator yields one
    /// [`BatchError::Compressed`]: use [`BatchRef::decompress`].
    pub fn records(&self) -> RecordIter<'a> {
        let mut iter = RecordIter::over(&self.buf[HEADER_LEN..], &self.header);
        if self.header.attributes.sealed() {
            iter.blocked = Some(BatchError::Sealed);
        } else if self.codec != Compression::None {
            iter.blocked = Some(BatchError::Compressed(self.codec.name()));
        }
        iter
    }

    /// The records, decompressed if the batch is compressed (at most `limit` bytes of them, else
    /// [`BatchError::DecompressedTooLarge`]). Decompressed records are checked as [`validate`] checks an
    /// uncompressed batch's; an uncompressed batch's records are borrowed as they are.
    pub fn decompress(&self, limit: usize) -> Result<Records<'a>, BatchError> {
        if self.header.attributes.sealed() {
            return Err(BatchError::Sealed);
        }
        let region = &self.buf[HEADER_LEN..];
        if self.codec == Compression::None {
            return Ok(Records { region: Cow::Borrowed(region), header: self.header });
        }
        let plain = decompress(self.codec, region, limit)?;
        check_region(&plain, &self.header)?;
        Ok(Records { region: Cow::Owned(plain), header: self.header })
    }
}

/// The record bytes of one batch, uncompressed: borrowed from an uncompressed batch, or decompressed.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    region: Cow<'a, [u8]>,
    header: BatchHeader,
}

impl<'a> Records<'a> {
    /// Records already decompressed (for example kept in a shared buffer), described by their batch's `header`.
    /// Iteration bounds every length, so wrong bytes yield errors, never a panic.
    pub fn from_region(region: &'a [u8], header: BatchHeader) -> Self {
        Records { region: Cow::Borrowed(region), header }
    }

    /// Iterates over the records.
    pub fn iter(&self) -> RecordIter<'_> {
        RecordIter::over(&self.region, &self.header)
    }

    /// The uncompressed record bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.region
    }

    /// The uncompressed record bytes, owned when they were decompressed.
    pub fn into_bytes(self) -> Cow<'a, [u8]> {
        self.region
    }
}

/// Checks every record of an uncompressed record region against the batch header.
fn check_region(region: &[u8], header: &BatchHeader) -> Result<(), BatchError> {
    if header.record_count as usize > region.len() / MIN_RECORD_LEN {
        return Err(BatchError::TooManyRecords { count: header.record_count, bytes: region.len() });
    }
    let mut iter = RecordIter::over(region, header);
    let mut max_timestamp = i64::MIN;
    for (i, record) in iter.by_ref().enumerate() {
        let record = record?;
        if i == 0 && record.timestamp != header.first_timestamp {
            return Err(BatchError::Inconsistent("first timestamp differs from the first record's"));
        }
        max_timestamp = max_timestamp.max(record.timestamp);
        for h in record.headers() {
            h?;
        }
    }
    if iter.pos != region.len() {
        return Err(BatchError::Inconsistent("bytes left after the last record"));
    }
    if max_timestamp != header.max_timestamp {
        return Err(BatchError::Inconsistent("max timestamp differs from the records'"));
    }
    Ok(())
}

/// One record, borrowed from its batch.
#[derive(Debug, Clone)]
pub struct RecordRef<'a> {
    /// Absolute offset (base offset + offset delta).
    pub offset: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Optional message id used for deduplication.
    pub id: Option<u128>,
    /// Optional key.
    pub key: Option<&'a [u8]>,
    /// Optional value (payload).
    pub value: Option<&'a [u8]>,
    headers: HeaderIter<'a>,
}

impl<'a> RecordRef<'a> {
    /// Iterates over the record's headers.
    pub fn headers(&self) -> HeaderIter<'a> {
        self.headers.clone()
    }
}

/// Iterator over the records of a batch. Yields an error (and then stops) on a malformed record.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    region: &'a [u8],
    pos: usize,
    index: u32,
    count: u32,
    base_offset: u64,
    first_timestamp: i64,
    /// Set for a compressed or sealed batch's raw bytes: the first item is this error
    /// ([`BatchError::Compressed`] or [`BatchError::Sealed`]).
    blocked: Option<BatchError>,
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RecordRef<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.count {
            return None;
        }
        if let Some(error) = self.blocked.take() {
            self.index = self.count;
            return Some(Err(error));
        }
        let result = self.decode();
        match result {
            Ok(_) => self.index += 1,
            Err(_) => self.index = self.count,
        }
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.count - self.index) as usize;
        (0, Some(left))
    }
}

impl<'a> RecordIter<'a> {
    fn over(region: &'a [u8], header: &BatchHeader) -> Self {
        RecordIter {
            region,
            pos: 0,
            index: 0,
            count: header.record_count,
            base_offset: header.base_offset,
            first_timestamp: header.first_timestamp,
            blocked: None,
        }
    }

    fn decode(&mut self) -> Result<RecordRef<'a>, BatchError> {
        let len = varint::get_u64(self.region, &mut self.pos)?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.pos.checked_add(len))
            .filter(|&end| end <= self.region.len())
            .ok_or(BatchError::Truncated)?;
        let rec = &self.region[self.pos..end];
        self.pos = end;

        let mut p = 0;
        let attributes = *rec.first().ok_or(BatchError::Truncated)?;
        p += 1;
        if attributes & !RECORD_HAS_ID != 0 {
            return Err(BatchError::MalformedRecord("reserved record attribute bits set"));
        }
        let timestamp_delta = varint::get_i64(rec, &mut p)?;
        // The builder stores `timestamp - first` with wrapping arithmetic, so wrapping addition restores it.
        let timestamp = self.first_timestamp.wrapping_add(timestamp_delta);
        let offset_delta = varint::get_u64(rec, &mut p)?;
        if offset_delta != u64::from(self.index) {
            return Err(BatchError::MalformedRecord("offset delta out of sequence"));
        }
        let id = if attributes & RECORD_HAS_ID != 0 {
            let raw = rec.get(p..p + 16).ok_or(BatchError::Truncated)?;
            p += 16;
            let mut b = [0u8; 16];
            b.copy_from_slice(raw);
            Some(u128::from_le_bytes(b))
        } else {
            None
        };
        let key = nullable_bytes(rec, &mut p)?;
        let value = nullable_bytes(rec, &mut p)?;
        let header_count = varint::get_u64(rec, &mut p)?;
        let header_region = &rec[p..];
        if header_count > (header_region.len() / 2) as u64 {
            return Err(BatchError::MalformedRecord("header count exceeds record length"));
        }
        if header_count == 0 && !header_region.is_empty() {
            return Err(BatchError::MalformedRecord("record length disagrees with its fields"));
        }
        Ok(RecordRef {
            offset: self.base_offset + offset_delta,
            timestamp,
            id,
            key,
            value,
            headers: HeaderIter { region: header_region, pos: 0, left: header_count as u32 },
        })
    }
}

fn nullable_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, BatchError> {
    let len = varint::get_i64(buf, pos)?;
    if len == -1 {
        return Ok(None);
    }
    let len = usize::try_from(len).map_err(|_| BatchError::MalformedRecord("negative length"))?;
    let end = pos.checked_add(len).filter(|&e| e <= buf.len()).ok_or(BatchError::Truncated)?;
    let out = &buf[*pos..end];
    *pos = end;
    Ok(Some(out))
}

/// One record header: a UTF-8 key and an optional value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRef<'a> {
    /// Header name.
    pub key: &'a str,
    /// Header value, if any.
    pub value: Option<&'a [u8]>,
}

/// Iterator over a record's headers. Yields an error (and then stops) on a malformed header.
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    region: &'a [u8],
    pos: usize,
    left: u32,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Result<HeaderRef<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let result = self.decode();
        if result.is_err() {
            self.left = 0;
        } else if self.left == 0 && self.pos != self.region.len() {
            return Some(Err(BatchError::MalformedRecord("record length disagrees with its headers")));
        }
        Some(result)
    }
}

impl<'a> HeaderIter<'a> {
    fn decode(&mut self) -> Result<HeaderRef<'a>, BatchError> {
        let key = nullable_bytes(self.region, &mut self.pos)?.ok_or(BatchError::MalformedRecord("null header key"))?;
        let key = std::str::from_utf8(key).map_err(|_| BatchError::MalformedRecord("header key is not UTF-8"))?;
        let value = nullable_bytes(self.region, &mut self.pos)?;
        Ok(HeaderRef { key, value })
    }
}
