//! AMQP 0-9-1 reply codes (defined here once) and [`AmqpError`], the error every AMQP handler returns: its code
//! decides whether it closes the channel (soft errors) or the whole connection (hard errors), as the spec says.

use amq_protocol::protocol::AMQPClass;

/// The reply codes of AMQP 0-9-1 (spec section 1.2, "constants").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyCode {
    /// 200: normal close.
    Success = 200,
    /// 311: the message body is too large.
    ContentTooLarge = 311,
    /// 312: a mandatory message could not be routed.
    NoRoute = 312,
    /// 320: the server closed the connection (shutdown, operator).
    ConnectionForced = 320,
    /// 402: invalid path (virtual host name).
    InvalidPath = 402,
    /// 403: access refused.
    AccessRefused = 403,
    /// 404: no such exchange or queue.
    NotFound = 404,
    /// 405: an exclusive resource is locked by another connection.
    ResourceLocked = 405,
    /// 406: a precondition failed (inequivalent redeclare, unknown delivery tag, non-empty queue…).
    PreconditionFailed = 406,
    /// 501: a malformed frame.
    FrameError = 501,
    /// 502: a malformed method or field.
    SyntaxError = 502,
    /// 503: a method that is invalid here.
    CommandInvalid = 503,
    /// 504: a frame on a channel that is not open, or channel misuse.
    ChannelError = 504,
    /// 505: a frame that was not expected here.
    UnexpectedFrame = 505,
    /// 506: out of a resource.
    ResourceError = 506,
    /// 530: not allowed (unknown virtual host, forbidden operation).
    NotAllowed = 530,
    /// 540: not implemented.
    NotImplemented = 540,
    /// 541: internal error.
    InternalError = 541,
}

impl ReplyCode {
    /// The numeric code.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The spec's name of the code, as RabbitMQ prefixes reply texts with it.
    pub fn name(self) -> &'static str {
        match self {
            ReplyCode::Success => "OK",
            ReplyCode::ContentTooLarge => "CONTENT_TOO_LARGE",
            ReplyCode::NoRoute => "NO_ROUTE",
            ReplyCode::ConnectionForced => "CONNECTION_FORCED",
            ReplyCode::InvalidPath => "INVALID_PATH",
            ReplyCode::AccessRefused => "ACCESS_REFUSED",
            ReplyCode::NotFound => "NOT_FOUND",
            ReplyCode::ResourceLocked => "RESOURCE_LOCKED",
            ReplyCode::PreconditionFailed => "PRECONDITION_FAILED",
            ReplyCode::FrameError => "FRAME_ERROR",
            ReplyCode::SyntaxError => "SYNTAX_ERROR",
            ReplyCode::CommandInvalid => "COMMAND_INVALID",
            ReplyCode::ChannelError => "CHANNEL_ERROR",
            ReplyCode::UnexpectedFrame => "UNEXPECTED_FRAME",
            ReplyCode::ResourceError => "RESOURCE_ERROR",
            ReplyCode::NotAllowed => "NOT_ALLOWED",
            ReplyCode::NotImplemented => "NOT_IMPLEMENTED",
            ReplyCode::InternalError => "INTERNAL_ERROR",
        }
    }

    /// Whether the code is a connection (hard) error; the others close only the channel.
    pub fn is_hard(self) -> bool {
        matches!(
            self,
            ReplyCode::ConnectionForced
                | ReplyCode::InvalidPath
                | ReplyCode::FrameError
                | ReplyCode::SyntaxError
                | ReplyCode::CommandInvalid
                | ReplyCode::ChannelError
                | ReplyCode::UnexpectedFrame
                | ReplyCode::ResourceError
                | ReplyCode::NotAllowed
                | ReplyCode::NotImplemented
                | ReplyCode::InternalError
        )
    }
}

/// An AMQP exception: a reply code, its text, and the method that caused it (0/0 when none).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} - {text}", code.name())]
pub struct AmqpError {
    /// The reply code.
    pub code: ReplyCode,
    /// What went wrong.
    pub text: String,
    /// Class of the method that failed.
    pub class_id: u16,
    /// Id of the method that failed.
    pub method_id: u16,
}

impl AmqpError {
    /// An error with this code and text, not tied to a method yet.
    pub fn new(code: ReplyCode, text: impl Into<String>) -> AmqpError {
        AmqpError { code, text: text.into(), class_id: 0, method_id: 0 }
    }

    /// Ties the error to the method that caused it (unless it already is).
    pub fn during(mut self, method: &AMQPClass) -> AmqpError {
        if self.class_id == 0 {
            self.class_id = method.get_amqp_class_id();
            self.method_id = method.get_amqp_method_id();
        }
        self
    }

    /// Ties the error to a method given by class and method id (unless it already is).
    pub fn with_ids(mut self, (class_id, method_id): (u16, u16)) -> AmqpError {
        if self.class_id == 0 {
            self.class_id = class_id;
            self.method_id = method_id;
        }
        self
    }

    /// Leaves the error as it is (connection-level errors carry no method ids unless set).
    pub fn during_ids(self) -> AmqpError {
        self
    }

    /// The reply text sent to the peer: the code's name, then the text, at most 255 bytes (a short string).
    pub fn reply_text(&self) -> String {
        let mut text = format!("{} - {}", self.code.name(), self.text);
        if text.len() > 255 {
            let mut end = 255;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        text
    }
}

/// Shorthand constructors.
pub fn not_found(text: impl Into<String>) -> AmqpError {
    AmqpError::new(ReplyCode::NotFound, text)
}

/// 406.
pub fn precondition(text: impl Into<String>) -> AmqpError {
    AmqpError::new(ReplyCode::PreconditionFailed, text)
}

/// 403.
pub fn access_refused(text: impl Into<String>) -> AmqpError {
    AmqpError::new(ReplyCode::AccessRefused, text)
}

/// 541, for broker failures.
pub fn internal(error: impl std::fmt::Display) -> AmqpError {
    AmqpError::new(ReplyCode::InternalError, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_and_soft_codes() {
        for soft in [ReplyCode::NotFound, ReplyCode::AccessRefused, ReplyCode::ResourceLocked] {
            assert!(!soft.is_hard());
        }
        for hard in [ReplyCode::FrameError, ReplyCode::NotAllowed, ReplyCode::NotImplemented, ReplyCode::ChannelError] {
            assert!(hard.is_hard());
        }
        let long = AmqpError::new(ReplyCode::NotFound, "é".repeat(300)).reply_text();
        assert!(long.len() <= 255 && long.starts_with("NOT_FOUND - "));
    }
}
