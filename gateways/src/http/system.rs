//! Process routes: `/health` (alive), `/ready` (storage open and every listener bound), `/api/v1/status` (broker
//! state, listeners, connections) and `/api/v1/openapi.json` (this API's OpenAPI document).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use callboard_actors::BrokerStatus;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, HttpCode};
use super::node::ListenerInfo;
use super::openapi::{AnyObject, document_json};
use super::responses::AppState;

/// Answer of `/health` and `/ready`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Probe {
    /// `up` (health) or `ready` (readiness).
    #[schema(example = "up")]
    pub status: &'static str,
}

/// Broker status with the process's listeners and their connections.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatusResponse {
    /// Counts of streams, topics, partitions by health, restarts.
    #[serde(flatten)]
    pub broker: BrokerStatus,
    /// Bound listeners.
    pub listeners: Vec<ListenerInfo>,
    /// Open connections per listener (`tcp`, `quic`, `http`, …).
    pub connections: BTreeMap<String, usize>,
}

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/health", tag = "system", operation_id = "health", security(()),
    responses((status = 200, description = "The process is up", body = Probe)))]
pub(crate) async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Probe { status: "up" })
}

/// Readiness: 200 once storage is open and every listener is bound, 503 `not_ready` before (and while stopping).
#[utoipa::path(get, path = "/ready", tag = "system", operation_id = "ready", security(()),
    responses((status = 200, description = "Ready to serve", body = Probe)))]
pub(crate) async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.node.is_ready() {
        Ok(HttpResponse::Ok().json(Probe { status: "ready" }))
    } else {
        Err(ApiError::http(HttpCode::NotReady, "the broker is starting or stopping"))
    }
}

/// Broker status: version, uptime, counts, partitions by health, restarts, listeners and connections.
#[utoipa::path(get, path = "/api/v1/status", tag = "system", operation_id = "status",
    responses((status = 200, description = "Status", body = StatusResponse)))]
pub(crate) async fn status(state: web::Data<AppState>, _caller: Caller) -> Result<HttpResponse, ApiError> {
    let broker = state.broker.status().await?;
    let body = StatusResponse { broker, listeners: state.node.listeners(), connections: state.node.connections() };
    Ok(HttpResponse::Ok().json(body))
}

/// This API's OpenAPI 3 document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI document", body = AnyObject)))]
pub(crate) async fn openapi(_caller: Caller) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document_json())
}
