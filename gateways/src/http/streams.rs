//! Stream routes: list, create, describe and delete streams (`/api/v1/streams[/{stream}]`).

use actix_web::{HttpResponse, web};
use callboard_actors::{BrokerError, DEFAULT_STREAM, StreamInfo};
use serde::Deserialize;
use utoipa::ToSchema;

use callboard_protocol::model::GlobalPermission;

use super::auth::{Caller, audited, authorize};
use super::body::JsonBody;
use super::error::{ApiError, HttpCode};
use super::responses::{AppState, BadRequest, Conflict, NotFound, NotJson, StreamPath, TooLarge};

/// Body of `POST /api/v1/streams`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateStream {
    /// Stream name: printable UTF-8 without `/`, not starting with `$` (reserved), at most 255 bytes.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^$/\\u0000-\\u001f\\u007f-\\u009f][^/\\u0000-\\u001f\\u007f-\\u009f]*$",
        example = "orders"
    )]
    pub name: String,
}

/// Lists the streams the caller holds some permission on.
#[utoipa::path(get, path = "/api/v1/streams", tag = "streams", operation_id = "list_streams",
    responses((status = 200, description = "The streams the caller may see", body = [StreamInfo])))]
pub(crate) async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let streams: Vec<StreamInfo> =
        state.broker.streams().await?.into_iter().filter(|s| caller.sees_stream(&s.name)).collect();
    Ok(HttpResponse::Ok().json(streams))
}

/// Creates a stream.
#[utoipa::path(post, path = "/api/v1/streams", tag = "streams", operation_id = "create_stream",
    request_body = CreateStream,
    responses((status = 201, description = "Created", body = StreamInfo), BadRequest, Conflict, TooLarge, NotJson))]
pub(crate) async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateStream>,
) -> Result<HttpResponse, ApiError> {
    let detail = format!("stream {:?}", body.name);
    authorize(
        &state.broker,
        &caller,
        "create_stream",
        &detail,
        caller.require_global(GlobalPermission::ManageStreams),
    )?;
    let result = state.broker.create_stream(&body.name).await;
    let info = audited(&state.broker, &caller, "create_stream", &detail, result)?;
    Ok(HttpResponse::Created().json(info))
}

/// Describes a stream.
#[utoipa::path(get, path = "/api/v1/streams/{stream}", tag = "streams", operation_id = "get_stream", params(StreamPath),
    responses((status = 200, description = "The stream", body = StreamInfo), NotFound))]
pub(crate) async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<StreamPath>,
) -> Result<HttpResponse, ApiError> {
    if !caller.sees_stream(&path.stream) {
        return Err(BrokerError::Forbidden(format!(
            "user '{}' holds no permission on stream '{}'",
            caller.user(),
            path.stream
        ))
        .into());
    }
    let stream = state
        .broker
        .streams()
        .await?
        .into_iter()
        .find(|s| s.name == path.stream)
        .ok_or_else(|| BrokerError::StreamNotFound(path.stream.clone()))?;
    Ok(HttpResponse::Ok().json(stream))
}

/// Deletes a stream with all its topics (409 `stream_protected` for the default stream).
#[utoipa::path(delete, path = "/api/v1/streams/{stream}", tag = "streams", operation_id = "delete_stream",
    params(StreamPath), responses((status = 204, description = "Deleted"), NotFound, Conflict))]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<StreamPath>,
) -> Result<HttpResponse, ApiError> {
    let detail = format!("stream {:?}", path.stream);
    authorize(
        &state.broker,
        &caller,
        "delete_stream",
        &detail,
        caller.require_global(GlobalPermission::ManageStreams),
    )?;
    if path.stream == DEFAULT_STREAM {
        return Err(ApiError::http(
            HttpCode::StreamProtected,
            format!("the {DEFAULT_STREAM} stream cannot be deleted"),
        ));
    }
    let result = state.broker.delete_stream(&path.stream).await;
    audited(&state.broker, &caller, "delete_stream", &detail, result)?;
    Ok(HttpResponse::NoContent().finish())
}
