//! The governance registry (`pushback_govern::registry::Registry::parse`) and incident
//! timelines (`Timeline::parse`). Parsing never panics; every problem of a refused
//! registry has a position inside the input; a registry that parses yields defects,
//! an assessment, OSCAL documents and, with a fixed timeline, an accountability report
//! without panicking, and every defect's line lies inside the input.

#![no_main]

use libfuzzer_sys::fuzz_target;

use pushback_govern::date::Day;
use pushback_govern::posture::{Inputs, assess};
use pushback_govern::registry::Registry;
use pushback_govern::timeline::Timeline;
use pushback_govern::{accountability, oscal, render};

const TIMELINE: &str = "incident: F\nuser: u\napp: a\nevents:\n  - {at: \"2026-04-01T10:00:00Z\", kind: prompt-sent}\n  - {at: \"2026-04-01T10:01:00Z\", kind: helpdesk-reset, verified: false}\n  - {at: \"2026-04-01T10:02:00Z\", kind: prompt-approved}\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // YAML breaks lines at \n, \r\n and a lone \r; the last position is the end.
    let breaks = text.matches('\n').count() + text.matches('\r').count()
        - text.matches("\r\n").count();
    let lines = breaks + 1;
    // The same bytes as a timeline.
    if let Ok(t) = Timeline::parse("t.yaml", text) {
        let _ = t.threshold_crossed();
    }
    let registry = match Registry::parse("r.yaml", text) {
        Ok(r) => r,
        Err(e) => {
            assert!(!e.problems.is_empty());
            for p in &e.problems {
                assert!(p.pos.line >= 1 && p.pos.line <= lines, "{p} outside the input");
            }
            return;
        }
    };
    let today = Day::parse("2026-06-01").expect("a day");
    for d in registry.defects(today) {
        assert!(d.line >= 1 && d.line <= lines, "{d} outside the input");
    }
    let a = assess(&Inputs::default(), Some(&registry), today);
    let _ = render::assessment_html(&a);
    let _ = oscal::component_definition(&registry, today.start());
    let _ = oscal::poam(&registry, today, today.start());
    let timeline = Timeline::parse("t.yaml", TIMELINE).expect("the fixed timeline parses");
    let report = accountability::report(&registry, &timeline);
    let _ = render::report_markdown(&report);
    let _ = render::report_json(&report);
});
