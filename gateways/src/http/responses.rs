//! Shared pieces of the handlers: the application state, the path parameters, and the error responses every
//! operation documents (as utoipa `IntoResponses` types, so `#[utoipa::path]` lists them by name).

use std::collections::BTreeMap;
use std::time::Duration;

use callboard_actors::Broker;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, IntoResponses, ToSchema};

use super::error::ErrorBody;
use super::node::Node;

/// What every handler reaches through `web::Data`.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub broker: Broker,
    pub node: Node,
    pub prometheus: Option<PrometheusHandle>,
    pub max_wait: Duration,
    pub allowed_hosts: Vec<String>,
    /// `/metrics` is served without credentials.
    pub metrics_public: bool,
    /// Principals resolved from recent credentials.
    pub credentials: std::sync::Arc<super::auth::CredentialCache>,
}

/// `{stream}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct StreamPath {
    /// Stream name.
    #[param(min_length = 1, max_length = 255, pattern = "^[^/\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub stream: String,
}

/// `{stream}/topics/{topic}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct TopicPath {
    /// Stream name.
    #[param(min_length = 1, max_length = 255, pattern = "^[^/\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub stream: String,
    /// Topic name.
    #[param(min_length = 1, max_length = 255, pattern = "^[^/\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub topic: String,
}

/// `{stream}/topics/{topic}/partitions/{partition}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct PartitionPath {
    /// Stream name.
    #[param(min_length = 1, max_length = 255, pattern = "^[^/\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub stream: String,
    /// Topic name.
    #[param(min_length = 1, max_length = 255, pattern = "^[^/\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub topic: String,
    /// Partition number (from 0).
    #[param(maximum = 4294967295_u64)]
    pub partition: u32,
}

/// `{stream}/topics/{topic}/partitions/{partition}/consumers/{consumer}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ConsumerPath {
    /// Stream name.
    #[param(min_length = 1, max_length = 255, pattern = "^[^/\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub stream: String,
    /// Topic name.
    #[param(min_length = 1, max_length = 255, pattern = "^[^/\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub topic: String,
    /// Partition number (from 0).
    #[param(maximum = 4294967295_u64)]
    pub partition: u32,
    /// Consumer name: printable UTF-8, at most 1024 bytes.
    #[param(min_length = 1, max_length = 1024, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub consumer: String,
}

/// `{stream}/groups/{group}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct GroupPath {
    /// Stream name.
    #[param(min_length = 1, max_length = 255, pattern = "^[^/\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub stream: String,
    /// Consumer group name.
    #[param(min_length = 1, max_length = 255, pattern = "^[^/\\u0000-\\u001f\\u007f-\\u009f]+$")]
    pub group: String,
}

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
        .into()
}

macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident = $status:literal, $description:literal;)+) => {
        $(
            $(#[$doc])*
            pub(crate) struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    BTreeMap::from([($status.to_string(), error_response($description))])
                }
            }
        )+
    };
}

error_responses! {
    /// 400.
    BadRequest = "400", "Bad input: malformed JSON, wrong types, missing fields, bad query or path parameters, invalid names or configuration (`invalid_request`, `invalid_name`, `invalid_config`)";
    /// 404.
    NotFound = "404", "Unknown stream, topic, partition, group or offset (`stream_not_found`, `topic_not_found`, `partition_not_found`, `group_not_found`, `no_offset`, `offset_out_of_range`)";
    /// 404 of the security routes.
    NoSuchUser = "404", "Unknown user or token (`user_not_found`, `token_not_found`)";
    /// 409 of token creation.
    TokenConflict = "409", "The user has a token of that name already (`token_exists`), or holds the most tokens allowed (`limit_exceeded`)";
    /// 409 of user creation.
    UserConflict = "409", "The user exists already (`user_exists`)";
    /// 409.
    Conflict = "409", "Already exists, or conflicts with the current state (`stream_exists`, `topic_exists`, `group_not_empty`, `limit_exceeded`)";
    /// 413.
    TooLarge = "413", "The body (`payload_too_large`) or a message (`message_too_large`) is over the limit";
    /// 415.
    NotJson = "415", "The body is not JSON (`unsupported_media_type`)";
    /// 429.
    TooManyPolls = "429", "Too many long polls are parked on the partition (`too_many_parked_polls`); retry later";
    /// 401, on every route but the probes.
    Unauthorized = "401", "No credentials, or refused ones (`unauthenticated`): send `Authorization: Bearer <token>` or `Basic`";
    /// 403, on every route.
    Forbidden = "403", "The user lacks the permission (`forbidden`), or the `Host` or `Origin` is not the listener's own address (`forbidden_origin`)";
    /// 405, on every route.
    WrongMethod = "405", "The path does not answer that method (`method_not_allowed`); `Allow` lists those it does";
    /// 500, on every route.
    Internal = "500", "An unexpected server or storage error";
    /// 503, on every route.
    Unavailable = "503", "The partition is unavailable or read-only, or the broker is shutting down";
}
