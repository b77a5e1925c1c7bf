//! Okta against a local server that checks the documented requests: `SSWS` auth,
//! user lookup by login, sessions cleared with OAuth tokens, idempotent suspend,
//! rate-limit headers, and the System Log's `Link: rel="next"` polling.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pushback_connect::{
    ConnectorError, IdentityProvider, LogSource, Okta, OktaConfig, Outcome, Secret, UserRef,
};
use pushback_model::Clock as _;
use serde_json::json;

use crate::support::{Req, Resp, T0, Vendor, Waits, clock, drain, ids_once, quick_retry, vendor};

const TOKEN: &str = "00okta-test-token";

fn client(v: &Vendor) -> (Okta, Arc<Waits>, Arc<pushback_model::ManualClock>) {
    let config = OktaConfig {
        base_url: v.url.clone(),
        retry: quick_retry(),
        page_size: 3,
        timeout_ms: 300,
        ..OktaConfig::default()
    };
    let waits = Arc::new(Waits::default());
    let c = clock();
    let client = Okta::with_token(&config, Secret::new(TOKEN), c.clone())
        .unwrap()
        .with_pause(waits.clone());
    (client, waits, c)
}

fn authorised(r: &Req) -> bool {
    r.header("authorization") == format!("SSWS {TOKEN}") && r.header("accept") == "application/json"
}

fn user(status: &str) -> Resp {
    Resp::json(
        200,
        json!({ "id": "00u1", "status": status, "profile": { "login": "alice@example.com" } }),
    )
}

fn not_found() -> Resp {
    Resp::json(
        404,
        json!({ "errorCode": "E0000007", "errorSummary": "Not found: Resource not found: bob@example.com (User)" }),
    )
}

#[tokio::test]
async fn revoke_sessions_looks_the_login_up_and_clears_sessions_with_oauth_tokens() {
    let v = vendor(|r| {
        assert!(authorised(r), "{r:?}");
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/api/v1/users/alice@example.com") => user("ACTIVE"),
            ("GET", "/api/v1/users/bob@example.com") => not_found(),
            ("DELETE", "/api/v1/users/00u1/sessions") => {
                assert_eq!(
                    r.query().get("oauthTokens").map(String::as_str),
                    Some("true")
                );
                Resp::empty(204)
            }
            _ => panic!("unexpected {r:?}"),
        }
    })
    .await;
    let (okta, _, _) = client(&v);
    let receipt = okta
        .revoke_sessions(&UserRef::new("alice@example.com"))
        .await
        .unwrap();
    assert_eq!(receipt.outcome, Outcome::Done);
    assert_eq!(receipt.vendor_id.as_deref(), Some("00u1"));
    assert_eq!(v.count("DELETE", "/api/v1/users/00u1/sessions"), 1);

    let err = okta
        .revoke_sessions(&UserRef::new("bob@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::UnknownUser { .. }), "{err}");
    assert!(err.to_string().contains("bob@example.com"), "{err}");
}

#[tokio::test]
async fn suspend_is_idempotent() {
    // alice is active and gets suspended; carol is suspended already; erin is
    // STAGED, which Okta refuses to suspend.
    let v = vendor(move |r| {
        assert!(authorised(r), "{r:?}");
        let invalid = || {
            Resp::json(
                400,
                json!({
                    "errorCode": "E0000001",
                    "errorSummary": "Api validation failed: suspend",
                    "errorCauses": [{ "errorSummary": "Cannot suspend a user that is not active" }]
                }),
            )
        };
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/api/v1/users/alice") => user("ACTIVE"),
            ("GET", "/api/v1/users/carol") => user("SUSPENDED"),
            ("GET", "/api/v1/users/erin") => {
                Resp::json(200, json!({ "id": "00u5", "status": "STAGED" }))
            }
            ("POST", "/api/v1/users/00u1/lifecycle/suspend") => {
                if r.body.is_empty() {
                    Resp::json(200, json!({}))
                } else {
                    panic!("no body expected")
                }
            }
            ("POST", "/api/v1/users/00u5/lifecycle/suspend") => invalid(),
            _ => panic!("unexpected {r:?}"),
        }
    })
    .await;
    let (okta, _, _) = client(&v);
    let alice = okta.suspend(&UserRef::new("alice")).await.unwrap();
    assert_eq!(alice.outcome, Outcome::Done);
    let carol = okta.suspend(&UserRef::new("carol")).await.unwrap();
    assert_eq!(carol.outcome, Outcome::AlreadyDone);
    assert_eq!(
        v.requests().iter().filter(|r| r.method == "POST").count(),
        1,
        "no call for carol"
    );
    let erin = okta.suspend(&UserRef::new("erin")).await.unwrap_err();
    let msg = erin.to_string();
    assert!(
        matches!(erin, ConnectorError::Refused { status: 400, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("E0000001") && msg.contains("Cannot suspend a user that is not active"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_suspend_answered_400_after_someone_else_suspended_is_already_done() {
    let reads = Arc::new(AtomicUsize::new(0));
    let r2 = reads.clone();
    let v = vendor(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", "/api/v1/users/dave") => {
            let n = r2.fetch_add(1, Ordering::SeqCst);
            user(if n == 0 { "ACTIVE" } else { "SUSPENDED" })
        }
        ("POST", "/api/v1/users/00u1/lifecycle/suspend") => Resp::json(
            400,
            json!({ "errorCode": "E0000001", "errorSummary": "Api validation failed: suspend" }),
        ),
        _ => panic!("unexpected {r:?}"),
    })
    .await;
    let (okta, _, _) = client(&v);
    let dave = okta.suspend(&UserRef::new("dave")).await.unwrap();
    assert_eq!(dave.outcome, Outcome::AlreadyDone);
    assert_eq!(reads.load(Ordering::SeqCst), 2, "read again after the 400");
}

#[tokio::test]
async fn a_429_waits_until_the_rate_limit_reset_and_5xx_are_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let reset = (T0.millis() / 1000 + 42).to_string();
    let v = vendor(move |_r| match c.fetch_add(1, Ordering::SeqCst) {
        0 => Resp::json(429, json!({ "errorCode": "E0000047", "errorSummary": "API call exceeded rate limit due to too many requests." }))
            .header("x-rate-limit-limit", "600")
            .header("x-rate-limit-remaining", "0")
            .header("x-rate-limit-reset", &reset),
        1 => Resp::text(503, "busy"),
        _ => user("ACTIVE"),
    })
    .await;
    let (okta, waits, _) = client(&v);
    // Three attempts: the 429, the 503, then the answer.
    okta.suspend(&UserRef::new("alice")).await.ok();
    let w = waits.all();
    assert_eq!(
        w[0],
        Duration::from_secs(42),
        "until X-Rate-Limit-Reset: {w:?}"
    );
    assert_eq!(
        w[1],
        Duration::from_millis(20),
        "the second backoff step: {w:?}"
    );
}

#[tokio::test]
async fn a_spent_window_holds_the_next_call_until_the_reset() {
    let reset = (T0.millis() / 1000 + 30).to_string();
    let v = vendor(move |r| match (r.method.as_str(), r.path.as_str()) {
        ("GET", _) => user("ACTIVE")
            .header("x-rate-limit-remaining", "0")
            .header("x-rate-limit-reset", &reset),
        _ => Resp::json(200, json!({})),
    })
    .await;
    let (okta, waits, _) = client(&v);
    okta.suspend(&UserRef::new("alice")).await.unwrap();
    assert_eq!(
        waits.all(),
        vec![Duration::from_secs(30)],
        "the POST waited for the reset"
    );
}

#[tokio::test]
async fn failures_give_clear_errors_and_are_retried_only_when_they_may_pass() {
    let v = vendor(|r| match r.path.as_str() {
        "/api/v1/users/down" => Resp::text(500, "<html>oops</html>"),
        "/api/v1/users/slow" => user("ACTIVE").after(Duration::from_secs(3)),
        "/api/v1/users/garbled" => Resp::text(200, "{\"id\": "),
        "/api/v1/users/forbidden" => Resp::json(403, json!({ "errorCode": "E0000006", "errorSummary": "You do not have permission to perform the requested action" })),
        _ => panic!("unexpected {r:?}"),
    })
    .await;
    let (okta, _, _) = client(&v);
    let err = okta.suspend(&UserRef::new("down")).await.unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::ServerError {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(v.count("GET", "/api/v1/users/down"), 3);

    let err = okta.suspend(&UserRef::new("slow")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(err.is_transient());

    let err = okta.suspend(&UserRef::new("garbled")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("malformed answer"), "{err}");

    let err = okta.suspend(&UserRef::new("forbidden")).await.unwrap_err();
    assert!(
        err.to_string().contains("403") && err.to_string().contains("permission"),
        "{err}"
    );
    assert_eq!(
        v.count("GET", "/api/v1/users/forbidden"),
        1,
        "a 403 is not retried"
    );
}

/// An Okta System Log: `events`, served `limit` at a time from an `after` cursor,
/// with a next link on every page (Okta's polling contract). `next` can be
/// overridden to misbehave.
fn system_log(
    events: Arc<Mutex<Vec<serde_json::Value>>>,
    base: Arc<Mutex<String>>,
    bad_next: Option<&'static str>,
) -> impl Fn(&Req) -> Resp + Send + Sync + 'static {
    move |r| {
        assert!(authorised(r), "{r:?}");
        assert!(r.is("GET", "/api/v1/logs"), "{r:?}");
        let q = r.query();
        let start = match q.get("after") {
            Some(a) => a.parse::<usize>().unwrap(),
            None => {
                assert_eq!(q.get("sortOrder").map(String::as_str), Some("ASCENDING"));
                assert!(q.contains_key("since"), "{q:?}");
                0
            }
        };
        let limit: usize = q.get("limit").map_or(1000, |l| l.parse().unwrap());
        let all = events.lock().unwrap();
        let page: Vec<_> = all.iter().skip(start).take(limit).cloned().collect();
        let base = base.lock().unwrap().clone();
        let next = match bad_next {
            Some(link) if start > 0 => link.replace("{base}", &base),
            _ => format!(
                "{base}/api/v1/logs?after={}&limit={limit}",
                start + page.len()
            ),
        };
        Resp::json(200, json!(page))
            .header(
                "link",
                &format!("<{base}/api/v1/logs?after={start}>; rel=\"self\""),
            )
            .header("link", &format!("<{next}>; rel=\"next\""))
    }
}

fn event(i: usize) -> serde_json::Value {
    json!({
        "uuid": format!("e{i:03}"),
        "published": T0.plus_secs(i as i64).to_rfc3339(),
        "eventType": "system.push.send_factor_verify_push",
        "actor": { "type": "User", "alternateId": "alice@example.com" },
    })
}

async fn log_vendor(
    n: usize,
    bad_next: Option<&'static str>,
) -> (Vendor, Arc<Mutex<Vec<serde_json::Value>>>) {
    let events = Arc::new(Mutex::new((0..n).map(event).collect::<Vec<_>>()));
    let base = Arc::new(Mutex::new(String::new()));
    let v = vendor(system_log(events.clone(), base.clone(), bad_next)).await;
    *base.lock().unwrap() = v.url.clone();
    (v, events)
}

#[tokio::test]
async fn the_system_log_is_read_page_by_page_and_a_restart_resumes_without_gap_or_duplicate() {
    let (v, events) = log_vendor(10, None).await;
    let (okta, _, c) = client(&v);

    // Two pages, then a "crash": the poller is gone, the stored checkpoint stays.
    let mut first = okta.logs();
    let (got, stored) = drain(&mut first, None, Some(2)).await;
    assert_eq!(got.len(), 6);
    // A caller that could not store what came after polls the same page again: the
    // same page, not a loop.
    let again_1 = first.poll(stored.as_ref()).await.unwrap();
    let again_2 = first.poll(stored.as_ref()).await.unwrap();
    assert_eq!(again_1, again_2);
    assert_eq!(
        ids_once(&again_1.records, "uuid"),
        vec!["e006", "e007", "e008"]
    );
    drop(first);
    let since = v.requests()[0].query()["since"].clone();
    assert_eq!(
        since,
        c.now().minus_secs(3600).to_rfc3339(),
        "the look-back"
    );

    // A new process: a new client, resuming from the stored checkpoint.
    let (okta2, _, _) = client(&v);
    let mut again = okta2.logs();
    let (rest, stored) = drain(&mut again, stored, None).await;
    let mut all = got;
    all.extend(rest);
    let ids = ids_once(&all, "uuid");
    assert_eq!(ids, (0..10).map(|i| format!("e{i:03}")).collect::<Vec<_>>());

    // Caught up: the same next link is polled later and brings what is new.
    events.lock().unwrap().extend([event(10), event(11)]);
    let (new, _) = drain(&mut again, stored, None).await;
    assert_eq!(ids_once(&new, "uuid"), vec!["e010", "e011"]);
}

#[tokio::test]
async fn a_cursor_to_another_host_or_in_a_loop_is_refused_and_the_checkpoint_still_works() {
    let (v, _) = log_vendor(10, Some("https://evil.example/api/v1/logs?after=3")).await;
    let (okta, _, _) = client(&v);
    let mut logs = okta.logs();
    let first = logs.poll(None).await.unwrap();
    assert_eq!(first.records.len(), 3, "the first page's own link is fine");
    let err = logs.poll(Some(&first.checkpoint)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Cursor { .. }), "{err}");
    assert!(err.to_string().contains("evil.example"), "{err}");
    // The stored checkpoint is still the first page's: polling it again is the same
    // refusal, never a crash and never a skipped page.
    assert!(logs.poll(Some(&first.checkpoint)).await.is_err());

    // A next link that goes back to the start: the loop is refused before anything
    // is delivered twice.
    let (v, _) = log_vendor(10, Some("{base}/api/v1/logs?after=0&limit=3")).await;
    let (okta, _, _) = client(&v);
    let mut logs = okta.logs();
    let mut stored = None;
    let mut seen = Vec::new();
    let err = loop {
        match logs.poll(stored.as_ref()).await {
            Ok(page) => {
                seen.extend(page.records);
                stored = Some(page.checkpoint);
            }
            Err(e) => break e,
        }
    };
    assert!(matches!(err, ConnectorError::Cursor { .. }), "{err}");
    assert!(err.to_string().contains("already read"), "{err}");
    ids_once(&seen, "uuid");
}

#[tokio::test]
async fn a_malformed_page_is_an_error_and_the_next_poll_recovers() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let v = vendor(move |_r| match c.fetch_add(1, Ordering::SeqCst) {
        0 => Resp::text(200, "[{\"uuid\": \"e000\", "),
        1 => Resp::json(200, json!({ "not": "an array" })),
        _ => Resp::json(200, json!([event(0)])),
    })
    .await;
    let (okta, _, _) = client(&v);
    let mut logs = okta.logs();
    for _ in 0..2 {
        let err = logs.poll(None).await.unwrap_err();
        assert!(matches!(err, ConnectorError::Malformed { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("okta GET /api/v1/logs: malformed answer"),
            "{err}"
        );
    }
    // Same (absent) checkpoint, next try: the page arrives.
    let page = logs.poll(None).await.unwrap();
    assert_eq!(ids_once(&page.records, "uuid"), vec!["e000"]);
    assert!(!page.more, "no next link: nothing more now");
    // Without a next link the checkpoint falls back to `since` = the last record's
    // time, and the record is not delivered again.
    let again = logs.poll(Some(&page.checkpoint)).await.unwrap();
    assert!(again.records.is_empty(), "{:?}", again.records);
    let last = v.requests().pop().unwrap();
    assert_eq!(last.query()["since"], T0.to_rfc3339());
}
