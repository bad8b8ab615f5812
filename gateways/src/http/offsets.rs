//! Consumer offset routes (`…/partitions/{partition}/consumers/{consumer}`): get, store and delete a named
//! consumer's offset on one partition.

use actix_web::{HttpResponse, web};
use callboard_protocol::ErrorCode;
use callboard_protocol::model::Permission;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::body::JsonBody;
use super::error::ApiError;
use super::responses::{AppState, BadRequest, ConsumerPath, NotFound, NotJson, TooLarge};

/// A consumer's stored offset.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConsumerOffset {
    /// Consumer name.
    pub consumer: String,
    /// Partition.
    pub partition: u32,
    /// Offset of the next message the consumer wants.
    pub offset: u64,
}

/// Body of `PUT …/consumers/{consumer}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreOffset {
    /// Offset of the next message the consumer wants (at most the log end).
    #[schema(example = 42, maximum = 18446744073709551615_u64)]
    pub offset: u64,
}

fn no_offset(path: &ConsumerPath) -> ApiError {
    ApiError::code(
        ErrorCode::NoOffset,
        format!(
            "consumer '{}' has no offset stored on partition {} of '{}/{}'",
            path.consumer, path.partition, path.stream, path.topic
        ),
    )
}

/// A consumer's stored offset on a partition.
#[utoipa::path(get, path = "/api/v1/streams/{stream}/topics/{topic}/partitions/{partition}/consumers/{consumer}",
    tag = "offsets", operation_id = "get_offset", params(ConsumerPath),
    responses((status = 200, description = "The stored offset", body = ConsumerOffset), BadRequest, NotFound))]
pub(crate) async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ConsumerPath>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read, &path.stream, Some(&path.topic))?;
    let offset = state.broker.get_offset(&path.stream, &path.topic, path.partition, &path.consumer).await?;
    let offset = offset.ok_or_else(|| no_offset(&path))?;
    let path = path.into_inner();
    Ok(HttpResponse::Ok().json(ConsumerOffset { consumer: path.consumer, partition: path.partition, offset }))
}

/// Stores a consumer's offset on a partition (404 `offset_out_of_range` past the log end).
#[utoipa::path(put, path = "/api/v1/streams/{stream}/topics/{topic}/partitions/{partition}/consumers/{consumer}",
    tag = "offsets", operation_id = "store_offset", params(ConsumerPath), request_body = StoreOffset,
    responses((status = 204, description = "Stored"), BadRequest, NotFound, TooLarge, NotJson))]
pub(crate) async fn put(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ConsumerPath>,
    body: JsonBody<StoreOffset>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read, &path.stream, Some(&path.topic))?;
    state.broker.store_offset(&path.stream, &path.topic, path.partition, &path.consumer, body.offset).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes a consumer's offset on a partition (404 `no_offset` when none is stored).
#[utoipa::path(delete, path = "/api/v1/streams/{stream}/topics/{topic}/partitions/{partition}/consumers/{consumer}",
    tag = "offsets", operation_id = "delete_offset", params(ConsumerPath),
    responses((status = 204, description = "Deleted"), BadRequest, NotFound))]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<ConsumerPath>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read, &path.stream, Some(&path.topic))?;
    if !state.broker.delete_offset(&path.stream, &path.topic, path.partition, &path.consumer).await? {
        return Err(no_offset(&path));
    }
    Ok(HttpResponse::NoContent().finish())
}
