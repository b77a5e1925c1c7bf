//! The Duo authentication-log normaliser on arbitrary bytes: never panics, every event
//! is a Duo event that survives a JSON round trip, and only a record naming detections
//! gets a `vendor_risk` twin.

#![no_main]

use libfuzzer_sys::fuzz_target;

use pushback_model::{AuthEvent, EventKind, EventSource};
use pushback_watch::Normalised;
use pushback_watch::source::duo;

fuzz_target!(|data: &[u8]| {
    if let Ok(Normalised::Events(events)) = duo::normalise(data) {
        if let Some(twin) = &events.risk {
            assert_eq!(twin.kind, EventKind::VendorRisk);
            assert!(!events.event.risk_detections.is_empty());
            assert_eq!(twin.id, events.event.id);
        }
        for e in events {
            assert_eq!(e.source, EventSource::Duo);
            let json = serde_json::to_string(&e).expect("an event serialises");
            let back: AuthEvent = serde_json::from_str(&json).expect("an event parses back");
            assert_eq!(back, *e);
        }
    }
});
