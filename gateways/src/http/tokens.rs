//! Session and token routes: `POST /api/v1/login` (user and password for a short-lived access token: what the
//! console signs in with), `GET /api/v1/whoami`, and personal access tokens (`/api/v1/tokens[/{id}]`: list, create,
//! revoke). A user manages their own tokens; `manage_users` manages anyone's, as over TCP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use callboard_actors::BrokerError;
use callboard_protocol::model::{CreatedToken, GlobalPermission, TokenInfo, UserInfo};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, audited, authorize};
use super::body::JsonBody;
use super::error::{ApiError, HttpCode};
use super::responses::{AppState, BadRequest, NoSuchUser, NotJson, TokenConflict, TooLarge};

/// Lifetime of a token made by `POST /api/v1/login`.
pub const LOGIN_TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Body of `POST /api/v1/login`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    /// User name.
    #[schema(example = "alice")]
    pub user: String,
    /// Password.
    pub password: String,
}

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// A name for it, unique among the user's tokens: 1 to 64 printable ASCII characters.
    #[schema(min_length = 1, max_length = 64, pattern = "^[ -~]+$", example = "ci")]
    pub name: String,
    /// The user it acts as (default: the caller; another user's needs `manage_users`).
    #[serde(default)]
    pub user: Option<String>,
    /// Lifetime in milliseconds (1 ms to 10 years; default: no expiry).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 316224000000_u64)]
    pub expires_in_ms: Option<u64>,
}

/// Query of `GET /api/v1/tokens`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TokensQuery {
    /// Only this user's (another user's needs `manage_users`). Without it: the caller's, or with `manage_users`
    /// everyone's.
    pub user: Option<String>,
}

/// `{id}` of a token.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct TokenPath {
    /// Token id (the public part of the token).
    #[param(min_length = 1, max_length = 255)]
    pub id: String,
}

/// A name for a login token: `console-<unix seconds>-<n>` (unique in this process).
fn login_token_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("console-{secs}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Logs in with a user and password and answers a new access token valid for 12 hours (send it as `Authorization:
/// Bearer`; revoke it to log out). Failed logins are rate-limited per peer and user.
#[utoipa::path(post, path = "/api/v1/login", tag = "auth", operation_id = "login", request_body = LoginBody,
    security(()),
    responses((status = 201, description = "The token (shown this once)", body = CreatedToken), BadRequest,
        TooLarge, NotJson))]
pub(crate) async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let peer = req.peer_addr().map(|a| a.ip());
    let principal = state.broker.login(&body.user, &body.password, peer).await?;
    let name = login_token_name();
    let detail = format!("token {name:?} for user {:?} (login)", principal.user());
    let result = state.broker.create_token(principal.user(), &name, Some(LOGIN_TOKEN_LIFETIME)).await;
    let token = audited(&state.broker, &principal, "create_token", &detail, result)?;
    Ok(HttpResponse::Created().json(token))
}

/// The caller: name, state and grants.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "auth", operation_id = "whoami",
    responses((status = 200, description = "The logged-in user", body = UserInfo)))]
pub(crate) async fn whoami(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.broker.user(caller.user())?))
}

/// Access tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "auth", operation_id = "list_tokens", params(TokensQuery),
    responses((status = 200, description = "Tokens, oldest first", body = [TokenInfo]), BadRequest))]
pub(crate) async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<TokensQuery>,
) -> Result<HttpResponse, ApiError> {
    let tokens = match &query.user {
        Some(user) => {
            caller.require_self_or_admin(user)?;
            state.broker.tokens(Some(user))
        }
        None if caller.has(GlobalPermission::ManageUsers) => state.broker.tokens(None),
        None => state.broker.tokens(Some(caller.user())),
    };
    Ok(HttpResponse::Ok().json(tokens))
}

/// Creates a personal access token; its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "auth", operation_id = "create_token", request_body = CreateToken,
    responses((status = 201, description = "Created (the secret is shown this once)", body = CreatedToken),
        BadRequest, NoSuchUser, TokenConflict, TooLarge, NotJson))]
pub(crate) async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateToken>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.name.is_empty() || body.name.len() > 64 || !body.name.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(BrokerError::InvalidConfig("a token name is 1 to 64 printable ASCII characters".into()).into());
    }
    let user = body.user.unwrap_or_else(|| caller.user().to_string());
    let detail = format!("token {:?} for user {user:?}, expires in {:?} ms", body.name, body.expires_in_ms);
    let broker = &state.broker;
    authorize(broker, &caller, "create_token", &detail, caller.require_self_or_admin(&user))?;
    if broker.tokens(Some(&user)).iter().any(|t| t.name == body.name) {
        let e =
            ApiError::http(HttpCode::TokenExists, format!("user '{user}' has a token named {:?} already", body.name));
        broker.audit_request(
            &caller,
            "create_token",
            &detail,
            Err(&BrokerError::InvalidConfig(e.body().message.clone())),
        );
        return Err(e);
    }
    let lifetime = body.expires_in_ms.map(Duration::from_millis);
    let result = broker.create_token(&user, &body.name, lifetime).await;
    Ok(HttpResponse::Created().json(audited(broker, &caller, "create_token", &detail, result)?))
}

/// Revokes a token (its owner's, or anyone's with `manage_users`): it is refused from the next request on.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "auth", operation_id = "revoke_token", params(TokenPath),
    responses((status = 204, description = "Revoked"), NoSuchUser))]
pub(crate) async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<TokenPath>,
) -> Result<HttpResponse, ApiError> {
    let broker = &state.broker;
    let detail = format!("token {:?}", path.id);
    let owner = broker.tokens(None).into_iter().find(|t| t.id == path.id).map(|t| t.user);
    let check = match owner {
        Some(owner) => caller.require_self_or_admin(&owner),
        None => Err(BrokerError::TokenNotFound(path.id.clone())),
    };
    authorize(broker, &caller, "revoke_token", &detail, check)?;
    let result = broker.revoke_token(&path.id).await;
    audited(broker, &caller, "revoke_token", &detail, result)?;
    Ok(HttpResponse::NoContent().finish())
}
