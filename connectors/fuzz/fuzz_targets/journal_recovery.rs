//! The durable mode's journal recovery: any file content (a torn write, garbage) yields whole
//! JSON-object lines only, and a body that parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millwright_connectors::uplink::journal;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = journal::recover_lines(&text);
    let body: serde_json::Value =
        serde_json::from_slice(&journal::body_of(&lines)).expect("the body is JSON");
    assert_eq!(body["samples"].as_array().map(Vec::len), Some(lines.len()));
});
