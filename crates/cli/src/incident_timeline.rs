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
