//! REST query strings: the poll route's query, parsed as actix's `web::Query` does, then checked as the route does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // actix hands the extractor the URI's query, which is always a str.
    let Ok(query) = std::str::from_utf8(data) else { return };
    let _ = callboard_gateways::fuzzing::http_poll_query(query);
});
