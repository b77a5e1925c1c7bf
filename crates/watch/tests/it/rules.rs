//! The built-in rules against their declarative cases (`rules/*.test.yml`), loading a
//! user's rules directory, and the engine over the built-in rules with shuffled input.

use std::path::PathBuf;

use pushback_model::{AuthEvent, EventKind, EventSource, Finding, Timestamp};
use pushback_watch::rule::check::run_cases;
use pushback_watch::rule::{RuleError, RuleSet, read_rule_dir};
use pushback_watch::{Engine, EngineSettings};

fn rules_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

#[test]
fn every_builtin_rule_passes_its_declarative_cases() {
    let rules = RuleSet::builtin().expect("built-in rules load");
    let mut cases = 0;
    let mut failures = Vec::new();
    for source in RuleSet::builtin_sources() {
        let file = source.origin.trim_start_matches("builtin:");
        let test = rules_dir().join(file.replace(".yml", ".test.yml"));
        let text = std::fs::read_to_string(&test).unwrap_or_else(|e| {
            panic!("{}: every rule file needs a test file: {e}", test.display())
        });
        let outcomes =
            run_cases(&rules, &test.display().to_string(), &text).unwrap_or_else(|e| panic!("{e}"));
        assert!(!outcomes.is_empty(), "{} has no cases", test.display());
        for o in outcomes {
            cases += 1;
            if let Some(f) = o.failure {
                failures.push(format!("{file} / {}: {f}", o.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(cases >= 20, "{cases} cases");
}

#[test]
fn the_rules_directory_and_the_embedded_list_agree() {
    let on_disk: Vec<String> = read_rule_dir(&rules_dir())
        .expect("rules/ reads")
        .iter()
        .map(|s| {
            PathBuf::from(&s.origin)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let mut embedded: Vec<String> = RuleSet::builtin_sources()
        .iter()
        .map(|s| s.origin.trim_start_matches("builtin:").to_owned())
        .collect();
    embedded.sort();
    assert_eq!(on_disk, embedded, "add new rule files to rule/builtin.rs");
    for source in RuleSet::builtin_sources() {
        let file = rules_dir().join(source.origin.trim_start_matches("builtin:"));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), source.text);
    }
}

#[test]
fn a_declarative_case_can_fail() {
    let rules = RuleSet::builtin().unwrap();
    let text = "rules: [push_flood]\ncases:\n  - name: four is not five\n    events:\n".to_owned()
        + &(0..4)
            .map(|i| format!("      - {{at: {i}m, kind: push_denied, user: a}}\n"))
            .collect::<String>()
        + "    findings: [{rule_id: push_flood, user: a}]\n";
    let out = run_cases(&rules, "wrong.test.yml", &text).unwrap();
    let failure = out[0].failure.as_deref().expect("the case must fail");
    assert!(
        failure.contains("expected 1 finding(s), got 0"),
        "{failure}"
    );
}

#[test]
fn a_users_directory_overrides_builtins_by_name_and_adds_rules() {
    let dir = tempfile::tempdir().unwrap();
    // Count timeouts too, for every rule built on push_denial.
    std::fs::write(
        dir.path().join("push_denial.yml"),
        "title: Push denied or unanswered\nname: push_denial\n\
         logsource: {product: pushback, category: mfa}\n\
         detection: {s: {kind: [push_denied, push_timeout]}, condition: s}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("vip.yml"),
        "title: VIP prompt\nname: vip_prompt\nlevel: low\n\
         logsource: {product: pushback, category: mfa}\n\
         detection: {s: {kind: push_sent, user|endswith: '@board.example.com'}, condition: s}\n",
    )
    .unwrap();
    let rules = RuleSet::builtin_with_dir(dir.path()).unwrap();
    let mut engine = Engine::new(rules, EngineSettings::default());
    let mut found = Vec::new();
    for i in 0..5 {
        found.extend(engine.observe(ev(
            &format!("t{i}"),
            i * 60_000,
            EventKind::PushTimeout,
            "a",
        )));
    }
    found.extend(engine.observe(ev(
        "v",
        400_000,
        EventKind::PushSent,
        "ceo@BOARD.example.com",
    )));
    found.extend(engine.finish());
    let ids: Vec<&str> = found.iter().map(|f| f.rule_id.as_str()).collect();
    assert_eq!(ids, ["push_flood", "vip_prompt"]);
}

#[test]
fn a_rule_with_an_unsupported_modifier_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("encoded.yml"),
        "title: Encoded\nname: encoded_reason\nlogsource: {product: pushback, category: mfa}\n\
         detection: {s: {reason|base64offset|contains: fraud}, condition: s}\n",
    )
    .unwrap();
    let err = RuleSet::builtin_with_dir(dir.path()).expect_err("refused");
    assert!(matches!(err, RuleError::Unsupported { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("encoded.yml")
            && msg.contains("rule `encoded_reason`")
            && msg.contains("modifier `base64offset`"),
        "{msg}"
    );
}

#[test]
fn a_rule_for_another_log_source_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("win.yml"),
        "title: Logon\nname: logon\nlogsource: {product: windows, service: security}\n\
         detection: {s: {EventID: 4625}, condition: s}\n",
    )
    .unwrap();
    let msg = RuleSet::builtin_with_dir(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("win.yml") && msg.contains("not pushback's"),
        "{msg}"
    );
}

fn ev(id: &str, at: i64, kind: EventKind, user: &str) -> AuthEvent {
    AuthEvent::new(
        id,
        Timestamp::from_millis(1_767_225_600_000 + at),
        EventSource::Okta,
        kind,
        user,
        "test",
    )
}

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// A mixed stream: floods, approvals, sprays from a few addresses, sessions, fraud
/// reports, country mismatches.
fn stream(n: usize) -> Vec<AuthEvent> {
    let kinds = [
        EventKind::PushDenied,
        EventKind::PushDenied,
        EventKind::PushDenied,
        EventKind::PushTimeout,
        EventKind::PushSent,
        EventKind::MfaSuccess,
        EventKind::SessionStart,
        EventKind::UserReportedFraud,
        EventKind::Other,
    ];
    let mut g = Lcg(11);
    let mut t = 0;
    (0..n)
        .map(|i| {
            t += i64::try_from(g.below(15_000)).unwrap();
            let kind = kinds[usize::try_from(g.below(kinds.len() as u64)).unwrap()];
            let mut e = ev(&format!("e{i}"), t, kind, &format!("user{}", g.below(12)));
            e.session = Some(format!("s{}", g.below(4)).into());
            e.src_ip = Some(format!("203.0.113.{}", g.below(3)).parse().unwrap());
            if g.below(20) == 0 {
                e.src_country = Some("Romania".into());
                e.answer_country = Some("Germany".into());
            }
            e
        })
        .collect()
}

fn run(events: Vec<AuthEvent>, settings: &EngineSettings) -> (Vec<Finding>, u64) {
    let mut engine = Engine::new(RuleSet::builtin().unwrap(), settings.clone());
    let mut out = Vec::new();
    for e in events {
        engine.observe_into(e, &mut out);
    }
    out.extend(engine.finish());
    (out, engine.stats().late)
}

#[test]
fn shuffling_within_the_tolerance_gives_the_same_findings_as_sorted_input() {
    let settings = EngineSettings::default();
    let sorted = stream(4_000);
    let (expected, _) = run(sorted.clone(), &settings);
    let mut by_rule: Vec<&str> = expected.iter().map(|f| f.rule_id.as_str()).collect();
    by_rule.sort_unstable();
    by_rule.dedup();
    assert!(
        by_rule.len() >= 5,
        "the stream must exercise several rules: {by_rule:?}"
    );
    let tolerance = u64::try_from(settings.disorder_tolerance_ms).unwrap();
    for seed in [1, 2, 3] {
        let mut g = Lcg(seed);
        let mut keyed: Vec<(i64, AuthEvent)> = sorted
            .iter()
            .map(|e| {
                (
                    e.time.millis() + i64::try_from(g.below(tolerance)).unwrap(),
                    e.clone(),
                )
            })
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        let shuffled: Vec<AuthEvent> = keyed.into_iter().map(|(_, e)| e).collect();
        assert_ne!(shuffled, sorted);
        let (got, late) = run(shuffled, &settings);
        assert_eq!(late, 0, "seed {seed}");
        assert_eq!(got, expected, "seed {seed}");
    }
    // Beyond the tolerance, events are late and counted.
    let mut reversed = sorted;
    reversed.reverse();
    let (_, late) = run(reversed, &settings);
    assert!(late > 3_000, "{late}");
}
