//! Bad input and bad credentials: clear problem+json answers, nothing changed, and no way
//! to tell unknown users from users whose push is unavailable.

use pushback_model::Clock as _;
use serde_json::{Value, json};

use pushback_guard::KeyType;

use crate::support::{Db, TestServer};

async fn problem(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn malformed_unknown_and_oversized_bodies_are_refused_and_change_nothing() {
    let s = TestServer::start(&Db::Sqlite).await;
    let alice = s.user_with_device("alice", KeyType::P256).await;
    let post = |body: String| {
        s.http
            .post(s.url("/v1/challenges"))
            .bearer_auth(&s.app_key)
            .header("content-type", "application/json")
            .body(body)
    };

    let (status, p) = problem(post("{not json".into()).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(p["title"], "Invalid request");

    let unknown = json!({ "login_hint": "alice", "context": { "action": "a", "ip": "192.0.2.1" }, "binding_message": "x" });
    let (status, p) = problem(post(unknown.to_string()).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(
        p["detail"].as_str().unwrap().contains("unknown field"),
        "{p}"
    );

    let nested_unknown = json!({ "login_hint": "alice", "context": { "action": "a", "ip": "192.0.2.1", "app": "Spoofed" } });
    assert_eq!(
        problem(post(nested_unknown.to_string()).send().await.unwrap())
            .await
            .0,
        400
    );

    let bad_ip = json!({ "login_hint": "alice", "context": { "action": "a", "ip": "localhost" } });
    assert_eq!(
        problem(post(bad_ip.to_string()).send().await.unwrap())
            .await
            .0,
        400
    );

    let too_long = json!({ "login_hint": "alice", "context": { "action": "a", "ip": "192.0.2.1" }, "requested_expiry": 601 });
    assert_eq!(
        problem(post(too_long.to_string()).send().await.unwrap())
            .await
            .0,
        400
    );

    let huge = json!({ "login_hint": "alice", "context": { "action": "x".repeat(20_000), "ip": "192.0.2.1" } });
    assert_eq!(
        problem(post(huge.to_string()).send().await.unwrap())
            .await
            .0,
        413
    );

    let r = s
        .http
        .post(s.url("/v1/device/answers"))
        .header("content-type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, 400);

    // Nothing was opened by any of them.
    assert!(s.pending(&alice).await.is_empty());
    let metrics = s.metrics().await;
    assert!(
        !metrics.contains("pushback_challenge_requests_total{"),
        "{metrics}"
    );
}

#[tokio::test]
async fn credentials_are_checked_per_api() {
    let s = TestServer::start(&Db::Sqlite).await;
    let body = json!({ "login_hint": "alice", "context": { "action": "a", "ip": "192.0.2.1" } });

    let r = s
        .http
        .post(s.url("/v1/challenges"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(problem(r).await.0, 401);

    let wrong_secret = format!("{}x", s.app_key);
    let r = s
        .http
        .post(s.url("/v1/challenges"))
        .bearer_auth(wrong_secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, 401);

    let r = s
        .http
        .post(s.url("/v1/challenges"))
        .bearer_auth(&s.admin_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, 401, "the admin key is not an app key");

    let r = s
        .http
        .post(s.url("/v1/admin/users"))
        .bearer_auth(&s.app_key)
        .json(&json!({ "login": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, 401, "an app key is not an admin key");

    // A second app cannot see the first app's challenges.
    s.user_with_device("alice", KeyType::P256).await;
    let c = s.challenge("alice").await;
    let other = s
        .admin_post("/v1/admin/apps", json!({ "name": "Other" }))
        .await;
    let r = s
        .http
        .get(s.url(&format!(
            "/v1/challenges/{}",
            c["auth_req_id"].as_str().unwrap()
        )))
        .bearer_auth(other["api_key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, 404);
}

#[tokio::test]
async fn unknown_users_look_like_users_without_push() {
    let s = TestServer::start(&Db::Sqlite).await;
    s.admin_post("/v1/admin/users", json!({ "login": "carol" }))
        .await;
    let body = |login: &str| json!({ "login_hint": login, "context": { "action": "a", "ip": "192.0.2.1" } });
    let ask = |login: &'static str| {
        let req = s
            .http
            .post(s.url("/v1/challenges"))
            .bearer_auth(&s.app_key)
            .json(&body(login));
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let ghost = ask("ghost").await;
    let carol = ask("carol").await;
    assert_eq!(ghost, carol);
    assert_eq!(ghost.0, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&ghost.1).unwrap(),
        json!({ "status": "step_up_required", "reason": "push_unavailable" })
    );
}

#[tokio::test]
async fn the_fatigue_policy_shows_through_the_app_api() {
    let s = TestServer::start(&Db::Sqlite).await;
    let alice = s.user_with_device("alice", KeyType::P256).await;
    // Each unanswered prompt (here: superseded by the next) doubles the wait.
    assert_eq!(s.challenge("alice").await["status"], "pending");
    assert_eq!(s.challenge("alice").await["status"], "pending");
    let mut waits = Vec::new();
    for _ in 0..4 {
        let w = s.challenge("alice").await;
        assert_eq!(w["status"], "wait", "{w}");
        let secs = w["retry_after"].as_i64().unwrap();
        waits.push(secs);
        s.clock.advance_secs(secs);
        if waits.len() < 4 {
            assert_eq!(s.challenge("alice").await["status"], "pending");
        }
    }
    assert_eq!(waits, [10, 20, 40, 80]);
    // Five prompts since the last approval: the budget is spent.
    assert_eq!(
        s.challenge("alice").await,
        json!({ "status": "step_up_required", "reason": "budget_spent" })
    );
    // An approval opens a fresh budget.
    s.clock.advance_secs(3601);
    let c = s.challenge("alice").await;
    let item = s.pending(&alice).await.remove(0);
    let (status, _, _) = s
        .post_answer(&alice.answer(
            &item,
            pushback_guard::Decision::Approve,
            c["user_code"].as_str().unwrap(),
            s.clock.now(),
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(s.challenge("alice").await["status"], "pending");
}
