//! The query parameters of `GET /tags/{id}/samples`: any query string is accepted or refused
//! with a 4xx naming the parameter, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millwright_platform::api::samples::check_samples_query;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = check_samples_query(query) {
        assert!(e.status().is_client_error());
        assert!(e.field_name().is_some_and(|f| !f.is_empty()));
    }
});
