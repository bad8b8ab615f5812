//! The TCP/QUIC wire protocol: frames, API keys with versions, the connection handshake, and body encodings.
//!
//! ## Frames (all integers big-endian, as on most wire protocols)
//!
//! | frame    | layout |
//! |----------|--------|
//! | request  | `u32 length` · `u16 api` · `u16 version` · `u64 correlation id` · body |
//! | response | `u32 length` · `u64 correlation id` · `u16 error code` · body |
//!
//! `length` counts the bytes after itself. A decoder checks it against its maximum frame size before allocating
//! anything, and rejects a frame too short to hold its header. Requests may be pipelined: responses carry the
//! request's correlation id and may come back in any order.
//!
//! ## Bodies
//!
//! Control bodies are MessagePack maps (named fields, so fields can be added compatibly). Bodies that carry record
//! batches are `u32 header length` · MessagePack header · raw batch bytes, exactly as stored: the broker never
//! re-encodes records on the way in or out.
//!
//! ## Handshake
//!
//! The first request on a connection is [`ApiKey::Hello`] with the client's protocol version; the answer lists every
//! API the server supports with its version range. Any other first request is refused.

mod api;
mod body;
mod frame;
mod handshake;
mod requests;

pub use api::{ApiKey, ApiVersionRange};
pub use body::{BodyError, decode_control, encode_control, encode_with_payload, split_payload, split_payload_mut};
pub use frame::{
    DEFAULT_MAX_FRAME, FrameCodec, FrameError, REQUEST_HEADER_LEN, RESPONSE_HEADER_LEN, RequestFrame, RequestFrameMut,
    ResponseFrame,
};
pub use handshake::{Hello, HelloResponse, PROTOCOL_VERSION};
pub use requests::*;

/// QUIC flow-control window per stream (server and SDK use the same): a few 1 MiB batches may be in flight on one
/// stream without waiting for window updates (quinn's default, 1.25 MB, allows about one).
pub const QUIC_STREAM_WINDOW: u32 = 16 << 20;
/// QUIC flow-control window per connection, and the send buffer of each side.
pub const QUIC_CONNECTION_WINDOW: u32 = 64 << 20;
/// Largest UDP payload QUIC's path-MTU discovery may probe for (loopback and jumbo-frame links carry large packets;
/// elsewhere discovery stops at the path's MTU).
pub const QUIC_MAX_UDP_PAYLOAD: u16 = 65_000;
