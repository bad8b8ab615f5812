//! Consumer group routes (`/api/v1/streams/{stream}/groups[/{group}[/reset-offsets]]`): list, describe with lag,
//! reset offsets and delete.

use actix_web::{HttpResponse, web};
use callboard_actors::{AssignmentStrategy, BrokerError, GroupDescription, OffsetReset, PartitionLag, validate_name};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{
    AdditionalProperties, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};

use callboard_actors::auth::Principal;
use callboard_protocol::model::Permission;

use super::auth::{Caller, audited, authorize};
use super::body::JsonBody;
use super::error::ApiError;
use super::responses::{AppState, BadRequest, Conflict, GroupPath, NotFound, NotJson, StreamPath, TooLarge};

/// A partition assigned to a member.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AssignedPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
}

/// A member of a group.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GroupMember {
    /// Member id.
    pub member_id: String,
    /// Client id given at join.
    pub client_id: String,
    /// Partitions assigned in the current generation.
    pub assignment: Vec<AssignedPartition>,
}

/// A group's members, generation and strategy.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GroupStateView {
    /// Group name.
    pub name: String,
    /// Current generation.
    pub generation: u32,
    /// Assignment strategy.
    pub strategy: AssignmentStrategy,
    /// Members and their assignments.
    pub members: Vec<GroupMember>,
    /// Topics the group consumes.
    pub topics: Vec<String>,
}

/// A consumer group: members, and committed offset and lag per partition.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GroupView {
    /// Members, generation, strategy.
    pub state: GroupStateView,
    /// Committed offset and lag of every partition of the group's topics.
    pub partitions: Vec<PartitionLag>,
}

impl From<GroupDescription> for GroupView {
    fn from(d: GroupDescription) -> Self {
        let members = d
            .state
            .members
            .into_iter()
            .map(|m| GroupMember {
                member_id: m.member_id,
                client_id: m.client_id,
                assignment: m
                    .assignment
                    .into_iter()
                    .map(|(topic, partition)| AssignedPartition { topic, partition })
                    .collect(),
            })
            .collect();
        GroupView {
            state: GroupStateView {
                name: d.state.name,
                generation: d.state.generation,
                strategy: d.state.strategy,
                members,
                topics: d.state.topics,
            },
            partitions: d.partitions,
        }
    }
}

fn reset_schema() -> Schema {
    let int = |format| ObjectBuilder::new().schema_type(Type::Integer).format(Some(SchemaFormat::KnownFormat(format)));
    let one = |name: &str, value: ObjectBuilder| -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(name, value)
            .required(name)
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
            .into()
    };
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["earliest", "latest"])))
        .item(one("offset", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).maximum(Some(u64::MAX))))
        .item(one("timestamp", int(KnownFormat::Int64)))
        .description(Some(
            "`earliest` (log start), `latest` (log end), `{\"offset\": N}` (clamped into each partition's range) or \
             `{\"timestamp\": MS}` (first message at or after it)",
        ))
        .into()
}

/// Body of `POST …/groups/{group}/reset-offsets`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetOffsets {
    /// Topic whose partitions' offsets move.
    #[schema(example = "events")]
    pub topic: String,
    /// Where they move.
    #[schema(schema_with = reset_schema)]
    pub to: OffsetReset,
}

/// A group whose name breaks the naming rules cannot exist: such a name is a 404 `group_not_found`, like any
/// other unknown group.
fn known_name(path: &GroupPath) -> Result<(), ApiError> {
    validate_name(&path.group).map_err(|_| ApiError::from(BrokerError::GroupNotFound(path.group.clone())))
}

/// `Forbidden` unless the caller sees `stream` (as the TCP gateway's group requests ask).
fn sees(caller: &Principal, stream: &str) -> Result<(), ApiError> {
    if caller.sees_stream(stream) {
        Ok(())
    } else {
        Err(BrokerError::Forbidden(format!("user '{}' holds no permission on stream '{stream}'", caller.user())).into())
    }
}

/// Names of a stream's consumer groups.
#[utoipa::path(get, path = "/api/v1/streams/{stream}/groups", tag = "groups", operation_id = "list_groups",
    params(StreamPath), responses((status = 200, description = "Group names", body = [String]), BadRequest, NotFound))]
pub(crate) async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<StreamPath>,
) -> Result<HttpResponse, ApiError> {
    sees(&caller, &path.stream)?;
    Ok(HttpResponse::Ok().json(state.broker.list_groups(&path.stream).await?))
}

/// Describes a group: members, assignment, committed offsets and lag.
#[utoipa::path(get, path = "/api/v1/streams/{stream}/groups/{group}", tag = "groups", operation_id = "describe_group",
    params(GroupPath), responses((status = 200, description = "The group", body = GroupView), BadRequest, NotFound))]
pub(crate) async fn describe(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<GroupPath>,
) -> Result<HttpResponse, ApiError> {
    sees(&caller, &path.stream)?;
    known_name(&path)?;
    let description = state.broker.describe_group(&path.stream, &path.group).await?;
    Ok(HttpResponse::Ok().json(GroupView::from(description)))
}

/// Moves an empty group's offsets on every partition of a topic (which the group then consumes).
#[utoipa::path(post, path = "/api/v1/streams/{stream}/groups/{group}/reset-offsets", tag = "groups",
    operation_id = "reset_group_offsets", params(GroupPath), request_body = ResetOffsets,
    responses((status = 200, description = "The group after the reset", body = GroupView), BadRequest, NotFound,
        Conflict, TooLarge, NotJson))]
pub(crate) async fn reset(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<GroupPath>,
    body: JsonBody<ResetOffsets>,
) -> Result<HttpResponse, ApiError> {
    let detail = format!("group {:?}/{:?}, topic {:?}, to {:?}", path.stream, path.group, body.topic, body.to);
    let check = caller.require(Permission::Manage, &path.stream, Some(&body.topic));
    authorize(&state.broker, &caller, "reset_group_offsets", &detail, check)?;
    known_name(&path)?;
    let result = state.broker.reset_group_offsets(&path.stream, &path.group, &body.topic, body.to).await;
    audited(&state.broker, &caller, "reset_group_offsets", &detail, result)?;
    let description = state.broker.describe_group(&path.stream, &path.group).await?;
    Ok(HttpResponse::Ok().json(GroupView::from(description)))
}

/// Deletes an empty group and its committed offsets (409 `group_not_empty` while it has members).
#[utoipa::path(delete, path = "/api/v1/streams/{stream}/groups/{group}", tag = "groups", operation_id = "delete_group",
    params(GroupPath), responses((status = 204, description = "Deleted"), BadRequest, NotFound, Conflict))]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<GroupPath>,
) -> Result<HttpResponse, ApiError> {
    let detail = format!("group {:?}/{:?}", path.stream, path.group);
    authorize(&state.broker, &caller, "delete_group", &detail, caller.require(Permission::Manage, &path.stream, None))?;
    known_name(&path)?;
    let result = state.broker.delete_group(&path.stream, &path.group).await;
    audited(&state.broker, &caller, "delete_group", &detail, result)?;
    Ok(HttpResponse::NoContent().finish())
}
