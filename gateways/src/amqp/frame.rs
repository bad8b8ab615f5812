//! AMQP frames on the wire. The 7-byte frame envelope is checked here first so that every length is bounded by the
//! negotiated `frame_max` before anything is allocated; method payloads and content-header properties are parsed and
//! generated with the `amq-protocol` crate. A content header's property bytes are also kept raw, so a message's
//! properties and headers are stored and delivered byte for byte (amq-protocol's field tables are sorted maps and
//! would reorder headers if regenerated).

use amq_protocol::frame::{AMQPFrame, WriteContext, gen_frame};
use amq_protocol::protocol::basic::{AMQPProperties, parse_properties};
use amq_protocol::protocol::{AMQPClass, parse_class};
use bytes::{Buf, Bytes, BytesMut};

use crate::amqp::reply::{AmqpError, ReplyCode};

/// Frame types.
const FRAME_METHOD: u8 = 1;
const FRAME_HEADER: u8 = 2;
const FRAME_BODY: u8 = 3;
const FRAME_HEARTBEAT: u8 = 8;
/// The octet closing every frame.
pub const FRAME_END: u8 = 0xCE;
/// The protocol header a client sends first, and the server answers when it does not speak the client's version.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";
/// Frame envelope: type, channel, size before the payload; the end octet after.
const ENVELOPE: usize = 8;
/// Content-header payload before the property flags: class, weight, body size.
const HEADER_FIXED: usize = 12;

/// One frame read from a client.
#[derive(Debug)]
pub enum Inbound {
    /// A method.
    Method(u16, AMQPClass),
    /// A content header.
    Header {
        /// Channel.
        channel: u16,
        /// Class (60 for basic).
        class_id: u16,
        /// Total body size announced.
        body_size: u64,
        /// The property bytes as sent (flags and list).
        raw: Bytes,
        /// The parsed properties.
        properties: Box<AMQPProperties>,
    },
    /// A content body chunk.
    Body(u16, Bytes),
    /// A heartbeat.
    Heartbeat,
}

fn frame_error(text: impl Into<String>) -> AmqpError {
    AmqpError::new(ReplyCode::FrameError, text)
}

/// Cuts the next whole frame out of `buf`; `Ok(None)` when more bytes are needed. A frame larger than `frame_max`
/// (payload and envelope), an unknown type, a missing end octet or an unparseable payload is an error (501 for the
/// envelope, 502 for a method or header that does not parse).
pub fn parse(buf: &mut BytesMut, frame_max: u32) -> Result<Option<Inbound>, AmqpError> {
    if buf.len() < 7 {
        return Ok(None);
    }
    let kind = buf[0];
    let channel = u16::from_be_bytes([buf[1], buf[2]]);
    let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]) as usize;
    if !matches!(kind, FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT) {
        return Err(frame_error(format!("unknown frame type {kind}")));
    }
    if size.saturating_add(ENVELOPE) > frame_max as usize {
        return Err(frame_error(format!("frame of {} bytes exceeds frame_max {frame_max}", size + ENVELOPE)));
    }
    if buf.len() < size + ENVELOPE {
        buf.reserve(size + ENVELOPE - buf.len());
        return Ok(None);
    }
    if buf[7 + size] != FRAME_END {
        return Err(frame_error("frame end octet missing"));
    }
    buf.advance(7);
    let payload = buf.split_to(size).freeze();
    buf.advance(1);
    let syntax = |what: &str| AmqpError::new(ReplyCode::SyntaxError, format!("malformed {what} on channel {channel}"));
    match kind {
        FRAME_METHOD => match parse_class(&payload[..]) {
            Ok((&[], class)) => Ok(Some(Inbound::Method(channel, class))),
            _ => Err(syntax("method frame")),
        },
        FRAME_HEADER => {
            if payload.len() < HEADER_FIXED + 2 {
                return Err(syntax("content header"));
            }
            let class_id = u16::from_be_bytes([payload[0], payload[1]]);
            let mut size_bytes = [0u8; 8];
            size_bytes.copy_from_slice(&payload[4..12]);
            let body_size = u64::from_be_bytes(size_bytes);
            let raw = payload.slice(HEADER_FIXED..);
            match parse_properties(&raw[..]) {
                Ok((&[], properties)) => {
                    Ok(Some(Inbound::Header { channel, class_id, body_size, raw, properties: Box::new(properties) }))
                }
                _ => Err(syntax("content header properties")),
            }
        }
        FRAME_BODY => Ok(Some(Inbound::Body(channel, payload))),
        _ if channel != 0 => Err(frame_error("heartbeat on a channel other than 0")),
        _ => Ok(Some(Inbound::Heartbeat)),
    }
}

/// Appends a method frame to `out`.
pub fn put_method(out: &mut Vec<u8>, channel: u16, method: AMQPClass) {
    let frame = AMQPFrame::Method(channel, method);
    let buf = std::mem::take(out);
    match gen_frame(&frame)(WriteContext::from(buf)) {
        Ok(ctx) => *out = ctx.into_inner().0,
        // Generation into a Vec cannot run out of space; a failure would be a bug in the method's fields.
        Err(e) => tracing::error!(error = ?e, "could not encode an AMQP method frame"),
    }
}

/// Appends a heartbeat frame.
pub fn put_heartbeat(out: &mut Vec<u8>) {
    out.extend_from_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
}

/// Appends a message's content: its header frame (the stored property bytes unchanged) and its body in frames of at
/// most `frame_max` bytes.
pub fn put_content(out: &mut Vec<u8>, channel: u16, properties: &[u8], body: &[u8], frame_max: u32) {
    let header_len = (HEADER_FIXED + properties.len()) as u32;
    out.push(FRAME_HEADER);
    out.extend_from_slice(&channel.to_be_bytes());
    out.extend_from_slice(&header_len.to_be_bytes());
    out.extend_from_slice(&60u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    out.extend_from_slice(properties);
    out.push(FRAME_END);
    let chunk = (frame_max as usize).saturating_sub(ENVELOPE).max(1);
    for part in body.chunks(chunk) {
        out.push(FRAME_BODY);
        out.extend_from_slice(&channel.to_be_bytes());
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
        out.push(FRAME_END);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amq_protocol::protocol::channel;

    #[test]
    fn round_trip_and_bounds() {
        let mut out = Vec::new();
        put_method(&mut out, 3, AMQPClass::Channel(channel::AMQPMethod::Open(channel::Open {})));
        put_content(&mut out, 3, &[0, 0], b"hello world", 4096);
        put_heartbeat(&mut out);
        let mut buf = BytesMut::from(&out[..]);
        assert!(matches!(parse(&mut buf, 4096), Ok(Some(Inbound::Method(3, AMQPClass::Channel(_))))));
        match parse(&mut buf, 4096) {
            Ok(Some(Inbound::Header { channel: 3, body_size: 11, raw, .. })) => assert_eq!(&raw[..], &[0, 0]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(&mut buf, 4096), Ok(Some(Inbound::Body(3, b))) if &b[..] == b"hello world"));
        assert!(matches!(parse(&mut buf, 4096), Ok(Some(Inbound::Heartbeat))));
        assert!(matches!(parse(&mut buf, 4096), Ok(None)));

        let mut big = BytesMut::from(&[FRAME_BODY, 0, 1, 0xFF, 0xFF, 0xFF, 0xF0][..]);
        assert_eq!(parse(&mut big, 4096).expect_err("oversized").code, ReplyCode::FrameError);
        assert!(big.capacity() < 1 << 20, "nothing allocated for an oversized frame");
        let mut garbage = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        assert_eq!(parse(&mut garbage, 4096).expect_err("garbage").code, ReplyCode::FrameError);
        let mut no_end = BytesMut::from(&[FRAME_BODY, 0, 1, 0, 0, 0, 1, b'x', 0][..]);
        assert_eq!(parse(&mut no_end, 4096).expect_err("no end").code, ReplyCode::FrameError);
        let mut bad_method = BytesMut::from(&[FRAME_METHOD, 0, 1, 0, 0, 0, 2, 0, 99, FRAME_END][..]);
        assert_eq!(parse(&mut bad_method, 4096).expect_err("bad method").code, ReplyCode::SyntaxError);
    }
}
