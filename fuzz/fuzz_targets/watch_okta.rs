//! The Okta System Log normaliser on arbitrary bytes: never panics, and every event it
//! makes is an Okta event that survives a JSON round trip unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;

use pushback_model::{AuthEvent, EventSource};
use pushback_watch::source::okta;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = okta::normalise(data) {
        for e in n.events() {
            assert_eq!(e.source, EventSource::Okta);
            let json = serde_json::to_string(e).expect("an event serialises");
            let back: AuthEvent = serde_json::from_str(&json).expect("an event parses back");
            assert_eq!(&back, e);
        }
    }
});
