//! User routes (`/api/v1/users[/{name}[/grants]]`): list, create, describe, change (password, enabled), delete, and
//! grant or revoke a permission. Each checks what the TCP gateway's matching request checks (`manage_users`, or the
//! user themselves for describing and changing their own password) and goes to the audit log when it changes
//! something.

use std::borrow::Cow;

use actix_web::{HttpResponse, web};
use callboard_actors::BrokerError;
use callboard_protocol::model::{Access, GlobalPermission, Grants, Permission, UserInfo};
use serde::Deserialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::auth::{Caller, audited, authorize};
use super::body::JsonBody;
use super::error::ApiError;
use super::responses::{AppState, BadRequest, NoSuchUser, NotJson, TooLarge, UserConflict};

fn global_names() -> ObjectBuilder {
    let names: Vec<&str> = GlobalPermission::ALL.iter().map(|p| p.as_str()).collect();
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names))
}

fn scoped_names() -> ObjectBuilder {
    let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names))
}

fn map_of(values: impl Into<RefOr<Schema>>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::RefOr(values.into())))
}

/// The schema of a request's grants, as the broker reads them: repeated permissions count once and unknown fields
/// are ignored (so the document promises neither uniqueness nor closed objects).
fn grants_schema() -> ObjectBuilder {
    let list = |items: ObjectBuilder| ArrayBuilder::new().items(items);
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("global", list(global_names()).description(Some("Broker-wide permissions")))
        .property(
            "streams",
            map_of(list(scoped_names())).description(Some("Per stream: permissions on all its topics")),
        )
        .property(
            "topics",
            map_of(map_of(list(scoped_names())))
                .description(Some("Per stream, per topic: permissions that replace the stream's for that topic")),
        )
        .description(Some("Permissions (each part optional)"))
}

/// Body of granting or revoking: one [`Access`], an object with exactly one of `global`, `stream`, `topic`.
pub(crate) struct AccessBody;

impl PartialSchema for AccessBody {
    fn schema() -> RefOr<Schema> {
        let one = |key: &str, value: ObjectBuilder| -> Schema {
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(key, value)
                .required(key)
                .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
                .into()
        };
        let string = || ObjectBuilder::new().schema_type(Type::String);
        let stream = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("stream", string())
            .property("permission", scoped_names())
            .required("stream")
            .required("permission");
        let topic = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("stream", string())
            .property("topic", string())
            .property("permission", scoped_names())
            .required("stream")
            .required("topic")
            .required("permission");
        OneOfBuilder::new()
            .item(one("global", global_names()))
            .item(one("stream", stream))
            .item(one("topic", topic))
            .description(Some(
                "`{\"global\": \"read_all\"}`, `{\"stream\": {\"stream\": \"s\", \"permission\": \"read\"}}` or \
                 `{\"topic\": {\"stream\": \"s\", \"topic\": \"t\", \"permission\": \"write\"}}`",
            ))
            .into()
    }
}

impl ToSchema for AccessBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AccessBody")
    }
}

/// Longest password the REST API takes, in characters (the broker's limit is 1024 bytes; this many characters always
/// fit, so the document can state it).
const MAX_PASSWORD_CHARS: usize = 256;

fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(
            BrokerError::InvalidConfig(format!("a password is at most {MAX_PASSWORD_CHARS} characters here")).into()
        );
    }
    Ok(())
}

/// `{name}` of a user.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct UserPath {
    /// User name.
    #[param(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._@-]+$")]
    pub name: String,
}

/// Body of `POST /api/v1/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUser {
    /// User name: 1 to 64 ASCII letters, digits and `. _ - @`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._@-]+$", example = "alice")]
    pub name: String,
    /// Password: 8 to 256 characters.
    #[schema(min_length = 8, max_length = 256, example = "correct horse battery")]
    pub password: String,
    /// Permissions to start with (default none).
    #[serde(default)]
    #[schema(schema_with = grants_schema)]
    pub grants: Grants,
}

/// Body of `PATCH /api/v1/users/{name}`: what changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateUser {
    /// A new password (the user themselves may change it): 8 to 256 characters.
    #[serde(default)]
    #[schema(min_length = 8, max_length = 256)]
    pub password: Option<String>,
    /// Enable or disable the user (needs `manage_users`; a disabled user's requests are refused at once).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Every user (needs `manage_users`).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", operation_id = "list_users",
    responses((status = 200, description = "Every user, oldest first", body = [UserInfo])))]
pub(crate) async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require_global(GlobalPermission::ManageUsers)?;
    Ok(HttpResponse::Ok().json(state.broker.users()))
}

/// Creates a user (needs `manage_users`).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", operation_id = "create_user", request_body = CreateUser,
    responses((status = 201, description = "Created", body = UserInfo), BadRequest, UserConflict, TooLarge, NotJson))]
pub(crate) async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    check_password(&body.password)?;
    let detail = format!("user {:?}, grants {:?}", body.name, body.grants);
    let broker = &state.broker;
    authorize(broker, &caller, "create_user", &detail, caller.require_global(GlobalPermission::ManageUsers))?;
    let result = broker.create_user(&body.name, &body.password, body.grants).await;
    let info = audited(broker, &caller, "create_user", &detail, result)?;
    Ok(HttpResponse::Created().json(info))
}

/// Describes a user (the user themselves, or with `manage_users`).
#[utoipa::path(get, path = "/api/v1/users/{name}", tag = "users", operation_id = "get_user", params(UserPath),
    responses((status = 200, description = "The user", body = UserInfo), NoSuchUser))]
pub(crate) async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<UserPath>,
) -> Result<HttpResponse, ApiError> {
    caller.require_self_or_admin(&path.name)?;
    Ok(HttpResponse::Ok().json(state.broker.user(&path.name)?))
}

/// Changes a user's password (the user themselves, or with `manage_users`) and/or enables or disables them (needs
/// `manage_users`).
#[utoipa::path(patch, path = "/api/v1/users/{name}", tag = "users", operation_id = "update_user", params(UserPath),
    request_body = UpdateUser,
    responses((status = 200, description = "The user after the change", body = UserInfo), BadRequest, NoSuchUser,
        TooLarge, NotJson))]
pub(crate) async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<UserPath>,
    body: JsonBody<UpdateUser>,
) -> Result<HttpResponse, ApiError> {
    let detail = format!(
        "user {:?}, password {}, enabled {:?}",
        path.name,
        if body.password.is_some() { "changed" } else { "kept" },
        body.enabled
    );
    if let Some(password) = &body.password {
        check_password(password)?;
    }
    let check = if body.enabled.is_some() {
        caller.require_global(GlobalPermission::ManageUsers)
    } else {
        caller.require_self_or_admin(&path.name)
    };
    let broker = &state.broker;
    authorize(broker, &caller, "update_user", &detail, check)?;
    let result = broker.update_user(&path.name, body.password.as_deref(), body.enabled).await;
    let info = audited(broker, &caller, "update_user", &detail, result)?;
    Ok(HttpResponse::Ok().json(info))
}

/// Deletes a user and their tokens (needs `manage_users`).
#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "users", operation_id = "delete_user", params(UserPath),
    responses((status = 204, description = "Deleted"), NoSuchUser))]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<UserPath>,
) -> Result<HttpResponse, ApiError> {
    let detail = format!("user {:?}", path.name);
    let broker = &state.broker;
    authorize(broker, &caller, "delete_user", &detail, caller.require_global(GlobalPermission::ManageUsers))?;
    let result = broker.delete_user(&path.name).await;
    audited(broker, &caller, "delete_user", &detail, result)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Grants a permission (needs `manage_users`): `{"global": "read_all"}`, `{"stream": {"stream": "s", "permission":
/// "read"}}` or `{"topic": {"stream": "s", "topic": "t", "permission": "write"}}`.
#[utoipa::path(post, path = "/api/v1/users/{name}/grants", tag = "users", operation_id = "grant", params(UserPath),
    request_body = AccessBody,
    responses((status = 200, description = "The user with the grant", body = UserInfo), BadRequest, NoSuchUser,
        TooLarge, NotJson))]
pub(crate) async fn grant(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<UserPath>,
    body: JsonBody<Access>,
) -> Result<HttpResponse, ApiError> {
    change_grant(&state, &caller, &path.name, body.into_inner(), true).await
}

/// Revokes a permission (needs `manage_users`); the body names it as for granting.
#[utoipa::path(delete, path = "/api/v1/users/{name}/grants", tag = "users", operation_id = "revoke",
    params(UserPath), request_body = AccessBody,
    responses((status = 200, description = "The user without the grant", body = UserInfo), BadRequest, NoSuchUser,
        TooLarge, NotJson))]
pub(crate) async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<UserPath>,
    body: JsonBody<Access>,
) -> Result<HttpResponse, ApiError> {
    change_grant(&state, &caller, &path.name, body.into_inner(), false).await
}

/// Grants (`grant`) or revokes `access` for `user`, authorized and audited.
async fn change_grant(
    state: &AppState,
    caller: &Caller,
    user: &str,
    access: Access,
    grant: bool,
) -> Result<HttpResponse, ApiError> {
    let action = if grant { "grant" } else { "revoke" };
    let detail = format!("user {user:?}, {access:?}");
    let broker = &state.broker;
    authorize(broker, caller, action, &detail, caller.require_global(GlobalPermission::ManageUsers))?;
    let result = if grant { broker.grant(user, access).await } else { broker.revoke(user, access).await };
    Ok(HttpResponse::Ok().json(audited(broker, caller, action, &detail, result)?))
}
