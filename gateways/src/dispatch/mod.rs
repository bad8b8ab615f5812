//! Request dispatch: turns one decoded request frame into a Broker call and its answer. Control APIs decode their
//! MessagePack body, call the matching [`Broker`] operation and encode its result; the data APIs (produce, fetch,
//! group fetch) live in [`data`].

mod access;
mod data;
mod users;

use std::time::Duration;

use callboard_actors::auth::Principal;
use callboard_actors::{Broker, BrokerError, JoinRequest, Membership};
use callboard_protocol::ErrorCode;
use callboard_protocol::wire::{
    AddPartitions, AddPartitionsResponse, ApiKey, Call, CommitGroupOffset, CreateStream, CreateTopic, DeleteGroup,
    DeleteOffset, DeleteOffsetResponse, DeleteStream, DeleteTopic, DescribeGroup, DescribeTopic, Empty, GetOffset,
    GetOffsetResponse, Heartbeat, InitProducer, InitProducerResponse, JoinGroup, LeaveGroup, ListGroups, ListStreams,
    ListTopics, Ping, RequestFrameMut, ResetGroupOffsets, StatusRequest, StoreOffset, decode_control,
};
use futures_util::future::BoxFuture;

use crate::answer::Answer;
use access::Guarded;

/// Longest wait a long poll may ask for.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);

/// What dispatching a request produced.
pub(crate) enum Dispatched {
    /// The answer is known already (for example a malformed body).
    Ready(Answer),
    /// The answer comes when this future completes.
    Pending(BoxFuture<'static, Answer>),
}

/// Room kept in a fetch answer's frame for its header: the batches may take the rest of `max_frame`.
const FETCH_HEADER_ROOM: u32 = 1024;

/// Dispatches a request of a known API and version (except `Hello` and the logins, which the session answers
/// itself) for the logged-in `p`, after checking `p` may make it. Produce batches are queued on their partition
/// before this returns, so calling it in arrival order keeps their order. Fetches ask for at most what fits in a
/// frame of `max_frame` bytes.
pub(crate) fn dispatch(
    broker: &Broker,
    p: &Principal,
    api: ApiKey,
    frame: RequestFrameMut,
    max_frame: u32,
) -> Dispatched {
    let c = frame.correlation;
    let body = &frame.body[..];
    if let Some(dispatched) = users::dispatch(broker, p, api, c, body) {
        return dispatched;
    }
    match api {
        // The batch moves on in the memory it was received into.
        ApiKey::Produce => data::produce(broker, p, c, frame.body),
        ApiKey::Fetch => data::fetch(broker, p, c, body, max_frame.saturating_sub(FETCH_HEADER_ROOM)),
        ApiKey::GroupFetch => data::group_fetch(broker, p, c, body, max_frame.saturating_sub(FETCH_HEADER_ROOM)),
        ApiKey::Ping => control(broker, p, c, body, |_, _, _: Ping| async { Ok(Empty {}) }),
        ApiKey::Status => control(broker, p, c, body, |b, _, _: StatusRequest| async move { b.status().await }),
        ApiKey::CreateStream => {
            control(broker, p, c, body, |b, _, r: CreateStream| async move { b.create_stream(&r.name).await })
        }
        ApiKey::DeleteStream => control(broker, p, c, body, |b, _, r: DeleteStream| async move {
            b.delete_stream(&r.name).await.map(|()| Empty {})
        }),
        ApiKey::ListStreams => control(broker, p, c, body, |b, p, _: ListStreams| async move {
            Ok(b.streams().await?.into_iter().filter(|s| p.sees_stream(&s.name)).collect::<Vec<_>>())
        }),
        ApiKey::CreateTopic => control(broker, p, c, body, |b, _, r: CreateTopic| async move {
            b.create_topic(&r.stream, &r.name, r.config).await
        }),
        ApiKey::DeleteTopic => control(broker, p, c, body, |b, _, r: DeleteTopic| async move {
            b.delete_topic(&r.stream, &r.name).await.map(|()| Empty {})
        }),
        ApiKey::ListTopics => control(broker, p, c, body, |b, p, r: ListTopics| async move {
            Ok(b.topics(&r.stream).await?.into_iter().filter(|t| p.sees_topic(&t.stream, &t.name)).collect::<Vec<_>>())
        }),
        ApiKey::DescribeTopic => {
            control(broker, p, c, body, |b, _, r: DescribeTopic| async move { b.topic(&r.stream, &r.name).await })
        }
        ApiKey::AddPartitions => control(broker, p, c, body, |b, _, r: AddPartitions| async move {
            let partitions = b.add_partitions(&r.stream, &r.name, r.count).await?;
            Ok(AddPartitionsResponse { partitions })
        }),
        ApiKey::InitProducer => control(broker, p, c, body, |b, _, _: InitProducer| async move {
            Ok(InitProducerResponse { producer_id: b.init_producer().await? })
        }),
        ApiKey::StoreOffset => control(broker, p, c, body, |b, _, r: StoreOffset| async move {
            b.store_offset(&r.stream, &r.topic, r.partition, &r.consumer, r.offset).await.map(|()| Empty {})
        }),
        ApiKey::GetOffset => control(broker, p, c, body, |b, _, r: GetOffset| async move {
            let offset = b.get_offset(&r.stream, &r.topic, r.partition, &r.consumer).await?;
            Ok(GetOffsetResponse { offset })
        }),
        ApiKey::DeleteOffset => control(broker, p, c, body, |b, _, r: DeleteOffset| async move {
            let deleted = b.delete_offset(&r.stream, &r.topic, r.partition, &r.consumer).await?;
            Ok(DeleteOffsetResponse { deleted })
        }),
        ApiKey::JoinGroup => control(broker, p, c, body, |b, _, r: JoinGroup| async move {
            let request = JoinRequest {
                client_id: r.client_id,
                topics: r.topics,
                session_timeout: Duration::from_millis(r.session_timeout_ms),
                strategy: r.strategy,
                member_id: r.member_id,
            };
            b.join_group(&r.stream, &r.group, request).await
        }),
        ApiKey::Heartbeat => control(broker, p, c, body, |b, _, r: Heartbeat| async move {
            b.heartbeat(&r.stream, &r.group, &r.member_id).await
        }),
        ApiKey::LeaveGroup => control(broker, p, c, body, |b, _, r: LeaveGroup| async move {
            b.leave_group(&r.stream, &r.group, &r.member_id).await.map(|()| Empty {})
        }),
        ApiKey::CommitGroupOffset => control(broker, p, c, body, |b, _, r: CommitGroupOffset| async move {
            let member = Membership { member_id: r.member_id, generation: r.generation, assignment: Vec::new() };
            b.commit_group_offset(&r.stream, &r.group, &member, &r.topic, r.partition, r.offset)
                .await
                .map(|()| Empty {})
        }),
        ApiKey::ListGroups => {
            control(broker, p, c, body, |b, _, r: ListGroups| async move { b.list_groups(&r.stream).await })
        }
        ApiKey::DescribeGroup => {
            control(
                broker,
                p,
                c,
                body,
                |b, _, r: DescribeGroup| async move { b.describe_group(&r.stream, &r.group).await },
            )
        }
        ApiKey::DeleteGroup => control(broker, p, c, body, |b, _, r: DeleteGroup| async move {
            b.delete_group(&r.stream, &r.group).await.map(|()| Empty {})
        }),
        ApiKey::ResetGroupOffsets => control(broker, p, c, body, |b, _, r: ResetGroupOffsets| async move {
            b.reset_group_offsets(&r.stream, &r.group, &r.topic, r.to).await.map(|()| Empty {})
        }),
        // `Hello` is the session's, and a key this build added after this gateway was written has no handler yet.
        other => {
            Dispatched::Ready(Answer::error(c, ErrorCode::UnknownApi, format!("api {other:?} is not served here")))
        }
    }
}

/// Decodes a control request, checks that `p` may make it, runs `call` with it and encodes the answer.
fn control<Req, F, Fut>(broker: &Broker, p: &Principal, correlation: u64, body: &[u8], call: F) -> Dispatched
where
    Req: Call + Guarded + std::fmt::Debug,
    Req::Response: Send + 'static,
    F: FnOnce(Broker, Principal, Req) -> Fut,
    Fut: Future<Output = Result<Req::Response, BrokerError>> + Send + 'static,
{
    match decode_control::<Req>(body) {
        Ok(request) => {
            let audit = audited(Req::API).then(|| format!("{request:?}"));
            if let Err(e) = request.authorize(p) {
                if let Some(detail) = &audit {
                    broker.audit_request(p, api_label(Req::API), detail, Err(&e));
                }
                return Dispatched::Ready(Answer::broker_error(correlation, &e));
            }
            let pending = call(broker.clone(), p.clone(), request);
            let Some(detail) = audit else {
                return Dispatched::Pending(Box::pin(async move { Answer::control(correlation, pending.await) }));
            };
            let (broker, p) = (broker.clone(), p.clone());
            Dispatched::Pending(Box::pin(async move {
                let result = pending.await;
                broker.audit_request(&p, api_label(Req::API), &detail, result.as_ref().map(|_| ()));
                Answer::control(correlation, result)
            }))
        }
        Err(e) => Dispatched::Ready(Answer::error(correlation, e.code(), e)),
    }
}

/// Whether requests of `api` go to the audit log: everything that changes users, grants, tokens, streams, topics or
/// groups.
fn audited(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::CreateStream
            | ApiKey::DeleteStream
            | ApiKey::CreateTopic
            | ApiKey::DeleteTopic
            | ApiKey::AddPartitions
            | ApiKey::DeleteGroup
            | ApiKey::ResetGroupOffsets
            | ApiKey::CreateUser
            | ApiKey::UpdateUser
            | ApiKey::DeleteUser
            | ApiKey::Grant
            | ApiKey::Revoke
            | ApiKey::CreateToken
            | ApiKey::RevokeToken
    )
}

/// A metrics label for an API.
pub(crate) fn api_label(api: ApiKey) -> &'static str {
    match api {
        ApiKey::Hello => "hello",
        ApiKey::Ping => "ping",
        ApiKey::Status => "status",
        ApiKey::CreateStream => "create_stream",
        ApiKey::DeleteStream => "delete_stream",
        ApiKey::ListStreams => "list_streams",
        ApiKey::CreateTopic => "create_topic",
        ApiKey::DeleteTopic => "delete_topic",
        ApiKey::ListTopics => "list_topics",
        ApiKey::DescribeTopic => "describe_topic",
        ApiKey::AddPartitions => "add_partitions",
        ApiKey::Produce => "produce",
        ApiKey::Fetch => "fetch",
        ApiKey::InitProducer => "init_producer",
        ApiKey::StoreOffset => "store_offset",
        ApiKey::GetOffset => "get_offset",
        ApiKey::DeleteOffset => "delete_offset",
        ApiKey::JoinGroup => "join_group",
        ApiKey::Heartbeat => "heartbeat",
        ApiKey::LeaveGroup => "leave_group",
        ApiKey::GroupFetch => "group_fetch",
        ApiKey::CommitGroupOffset => "commit_group_offset",
        ApiKey::ListGroups => "list_groups",
        ApiKey::DescribeGroup => "describe_group",
        ApiKey::DeleteGroup => "delete_group",
        ApiKey::ResetGroupOffsets => "reset_group_offsets",
        ApiKey::Login => "login",
        ApiKey::LoginWithToken => "login_with_token",
        ApiKey::WhoAmI => "who_am_i",
        ApiKey::CreateUser => "create_user",
        ApiKey::ListUsers => "list_users",
        ApiKey::UpdateUser => "update_user",
        ApiKey::DeleteUser => "delete_user",
        ApiKey::Grant => "grant",
        ApiKey::Revoke => "revoke",
        ApiKey::CreateToken => "create_token",
        ApiKey::ListTokens => "list_tokens",
        ApiKey::RevokeToken => "revoke_token",
        _ => "other",
    }
}
