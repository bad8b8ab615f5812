//! Topic routes: list, create, describe and delete topics, and add partitions
//! (`/api/v1/streams/{stream}/topics[/{topic}[/partitions]]`).

use actix_web::{HttpResponse, web};
use callboard_actors::{
    DedupWindow, DurabilityPolicy, Encryption, MAX_PARTITIONS, TopicConfig, TopicDetails, TopicInfo,
};
use callboard_protocol::ErrorCode;
use serde::Deserialize;
use utoipa::ToSchema;

use callboard_actors::BrokerError;
use callboard_protocol::model::Permission;

use super::auth::{Caller, audited, authorize};
use super::body::JsonBody;
use super::error::ApiError;
use super::responses::{AppState, BadRequest, Conflict, NotFound, NotJson, StreamPath, TooLarge, TopicPath};

/// Message-id deduplication of a new topic.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateDedup {
    /// At most this many ids are remembered per partition.
    #[schema(minimum = 1, maximum = 10000000)]
    pub max_ids: usize,
    /// Ids older than this are forgotten (at least 1 ms; `u64::MAX` is forever).
    #[schema(minimum = 1, maximum = 18446744073709551615_u64)]
    pub max_age_ms: u64,
}

/// Body of `POST /api/v1/streams/{stream}/topics`: the name and, optionally, configuration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTopic {
    /// Topic name: printable UTF-8 without `/`, not starting with `$` (reserved), at most 255 bytes.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^$/\\u0000-\\u001f\\u007f-\\u009f][^/\\u0000-\\u001f\\u007f-\\u009f]*$",
        example = "events"
    )]
    pub name: String,
    /// Number of partitions (default 1).
    #[schema(minimum = 1, maximum = 10000)]
    pub partitions: Option<u32>,
    /// `always` (fsync before acknowledging, the default), `never` (left to the OS) or `interval:MS`.
    #[schema(pattern = "^(always|never|interval:[0-9]{1,19})$", example = "always")]
    pub durability: Option<String>,
    /// Delete sealed segments whose newest message is older than this (at least 1 ms; `u64::MAX` is forever).
    #[schema(minimum = 1, maximum = 18446744073709551615_u64)]
    pub retention_age_ms: Option<u64>,
    /// Delete the oldest sealed segments while a partition is larger than this (at least 1 byte).
    #[schema(minimum = 1, maximum = 18446744073709551615_u64)]
    pub retention_bytes: Option<u64>,
    /// Segment size, 1 KiB to 2 GiB (default 1 GiB).
    #[schema(minimum = 1024, maximum = 2147483648_u64)]
    pub segment_bytes: Option<u64>,
    /// Largest encoded message or produce batch accepted, at most 1 GiB (default 16 MiB).
    #[schema(maximum = 1073741824)]
    pub max_message_bytes: Option<u32>,
    /// Message-id deduplication (default: none).
    pub dedup: Option<CreateDedup>,
    /// Encryption at rest: `none` (the default) or `aes-256-gcm` (the broker needs a master key).
    #[schema(value_type = Option<String>, pattern = "^(none|aes-256-gcm)$", example = "aes-256-gcm")]
    pub encryption: Option<Encryption>,
}

impl CreateTopic {
    pub(crate) fn config(&self) -> Result<TopicConfig, ApiError> {
        let defaults = TopicConfig::default();
        let durability = match self.durability.as_deref() {
            None | Some("always") => DurabilityPolicy::Always,
            Some("never") => DurabilityPolicy::Never,
            Some(other) => {
                let ms = other
                    .strip_prefix("interval:")
                    .filter(|ms| !ms.is_empty() && ms.len() <= 19 && ms.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|ms| ms.parse().ok())
                    .ok_or_else(|| {
                        ApiError::code(
                            ErrorCode::InvalidConfig,
                            format!("durability {other:?} is not `always`, `never` or `interval:MS`"),
                        )
                    })?;
                DurabilityPolicy::Interval { ms }
            }
        };
        Ok(TopicConfig {
            partitions: self.partitions.unwrap_or(defaults.partitions),
            durability,
            retention_age_ms: self.retention_age_ms,
            retention_bytes: self.retention_bytes,
            segment_bytes: self.segment_bytes.unwrap_or(defaults.segment_bytes),
            max_message_bytes: self.max_message_bytes.unwrap_or(defaults.max_message_bytes),
            dedup: self.dedup.as_ref().map(|d| DedupWindow { max_ids: d.max_ids, max_age_ms: d.max_age_ms }),
            encryption: self.encryption.unwrap_or_default(),
        })
    }
}

/// Body of `POST …/topics/{topic}/partitions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddPartitions {
    /// Partitions to add (the topic may have at most 10000).
    #[schema(minimum = 1, maximum = 9999, example = 2)]
    pub count: u32,
}

/// Lists a stream's topics.
#[utoipa::path(get, path = "/api/v1/streams/{stream}/topics", tag = "topics", operation_id = "list_topics",
    params(StreamPath), responses((status = 200, description = "The stream's topics", body = [TopicInfo]), NotFound))]
pub(crate) async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<StreamPath>,
) -> Result<HttpResponse, ApiError> {
    let topics: Vec<TopicInfo> = state
        .broker
        .topics(&path.stream)
        .await?
        .into_iter()
        .filter(|t| caller.sees_topic(&t.stream, &t.name))
        .collect();
    Ok(HttpResponse::Ok().json(topics))
}

/// Creates a topic.
#[utoipa::path(post, path = "/api/v1/streams/{stream}/topics", tag = "topics", operation_id = "create_topic",
    params(StreamPath), request_body = CreateTopic,
    responses((status = 201, description = "Created", body = TopicDetails), BadRequest, NotFound, Conflict, TooLarge, NotJson))]
pub(crate) async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<StreamPath>,
    body: JsonBody<CreateTopic>,
) -> Result<HttpResponse, ApiError> {
    let detail = format!("topic {:?}/{:?}", path.stream, body.name);
    let check = caller.require(Permission::Manage, &path.stream, Some(&body.name));
    authorize(&state.broker, &caller, "create_topic", &detail, check)?;
    let config = body.config()?;
    let result = state.broker.create_topic(&path.stream, &body.name, config).await;
    let info = audited(&state.broker, &caller, "create_topic", &detail, result)?;
    let details = state.broker.topic(&path.stream, &info.name).await?;
    Ok(HttpResponse::Created().json(details))
}

/// Describes a topic: its configuration and each partition's offsets, size and health.
#[utoipa::path(get, path = "/api/v1/streams/{stream}/topics/{topic}", tag = "topics", operation_id = "get_topic",
    params(TopicPath), responses((status = 200, description = "The topic", body = TopicDetails), NotFound))]
pub(crate) async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<TopicPath>,
) -> Result<HttpResponse, ApiError> {
    if !caller.sees_topic(&path.stream, &path.topic) {
        return Err(BrokerError::Forbidden(format!(
            "user '{}' holds no permission on topic '{}/{}'",
            caller.user(),
            path.stream,
            path.topic
        ))
        .into());
    }
    Ok(HttpResponse::Ok().json(state.broker.topic(&path.stream, &path.topic).await?))
}

/// Deletes a topic and its data.
#[utoipa::path(delete, path = "/api/v1/streams/{stream}/topics/{topic}", tag = "topics", operation_id = "delete_topic",
    params(TopicPath), responses((status = 204, description = "Deleted"), NotFound))]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<TopicPath>,
) -> Result<HttpResponse, ApiError> {
    let detail = format!("topic {:?}/{:?}", path.stream, path.topic);
    let check = caller.require(Permission::Manage, &path.stream, Some(&path.topic));
    authorize(&state.broker, &caller, "delete_topic", &detail, check)?;
    let result = state.broker.delete_topic(&path.stream, &path.topic).await;
    audited(&state.broker, &caller, "delete_topic", &detail, result)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Adds partitions to a topic (partitions never go away). 409 `limit_exceeded` when the topic would have more than
/// 10000.
#[utoipa::path(post, path = "/api/v1/streams/{stream}/topics/{topic}/partitions", tag = "topics",
    operation_id = "add_partitions", params(TopicPath), request_body = AddPartitions,
    responses((status = 200, description = "The topic with its new partitions", body = TopicDetails), BadRequest,
        NotFound, Conflict, TooLarge, NotJson))]
pub(crate) async fn add_partitions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<TopicPath>,
    body: JsonBody<AddPartitions>,
) -> Result<HttpResponse, ApiError> {
    let detail = format!("topic {:?}/{:?}, {} partitions", path.stream, path.topic, body.count);
    let check = caller.require(Permission::Manage, &path.stream, Some(&path.topic));
    authorize(&state.broker, &caller, "add_partitions", &detail, check)?;
    if body.count == 0 {
        return Err(ApiError::code(ErrorCode::InvalidConfig, "count must be at least 1"));
    }
    let current = state.broker.topic(&path.stream, &path.topic).await?.partitions.len() as u64;
    if current + u64::from(body.count) > u64::from(MAX_PARTITIONS) {
        return Err(ApiError::code(
            ErrorCode::LimitExceeded,
            format!(
                "the topic has {current} partitions; adding {} would pass the limit of {MAX_PARTITIONS}",
                body.count
            ),
        ));
    }
    let result = state.broker.add_partitions(&path.stream, &path.topic, body.count).await;
    audited(&state.broker, &caller, "add_partitions", &detail, result)?;
    Ok(HttpResponse::Ok().json(state.broker.topic(&path.stream, &path.topic).await?))
}
