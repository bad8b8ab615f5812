//! The web console's assets: every path not under `/api`, `/metrics`, `/health` or `/ready` is looked up with
//! `callboard_console::asset` and served with its content type and `Cache-Control: no-cache`; anything else is the
//! JSON 404 (`not_found`).

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse};

use super::error::{ApiError, HttpCode};

/// Paths the console never answers.
fn reserved(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/") || matches!(path, "/metrics" | "/health" | "/ready")
}

/// The JSON 404 for a path nothing answers.
pub(crate) fn not_found(req: &HttpRequest) -> ApiError {
    ApiError::http(HttpCode::NotFound, format!("no route for {} {}", req.method(), req.path()))
}

/// Default service: a console asset, or the JSON 404.
pub(crate) async fn serve(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = req.path();
    let Some(asset) = (!reserved(path)).then(|| callboard_console::asset(path)).flatten() else {
        return Err(not_found(&req));
    };
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(ApiError::method_not_allowed(req.method().as_str(), "GET, HEAD"));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(asset.bytes))
}

/// Default service of the `/api/v1` scope: the JSON 404.
pub(crate) async fn api_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(not_found(&req))
}
