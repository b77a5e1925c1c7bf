//! `pushback bench guard`: full challenge lifecycles over HTTP on loopback — create,
//! device fetch (signed), signed answer, app poll — against an in-process server.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use serde_json::json;

use pushback_guard::{Decision, GuardSettings};
use pushback_server::{AppState, Metrics};

use crate::device::Device;
use crate::output;
use crate::runtime;

pub struct GuardBench {
    pub users: usize,
    pub concurrency: usize,
    pub duration: Duration,
    pub database_url: Option<String>,
    pub json: bool,
}

#[derive(Default)]
struct WorkerStats {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

pub async fn run(b: GuardBench) -> anyhow::Result<()> {
    ensure!(
        b.users >= b.concurrency && b.concurrency > 0,
        "--users must be at least --concurrency (> 0)"
    );
    let scratch = super::Scratch::new(b.database_url.as_deref())?;
    let (url, schema) = (scratch.url.clone(), scratch.schema.clone());
    let store = runtime::open_store_in_schema(&url, Some(&schema)).await?;
    let metrics = Arc::new(Metrics::new());
    // Every lifecycle approves, so the fatigue policy never refuses a well-behaved loader.
    let guard = Arc::new(runtime::guard(
        store,
        b"bench secret, not for production use",
        GuardSettings::default(),
        &metrics,
    )?);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = AppState::with_metrics(guard.clone(), metrics, base.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(pushback_server::serve(listener, state, async {
        let _ = stop_rx.await;
    }));
    let housekeeping = pushback_server::spawn_housekeeping(guard.clone(), Duration::from_secs(1));

    // Seed users and P-256 devices through the guard itself.
    let super::Seeded {
        app_key,
        http,
        per_worker,
        ..
    } = super::seed(&guard, &base, b.users, b.concurrency, b.json).await?;

    // Seeding left an audit entry per user, enrolment and device to chain; seal them now
    // so the measured window carries only the lifecycles' own sealing.
    while guard.store().seal_audit(10_000).await? > 0 {}
    if !b.json {
        eprintln!("measuring for {:?}…", b.duration);
    }

    #[allow(clippy::disallowed_methods)] // a benchmark measures elapsed time by definition
    let started = std::time::Instant::now();
    let deadline = started + b.duration;
    let mut workers = Vec::new();
    for users in per_worker {
        let http = http.clone();
        let base = base.clone();
        let app_key = app_key.clone();
        workers.push(tokio::spawn(async move {
            let mut stats = WorkerStats::default();
            let mut i = 0usize;
            loop {
                #[allow(clippy::disallowed_methods)]
                // a benchmark measures elapsed time by definition
                let t0 = std::time::Instant::now();
                if t0 >= deadline {
                    break;
                }
                let (login, device) = &users[i % users.len()];
                i += 1;
                match lifecycle(&http, &base, &app_key, login, device).await {
                    Ok(()) => stats
                        .latencies_us
                        .push(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX)),
                    Err(e) => {
                        stats.errors += 1;
                        stats.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            stats
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for w in workers {
        let s = w.await?;
        lat.extend(s.latencies_us);
        errors += s.errors;
        first_error = first_error.or(s.first_error);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    housekeeping.abort();
    let _ = server.await;
    drop(guard);
    scratch.drop().await;

    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let idx = ((lat.len() as f64 - 1.0) * p).round() as usize;
        lat[idx] as f64 / 1000.0
    };
    let per_sec = lat.len() as f64 / elapsed;
    let backend = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    if b.json {
        output::json(&json!({
            "lifecycles_per_sec": (per_sec * 10.0).round() / 10.0,
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
            "errors": errors,
            "lifecycles": lat.len(), "users": b.users, "concurrency": b.concurrency,
            "seconds": elapsed, "backend": backend,
        }));
    } else {
        output::line(&format!(
            "{backend}: {} users, concurrency {}, {:.1} s: {} lifecycles, {:.0} lifecycles/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, {} errors",
            b.users,
            b.concurrency,
            elapsed,
            lat.len(),
            per_sec,
            pct(0.5),
            pct(0.95),
            pct(0.99),
            errors
        ));
    }
    if let Some(e) = first_error {
        eprintln!("first error: {e}");
    }
    Ok(())
}

async fn lifecycle(
    http: &reqwest::Client,
    base: &str,
    app_key: &str,
    login: &str,
    device: &Device,
) -> anyhow::Result<()> {
    let body = json!({
        "login_hint": login,
        "context": { "action": "Sign in to bench", "ip": "198.51.100.7", "location": "Bench, XX", "user_agent": "pushback-bench" },
    });
    let opened = crate::http::send(
        http.post(format!("{base}/v1/challenges"))
            .bearer_auth(app_key)
            .json(&body),
    )
    .await?;
    ensure!(
        opened["status"] == "pending",
        "challenge not pending: {opened}"
    );
    let id = opened["auth_req_id"].as_str().context("no auth_req_id")?;
    let code = opened["user_code"].as_str().context("no user_code")?;
    let items = device.pending().await?;
    let item = items
        .iter()
        .find(|i| i.challenge_id == id)
        .context("challenge not visible to the device")?;
    let status = device.answer(item, Decision::Approve, code).await?;
    ensure!(status == "approved", "answer recorded as {status}");
    let polled = crate::http::send(
        http.get(format!("{base}/v1/challenges/{id}"))
            .bearer_auth(app_key),
    )
    .await?;
    ensure!(
        polled["status"] == "approved",
        "poll says {}",
        polled["status"]
    );
    Ok(())
}
