//! Requests the guard must refuse, and refuse with nothing changed.

use pushback_guard::policy::{StepUpReason, UserState};
use pushback_guard::proof::Decision;
use pushback_guard::{ChallengeAnswer, ChallengeRecord, ChallengeStatus, DisplayContext, Refusal};

use crate::support::{World, assert_refused, fresh_nonce, pending_via, sign_with, worlds};

/// Everything a refused request must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    status: ChallengeStatus,
    challenge: ChallengeRecord,
    state: UserState,
    audit_entries: usize,
}

async fn snapshot(w: &World, login: &str, id: &str) -> Snapshot {
    Snapshot {
        status: w.status(id).await,
        challenge: w.record(id).await,
        state: w.state(login).await,
        audit_entries: w.audit().await.len(),
    }
}

#[tokio::test]
async fn refused_answers_and_requests_change_nothing() {
    for w in worlds().await {
        let b = w.name;
        let a = w.user_with_device("alice").await;
        let other = w.device("alice", pushback_guard::KeyType::P256).await;
        let revoked = w.device("alice", pushback_guard::KeyType::Ed25519).await;
        w.guard
            .revoke_device(&w.admin, &revoked.id)
            .await
            .expect("revoke");
        let mallory = w.user_with_device("mallory").await;

        // Device A answers (denies) an earlier challenge with a nonce...
        let earlier = w.open_pending("alice").await;
        let used_answer_nonce = fresh_nonce();
        let ctx = w.context_sha(&earlier.id).await;
        let mut deny = a.payload(&earlier.id, "", Decision::Deny, &ctx, w.now().millis());
        deny.nonce.clone_from(&used_answer_nonce);
        w.guard
            .answer(&a.sign(deny))
            .await
            .expect("deny the earlier challenge");

        // ...and the live one is opened and fetched with another.
        w.skip_backoff("alice").await;
        let ch = w.open_pending("alice").await;
        let used_request_nonce = fresh_nonce();
        let items = w
            .pending_signed(&a.id, &a.key, w.now().millis(), &used_request_nonce)
            .await
            .expect("pending");
        assert_eq!(items.len(), 1);
        let ctx = items[0].context_sha256.clone();
        let now = w.now().millis();

        let before = snapshot(&w, "alice", &ch.id).await;
        assert_eq!(before.status, ChallengeStatus::Pending);
        let check = |what: &'static str| {
            let before = &before;
            let w = &w;
            let id = ch.id.clone();
            async move {
                let after = snapshot(w, "alice", &id).await;
                assert_eq!(&after, before, "[{b}] {what} changed something");
            }
        };

        // Replays: a nonce already used for an answer, or for a request.
        let mut p = a.payload(&ch.id, &ch.code, Decision::Approve, &ctx, now);
        p.nonce.clone_from(&used_answer_nonce);
        assert_refused(
            w.guard.answer(&a.sign(p)).await,
            Refusal::ReplayOrRevoked,
            "answer reusing an answer nonce",
        );
        check("answer nonce replay").await;
        let mut p = a.payload(&ch.id, &ch.code, Decision::Approve, &ctx, now);
        p.nonce.clone_from(&used_request_nonce);
        assert_refused(
            w.guard.answer(&a.sign(p)).await,
            Refusal::ReplayOrRevoked,
            "answer reusing a request nonce",
        );
        check("request nonce reused by an answer").await;
        assert_refused(
            w.pending_signed(&a.id, &a.key, now, &used_request_nonce)
                .await,
            Refusal::ReplayOrRevoked,
            "replayed pending request",
        );
        check("pending request replay").await;
        assert_refused(
            w.pending_signed(&a.id, &a.key, now, &used_answer_nonce)
                .await,
            Refusal::ReplayOrRevoked,
            "pending request reusing an answer nonce",
        );
        check("answer nonce reused by a request").await;

        // Another enrolled device's key, claiming to be A.
        let p = a.payload(&ch.id, &ch.code, Decision::Approve, &ctx, now);
        assert_refused(
            w.guard.answer(&sign_with(&other.key, p)).await,
            Refusal::BadSignature,
            "answer signed by another device",
        );
        check("forged answer").await;
        assert_refused(
            w.pending_signed(&a.id, &other.key, now, &fresh_nonce())
                .await,
            Refusal::BadSignature,
            "request signed by another device",
        );
        check("forged request").await;
        // A signature over one decision does not carry another.
        let p = a.payload(&ch.id, &ch.code, Decision::Approve, &ctx, now);
        let mut signed = a.sign(p);
        signed.payload.decision = Decision::NotMe;
        signed.payload.code.clear();
        assert_refused(
            w.guard.answer(&signed).await,
            Refusal::BadSignature,
            "decision altered after signing",
        );
        check("altered answer").await;

        // A valid signature over a context the device was not shown for this challenge.
        let mut shown: DisplayContext =
            serde_json::from_str(&before.challenge.context_json).expect("context JSON");
        shown.location = "Lagos, NG".into();
        let other_ctx = shown.sha256_hex();
        assert_ne!(other_ctx, ctx);
        let p = a.payload(&ch.id, &ch.code, Decision::Approve, &other_ctx, now);
        assert_refused(
            w.guard.answer(&a.sign(p)).await,
            Refusal::ContextMismatch,
            "answer over another context",
        );
        check("context mismatch").await;

        // Stale or future timestamps.
        for skew in [-301_000, 301_000] {
            let p = a.payload(&ch.id, &ch.code, Decision::Approve, &ctx, now + skew);
            assert_refused(
                w.guard.answer(&a.sign(p)).await,
                Refusal::StaleTimestamp,
                "answer with a skewed clock",
            );
            assert_refused(
                w.pending_signed(&a.id, &a.key, now + skew, &fresh_nonce())
                    .await,
                Refusal::StaleTimestamp,
                "request with a skewed clock",
            );
        }
        check("stale timestamp").await;

        // A revoked device.
        let p = revoked.payload(&ch.id, &ch.code, Decision::Approve, &ctx, now);
        assert_refused(
            w.guard.answer(&revoked.sign(p)).await,
            Refusal::RevokedDevice,
            "answer from a revoked device",
        );
        assert_refused(
            w.pending(&revoked).await,
            Refusal::RevokedDevice,
            "request from a revoked device",
        );
        check("revoked device").await;

        // Someone else's device, an unknown device, an unknown challenge.
        let p = mallory.payload(&ch.id, &ch.code, Decision::Approve, &ctx, now);
        assert_refused(
            w.guard.answer(&mallory.sign(p)).await,
            Refusal::NotYourChallenge,
            "answer from another user's device",
        );
        let mut p = a.payload(&ch.id, &ch.code, Decision::Approve, &ctx, now);
        p.device_id = "dev_unknown".into();
        assert_refused(
            w.guard.answer(&a.sign(p)).await,
            Refusal::UnknownDevice,
            "answer from an unknown device",
        );
        let p = a.payload("ch_unknown", &ch.code, Decision::Approve, &ctx, now);
        assert_refused(
            w.guard.answer(&a.sign(p)).await,
            Refusal::UnknownChallenge,
            "answer to an unknown challenge",
        );
        check("foreign device").await;
        assert!(
            w.pending(&mallory)
                .await
                .expect("mallory's list")
                .is_empty(),
            "[{b}] mallory cannot see alice's challenge"
        );

        // After all that, the real answer still goes through.
        let receipt = w
            .answer(&a, &ch.id, &ch.code, Decision::Approve)
            .await
            .expect("the genuine answer");
        assert_eq!(receipt.status, ChallengeStatus::Approved, "[{b}]");
    }
}

#[tokio::test]
async fn expired_and_decided_challenges_are_not_answerable() {
    for w in worlds().await {
        let b = w.name;
        let dev = w.user_with_device("zoe").await;

        // After expiry, even the right code is refused.
        let ch = w.open_pending("zoe").await;
        w.set_clock(ch.expires_at);
        let before = snapshot(&w, "zoe", &ch.id).await;
        assert_eq!(
            before.status,
            ChallengeStatus::Expired,
            "[{b}] expired at the deadline"
        );
        assert_refused(
            w.answer(&dev, &ch.id, &ch.code, Decision::Approve).await,
            Refusal::NotAnswerable,
            "answer at expiry",
        );
        w.advance(30);
        assert_refused(
            w.answer(&dev, &ch.id, &ch.code, Decision::Approve).await,
            Refusal::NotAnswerable,
            "answer after expiry",
        );
        assert_eq!(
            snapshot(&w, "zoe", &ch.id).await,
            before,
            "[{b}] a late answer changes nothing"
        );

        // A decided challenge takes no second answer.
        w.guard.housekeeping().await.expect("housekeeping");
        w.skip_backoff("zoe").await;
        let ch = w.open_pending("zoe").await;
        w.answer(&dev, &ch.id, &ch.code, Decision::Approve)
            .await
            .expect("approve");
        let before = snapshot(&w, "zoe", &ch.id).await;
        assert_refused(
            w.answer(&dev, &ch.id, "", Decision::Deny).await,
            Refusal::NotAnswerable,
            "deny after approval",
        );
        assert_refused(
            w.answer(&dev, &ch.id, "", Decision::NotMe).await,
            Refusal::NotAnswerable,
            "not-me after approval",
        );
        assert_refused(
            w.answer(&dev, &ch.id, &ch.code, Decision::Approve).await,
            Refusal::NotAnswerable,
            "second approval",
        );
        let after = snapshot(&w, "zoe", &ch.id).await;
        assert_eq!(after, before, "[{b}] second answers change nothing");
        assert_eq!(after.status, ChallengeStatus::Approved);
    }
}

#[tokio::test]
async fn unknown_and_deviceless_users_get_the_same_answer() {
    for w in worlds().await {
        let b = w.name;
        w.user("nodevice").await;
        let gone = w.user_with_device("revoked").await;
        w.guard
            .revoke_device(&w.admin, &gone.id)
            .await
            .expect("revoke");

        let want = ChallengeAnswer::StepUpRequired {
            reason: StepUpReason::PushUnavailable,
        };
        let unknown = w.open("nobody-at-all").await;
        let deviceless = w.open("nodevice").await;
        let revoked = w.open("revoked").await;
        assert_eq!(unknown, want, "[{b}] unknown login");
        assert_eq!(deviceless, want, "[{b}] known login without a device");
        assert_eq!(
            revoked, want,
            "[{b}] known login whose only device is revoked"
        );
        assert_eq!(unknown, deviceless, "[{b}] indistinguishable");
    }
}

#[tokio::test]
async fn a_revocation_on_one_node_stops_the_device_on_another_at_once() {
    for w in worlds().await {
        let b = w.name;
        let dev = w.user_with_device("nina").await;
        let node_b = w.another_node();

        // Node B has served the device, so it knows (and may have cached) it.
        let items = pending_via(&node_b, &dev.id, &dev.key, w.now().millis(), &fresh_nonce())
            .await
            .expect("node B lists");
        assert!(items.is_empty());
        let ch = w.open_pending("nina").await;
        assert_eq!(
            pending_via(&node_b, &dev.id, &dev.key, w.now().millis(), &fresh_nonce())
                .await
                .expect("node B lists")
                .len(),
            1
        );

        // Node A revokes it.
        w.guard
            .revoke_device(&w.admin, &dev.id)
            .await
            .expect("revoke on node A");
        assert!(
            w.store
                .device(&dev.id)
                .await
                .expect("read")
                .expect("device")
                .revoked_at
                .is_some()
        );
        let before = snapshot(&w, "nina", &ch.id).await;

        // Node B must refuse it from now on, whatever it remembers.
        let signed = w
            .signed_answer(&dev, &ch.id, &ch.code, Decision::Approve)
            .await;
        match node_b.answer(&signed).await {
            Err(pushback_guard::GuardError::Refused(
                Refusal::ReplayOrRevoked | Refusal::RevokedDevice,
            )) => {}
            other => panic!("[{b}] a revoked device's answer on another node: {other:?}"),
        }
        match pending_via(&node_b, &dev.id, &dev.key, w.now().millis(), &fresh_nonce()).await {
            Err(pushback_guard::GuardError::Refused(
                Refusal::ReplayOrRevoked | Refusal::RevokedDevice,
            )) => {}
            other => panic!("[{b}] a revoked device's request on another node: {other:?}"),
        }
        assert_eq!(
            snapshot(&w, "nina", &ch.id).await,
            before,
            "[{b}] nothing changed"
        );
        assert_eq!(w.status(&ch.id).await, ChallengeStatus::Pending);
    }
}
