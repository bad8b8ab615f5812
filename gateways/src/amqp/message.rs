//! [`QueuedMessage`]: an AMQP message as a queue holds it (exchange, routing key, the content header's property
//! bytes and the body, all byte for byte) and its mapping onto a Callboard log record: the body is the record's
//! payload, the rest travels in record headers.

use bytes::Bytes;
use callboard_actors::{Message, ReceivedMessage};

/// Record header holding the exchange the message was published to.
const EXCHANGE: &str = "amqp.exchange";
/// Record header holding the routing key.
const ROUTING_KEY: &str = "amqp.routing-key";
/// Record header holding the content header's property bytes (flags and list, as the publisher sent them).
const PROPERTIES: &str = "amqp.properties";

/// An AMQP message in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    /// Exchange it was published to.
    pub exchange: String,
    /// Routing key it was published with.
    pub routing_key: String,
    /// Content-header property bytes, unchanged.
    pub properties: Bytes,
    /// Body.
    pub body: Bytes,
    /// When it was published (ms since the Unix epoch), for `x-message-ttl`.
    pub timestamp_ms: i64,
}

impl QueuedMessage {
    /// Bytes the message occupies in memory, roughly (for the memory high-water mark).
    pub fn size(&self) -> usize {
        self.body.len() + self.properties.len() + self.exchange.len() + self.routing_key.len() + 64
    }

    /// The log record storing this message.
    pub fn to_record(&self) -> Message {
        Message {
            headers: vec![
                (EXCHANGE.to_string(), Bytes::copy_from_slice(self.exchange.as_bytes())),
                (ROUTING_KEY.to_string(), Bytes::copy_from_slice(self.routing_key.as_bytes())),
                (PROPERTIES.to_string(), self.properties.clone()),
            ],
            payload: self.body.clone(),
            timestamp: Some(self.timestamp_ms),
            ..Message::default()
        }
    }

    /// The message a log record stores (`None` for a record the AMQP gateway did not write).
    pub fn from_record(record: ReceivedMessage) -> Option<QueuedMessage> {
        let (mut exchange, mut routing_key, mut properties) = (None, None, None);
        for (name, value) in record.headers {
            match name.as_str() {
                EXCHANGE => exchange = String::from_utf8(value.to_vec()).ok(),
                ROUTING_KEY => routing_key = String::from_utf8(value.to_vec()).ok(),
                PROPERTIES => properties = Some(value),
                _ => {}
            }
        }
        Some(QueuedMessage {
            exchange: exchange?,
            routing_key: routing_key?,
            properties: properties?,
            body: record.payload,
            timestamp_ms: record.timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let m = QueuedMessage {
            exchange: "amq.topic".into(),
            routing_key: "a.b".into(),
            properties: Bytes::from_static(&[0x90, 0, 1, 2]),
            body: Bytes::from_static(b"body"),
            timestamp_ms: 1234,
        };
        let record = m.to_record();
        let received = ReceivedMessage {
            offset: 3,
            timestamp: 1234,
            id: None,
            key: None,
            headers: record.headers,
            payload: record.payload,
        };
        assert_eq!(QueuedMessage::from_record(received), Some(m));
    }
}
