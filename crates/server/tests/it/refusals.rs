//! Every refused device request gets the same problem+json answer and changes nothing.

use pushback_model::Clock as _;
use serde_json::{Value, json};

use pushback_guard::{Decision, KeyType};

use crate::support::{TestServer, databases, nonce};

/// Posts `body`, expects the uniform refusal, and returns the body for comparison.
async fn refused(s: &TestServer, body: &Value, what: &str) -> Value {
    let (status, ct, problem) = s.post_answer(body).await;
    assert_eq!(
        status, 403,
        "{what}: expected a refusal, got {status} {problem}"
    );
    assert_eq!(ct, "application/problem+json", "{what}");
    problem
}

#[tokio::test]
async fn refused_device_requests_are_uniform_and_change_nothing() {
    for db in databases() {
        let s = TestServer::start(&db).await;
        let alice = s.user_with_device("alice", KeyType::P256).await;
        let bob = s.user_with_device("bob", KeyType::Ed25519).await;
        let mut problems = Vec::new();

        // A replayed signed request: the first use works, the second is refused.
        let n = nonce();
        assert_eq!(s.pending_raw(&alice, &n).await.0, 200);
        let (status, replay) = s.pending_raw(&alice, &n).await;
        assert_eq!(status, 403);
        problems.push(replay);

        let c1 = s.challenge("alice").await;
        let id1 = c1["auth_req_id"].as_str().unwrap();
        let code1 = c1["user_code"].as_str().unwrap();
        let item = s.pending(&alice).await.remove(0);
        let before = s.user_state("alice").await;

        // Signed by another device's key while claiming alice's device.
        let forged = alice.answer_signed_by(
            &bob.key,
            id1,
            &item.context_sha256,
            Decision::Approve,
            code1,
            s.clock.now(),
        );
        problems.push(refused(&s, &forged, "another device's key").await);
        // A valid signature over a context other than the one shown.
        let other_context = "0".repeat(64);
        let wrong_ctx = alice.answer_signed_by(
            &alice.key,
            id1,
            &other_context,
            Decision::Approve,
            code1,
            s.clock.now(),
        );
        problems.push(refused(&s, &wrong_ctx, "different context").await);
        // Bob's device answering alice's challenge with his own valid signature.
        let foreign = bob.answer_signed_by(
            &bob.key,
            id1,
            &item.context_sha256,
            Decision::Approve,
            code1,
            s.clock.now(),
        );
        problems.push(refused(&s, &foreign, "someone else's challenge").await);
        // A timestamp far outside the allowed skew.
        let stale = alice.answer(
            &item,
            Decision::Approve,
            code1,
            s.clock.now().minus_secs(3600),
        );
        problems.push(refused(&s, &stale, "stale timestamp").await);
        // Replaying the very same signed answer twice: the first is refused for staleness
        // above; here a fresh answer is recorded once and its replay refused.
        assert_eq!(
            s.status_of(id1).await,
            "pending",
            "refusals must leave the challenge pending"
        );
        assert_eq!(
            s.user_state("alice").await,
            before,
            "refusals must leave the counters alone"
        );

        // Superseded: a new challenge replaces the first; answering the first is refused.
        s.clock.advance_secs(1);
        let c2 = s.challenge("alice").await;
        assert_eq!(c2["status"], "pending");
        assert_eq!(s.status_of(id1).await, "superseded");
        let superseded = alice.answer(&item, Decision::Approve, code1, s.clock.now());
        problems.push(refused(&s, &superseded, "superseded").await);
        assert_eq!(s.status_of(id1).await, "superseded");

        // A wrong code: refused, and it kills the challenge as a deny (one guess).
        let item2 = s.pending(&alice).await.remove(0);
        let code2 = c2["user_code"].as_str().unwrap();
        let wrong = if code2 == "000000" {
            "000001"
        } else {
            "000000"
        };
        problems.push(
            refused(
                &s,
                &alice.answer(&item2, Decision::Approve, wrong, s.clock.now()),
                "wrong code",
            )
            .await,
        );
        let id2 = c2["auth_req_id"].as_str().unwrap();
        assert_eq!(s.status_of(id2).await, "denied");
        // …so even the right code is refused afterwards.
        problems.push(
            refused(
                &s,
                &alice.answer(&item2, Decision::Approve, code2, s.clock.now()),
                "after wrong code",
            )
            .await,
        );

        // After expiry.
        s.clock.advance_secs(3600);
        let c3 = s.challenge("alice").await;
        assert_eq!(c3["status"], "pending", "{c3}");
        let item3 = s.pending(&alice).await.remove(0);
        s.clock.advance_secs(121);
        let before = s.user_state("alice").await;
        problems.push(
            refused(
                &s,
                &alice.answer(
                    &item3,
                    Decision::Approve,
                    c3["user_code"].as_str().unwrap(),
                    s.clock.now(),
                ),
                "expired",
            )
            .await,
        );
        assert_eq!(
            s.status_of(c3["auth_req_id"].as_str().unwrap()).await,
            "expired"
        );
        assert_eq!(s.user_state("alice").await, before);

        // A second answer to a decided challenge, and a replay of the first.
        s.clock.advance_secs(3600);
        let c4 = s.challenge("alice").await;
        let item4 = s.pending(&alice).await.remove(0);
        let approve = alice.answer(
            &item4,
            Decision::Approve,
            c4["user_code"].as_str().unwrap(),
            s.clock.now(),
        );
        let (status, _, ok) = s.post_answer(&approve).await;
        assert_eq!((status, ok["status"].as_str()), (200, Some("approved")));
        problems.push(refused(&s, &approve, "replayed answer").await);
        problems.push(
            refused(
                &s,
                &alice.answer(&item4, Decision::Deny, "", s.clock.now()),
                "second answer",
            )
            .await,
        );
        assert_eq!(
            s.status_of(c4["auth_req_id"].as_str().unwrap()).await,
            "approved"
        );

        // A revoked device.
        let r = s
            .http
            .delete(s.url(&format!("/v1/admin/devices/{}", bob.id)))
            .bearer_auth(&s.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        let (status, revoked) = s.pending_raw(&bob, &nonce()).await;
        assert_eq!(status, 403);
        problems.push(revoked);

        // Bad or missing signature headers.
        let r = s
            .http
            .get(s.url("/v1/device/pending"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403);
        problems.push(r.json().await.unwrap());

        let first = &problems[0];
        assert_eq!(first["status"], 403);
        for (i, p) in problems.iter().enumerate() {
            assert_eq!(p, first, "refusal #{i} differs from the others");
        }
    }
}

#[tokio::test]
async fn not_me_locks_push_kills_pending_and_is_counted() {
    let s = TestServer::start(&crate::support::Db::Sqlite).await;
    let alice = s.user_with_device("alice", KeyType::P256).await;
    let c = s.challenge("alice").await;
    let item = s.pending(&alice).await.remove(0);
    let (status, _, body) = s
        .post_answer(&alice.answer(&item, Decision::NotMe, "", s.clock.now()))
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("not_me")));
    assert_eq!(
        s.status_of(c["auth_req_id"].as_str().unwrap()).await,
        "not_me"
    );

    s.clock.advance_secs(3600);
    let locked = s.challenge("alice").await;
    assert_eq!(locked["status"], "locked");
    assert_eq!(locked["reason"], "not_me");
    assert!(s.pending(&alice).await.is_empty());

    let metrics = s.metrics().await;
    assert!(
        metrics.contains(r#"pushback_challenge_outcomes_total{outcome="not_me"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"pushback_lockouts_total{reason="not_me"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"pushback_challenge_requests_total{answer="locked"} 1"#),
        "{metrics}"
    );

    let unlocked: Value = s
        .http
        .post(s.url("/v1/admin/users/alice/unlock"))
        .bearer_auth(&s.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unlocked["state"]["locked_until"], Value::Null);
    assert_eq!(s.challenge("alice").await["status"], "pending");
}

#[tokio::test]
async fn hostile_timestamps_and_weak_keys_are_refused() {
    let s = TestServer::start(&crate::support::Db::Sqlite).await;
    let alice = s.user_with_device("alice", KeyType::P256).await;
    s.challenge("alice").await;
    let item = s.pending(&alice).await.remove(0);

    // A timestamp at i64::MIN once overflowed the freshness check (found by fuzzing).
    for ts in [i64::MIN, i64::MAX] {
        let r = s
            .http
            .get(s.url("/v1/device/pending"))
            .header("pushback-device", &alice.id)
            .header("pushback-timestamp", ts.to_string())
            .header("pushback-nonce", nonce())
            .header("pushback-signature", "AAAA")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403);
        let mut body = alice.answer(&item, Decision::Deny, "", s.clock.now());
        body["timestamp"] = json!(ts);
        assert_eq!(s.post_answer(&body).await.0, 403);
    }

    // The Ed25519 neutral point "verifies" a fixed signature over anything; enrolment
    // must refuse it.
    s.admin_post("/v1/admin/users", json!({ "login": "mallory" }))
        .await;
    let e = s
        .admin_post("/v1/admin/users/mallory/enrolments", json!(null))
        .await;
    let token = e["link"]
        .as_str()
        .unwrap()
        .split_once("/enroll#")
        .unwrap()
        .1
        .to_owned();
    let mut weak = [0u8; 32];
    weak[0] = 1;
    let mut forged = [0u8; 64];
    forged[0] = 1;
    let r = s
        .http
        .post(s.url("/v1/enroll"))
        .json(&json!({
            "token": token, "key_type": "ed25519", "public_key": pushback_guard::proof::b64(&weak),
            "name": "weak", "signature": pushback_guard::proof::b64(&forged),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(s.device_count("mallory").await, 0);

    // The causes stay out of the answers but are counted for operators.
    let metrics = s.metrics().await;
    assert!(
        metrics.contains(r#"pushback_device_refusals_total{cause="stale_timestamp"} 4"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"pushback_device_refusals_total{cause="bad_enrolment"} 1"#),
        "{metrics}"
    );
}
