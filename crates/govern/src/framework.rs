//! Framework references, as data (`data/frameworks.yaml`): what each anchor id means
//! and which anchors each posture check cites.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// One framework reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    pub framework: String,
    pub title: String,
    /// Where the citation is kept as the source material has it but fits poorly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub better_fit: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Data {
    anchors: BTreeMap<String, Anchor>,
    checks: BTreeMap<String, Vec<String>>,
}

/// The mapping file shipped with pushback.
pub const FRAMEWORKS_YAML: &str = include_str!("../data/frameworks.yaml");

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        // The file is part of the crate; a test parses it, so this cannot fail in a
        // released build.
        serde_norway::from_str(FRAMEWORKS_YAML).unwrap_or_else(|_| Data {
            anchors: BTreeMap::new(),
            checks: BTreeMap::new(),
        })
    })
}

/// What an anchor id stands for, if pushback knows it.
pub fn anchor(id: &str) -> Option<&'static Anchor> {
    data().anchors.get(id)
}

/// The anchors a posture check cites.
pub fn check_anchors(check: &str) -> &'static [String] {
    data().checks.get(check).map_or(&[], Vec::as_slice)
}

/// `T1621 (MITRE ATT&CK: Multi-Factor …)` or just the id when unknown.
pub fn describe(id: &str) -> String {
    match anchor(id) {
        Some(a) => format!("{id} ({}: {})", a.framework, a.title),
        None => id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapping_parses_and_every_cited_anchor_is_defined() {
        let parsed: Data = serde_norway::from_str(FRAMEWORKS_YAML).expect("frameworks.yaml parses");
        for (check, anchors) in &parsed.checks {
            for a in anchors {
                assert!(parsed.anchors.contains_key(a), "{check} cites unknown {a}");
            }
        }
        for (id, a) in &parsed.anchors {
            for b in &a.better_fit {
                assert!(parsed.anchors.contains_key(b), "{id} points at unknown {b}");
            }
        }
        for check in crate::posture::CHECKS {
            assert!(
                parsed.checks.contains_key(check.id),
                "{} has no anchors",
                check.id
            );
        }
    }

    #[test]
    fn source_citations_are_kept_with_a_better_fit() {
        let nhi = anchor("NHI-01").expect("kept");
        assert_eq!(nhi.better_fit, ["NHI9", "NHI10"]);
        assert!(anchor("OWASP Agentic AI Top 10 A1").is_some());
        assert!(anchor("NIST AI RMF GOVERN").is_some());
        assert_eq!(
            anchor("NHI1").map(|a| a.title.as_str()),
            Some("Improper Offboarding")
        );
    }
}
