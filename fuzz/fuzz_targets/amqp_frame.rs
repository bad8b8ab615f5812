//! AMQP 0-9-1 frames: the gateway's frame cutter (envelope checks, then amq-protocol's method and content-header
//! property parsers) fed an arbitrary stream in arbitrary chunks.
//!
//! Input: byte 0 picks `frame_max` (4096 << (b & 7)); its bits 3-5 give `n`; `n` chunk sizes; then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let frame_max = 4096u32 << (first & 7);
    let n = usize::from((first >> 3) & 7).min(rest.len());
    let (chunks, stream) = rest.split_at(n);
    let chunks: Vec<usize> = chunks.iter().map(|&c| usize::from(c)).collect();
    let whole = callboard_gateways::fuzzing::amqp_frames(stream, &[], frame_max);
    let chunked = callboard_gateways::fuzzing::amqp_frames(stream, &chunks, frame_max);
    assert_eq!(whole, chunked, "chunking changed how many frames parsed");
});
