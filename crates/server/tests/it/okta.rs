//! The Okta connector wired into the service, against a local server that answers as
//! Okta documents and checks each request: a "not me" revokes the user's sessions
//! (`DELETE /api/v1/users/{id}/sessions?oauthTokens=true` with `SSWS` auth), and the
//! System Log poller feeds the live engine and resumes from its stored checkpoint.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde_json::{Value, json};

use pushback_connect::{Connectors, IdentityProvider as _, Okta, OktaConfig, Secret};
use pushback_guard::{Decision, GuardSettings, KeyType};
use pushback_model::Clock as _;
use pushback_respond::default_entries;
use pushback_server::Metrics;
use pushback_server::live::spawn_poller;
use pushback_server::respond;

use crate::respond::eventually;
use crate::support::{Db, TestServer, databases};
use crate::watch::{catch_up, okta};

const TOKEN: &str = "okta-test-token-0123456789";

/// What the local Okta saw, and the System Log it serves (pages of records).
#[derive(Default)]
pub(crate) struct FakeOkta {
    pub requests: Mutex<Vec<String>>,
    pub pages: Vec<Vec<Value>>,
    /// How many of `pages` Okta has written so far.
    pub available: std::sync::atomic::AtomicUsize,
    pub base: Mutex<String>,
}

fn authorised(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("SSWS {TOKEN}"))
}

async fn user(State(o): State<Arc<FakeOkta>>, h: HeaderMap, Path(login): Path<String>) -> Response {
    if !authorised(&h) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({ "errorCode": "E0000011", "errorSummary": "Invalid token provided" }),
            ),
        )
            .into_response();
    }
    o.requests
        .lock()
        .unwrap()
        .push(format!("GET /api/v1/users/{login}"));
    axum::Json(json!({ "id": format!("00u{}", login.len()), "status": "ACTIVE", "profile": { "login": login } })).into_response()
}

async fn suspend(
    State(o): State<Arc<FakeOkta>>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> StatusCode {
    if !authorised(&h) {
        return StatusCode::UNAUTHORIZED;
    }
    o.requests
        .lock()
        .unwrap()
        .push(format!("POST /api/v1/users/{id}/lifecycle/suspend"));
    StatusCode::OK
}

async fn sessions(
    State(o): State<Arc<FakeOkta>>,
    h: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> StatusCode {
    if !authorised(&h) || q != [("oauthTokens".to_owned(), "true".to_owned())] {
        return StatusCode::BAD_REQUEST;
    }
    o.requests.lock().unwrap().push(format!(
        "DELETE /api/v1/users/{id}/sessions?oauthTokens=true"
    ));
    StatusCode::NO_CONTENT
}

/// `GET /api/v1/logs`: page `after` (0 without it), with a next link to the following
/// page; past the end an empty page whose next link is itself.
async fn logs(
    State(o): State<Arc<FakeOkta>>,
    h: HeaderMap,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    if !authorised(&h) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let after: usize = q
        .iter()
        .find(|(k, _)| k == "after")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    o.requests
        .lock()
        .unwrap()
        .push(format!("GET /api/v1/logs after={after}"));
    let base = o.base.lock().unwrap().clone();
    let written = o.available.load(std::sync::atomic::Ordering::SeqCst);
    let (body, next) = match o.pages.get(after).filter(|_| after < written) {
        Some(page) => (page.clone(), after + 1),
        None => (Vec::new(), after),
    };
    let link = format!("<{base}/api/v1/logs?after={next}>; rel=\"next\"");
    ([("link", link)], axum::Json(body)).into_response()
}

/// Starts the local Okta; its base URL.
pub(crate) async fn start_fake_okta(okta: Arc<FakeOkta>) -> String {
    let app = Router::new()
        .route("/api/v1/users/{login}", get(user))
        .route("/api/v1/users/{id}/sessions", delete(sessions))
        .route(
            "/api/v1/users/{id}/lifecycle/suspend",
            axum::routing::post(suspend),
        )
        .route("/api/v1/logs", get(logs))
        .with_state(okta.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *okta.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

pub(crate) fn okta_client(base: &str, clock: Arc<dyn pushback_model::Clock>) -> Okta {
    okta_with_token(base, TOKEN, clock)
}

fn okta_with_token(base: &str, token: &str, clock: Arc<dyn pushback_model::Clock>) -> Okta {
    let config = OktaConfig {
        base_url: base.to_owned(),
        ..OktaConfig::default()
    };
    Okta::with_token(&config, Secret::new(token), clock).unwrap()
}

/// A server whose default playbook acts through `okta`.
async fn server_acting_through(db: &Db, okta: Okta) -> TestServer {
    let connectors = Connectors {
        okta: Some(okta),
        ..Connectors::default()
    };
    TestServer::start_full(
        db,
        GuardSettings::default(),
        Vec::new(),
        respond::actuators(&connectors),
        default_entries(),
    )
    .await
}

#[tokio::test]
async fn not_me_revokes_the_users_okta_sessions_and_the_timeline_says_so() {
    for db in databases() {
        let fake = Arc::new(FakeOkta::default());
        let base = start_fake_okta(fake.clone()).await;
        let okta = okta_client(&base, Arc::new(pushback_model::SystemClock));
        let s = server_acting_through(&db, okta).await;
        s.report_not_me("alice").await;

        let list = eventually(&s, "/v1/incidents", |v| {
            v["incidents"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
        let path = format!(
            "/v1/incidents/{}",
            list["incidents"][0]["id"].as_str().unwrap()
        );
        let detail = eventually(&s, &path, |d| {
            d["timeline"].as_array().is_some_and(|t| {
                t.iter().any(|e| {
                    e["summary"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("revoke_sessions@okta: done"))
                })
            })
        })
        .await;
        assert!(
            detail.to_string().contains("00u5"),
            "the receipt names Okta's id: {detail:#}"
        );
        assert_eq!(
            *fake.requests.lock().unwrap(),
            [
                "GET /api/v1/users/alice",
                "DELETE /api/v1/users/00u5/sessions?oauthTokens=true"
            ]
        );
    }
}

#[tokio::test]
async fn a_revocation_okta_refuses_is_tried_once_and_shown_failed() {
    // A token Okta refuses: a 401 is final, so one attempt, then the failure is on the
    // timeline and counted on the incident.
    let db = &databases()[0];
    let fake = Arc::new(FakeOkta::default());
    let base = start_fake_okta(fake.clone()).await;
    let okta = okta_with_token(
        &base,
        "wrong-token-0123456789",
        Arc::new(pushback_model::SystemClock),
    );
    assert!(
        okta.revoke_sessions(&pushback_connect::UserRef::new("x"))
            .await
            .is_err()
    );
    let s = server_acting_through(db, okta).await;
    s.report_not_me("alice").await;
    let list = eventually(&s, "/v1/incidents", |v| {
        v["incidents"][0]["failed_actions"] == 1
    })
    .await;
    let path = format!(
        "/v1/incidents/{}",
        list["incidents"][0]["id"].as_str().unwrap()
    );
    let detail = s.get_json(&path, &s.admin_key).await;
    let failed: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["summary"].as_str())
        .filter(|s| s.contains("revoke_sessions@okta"))
        .collect();
    assert_eq!(
        failed.len(),
        2,
        "one attempt (a 401 is not retried) and the verdict: {failed:?}"
    );
    assert!(
        failed[1].starts_with("revoke_sessions@okta FAILED"),
        "{failed:?}"
    );
    assert!(
        !detail.to_string().contains("wrong-token"),
        "the token never reaches the timeline"
    );
}

#[tokio::test]
async fn the_system_log_poller_feeds_the_engine_and_resumes_from_its_checkpoint() {
    for db in databases() {
        let s = TestServer::start(&db).await;
        let t0 = s.clock.now().minus_secs(120);
        let deny = |i: i64| okta_deny("bob", t0.plus_secs(i * 30), i);
        let fake = Arc::new(FakeOkta {
            pages: vec![
                vec![deny(0), deny(1), deny(2)],
                vec![deny(3), deny(4)],
                vec![deny(5)],
            ],
            ..FakeOkta::default()
        });
        let base = start_fake_okta(fake.clone()).await;
        let client = okta_client(&base, s.clock.clone());
        let metrics = Arc::new(Metrics::new());

        // Okta has written the first page only. The first poller reads it, finds
        // nothing more (caught up), and is stopped while it waits.
        fake.available.store(1, std::sync::atomic::Ordering::SeqCst);
        let requests = |fake: &FakeOkta| fake.requests.lock().unwrap().clone();
        let first = spawn_poller(
            Box::new(client.logs()),
            s.live.clone(),
            s.findings.clone(),
            metrics.clone(),
        );
        while !requests(&fake).iter().any(|r| r.ends_with("after=1"))
            || !s
                .findings
                .checkpoint("okta")
                .await
                .unwrap()
                .is_some_and(|c| c.contains("after=1"))
        {
            tokio::task::yield_now().await;
        }
        first.abort();
        let _ = first.await;
        let seen_before = requests(&fake).len();

        // The rest is written; a new poller resumes from the stored checkpoint.
        fake.available.store(3, std::sync::atomic::Ordering::SeqCst);
        let second = spawn_poller(
            Box::new(client.logs()),
            s.live.clone(),
            s.findings.clone(),
            metrics,
        );
        while !requests(&fake)[seen_before..]
            .iter()
            .any(|r| r.ends_with("after=3"))
        {
            tokio::task::yield_now().await;
        }
        second.abort();
        let asked = requests(&fake);
        assert_eq!(
            asked[seen_before..],
            [
                "GET /api/v1/logs after=1",
                "GET /api/v1/logs after=2",
                "GET /api/v1/logs after=3"
            ],
            "the second poller began where the first stopped: {asked:?}"
        );
        assert_eq!(
            asked.iter().filter(|r| r.ends_with("after=0")).count(),
            1,
            "{asked:?}"
        );

        catch_up(&s).await;
        let found = s
            .get_json("/v1/findings?rule_id=push_flood", &s.admin_key)
            .await;
        let floods = found["findings"].as_array().unwrap();
        assert_eq!(
            floods.len(),
            1,
            "one flood, not two, and none missed: {found:#}"
        );
        assert_eq!(floods[0]["user"], "bob@example.com");
        assert!(floods[0]["event_count"].as_u64() >= Some(5), "{found:#}");
    }
}

/// The `i`th denied Okta Verify push of `name`@example.com, as Okta logs it.
fn okta_deny(name: &str, at: pushback_model::Timestamp, i: i64) -> Value {
    okta(
        &format!("{name}-deny-{i}"),
        at,
        "user.mfa.okta_verify.deny_push",
        "FAILURE",
        &format!("{name}@example.com"),
    )
}

/// Five denied pushes of `name`@example.com, 20 seconds apart from `t0`, as watch
/// normalises them.
fn denies(name: &str, t0: pushback_model::Timestamp) -> Vec<pushback_model::AuthEvent> {
    (0..5)
        .map(|i| {
            pushback_model::AuthEvent::new(
                format!("{name}-deny-{i}"),
                t0.plus_secs(i * 20),
                pushback_model::EventSource::Okta,
                pushback_model::EventKind::PushDenied,
                format!("{name}@example.com"),
                "user.mfa.okta_verify.deny_push",
            )
        })
        .collect()
}

/// The detection engine as `serve` starts it, over `s`'s database, going on from its
/// saved state and expecting a poller of Okta; saved after every batch.
fn detection_engine(
    s: &TestServer,
    tick_interval_ms: u64,
) -> (pushback_server::Live, tokio::task::JoinHandle<()>) {
    let watch = pushback_server::WatchSettings {
        tick_interval_ms,
        state_save_interval_ms: 0,
        ..pushback_server::WatchSettings::default()
    };
    pushback_server::Live::start(
        pushback_server::live::LiveParts {
            rules: pushback_watch::rule::RuleSet::builtin().unwrap(),
            store: s.findings.clone(),
            sinks: Vec::new(),
            clock: s.clock.clone(),
            metrics: Arc::new(Metrics::new()),
            respond: None,
            pollers: vec!["okta"],
        },
        &watch,
    )
}

/// A whole service's detection, as `serve` starts it: the engine (its clock moved only
/// by `Live::sync`) and a poller of the Okta at `fake_base`, presenting `token`.
fn start_detection(
    s: &TestServer,
    fake_base: &str,
    token: &str,
) -> (
    pushback_server::Live,
    tokio::task::JoinHandle<()>,
    tokio::task::JoinHandle<()>,
) {
    let (live, engine) = detection_engine(s, 3_600_000);
    let client = okta_with_token(fake_base, token, s.clock.clone());
    let poller = spawn_poller(
        Box::new(client.logs()),
        live.clone(),
        s.findings.clone(),
        Arc::new(Metrics::new()),
    );
    (live, engine, poller)
}

/// Waits for `done`, failing the test (rather than hanging it) after a minute.
async fn within(done: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(std::time::Duration::from_secs(60), done)
        .await
        .expect("the service got there within a minute");
}

/// Waits, syncing `live` with the clock, until a flood is stored (a poller's page or
/// a tick may still be on its way); fails after a minute.
async fn first_flood(s: &TestServer, live: &pushback_server::Live) {
    within(async {
        while floods(s).await.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            live.sync().await.unwrap();
        }
    })
    .await;
}

async fn floods(s: &TestServer) -> Vec<Value> {
    let found = s
        .get_json("/v1/findings?rule_id=push_flood", &s.admin_key)
        .await;
    found["findings"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_flood_straddling_a_restart_and_an_outage_is_found_once_with_every_deny() {
    for db in databases() {
        let s = TestServer::start(&db).await;
        let t0 = s.clock.now().minus_secs(120);
        let deny = |i: i64| okta_deny("carol", t0.plus_secs(i * 30), i);
        let fake = Arc::new(FakeOkta {
            pages: vec![vec![deny(0), deny(1), deny(2)], vec![deny(3), deny(4)]],
            ..FakeOkta::default()
        });
        let base = start_fake_okta(fake.clone()).await;
        let requests = |fake: &FakeOkta| fake.requests.lock().unwrap().clone();
        let saved = |after: &'static str| {
            let findings = s.findings.clone();
            async move {
                findings
                    .checkpoint("okta")
                    .await
                    .unwrap()
                    .is_some_and(|c| c.contains(after))
            }
        };

        // Okta has written three denies; the service reads them, then dies without
        // a word (its task is aborted: no orderly stop).
        fake.available.store(1, std::sync::atomic::Ordering::SeqCst);
        let (live, engine, poller) = start_detection(&s, &base, TOKEN);
        within(async {
            while !saved("after=1").await {
                tokio::task::yield_now().await;
            }
        })
        .await;
        poller.abort();
        engine.abort();
        let _ = (poller.await, engine.await);
        drop(live);
        assert!(floods(&s).await.is_empty());

        // It stays down an hour, longer than the disorder tolerance, while Okta logs
        // two more denies. The new service's clock ticks before its poller has
        // delivered anything.
        s.clock.advance_secs(3600);
        fake.available.store(2, std::sync::atomic::Ordering::SeqCst);
        let seen_before = requests(&fake).len();
        let (live, engine, poller) = start_detection(&s, &base, TOKEN);
        live.sync().await.unwrap();
        // Once the poller has caught up (Okta has nothing after the second page), the
        // engine judges what it holds.
        first_flood(&s, &live).await;
        poller.abort();
        let _ = poller.await;
        assert_eq!(
            requests(&fake)[seen_before..],
            ["GET /api/v1/logs after=1", "GET /api/v1/logs after=2"],
            "the poller went on from the checkpoint saved with the state"
        );
        let found = floods(&s).await;
        assert_eq!(found.len(), 1, "the flood across the outage: {found:#?}");
        assert_eq!(found[0]["user"], "carol@example.com");
        assert_eq!(found[0]["event_count"], 5, "{found:#?}");
        assert_eq!(
            found[0]["event_ids"][0], "carol-deny-0",
            "the denies from before the restart count: {found:#?}"
        );

        // An orderly stop, and a third start: the episode is not reported again and
        // nothing is read twice.
        live.stop().await.unwrap();
        let _ = engine.await;
        let seen_before = requests(&fake).len();
        let (live, engine, poller) = start_detection(&s, &base, TOKEN);
        within(async {
            while requests(&fake).len() == seen_before {
                tokio::task::yield_now().await;
            }
        })
        .await;
        poller.abort();
        let _ = poller.await;
        s.clock.advance_secs(3600);
        live.sync().await.unwrap();
        live.stop().await.unwrap();
        let _ = engine.await;
        assert_eq!(requests(&fake)[seen_before], "GET /api/v1/logs after=2");
        assert_eq!(floods(&s).await.len(), 1, "still one flood");
    }
}

#[tokio::test]
async fn a_poller_whose_token_is_refused_does_not_hold_up_detection() {
    for db in databases() {
        let s = TestServer::start(&db).await;
        let base = start_fake_okta(Arc::new(FakeOkta::default())).await;
        let (live, engine, poller) = start_detection(&s, &base, "wrong-token-0123456789");
        // A flood reaches the engine some other way (the ingest API) while the poller
        // is refused: it is judged without waiting for a log that will not come.
        live.submit(denies("frank", s.clock.now().minus_secs(120)))
            .await
            .unwrap();
        s.clock.advance_secs(3600);
        first_flood(&s, &live).await;
        poller.abort();
        live.stop().await.unwrap();
        let _ = (poller.await, engine.await);
        assert_eq!(floods(&s).await[0]["user"], "frank@example.com");
    }
}

#[tokio::test]
async fn a_poller_that_never_catches_up_holds_detection_ten_minutes_at_most() {
    for db in databases() {
        let s = TestServer::start(&db).await;
        // A configured source whose poller never delivers (its vendor times out).
        let (live, engine) = detection_engine(&s, 10);
        live.submit(denies("gina", s.clock.now())).await.unwrap();
        // Nine minutes on, long past the disorder tolerance: still held for the poller.
        s.clock.advance_secs(540);
        live.sync().await.unwrap();
        assert!(floods(&s).await.is_empty(), "held for the poller");
        // Past ten minutes from the start, the next tick lets go.
        s.clock.advance_secs(120);
        first_flood(&s, &live).await;
        live.stop().await.unwrap();
        let _ = engine.await;
    }
}

#[tokio::test]
async fn a_lockout_freezes_the_devices_suspends_at_okta_and_alerts_a_signed_webhook() {
    for db in databases() {
        let fake = Arc::new(FakeOkta::default());
        let base = start_fake_okta(fake.clone()).await;
        let (hook_url, receiver) = crate::webhook::receiver(Vec::new()).await;
        let hook = pushback_connect::Webhook::with_secret(
            &pushback_connect::WebhookConfig {
                url: hook_url,
                ..pushback_connect::WebhookConfig::default()
            },
            Secret::new(crate::webhook::SECRET),
            Arc::new(pushback_model::SystemClock),
        )
        .unwrap();
        let connectors = Connectors {
            okta: Some(okta_client(&base, Arc::new(pushback_model::SystemClock))),
            webhook: Some(hook),
            ..Connectors::default()
        };
        let playbook = vec![pushback_respond::Entry {
            name: "lockout".into(),
            when: pushback_respond::When {
                guard: Some(pushback_respond::GuardTrigger::Lockout),
                ..Default::default()
            },
            actions: vec![
                pushback_respond::Action::FreezeDevice,
                pushback_respond::Action::SuspendUser,
                pushback_respond::Action::Alert,
                pushback_respond::Action::OpenIncident(pushback_model::Severity::High),
            ],
        }];
        let s = TestServer::start_full(
            &db,
            GuardSettings::default(),
            Vec::new(),
            respond::actuators(&connectors),
            playbook,
        )
        .await;
        let alice = s.user_with_device("alice", KeyType::P256).await;
        // Three denies within the window lock push (the default policy).
        for _ in 0..3 {
            let ch = s.challenge("alice").await;
            assert_eq!(ch["status"], "pending", "{ch}");
            let item = s.pending(&alice).await.remove(0);
            let (status, _, body) = s
                .post_answer(&alice.answer(&item, Decision::Deny, "", s.clock.now()))
                .await;
            assert_eq!(status, 200, "{body}");
            s.clock.advance_secs(100);
        }
        let list = eventually(&s, "/v1/incidents", |v| {
            v["incidents"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
        let incident = list["incidents"][0].clone();
        assert_eq!(
            (incident["subject"].as_str(), incident["severity"].as_str()),
            (Some("alice"), Some("high"))
        );
        let path = format!("/v1/incidents/{}", incident["id"].as_str().unwrap());
        let done = |d: &Value, step: &str| {
            d["timeline"].as_array().is_some_and(|t| {
                t.iter().any(|e| {
                    e["summary"]
                        .as_str()
                        .is_some_and(|s| s.starts_with(&format!("{step}: done")))
                })
            })
        };
        eventually(&s, &path, |d| {
            done(d, "freeze_device@guard")
                && done(d, "suspend_user@okta")
                && done(d, "alert@webhook")
        })
        .await;

        assert!(
            fake.requests
                .lock()
                .unwrap()
                .contains(&"POST /api/v1/users/00u5/lifecycle/suspend".to_owned())
        );
        let seen = receiver.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "one alert");
        let (valid, _, body) = &seen[0];
        assert!(valid, "the alert is signed with the shared secret");
        let alert: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(alert["incident"]["id"], incident["id"]);
        assert_eq!(alert["trigger"], "lockout");
        // The frozen device is refused like a revoked one.
        let (status, _) = s.pending_raw(&alice, &crate::support::nonce()).await;
        assert_eq!(status, 403);
    }
}
