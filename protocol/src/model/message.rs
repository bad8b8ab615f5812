//! Messages as producers and consumers see them, and their conversion to and from stored record batches.

use crate::batch::{
    BatchBuilder, BatchError, BatchHeader, BatchRef, Compression, HEADER_LEN, Header, MAX_DECOMPRESSED_BYTES,
    ProducerInfo, RecordData, RecordRef, Records,
};
use bytes::Bytes;

/// A message to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Optional id; with a dedup window on the topic, a repeated id is dropped.
    pub id: Option<u128>,
    /// Optional key (used by key partitioning).
    pub key: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<(String, Bytes)>,
    /// The payload.
    pub payload: Bytes,
    /// Milliseconds since the Unix epoch; the broker's clock when `None`.
    pub timestamp: Option<i64>,
}

impl Message {
    /// A message with this payload.
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Message { payload: payload.into(), ..Message::default() }
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the id.
    pub fn with_id(mut self, id: u128) -> Self {
        self.id = Some(id);
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the timestamp.
    pub fn with_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.timestamp = Some(timestamp_ms);
        self
    }
}

/// A consumed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Offset in its partition.
    pub offset: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Id, if it had one.
    pub id: Option<u128>,
    /// Key, if any.
    pub key: Option<Bytes>,
    /// Headers (a header stored without a value reads as empty).
    pub headers: Vec<(String, Bytes)>,
    /// Payload.
    pub payload: Bytes,
}

/// Encodes messages into one record batch.
pub fn encode_batch<'a>(
    messages: impl IntoIterator<Item = &'a Message>,
    now_ms: i64,
    producer: Option<ProducerInfo>,
) -> Vec<u8> {
    builder_for(messages, now_ms, producer).finish()
}

/// Encodes messages into one record batch whose records are compressed with `codec`.
pub fn encode_batch_compressed<'a>(
    messages: impl IntoIterator<Item = &'a Message>,
    now_ms: i64,
    producer: Option<ProducerInfo>,
    codec: Compression,
) -> Vec<u8> {
    builder_for(messages, now_ms, producer).finish_compressed(codec)
}

fn builder_for<'a>(
    messages: impl IntoIterator<Item = &'a Message>,
    now_ms: i64,
    producer: Option<ProducerInfo>,
) -> BatchBuilder {
    let mut builder = BatchBuilder::new().producer(producer.unwrap_or_default());
    let mut headers: Vec<Header<'_>> = Vec::new();
    for m in messages {
        headers.clear();
        headers.extend(m.headers.iter().map(|(k, v)| Header { key: k, value: Some(v) }));
        builder.push(&RecordData {
            timestamp: m.timestamp.unwrap_or(now_ms),
            id: m.id,
            key: m.key.as_deref(),
            value: Some(&m.payload),
            headers: &headers,
        });
    }
    builder
}

/// Decodes stored batches into messages at or after `from`, at most `max` of them. Payloads share `bytes` (or, for
/// a compressed batch, its decompressed records). Compressed batches may decompress to at most
/// [`MAX_DECOMPRESSED_BYTES`] each: use [`decode_batches_limited`] for a tighter bound.
pub fn decode_batches(bytes: &Bytes, from: u64, max: usize) -> Result<Vec<ReceivedMessage>, BatchError> {
    decode_batches_limited(bytes, from, max, MAX_DECOMPRESSED_BYTES)
}

/// [`decode_batches`], refusing a compressed batch whose records decompress to more than `limit` bytes.
pub fn decode_batches_limited(
    bytes: &Bytes,
    from: u64,
    max: usize,
    limit: usize,
) -> Result<Vec<ReceivedMessage>, BatchError> {
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() && out.len() < max {
        let header = BatchHeader::parse(rest)?;
        let len = header.total_len().min(rest.len());
        let batch = BatchRef::trusted(&rest[..len])?;
        rest = &rest[len..];
        if header.next_offset() <= from {
            continue;
        }
        if batch.compression() == Compression::None {
            collect(bytes, Records::from_region(&batch.as_bytes()[HEADER_LEN..], header).iter(), from, max, &mut out)?;
        } else {
            let plain = Bytes::from(batch.decompress(limit)?.into_bytes().into_owned());
            collect(&plain, Records::from_region(&plain, header).iter(), from, max, &mut out)?;
        }
    }
    Ok(out)
}

/// Appends the records at or after `from` (up to `max` messages in `out`), their bytes shared from `source`.
fn collect<'a>(
    source: &Bytes,
    records: impl Iterator<Item = Result<RecordRef<'a>, BatchError>>,
    from: u64,
    max: usize,
    out: &mut Vec<ReceivedMessage>,
) -> Result<(), BatchError> {
    for record in records {
        let record = record?;
        if record.offset < from {
            continue;
        }
        if out.len() == max {
            break;
        }
        let mut headers = Vec::new();
        for h in record.headers() {
            let h = h?;
            headers.push((h.key.to_string(), h.value.map_or_else(Bytes::new, |v| source.slice_ref(v))));
        }
        out.push(ReceivedMessage {
            offset: record.offset,
            timestamp: record.timestamp,
            id: record.id,
            key: record.key.map(|k| source.slice_ref(k)),
            headers,
            payload: record.value.map_or_else(Bytes::new, |v| source.slice_ref(v)),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let msgs = vec![
            Message::new("a").with_key("k").with_id(9).with_header("h", "v").with_timestamp(5),
            Message::new(vec![0u8, 1, 2]),
        ];
        let mut batch = encode_batch(&msgs, 77, None);
        crate::batch::set_base_offset(&mut batch, 10);
        let bytes = Bytes::from(batch);
        let got = decode_batches(&bytes, 0, 10).expect("decode");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].offset, 10);
        assert_eq!(got[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(got[0].id, Some(9));
        assert_eq!(got[0].headers, vec![("h".to_string(), Bytes::from("v"))]);
        assert_eq!(got[1].timestamp, 77);
        assert_eq!(decode_batches(&bytes, 11, 10).expect("decode").len(), 1);
        assert_eq!(decode_batches(&bytes, 0, 1).expect("decode").len(), 1);
    }

    #[test]
    fn compressed_and_plain_batches_decode_alike() {
        let msgs: Vec<Message> =
            (0..20).map(|i| Message::new(format!("{{\"n\":{i}}}")).with_header("h", "v")).collect();
        let mut stream = Vec::new();
        let mut next = 0u64;
        for codec in Compression::ALL {
            let mut batch = encode_batch_compressed(&msgs, 5, None, codec);
            crate::batch::set_base_offset(&mut batch, next);
            next += 20;
            stream.extend_from_slice(&batch);
        }
        let bytes = Bytes::from(stream);
        let got = decode_batches(&bytes, 30, usize::MAX).expect("decode");
        assert_eq!(got.len(), 70);
        assert_eq!(got.iter().map(|m| m.offset).collect::<Vec<_>>(), (30..100).collect::<Vec<_>>());
        for m in &got {
            assert_eq!(m.payload, msgs[(m.offset % 20) as usize].payload, "offset {}", m.offset);
            assert_eq!(m.headers, vec![("h".to_string(), Bytes::from("v"))]);
        }
        let err = decode_batches_limited(&bytes, 0, usize::MAX, 100).expect_err("over the limit");
        assert_eq!(err, BatchError::DecompressedTooLarge { limit: 100 });
    }
}
