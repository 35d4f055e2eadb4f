//! End-to-end tests of the whole system live in `tests/`; this library holds their shared helpers.

pub mod webdriver;
