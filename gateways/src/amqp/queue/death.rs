//! What dead-lettering does to a message, as RabbitMQ does it: the `x-death` header (an array of tables, the latest
//! death first; a death for the same queue and reason again counts up and moves to the front), the
//! `x-first-death-queue` / `-reason` / `-exchange` headers, the per-message `expiration` moved to
//! `original-expiration`, the cycle check, and the queue arguments that name the dead-letter exchange.

use std::sync::Arc;

use amq_protocol::protocol::basic::{AMQPProperties, gen_properties, parse_properties};
use amq_protocol::types::{AMQPValue, FieldArray, FieldTable, LongString};
use bytes::Bytes;

use crate::amqp::message::QueuedMessage;

/// Why a message died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeathReason {
    /// Rejected or nacked without requeue.
    Rejected,
    /// Expired (`x-message-ttl` or the message's `expiration`).
    Expired,
    /// Dropped from the head by `x-max-length`.
    MaxLen,
}

impl DeathReason {
    /// The reason as `x-death` spells it.
    pub fn name(self) -> &'static str {
        match self {
            DeathReason::Rejected => "rejected",
            DeathReason::Expired => "expired",
            DeathReason::MaxLen => "maxlen",
        }
    }
}

/// A queue's `x-dead-letter-exchange` and `x-dead-letter-routing-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterTo {
    /// The exchange dead letters are published to ("" is the default exchange).
    pub exchange: String,
    /// The routing key they are published with; their own when `None`.
    pub routing_key: Option<String>,
}

fn text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

impl DeadLetterTo {
    /// Reads the dead-letter arguments of a queue (`None` when it has no dead-letter exchange).
    pub fn from_arguments(args: &FieldTable) -> Option<DeadLetterTo> {
        let exchange = text(args.inner().get("x-dead-letter-exchange")?)?;
        let routing_key = args.inner().get("x-dead-letter-routing-key").and_then(text);
        Some(DeadLetterTo { exchange, routing_key })
    }
}

/// The message's properties, or defaults when they cannot be parsed (they were checked when published).
pub fn properties_of(message: &QueuedMessage) -> AMQPProperties {
    match parse_properties(&message.properties[..]) {
        Ok((_, p)) => p,
        Err(_) => AMQPProperties::default(),
    }
}

/// The message's own `expiration` (ms) when it has one. Only the flag bit is read unless it is set.
pub fn expiration_ms(message: &QueuedMessage) -> Option<i64> {
    // `expiration` is bit 8 of the 16-bit property flags: the lowest bit of the first byte.
    if message.properties.first().is_none_or(|b| b & 0x01 == 0) {
        return None;
    }
    properties_of(message).expiration().as_ref()?.as_str().parse::<i64>().ok().map(|v| v.max(0))
}

/// The properties without `expiration` (the builder cannot unset a field, so the rest is copied over).
fn without_expiration(p: &AMQPProperties) -> AMQPProperties {
    let mut out = AMQPProperties::default();
    if let Some(v) = p.content_type() {
        out = out.with_content_type(v.clone());
    }
    if let Some(v) = p.content_encoding() {
        out = out.with_content_encoding(v.clone());
    }
    if let Some(v) = p.headers() {
        out = out.with_headers(v.clone());
    }
    if let Some(v) = p.delivery_mode() {
        out = out.with_delivery_mode(*v);
    }
    if let Some(v) = p.priority() {
        out = out.with_priority(*v);
    }
    if let Some(v) = p.correlation_id() {
        out = out.with_correlation_id(v.clone());
    }
    if let Some(v) = p.reply_to() {
        out = out.with_reply_to(v.clone());
    }
    if let Some(v) = p.message_id() {
        out = out.with_message_id(v.clone());
    }
    if let Some(v) = p.timestamp() {
        out = out.with_timestamp(*v);
    }
    if let Some(v) = p.kind() {
        out = out.with_type(v.clone());
    }
    if let Some(v) = p.user_id() {
        out = out.with_user_id(v.clone());
    }
    if let Some(v) = p.app_id() {
        out = out.with_app_id(v.clone());
    }
    if let Some(v) = p.cluster_id() {
        out = out.with_cluster_id(v.clone());
    }
    out
}

fn field<'a>(table: &'a FieldTable, key: &str) -> Option<&'a AMQPValue> {
    table.inner().get(key)
}

fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

/// The `x-death` entries of `headers` (tables only).
fn deaths(headers: &FieldTable) -> Vec<FieldTable> {
    match field(headers, "x-death") {
        Some(AMQPValue::FieldArray(a)) => a
            .as_slice()
            .iter()
            .filter_map(|v| match v {
                AMQPValue::FieldTable(t) => Some(t.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn death_text(death: &FieldTable, key: &str) -> Option<String> {
    field(death, key).and_then(text)
}

/// The message as it is dead-lettered from `queue` for `reason` to `to`, at `now_ms`: the `x-death` headers are
/// updated, the exchange and routing key are the dead-letter ones, the rest of the properties is kept.
pub fn dead_lettered(
    message: &QueuedMessage,
    queue: &str,
    reason: DeathReason,
    to: &DeadLetterTo,
    now_ms: i64,
) -> QueuedMessage {
    let props = properties_of(message);
    let mut headers = props.headers().clone().unwrap_or_default();
    let mut list = deaths(&headers);
    let same = list.iter().position(|d| {
        death_text(d, "queue").as_deref() == Some(queue) && death_text(d, "reason").as_deref() == Some(reason.name())
    });
    let entry = match same {
        Some(i) => {
            let mut d = list.remove(i);
            let count = match field(&d, "count") {
                Some(AMQPValue::LongLongInt(n)) => *n,
                Some(AMQPValue::LongInt(n)) => i64::from(*n),
                Some(AMQPValue::LongUInt(n)) => i64::from(*n),
                _ => 0,
            };
            d.insert("count".into(), AMQPValue::LongLongInt(count + 1));
            d
        }
        None => {
            let mut d = FieldTable::default();
            d.insert("count".into(), AMQPValue::LongLongInt(1));
            d.insert("reason".into(), long(reason.name()));
            d.insert("queue".into(), long(queue));
            d.insert("time".into(), AMQPValue::Timestamp((now_ms / 1000).max(0) as u64));
            d.insert("exchange".into(), long(&message.exchange));
            d.insert("routing-keys".into(), AMQPValue::FieldArray(FieldArray::from(vec![long(&message.routing_key)])));
            if let Some(exp) = props.expiration() {
                d.insert("original-expiration".into(), long(exp.as_str()));
            }
            d
        }
    };
    list.insert(0, entry);
    let array = list.into_iter().map(AMQPValue::FieldTable).collect::<Vec<_>>();
    headers.insert("x-death".into(), AMQPValue::FieldArray(FieldArray::from(array)));
    for (key, value) in [
        ("x-first-death-queue", queue),
        ("x-first-death-reason", reason.name()),
        ("x-first-death-exchange", message.exchange.as_str()),
    ] {
        if field(&headers, key).is_none() {
            headers.insert(key.into(), long(value));
        }
    }
    let props = without_expiration(&props).with_headers(headers);
    let properties = match gen_properties(&props)(amq_protocol::frame::WriteContext::from(Vec::new())) {
        Ok(ctx) => Bytes::from(ctx.into_inner().0),
        Err(e) => {
            tracing::error!(error = ?e, "could not encode dead-lettered properties; keeping the original ones");
            message.properties.clone()
        }
    };
    QueuedMessage {
        exchange: to.exchange.clone(),
        routing_key: to.routing_key.clone().unwrap_or_else(|| message.routing_key.clone()),
        properties,
        body: message.body.clone(),
        timestamp_ms: now_ms,
    }
}

/// Whether dead-lettering `message` (already carrying its latest death) into `target` closes a cycle that no
/// rejection broke, which RabbitMQ drops rather than loop forever: `target` is in its `x-death` history and no death
/// from the latest back to that one was a rejection.
pub fn is_cycle(message: &Arc<QueuedMessage>, target: &str) -> bool {
    let Some(headers) = properties_of(message).headers().clone() else { return false };
    let list = deaths(&headers);
    let Some(at) = list.iter().position(|d| death_text(d, "queue").as_deref() == Some(target)) else {
        return false;
    };
    list[..=at].iter().all(|d| death_text(d, "reason").as_deref() != Some(DeathReason::Rejected.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(props: &AMQPProperties) -> QueuedMessage {
        let bytes = gen_properties(props)(amq_protocol::frame::WriteContext::from(Vec::new())).unwrap().into_inner().0;
        QueuedMessage {
            exchange: "amq.direct".into(),
            routing_key: "k".into(),
            properties: Bytes::from(bytes),
            body: Bytes::from_static(b"body"),
            timestamp_ms: 1000,
        }
    }

    #[test]
    fn x_death_is_added_then_counted_and_first_death_kept() {
        let mut h = FieldTable::default();
        h.insert("app".into(), long("v"));
        let m = message(&AMQPProperties::default().with_headers(h).with_expiration("500".into()).with_priority(3));
        assert_eq!(expiration_ms(&m), Some(500));
        let to = DeadLetterTo { exchange: "dlx".into(), routing_key: Some("dead".into()) };
        let once = dead_lettered(&m, "q1", DeathReason::Expired, &to, 5000);
        assert_eq!((once.exchange.as_str(), once.routing_key.as_str()), ("dlx", "dead"));
        assert_eq!(expiration_ms(&once), None);
        let p = properties_of(&once);
        assert_eq!(*p.priority(), Some(3));
        let headers = p.headers().clone().unwrap();
        assert_eq!(death_text(&headers, "app").as_deref(), Some("v"));
        assert_eq!(death_text(&headers, "x-first-death-queue").as_deref(), Some("q1"));
        let list = deaths(&headers);
        assert_eq!(list.len(), 1);
        assert_eq!(death_text(&list[0], "original-expiration").as_deref(), Some("500"));
        assert_eq!(field(&list[0], "time"), Some(&AMQPValue::Timestamp(5)));

        let to_own = DeadLetterTo { exchange: "".into(), routing_key: None };
        let twice = dead_lettered(&once, "q2", DeathReason::Rejected, &to_own, 6000);
        assert_eq!(twice.routing_key, "dead");
        let thrice = dead_lettered(&twice, "q1", DeathReason::Expired, &to_own, 7000);
        let headers = properties_of(&thrice).headers().clone().unwrap();
        let list = deaths(&headers);
        assert_eq!(list.len(), 2);
        assert_eq!(death_text(&list[0], "queue").as_deref(), Some("q1"));
        assert_eq!(field(&list[0], "count"), Some(&AMQPValue::LongLongInt(2)));
        assert_eq!(death_text(&headers, "x-first-death-reason").as_deref(), Some("expired"));
    }

    #[test]
    fn cycles_without_a_rejection_are_detected() {
        let m = message(&AMQPProperties::default());
        let to = DeadLetterTo { exchange: "".into(), routing_key: None };
        let expired = Arc::new(dead_lettered(&m, "a", DeathReason::Expired, &to, 0));
        assert!(is_cycle(&expired, "a"));
        assert!(!is_cycle(&expired, "b"));
        let rejected = Arc::new(dead_lettered(&m, "a", DeathReason::Rejected, &to, 0));
        assert!(!is_cycle(&rejected, "a"));
        let then_expired = Arc::new(dead_lettered(&rejected, "b", DeathReason::Expired, &to, 0));
        assert!(!is_cycle(&then_expired, "a"), "a rejection in the loop breaks it");
        assert!(is_cycle(&then_expired, "b"));
    }
}
