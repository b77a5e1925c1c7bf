//! respond, end to end over HTTP: a "not me" and a flood posted to the ingest API each
//! open an incident whose timeline shows every action; admins acknowledge and resolve
//! it, and lift what the playbook imposed.

use std::time::Duration;

use serde_json::{Value, json};

use pushback_guard::KeyType;
use pushback_model::Clock as _;

use crate::support::{TestServer, databases};
use crate::watch::{catch_up, flood, ingest_key, post_ingest};

/// Polls `GET path` until `done` holds (the responder works on its own tasks).
pub(crate) async fn eventually(s: &TestServer, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..1000 {
        last = s.get_json(path, &s.admin_key).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{path} never got there; last: {last:#}");
}

fn summaries(detail: &Value) -> Vec<String> {
    detail["timeline"]
        .as_array()
        .map(|t| {
            t.iter()
                .map(|e| e["summary"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn has(detail: &Value, prefix: &str) -> bool {
    summaries(detail).iter().any(|s| s.starts_with(prefix))
}

async fn post(s: &TestServer, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = s.http.post(s.url(path)).bearer_auth(&s.admin_key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn not_me_opens_a_critical_incident_that_records_each_action_and_admins_resolve_it() {
    for db in databases() {
        let s = TestServer::start(&db).await;
        s.report_not_me("alice").await;

        let list = eventually(&s, "/v1/incidents", |v| {
            v["incidents"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
        let incident = &list["incidents"][0];
        assert_eq!(incident["subject"], "alice");
        assert_eq!(incident["severity"], "critical");
        assert_eq!(incident["state"], "open");
        let id = incident["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/incidents/{id}");
        let detail = eventually(&s, &path, |d| {
            has(d, "lock_push@guard: done") && has(d, "revoke_sessions skipped")
        })
        .await;
        let texts = summaries(&detail);
        // The user's story from guard's audit log, then the response, in order.
        let at = |prefix: &str| {
            texts
                .iter()
                .position(|t| t.starts_with(prefix))
                .unwrap_or_else(|| panic!("{prefix}: {texts:?}"))
        };
        assert!(
            at("device.enrolled") < at("challenge.created by app:"),
            "{texts:?}"
        );
        assert!(
            at("challenge.created by app:") < at("challenge.not_me by device:"),
            "{texts:?}"
        );
        assert!(
            at("challenge.not_me by device:") < at("the user reported a prompt as not theirs"),
            "{texts:?}"
        );
        let attempt = detail["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "action")
            .unwrap();
        assert_eq!(attempt["detail"]["ok"], true);
        assert!(attempt["detail"]["latency_ms"].is_i64(), "{attempt}");
        // Push stays locked (guard's own not-me lock, as long as the playbook's).
        assert_eq!(s.challenge("alice").await["status"], "locked");

        let (status, acked) = post(
            &s,
            &format!("{path}/ack"),
            Some(json!({ "owner": "soc-oncall" })),
        )
        .await;
        assert_eq!(status, 200, "{acked}");
        assert_eq!(
            (acked["state"].as_str(), acked["owner"].as_str()),
            (Some("acknowledged"), Some("soc-oncall"))
        );
        let (status, resolved) = post(&s, &format!("{path}/resolve"), None).await;
        assert_eq!(
            (status, resolved["state"].as_str()),
            (200, Some("resolved"))
        );
        let (status, again) = post(&s, &format!("{path}/resolve"), None).await;
        assert_eq!(status, 409, "{again}");
        assert!(
            again["detail"]
                .as_str()
                .is_some_and(|d| d.ends_with("is resolved and cannot become resolved")),
            "{again}"
        );
        assert_eq!(post(&s, "/v1/incidents/inc_nope/ack", None).await.0, 404);
        let (status, bad) = post(
            &s,
            &format!("{path}/ack"),
            Some(json!({ "owner": "x", "color": "red" })),
        )
        .await;
        assert_eq!(status, 400, "unknown fields are refused: {bad}");
        let anonymous = s.http.get(s.url("/v1/incidents")).send().await.unwrap();
        assert_eq!(anonymous.status().as_u16(), 401);
        let open = s.get_json("/v1/incidents?state=open", &s.admin_key).await;
        assert_eq!(open["incidents"], json!([]));
    }
}

#[tokio::test]
async fn a_flood_posted_to_ingest_requires_step_up_until_an_admin_lifts_it() {
    for db in databases() {
        let s = TestServer::start(&db).await;
        s.user_with_device("alice@example.com", KeyType::P256).await;
        let key = ingest_key(&s).await;
        // Five denials, no approval: a flood (high), not a flood-then-success.
        let events: Vec<Value> = flood("alice@example.com", s.clock.now())
            .into_iter()
            .take(5)
            .collect();
        let hook = json!({ "eventType": "com.okta.event_hook", "data": { "events": events } });
        let (status, reply) =
            post_ingest(&s, "okta", &key, serde_json::to_vec(&hook).unwrap()).await;
        assert_eq!(status, 202, "{reply}");
        catch_up(&s).await;

        let list = eventually(&s, "/v1/incidents", |v| {
            v["incidents"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
        let incident = &list["incidents"][0];
        assert_eq!(
            (incident["subject"].as_str(), incident["severity"].as_str()),
            (Some("alice@example.com"), Some("high"))
        );
        let path = format!("/v1/incidents/{}", incident["id"].as_str().unwrap());
        let detail = eventually(&s, &path, |d| has(d, "require_step_up@guard: done")).await;
        assert_eq!(
            detail["findings"].as_array().map(Vec::len),
            Some(1),
            "{detail:#}"
        );

        let refused = s.challenge("alice@example.com").await;
        assert_eq!(
            (refused["status"].as_str(), refused["reason"].as_str()),
            (Some("step_up_required"), Some("required")),
            "{refused}"
        );
        let (status, lifted) =
            post(&s, "/v1/admin/users/alice@example.com/lift-step-up", None).await;
        assert_eq!(status, 200, "{lifted}");
        assert_eq!(s.challenge("alice@example.com").await["status"], "pending");
        assert_eq!(
            post(&s, "/v1/admin/users/alice@example.com/lift-step-up", None)
                .await
                .0,
            404,
            "nothing left to lift"
        );
    }
}
