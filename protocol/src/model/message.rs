//! Messages as producers and consumers see them, and their conversion to and from stored record batches.

use crate::batch::{BatchBuilder, BatchError, BatchHeader, BatchRef, Header, ProducerInfo, RecordData};
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
    builder.finish()
}

/// Decodes stored batches into messages at or after `from`, at most `max` of them. Payloads share `bytes`.
pub fn decode_batches(bytes: &Bytes, from: u64, max: usize) -> Result<Vec<ReceivedMessage>, BatchError> {
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() && out.len() < max {
        let header = BatchHeader::parse(rest)?;
        let len = header.total_len().min(rest.len());
        let batch = BatchRef::trusted(&rest[..len])?;
        for record in batch.records() {
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
                headers.push((h.key.to_string(), h.value.map_or_else(Bytes::new, |v| bytes.slice_ref(v))));
            }
            out.push(ReceivedMessage {
                offset: record.offset,
                timestamp: record.timestamp,
                id: record.id,
                key: record.key.map(|k| bytes.slice_ref(k)),
                headers,
                payload: record.value.map_or_else(Bytes::new, |v| bytes.slice_ref(v)),
            });
        }
        rest = &rest[len..];
    }
    Ok(out)
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
}
