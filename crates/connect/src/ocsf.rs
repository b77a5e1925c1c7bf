//! A [`Finding`] as an OCSF Detection Finding (class 2004), the shape SIEMs and data
//! lakes that speak OCSF ingest without a custom parser. Send it with
//! [`Webhook::send`](crate::Webhook::send).
//!
//! | OCSF | from the finding |
//! |---|---|
//! | `class_uid` 2004, `category_uid` 2, `activity_id` 1 (Create), `type_uid` 200401 | fixed |
//! | `time` | `window_end` (ms) |
//! | `severity_id` / `severity` | info 1, low 2, medium 3, high 4, critical 5 |
//! | `finding_info.uid` | `rule_id:group values or user:window_start` (stable per episode) |
//! | `finding_info.title`, `.analytic` (type Rule), `.first_seen_time`, `.last_seen_time` | title, `rule_id`, window |
//! | `finding_info.attacks` | each `attack.tNNNN` tag (T1621 named) |
//! | `count` | `event_count` |
//! | `observables` | the user (type 4, User Name) |
//! | `unmapped` | source, group, distinct values, event ids, tags |

use serde_json::{Value, json};

use pushback_model::{Finding, Severity};

/// The OCSF schema version this mapping follows.
pub const SCHEMA_VERSION: &str = "1.3.0";

/// `finding` as an OCSF Detection Finding.
pub fn detection_finding(finding: &Finding) -> Value {
    let (severity_id, severity) = match finding.severity {
        Severity::Info => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    };
    let subject = if finding.group.is_empty() {
        finding.user.clone().unwrap_or_default()
    } else {
        finding
            .group
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let uid = format!(
        "{}:{}:{}",
        finding.rule_id,
        subject,
        finding.window_start.millis()
    );
    let attacks: Vec<Value> = finding
        .tags
        .iter()
        .filter_map(|t| t.strip_prefix("attack."))
        .filter(|t| {
            t.strip_prefix('t')
                .and_then(|rest| rest.chars().next())
                .is_some_and(|c| c.is_ascii_digit())
        })
        .map(|t| {
            let uid = t.to_ascii_uppercase();
            let mut technique = json!({ "uid": uid });
            if uid == "T1621" {
                technique["name"] = json!("Multi-Factor Authentication Request Generation");
                json!({ "technique": technique, "tactic": { "uid": "TA0006", "name": "Credential Access" } })
            } else {
                json!({ "technique": technique })
            }
        })
        .collect();
    let mut out = json!({
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "time": finding.window_end.millis(),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": 1,
        "status": "New",
        "count": finding.event_count,
        "message": finding.title,
        "finding_info": {
            "uid": uid,
            "title": finding.title,
            "analytic": { "uid": finding.rule_id, "name": finding.rule_id, "type_id": 1, "type": "Rule" },
            "first_seen_time": finding.window_start.millis(),
            "last_seen_time": finding.window_end.millis(),
            "attacks": attacks,
        },
        "metadata": {
            "version": SCHEMA_VERSION,
            "product": { "name": "pushback", "vendor_name": "pushback", "version": env!("CARGO_PKG_VERSION") },
        },
        "unmapped": {
            "source": finding.source.map(|s| s.as_str()),
            "group": finding.group,
            "distinct": finding.distinct,
            "event_ids": finding.event_ids,
            "event_ids_truncated": finding.event_ids_truncated,
            "tags": finding.tags,
        },
    });
    if let Some(user) = &finding.user {
        out["observables"] =
            json!([{ "name": "user", "type_id": 4, "type": "User Name", "value": user }]);
    }
    out
}

#[cfg(test)]
mod tests {
    use pushback_model::{EventSource, Timestamp};

    use super::*;

    #[test]
    fn a_push_flood_maps_to_a_detection_finding_with_t1621() {
        let f = Finding {
            rule_id: "push_flood".into(),
            title: "Push flood (MFA fatigue)".into(),
            severity: Severity::High,
            user: Some("alice".into()),
            source: Some(EventSource::Okta),
            window_start: Timestamp::from_millis(1_000),
            window_end: Timestamp::from_millis(241_000),
            event_count: 5,
            event_ids: vec!["a".into()],
            event_ids_truncated: false,
            group: vec![("user".into(), "alice".into())],
            distinct: None,
            tags: vec!["attack.t1621".into(), "attack.credential-access".into()],
        };
        let o = detection_finding(&f);
        assert_eq!(o["class_uid"], 2004);
        assert_eq!(o["type_uid"], 200401);
        assert_eq!(o["severity_id"], 4);
        assert_eq!(o["time"], 241_000);
        assert_eq!(o["finding_info"]["uid"], "push_flood:alice:1000");
        assert_eq!(
            o["finding_info"]["attacks"].as_array().map(Vec::len),
            Some(1)
        );
        assert_eq!(o["finding_info"]["attacks"][0]["technique"]["uid"], "T1621");
        assert_eq!(o["observables"][0]["value"], "alice");
        assert_eq!(o["unmapped"]["source"], "okta");
    }
}
