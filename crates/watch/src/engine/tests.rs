//! Windows with exact times, episodes, eviction, disorder and lateness.

use pushback_model::{AuthEvent, EventKind, EventSource, Finding, Timestamp};

use super::{Engine, EngineSettings};
use crate::rule::{RuleSet, RuleSource};

const MIN: i64 = 60_000;

const DENY: &str = "title: Deny\nname: deny\nlogsource: {product: pushback, category: mfa}\n\
                    detection: {s: {kind: push_denied}, condition: s}\n";
const OK: &str = "title: Ok\nname: ok\nlogsource: {product: pushback, category: mfa}\n\
                  detection: {s: {kind: mfa_success}, condition: s}\n";

fn flood(condition: &str) -> String {
    format!(
        "title: Flood\nname: flood\nlevel: high\ntags: [attack.t1621]\n\
         correlation: {{type: event_count, rules: [deny], group-by: [user], timespan: 10m, \
         condition: {condition}}}\n---\n{DENY}"
    )
}

fn engine(text: &str, settings: EngineSettings) -> Engine {
    let rules = RuleSet::load(&[vec![RuleSource::new("t.yml", text)]]).expect("rules load");
    Engine::new(rules, settings)
}

fn no_disorder() -> EngineSettings {
    EngineSettings {
        disorder_tolerance_ms: 0,
        ..EngineSettings::default()
    }
}

fn ev(id: &str, at_ms: i64, kind: EventKind, user: &str) -> AuthEvent {
    AuthEvent::new(
        id,
        Timestamp::from_millis(at_ms),
        EventSource::Okta,
        kind,
        user,
        "test",
    )
}

fn run(engine: &mut Engine, events: impl IntoIterator<Item = AuthEvent>) -> Vec<Finding> {
    let mut out = Vec::new();
    for e in events {
        engine.observe_into(e, &mut out);
    }
    out.extend(engine.finish());
    out
}

fn denies(user: &str, minutes: &[i64]) -> Vec<AuthEvent> {
    minutes
        .iter()
        .enumerate()
        .map(|(i, m)| ev(&format!("{user}{i}"), m * MIN, EventKind::PushDenied, user))
        .collect()
}

#[test]
fn an_event_count_fires_once_at_the_crossing_event_with_its_window() {
    let mut e = engine(&flood("{gte: 5}"), no_disorder());
    let found = run(&mut e, denies("alice", &[0, 1, 2, 3, 4, 5, 6]));
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(f.rule_id, "flood");
    assert_eq!(f.user.as_deref(), Some("alice"));
    assert_eq!(f.source, Some(EventSource::Okta));
    assert_eq!(f.event_count, 5);
    assert_eq!(
        f.event_ids,
        ["alice0", "alice1", "alice2", "alice3", "alice4"]
    );
    assert_eq!(f.window_start, Timestamp::from_millis(0));
    assert_eq!(f.window_end, Timestamp::from_millis(4 * MIN));
    assert_eq!(f.group, [("user".to_owned(), "alice".to_owned())]);
    assert_eq!(f.tags, ["attack.t1621"]);
    assert_eq!(e.stats().findings, 1);
    assert_eq!(e.stats().evaluated, 7);
}

#[test]
fn the_window_includes_an_event_exactly_one_timespan_old() {
    let mut e = engine(&flood("{gte: 5}"), no_disorder());
    assert_eq!(run(&mut e, denies("a", &[0, 1, 2, 3, 10])).len(), 1);
    let mut e = engine(&flood("{gte: 5}"), no_disorder());
    let mut late_fifth = denies("a", &[0, 1, 2, 3]);
    late_fifth.push(ev("a4", 10 * MIN + 1, EventKind::PushDenied, "a"));
    assert!(run(&mut e, late_fifth).is_empty());
}

#[test]
fn a_group_re_arms_one_timespan_after_it_fired() {
    let mut e = engine(&flood("{gte: 5}"), no_disorder());
    // Fires at minute 4; quiet until minute 14 (inclusive); counts afresh from 15.
    let minutes: Vec<i64> = (0..=20).collect();
    let found = run(&mut e, denies("a", &minutes));
    let ends: Vec<i64> = found.iter().map(|f| f.window_end.millis() / MIN).collect();
    assert_eq!(ends, [4, 19], "one finding per episode");
    assert_eq!(found[1].window_start.millis(), 15 * MIN);
}

#[test]
fn groups_are_separate() {
    let mut e = engine(&flood("{gte: 3}"), no_disorder());
    let mut events = denies("a", &[0, 2, 4]);
    events.extend(denies("b", &[1, 3]));
    events.sort_by_key(|e| e.time);
    let found = run(&mut e, events);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].user.as_deref(), Some("a"));
}

#[test]
fn an_upper_bound_is_judged_when_the_window_closes() {
    let mut e = engine(&flood("{lt: 3}"), no_disorder());
    let mut events = denies("few", &[0, 5]);
    events.extend(denies("many", &[1, 2, 3]));
    events.push(ev("tick", 30 * MIN, EventKind::PushSent, "x"));
    events.sort_by_key(|e| e.time);
    let mut out = Vec::new();
    for ev in events {
        e.observe_into(ev, &mut out);
    }
    assert_eq!(out.len(), 1, "judged once time passed 10 min: {out:#?}");
    assert_eq!(out[0].user.as_deref(), Some("few"));
    assert_eq!(out[0].event_count, 2);
    assert_eq!(out[0].window_start.millis(), 0);
    assert_eq!(out[0].window_end.millis(), 5 * MIN);
    assert!(e.finish().is_empty());

    // A window still open at the end of input is judged by finish().
    let mut e = engine(&flood("{eq: 2}"), no_disorder());
    let mut out = Vec::new();
    for ev in denies("u", &[0, 1]) {
        e.observe_into(ev, &mut out);
    }
    assert!(out.is_empty());
    assert_eq!(e.finish().len(), 1);
}

#[test]
fn a_value_count_counts_distinct_values_per_group() {
    let text = format!(
        "title: Spray\nname: spray\ncorrelation: {{type: value_count, rules: [deny], \
         group-by: [src_ip], timespan: 10m, condition: {{field: user, gte: 3}}}}\n---\n{DENY}"
    );
    let mut e = engine(&text, no_disorder());
    let mut events = Vec::new();
    for (i, user) in ["u1", "u1", "u2", "u1", "u3", "u4"].iter().enumerate() {
        let mut x = ev(
            &format!("e{i}"),
            i as i64 * MIN,
            EventKind::PushDenied,
            user,
        );
        x.src_ip = Some("198.51.100.7".parse().expect("ip"));
        events.push(x);
    }
    let mut other = ev("o", 30_000, EventKind::PushDenied, "u9");
    other.src_ip = Some("198.51.100.8".parse().expect("ip"));
    events.push(other);
    events.push(ev("no-ip", 40_000, EventKind::PushDenied, "u8"));
    events.sort_by_key(|e| e.time);
    let found = run(&mut e, events);
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = &found[0];
    assert_eq!(f.user, None, "several users");
    assert_eq!(f.group_value("src_ip"), Some("198.51.100.7"));
    assert_eq!(f.event_count, 5, "events of u1, u2, u3 in the window");
    assert_eq!(f.window_end.millis(), 4 * MIN);
    let d = f.distinct.as_ref().expect("distinct values");
    assert_eq!((d.field.as_str(), d.count), ("user", 3));
    assert_eq!(d.values, ["u1", "u2", "u3"]);
}

fn flood_then_ok() -> String {
    format!(
        "title: Then\nname: then\nlevel: critical\ncorrelation: {{type: temporal_ordered, \
         rules: [flood, ok], group-by: [user], timespan: 10m}}\n---\n{}\n---\n{OK}",
        flood("{gte: 3}")
    )
}

#[test]
fn temporal_ordered_needs_the_steps_in_order_within_the_timespan() {
    let mut e = engine(&flood_then_ok(), no_disorder());
    let mut events = denies("a", &[0, 1, 2]);
    events.push(ev("ok", 5 * MIN, EventKind::MfaSuccess, "a"));
    let found = run(&mut e, events);
    let ids: Vec<&str> = found.iter().map(|f| f.rule_id.as_str()).collect();
    assert_eq!(
        ids,
        ["then"],
        "the flood feeds `then` and, referred to, reports nothing"
    );
    let f = &found[0];
    assert_eq!(f.event_count, 4);
    assert_eq!(f.event_ids, ["a0", "a1", "a2", "ok"]);
    assert_eq!(f.window_start.millis(), 0);
    assert_eq!(f.window_end.millis(), 5 * MIN);

    // Success first: no sequence.
    let mut e = engine(&flood_then_ok(), no_disorder());
    let mut events = vec![ev("ok", 0, EventKind::MfaSuccess, "a")];
    events.extend(denies("a", &[1, 2, 3]));
    assert!(run(&mut e, events).is_empty());

    // Success more than a timespan after the flood completed.
    let mut e = engine(&flood_then_ok(), no_disorder());
    let mut events = denies("a", &[0, 1, 2]);
    events.push(ev("ok", 12 * MIN + 1, EventKind::MfaSuccess, "a"));
    assert!(run(&mut e, events).is_empty());

    // Another user's success does not complete it.
    let mut e = engine(&flood_then_ok(), no_disorder());
    let mut events = denies("a", &[0, 1, 2]);
    events.push(ev("ok", 3 * MIN, EventKind::MfaSuccess, "b"));
    assert!(run(&mut e, events).is_empty());
}

#[test]
fn temporal_counts_distinct_rules_in_any_order() {
    let text = format!(
        "title: Both\nname: both\ncorrelation: {{type: temporal, rules: [ok, deny], \
         group-by: [user], timespan: 5m}}\n---\n{DENY}---\n{OK}"
    );
    let mut e = engine(&text, no_disorder());
    let events = vec![
        ev("d", 0, EventKind::PushDenied, "a"),
        ev("o", 4 * MIN, EventKind::MfaSuccess, "a"),
        ev("o2", 20 * MIN, EventKind::MfaSuccess, "b"),
        ev("d2", 26 * MIN, EventKind::PushDenied, "b"),
    ];
    let found = run(&mut e, events);
    assert_eq!(found.len(), 1, "b's pair is 6 minutes apart: {found:#?}");
    assert_eq!(found[0].event_ids, ["d", "o"]);
}

#[test]
fn a_full_table_evicts_the_least_recently_seen_group_and_counts_it() {
    let settings = EngineSettings {
        disorder_tolerance_ms: 0,
        max_groups_per_rule: 2,
    };
    let mut e = engine(&flood("{gte: 3}"), settings);
    // a, b, c interleave: three live groups, room for two.
    let mut events = Vec::new();
    for m in 0..3 {
        for u in ["a", "b", "c"] {
            events.push(ev(
                &format!("{u}{m}"),
                m * MIN + i64::from(u.as_bytes()[0]),
                EventKind::PushDenied,
                u,
            ));
        }
    }
    let found = run(&mut e, events);
    let stats = e.stats();
    assert!(stats.evicted_groups >= 6, "{stats:?}");
    assert!(stats.groups <= 2, "{stats:?}");
    assert!(
        found.is_empty(),
        "every group was evicted before its third deny"
    );
}

#[test]
fn state_stays_bounded_over_a_long_input() {
    let settings = EngineSettings {
        disorder_tolerance_ms: 60_000,
        max_groups_per_rule: 50,
    };
    let mut e = engine(&flood("{gte: 5}"), settings);
    let mut out = Vec::new();
    for i in 0..20_000i64 {
        e.observe_into(
            ev(
                "x",
                i * 10,
                EventKind::PushDenied,
                &format!("user{}", i % 5_000),
            ),
            &mut out,
        );
        let s = e.stats();
        assert!(s.groups <= 50 && s.buffered <= 6_001, "{s:?}");
    }
}

#[test]
fn events_older_than_the_watermark_are_late_and_dropped() {
    let settings = EngineSettings {
        disorder_tolerance_ms: 2 * MIN,
        ..EngineSettings::default()
    };
    let mut e = engine(&flood("{gte: 3}"), settings);
    let mut out = Vec::new();
    e.observe_into(ev("a1", 10 * MIN, EventKind::PushDenied, "a"), &mut out);
    e.observe_into(ev("a0", 8 * MIN, EventKind::PushDenied, "a"), &mut out); // at the watermark: in time
    e.observe_into(ev("old", 7 * MIN, EventKind::PushDenied, "a"), &mut out); // late
    e.observe_into(ev("a2", 11 * MIN, EventKind::PushDenied, "a"), &mut out);
    assert_eq!(e.watermark(), Some(Timestamp::from_millis(9 * MIN)));
    out.extend(e.finish());
    assert_eq!(e.stats().late, 1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_ids, ["a0", "a1", "a2"]);
}

#[test]
fn spent_events_come_back_in_evaluation_order_only_when_asked_for() {
    let settings = EngineSettings {
        disorder_tolerance_ms: MIN,
        ..EngineSettings::default()
    };
    let events = [("b", 2), ("a", 1), ("c", 3), ("late", 0), ("d", 10)]
        .map(|(id, m)| ev(id, m * MIN, EventKind::PushDenied, "u"));
    let mut dropping = engine(&flood("{gte: 3}"), settings.clone());
    let want = run(&mut dropping, events.clone());
    assert_eq!(dropping.spent_len(), 0);
    assert!(dropping.take_spent().is_empty(), "kept only when asked for");

    let mut keeping = engine(&flood("{gte: 3}"), settings);
    keeping.keep_spent(true);
    let mut found = Vec::new();
    let mut spent = Vec::new();
    for e in events {
        keeping.observe_into(e, &mut found);
        spent.extend(keeping.take_spent());
    }
    // `d` moved the watermark past a, b and c; `late` was dropped as late.
    assert_eq!(ids(&spent), ["a", "b", "c"]);
    found.extend(keeping.finish());
    spent.extend(keeping.take_spent());
    assert_eq!(ids(&spent), ["a", "b", "c", "d"]);
    assert_eq!(found, want, "keeping spent events changes no finding");
    keeping.keep_spent(false);
    assert_eq!(keeping.spent_len(), 0);
}

fn ids(events: &[Box<AuthEvent>]) -> Vec<&str> {
    events.iter().map(|e| &*e.id).collect()
}

#[test]
fn tick_releases_held_events_when_the_source_is_quiet() {
    let mut e = engine(&flood("{gte: 2}"), EngineSettings::default());
    let mut out = Vec::new();
    e.observe_into(ev("a0", 0, EventKind::PushDenied, "a"), &mut out);
    e.observe_into(ev("a1", MIN, EventKind::PushDenied, "a"), &mut out);
    assert!(out.is_empty(), "held for the five-minute tolerance");
    assert_eq!(e.stats().buffered, 2);
    assert!(
        e.tick(Timestamp::from_millis(5 * MIN)).is_empty(),
        "a1 is still within tolerance"
    );
    let found = e.tick(Timestamp::from_millis(6 * MIN + 1));
    assert_eq!(found.len(), 1);
    assert_eq!(e.stats().buffered, 0);
}

/// A tiny deterministic generator, so the shuffles are reproducible without a crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

#[test]
fn any_arrival_order_within_the_tolerance_gives_the_sorted_findings() {
    let tolerance = 3 * MIN;
    let settings = EngineSettings {
        disorder_tolerance_ms: tolerance,
        ..EngineSettings::default()
    };
    let mut g = Lcg(7);
    let kinds = [
        EventKind::PushDenied,
        EventKind::PushDenied,
        EventKind::MfaSuccess,
        EventKind::PushSent,
    ];
    let mut sorted = Vec::new();
    let mut t = 0;
    for i in 0..3_000 {
        t += i64::try_from(g.next(20_000)).expect("small");
        let user = format!("u{}", g.next(6));
        let kind = kinds[usize::try_from(g.next(4)).expect("small")];
        sorted.push(ev(&format!("e{i}"), t, kind, &user));
    }
    let mut e = engine(&flood_then_ok(), settings.clone());
    let expected = run(&mut e, sorted.clone());
    assert!(
        expected.len() > 5,
        "the input must exercise the rule: {}",
        expected.len()
    );
    for seed in 1..6 {
        let mut g = Lcg(seed);
        let u64_tol = u64::try_from(tolerance).expect("positive");
        let mut keyed: Vec<(i64, AuthEvent)> = sorted
            .iter()
            .map(|x| {
                (
                    x.time.millis() + i64::try_from(g.next(u64_tol)).expect("small"),
                    x.clone(),
                )
            })
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        let shuffled: Vec<AuthEvent> = keyed.into_iter().map(|(_, x)| x).collect();
        assert_ne!(shuffled, sorted, "seed {seed} must actually reorder");
        let mut e = engine(&flood_then_ok(), settings.clone());
        let got = run(&mut e, shuffled);
        assert_eq!(e.stats().late, 0, "seed {seed}");
        assert_eq!(got, expected, "seed {seed}");
    }
}

/// Runs `events` through one engine, saving and restoring its state into a new engine
/// before event `cut`; returns the findings and the restore report.
fn run_with_restart(
    text: &str,
    events: &[AuthEvent],
    cut: usize,
    settings: EngineSettings,
) -> (Vec<Finding>, super::Restored) {
    let mut first = engine(text, settings.clone());
    let mut out = Vec::new();
    for e in &events[..cut] {
        first.observe_into(e.clone(), &mut out);
    }
    let saved = first.save_state();
    drop(first);
    let mut second = engine(text, settings);
    let restored = second.restore_state(&saved).expect("the state restores");
    out.extend(run(&mut second, events[cut..].iter().cloned()));
    (out, restored)
}

#[test]
fn a_flood_straddling_a_restart_is_found_once_as_if_there_had_been_none() {
    let text = format!("{}---\n{OK}", flood("{gte: 5}"));
    let mut events = denies("alice", &[0, 1, 2, 3, 4, 5, 6]);
    events.extend(denies("bob", &[1, 2]));
    let settings = EngineSettings {
        disorder_tolerance_ms: 2 * MIN,
        ..EngineSettings::default()
    };
    let whole = run(&mut engine(&text, settings.clone()), events.clone());
    assert_eq!(whole.len(), 1);
    for cut in 1..events.len() {
        let (found, restored) = run_with_restart(&text, &events, cut, settings.clone());
        assert_eq!(found, whole, "restart before event {cut}");
        assert_eq!(restored.windows, 1);
        assert_eq!(restored.dropped_windows, 0);
    }
    // Three denies in (minutes 0 to 2, tolerance 2 minutes), then the restart: all
    // three were still held for reordering.
    let (_, restored) = run_with_restart(&text, &events, 3, settings);
    assert_eq!(restored.events, 3);
}

#[test]
fn a_changed_rule_starts_its_window_afresh_and_held_events_are_kept() {
    let events = denies("alice", &[0, 1, 2, 3, 4]);
    let mut first = engine(&flood("{gte: 5}"), no_disorder());
    for e in &events[..3] {
        assert!(first.observe(e.clone()).is_empty());
    }
    let saved = first.save_state();
    let mut second = engine(&flood("{gte: 4}"), no_disorder());
    let restored = second.restore_state(&saved).expect("restores");
    assert_eq!((restored.windows, restored.dropped_windows), (0, 1));
    assert!(
        run(&mut second, events[3..].iter().cloned()).is_empty(),
        "the changed rule saw two denies"
    );

    let mut bad = engine(&flood("{gte: 5}"), no_disorder());
    assert!(matches!(
        bad.restore_state("{\"format\": 1"),
        Err(super::StateError::Malformed(_))
    ));
    let future = saved.replacen("\"format\":1", "\"format\":99", 1);
    assert!(matches!(
        bad.restore_state(&future),
        Err(super::StateError::Format(99))
    ));
}

#[test]
fn a_saved_window_of_the_wrong_shape_is_refused_not_trusted() {
    let builtin = || Engine::new(RuleSet::builtin().expect("built-ins"), no_disorder());
    let mut first = builtin();
    for e in denies("alice", &[0, 1, 2, 3, 4, 5]) {
        first.observe(e);
    }
    let saved = first.save_state();
    assert!(
        saved.contains("\"Ordered\":["),
        "the flood began a sequence: {saved}"
    );
    assert_eq!(
        builtin()
            .restore_state(&saved)
            .expect("restores")
            .dropped_windows,
        0
    );

    // A sequence with more steps than its rule has, and a counter saved as a sequence:
    // either would index out of bounds if it were taken up.
    for bad in [
        saved.replacen("\"Ordered\":[", "\"Ordered\":[null,null,null,", 1),
        saved.replacen("\"Ordered\":[", "\"Temporal\":[", 1),
        saved.replacen("\"Count\":[", "\"Ordered\":[", 1),
    ] {
        let mut second = builtin();
        // Refused whole (it does not parse as a state) or window by window.
        if let Ok(restored) = second.restore_state(&bad) {
            assert!(restored.dropped_windows >= 1, "{restored:?}");
        }
        let mut out = Vec::new();
        second.observe_into(ev("ok", 6 * MIN, EventKind::MfaSuccess, "alice"), &mut out);
        out.extend(second.finish());
    }
}
