//! The one error shape of the HTTP gateway: [`ApiError`] answers `{"code", "message"}` with the status that fits.
//! The wire [`ErrorCode`]s (shared with the TCP protocol) are mapped to HTTP statuses here and only here, and the
//! extractor error handlers (bad JSON, query or path) turn actix's errors into the same shape.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use callboard_actors::BrokerError;
use callboard_protocol::ErrorCode;
use serde::Serialize;
use utoipa::ToSchema;

/// Error codes only the HTTP gateway answers (the rest are the wire [`ErrorCode`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpCode {
    /// No route (or console asset) at that path.
    NotFound,
    /// The route exists but not for that method.
    MethodNotAllowed,
    /// The request body is larger than the gateway accepts.
    PayloadTooLarge,
    /// A request body that is not JSON.
    UnsupportedMediaType,
    /// The `Host` or `Origin` is not the listener's own address.
    ForbiddenOrigin,
    /// The broker is not ready yet (`/ready`).
    NotReady,
    /// The default stream cannot be deleted.
    StreamProtected,
    /// The user has an access token of that name already.
    TokenExists,
}

impl HttpCode {
    /// Every HTTP-only code.
    pub const ALL: [HttpCode; 8] = [
        HttpCode::NotFound,
        HttpCode::MethodNotAllowed,
        HttpCode::PayloadTooLarge,
        HttpCode::UnsupportedMediaType,
        HttpCode::ForbiddenOrigin,
        HttpCode::NotReady,
        HttpCode::StreamProtected,
        HttpCode::TokenExists,
    ];

    /// The JSON `code`.
    pub fn name(self) -> &'static str {
        match self {
            HttpCode::NotFound => "not_found",
            HttpCode::MethodNotAllowed => "method_not_allowed",
            HttpCode::PayloadTooLarge => "payload_too_large",
            HttpCode::UnsupportedMediaType => "unsupported_media_type",
            HttpCode::ForbiddenOrigin => "forbidden_origin",
            HttpCode::NotReady => "not_ready",
            HttpCode::StreamProtected => "stream_protected",
            HttpCode::TokenExists => "token_exists",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            HttpCode::NotFound => StatusCode::NOT_FOUND,
            HttpCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HttpCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HttpCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            HttpCode::ForbiddenOrigin => StatusCode::FORBIDDEN,
            HttpCode::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            HttpCode::StreamProtected => StatusCode::CONFLICT,
            HttpCode::TokenExists => StatusCode::CONFLICT,
        }
    }
}

/// The JSON `code` of a wire error code: its name in snake_case (`TopicNotFound` → `topic_not_found`).
pub fn code_name(code: ErrorCode) -> String {
    let camel = format!("{code:?}");
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The HTTP status of a wire error code: the one place they are mapped.
pub fn code_status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::None => StatusCode::OK,
        ErrorCode::InvalidRequest
        | ErrorCode::InvalidRecordBatch
        | ErrorCode::UnsupportedVersion
        | ErrorCode::InvalidConfig
        | ErrorCode::InvalidName
        | ErrorCode::UnknownApi
        | ErrorCode::HandshakeRequired => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::UserNotFound | ErrorCode::TokenNotFound => StatusCode::NOT_FOUND,
        ErrorCode::UserExists => StatusCode::CONFLICT,
        ErrorCode::StreamNotFound
        | ErrorCode::TopicNotFound
        | ErrorCode::PartitionNotFound
        | ErrorCode::GroupNotFound
        | ErrorCode::NoOffset
        | ErrorCode::OffsetOutOfRange
        | ErrorCode::UnknownMember
        | ErrorCode::UnknownProducer => StatusCode::NOT_FOUND,
        ErrorCode::StreamExists
        | ErrorCode::TopicExists
        | ErrorCode::GroupNotEmpty
        | ErrorCode::StaleGeneration
        | ErrorCode::NotAssigned
        | ErrorCode::OutOfOrderSequence
        | ErrorCode::ProducerFenced
        | ErrorCode::LimitExceeded
        | ErrorCode::ResourceLimit
        | ErrorCode::Locked => StatusCode::CONFLICT,
        ErrorCode::MessageTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::TooManyParkedPolls => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::PartitionUnavailable
        | ErrorCode::PartitionReadOnly
        | ErrorCode::StorageFull
        | ErrorCode::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        // Unknown, CorruptMessage, StorageError and codes added later.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"code": "topic_not_found", "message": "topic 'default/orders' not found"}))]
pub struct ErrorBody {
    /// The snake_case name of the wire error code, or an HTTP-only code (`not_found`, `method_not_allowed`,
    /// `payload_too_large`, `unsupported_media_type`, `forbidden_origin`, `not_ready`, `stream_protected`,
    /// `token_exists`).
    #[schema(schema_with = code_schema)]
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}

fn code_schema() -> utoipa::openapi::Object {
    let mut names: Vec<String> =
        ErrorCode::ALL.iter().filter(|c| **c != ErrorCode::None).map(|c| code_name(*c)).collect();
    names.extend(HttpCode::ALL.iter().map(|c| c.name().to_string()));
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(names))
        .build()
}

/// The `WWW-Authenticate` challenge of every 401 (a personal access token).
pub const BEARER_CHALLENGE: &str = "Bearer realm=\"callboard\"";
/// The second challenge of a 401 (user and password).
pub const BASIC_CHALLENGE: &str = "Basic realm=\"callboard\", charset=\"UTF-8\"";

/// An error answer: a status and an [`ErrorBody`].
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    allow: Option<&'static str>,
}

impl ApiError {
    /// An error with a wire code.
    pub fn code(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: code_status(code),
            body: ErrorBody { code: code_name(code), message: message.into() },
            allow: None,
        }
    }

    /// An error with an HTTP-only code.
    pub fn http(code: HttpCode, message: impl Into<String>) -> Self {
        ApiError {
            status: code.status(),
            body: ErrorBody { code: code.name().into(), message: message.into() },
            allow: None,
        }
    }

    /// A `400 invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::code(ErrorCode::InvalidRequest, message)
    }

    /// A `405 method_not_allowed` listing the methods the resource answers.
    pub fn method_not_allowed(method: &str, allow: &'static str) -> Self {
        let mut e = ApiError::http(HttpCode::MethodNotAllowed, format!("{method} is not allowed here; use {allow}"));
        e.allow = Some(allow);
        e
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.body.code, self.body.message)
    }
}

impl From<BrokerError> for ApiError {
    fn from(e: BrokerError) -> Self {
        ApiError::code(e.code(), e.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(allow) = self.allow {
            response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.append_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(BEARER_CHALLENGE)));
            response.append_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(BASIC_CHALLENGE)));
        }
        response.json(&self.body)
    }
}

/// `JsonConfig` error handler: 413 over the limit, 415 not JSON, 400 anything else (syntax, types, fields).
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::http(
            HttpCode::PayloadTooLarge,
            format!("the body of {length} bytes is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::Overflow { limit } => {
            ApiError::http(HttpCode::PayloadTooLarge, format!("the body is larger than the limit of {limit} bytes"))
        }
        JsonPayloadError::ContentType => {
            ApiError::http(HttpCode::UnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
        }
        JsonPayloadError::Deserialize(e) => ApiError::invalid(format!("invalid JSON body: {e}")),
        JsonPayloadError::Serialize(e) => ApiError::invalid(format!("invalid JSON body: {e}")),
        JsonPayloadError::Payload(e) => match e {
            actix_web::error::PayloadError::Overflow => {
                ApiError::http(HttpCode::PayloadTooLarge, "the body is larger than the limit")
            }
            other => ApiError::invalid(format!("could not read the body: {other}")),
        },
        other => ApiError::invalid(format!("invalid JSON body: {other}")),
    };
    api.into()
}

/// `QueryConfig` error handler: 400.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::invalid(format!("invalid query string: {err}")).into()
}

/// `PathConfig` error handler: 400.
pub fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::invalid(format!("invalid path parameter: {err}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_snake_case_and_statuses_fit() {
        assert_eq!(code_name(ErrorCode::TopicNotFound), "topic_not_found");
        assert_eq!(code_name(ErrorCode::InvalidRequest), "invalid_request");
        assert_eq!(code_status(ErrorCode::StreamExists), StatusCode::CONFLICT);
        assert_eq!(code_status(ErrorCode::PartitionUnavailable), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(code_status(ErrorCode::Unknown), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(code_status(ErrorCode::Unauthenticated), StatusCode::UNAUTHORIZED);
        assert_eq!(code_status(ErrorCode::Forbidden), StatusCode::FORBIDDEN);
        for code in ErrorCode::ALL {
            assert!(code_name(*code).chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }
}
