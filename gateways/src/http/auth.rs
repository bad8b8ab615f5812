//! Authentication of HTTP requests: every request except `/health`, `/ready`, `POST /api/v1/login`, the console's
//! static assets (code without data: the console shows its login page until it holds a token) and, with
//! [`super::HttpConfig::metrics_public`], `/metrics` carries `Authorization: Bearer <token>` (a personal access
//! token) or `Authorization: Basic` (user and password). Missing or refused credentials answer 401 with a
//! `WWW-Authenticate` challenge; the resolved [`Principal`] reaches the handlers as [`Caller`].
//!
//! Verifying is cheap after the first request: a resolved principal is kept per (peer address, credentials), under
//! their SHA-256, and every request re-checks it with [`Broker::check_principal`], so a revoked or expired token, or
//! a disabled or deleted user, is refused at once. A token's secret never changes, so a token principal stays (the
//! cache is bounded); a password principal is verified again after any user, grant or token change (the
//! [`callboard_actors::auth::Authenticator`]'s epoch moves: the password may have changed) or a minute. A principal
//! kept is not logged in again, so failed logins from the same address (which delay its logins) do not lock out a
//! client that already authenticated with a token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use base64::Engine;
use callboard_actors::auth::Principal;
use callboard_actors::{Broker, BrokerError};
use sha2::{Digest, Sha256};

use super::error::{ApiError, BEARER_CHALLENGE};
use super::responses::AppState;

/// How long a resolved principal is reused without verifying its credentials again.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// Most credentials remembered; past it the cache starts over.
const CACHE_MAX: usize = 4096;
/// The header asking for no `Basic` challenge (a script that does not want the browser's password dialog).
pub(crate) const NO_BASIC_CHALLENGE: &str = "x-requested-with";

/// The logged-in user of a request (the handlers' extractor).
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub Principal);

impl std::ops::Deref for Caller {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Caller>()
                .cloned()
                .ok_or_else(|| ApiError::from(BrokerError::Unauthenticated("this request needs credentials".into()))),
        )
    }
}

struct Entry {
    principal: Principal,
    /// The epoch a password principal was verified at (`None` for a token).
    epoch: Option<u64>,
    at: Instant,
}

/// Principals resolved recently, by the SHA-256 of peer address and `Authorization` value.
#[derive(Default)]
pub(crate) struct CredentialCache {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache").finish_non_exhaustive()
    }
}

impl CredentialCache {
    fn get(&self, key: &[u8; 32], epoch: u64) -> Option<Principal> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(key) {
            Some(e) if e.epoch.is_none_or(|at| at == epoch && e.at.elapsed() < CACHE_TTL) => Some(e.principal.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn remove(&self, key: &[u8; 32]) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    fn put(&self, key: [u8; 32], principal: Principal, epoch: Option<u64>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_MAX {
            entries.clear();
        }
        entries.insert(key, Entry { principal, epoch, at: Instant::now() });
    }
}

/// Whether `path` (with `method`) is served without credentials: exactly the probes, the login, `/metrics` when
/// public, and reading a console asset that exists. Anything else (an encoded spelling of one of those included)
/// needs credentials, so no spelling the router would match differently can slip past.
fn open(method: &Method, path: &str, metrics_public: bool) -> bool {
    let reads = matches!(*method, Method::GET | Method::HEAD);
    match path {
        "/health" | "/ready" => true,
        "/metrics" => metrics_public,
        "/api/v1/login" => method == Method::POST,
        _ => reads && !(path == "/api" || path.starts_with("/api/")) && callboard_console::asset(path).is_some(),
    }
}

fn unauthenticated(message: impl Into<String>) -> BrokerError {
    BrokerError::Unauthenticated(message.into())
}

/// The user and password of a `Basic` credential (`base64(user:password)`).
fn basic_credentials(encoded: &str) -> Result<(String, String), BrokerError> {
    let bad = || unauthenticated("the Basic credentials are not base64 of user:password");
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (user, password) = text.split_once(':').ok_or_else(bad)?;
    Ok((user.to_string(), password.to_string()))
}

/// `value` without a case-insensitive `scheme ` prefix.
fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (head, rest) = value.split_once(' ')?;
    head.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// Verifies an `Authorization` header value (or takes the principal remembered for it) and re-checks it.
async fn resolve(state: &AppState, value: &str, peer: Option<IpAddr>) -> Result<Principal, BrokerError> {
    let broker: &Broker = &state.broker;
    let epoch = broker.authenticator().epoch();
    let mut hasher = Sha256::new();
    hasher.update(peer.map(|p| p.to_string()).unwrap_or_default());
    hasher.update([0]);
    hasher.update(value);
    let key: [u8; 32] = hasher.finalize().into();
    if let Some(mut principal) = state.credentials.get(&key, epoch) {
        if let Err(e) = broker.check_principal(&mut principal) {
            state.credentials.remove(&key);
            return Err(e);
        }
        return Ok(principal);
    }
    let (mut principal, verified_at) = if let Some(token) = strip_scheme(value, "bearer") {
        (broker.login_token(token, peer)?, None)
    } else if let Some(encoded) = strip_scheme(value, "basic") {
        let (user, password) = basic_credentials(encoded)?;
        (broker.login(&user, &password, peer).await?, Some(epoch))
    } else {
        return Err(unauthenticated("the Authorization scheme must be Bearer (an access token) or Basic"));
    };
    broker.check_principal(&mut principal)?;
    state.credentials.put(key, principal.clone(), verified_at);
    Ok(principal)
}

/// The middleware (for `actix_web::middleware::from_fn`): resolves the caller, or answers 401.
pub(crate) async fn authenticate<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let e = ApiError::code(callboard_protocol::ErrorCode::Unknown, "the gateway has no state");
        return Ok(req.into_response(e.error_response()));
    };
    // A script asking for no Basic challenge gets none, from this middleware or a handler (the login): a browser
    // shows its own password dialog for one, and holds the script's request until it is answered.
    let basic_challenge = !req.headers().contains_key(NO_BASIC_CHALLENGE);
    let finish = move |mut response: ServiceResponse<BoxBody>| {
        if !basic_challenge && response.status() == actix_web::http::StatusCode::UNAUTHORIZED {
            let headers = response.headers_mut();
            headers.remove(header::WWW_AUTHENTICATE);
            headers.insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static(BEARER_CHALLENGE));
        }
        response
    };
    if open(req.method(), req.path(), state.metrics_public) {
        return next.call(req).await.map(|r| finish(r.map_into_boxed_body()));
    }
    let value = match req.headers().get(header::AUTHORIZATION).map(|v| v.to_str()) {
        None => Err(unauthenticated("this request needs credentials: Authorization: Bearer <token>, or Basic")),
        Some(Err(_)) => Err(unauthenticated("the Authorization header is not ASCII")),
        Some(Ok(v)) => Ok(v.to_string()),
    };
    let peer = req.peer_addr().map(|a| a.ip());
    let resolved = match value {
        Ok(value) => resolve(&state, &value, peer).await,
        Err(e) => Err(e),
    };
    match resolved {
        Ok(principal) => {
            req.extensions_mut().insert(Caller(principal));
            next.call(req).await.map(|r| finish(r.map_into_boxed_body()))
        }
        Err(e) => Ok(finish(req.into_response(ApiError::from(e).error_response()))),
    }
}

/// Runs an administrative request's `result` into the audit log (as the TCP gateway does) and passes it on.
pub(crate) fn audited<T>(
    broker: &Broker,
    caller: &Principal,
    action: &str,
    detail: &str,
    result: Result<T, BrokerError>,
) -> Result<T, ApiError> {
    broker.audit_request(caller, action, detail, result.as_ref().map(|_| ()));
    result.map_err(ApiError::from)
}

/// Records a refused administrative request in the audit log and answers its error.
pub(crate) fn authorize(
    broker: &Broker,
    caller: &Principal,
    action: &str,
    detail: &str,
    check: Result<(), BrokerError>,
) -> Result<(), ApiError> {
    if let Err(e) = &check {
        broker.audit_request(caller, action, detail, Err(e));
    }
    check.map_err(ApiError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_paths() {
        assert!(open(&Method::GET, "/health", false) && open(&Method::HEAD, "/ready", false));
        assert!(open(&Method::GET, "/", false) && open(&Method::GET, "/js/app.js", false));
        assert!(!open(&Method::GET, "/no-such-asset", false) && !open(&Method::POST, "/", false));
        assert!(!open(&Method::GET, "/%61pi/v1/status", false) && !open(&Method::GET, "/%68ealth", false));
        assert!(open(&Method::POST, "/api/v1/login", false) && !open(&Method::GET, "/api/v1/login", false));
        assert!(!open(&Method::GET, "/api/v1/streams", false) && !open(&Method::GET, "/api", false));
        assert!(!open(&Method::GET, "/metrics", false) && open(&Method::GET, "/metrics", true));
    }

    #[test]
    fn basic_and_schemes() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("admin:pa:ss");
        assert_eq!(basic_credentials(&encoded).ok(), Some(("admin".into(), "pa:ss".into())));
        assert!(basic_credentials("%%%").is_err());
        assert!(basic_credentials(&base64::engine::general_purpose::STANDARD.encode("nocolon")).is_err());
        assert_eq!(strip_scheme("bearer cbt_x", "Bearer"), Some("cbt_x"));
        assert_eq!(strip_scheme("Basic  abc ", "basic"), Some("abc"));
        assert_eq!(strip_scheme("Digest abc", "basic"), None);
        assert_eq!(strip_scheme("Bearer", "bearer"), None);
    }
}
