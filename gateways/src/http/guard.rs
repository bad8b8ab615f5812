//! The request guard every request passes first, before authentication (see `auth`): a `Host` that is not the
//! listener's own address, or an `Origin` that is not `http://` (`https://` on HTTPS) + such
//! a host, is refused with 403 (against DNS
//! rebinding and cross-site requests carrying a browser's credentials); a state-changing request carrying a body
//! that is not JSON is refused with 415.

use std::net::{IpAddr, SocketAddr};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};

use super::error::{ApiError, HttpCode};
use super::responses::AppState;

/// The `Host` values a listener bound to `addr` accepts: its own address and `localhost`, with the port (and
/// without it on port 80). A listener on an unspecified address (`0.0.0.0`, `::`) accepts the loopback addresses.
pub fn allowed_hosts(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut names = vec!["localhost".to_string()];
    match addr.ip() {
        ip if ip.is_unspecified() => names.extend(["127.0.0.1".to_string(), "[::1]".to_string()]),
        IpAddr::V4(v4) => names.push(v4.to_string()),
        IpAddr::V6(v6) => names.push(format!("[{v6}]")),
    }
    let mut hosts: Vec<String> = names.iter().map(|n| format!("{n}:{port}")).collect();
    if port == 80 {
        hosts.extend(names);
    }
    hosts
}

fn host_allowed(allowed: &[String], host: &str) -> bool {
    allowed.iter().any(|h| h.eq_ignore_ascii_case(host))
}

/// `secure`: the listener speaks HTTPS, so its pages' origin is `https://`.
fn origin_allowed(allowed: &[String], origin: &str, secure: bool) -> bool {
    let scheme = if secure { "https://" } else { "http://" };
    origin.strip_prefix(scheme).is_some_and(|host| host_allowed(allowed, host))
}

/// Whether a request carries a body (a non-zero `Content-Length`, or chunked).
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0)
}

/// Whether the request's content type is JSON (`application/json` or `…+json`), as actix's `Json` extractor sees it.
fn is_json(req: &ServiceRequest) -> bool {
    match req.mime_type() {
        Ok(Some(mime)) => mime.subtype() == actix_web::mime::JSON || mime.suffix() == Some(actix_web::mime::JSON),
        _ => false,
    }
}

fn check(req: &ServiceRequest, allowed: &[String]) -> Result<(), ApiError> {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
    match host {
        Some(host) if host_allowed(allowed, host) => {}
        Some(host) => {
            return Err(ApiError::http(
                HttpCode::ForbiddenOrigin,
                format!("Host {host:?} is not this listener's address ({})", allowed.join(", ")),
            ));
        }
        None => return Err(ApiError::http(HttpCode::ForbiddenOrigin, "a Host header is required")),
    }
    // Every `Origin` line counts: checking only the first would let a second one through.
    for origin in req.headers().get_all(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !origin_allowed(allowed, origin, req.app_config().secure()) {
            return Err(ApiError::http(
                HttpCode::ForbiddenOrigin,
                format!("Origin {origin:?} is not allowed; only http(s):// + this listener's address"),
            ));
        }
    }
    let changes_state = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    if changes_state && has_body(req) && !is_json(req) {
        return Err(ApiError::http(
            HttpCode::UnsupportedMediaType,
            "a request body must be JSON (Content-Type: application/json)",
        ));
    }
    Ok(())
}

/// The middleware (for `actix_web::middleware::from_fn`).
pub(crate) async fn guard<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let verdict = match req.app_data::<web::Data<AppState>>() {
        Some(state) => check(&req, &state.allowed_hosts),
        None => Err(ApiError::code(callboard_protocol::ErrorCode::Unknown, "the gateway has no state")),
    };
    match verdict {
        Ok(()) => next.call(req).await.map(ServiceResponse::map_into_boxed_body),
        Err(e) => Ok(req.into_response(e.error_response())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        let v4 = allowed_hosts("127.0.0.1:7080".parse().expect("addr"));
        assert!(host_allowed(&v4, "127.0.0.1:7080"));
        assert!(host_allowed(&v4, "LOCALHOST:7080"));
        assert!(!host_allowed(&v4, "127.0.0.1:7081"));
        assert!(!host_allowed(&v4, "evil.example:7080"));
        assert!(!host_allowed(&v4, "[::1]:7080"));
        assert!(origin_allowed(&v4, "http://localhost:7080", false));
        assert!(!origin_allowed(&v4, "https://localhost:7080", false));
        assert!(origin_allowed(&v4, "https://localhost:7080", true));
        assert!(!origin_allowed(&v4, "http://localhost:7080", true));
        assert!(!origin_allowed(&v4, "null", false));
        let v6 = allowed_hosts("[::1]:9000".parse().expect("addr"));
        assert!(host_allowed(&v6, "[::1]:9000"));
        let any = allowed_hosts("0.0.0.0:80".parse().expect("addr"));
        assert!(
            host_allowed(&any, "127.0.0.1:80") && host_allowed(&any, "localhost") && host_allowed(&any, "[::1]:80")
        );
    }
}
