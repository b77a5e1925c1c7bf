//! What the response playbook asks of the guard — a push lock, a step-up requirement,
//! frozen devices — and how an admin undoes each; all audited.

use std::time::Duration;

use pushback_guard::policy::{LockReason, StepUpReason};
use pushback_guard::{ChallengeAnswer, Decision, Refusal};

use crate::support::{assert_not_found, assert_refused, worlds};

const ACTOR: &str = "respond:inc_test";

#[tokio::test]
async fn a_required_step_up_refuses_push_until_an_admin_lifts_it_and_an_unlock_does_not() {
    for w in worlds().await {
        let name = w.name;
        w.user_with_device("alice").await;
        assert!(
            w.guard
                .require_step_up("alice", ACTOR)
                .await
                .expect("require"),
            "[{name}]"
        );
        assert!(
            !w.guard
                .require_step_up("alice", ACTOR)
                .await
                .expect("again"),
            "[{name}] already required"
        );
        for _ in 0..2 {
            let answer = w.open("alice").await;
            assert_eq!(
                answer,
                ChallengeAnswer::StepUpRequired {
                    reason: StepUpReason::Required
                },
                "[{name}]"
            );
        }
        w.guard.unlock(&w.admin, "alice").await.expect("unlock");
        assert!(
            matches!(
                w.open("alice").await,
                ChallengeAnswer::StepUpRequired {
                    reason: StepUpReason::Required
                }
            ),
            "[{name}] an unlock leaves the requirement"
        );
        w.guard.lift_step_up(&w.admin, "alice").await.expect("lift");
        w.open_pending("alice").await;
        assert_not_found(
            w.guard.lift_step_up(&w.admin, "alice").await,
            "nothing left to lift",
        );
        assert_not_found(
            w.guard.require_step_up("nobody", ACTOR).await,
            "unknown user",
        );

        let kinds: Vec<_> = w
            .audit()
            .await
            .into_iter()
            .map(|e| (e.entry.kind, e.entry.actor))
            .collect();
        assert!(
            kinds.contains(&("user.step_up_required".into(), ACTOR.into())),
            "[{name}] {kinds:?}"
        );
        assert!(
            kinds
                .iter()
                .any(|(k, a)| k == "user.step_up_lifted" && a.starts_with("admin")),
            "[{name}] {kinds:?}"
        );
    }
}

#[tokio::test]
async fn a_response_lock_locks_push_keeps_a_longer_lock_and_an_admin_unlocks_it() {
    for w in worlds().await {
        let name = w.name;
        w.user_with_device("alice").await;
        let until = w
            .guard
            .response_lock("alice", Duration::from_secs(86_400), ACTOR)
            .await
            .expect("lock");
        assert_eq!(until, w.now().plus_secs(86_400), "[{name}]");
        assert_eq!(
            w.open("alice").await,
            ChallengeAnswer::Locked {
                until,
                reason: LockReason::Response
            },
            "[{name}]"
        );
        // A shorter lock asked later does not shorten it.
        let still = w
            .guard
            .response_lock("alice", Duration::from_secs(60), ACTOR)
            .await
            .expect("lock again");
        assert_eq!(still, until, "[{name}]");
        w.guard.unlock(&w.admin, "alice").await.expect("unlock");
        w.open_pending("alice").await;
        let locks = w
            .audit()
            .await
            .into_iter()
            .filter(|e| e.entry.kind == "user.locked")
            .count();
        assert_eq!(locks, 1, "[{name}] one lock, audited once");
    }
}

#[tokio::test]
async fn a_frozen_device_is_refused_and_counts_as_no_device_until_unfrozen() {
    for w in worlds().await {
        let name = w.name;
        let dev = w.user_with_device("alice").await;
        let opened = w.open_pending("alice").await;
        assert_eq!(
            w.guard
                .freeze_devices("alice", None, ACTOR)
                .await
                .expect("freeze"),
            1,
            "[{name}]"
        );
        assert_eq!(
            w.guard
                .freeze_devices("alice", None, ACTOR)
                .await
                .expect("again"),
            0,
            "[{name}]"
        );

        assert_refused(
            w.pending(&dev).await,
            Refusal::ReplayOrRevoked,
            "a frozen device fetches",
        );
        assert_refused(
            w.answer(&dev, &opened.id, &opened.code, Decision::Approve)
                .await,
            Refusal::ReplayOrRevoked,
            "a frozen device answers",
        );
        assert!(
            matches!(
                w.open("alice").await,
                ChallengeAnswer::StepUpRequired {
                    reason: StepUpReason::PushUnavailable
                }
            ),
            "[{name}] no live device to push to"
        );
        let listed = w.guard.devices(&w.admin, "alice").await.expect("devices");
        assert!(listed[0].frozen_at.is_some(), "[{name}]");

        w.guard
            .unfreeze_device(&w.admin, &dev.id)
            .await
            .expect("unfreeze");
        assert_not_found(
            w.guard.unfreeze_device(&w.admin, &dev.id).await,
            "not frozen any more",
        );
        let again = w.open_pending("alice").await;
        assert_eq!(w.pending(&dev).await.expect("fetch").len(), 1, "[{name}]");
        w.answer(&dev, &again.id, &again.code, Decision::Approve)
            .await
            .expect("approve");

        let kinds: Vec<_> = w.audit().await.into_iter().map(|e| e.entry.kind).collect();
        assert!(
            kinds.contains(&"device.frozen".to_owned())
                && kinds.contains(&"device.unfrozen".to_owned()),
            "[{name}] {kinds:?}"
        );
    }
}
