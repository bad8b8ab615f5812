//! Request dispatch: turns one decoded request frame into a Broker call and its answer. Control APIs decode their
//! MessagePack body, call the matching [`Broker`] operation and encode its result; the data APIs (produce, fetch,
//! group fetch) live in [`data`].

mod data;

use std::time::Duration;

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

/// Dispatches a request of a known API and version (except `Hello`, which the session answers itself). Produce
/// batches are queued on their partition before this returns, so calling it in arrival order keeps their order.
/// Fetches ask for at most what fits in a frame of `max_frame` bytes.
pub(crate) fn dispatch(broker: &Broker, api: ApiKey, frame: RequestFrameMut, max_frame: u32) -> Dispatched {
    let c = frame.correlation;
    let body = &frame.body[..];
    match api {
        // The batch moves on in the memory it was received into.
        ApiKey::Produce => data::produce(broker, c, frame.body),
        ApiKey::Fetch => data::fetch(broker, c, body, max_frame.saturating_sub(FETCH_HEADER_ROOM)),
        ApiKey::GroupFetch => data::group_fetch(broker, c, body, max_frame.saturating_sub(FETCH_HEADER_ROOM)),
        ApiKey::Ping => control(broker, c, body, |_, _: Ping| async { Ok(Empty {}) }),
        ApiKey::Status => control(broker, c, body, |b, _: StatusRequest| async move { b.status().await }),
        ApiKey::CreateStream => {
            control(broker, c, body, |b, r: CreateStream| async move { b.create_stream(&r.name).await })
        }
        ApiKey::DeleteStream => {
            control(
                broker,
                c,
                body,
                |b, r: DeleteStream| async move { b.delete_stream(&r.name).await.map(|()| Empty {}) },
            )
        }
        ApiKey::ListStreams => control(broker, c, body, |b, _: ListStreams| async move { b.streams().await }),
        ApiKey::CreateTopic => {
            control(
                broker,
                c,
                body,
                |b, r: CreateTopic| async move { b.create_topic(&r.stream, &r.name, r.config).await },
            )
        }
        ApiKey::DeleteTopic => control(broker, c, body, |b, r: DeleteTopic| async move {
            b.delete_topic(&r.stream, &r.name).await.map(|()| Empty {})
        }),
        ApiKey::ListTopics => control(broker, c, body, |b, r: ListTopics| async move { b.topics(&r.stream).await }),
        ApiKey::DescribeTopic => {
            control(broker, c, body, |b, r: DescribeTopic| async move { b.topic(&r.stream, &r.name).await })
        }
        ApiKey::AddPartitions => control(broker, c, body, |b, r: AddPartitions| async move {
            let partitions = b.add_partitions(&r.stream, &r.name, r.count).await?;
            Ok(AddPartitionsResponse { partitions })
        }),
        ApiKey::InitProducer => control(broker, c, body, |b, _: InitProducer| async move {
            Ok(InitProducerResponse { producer_id: b.init_producer().await? })
        }),
        ApiKey::StoreOffset => control(broker, c, body, |b, r: StoreOffset| async move {
            b.store_offset(&r.stream, &r.topic, r.partition, &r.consumer, r.offset).await.map(|()| Empty {})
        }),
        ApiKey::GetOffset => control(broker, c, body, |b, r: GetOffset| async move {
            let offset = b.get_offset(&r.stream, &r.topic, r.partition, &r.consumer).await?;
            Ok(GetOffsetResponse { offset })
        }),
        ApiKey::DeleteOffset => control(broker, c, body, |b, r: DeleteOffset| async move {
            let deleted = b.delete_offset(&r.stream, &r.topic, r.partition, &r.consumer).await?;
            Ok(DeleteOffsetResponse { deleted })
        }),
        ApiKey::JoinGroup => control(broker, c, body, |b, r: JoinGroup| async move {
            let request = JoinRequest {
                client_id: r.client_id,
                topics: r.topics,
                session_timeout: Duration::from_millis(r.session_timeout_ms),
                strategy: r.strategy,
                member_id: r.member_id,
            };
            b.join_group(&r.stream, &r.group, request).await
        }),
        ApiKey::Heartbeat => {
            control(
                broker,
                c,
                body,
                |b, r: Heartbeat| async move { b.heartbeat(&r.stream, &r.group, &r.member_id).await },
            )
        }
        ApiKey::LeaveGroup => control(broker, c, body, |b, r: LeaveGroup| async move {
            b.leave_group(&r.stream, &r.group, &r.member_id).await.map(|()| Empty {})
        }),
        ApiKey::CommitGroupOffset => control(broker, c, body, |b, r: CommitGroupOffset| async move {
            let member = Membership { member_id: r.member_id, generation: r.generation, assignment: Vec::new() };
            b.commit_group_offset(&r.stream, &r.group, &member, &r.topic, r.partition, r.offset)
                .await
                .map(|()| Empty {})
        }),
        ApiKey::ListGroups => {
            control(broker, c, body, |b, r: ListGroups| async move { b.list_groups(&r.stream).await })
        }
        ApiKey::DescribeGroup => {
            control(broker, c, body, |b, r: DescribeGroup| async move { b.describe_group(&r.stream, &r.group).await })
        }
        ApiKey::DeleteGroup => control(broker, c, body, |b, r: DeleteGroup| async move {
            b.delete_group(&r.stream, &r.group).await.map(|()| Empty {})
        }),
        ApiKey::ResetGroupOffsets => control(broker, c, body, |b, r: ResetGroupOffsets| async move {
            b.reset_group_offsets(&r.stream, &r.group, &r.topic, r.to).await.map(|()| Empty {})
        }),
        // `Hello` is the session's, and a key this build added after this gateway was written has no handler yet.
        other => {
            Dispatched::Ready(Answer::error(c, ErrorCode::UnknownApi, format!("api {other:?} is not served here")))
        }
    }
}

/// Decodes a control request, runs `call` with it and encodes the answer.
fn control<Req, F, Fut>(broker: &Broker, correlation: u64, body: &[u8], call: F) -> Dispatched
where
    Req: Call,
    Req::Response: Send + 'static,
    F: FnOnce(Broker, Req) -> Fut,
    Fut: Future<Output = Result<Req::Response, BrokerError>> + Send + 'static,
{
    match decode_control::<Req>(body) {
        Ok(request) => {
            let pending = call(broker.clone(), request);
            Dispatched::Pending(Box::pin(async move { Answer::control(correlation, pending.await) }))
        }
        Err(e) => Dispatched::Ready(Answer::error(correlation, e.code(), e)),
    }
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
        _ => "other",
    }
}
