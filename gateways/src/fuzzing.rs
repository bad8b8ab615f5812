//! Entry points for the fuzz targets (`fuzz/` at the workspace root): each runs one decoder of bytes from outside
//! exactly as the gateway does, without a broker or a socket. Not a stable API.

use actix_web::web;
use bytes::{Bytes, BytesMut};
use callboard_protocol::batch;
use callboard_protocol::wire::{
    AddPartitions, ApiKey, CommitGroupOffset, CreateStream, CreateToken, CreateTopic, CreateUser, DeleteGroup,
    DeleteOffset, DeleteStream, DeleteTopic, DeleteUser, DescribeGroup, DescribeTopic, Fetch, GetOffset, Grant,
    GroupFetch, Heartbeat, Hello, InitProducer, JoinGroup, LeaveGroup, ListGroups, ListStreams, ListTokens, ListTopics,
    ListUsers, Login, LoginWithToken, Ping, Produce, ResetGroupOffsets, Revoke, RevokeToken, StatusRequest,
    StoreOffset, UpdateUser, WhoAmI, decode_control, split_payload,
};
use serde::de::DeserializeOwned;

use crate::amqp::frame::{self, Inbound};
use crate::http::body::from_json_value;
use crate::http::poll::PollQuery;
use crate::http::{groups, offsets, produce, streams, topics};

/// What a decoder made of its input: accepted, rejected with an error (either is fine), or a key it does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The input decoded.
    Accepted,
    /// The input was rejected with an error.
    Rejected,
    /// The API key or body kind is not one this decoder knows.
    Unknown,
}

fn outcome<T, E>(result: Result<T, E>) -> Outcome {
    if result.is_ok() { Outcome::Accepted } else { Outcome::Rejected }
}

fn control<T: DeserializeOwned>(body: &[u8]) -> Outcome {
    outcome(decode_control::<T>(body))
}

/// Decodes a TCP/QUIC request body of API `api` as the session and dispatch do (the `Hello` handshake body, each
/// control body, the produce header with its batch validated as the partition does).
pub fn request_body(api: u16, body: &Bytes) -> Outcome {
    let Some(api) = ApiKey::from_u16(api) else { return Outcome::Unknown };
    match api {
        ApiKey::Hello => control::<Hello>(body),
        ApiKey::Produce => match split_payload::<Produce>(body) {
            // The partition decompresses a compressed batch up to the topic's limit (16 MiB by default).
            Ok((_, batch)) => {
                outcome(batch::validate(&batch).and_then(|b| b.decompress(16 << 20)).map(|r| r.iter().count()))
            }
            Err(_) => Outcome::Rejected,
        },
        ApiKey::Fetch => control::<Fetch>(body),
        ApiKey::GroupFetch => control::<GroupFetch>(body),
        ApiKey::Ping => control::<Ping>(body),
        ApiKey::Status => control::<StatusRequest>(body),
        ApiKey::CreateStream => control::<CreateStream>(body),
        ApiKey::DeleteStream => control::<DeleteStream>(body),
        ApiKey::ListStreams => control::<ListStreams>(body),
        ApiKey::CreateTopic => control::<CreateTopic>(body),
        ApiKey::DeleteTopic => control::<DeleteTopic>(body),
        ApiKey::ListTopics => control::<ListTopics>(body),
        ApiKey::DescribeTopic => control::<DescribeTopic>(body),
        ApiKey::AddPartitions => control::<AddPartitions>(body),
        ApiKey::InitProducer => control::<InitProducer>(body),
        ApiKey::StoreOffset => control::<StoreOffset>(body),
        ApiKey::GetOffset => control::<GetOffset>(body),
        ApiKey::DeleteOffset => control::<DeleteOffset>(body),
        ApiKey::JoinGroup => control::<JoinGroup>(body),
        ApiKey::Heartbeat => control::<Heartbeat>(body),
        ApiKey::LeaveGroup => control::<LeaveGroup>(body),
        ApiKey::CommitGroupOffset => control::<CommitGroupOffset>(body),
        ApiKey::ListGroups => control::<ListGroups>(body),
        ApiKey::DescribeGroup => control::<DescribeGroup>(body),
        ApiKey::DeleteGroup => control::<DeleteGroup>(body),
        ApiKey::ResetGroupOffsets => control::<ResetGroupOffsets>(body),
        ApiKey::Login => control::<Login>(body),
        ApiKey::LoginWithToken => control::<LoginWithToken>(body),
        ApiKey::WhoAmI => control::<WhoAmI>(body),
        ApiKey::CreateUser => control::<CreateUser>(body),
        ApiKey::ListUsers => control::<ListUsers>(body),
        ApiKey::UpdateUser => control::<UpdateUser>(body),
        ApiKey::DeleteUser => control::<DeleteUser>(body),
        ApiKey::Grant => control::<Grant>(body),
        ApiKey::Revoke => control::<Revoke>(body),
        ApiKey::CreateToken => control::<CreateToken>(body),
        ApiKey::ListTokens => control::<ListTokens>(body),
        ApiKey::RevokeToken => control::<RevokeToken>(body),
        _ => Outcome::Unknown,
    }
}

/// Cuts AMQP frames out of `stream` as the connection's reader does (fed in `chunks`), parsing every method and
/// content header; stops at the first error. Returns how many frames parsed.
pub fn amqp_frames(stream: &[u8], chunks: &[usize], frame_max: u32) -> usize {
    let mut buf = BytesMut::new();
    let mut rest = stream;
    let mut frames = 0;
    let mut sizes = chunks.iter().copied().chain(std::iter::repeat(usize::MAX));
    while !rest.is_empty() {
        let take = sizes.next().unwrap_or(usize::MAX).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        loop {
            match frame::parse(&mut buf, frame_max) {
                Ok(Some(inbound)) => {
                    frames += 1;
                    if let Inbound::Header { raw, .. } = &inbound {
                        debug_assert!(raw.len() >= 2, "property flags are kept");
                    }
                }
                Ok(None) => break,
                Err(_) => return frames,
            }
        }
    }
    frames
}

/// Kinds of JSON body [`http_json_body`] decodes, by the route that reads them.
pub const JSON_BODIES: [&str; 6] =
    ["produce", "create_stream", "create_topic", "add_partitions", "store_offset", "reset_group_offsets"];

/// Decodes a REST JSON body of route kind `kind` (an index into [`JSON_BODIES`]) as actix's JSON extractor and the
/// route do: bytes to a JSON value, the integral-float rule, the body type, and the route's own checks (base64,
/// UUIDs, topic configuration).
pub fn http_json_body(kind: usize, body: &[u8]) -> Outcome {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else { return Outcome::Rejected };
    match kind {
        0 => outcome(from_json_value::<produce::ProduceRequest>(value).and_then(|r| r.into_parts())),
        1 => outcome(from_json_value::<streams::CreateStream>(value)),
        2 => outcome(from_json_value::<topics::CreateTopic>(value).and_then(|t| t.config())),
        3 => outcome(from_json_value::<topics::AddPartitions>(value)),
        4 => outcome(from_json_value::<offsets::StoreOffset>(value)),
        5 => outcome(from_json_value::<groups::ResetOffsets>(value)),
        _ => Outcome::Unknown,
    }
}

/// Decodes a poll's query string as actix's `web::Query` extractor and the poll route do.
pub fn http_poll_query(query: &str) -> Outcome {
    match web::Query::<PollQuery>::from_query(query) {
        Ok(q) => outcome(q.into_inner().request(std::time::Duration::from_secs(30))),
        Err(_) => Outcome::Rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callboard_protocol::wire::{ProduceTarget, encode_control, encode_with_payload};

    #[test]
    fn every_api_but_none_other_has_a_decoder() {
        for api in ApiKey::ALL {
            assert_ne!(request_body(api.as_u16(), &Bytes::new()), Outcome::Unknown, "{api:?}");
        }
        assert_eq!(request_body(9999, &Bytes::new()), Outcome::Unknown);
    }

    #[test]
    fn real_bodies_are_accepted() {
        let ping = encode_control(&Ping {}).expect("encode");
        assert_eq!(request_body(ApiKey::Ping.as_u16(), &ping), Outcome::Accepted);
        let mut b = batch::BatchBuilder::new();
        b.push(&batch::RecordData { timestamp: 1, value: Some(b"v"), ..Default::default() });
        let produce = Produce { stream: "s".into(), topic: "t".into(), target: ProduceTarget::Balanced };
        let body = encode_with_payload(&produce, &b.finish()).expect("encode");
        assert_eq!(request_body(ApiKey::Produce.as_u16(), &body), Outcome::Accepted);
        let json =
            br#"{"encoding":"base64","messages":[{"payload":"aGk=","id":"67e55044-10b1-426f-9247-bb680e5fe0c8"}]}"#;
        assert_eq!(http_json_body(0, json), Outcome::Accepted);
        assert_eq!(http_json_body(2, br#"{"name":"t","durability":"interval:5"}"#), Outcome::Accepted);
        assert_eq!(http_poll_query("from=offset:3&count=5&consumer=c&auto_commit=true"), Outcome::Accepted);
        assert_eq!(http_poll_query("from=next"), Outcome::Rejected);
    }

    #[test]
    fn amqp_frames_are_cut_across_chunks() {
        let mut out = Vec::new();
        frame::put_heartbeat(&mut out);
        frame::put_content(&mut out, 1, &[0, 0], b"body", 4096);
        assert_eq!(amqp_frames(&out, &[1, 3, 2], 4096), 3);
    }
}
