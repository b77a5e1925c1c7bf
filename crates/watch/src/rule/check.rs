//! Declarative rule tests: the events that go in and the findings that must come out,
//! written beside each rule as `<rule file>.test.yml`.
//!
//! ```yaml
//! rules: [push_flood]              # findings of these rules are compared; others ignored
//! start: 2026-03-02T09:00:00Z      # optional; `at` offsets count from here
//! defaults: {source: okta, vendor_event: user.mfa.okta_verify.deny_push}
//! cases:
//!   - name: five denials in ten minutes
//!     events:                      # AuthEvent JSON, plus `at` (offset from start)
//!       - {at: 0s, kind: push_denied, user: alice}
//!       - {at: 1m, kind: push_denied, user: alice}
//!     findings:                    # in the order reported; only the keys given are compared
//!       - {rule_id: push_flood, user: alice, event_count: 5, severity: high}
//! ```
//!
//! An event without `id` gets `e1`, `e2`, … by position; without `source`,
//! `vendor_event` or `time`/`at`, the defaults apply (`pushback`, `test`). `time` may be
//! milliseconds or an RFC 3339 string. Expected findings may give `rule_id` (required),
//! `user` (`null` for none), `severity`, `event_count`, `event_ids`, `group` (a map),
//! `distinct` (the count of a `value_count`), `window` (`[start, end]` as offsets). A
//! case may set `settings` ([`EngineSettings`]).

use std::collections::BTreeMap;

use pushback_model::{AuthEvent, Finding, Severity};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{RuleError, RuleSet};
use crate::engine::{Engine, EngineSettings};

/// The default `start`: 2026-01-01T00:00:00Z.
const DEFAULT_START: i64 = 1_767_225_600_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    rules: Vec<String>,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    defaults: Map<String, Value>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    events: Vec<Map<String, Value>>,
    #[serde(default)]
    findings: Vec<Expected>,
    #[serde(default)]
    settings: Option<EngineSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    rule_id: String,
    #[serde(default, deserialize_with = "some")]
    user: Option<Option<String>>,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    event_count: Option<u64>,
    #[serde(default)]
    event_ids: Option<Vec<String>>,
    #[serde(default)]
    group: Option<BTreeMap<String, String>>,
    #[serde(default)]
    distinct: Option<u64>,
    #[serde(default)]
    window: Option<[String; 2]>,
}

/// Lets `user: null` mean "no user" while an absent `user` means "not compared".
fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The result of one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseOutcome {
    pub name: String,
    /// What differed, or `None` when the case passed.
    pub failure: Option<String>,
}

/// Parses an offset such as `0`, `90s`, `4m30s`, `1h`, `250ms`.
fn offset(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    let mut total: i64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            let u = match rest.chars().next()? {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                _ => return None,
            };
            (u, 1)
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = &rest[len..];
    }
    Some(total)
}

/// Runs every case of a test file against `rules`.
pub fn run_cases(rules: &RuleSet, origin: &str, text: &str) -> Result<Vec<CaseOutcome>, RuleError> {
    let bad = |rule: &str, message: String| RuleError::Invalid {
        origin: origin.to_owned(),
        rule: rule.to_owned(),
        message,
    };
    let file: CaseFile = serde_norway::from_str(text).map_err(|e| RuleError::Yaml {
        origin: origin.to_owned(),
        message: e.to_string(),
    })?;
    for r in &file.rules {
        if !rules.summaries().any(|s| s.name == r) {
            return Err(bad(
                r,
                "the test file names a rule that is not loaded".into(),
            ));
        }
    }
    let start = match &file.start {
        None => DEFAULT_START,
        Some(s) => crate::timestamp::parse_datetime(s)
            .ok_or_else(|| bad("-", format!("`start: {s}` is not an RFC 3339 time")))?
            .millis(),
    };
    let mut outcomes = Vec::new();
    for case in &file.cases {
        let mut engine = Engine::new(rules.clone(), case.settings.clone().unwrap_or_default());
        let mut found = Vec::new();
        for (i, raw) in case.events.iter().enumerate() {
            let e = event(raw, &file.defaults, start, i)
                .map_err(|m| bad(&case.name, format!("event {}: {m}", i + 1)))?;
            found.extend(engine.observe(e));
        }
        found.extend(engine.finish());
        found.retain(|f| file.rules.contains(&f.rule_id));
        let failure = compare(&case.findings, &found, start).map_err(|m| bad(&case.name, m))?;
        outcomes.push(CaseOutcome {
            name: case.name.clone(),
            failure,
        });
    }
    Ok(outcomes)
}

fn event(
    raw: &Map<String, Value>,
    defaults: &Map<String, Value>,
    start: i64,
    index: usize,
) -> Result<AuthEvent, String> {
    let mut m = Map::new();
    m.insert("id".into(), Value::from(format!("e{}", index + 1)));
    m.insert("source".into(), Value::from("pushback"));
    m.insert("vendor_event".into(), Value::from("test"));
    m.extend(defaults.iter().map(|(k, v)| (k.clone(), v.clone())));
    m.extend(raw.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(at) = m.remove("at") {
        let text = match &at {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let ms =
            offset(&text).ok_or_else(|| format!("`at: {text}` is not an offset like 4m30s"))?;
        m.insert("time".into(), Value::from(start + ms));
    }
    if let Some(Value::String(s)) = m.get("time") {
        let t = crate::timestamp::parse_datetime(s)
            .ok_or_else(|| format!("`time: {s}` is not an RFC 3339 time"))?;
        m.insert("time".into(), Value::from(t.millis()));
    }
    if !m.contains_key("time") {
        return Err("no `at` or `time`".into());
    }
    serde_json::from_value(Value::Object(m)).map_err(|e| e.to_string())
}

/// A one-line picture of a finding, for failure messages.
fn brief(f: &Finding, start: i64) -> String {
    format!(
        "{{rule_id: {}, user: {}, severity: {}, event_count: {}, window: [{}ms, {}ms], group: {:?}}}",
        f.rule_id,
        f.user.as_deref().unwrap_or("null"),
        f.severity,
        f.event_count,
        f.window_start.millis() - start,
        f.window_end.millis() - start,
        f.group,
    )
}

fn compare(expected: &[Expected], found: &[Finding], start: i64) -> Result<Option<String>, String> {
    let all = || {
        found
            .iter()
            .map(|f| brief(f, start))
            .collect::<Vec<_>>()
            .join("\n  ")
    };
    if expected.len() != found.len() {
        return Ok(Some(format!(
            "expected {} finding(s), got {}:\n  {}",
            expected.len(),
            found.len(),
            all()
        )));
    }
    for (i, (x, f)) in expected.iter().zip(found).enumerate() {
        let mut diffs = Vec::new();
        if x.rule_id != f.rule_id {
            diffs.push(format!("rule_id {} != {}", f.rule_id, x.rule_id));
        }
        if let Some(u) = &x.user
            && *u != f.user
        {
            diffs.push(format!("user {:?} != {u:?}", f.user));
        }
        if let Some(s) = x.severity
            && s != f.severity
        {
            diffs.push(format!("severity {} != {s}", f.severity));
        }
        if let Some(n) = x.event_count
            && n != f.event_count
        {
            diffs.push(format!("event_count {} != {n}", f.event_count));
        }
        if let Some(ids) = &x.event_ids
            && *ids != f.event_ids
        {
            diffs.push(format!("event_ids {:?} != {ids:?}", f.event_ids));
        }
        if let Some(g) = &x.group {
            let actual: BTreeMap<String, String> = f.group.iter().cloned().collect();
            if *g != actual {
                diffs.push(format!("group {actual:?} != {g:?}"));
            }
        }
        if let Some(n) = x.distinct
            && Some(n) != f.distinct.as_ref().map(|d| d.count)
        {
            diffs.push(format!(
                "distinct {:?} != {n}",
                f.distinct.as_ref().map(|d| d.count)
            ));
        }
        if let Some([a, b]) = &x.window {
            let a = offset(a).ok_or_else(|| format!("window start `{a}` is not an offset"))?;
            let b = offset(b).ok_or_else(|| format!("window end `{b}` is not an offset"))?;
            let actual = (
                f.window_start.millis() - start,
                f.window_end.millis() - start,
            );
            if actual != (a, b) {
                diffs.push(format!("window {actual:?} ms != ({a}, {b}) ms"));
            }
        }
        if !diffs.is_empty() {
            return Ok(Some(format!(
                "finding {} differs: {}\n  got:\n  {}",
                i + 1,
                diffs.join("; "),
                all()
            )));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(offset("0"), Some(0));
        assert_eq!(offset("90s"), Some(90_000));
        assert_eq!(offset("4m30s"), Some(270_000));
        assert_eq!(offset("1h"), Some(3_600_000));
        assert_eq!(offset("250ms"), Some(250));
        assert_eq!(offset("4x"), None);
        assert_eq!(offset("m"), None);
    }

    const RULE: &str = "title: Fraud\nname: fraud\nlogsource: {product: pushback, category: mfa}\n\
                        detection: {s: {kind: user_reported_fraud}, condition: s}\nlevel: high\n";

    fn rules() -> RuleSet {
        RuleSet::load(&[vec![super::super::RuleSource::new("f.yml", RULE)]]).expect("loads")
    }

    #[test]
    fn a_passing_and_a_failing_case() {
        let text = "rules: [fraud]\ncases:\n\
                    - name: reported\n  events: [{at: 1m, kind: user_reported_fraud, user: bob}]\n  \
                      findings: [{rule_id: fraud, user: bob, severity: high, event_ids: [e1], window: [1m, 1m]}]\n\
                    - name: wrong expectation\n  events: [{at: 0, kind: user_reported_fraud, user: bob}]\n  \
                      findings: [{rule_id: fraud, user: alice}]\n\
                    - name: nothing\n  events: [{at: 0, kind: push_sent, user: bob}]\n  findings: []\n";
        let out = run_cases(&rules(), "f.test.yml", text).expect("runs");
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].failure, None);
        let f = out[1].failure.as_deref().expect("fails");
        assert!(f.contains("user Some(\"bob\") != Some(\"alice\")"), "{f}");
        assert_eq!(out[2].failure, None);
    }

    #[test]
    fn malformed_test_files_are_errors_not_failures() {
        let err =
            run_cases(&rules(), "f.test.yml", "rules: [nope]\ncases: []\n").expect_err("unknown");
        assert!(err.to_string().contains("not loaded"), "{err}");
        let err = run_cases(
            &rules(),
            "f.test.yml",
            "rules: [fraud]\ncases: [{name: x, events: [{kind: other, user: a}]}]\n",
        )
        .expect_err("no time");
        assert!(err.to_string().contains("no `at` or `time`"), "{err}");
        assert!(
            run_cases(
                &rules(),
                "f.test.yml",
                "rules: [fraud]\ncases: []\nextra: 1\n"
            )
            .is_err()
        );
    }
}
