//! The ingest body: the route's parser and per-sample validation on any bytes; a refusal is a
//! 4xx naming a field, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millwright_platform::api::ingest::check_body;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = check_body(data) {
        assert!(e.status().is_client_error());
        assert!(e.field_name().is_some());
    }
});
