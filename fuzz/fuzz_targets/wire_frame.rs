//! TCP/QUIC frames: `FrameCodec` fed an arbitrary stream in arbitrary chunks, as a session reads a socket.
//!
//! Input: `n` (low 3 bits of byte 0), `n` chunk sizes, then the stream. Properties: no panic; cutting the stream in
//! chunks yields the same frames and the same error as reading it whole; every frame re-encodes to the bytes it
//! came from.
#![no_main]

use bytes::BytesMut;
use callboard_protocol::wire::{FrameCodec, FrameError, RequestFrame, ResponseFrame};
use libfuzzer_sys::fuzz_target;

const MAX_FRAME: u32 = 1 << 16;

#[derive(Debug, PartialEq)]
enum Frame {
    Request(RequestFrame),
    Response(ResponseFrame),
}

/// Decodes `stream` fed in `chunks` (then the rest at once), stopping at the first error.
fn decode(stream: &[u8], chunks: &[u8], requests: bool) -> (Vec<Frame>, Option<FrameError>) {
    let codec = FrameCodec::new(MAX_FRAME);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut sizes = chunks.iter().map(|&c| usize::from(c)).chain(std::iter::repeat(usize::MAX));
    while !rest.is_empty() {
        let take = sizes.next().unwrap_or(usize::MAX).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        loop {
            let next = if requests {
                codec.decode_request(&mut buf).map(|f| f.map(Frame::Request))
            } else {
                codec.decode_response(&mut buf).map(|f| f.map(Frame::Response))
            };
            match next {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let n = usize::from(first & 7).min(rest.len());
    let (chunks, stream) = rest.split_at(n);
    for requests in [true, false] {
        let whole = decode(stream, &[], requests);
        let chunked = decode(stream, chunks, requests);
        assert_eq!(whole, chunked, "chunking changed what was decoded");
        let codec = FrameCodec::new(MAX_FRAME);
        let mut again = BytesMut::new();
        for frame in &whole.0 {
            match frame {
                Frame::Request(f) => codec.encode_request(f, &mut again).expect("a decoded request re-encodes"),
                Frame::Response(f) => codec.encode_response(f, &mut again).expect("a decoded response re-encodes"),
            }
        }
        assert_eq!(&again[..], &stream[..again.len()], "frames re-encode to the bytes they came from");
    }
});
