//! The produce route (`POST …/topics/{topic}/messages`): one or many messages with key, headers, id and payload,
//! as UTF-8 text or base64, spread over partitions as asked; answers where each partition's batch landed.

use std::borrow::Cow;
use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use callboard_actors::{Message, Partitioning, Sent};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::{PartialSchema, ToSchema};

use callboard_protocol::model::Permission;

use super::auth::Caller;
use super::body::JsonBody;
use super::encoding::{BASE64_PATTERN, Encoding, UUID_PATTERN, parse_uuid};
use super::error::ApiError;
use super::responses::{AppState, BadRequest, NotFound, NotJson, TooLarge, TopicPath};

/// Where a request's messages go.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PartitioningBody {
    /// Round-robin over the partitions, one partition per request (the default).
    #[default]
    Balanced,
    /// Each message to the partition its own key hashes to.
    MessageKey,
    /// This partition.
    Partition(u32),
    /// The partition this key hashes to.
    Key(String),
}

/// One message to produce.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessageBody {
    payload: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    id: Option<String>,
}

/// Body of `POST …/messages`. Its schema is written by hand (see [`PartialSchema`]): one shape per encoding, so
/// that the base64 pattern applies exactly when `encoding` is `base64`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProduceRequest {
    #[serde(default)]
    partitioning: PartitioningBody,
    #[serde(default)]
    encoding: Encoding,
    messages: Vec<MessageBody>,
}

/// Answer of a produce request: one entry per partition written.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProduceResponse {
    /// Where each partition's batch landed.
    pub sent: Vec<Sent>,
}

fn string(base64: bool) -> ObjectBuilder {
    let s = ObjectBuilder::new().schema_type(Type::String);
    if base64 { s.pattern(Some(BASE64_PATTERN)).description(Some("base64")) } else { s }
}

fn nullable_string(base64: bool) -> ObjectBuilder {
    string(base64).schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

fn closed(object: ObjectBuilder) -> ObjectBuilder {
    object.additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
}

fn message_schema(base64: bool) -> ObjectBuilder {
    let headers = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(string(base64).into()))))
        .description(Some("Header names and values (values in the request's encoding)"));
    let id = nullable_string(false)
        .pattern(Some(UUID_PATTERN))
        .format(Some(SchemaFormat::Custom("uuid".into())))
        .description(Some("Message id: with a dedup window on the topic, a repeated id is dropped"));
    closed(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("payload", string(base64).description(Some("The payload, in the request's encoding")))
            .required("payload")
            .property("key", nullable_string(base64).description(Some("Key (used by `message_key` partitioning)")))
            .property("headers", headers)
            .property("id", id),
    )
}

fn partitioning_schema(base64: bool) -> Schema {
    let named =
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["balanced", "message_key"])).description(
            Some("`balanced`: round-robin, one partition per request; `message_key`: each message by its key"),
        );
    let partition = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("partition", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).maximum(Some(u32::MAX)))
        .required("partition");
    let key = ObjectBuilder::new().schema_type(Type::Object).property("key", string(base64)).required("key");
    OneOfBuilder::new()
        .item(named)
        .item(closed(partition))
        .item(closed(key))
        .description(Some("Where the messages go (default `balanced`)"))
        .into()
}

fn request_schema(base64: bool) -> Schema {
    let encoding =
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some([if base64 { "base64" } else { "text" }]));
    let object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .title(Some(if base64 { "Base64ProduceRequest" } else { "TextProduceRequest" }))
        .property("partitioning", partitioning_schema(base64))
        .property("encoding", encoding)
        .property("messages", ArrayBuilder::new().items(message_schema(base64)))
        .required("messages");
    closed(if base64 { object.required("encoding") } else { object }).into()
}

impl PartialSchema for ProduceRequest {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(request_schema(false))
            .item(request_schema(true))
            .description(Some(
                "Messages to produce. With `encoding: base64` (required then) payloads, keys, header values and a \
                 partitioning key are base64; otherwise (`text`, the default) they are UTF-8 text.",
            ))
            .into()
    }
}

impl ToSchema for ProduceRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ProduceRequest")
    }
}

impl ProduceRequest {
    pub(crate) fn into_parts(self) -> Result<(Partitioning, Vec<Message>), ApiError> {
        let enc = self.encoding;
        let partitioning = match self.partitioning {
            PartitioningBody::Balanced => Partitioning::Balanced,
            PartitioningBody::MessageKey => Partitioning::MessageKey,
            PartitioningBody::Partition(p) => Partitioning::Partition(p),
            PartitioningBody::Key(k) => Partitioning::Key(enc.decode(k, "partitioning.key")?),
        };
        let mut messages = Vec::with_capacity(self.messages.len());
        for (i, m) in self.messages.into_iter().enumerate() {
            let mut headers = Vec::with_capacity(m.headers.len());
            for (name, value) in m.headers {
                let value = enc.decode(value, &format!("messages[{i}].headers.{name}"))?;
                headers.push((name, value));
            }
            messages.push(Message {
                id: m.id.as_deref().map(parse_uuid).transpose()?,
                key: m.key.map(|k| enc.decode(k, &format!("messages[{i}].key"))).transpose()?,
                headers,
                payload: enc.decode(m.payload, &format!("messages[{i}].payload"))?,
                timestamp: None,
            });
        }
        Ok((partitioning, messages))
    }
}

/// Produces messages; answers once they are durable under the topic's policy.
#[utoipa::path(post, path = "/api/v1/streams/{stream}/topics/{topic}/messages", tag = "messages",
    operation_id = "produce", params(TopicPath), request_body = ProduceRequest,
    responses((status = 201, description = "Stored", body = ProduceResponse), BadRequest, NotFound, TooLarge, NotJson))]
pub(crate) async fn produce(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<TopicPath>,
    body: JsonBody<ProduceRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Write, &path.stream, Some(&path.topic))?;
    let (partitioning, messages) = body.into_inner().into_parts()?;
    let sent = state.broker.send(&path.stream, &path.topic, partitioning, messages).await?;
    Ok(HttpResponse::Created().json(ProduceResponse { sent }))
}
