//! Microsoft Graph answers on arbitrary bytes: the token parser and the sign-in page
//! parser never panic, and an accepted token is never empty.

#![no_main]

use libfuzzer_sys::fuzz_target;

use pushback_connect::graph::{parse_page, token};

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = token::parse(data) {
        assert!(!t.access_token.is_empty());
        assert!(format!("{t:?}").contains("<redacted>"), "the token never prints");
    }
    if let Ok((records, _next)) = parse_page(data) {
        for r in &records {
            let _ = serde_json::to_vec(r).expect("a parsed record serialises");
        }
    }
});
