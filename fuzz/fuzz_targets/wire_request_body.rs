//! TCP/QUIC request bodies: bytes 0-1 are the API key (big-endian, as in the frame), the rest is the body, decoded
//! with the type the session and dispatch decode it as (a produce body's batch is validated too).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((api, body)) = data.split_first_chunk::<2>() else { return };
    let api = u16::from_be_bytes(*api);
    // Keys are sparse (0..=58): fold the fuzzer's u16 onto them so most inputs reach a decoder.
    let api = if api > 63 { api % 64 } else { api };
    let _ = callboard_gateways::fuzzing::request_body(api, &Bytes::copy_from_slice(body));
});
