//! The Entra sign-in normaliser on arbitrary bytes: never panics, every event survives
//! a JSON round trip, and the flow-step memory makes a second reading of the same row
//! either a repeat (skipped) or exactly the same events, never something else.

#![no_main]

use libfuzzer_sys::fuzz_target;

use pushback_model::{AuthEvent, EventSource};
use pushback_watch::source::entra;
use pushback_watch::source::flow::FlowSteps;
use pushback_watch::{Normalised, Skip};

fuzz_target!(|data: &[u8]| {
    let mut flows = FlowSteps::new(8);
    let Ok(first) = entra::normalise(data, &mut flows) else {
        return;
    };
    for e in first.events() {
        assert_eq!(e.source, EventSource::Entra);
        let json = serde_json::to_string(e).expect("an event serialises");
        let back: AuthEvent = serde_json::from_str(&json).expect("an event parses back");
        assert_eq!(&back, e);
    }
    let second = entra::normalise(data, &mut flows).expect("the same bytes normalise again");
    match (&first, &second) {
        (Normalised::Events(_), Normalised::Skipped(Skip::RepeatedStep)) => {}
        _ => assert_eq!(first, second),
    }
    assert!(flows.len() <= 8);
});
