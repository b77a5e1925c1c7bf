//! An incident from the store, as the timeline the accountability report reads: the
//! second way into `pushback_govern::accountability::report` beside a timeline file.
//!
//! It lives here because the binary is the one crate that knows both sides: govern
//! depends on neither respond nor the store.
//!
//! | incident timeline entry | report timeline |
//! | --- | --- |
//! | guard `challenge.created` | prompt-sent |
//! | guard `challenge.denied`, `challenge.not_me` (a report of fraud) | prompt-denied |
//! | guard `challenge.approved` | prompt-approved |
//! | guard `challenge.expired` | prompt-timeout |
//! | guard `user.locked`, `user.step_up_required`, `device.frozen` | contained |
//! | guard `device.enrolled` | factor-enrolled |
//! | trigger | alert-raised, and an alert: acted on once an action succeeded (or was already done) or someone acknowledged or resolved the incident after it |
//! | action that succeeded | contained |
//! | acknowledged | alert-acknowledged |
//! | anything else | note |
//!
//! The incident's subject is the user. The application is not in the incident: the
//! caller names it (from the prompts' app, see [`prompted_apps`]).

use pushback_govern::date::Instant;
use pushback_govern::timeline::{AccountKind, Alert, Event, EventKind, Threshold, Timeline};
use pushback_model::{EventSource, Finding};
use pushback_respond::{EntryKind, IncidentDetail, TimelineEntry};
use serde_json::Value;

/// How many characters of a finding's episode key name its alert.
const ALERT_KEY_CHARS: usize = 12;

/// The app ids guard's prompts in the timeline came from, the most prompted first.
pub fn prompted_apps(detail: &IncidentDetail) -> Vec<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for e in guard_entries(detail, "challenge.created") {
        if let Some(app) = e.detail["detail"]["app"].as_str() {
            match counts.iter_mut().find(|(a, _)| a == app) {
                Some((_, n)) => *n += 1,
                None => counts.push((app.to_owned(), 1)),
            }
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts.into_iter().map(|(a, _)| a).collect()
}

fn guard_entries<'a>(
    detail: &'a IncidentDetail,
    audit: &'a str,
) -> impl Iterator<Item = &'a TimelineEntry> {
    detail
        .timeline
        .iter()
        .filter(move |e| e.kind == EntryKind::Guard && e.detail["audit"] == audit)
}

/// The report's timeline of `detail`, with `app` (a registry application id) as the
/// application that was reached.
pub fn timeline(detail: &IncidentDetail, app: String) -> Timeline {
    let incident = &detail.incident;
    let mut entries: Vec<&TimelineEntry> = detail.timeline.iter().collect();
    entries.sort_by_key(|e| e.at);

    let mut events = Vec::new();
    let mut alerts = Vec::new();
    let mut idp = None;
    for (i, e) in entries.iter().enumerate() {
        let (kind, source) = match e.kind {
            EntryKind::Guard => (guard_kind(&e.detail), "pushback".to_owned()),
            EntryKind::Trigger => {
                let finding = finding_of(e);
                let source = finding
                    .as_ref()
                    .and_then(|f| f.source)
                    .map_or("pushback", EventSource::as_str);
                if source != "pushback" {
                    idp.get_or_insert_with(|| source.to_owned());
                }
                alerts.push(alert(
                    incident.id.as_str(),
                    alerts.len() + 1,
                    e,
                    finding.as_ref(),
                    &entries[i..],
                ));
                (EventKind::AlertRaised, source.to_owned())
            }
            EntryKind::Action => {
                let actuator = e.detail["step"]
                    .as_str()
                    .and_then(|s| s.split_once('@'))
                    .map_or("pushback", |(_, by)| by);
                let kind = if e.detail["ok"] == true {
                    EventKind::Contained
                } else {
                    EventKind::Note
                };
                (kind, actuator.to_owned())
            }
            EntryKind::ActionResult => (EventKind::Note, "pushback".to_owned()),
            EntryKind::State => {
                let kind = if e.detail["state"] == "acknowledged" {
                    EventKind::AlertAcknowledged
                } else {
                    EventKind::Note
                };
                (kind, "pushback".to_owned())
            }
        };
        events.push(Event {
            at: Instant(e.at),
            kind,
            source,
            detail: e.summary.clone(),
            verified: None,
        });
    }
    Timeline {
        incident: incident.id.clone(),
        title: incident.title.clone(),
        user: incident.subject.clone(),
        account: AccountKind::Personal,
        app,
        idp: idp.unwrap_or_else(|| "pushback".to_owned()),
        events,
        alerts,
        posture: Vec::new(),
        bypassed: Vec::new(),
        threshold: Threshold::default(),
    }
}

fn guard_kind(detail: &Value) -> EventKind {
    match detail["audit"].as_str().unwrap_or_default() {
        "challenge.created" => EventKind::PromptSent,
        "challenge.denied" | "challenge.not_me" => EventKind::PromptDenied,
        "challenge.approved" => EventKind::PromptApproved,
        "challenge.expired" => EventKind::PromptTimeout,
        "user.locked" | "user.step_up_required" | "device.frozen" => EventKind::Contained,
        "device.enrolled" => EventKind::FactorEnrolled,
        _ => EventKind::Note,
    }
}

fn finding_of(trigger: &TimelineEntry) -> Option<Finding> {
    serde_json::from_value(trigger.detail["finding"].clone()).ok()
}

/// The alert a trigger raised. `after` starts at the trigger: it was acted on at the
/// first action that succeeded (or found itself already done) or move an admin made
/// after it.
fn alert(
    incident: &str,
    n: usize,
    trigger: &TimelineEntry,
    finding: Option<&Finding>,
    after: &[&TimelineEntry],
) -> Alert {
    let (id, rule) = match finding {
        Some(f) => (
            pushback_model::finding::episode_key(f)
                .chars()
                .take(ALERT_KEY_CHARS)
                .collect(),
            f.rule_id.clone(),
        ),
        None => (
            format!("{incident}#{n}"),
            format!(
                "guard:{}",
                trigger.detail["trigger"].as_str().unwrap_or("trigger")
            ),
        ),
    };
    let acted_at = after
        .iter()
        .find(|e| match e.kind {
            EntryKind::Action => e.detail["ok"] == true,
            EntryKind::ActionResult => e.detail["result"] == "already_done",
            EntryKind::State => true,
            _ => false,
        })
        .map(|e| Instant(e.at));
    Alert {
        id,
        rule,
        raised_at: Instant(trigger.at),
        acted_on: acted_at.is_some(),
        acted_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushback_govern::registry::Registry;
    use pushback_govern::{accountability, render};

    /// A real incident: `pushback incidents show ID --json` after a device answered "not
    /// me" to a prompt (default playbook, no IdP connector). watch's `user_reported_fraud`
    /// finding joined it five minutes later; an admin acknowledged it, then resolved it.
    const NOT_ME: &str = include_str!("not-me.json");

    fn not_me() -> IncidentDetail {
        serde_json::from_str(NOT_ME).expect("the fixture is an IncidentDetail")
    }

    fn registry() -> Registry {
        Registry::parse(
            "examples/governance/registry.yaml",
            include_str!("../../../../examples/governance/registry.yaml"),
        )
        .expect("the example registry parses")
    }

    /// `actual` against the golden file `name` beside this module (`PUSHBACK_BLESS=1`
    /// rewrites it).
    fn golden(name: &str, actual: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/incident_timeline")
            .join(name);
        if std::env::var_os("PUSHBACK_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(&path, actual).expect("writing the golden file");
            return;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{name}: {e} (PUSHBACK_BLESS=1 creates it)"));
        assert!(
            expected == actual,
            "{name} differs (PUSHBACK_BLESS=1 regenerates it):\n{actual}"
        );
    }

    #[test]
    fn a_not_me_becomes_a_prompt_a_denial_alerts_acted_on_and_containment() {
        let detail = not_me();
        assert_eq!(prompted_apps(&detail), ["app_LzpxK5S_Eyzm"]);
        let t = timeline(&detail, "vpn".into());
        assert_eq!(
            (
                t.incident.as_str(),
                t.user.as_str(),
                t.app.as_str(),
                t.idp.as_str()
            ),
            ("inc_PqoiSeuY51h83Ws3", "alice", "vpn", "pushback")
        );
        assert_eq!(t.title, "Prompt reported as not theirs by alice");
        let kinds: Vec<&str> = t.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "note",
                "note",
                "factor-enrolled",
                "prompt-sent",
                "prompt-denied",
                "contained",
                "alert-raised",
                "note",
                "contained",
                "contained",
                "alert-raised",
                "note",
                "note",
                "alert-acknowledged",
                "note"
            ]
        );
        assert_eq!(t.events[9].source, "guard", "the actuator that acted");
        let alerts: Vec<_> = t
            .alerts
            .iter()
            .map(|a| {
                (
                    a.id.as_str(),
                    a.rule.as_str(),
                    a.acted_at.map(|at| at.to_string()),
                )
            })
            .collect();
        assert_eq!(
            alerts,
            [
                // Acted on when lock_push succeeded …
                (
                    "inc_PqoiSeuY51h83Ws3#1",
                    "guard:not_me",
                    Some("2026-11-28T10:53:35.976Z".to_owned())
                ),
                // … and the finding when the lock was found already in place.
                (
                    "0732cd06035b",
                    "user_reported_fraud",
                    Some("2026-11-28T10:58:36.092Z".to_owned())
                ),
            ]
        );
        assert!(t.alerts.iter().all(|a| a.acted_on));
    }

    #[test]
    fn an_alert_nothing_was_done_about_is_security_operations_to_answer_for() {
        let mut detail = not_me();
        detail
            .timeline
            .retain(|e| matches!(e.kind, EntryKind::Guard | EntryKind::Trigger));
        let t = timeline(&detail, "vpn".into());
        assert!(t.alerts.iter().all(|a| !a.acted_on));
        let report = accountability::report(&registry(), &t);
        let secops = report
            .owners
            .iter()
            .find(|o| o.role == "secops")
            .expect("security operations answer for it");
        assert!(
            secops
                .reason
                .contains("alert inc_PqoiSeuY51h83Ws3#1 (guard:not_me)")
                && secops.reason.contains("was not acted on"),
            "{}",
            secops.reason
        );
    }

    #[test]
    fn an_acknowledgement_counts_as_acting_on_the_alert() {
        let mut detail = not_me();
        detail
            .timeline
            .retain(|e| !matches!(e.kind, EntryKind::Action | EntryKind::ActionResult));
        let t = timeline(&detail, "vpn".into());
        let acked = t
            .events
            .iter()
            .find(|e| e.kind == EventKind::AlertAcknowledged)
            .map(|e| e.at);
        assert!(acked.is_some());
        assert!(t.alerts.iter().all(|a| a.acted_at == acked));
    }

    #[test]
    fn an_okta_flood_is_an_okta_alert_acted_on_by_step_up_with_no_prompt_of_ours() {
        // `pushback incidents show ID --json` after five denied Okta Verify pushes were
        // posted to the ingest API for a user with no device.
        let detail: IncidentDetail =
            serde_json::from_str(include_str!("okta-flood.json")).expect("an IncidentDetail");
        assert!(
            prompted_apps(&detail).is_empty(),
            "the caller must name the app"
        );
        let t = timeline(&detail, "vpn".into());
        assert_eq!(
            (t.user.as_str(), t.idp.as_str()),
            ("bob@example.com", "okta")
        );
        let alert = &t.alerts[0];
        assert_eq!(
            (alert.id.as_str(), alert.rule.as_str(), alert.acted_on),
            ("92ceb2a6d38a", "push_flood", true)
        );
        let raised = t
            .events
            .iter()
            .find(|e| e.kind == EventKind::AlertRaised)
            .expect("an alert-raised event");
        assert_eq!(raised.source, "okta");
    }

    #[test]
    fn the_report_of_a_not_me_incident_matches_its_golden_file() {
        let report = accountability::report(&registry(), &timeline(&not_me(), "vpn".into()));
        golden("not-me.md", &render::report_markdown(&report));
    }
}
