//! Body encodings: MessagePack control bodies, and bodies that carry raw record batches after a MessagePack header.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ErrorCode;

/// Why a body could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The MessagePack body does not match the expected shape.
    #[error("malformed request body: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    /// A value could not be encoded.
    #[error("body encoding failed: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// The header length of a payload body runs past the body.
    #[error("payload body header of {header} bytes does not fit in a body of {body} bytes")]
    HeaderOverrun {
        /// Declared header length.
        header: u64,
        /// Body size.
        body: usize,
    },
}

impl BodyError {
    /// The wire error code for this error.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidRequest
    }
}

/// Encodes a control body (MessagePack map with named fields).
pub fn encode_control<T: Serialize>(value: &T) -> Result<Bytes, BodyError> {
    Ok(Bytes::from(rmp_serde::to_vec_named(value)?))
}

/// Decodes a control body. Allocation is bounded by the body's size, which the frame decoder already bounded.
pub fn decode_control<T: DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    Ok(rmp_serde::from_slice(body)?)
}

/// Builds a body of `u32 header length` · MessagePack header · raw payload (record batches as stored).
pub fn encode_with_payload<T: Serialize>(header: &T, payload: &[u8]) -> Result<Bytes, BodyError> {
    let header = rmp_serde::to_vec_named(header)?;
    let mut out = BytesMut::with_capacity(4 + header.len() + payload.len());
    out.put_u32(header.len() as u32);
    out.put_slice(&header);
    out.put_slice(payload);
    Ok(out.freeze())
}

/// Splits a payload body into its decoded header and the payload, which shares the body's memory.
pub fn split_payload<T: DeserializeOwned>(body: &Bytes) -> Result<(T, Bytes), BodyError> {
    let overrun = |header| BodyError::HeaderOverrun { header, body: body.len() };
    let prefix = body.get(..4).ok_or_else(|| overrun(4))?;
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    let end = 4usize.checked_add(len).filter(|&e| e <= body.len()).ok_or_else(|| overrun(len as u64))?;
    let header = decode_control(&body[4..end])?;
    Ok((header, body.slice(end..)))
}

/// [`split_payload`] of a mutable body: the payload is the body's own memory, still mutable (no copy).
pub fn split_payload_mut<T: DeserializeOwned>(mut body: BytesMut) -> Result<(T, BytesMut), BodyError> {
    let overrun = |header, body: &BytesMut| BodyError::HeaderOverrun { header, body: body.len() };
    let Some(prefix) = body.get(..4) else { return Err(overrun(4, &body)) };
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    let Some(end) = 4usize.checked_add(len).filter(|&e| e <= body.len()) else {
        return Err(overrun(len as u64, &body));
    };
    let header = decode_control(&body[4..end])?;
    body.advance(end);
    Ok((header, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Header {
        topic: String,
        partition: u32,
    }

    #[test]
    fn control_and_payload_bodies_round_trip() {
        let h = Header { topic: "orders".into(), partition: 3 };
        assert_eq!(decode_control::<Header>(&encode_control(&h).expect("encode")).expect("decode"), h);
        let body = encode_with_payload(&h, b"BATCH").expect("encode");
        let (got, payload): (Header, Bytes) = split_payload(&body).expect("split");
        assert_eq!(got, h);
        assert_eq!(&payload[..], b"BATCH");
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(decode_control::<Header>(b"\xff\x00garbage").is_err());
        assert!(split_payload::<Header>(&Bytes::from_static(b"\x00\x00\x10\x00abc")).is_err());
        assert!(split_payload::<Header>(&Bytes::from_static(b"\x00")).is_err());
        // A MessagePack array header claiming 2^32-1 elements must not allocate that much.
        assert!(decode_control::<Vec<u64>>(b"\xdd\xff\xff\xff\xff").is_err());
    }
}
