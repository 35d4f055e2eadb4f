//! The connector config loader: any text loads or is refused with the file named; never a
//! panic, and what loads writes back to text that loads again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use millwright_connectors::config::ConnectorConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ConnectorConfig::parse(text, "fuzz.toml") {
        Ok(cfg) => {
            let again = ConnectorConfig::parse(&cfg.to_toml(), "again.toml")
                .expect("a loaded config writes back to text that loads");
            assert_eq!(again, cfg);
        }
        Err(e) => assert!(e.to_string().contains("fuzz.toml")),
    }
});
