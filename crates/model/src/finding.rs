//! [`Finding`]: what a detection rule reports. watch produces them; sinks, the playbook and
//! govern's incident timeline read them.
//!
//! A finding describes one *episode*: a single matching event for a plain rule, or the
//! window of events that met a correlation rule's condition. Its `rule_id` is the rule's
//! stable `name`, so alerts, suppressions and playbooks can refer to it across versions.

use serde::{Deserialize, Serialize};

use crate::{EventSource, Severity, Timestamp};

/// One detection, ready for a sink.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule's stable name (its `name`, else its `id`).
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    /// The user the episode is about: the `user` group-by value, or the user every
    /// event of the episode shares. Absent when the events name several users (a spray
    /// grouped by source IP, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Who logged the events, when they all came from one source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<EventSource>,
    /// Time of the earliest event of the episode.
    pub window_start: Timestamp,
    /// Time of the event that completed the episode.
    pub window_end: Timestamp,
    /// How many events took part (for a chained correlation: the events behind every
    /// step).
    pub event_count: u64,
    /// The vendor ids of those events in time order: all of them, or the most recent
    /// [`Finding::MAX_EVENT_IDS`].
    pub event_ids: Vec<String>,
    /// True when `event_ids` was cut at [`Finding::MAX_EVENT_IDS`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub event_ids_truncated: bool,
    /// The correlation's `group-by` fields and their values, in the rule's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<(String, String)>,
    /// For a `value_count` correlation: the field counted and its distinct values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<DistinctValues>,
    /// The rule's tags (`attack.t1621`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// The distinct values a `value_count` correlation counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistinctValues {
    pub field: String,
    pub count: u64,
    /// The values, at most [`Finding::MAX_EVENT_IDS`] of them.
    pub values: Vec<String>,
}

impl Finding {
    /// The longest `event_ids` (and `distinct.values`) list a finding carries. A flood of
    /// thousands of prompts is still one finding; a hundred ids are enough to pivot into
    /// the vendor's log.
    pub const MAX_EVENT_IDS: usize = 100;

    /// The value of one `group-by` field, if the rule grouped by it.
    pub fn group_value(&self, field: &str) -> Option<&str> {
        self.group
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, v)| v.as_str())
    }
}

/// The identity of a finding's episode, stable across runs: the rule, what it grouped
/// by (or the user when it did not group), when the episode began, and for a rule that
/// reports single events the event's id. SHA-256, hex.
pub fn episode_key(f: &Finding) -> String {
    let mut text = String::with_capacity(128);
    text.push_str(&f.rule_id);
    text.push('\u{1f}');
    if f.group.is_empty() {
        text.push_str(f.user.as_deref().unwrap_or(""));
        text.push('\u{1f}');
        if !f.event_ids_truncated {
            text.push_str(f.event_ids.first().map_or("", String::as_str));
        }
    } else {
        for (field, value) in &f.group {
            text.push_str(field);
            text.push('=');
            text.push_str(value);
            text.push('\u{1e}');
        }
    }
    text.push('\u{1f}');
    text.push_str(&f.window_start.millis().to_string());
    let digest = crate::sha256(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_round_trips_through_json_and_leaves_out_what_is_empty() {
        let f = Finding {
            rule_id: "push_flood".into(),
            title: "Push flood".into(),
            severity: Severity::High,
            user: Some("alice".into()),
            source: Some(EventSource::Okta),
            window_start: Timestamp::from_millis(1),
            window_end: Timestamp::from_millis(2),
            event_count: 5,
            event_ids: vec!["a".into()],
            event_ids_truncated: false,
            group: vec![("user".into(), "alice".into())],
            distinct: None,
            tags: Vec::new(),
        };
        let json = serde_json::to_string(&f).expect("serialises");
        assert!(!json.contains("tags"), "{json}");
        assert!(!json.contains("truncated"), "{json}");
        assert!(json.contains(r#""group":[["user","alice"]]"#), "{json}");
        let back: Finding = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, f);
        assert_eq!(back.group_value("user"), Some("alice"));
        assert_eq!(back.group_value("session"), None);
    }
}
