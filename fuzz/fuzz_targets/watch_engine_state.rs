//! A saved engine state read back (`Engine::restore_state`): whatever text the database
//! holds, restoring never panics, and an engine that took it up then judges events of
//! every kind and finishes without panicking either (a state that points nowhere, or
//! whose windows have the wrong shape, must be refused, not trusted).

#![no_main]

use libfuzzer_sys::fuzz_target;

use pushback_model::{AuthEvent, EventKind, EventSource, Timestamp};
use pushback_watch::rule::RuleSet;
use pushback_watch::{Engine, EngineSettings};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let rules = RuleSet::builtin().expect("the built-in rules load");
    let settings = EngineSettings {
        disorder_tolerance_ms: 1_000,
        max_groups_per_rule: 4,
    };
    let mut engine = Engine::new(rules, settings);
    if engine.restore_state(text).is_err() {
        return;
    }
    let _ = engine.save_state();
    for (i, kind) in EventKind::ALL.iter().cycle().take(32).enumerate() {
        let i = i as i64;
        let e = AuthEvent::new(
            format!("e{i}"),
            Timestamp::from_millis(i * 60_000),
            EventSource::Okta,
            *kind,
            format!("user{}", i % 3),
            "fuzz",
        );
        let _ = engine.observe(e);
    }
    let _ = engine.set_hold(None);
    let _ = engine.tick(Timestamp::from_millis(i64::MAX / 2));
    let _ = engine.finish();
});
