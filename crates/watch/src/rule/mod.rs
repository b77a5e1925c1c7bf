//! Detection rules as data: Sigma YAML (specification 2.0) over pushback's own log
//! source, `logsource: {product: pushback, category: mfa}`, whose fields are the columns
//! of [`AuthEvent`](pushback_model::AuthEvent).
//!
//! - [`sigma`] reads files (several `---`-separated documents each) and checks each
//!   rule's envelope; [`detection`] compiles selections and conditions into typed tests;
//!   [`condition`] is the condition grammar; [`correlation`] reads correlation sections;
//!   [`field`] maps field names to [`AuthEvent`](pushback_model::AuthEvent) accessors.
//! - [`RuleSet`] is the compiled, cross-referenced set the [`Engine`](crate::Engine)
//!   runs: the built-in rules (the repository's `rules/` directory, compiled into the
//!   binary) plus, optionally, a directory of the user's rules that add to them or
//!   replace them by name.
//! - [`check`] runs the declarative cases written beside each rule (`x.test.yml`).
//!
//! Anything pushback cannot evaluate exactly is refused when the rule is loaded, with the
//! file, the rule and the construct named; nothing is silently skipped.
//!
//! # Which rules report
//!
//! A finding's `rule_id` is the rule's `name` (else its `id`). Following the correlation
//! specification, a rule that a correlation refers to is a building block: it reports
//! nothing on its own unless a correlation referring to it says `generate: true`. A rule
//! no correlation refers to reports every match. A rule without `level` reports at
//! medium.
//!
//! ```
//! use pushback_watch::rule::{RuleSet, RuleSource};
//!
//! let mine = RuleSource::new("mine.yml", "
//! title: Push flood, tuned for us
//! name: push_flood
//! correlation: {type: event_count, rules: [push_denial], group-by: [user],
//!               timespan: 5m, condition: {gte: 3}}
//! level: critical
//! ");
//! let rules = RuleSet::load(&[RuleSet::builtin_sources(), vec![mine]]).unwrap();
//! let flood = rules.summaries().find(|r| r.name == "push_flood").unwrap();
//! assert_eq!(flood.origin, "mine.yml"); // replaced the built-in push_flood
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use pushback_model::Severity;

mod builtin;
pub mod check;
pub(crate) mod condition;
pub(crate) mod correlation;
pub(crate) mod detection;
pub(crate) mod field;
pub(crate) mod sigma;

pub(crate) use sigma::{Body, Meta};

/// Why a rule could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// A file is not YAML.
    #[error("{origin}: not valid YAML: {message}")]
    Yaml { origin: String, message: String },
    /// A rule is malformed: a missing or mistyped attribute, an unknown field, a foreign
    /// log source, a bad regular expression or address, …
    #[error("{origin}: rule `{rule}`: {message}")]
    Invalid {
        origin: String,
        rule: String,
        message: String,
    },
    /// A rule uses a Sigma construct that pushback does not evaluate.
    #[error("{origin}: rule `{rule}`: unsupported: {construct}")]
    Unsupported {
        origin: String,
        rule: String,
        construct: String,
    },
    /// Two rules in the same layer (the built-ins, or one directory) share a name.
    #[error("rule `{name}` is defined twice: in {first} and in {second}")]
    Duplicate {
        name: String,
        first: String,
        second: String,
    },
    /// A correlation refers to a rule that is not loaded.
    #[error(
        "{origin}: rule `{rule}` refers to `{reference}`, which no loaded rule has as name or id"
    )]
    UnknownReference {
        origin: String,
        rule: String,
        reference: String,
    },
    /// Correlations refer to each other in a loop.
    #[error("{origin}: rule `{rule}`: its correlation refers back to itself through `{through}`")]
    Cycle {
        origin: String,
        rule: String,
        through: String,
    },
    /// A rules directory or file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A problem found inside one rule, before the file and rule are known to the message.
#[derive(Clone, Debug)]
pub(crate) enum Problem {
    Invalid(String),
    Unsupported(String),
}

impl Problem {
    pub(crate) fn invalid(m: &str) -> Problem {
        Problem::Invalid(m.to_owned())
    }

    pub(crate) fn unsupported(m: &str) -> Problem {
        Problem::Unsupported(m.to_owned())
    }

    /// Prefixes the message with where in the rule it was found.
    pub(crate) fn within(self, context: &str) -> Problem {
        match self {
            Problem::Invalid(m) => Problem::Invalid(format!("{context}: {m}")),
            Problem::Unsupported(m) => Problem::Unsupported(format!("{context}: {m}")),
        }
    }

    pub(crate) fn into_error(self, origin: &str, rule: &str) -> RuleError {
        match self {
            Problem::Invalid(message) => RuleError::Invalid {
                origin: origin.to_owned(),
                rule: rule.to_owned(),
                message,
            },
            Problem::Unsupported(construct) => RuleError::Unsupported {
                origin: origin.to_owned(),
                rule: rule.to_owned(),
                construct,
            },
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Invalid(m) => f.write_str(m),
            Problem::Unsupported(m) => write!(f, "unsupported: {m}"),
        }
    }
}

/// The text of one rule file and where it came from (a path, or a built-in's name).
#[derive(Clone, Debug)]
pub struct RuleSource {
    pub origin: String,
    pub text: String,
}

impl RuleSource {
    pub fn new(origin: impl Into<String>, text: impl Into<String>) -> RuleSource {
        RuleSource {
            origin: origin.into(),
            text: text.into(),
        }
    }
}

/// A compiled rule and its place in the set.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    pub(crate) meta: Meta,
    pub(crate) body: Body,
    /// Whether its matches become findings.
    pub(crate) emits: bool,
    pub(crate) severity: Severity,
    /// The correlations that refer to this rule, with the position of the reference in
    /// their `rules` list; for one correlation, later positions come first.
    pub(crate) parents: Vec<(usize, usize)>,
}

/// What a caller may want to know about a loaded rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSummary<'a> {
    /// The stable name, used as the finding's `rule_id`.
    pub name: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub severity: Severity,
    /// True for a correlation rule.
    pub correlation: bool,
    /// False for a building block that only feeds correlations.
    pub reports: bool,
    pub origin: &'a str,
    pub tags: &'a [String],
}

/// The compiled rules, ready for an [`Engine`](crate::Engine).
#[derive(Clone, Debug)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
}

impl RuleSet {
    /// The rules shipped with pushback.
    pub fn builtin() -> Result<RuleSet, RuleError> {
        RuleSet::load(&[RuleSet::builtin_sources()])
    }

    /// The built-in rule files, for layering under a user's directory.
    pub fn builtin_sources() -> Vec<RuleSource> {
        builtin::FILES
            .iter()
            .map(|(name, text)| RuleSource::new(format!("builtin:{name}"), *text))
            .collect()
    }

    /// The built-in rules plus the rules in `dir` (see [`read_rule_dir`]); a rule in
    /// `dir` with the name of a built-in replaces it.
    pub fn builtin_with_dir(dir: &Path) -> Result<RuleSet, RuleError> {
        RuleSet::load(&[RuleSet::builtin_sources(), read_rule_dir(dir)?])
    }

    /// Compiles layers of rule files. Within a layer names must be unique; a later
    /// layer's rule replaces an earlier layer's rule of the same name (references to it
    /// then reach the replacement) and adds the rest.
    pub fn load(layers: &[Vec<RuleSource>]) -> Result<RuleSet, RuleError> {
        let mut docs: Vec<sigma::Doc> = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for layer in layers {
            let mut seen: HashMap<String, String> = HashMap::new();
            for source in layer {
                for doc in sigma::parse_file(&source.origin, &source.text)? {
                    let key = doc.meta.key().to_owned();
                    if let Some(first) = seen.insert(key.clone(), source.origin.clone()) {
                        return Err(RuleError::Duplicate {
                            name: key,
                            first,
                            second: source.origin.clone(),
                        });
                    }
                    match by_key.get(&key) {
                        Some(&i) => docs[i] = doc,
                        None => {
                            by_key.insert(key, docs.len());
                            docs.push(doc);
                        }
                    }
                }
            }
        }
        link(docs)
    }

    /// The loaded rules, in load order.
    pub fn summaries(&self) -> impl Iterator<Item = RuleSummary<'_>> {
        self.rules.iter().map(|r| RuleSummary {
            name: r.meta.key(),
            title: &r.meta.title,
            description: r.meta.description.as_deref(),
            severity: r.severity,
            correlation: matches!(r.body, Body::Correlation(_)),
            reports: r.emits,
            origin: &r.meta.origin,
            tags: &r.meta.tags,
        })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// The rule files in `dir` (`*.yml`, `*.yaml`; declarative tests, `*.test.yml`, are
/// left out), in name order.
pub fn read_rule_dir(dir: &Path) -> Result<Vec<RuleSource>, RuleError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RuleError::Io { path, source }
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let is_rule = (name.ends_with(".yml") || name.ends_with(".yaml"))
            && !name.ends_with(".test.yml")
            && !name.ends_with(".test.yaml");
        if is_rule && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(io(&p))?;
            Ok(RuleSource::new(p.display().to_string(), text))
        })
        .collect()
}

/// Resolves references, checks chains, decides which rules report.
fn link(docs: Vec<sigma::Doc>) -> Result<RuleSet, RuleError> {
    let mut lookup: HashMap<&str, usize> = HashMap::new();
    for (i, d) in docs.iter().enumerate() {
        if let Some(id) = &d.meta.id {
            lookup.entry(id.as_str()).or_insert(i);
        }
    }
    for (i, d) in docs.iter().enumerate() {
        lookup.insert(d.meta.key(), i); // names win over ids
    }
    let mut steps: Vec<Vec<usize>> = vec![Vec::new(); docs.len()];
    for (i, d) in docs.iter().enumerate() {
        if let Body::Correlation(c) = &d.body {
            for reference in &c.references {
                let target =
                    *lookup
                        .get(reference.as_str())
                        .ok_or_else(|| RuleError::UnknownReference {
                            origin: d.meta.origin.clone(),
                            rule: d.meta.key().to_owned(),
                            reference: reference.clone(),
                        })?;
                if let Body::Correlation(inner) = &docs[target].body
                    && !inner.fires_on_crossing()
                {
                    return Err(Problem::Unsupported(format!(
                        "referring to the correlation `{reference}`, whose condition has an \
                         upper bound (it is judged when its window closes, so it cannot feed \
                         another window)"
                    ))
                    .into_error(&d.meta.origin, d.meta.key()));
                }
                steps[i].push(target);
            }
        }
    }
    // Cycles: walk from each correlation through correlation references.
    for start in 0..docs.len() {
        let mut stack: Vec<usize> = steps[start].clone();
        let mut seen = vec![false; docs.len()];
        while let Some(n) = stack.pop() {
            if n == start {
                let d = &docs[start];
                return Err(RuleError::Cycle {
                    origin: d.meta.origin.clone(),
                    rule: d.meta.key().to_owned(),
                    through: docs[n].meta.key().to_owned(),
                });
            }
            if !std::mem::replace(&mut seen[n], true) {
                stack.extend(steps[n].iter().copied());
            }
        }
    }
    let mut parents: Vec<Vec<(usize, usize)>> = vec![Vec::new(); docs.len()];
    for (i, targets) in steps.iter().enumerate() {
        for (step, &t) in targets.iter().enumerate() {
            parents[t].push((i, step));
        }
    }
    let generates = |i: usize| match &docs[i].body {
        Body::Correlation(c) => c.generate,
        Body::Detection(_) => false,
    };
    let rules = docs
        .iter()
        .zip(parents)
        .map(|(d, mut ps)| {
            let emits = ps.is_empty() || ps.iter().any(|&(p, _)| generates(p));
            ps.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            ps.dedup();
            Rule {
                meta: d.meta.clone(),
                body: d.body.clone(),
                emits,
                severity: d.meta.level.unwrap_or(Severity::Medium),
                parents: ps,
            }
        })
        .collect();
    Ok(RuleSet { rules })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(origin: &str, text: &str) -> RuleSource {
        RuleSource::new(origin, text)
    }

    const DENY: &str = "title: Deny\nname: deny\nlogsource: {product: pushback, category: mfa}\n\
                        detection: {s: {kind: push_denied}, condition: s}\n";
    const OK: &str = "title: Ok\nname: ok\nid: 6f0c7f5e-0000-4000-8000-000000000001\n\
                      logsource: {product: pushback, category: mfa}\n\
                      detection: {s: {kind: mfa_success}, condition: s}\n";

    fn flood(generate: bool) -> String {
        format!(
            "title: Flood\nname: flood\ncorrelation: {{type: event_count, rules: [deny], \
             group-by: [user], timespan: 10m, condition: {{gte: 5}}, generate: {generate}}}\n\
             level: high\n"
        )
    }

    fn reports(set: &RuleSet) -> Vec<(&str, bool)> {
        set.summaries().map(|s| (s.name, s.reports)).collect()
    }

    #[test]
    fn referenced_rules_are_building_blocks_unless_generate_is_set() {
        let set = RuleSet::load(&[vec![src(
            "a.yml",
            &format!("{}---\n{DENY}---\n{OK}", flood(false)),
        )]])
        .expect("loads");
        assert_eq!(
            reports(&set),
            [("flood", true), ("deny", false), ("ok", true)]
        );
        let set = RuleSet::load(&[vec![src("a.yml", &format!("{}---\n{DENY}", flood(true)))]])
            .expect("loads");
        assert_eq!(reports(&set), [("flood", true), ("deny", true)]);
        let s = set.summaries().next().expect("one");
        assert_eq!(s.severity, Severity::High);
        assert!(s.correlation);
    }

    #[test]
    fn references_resolve_by_name_or_id_and_unknown_ones_are_refused() {
        let by_id = "title: T\nname: t\ncorrelation: {type: temporal_ordered, rules: [deny, \
                     6f0c7f5e-0000-4000-8000-000000000001], group-by: [user], timespan: 10m}\n";
        let set = RuleSet::load(&[vec![
            src("a.yml", DENY),
            src("b.yml", OK),
            src("c.yml", by_id),
        ]])
        .expect("loads");
        assert_eq!(set.rules[1].parents, [(2, 1)]);
        let err = RuleSet::load(&[vec![src("c.yml", by_id)]]).expect_err("refused");
        assert!(
            err.to_string()
                .starts_with("c.yml: rule `t` refers to `deny`, which no loaded rule"),
            "{err}"
        );
    }

    #[test]
    fn a_later_layer_replaces_by_name_and_a_layer_may_not_repeat_a_name() {
        let stricter = DENY.replace("push_denied", "[push_denied, push_timeout]");
        let set = RuleSet::load(&[
            vec![src(
                "builtin:a.yml",
                &format!("{}---\n{DENY}", flood(false)),
            )],
            vec![src("mine/deny.yml", &stricter)],
        ])
        .expect("loads");
        assert_eq!(set.len(), 2);
        assert_eq!(set.rules[1].meta.origin, "mine/deny.yml");
        assert_eq!(
            set.rules[1].parents,
            [(0, 0)],
            "the flood now counts the replacement"
        );
        let err =
            RuleSet::load(&[vec![src("a.yml", DENY), src("b.yml", DENY)]]).expect_err("duplicate");
        assert_eq!(
            err.to_string(),
            "rule `deny` is defined twice: in a.yml and in b.yml"
        );
    }

    #[test]
    fn cycles_and_chains_through_upper_bounds_are_refused() {
        let a = "title: A\nname: a\ncorrelation: {type: event_count, rules: [b], timespan: 1m, condition: {gte: 2}}\n";
        let b = "title: B\nname: b\ncorrelation: {type: event_count, rules: [a], timespan: 1m, condition: {gte: 2}}\n";
        let err = RuleSet::load(&[vec![src("x.yml", &format!("{a}---\n{b}"))]]).expect_err("cycle");
        assert!(matches!(err, RuleError::Cycle { .. }), "{err}");
        let few = "title: Few\nname: few\ncorrelation: {type: event_count, rules: [deny], timespan: 1m, condition: {lt: 2}}\n";
        let outer = "title: O\nname: o\ncorrelation: {type: event_count, rules: [few], timespan: 1m, condition: {gte: 2}}\n";
        let err = RuleSet::load(&[vec![src("x.yml", &format!("{DENY}---\n{few}---\n{outer}"))]])
            .expect_err("refused");
        assert!(err.to_string().contains("upper bound"), "{err}");
    }

    #[test]
    fn a_rules_directory_skips_test_files_and_reports_io_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("deny.yml"), DENY).expect("write");
        std::fs::write(dir.path().join("deny.test.yml"), "cases: []").expect("write");
        std::fs::write(dir.path().join("notes.txt"), "x").expect("write");
        let found = read_rule_dir(dir.path()).expect("reads");
        assert_eq!(found.len(), 1);
        assert!(found[0].origin.ends_with("deny.yml"));
        let err = read_rule_dir(&dir.path().join("missing")).expect_err("missing");
        assert!(matches!(err, RuleError::Io { .. }));
    }

    #[test]
    fn the_builtin_rules_load() {
        let set = RuleSet::builtin().expect("built-in rules compile");
        let names: Vec<&str> = set
            .summaries()
            .filter(|s| s.reports)
            .map(|s| s.name)
            .collect();
        for expected in [
            "push_flood",
            "push_flood_then_success",
            "session_push_volume",
            "push_spray",
            "location_mismatch",
            "user_reported_fraud",
            "number_challenge_failed",
            "vendor_risk_detection",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
    }
}
