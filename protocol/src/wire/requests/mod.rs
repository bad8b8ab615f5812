//! Request and response bodies of every API, and [`Call`], which ties each request to its API key and answer.
//!
//! Control requests travel as MessagePack maps. Three APIs carry record batches as raw stored bytes after a
//! MessagePack header (see [`super::encode_with_payload`]): the [`Produce`] request, and the answers to [`Fetch`]
//! and [`GroupFetch`].

mod admin;
mod auth;
mod data;
mod group;

pub use admin::*;
pub use auth::*;
pub use data::*;
pub use group::*;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ApiKey;

/// A request body: which API it is and what a successful answer decodes to.
pub trait Call: Serialize + DeserializeOwned {
    /// The API this body belongs to.
    const API: ApiKey;
    /// The body of a successful answer.
    type Response: Serialize + DeserializeOwned;
}

/// An empty body (encoded as an empty MessagePack map).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Empty {}

macro_rules! calls {
    ($($req:ty => $api:ident, $resp:ty;)*) => {
        $(impl Call for $req {
            const API: ApiKey = ApiKey::$api;
            type Response = $resp;
        })*
    };
}

use crate::model::{
    BrokerStatus, CreatedToken, GroupDescription, Membership, StreamInfo, TokenInfo, TopicDetails, TopicInfo, UserInfo,
};

calls! {
    Ping => Ping, Empty;
    StatusRequest => Status, BrokerStatus;
    CreateStream => CreateStream, StreamInfo;
    DeleteStream => DeleteStream, Empty;
    ListStreams => ListStreams, Vec<StreamInfo>;
    CreateTopic => CreateTopic, TopicInfo;
    DeleteTopic => DeleteTopic, Empty;
    ListTopics => ListTopics, Vec<TopicInfo>;
    DescribeTopic => DescribeTopic, TopicDetails;
    AddPartitions => AddPartitions, AddPartitionsResponse;
    InitProducer => InitProducer, InitProducerResponse;
    StoreOffset => StoreOffset, Empty;
    GetOffset => GetOffset, GetOffsetResponse;
    DeleteOffset => DeleteOffset, DeleteOffsetResponse;
    JoinGroup => JoinGroup, Membership;
    Heartbeat => Heartbeat, Membership;
    LeaveGroup => LeaveGroup, Empty;
    CommitGroupOffset => CommitGroupOffset, Empty;
    ListGroups => ListGroups, Vec<String>;
    DescribeGroup => DescribeGroup, GroupDescription;
    DeleteGroup => DeleteGroup, Empty;
    ResetGroupOffsets => ResetGroupOffsets, Empty;
    Login => Login, UserInfo;
    LoginWithToken => LoginWithToken, UserInfo;
    WhoAmI => WhoAmI, UserInfo;
    CreateUser => CreateUser, UserInfo;
    ListUsers => ListUsers, Vec<UserInfo>;
    UpdateUser => UpdateUser, UserInfo;
    DeleteUser => DeleteUser, Empty;
    Grant => Grant, UserInfo;
    Revoke => Revoke, UserInfo;
    CreateToken => CreateToken, CreatedToken;
    ListTokens => ListTokens, Vec<TokenInfo>;
    RevokeToken => RevokeToken, Empty;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PollingStrategy, ResetPolicy, TopicConfig};
    use crate::wire::{decode_control, encode_control, encode_with_payload, split_payload};

    fn round_trip<T: Call + PartialEq + std::fmt::Debug>(value: T) {
        let bytes = encode_control(&value).expect("encode");
        assert_eq!(decode_control::<T>(&bytes).expect("decode"), value);
    }

    #[test]
    fn control_bodies_round_trip() {
        round_trip(Ping {});
        round_trip(CreateTopic { stream: "s".into(), name: "t".into(), config: TopicConfig::default() });
        round_trip(JoinGroup {
            stream: "s".into(),
            group: "g".into(),
            client_id: "c".into(),
            topics: vec!["t".into()],
            session_timeout_ms: 10_000,
            strategy: Default::default(),
            member_id: None,
        });
        // An empty map decodes as the unit-like request.
        assert_eq!(
            decode_control::<StatusRequest>(&encode_control(&Empty {}).expect("encode")).expect("d"),
            StatusRequest {}
        );
    }

    #[test]
    fn payload_bodies_round_trip() {
        let fetch = FetchResponse { start_offset: 1, next_offset: 5, log_start: 0, log_end: 9 };
        let body = encode_with_payload(&fetch, b"batches").expect("encode");
        let (back, payload): (FetchResponse, _) = split_payload(&body).expect("split");
        assert_eq!(back, fetch);
        assert_eq!(&payload[..], b"batches");
        round_trip_fetch(Fetch {
            stream: "s".into(),
            topic: "t".into(),
            partition: 2,
            strategy: PollingStrategy::Timestamp(-5),
            max_count: 10,
            max_bytes: 1 << 20,
            max_wait_ms: 100,
            consumer: Some(ConsumerSpec { name: "c".into(), auto_commit: true, reset: ResetPolicy::Latest }),
        });
    }

    fn round_trip_fetch(f: Fetch) {
        assert_eq!(decode_control::<Fetch>(&encode_control(&f).expect("encode")).expect("decode"), f);
    }
}
