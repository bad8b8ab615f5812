//! The poll route (`GET …/partitions/{partition}/messages`): reads messages from an offset, a timestamp, the first
//! or last message, or a named consumer's stored offset, optionally waiting for data (long poll, capped).

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use callboard_actors::{ConsumerRef, PollRequest, PollingStrategy, ReceivedMessage, ResetPolicy};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use callboard_protocol::model::Permission;

use super::auth::Caller;
use super::encoding::{Encoding, encode, format_uuid, is_utf8};
use super::error::ApiError;
use super::responses::{AppState, BadRequest, NotFound, PartitionPath, TooManyPolls};

/// Default number of messages per poll.
const DEFAULT_COUNT: u32 = 10;
/// Most messages per poll.
const MAX_COUNT: u32 = 1000;
/// About this many bytes of messages per poll (at least one message is answered).
const MAX_BYTES: usize = 1 << 20;

/// Query of a poll.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PollQuery {
    /// Where to start: `first` (default), `last`, `next` (the consumer's stored offset; needs `consumer`),
    /// `offset:N` or `timestamp:MS` (the first message at or after that time, ms since the Unix epoch).
    #[param(pattern = "^(first|last|next|offset:[0-9]{1,19}|timestamp:-?[0-9]{1,18})$", example = "first")]
    pub from: Option<String>,
    /// At most this many messages (default 10).
    #[param(minimum = 1, maximum = 1000)]
    pub count: Option<u32>,
    /// Wait up to this long for a message when there is none (default 0; capped at 30000).
    #[param(maximum = 18446744073709551615_u64)]
    pub wait_ms: Option<u64>,
    /// Poll as this consumer: `from=next` starts at its stored offset (the log start when it has none).
    #[param(min_length = 1)]
    pub consumer: Option<String>,
    /// Store the consumer's offset after the answered messages (needs `consumer`).
    pub auto_commit: Option<bool>,
    /// How payloads, keys and header values are written (default `text`: UTF-8, or, for a message holding bytes
    /// that are not UTF-8, all of its payload, key and header values in base64 with `binary: true`).
    pub encoding: Option<Encoding>,
}

/// A message as read.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PolledMessage {
    /// Offset in the partition.
    pub offset: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Message id (a UUID), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Key, if any.
    pub key: Option<String>,
    /// Headers.
    pub headers: BTreeMap<String, String>,
    /// Payload.
    pub payload: String,
    /// Present (true) when, under `encoding=text`, the payload, key or a header value was not UTF-8: then the
    /// payload, the key and every header value of this message are written in base64.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub binary: bool,
}

/// Answer of a poll.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PollResponse {
    /// Partition polled.
    pub partition: u32,
    /// Offset where the next poll continues.
    pub next_offset: u64,
    /// The partition's log end offset when polled.
    pub log_end: u64,
    /// Messages, in offset order.
    pub messages: Vec<PolledMessage>,
}

fn parse_from(from: &str) -> Result<PollingStrategy, ApiError> {
    let bad = || ApiError::invalid(format!("from={from:?} is not first, last, next, offset:N or timestamp:MS"));
    let digits = |s: &str, max: usize| {
        let unsigned = s.strip_prefix('-').unwrap_or(s);
        !unsigned.is_empty() && unsigned.len() <= max && unsigned.bytes().all(|b| b.is_ascii_digit())
    };
    Ok(match from {
        "first" => PollingStrategy::First,
        "last" => PollingStrategy::Last,
        "next" => PollingStrategy::Next,
        other => match other.split_once(':') {
            Some(("offset", n)) if digits(n, 19) && !n.starts_with('-') => {
                PollingStrategy::Offset(n.parse().map_err(|_| bad())?)
            }
            Some(("timestamp", ms)) if digits(ms, 18) => PollingStrategy::Timestamp(ms.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        },
    })
}

fn message(m: ReceivedMessage, encoding: Encoding) -> PolledMessage {
    // Under `text`, one field that is not UTF-8 turns the whole message to base64: a reader seeing `binary` decodes
    // every field, so none may be left as text (a text key "QUJD" would read back as "ABC").
    let binary = encoding == Encoding::Text
        && !(is_utf8(&m.payload) && m.key.as_deref().is_none_or(is_utf8) && m.headers.iter().all(|(_, v)| is_utf8(v)));
    let encoding = if binary { Encoding::Base64 } else { encoding };
    let key = m.key.as_deref().map(|k| encode(k, encoding));
    let headers = m.headers.iter().map(|(k, v)| (k.clone(), encode(v, encoding))).collect();
    let payload = encode(&m.payload, encoding);
    PolledMessage { offset: m.offset, timestamp: m.timestamp, id: m.id.map(format_uuid), key, headers, payload, binary }
}

impl PollQuery {
    pub(crate) fn request(self, max_wait: Duration) -> Result<(PollRequest, Encoding), ApiError> {
        let strategy = parse_from(self.from.as_deref().unwrap_or("first"))?;
        let count = self.count.unwrap_or(DEFAULT_COUNT);
        if !(1..=MAX_COUNT).contains(&count) {
            return Err(ApiError::invalid(format!("count must be between 1 and {MAX_COUNT}, got {count}")));
        }
        let auto_commit = self.auto_commit.unwrap_or(false);
        let consumer = match self.consumer {
            Some(name) if name.is_empty() => return Err(ApiError::invalid("consumer cannot be empty")),
            Some(name) => Some(ConsumerRef { name, auto_commit, reset: ResetPolicy::Earliest }),
            None if strategy == PollingStrategy::Next => {
                return Err(ApiError::invalid("from=next needs a consumer (consumer=NAME)"));
            }
            None if auto_commit => return Err(ApiError::invalid("auto_commit needs a consumer (consumer=NAME)")),
            None => None,
        };
        let wait = Duration::from_millis(self.wait_ms.unwrap_or(0)).min(max_wait);
        let request = PollRequest { strategy, count, max_bytes: MAX_BYTES, max_wait: wait, consumer };
        Ok((request, self.encoding.unwrap_or_default()))
    }
}

/// Polls messages from one partition.
#[utoipa::path(get, path = "/api/v1/streams/{stream}/topics/{topic}/partitions/{partition}/messages", tag = "messages",
    operation_id = "poll", params(PartitionPath, PollQuery),
    responses((status = 200, description = "Messages (possibly none)", body = PollResponse), BadRequest, NotFound,
        TooManyPolls))]
pub(crate) async fn poll(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<PartitionPath>,
    query: web::Query<PollQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read, &path.stream, Some(&path.topic))?;
    let (request, encoding) = query.into_inner().request(state.max_wait)?;
    let polled = state.broker.poll(&path.stream, &path.topic, path.partition, request).await?;
    let body = PollResponse {
        partition: polled.partition,
        next_offset: polled.next_offset,
        log_end: polled.log_end,
        messages: polled.messages.into_iter().map(|m| message(m, encoding)).collect(),
    };
    Ok(HttpResponse::Ok().json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_values() {
        assert_eq!(parse_from("first").ok(), Some(PollingStrategy::First));
        assert_eq!(parse_from("offset:42").ok(), Some(PollingStrategy::Offset(42)));
        assert_eq!(parse_from("timestamp:-5").ok(), Some(PollingStrategy::Timestamp(-5)));
        assert_eq!(
            parse_from("offset:9999999999999999999").ok(),
            Some(PollingStrategy::Offset(9_999_999_999_999_999_999))
        );
        for bad in ["", "offset:", "offset:-1", "offset:x", "timestamp:", "later", "offset:12345678901234567890"] {
            assert!(parse_from(bad).is_err(), "{bad}");
        }
    }
}
