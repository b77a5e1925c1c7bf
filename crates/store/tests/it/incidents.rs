//! Incidents: one unresolved incident per subject, claims that keep an action from
//! running twice, forward-only transitions, and a timeline that includes guard's audit
//! entries about the subject.

use pushback_model::{Severity, Timestamp};
use pushback_respond::{
    Claim, EntryKind, IncidentQuery, IncidentState, IncidentStoreError, NewIncident, TimelineEntry,
};

use crate::support::{T0, backends, worlds};

fn new(id: &str, subject: &str, severity: Severity, min: i64) -> NewIncident {
    NewIncident {
        id: id.into(),
        subject: subject.into(),
        severity,
        title: format!("{subject} title"),
        at: at(min),
        finding_key: Some(format!("key-{id}")),
    }
}

fn at(min: i64) -> Timestamp {
    Timestamp::from_millis(T0 + min * 60_000)
}

fn line(min: i64, kind: EntryKind, summary: &str) -> TimelineEntry {
    TimelineEntry {
        at: at(min),
        kind,
        summary: summary.into(),
        detail: serde_json::json!({ "n": min }),
    }
}

#[tokio::test]
async fn triggers_about_one_subject_join_its_unresolved_incident_and_raise_its_severity() {
    for b in backends().await {
        let name = b.name;
        let s = &b.incidents;
        let (first, opened) = s
            .open_or_join(
                &new("inc_a", "alice", Severity::High, 0),
                &line(0, EntryKind::Trigger, "flood"),
            )
            .await
            .expect("open");
        assert!(opened, "[{name}]");
        assert_eq!(
            (first.id.as_str(), first.state),
            ("inc_a", IncidentState::Open),
            "[{name}]"
        );

        let (joined, opened) = s
            .open_or_join(
                &new("inc_b", "alice", Severity::Critical, 1),
                &line(1, EntryKind::Trigger, "not me"),
            )
            .await
            .expect("join");
        assert!(!opened, "[{name}] the second trigger joins");
        assert_eq!(joined.id, "inc_a", "[{name}]");
        assert_eq!(joined.severity, Severity::Critical, "[{name}] raised");

        // A lesser trigger never lowers it.
        let (joined, _) = s
            .open_or_join(
                &new("inc_c", "alice", Severity::Low, 2),
                &line(2, EntryKind::Trigger, "denial"),
            )
            .await
            .expect("join again");
        assert_eq!(joined.severity, Severity::Critical, "[{name}]");

        // Another subject gets its own.
        let (bob, opened) = s
            .open_or_join(
                &new("inc_d", "bob", Severity::Medium, 3),
                &line(3, EntryKind::Trigger, "lockout"),
            )
            .await
            .expect("open bob's");
        assert!(opened && bob.id == "inc_d", "[{name}]");

        let detail = s.incident("inc_a").await.expect("read").expect("exists");
        assert_eq!(
            detail.findings,
            ["key-inc_a", "key-inc_b", "key-inc_c"],
            "[{name}]"
        );
        let summaries: Vec<_> = detail.timeline.iter().map(|e| e.summary.as_str()).collect();
        assert_eq!(
            summaries,
            [
                "flood",
                "severity raised from high to critical",
                "not me",
                "denial"
            ],
            "[{name}]"
        );
        assert_eq!(
            detail.timeline[2].detail,
            serde_json::json!({ "n": 1 }),
            "[{name}]"
        );

        let all = s
            .incidents(&IncidentQuery {
                limit: 10,
                ..IncidentQuery::default()
            })
            .await
            .expect("list");
        let ids: Vec<_> = all.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["inc_d", "inc_a"], "[{name}] newest first");
        let alice = s
            .incidents(&IncidentQuery {
                subject: Some("alice".into()),
                limit: 10,
                ..IncidentQuery::default()
            })
            .await
            .expect("list alice");
        assert_eq!(alice.len(), 1, "[{name}]");
        assert!(
            s.incident("inc_b").await.expect("read").is_none(),
            "[{name}] never opened"
        );
    }
}

#[tokio::test]
async fn incidents_move_forward_only_and_a_resolved_one_lets_the_next_trigger_open_anew() {
    for b in backends().await {
        let name = b.name;
        let s = &b.incidents;
        s.open_or_join(
            &new("inc_a", "alice", Severity::High, 0),
            &line(0, EntryKind::Trigger, "flood"),
        )
        .await
        .expect("open");
        let acked = s
            .transition(
                "inc_a",
                IncidentState::Acknowledged,
                Some("soc-oncall"),
                &line(5, EntryKind::State, "acknowledged by soc-oncall"),
            )
            .await
            .expect("ack");
        assert_eq!(acked.state, IncidentState::Acknowledged, "[{name}]");
        assert_eq!(acked.owner.as_deref(), Some("soc-oncall"), "[{name}]");
        assert_eq!(acked.acknowledged_at, Some(at(5)), "[{name}]");

        let again = s
            .transition(
                "inc_a",
                IncidentState::Acknowledged,
                None,
                &line(6, EntryKind::State, "again"),
            )
            .await;
        assert!(
            matches!(
                again,
                Err(IncidentStoreError::Transition {
                    from: "acknowledged",
                    to: "acknowledged",
                    ..
                })
            ),
            "[{name}] {again:?}"
        );
        let missing = s
            .transition(
                "inc_zz",
                IncidentState::Resolved,
                None,
                &line(6, EntryKind::State, "x"),
            )
            .await;
        assert!(
            matches!(missing, Err(IncidentStoreError::NotFound(_))),
            "[{name}] {missing:?}"
        );

        let resolved = s
            .transition(
                "inc_a",
                IncidentState::Resolved,
                None,
                &line(7, EntryKind::State, "resolved"),
            )
            .await
            .expect("resolve");
        assert_eq!(
            resolved.owner.as_deref(),
            Some("soc-oncall"),
            "[{name}] the owner stays"
        );
        assert!(
            s.open_incident_of("alice").await.expect("read").is_none(),
            "[{name}]"
        );

        // A refused transition changed nothing: the timeline has the two that happened.
        let detail = s.incident("inc_a").await.expect("read").expect("exists");
        let states: Vec<_> = detail
            .timeline
            .iter()
            .filter(|e| e.kind == EntryKind::State)
            .map(|e| e.summary.as_str())
            .collect();
        assert_eq!(
            states,
            ["acknowledged by soc-oncall", "resolved"],
            "[{name}]"
        );

        let (next, opened) = s
            .open_or_join(
                &new("inc_b", "alice", Severity::Medium, 8),
                &line(8, EntryKind::Trigger, "again"),
            )
            .await
            .expect("open anew");
        assert!(opened && next.id == "inc_b", "[{name}]");
    }
}

#[tokio::test]
async fn an_action_is_claimed_once_and_a_failed_or_abandoned_one_may_be_claimed_again() {
    for b in backends().await {
        let name = b.name;
        let s = &b.incidents;
        s.open_or_join(
            &new("inc_a", "alice", Severity::High, 0),
            &line(0, EntryKind::Trigger, "flood"),
        )
        .await
        .expect("open");
        let claim = |key: &'static str, min: i64| {
            let s = s.clone();
            async move { s.claim_action("inc_a", key, at(min)).await.expect("claim") }
        };
        assert_eq!(
            claim("revoke_sessions@okta", 0).await,
            Claim::Granted,
            "[{name}]"
        );
        assert_eq!(
            claim("revoke_sessions@okta", 1).await,
            Claim::Running,
            "[{name}]"
        );
        s.finish_action("inc_a", "revoke_sessions@okta", true, at(1))
            .await
            .expect("finish");
        assert_eq!(
            claim("revoke_sessions@okta", 2).await,
            Claim::Done,
            "[{name}]"
        );

        assert_eq!(
            claim("suspend_user@okta", 2).await,
            Claim::Granted,
            "[{name}]"
        );
        s.finish_action("inc_a", "suspend_user@okta", false, at(3))
            .await
            .expect("finish");
        assert_eq!(
            claim("suspend_user@okta", 4).await,
            Claim::Granted,
            "[{name}] a failure may be retried"
        );

        // A claim whose holder died is taken over once it is stale (10 minutes).
        assert_eq!(claim("alert@webhook", 4).await, Claim::Granted, "[{name}]");
        assert_eq!(claim("alert@webhook", 13).await, Claim::Running, "[{name}]");
        assert_eq!(claim("alert@webhook", 15).await, Claim::Granted, "[{name}]");

        let inc = s
            .open_incident_of("alice")
            .await
            .expect("read")
            .expect("open");
        assert_eq!(inc.failed_actions, 1, "[{name}]");
    }
}

#[tokio::test]
async fn an_incident_timeline_includes_the_subjects_guard_audit_entries() {
    for w in worlds().await {
        let name = w.name;
        let s = &w.incidents;
        w.user_with_device("alice").await;
        let opened = w.open_pending("alice").await;
        let incident_at = w.now().plus_secs(60);
        s.open_or_join(
            &NewIncident {
                id: "inc_a".into(),
                subject: "alice".into(),
                severity: Severity::High,
                title: "t".into(),
                at: incident_at,
                finding_key: None,
            },
            &TimelineEntry {
                at: incident_at,
                kind: EntryKind::Trigger,
                summary: "flood".into(),
                detail: serde_json::json!({}),
            },
        )
        .await
        .expect("open");
        let detail = s.incident("inc_a").await.expect("read").expect("exists");
        let guard: Vec<_> = detail
            .timeline
            .iter()
            .filter(|e| e.kind == EntryKind::Guard)
            .map(|e| e.detail["audit"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert!(
            guard.contains(&"challenge.created".to_owned()),
            "[{name}] {guard:?}"
        );
        let created = detail
            .timeline
            .iter()
            .find(|e| e.detail["audit"] == "challenge.created")
            .expect("the prompt is on the timeline");
        assert_eq!(created.detail["detail"]["challenge"], opened.id, "[{name}]");
        assert_eq!(
            detail.timeline.last().map(|e| e.summary.as_str()),
            Some("flood"),
            "[{name}] in time order"
        );
    }
}
