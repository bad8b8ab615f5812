//! REST JSON bodies: byte 0 picks the route's body type (see `JSON_BODIES`), the rest is the body, decoded as
//! actix's JSON extractor and the route do (including base64, UUID and topic-configuration checks).
#![no_main]

use callboard_gateways::fuzzing::{JSON_BODIES, http_json_body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else { return };
    let _ = http_json_body(usize::from(kind) % JSON_BODIES.len(), body);
});
