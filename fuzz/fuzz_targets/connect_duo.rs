//! Vendor answers on arbitrary bytes: the Duo authentication-log page parser, the
//! vendor error summariser and the `Retry-After` parser never panic; a summary is one short
//! line.

#![no_main]

use libfuzzer_sys::fuzz_target;

use pushback_connect::duo::parse_page;
use pushback_connect::{error_summary, parse_retry_after};
use pushback_model::Timestamp;

fuzz_target!(|data: &[u8]| {
    let _ = parse_page(data);
    let summary = error_summary(data);
    assert!(summary.chars().count() <= 300);
    assert!(!summary.contains('\n'));
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_retry_after(text, Timestamp::from_millis(1_700_000_000_000));
    }
});
