//! [`Answer`]: one response frame on its way to the session's writer. Its body travels in two parts (a small head and
//! a payload of stored record batches shared with the broker) so batches are never copied into the frame.

use bytes::Bytes;
use callboard_actors::BrokerError;
use callboard_protocol::ErrorCode;
use callboard_protocol::wire::{RESPONSE_HEADER_LEN, encode_control, encode_with_payload};
use serde::Serialize;

/// Longest error message sent back, in bytes.
const MAX_ERROR_MESSAGE: usize = 4096;

/// A response frame: correlation id, error code, and the body as `head` followed by `payload`.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// The request's correlation id.
    pub correlation: u64,
    /// Wire error code (`0`: success).
    pub error: u16,
    /// First part of the body.
    pub head: Bytes,
    /// Second part of the body (raw record batches; empty for control answers).
    pub payload: Bytes,
}

impl Answer {
    /// A successful answer with a control body.
    pub fn ok(correlation: u64, body: Bytes) -> Self {
        Answer { correlation, error: ErrorCode::None.as_u16(), head: body, payload: Bytes::new() }
    }

    /// An error answer whose body is the UTF-8 message (cut to a few KiB).
    pub fn error(correlation: u64, code: ErrorCode, message: impl std::fmt::Display) -> Self {
        let mut text = message.to_string();
        if text.len() > MAX_ERROR_MESSAGE {
            let mut cut = MAX_ERROR_MESSAGE;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        Answer { correlation, error: code.as_u16(), head: Bytes::from(text), payload: Bytes::new() }
    }

    /// The answer for a broker error: its wire code and its message.
    pub fn broker_error(correlation: u64, error: &BrokerError) -> Self {
        Answer::error(correlation, error.code(), error)
    }

    /// The answer for a control call: the encoded response, or the error.
    pub fn control<T: Serialize>(correlation: u64, result: Result<T, BrokerError>) -> Self {
        match result {
            Ok(value) => match encode_control(&value) {
                Ok(body) => Answer::ok(correlation, body),
                Err(e) => Answer::error(correlation, ErrorCode::Unknown, e),
            },
            Err(e) => Answer::broker_error(correlation, &e),
        }
    }

    /// A payload answer: `header` as the MessagePack head, then `payload` unchanged.
    pub fn with_payload<T: Serialize>(correlation: u64, header: &T, payload: Bytes) -> Self {
        // `encode_with_payload` with an empty payload is exactly the head: `u32 length` and the MessagePack header.
        match encode_with_payload(header, &[]) {
            Ok(head) => Answer { correlation, error: ErrorCode::None.as_u16(), head, payload },
            Err(e) => Answer::error(correlation, ErrorCode::Unknown, e),
        }
    }

    /// Bytes after the length field.
    pub fn frame_len(&self) -> usize {
        RESPONSE_HEADER_LEN + self.head.len() + self.payload.len()
    }

    /// This answer, or a `MessageTooLarge` error in its place when it would exceed `max_frame`.
    pub fn fit(self, max_frame: u32) -> Self {
        let len = self.frame_len();
        if len <= max_frame as usize {
            return self;
        }
        let message = format!("the answer of {len} bytes exceeds the frame limit of {max_frame} bytes");
        Answer::error(self.correlation, ErrorCode::MessageTooLarge, message)
    }

    /// The frame's fixed part: `u32 length`, `u64 correlation`, `u16 error`. Call on a [`fit`](Self::fit) answer.
    pub fn frame_header(&self) -> [u8; 4 + RESPONSE_HEADER_LEN] {
        let len = u32::try_from(self.frame_len()).unwrap_or(u32::MAX);
        let mut out = [0u8; 4 + RESPONSE_HEADER_LEN];
        out[..4].copy_from_slice(&len.to_be_bytes());
        out[4..12].copy_from_slice(&self.correlation.to_be_bytes());
        out[12..14].copy_from_slice(&self.error.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use callboard_protocol::wire::FrameCodec;

    #[test]
    fn frame_layout_matches_the_codec() {
        let answer = Answer { correlation: 9, error: 3, head: Bytes::from_static(b"ab"), payload: Bytes::from("cd") };
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&answer.frame_header());
        buf.extend_from_slice(&answer.head);
        buf.extend_from_slice(&answer.payload);
        let frame = FrameCodec::default().decode_response(&mut buf).unwrap().unwrap();
        assert_eq!((frame.correlation, frame.error, &frame.body[..]), (9, 3, &b"abcd"[..]));
    }

    #[test]
    fn oversized_answers_become_errors_and_messages_are_cut() {
        let big = Answer::ok(1, Bytes::from(vec![0u8; 100]));
        let fitted = big.fit(50);
        assert_eq!(fitted.error, ErrorCode::MessageTooLarge.as_u16());
        assert!(fitted.frame_len() <= 200);
        let long = Answer::error(2, ErrorCode::Unknown, "é".repeat(5000));
        assert!(long.head.len() <= MAX_ERROR_MESSAGE);
        assert!(std::str::from_utf8(&long.head).is_ok());
    }
}
