//! Request and response frames, and [`FrameCodec`], which cuts them out of a byte stream with bounded lengths.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::ErrorCode;

/// Bytes of a request frame after its length field, before the body (api, version, correlation id).
pub const REQUEST_HEADER_LEN: usize = 2 + 2 + 8;
/// Bytes of a response frame after its length field, before the body (correlation id, error code).
pub const RESPONSE_HEADER_LEN: usize = 8 + 2;
/// Default largest frame (64 MiB).
pub const DEFAULT_MAX_FRAME: u32 = 64 << 20;

/// Why a frame was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length field exceeds the maximum frame size.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Declared length.
        len: u32,
        /// Limit.
        max: u32,
    },
    /// The length field is smaller than the frame's own header.
    #[error("frame of {len} bytes is shorter than its {min}-byte header")]
    TooShort {
        /// Declared length.
        len: u32,
        /// Header size.
        min: usize,
    },
}

impl FrameError {
    /// The wire error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::TooLarge { .. } => ErrorCode::MessageTooLarge,
            FrameError::TooShort { .. } => ErrorCode::InvalidRequest,
        }
    }
}

/// A request frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFrame {
    /// API key (see [`crate::wire::ApiKey`]); unknown keys are kept so the server can answer them with an error.
    pub api: u16,
    /// API version.
    pub version: u16,
    /// Correlation id, echoed in the response.
    pub correlation: u64,
    /// Body.
    pub body: Bytes,
}

/// A request frame whose body is still a [`BytesMut`]: a view of the read buffer, not a copy, that may be changed in
/// place (a produce's batch gets its offsets stamped where it was received).
#[derive(Debug, PartialEq, Eq)]
pub struct RequestFrameMut {
    /// API key.
    pub api: u16,
    /// API version.
    pub version: u16,
    /// Correlation id.
    pub correlation: u64,
    /// Body.
    pub body: BytesMut,
}

impl RequestFrameMut {
    /// The frame with a read-only body (no copy).
    pub fn freeze(self) -> RequestFrame {
        RequestFrame { api: self.api, version: self.version, correlation: self.correlation, body: self.body.freeze() }
    }
}

/// A response frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseFrame {
    /// The request's correlation id.
    pub correlation: u64,
    /// Error code (`0`: success).
    pub error: u16,
    /// Body: the answer, or on error a UTF-8 message.
    pub body: Bytes,
}

/// Smallest growth step of a buffer waiting for the rest of a frame.
const MIN_GROW: usize = 8 * 1024;

/// Makes room in `buf` for more of a frame of `total` bytes without trusting the declared length: the buffer grows by
/// at most the bytes already there (at least [`MIN_GROW`]), so what is reserved stays proportional to what arrived.
fn grow(buf: &mut BytesMut, total: usize) {
    let missing = total.saturating_sub(buf.len());
    let spare = buf.capacity() - buf.len();
    if spare >= missing {
        return;
    }
    let step = missing.min(buf.len().max(MIN_GROW));
    if spare < step {
        buf.reserve(step);
    }
}

/// Encodes and decodes frames with a maximum size.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame: u32,
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec { max_frame: DEFAULT_MAX_FRAME }
    }
}

impl FrameCodec {
    /// A codec refusing frames longer than `max_frame` bytes (after the length field).
    pub fn new(max_frame: u32) -> Self {
        FrameCodec { max_frame }
    }

    /// Reads the length field if complete, checking it against the limits.
    fn frame_len(&self, buf: &BytesMut, min: usize) -> Result<Option<usize>, FrameError> {
        let Some(prefix) = buf.get(..4) else { return Ok(None) };
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if len > self.max_frame {
            return Err(FrameError::TooLarge { len, max: self.max_frame });
        }
        if (len as usize) < min {
            return Err(FrameError::TooShort { len, min });
        }
        Ok(Some(len as usize))
    }

    /// Takes the next request out of `buf`, or `None` when it is not complete yet. On `Err` the stream cannot be
    /// resynchronised: answer with the error's code and close the connection.
    pub fn decode_request(&self, buf: &mut BytesMut) -> Result<Option<RequestFrame>, FrameError> {
        Ok(self.decode_request_mut(buf)?.map(RequestFrameMut::freeze))
    }

    /// Like [`FrameCodec::decode_request`], with the body left mutable: it stays a view of `buf`'s memory, never
    /// copied.
    pub fn decode_request_mut(&self, buf: &mut BytesMut) -> Result<Option<RequestFrameMut>, FrameError> {
        let Some(len) = self.frame_len(buf, REQUEST_HEADER_LEN)? else { return Ok(None) };
        if buf.len() < 4 + len {
            grow(buf, 4 + len);
            return Ok(None);
        }
        buf.advance(4);
        let mut frame = buf.split_to(len);
        let api = frame.get_u16();
        let version = frame.get_u16();
        let correlation = frame.get_u64();
        Ok(Some(RequestFrameMut { api, version, correlation, body: frame }))
    }

    /// Takes the next response out of `buf`, or `None` when it is not complete yet.
    pub fn decode_response(&self, buf: &mut BytesMut) -> Result<Option<ResponseFrame>, FrameError> {
        let Some(len) = self.frame_len(buf, RESPONSE_HEADER_LEN)? else { return Ok(None) };
        if buf.len() < 4 + len {
            grow(buf, 4 + len);
            return Ok(None);
        }
        buf.advance(4);
        let mut frame = buf.split_to(len);
        let correlation = frame.get_u64();
        let error = frame.get_u16();
        Ok(Some(ResponseFrame { correlation, error, body: frame.freeze() }))
    }

    /// Appends a request to `out`.
    pub fn encode_request(&self, frame: &RequestFrame, out: &mut BytesMut) -> Result<(), FrameError> {
        let len = self.check_len(REQUEST_HEADER_LEN + frame.body.len())?;
        out.reserve(4 + len as usize);
        out.put_u32(len);
        out.put_u16(frame.api);
        out.put_u16(frame.version);
        out.put_u64(frame.correlation);
        out.put_slice(&frame.body);
        Ok(())
    }

    /// Appends a response to `out`.
    pub fn encode_response(&self, frame: &ResponseFrame, out: &mut BytesMut) -> Result<(), FrameError> {
        let len = self.check_len(RESPONSE_HEADER_LEN + frame.body.len())?;
        out.reserve(4 + len as usize);
        out.put_u32(len);
        out.put_u64(frame.correlation);
        out.put_u16(frame.error);
        out.put_slice(&frame.body);
        Ok(())
    }

    fn check_len(&self, len: usize) -> Result<u32, FrameError> {
        match u32::try_from(len) {
            Ok(len) if len <= self.max_frame => Ok(len),
            _ => Err(FrameError::TooLarge { len: u32::try_from(len).unwrap_or(u32::MAX), max: self.max_frame }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests_and_responses_round_trip_byte_by_byte() {
        let codec = FrameCodec::default();
        let req = RequestFrame { api: 30, version: 1, correlation: 7, body: Bytes::from_static(b"hello") };
        let mut buf = BytesMut::new();
        codec.encode_request(&req, &mut buf).expect("encode");
        assert_eq!(&buf[..4], &(12u32 + 5).to_be_bytes());
        // Fed one byte at a time, the frame appears only when complete.
        let mut stream = BytesMut::new();
        for (i, b) in buf.iter().enumerate() {
            stream.put_u8(*b);
            let got = codec.decode_request(&mut stream).expect("decode");
            assert_eq!(got.is_some(), i + 1 == buf.len());
            if let Some(got) = got {
                assert_eq!(got, req);
            }
        }
        let resp = ResponseFrame { correlation: 7, error: 3, body: Bytes::from_static(b"no") };
        let mut buf = BytesMut::new();
        codec.encode_response(&resp, &mut buf).expect("encode");
        assert_eq!(codec.decode_response(&mut buf).expect("decode"), Some(resp));
        assert!(buf.is_empty());
    }

    #[test]
    fn lengths_are_bounded_before_allocation() {
        let codec = FrameCodec::new(1024);
        let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        assert_eq!(codec.decode_request(&mut buf), Err(FrameError::TooLarge { len: u32::MAX, max: 1024 }));
        assert!(buf.capacity() < 1024, "nothing was reserved for the oversized frame");
        let mut buf = BytesMut::from(&3u32.to_be_bytes()[..]);
        assert!(matches!(codec.decode_request(&mut buf), Err(FrameError::TooShort { len: 3, .. })));
        let big = RequestFrame { api: 1, version: 1, correlation: 1, body: Bytes::from(vec![0u8; 2000]) };
        assert!(matches!(codec.encode_request(&big, &mut BytesMut::new()), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn a_partial_frame_reserves_no_more_than_what_arrived() {
        let codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        buf.put_u32(63 << 20);
        buf.put_slice(&[0u8; 100]);
        assert_eq!(codec.decode_request(&mut buf), Ok(None));
        assert!(buf.capacity() <= 2 * MIN_GROW, "reserved {} bytes for 104 received", buf.capacity());
        let mut received = buf.len();
        while received < 4 << 20 {
            buf.put_slice(&[0u8; 4096][..buf.capacity().saturating_sub(buf.len()).clamp(1, 4096)]);
            received = buf.len();
            assert_eq!(codec.decode_request(&mut buf), Ok(None));
            assert!(buf.capacity() <= 4 * received.max(MIN_GROW), "{} reserved for {received}", buf.capacity());
        }
    }

    proptest! {
        #[test]
        fn arbitrary_streams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let codec = FrameCodec::new(256);
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = codec.decode_request(&mut buf) {}
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = codec.decode_response(&mut buf) {}
        }

        #[test]
        fn pipelined_requests_come_out_in_order(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..10)) {
            let codec = FrameCodec::default();
            let mut buf = BytesMut::new();
            for (i, b) in bodies.iter().enumerate() {
                let frame = RequestFrame { api: 2, version: 1, correlation: i as u64, body: Bytes::from(b.clone()) };
                codec.encode_request(&frame, &mut buf).expect("encode");
            }
            for (i, b) in bodies.iter().enumerate() {
                let got = codec.decode_request(&mut buf).expect("decode").expect("complete");
                prop_assert_eq!(got.correlation, i as u64);
                prop_assert_eq!(&got.body[..], &b[..]);
            }
            prop_assert!(buf.is_empty());
        }
    }
}
