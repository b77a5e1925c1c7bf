//! The guard's own events, fed to the same engine as the identity providers' logs:
//! [`GuardEvents`] is an [`Observer`] that turns each [`ChallengeEvent`] into an
//! [`AuthEvent`] with `source: pushback` and offers it to the live engine without
//! waiting (a full queue drops it and counts it).
//!
//! | guard | `kind` | `vendor_event` | `result` |
//! |---|---|---|---|
//! | challenge opened (pushed) | `push_sent` | `challenge.created` | `pending` |
//! | approved with the right code | `mfa_success` | `challenge.approved` | `approved` |
//! | denied, or a wrong code | `push_denied` | `challenge.denied` | `denied` / `wrong_code` |
//! | "not me" | `user_reported_fraud` | `challenge.not_me` | `not_me` |
//! | expired, or superseded unanswered | `push_timeout` | `challenge.expired` / `challenge.superseded` | `expired` / `superseded` |
//!
//! `session` is the challenge id (it ties a prompt to its answer), `app` the app's name,
//! `src_ip` the requesting IP the app reported, and `factor` is `pushback_push`.

use pushback_guard::{ChallengeEvent, ChallengeStatus, ChallengeStep, Observer, Resolution};
use pushback_model::{AuthEvent, EventKind, EventSource};

use super::Live;

/// Feeds the guard's challenge events to the live engine.
pub struct GuardEvents(pub Live);

impl Observer for GuardEvents {
    fn challenge(&self, event: &ChallengeEvent) {
        if !self.0.offer(auth_event(event)) {
            tracing::warn!(challenge = %event.challenge_id, "detection queue full; guard event dropped");
        }
    }
}

/// The [`AuthEvent`] a guard event becomes (see the module documentation).
pub fn auth_event(e: &ChallengeEvent) -> AuthEvent {
    let (kind, vendor_event, result) = match e.step {
        ChallengeStep::Opened => (EventKind::PushSent, "challenge.created", "pending"),
        ChallengeStep::Decided(Resolution::Approved) => {
            (EventKind::MfaSuccess, "challenge.approved", "approved")
        }
        ChallengeStep::Decided(r @ Resolution::Denied { .. }) => {
            (EventKind::PushDenied, "challenge.denied", r.reason())
        }
        ChallengeStep::Decided(Resolution::NotMe) => {
            (EventKind::UserReportedFraud, "challenge.not_me", "not_me")
        }
        ChallengeStep::Unanswered(ChallengeStatus::Superseded) => {
            (EventKind::PushTimeout, "challenge.superseded", "superseded")
        }
        ChallengeStep::Unanswered(status) => {
            (EventKind::PushTimeout, "challenge.expired", status.as_str())
        }
    };
    let mut event = AuthEvent::new(
        format!("{}:{vendor_event}", e.challenge_id),
        e.at,
        EventSource::Pushback,
        kind,
        e.login.as_str(),
        vendor_event,
    );
    event.session = Some(e.challenge_id.as_str().into());
    event.src_ip = e.ip.as_deref().and_then(|ip| ip.parse().ok());
    event.app = e.app.as_deref().map(Into::into);
    event.factor = Some("pushback_push".into());
    event.result = Some(result.into());
    event
}

#[cfg(test)]
mod tests {
    use pushback_model::Timestamp;

    use super::*;

    fn event(step: ChallengeStep) -> ChallengeEvent {
        ChallengeEvent {
            at: Timestamp::from_millis(1_800_000_000_000),
            challenge_id: "ch_1".into(),
            login: "alice".into(),
            step,
            app: Some("Payroll".into()),
            ip: Some("203.0.113.5".into()),
            location: Some("Berlin, DE".into()),
            device_id: None,
        }
    }

    #[test]
    fn each_guard_outcome_has_its_kind() {
        let cases = [
            (ChallengeStep::Opened, EventKind::PushSent),
            (
                ChallengeStep::Decided(Resolution::Approved),
                EventKind::MfaSuccess,
            ),
            (
                ChallengeStep::Decided(Resolution::Denied { wrong_code: false }),
                EventKind::PushDenied,
            ),
            (
                ChallengeStep::Decided(Resolution::Denied { wrong_code: true }),
                EventKind::PushDenied,
            ),
            (
                ChallengeStep::Decided(Resolution::NotMe),
                EventKind::UserReportedFraud,
            ),
            (
                ChallengeStep::Unanswered(ChallengeStatus::Expired),
                EventKind::PushTimeout,
            ),
            (
                ChallengeStep::Unanswered(ChallengeStatus::Superseded),
                EventKind::PushTimeout,
            ),
        ];
        let mut ids = std::collections::HashSet::new();
        for (step, kind) in cases {
            let e = auth_event(&event(step));
            assert_eq!(e.kind, kind, "{step:?}");
            assert_eq!(e.source, EventSource::Pushback);
            assert_eq!(&*e.user, "alice");
            assert_eq!(e.session.as_deref(), Some("ch_1"));
            assert_eq!(e.src_ip, "203.0.113.5".parse().ok());
            assert_eq!(e.app.as_deref(), Some("Payroll"));
            ids.insert(e.id.clone());
        }
        // The wrong code differs from the plain deny only in `result`.
        assert_eq!(ids.len(), 6, "{ids:?}");
        let wrong = auth_event(&event(ChallengeStep::Decided(Resolution::Denied {
            wrong_code: true,
        })));
        assert_eq!(wrong.result.as_deref(), Some("wrong_code"));
    }
}
