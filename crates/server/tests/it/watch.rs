//! watch, live: Okta batches posted to the ingest API and the guard's own decisions go
//! through the same engine; findings are stored once, listed at `GET /v1/findings` and
//! written to the jsonl sink.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use pushback_guard::{Decision, GuardSettings, KeyType, PolicySettings};
use pushback_model::{Clock as _, Finding, Timestamp};
use pushback_watch::input::{EventReader, ReaderSettings};
use pushback_watch::rule::RuleSet;
use pushback_watch::{Engine, EngineSettings, Format};

use crate::support::{TestServer, databases};

/// An Okta System Log event as Okta writes it (the fields the normaliser reads).
pub(crate) fn okta(uuid: &str, at: Timestamp, event_type: &str, result: &str, user: &str) -> Value {
    json!({
        "uuid": uuid,
        "published": at.to_rfc3339(),
        "eventType": event_type,
        "outcome": { "result": result },
        "actor": { "id": "00u1", "type": "User", "alternateId": user },
        "client": { "ipAddress": "198.51.100.7" },
        "authenticationContext": { "externalSessionId": format!("idx-{user}") },
        "debugContext": { "debugData": { "factor": "OKTA_VERIFY_PUSH" } }
    })
}

/// Five denied pushes for `user` in the four minutes before `end`, then an approval.
pub(crate) fn flood(user: &str, end: Timestamp) -> Vec<Value> {
    let mut events: Vec<Value> = (0..5)
        .map(|i| {
            okta(
                &format!("{user}-deny-{i}"),
                end.minus_secs(240 - i * 60),
                "user.mfa.okta_verify.deny_push",
                "FAILURE",
                user,
            )
        })
        .collect();
    events.push(okta(
        &format!("{user}-ok"),
        end.plus_secs(30),
        "user.authentication.auth_via_mfa",
        "SUCCESS",
        user,
    ));
    events
}

pub(crate) async fn ingest_key(s: &TestServer) -> String {
    let r = s
        .admin_post(
            "/v1/admin/ingest-keys",
            json!({ "name": "Okta event hook" }),
        )
        .await;
    r["ingest_key"].as_str().unwrap().to_owned()
}

pub(crate) async fn post_ingest(
    s: &TestServer,
    source: &str,
    key: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let r = s
        .http
        .post(s.url(&format!("/v1/ingest/{source}")))
        .bearer_auth(key)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Lets the clock pass everything held and waits until the engine has stored it.
pub(crate) async fn catch_up(s: &TestServer) {
    s.clock.advance_secs(3600);
    s.live.sync().await.unwrap();
}

async fn findings(s: &TestServer, query: &str) -> Vec<Finding> {
    let v = s
        .get_json(&format!("/v1/findings{query}"), &s.admin_key)
        .await;
    serde_json::from_value(v["findings"].clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

/// The jsonl sink's findings once it holds at least `n` (it drains a queue of its own).
async fn jsonl(s: &TestServer, n: usize) -> Vec<Finding> {
    for _ in 0..500 {
        let text = std::fs::read_to_string(&s.jsonl).unwrap_or_default();
        let found: Vec<Finding> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the jsonl sink never held {n} findings");
}

/// What identifies a finding for comparison.
fn episodes(found: &[Finding]) -> BTreeSet<(String, Option<String>, i64, i64, u64)> {
    found
        .iter()
        .map(|f| {
            (
                f.rule_id.clone(),
                f.user.clone(),
                f.window_start.millis(),
                f.window_end.millis(),
                f.event_count,
            )
        })
        .collect()
}

#[tokio::test]
async fn an_okta_flood_posted_to_ingest_is_found_stored_listed_and_sunk_once() {
    for db in databases() {
        let s = TestServer::start(&db).await;
        let key = ingest_key(&s).await;
        let events = flood("alice@example.com", s.clock.now());
        // As an Okta event hook delivers them.
        let hook = json!({ "eventType": "com.okta.event_hook", "data": { "events": events } });
        let (status, reply) =
            post_ingest(&s, "okta", &key, serde_json::to_vec(&hook).unwrap()).await;
        assert_eq!(status, 202, "{reply}");
        assert_eq!(reply["accepted"], 6, "{reply}");
        assert_eq!(reply["rejected"], 0, "{reply}");
        catch_up(&s).await;

        let found = findings(&s, "").await;
        let rules: BTreeSet<&str> = found.iter().map(|f| f.rule_id.as_str()).collect();
        assert_eq!(
            rules,
            BTreeSet::from(["push_flood", "push_flood_then_success"]),
            "{found:?}"
        );
        let flood_finding = found.iter().find(|f| f.rule_id == "push_flood").unwrap();
        assert_eq!(flood_finding.user.as_deref(), Some("alice@example.com"));
        assert_eq!(flood_finding.event_count, 5);
        assert_eq!(
            serde_json::to_value(flood_finding.source).unwrap(),
            json!("okta")
        );
        let sunk = jsonl(&s, 2).await;
        assert_eq!(
            episodes(&sunk),
            episodes(&found),
            "the sink got what was stored"
        );

        // The same batch again (a retried delivery): nothing new is stored or sent.
        let (status, _) = post_ingest(&s, "okta", &key, serde_json::to_vec(&hook).unwrap()).await;
        assert_eq!(status, 202);
        catch_up(&s).await;
        assert_eq!(findings(&s, "").await.len(), 2, "stored once per episode");
        let metrics = s.metrics().await;
        assert!(
            metrics.contains(r#"pushback_watch_findings_total{rule="push_flood"} 1"#),
            "{metrics}"
        );
        assert!(
            metrics
                .contains(r#"pushback_ingest_records_total{source="okta",result="accepted"} 12"#),
            "{metrics}"
        );
        assert!(
            metrics.contains("pushback_watch_late_events_total"),
            "{metrics}"
        );

        // Filters and paging.
        let alice = findings(&s, "?rule_id=push_flood&user=alice@example.com").await;
        assert_eq!(alice.len(), 1);
        assert!(findings(&s, "?user=bob").await.is_empty());
        let first = s.get_json("/v1/findings?limit=1", &s.admin_key).await;
        let cursor = first["next_cursor"]
            .as_str()
            .expect("a second page")
            .to_owned();
        let second = s
            .get_json(
                &format!("/v1/findings?limit=1&cursor={cursor}"),
                &s.admin_key,
            )
            .await;
        assert_eq!(second["findings"].as_array().unwrap().len(), 1);
        assert!(second.get("next_cursor").is_none(), "{second}");
        let r = s
            .http
            .get(s.url("/v1/findings?colour=red"))
            .bearer_auth(&s.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "unknown parameters are refused");
        let r = s
            .http
            .get(s.url("/v1/findings"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            401,
            "an ingest key cannot read findings"
        );
    }
}

#[tokio::test]
async fn bad_ingest_keys_get_one_uniform_401_and_nothing_is_stored() {
    for db in databases() {
        let s = TestServer::start(&db).await;
        let key = ingest_key(&s).await;
        let body = serde_json::to_vec(&flood("alice@example.com", s.clock.now())).unwrap();
        let wrong_secret = format!("{key}x");
        let mut problems = Vec::new();
        for bad in [
            wrong_secret.as_str(),
            "pbi.ing_nope.secret",
            s.admin_key.as_str(),
            s.app_key.as_str(),
            "",
        ] {
            let r = s
                .http
                .post(s.url("/v1/ingest/okta"))
                .header("authorization", format!("Bearer {bad}"))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 401);
            assert_eq!(
                r.headers()["content-type"].to_str().unwrap(),
                "application/problem+json"
            );
            problems.push(r.text().await.unwrap());
        }
        problems.dedup();
        assert_eq!(
            problems.len(),
            1,
            "every refusal reads the same: {problems:?}"
        );
        catch_up(&s).await;
        assert!(findings(&s, "").await.is_empty());
        assert!(!s.metrics().await.contains("pushback_ingest_records_total{"));

        // A known key and an unknown source: 404, not a guess at the format.
        assert_eq!(post_ingest(&s, "splunk", &key, body.clone()).await.0, 404);
    }
}

#[tokio::test]
async fn a_bad_record_is_rejected_alone_and_an_oversized_batch_refused() {
    let s = TestServer::start(&crate::support::Db::Sqlite).await;
    let key = ingest_key(&s).await;
    let mut lines: Vec<String> = flood("carol@example.com", s.clock.now())
        .iter()
        .map(Value::to_string)
        .collect();
    lines.insert(
        2,
        r#"{"uuid":"x","eventType":"user.mfa.okta_verify.deny_push","published":"yesterday"}"#
            .into(),
    );
    let (status, reply) = post_ingest(&s, "okta", &key, lines.join("\n").into_bytes()).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["accepted"], 6, "{reply}");
    assert_eq!(reply["rejected"], 1, "{reply}");
    assert_eq!(reply["errors"][0]["record"], 3, "{reply}");
    assert!(
        reply["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("time"),
        "{reply}"
    );
    let huge = vec![b' '; 6 << 20];
    assert_eq!(post_ingest(&s, "okta", &key, huge).await.0, 413);
}

#[tokio::test]
async fn okta_event_hook_verification_echoes_the_challenge_to_a_keyed_caller() {
    let s = TestServer::start(&crate::support::Db::Sqlite).await;
    let key = ingest_key(&s).await;
    let get = |auth: Option<String>, challenge: Option<&'static str>| {
        let mut r = s.http.get(s.url("/v1/ingest/okta"));
        if let Some(a) = auth {
            r = r.bearer_auth(a);
        }
        if let Some(c) = challenge {
            r = r.header("x-okta-verification-challenge", c);
        }
        r.send()
    };
    let r = get(
        Some(key.clone()),
        Some("3Yr7dxw9WWq2lHoAB2KF9XtdrQ8xQrzwR1vXyGa0"),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "verification": "3Yr7dxw9WWq2lHoAB2KF9XtdrQ8xQrzwR1vXyGa0" })
    );
    let r = get(None, Some("abc")).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = get(Some(key), None).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn five_denials_on_the_guard_make_a_push_flood_with_source_pushback() {
    for db in databases() {
        // Enough room in the policy for five denials in a row (the default locks at three).
        let settings = GuardSettings {
            policy: PolicySettings {
                lockout_denies: 10,
                ..PolicySettings::default()
            },
            ..GuardSettings::default()
        };
        let s = TestServer::start_with(&db, settings, Vec::new()).await;
        let alice = s.user_with_device("alice", KeyType::P256).await;
        for _ in 0..5 {
            let c = s.challenge("alice").await;
            assert!(c["auth_req_id"].is_string(), "{c}");
            let item = s.pending(&alice).await.remove(0);
            let (status, _, body) = s
                .post_answer(&alice.answer(&item, Decision::Deny, "", s.clock.now()))
                .await;
            assert_eq!(status, 200, "{body}");
            // Past the backoff the deny started (10 s, doubling: 80 s after the fourth).
            s.clock.advance_secs(100);
        }
        catch_up(&s).await;
        let found = findings(&s, "?rule_id=push_flood").await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].user.as_deref(), Some("alice"));
        assert_eq!(found[0].event_count, 5);
        assert_eq!(
            serde_json::to_value(found[0].source).unwrap(),
            json!("pushback")
        );
        assert!(
            found[0]
                .event_ids
                .iter()
                .all(|id| id.ends_with(":challenge.denied")),
            "{:?}",
            found[0].event_ids
        );
        assert_eq!(jsonl(&s, 1).await[0].rule_id, "push_flood");
    }
}

/// What `pushback watch` does with a file: one reader, one engine, `finish` at the end.
fn batch_run(bytes: &[u8]) -> Vec<Finding> {
    let mut engine = Engine::new(RuleSet::builtin().unwrap(), EngineSettings::default());
    let mut found = Vec::new();
    let settings = ReaderSettings {
        format: Some(Format::Okta),
        ..ReaderSettings::default()
    };
    for record in EventReader::new(bytes, settings) {
        for event in record.unwrap().outcome.into_events() {
            engine.observe_into(event, &mut found);
        }
    }
    found.extend(engine.finish());
    found
}

#[tokio::test]
async fn ingest_finds_what_a_batch_run_of_the_same_log_finds() {
    for db in databases() {
        let s = TestServer::start(&db).await;
        let key = ingest_key(&s).await;
        let now = s.clock.now();
        let mut events = flood("alice@example.com", now);
        events.extend(flood("bob@example.com", now.plus_secs(90)));
        events.push(okta(
            "carol-fraud",
            now.plus_secs(10),
            "user.account.report_suspicious_activity_by_enduser",
            "SUCCESS",
            "carol@example.com",
        ));
        // Three denials for dave: too few for a flood, in either run.
        for i in 0..3 {
            events.push(okta(
                &format!("dave-{i}"),
                now.plus_secs(i * 20),
                "user.mfa.okta_verify.deny_push",
                "FAILURE",
                "dave@example.com",
            ));
        }
        let log: String = events.iter().map(|e| format!("{e}\n")).collect();
        let expected = batch_run(log.as_bytes());
        assert!(
            expected.len() >= 5,
            "the log has findings to compare: {expected:?}"
        );

        // Posted in two batches, as a hook delivers them.
        let lines: Vec<&str> = log.lines().collect();
        let (a, b) = lines.split_at(lines.len() / 2);
        for part in [a, b] {
            let (status, reply) = post_ingest(&s, "okta", &key, part.join("\n").into_bytes()).await;
            assert_eq!(status, 202, "{reply}");
            assert_eq!(reply["rejected"], 0, "{reply}");
        }
        catch_up(&s).await;
        let live = findings(&s, "?limit=1000").await;
        assert_eq!(episodes(&live), episodes(&expected));
    }
}
