//! `pushback bench respond`: how long from the event to the identity provider's revoke
//! call, measured end to end on loopback.
//!
//! The whole service runs in-process as `pushback serve` builds it (guard, watch live,
//! the responder), with its Okta connector pointed at a local server that answers as
//! Okta does and notes when each `DELETE /api/v1/users/{id}/sessions` arrives.
//!
//! - **not-me**: for each of `--reports` users, a challenge is opened and fetched by the
//!   user's device; the clock starts when the device sends its signed "not me" and
//!   stops when the revoke call for that user arrives.
//! - **flood**: for each of `--floods` users, five denied Okta Verify pushes and an
//!   approval are posted to `POST /v1/ingest/okta` in one batch (flood then success:
//!   the playbook locks and revokes); the clock starts before the post and stops at the
//!   revoke call. The events carry the post's time (a millisecond apart). The engine
//!   runs with `--disorder-tolerance` (250 ms unless told): a finding waits that long
//!   for stragglers, and so does the revoke; an event that reaches the engine later
//!   than that behind the clock is dropped as late, so the tolerance must cover the
//!   trip from the log to the engine.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use serde_json::{Value, json};

use pushback_connect::{Connectors, Okta, OktaConfig, Secret};
use pushback_guard::Decision;
use pushback_model::{Clock as _, SystemClock};

use crate::config::Config;
use crate::output;
use crate::runtime;
use crate::serve::Service;

pub struct RespondBench {
    pub reports: usize,
    pub floods: usize,
    pub concurrency: usize,
    pub disorder_tolerance: Duration,
    pub database_url: Option<String>,
    pub json: bool,
}

/// When each revoke call arrived, by Okta user id (`00u-<login>`).
#[derive(Default)]
struct Arrivals(Mutex<HashMap<String, Instant>>);

#[allow(clippy::disallowed_methods)] // a benchmark measures elapsed time by definition
fn now() -> Instant {
    Instant::now()
}

async fn start_okta(arrivals: Arc<Arrivals>) -> anyhow::Result<String> {
    let app = Router::new()
        .route(
            "/api/v1/users/{login}",
            get(|Path(login): Path<String>| async move {
                axum::Json(json!({ "id": format!("00u-{login}"), "status": "ACTIVE", "profile": { "login": login } }))
            }),
        )
        .route(
            "/api/v1/users/{id}/sessions",
            delete(|State(a): State<Arc<Arrivals>>, Path(id): Path<String>| async move {
                if let Ok(mut m) = a.0.lock() {
                    m.entry(id).or_insert_with(now);
                }
                StatusCode::NO_CONTENT
            }),
        )
        .with_state(arrivals);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

struct Figures {
    n: usize,
    arrived: usize,
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

/// Latencies (send → arrival) of the logins whose revoke arrived.
fn figures(sent: &HashMap<String, Instant>, arrivals: &Arrivals) -> Figures {
    let arrived = arrivals.0.lock().map(|m| m.clone()).unwrap_or_default();
    let mut ms: Vec<f64> = sent
        .iter()
        .filter_map(|(login, t0)| {
            let t1 = arrived.get(&format!("00u-{login}"))?;
            Some(t1.saturating_duration_since(*t0).as_secs_f64() * 1000.0)
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        ms.get(((ms.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Figures {
        n: sent.len(),
        arrived: ms.len(),
        p50: pct(0.5),
        p95: pct(0.95),
        p99: pct(0.99),
        max: ms.last().copied().unwrap_or(0.0),
    }
}

/// Waits until every login in `sent` has its revoke, or `patience` has passed.
async fn settle(sent: &HashMap<String, Instant>, arrivals: &Arrivals, patience: Duration) {
    let deadline = now() + patience;
    while now() < deadline {
        let done = arrivals
            .0
            .lock()
            .map(|m| sent.keys().all(|l| m.contains_key(&format!("00u-{l}"))))
            .unwrap_or(false);
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn run(b: RespondBench) -> anyhow::Result<()> {
    ensure!(b.concurrency > 0, "--concurrency must be positive");
    let scratch = super::Scratch::new(b.database_url.as_deref())?;
    let (url, schema) = (scratch.url.clone(), scratch.schema.clone());
    let stores = runtime::open_stores(&url, Some(&schema), None).await?;

    let arrivals = Arc::new(Arrivals::default());
    let okta_url = start_okta(arrivals.clone()).await?;
    let okta = Okta::with_token(
        &OktaConfig {
            base_url: okta_url,
            ..OktaConfig::default()
        },
        Secret::new("bench-okta-token-not-a-secret"),
        Arc::new(SystemClock),
    )?;
    let connectors = Connectors {
        okta: Some(okta),
        ..Connectors::default()
    };
    let mut config = Config::default();
    config.watch.disorder_tolerance_ms =
        i64::try_from(b.disorder_tolerance.as_millis()).unwrap_or(i64::MAX);
    config.watch.tick_interval_ms = 50;
    // The local Okta serves actions, not a System Log: no poller (whose delay would
    // also raise the tolerance).
    config.watch.poll = false;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let service = Service::build(
        &config,
        stores,
        b"bench secret, not for production use",
        connectors,
        base.clone(),
    )?;
    let guard = service.guard.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(service.serve(listener, async {
        let _ = stop_rx.await;
    }));

    let super::Seeded {
        admin,
        app_key,
        http,
        per_worker,
    } = super::seed(&guard, &base, b.reports, b.concurrency, b.json).await?;

    // not-me: C workers, each through its share of the users.
    let mut workers = Vec::new();
    for users in per_worker {
        let (http, base, app_key) = (http.clone(), base.clone(), app_key.clone());
        workers.push(tokio::spawn(async move {
            let mut sent = HashMap::new();
            for (login, device) in users {
                let body = json!({ "login_hint": login, "context": { "action": "Sign in to bench", "ip": "198.51.100.7", "location": "Bench, XX", "user_agent": "pushback-bench" } });
                let opened = crate::http::send(http.post(format!("{base}/v1/challenges")).bearer_auth(&app_key).json(&body)).await?;
                let id = opened["auth_req_id"].as_str().context("no auth_req_id")?.to_owned();
                let code = opened["user_code"].as_str().context("no user_code")?.to_owned();
                let items = device.pending().await?;
                let item = items.iter().find(|i| i.challenge_id == id).context("challenge not visible")?;
                let t0 = now();
                let status = device.answer(item, Decision::NotMe, &code).await?;
                ensure!(status == "not_me", "answer recorded as {status}");
                sent.insert(login, t0);
            }
            anyhow::Ok(sent)
        }));
    }
    let mut not_me_sent = HashMap::new();
    for w in workers {
        not_me_sent.extend(w.await??);
    }
    settle(&not_me_sent, &arrivals, Duration::from_secs(30)).await;
    let not_me = figures(&not_me_sent, &arrivals);

    // flood: posted one batch after another (see the module documentation).
    let ingest = guard.create_ingest_key(&admin, "bench").await?;
    let mut flood_sent = HashMap::new();
    let clock = SystemClock;
    let mut next_ms = 0i64;
    for i in 0..b.floods {
        let login = format!("flooded{i:06}@example.com");
        // One millisecond apart, in order, after every earlier batch's events, and
        // never ahead of the clock (a future event would wait for the clock to reach
        // it): the floods go out at most one per 6 ms.
        let mut first = clock.now().millis();
        while first < next_ms {
            tokio::time::sleep(Duration::from_millis(1)).await;
            first = clock.now().millis();
        }
        next_ms = first + 6;
        let event = |n: usize, ty: &str, result: &str| {
            let at = pushback_model::Timestamp::from_millis(first + n as i64).to_rfc3339();
            json!({
                "uuid": format!("{login}-{n}"), "published": at, "eventType": ty,
                "outcome": { "result": result },
                "actor": { "id": "00u1", "type": "User", "alternateId": login },
                "client": { "ipAddress": "203.0.113.9" },
                "debugContext": { "debugData": { "factor": "OKTA_VERIFY_PUSH" } }
            })
        };
        let mut events: Vec<Value> = (0..5)
            .map(|n| event(n, "user.mfa.okta_verify.deny_push", "FAILURE"))
            .collect();
        events.push(event(5, "user.authentication.auth_via_mfa", "SUCCESS"));
        let body: String = events.iter().map(|e| format!("{e}\n")).collect();
        let t0 = now();
        let r = http
            .post(format!("{base}/v1/ingest/okta"))
            .bearer_auth(&ingest.1)
            .body(body)
            .send()
            .await?;
        ensure!(r.status().as_u16() == 202, "ingest answered {}", r.status());
        flood_sent.insert(login, t0);
    }
    // A finding waits up to the tolerance for stragglers before it is judged.
    settle(
        &flood_sent,
        &arrivals,
        Duration::from_secs(30) + b.disorder_tolerance,
    )
    .await;
    let flood = figures(&flood_sent, &arrivals);

    let _ = stop_tx.send(());
    let _ = server.await;
    scratch.drop().await;
    let backend = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let row = |name: &str, f: &Figures| {
        json!({
            "scenario": name, "sent": f.n, "revoked": f.arrived,
            "p50_ms": (f.p50 * 10.0).round() / 10.0, "p95_ms": (f.p95 * 10.0).round() / 10.0,
            "p99_ms": (f.p99 * 10.0).round() / 10.0, "max_ms": (f.max * 10.0).round() / 10.0,
        })
    };
    if b.json {
        output::json(
            &json!({ "backend": backend, "concurrency": b.concurrency, "results": [row("not_me", &not_me), row("flood", &flood)] }),
        );
    } else {
        for (name, f) in [("not-me → revoke", &not_me), ("flood → revoke", &flood)] {
            output::line(&format!(
                "{backend}: {name}: {}/{} revoked, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                f.arrived, f.n, f.p50, f.p95, f.p99, f.max
            ));
        }
    }
    ensure!(
        not_me.arrived == not_me.n && flood.arrived == flood.n,
        "some revoke calls never arrived: {}/{} after not-me, {}/{} after a flood",
        not_me.arrived,
        not_me.n,
        flood.arrived,
        flood.n
    );
    Ok(())
}
