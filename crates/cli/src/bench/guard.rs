//! `pushback bench guard`: full challenge lifecycles over HTTP on loopback — create,
//! device fetch (signed), signed answer, app poll — against an in-process server, or
//! against a running one (`--url`), which measures the server apart from the loader.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use http_body_util::Full;
use hyper::Method;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use serde::Deserialize;
use serde_json::json;

use pushback_guard::{Decision, DeviceKey, GuardSettings, KeyType, PendingItem};
use pushback_model::{SystemEntropy, random_token};
use pushback_server::{AppState, Metrics};

use super::wire::{self, Conn};
use crate::device::{Device, check_contexts};
use crate::output;
use crate::runtime;

pub struct GuardBench {
    pub users: usize,
    pub concurrency: usize,
    pub duration: Duration,
    pub database_url: Option<String>,
    /// The in-process server's PostgreSQL pool (`[database] max_connections`).
    pub max_connections: Option<u32>,
    /// A running server to load instead of an in-process one, with its admin key.
    pub target: Option<Target>,
    pub json: bool,
}

/// A server in another process (`--url`), and the admin key it printed at first start.
pub struct Target {
    pub url: String,
    pub admin_key: String,
}

/// Seeding done: the base URL, an app's key, and the users with their devices dealt
/// out to the workers (worker *w* has users *w*, *w + C*, …).
struct Loaded {
    base: String,
    app_key: String,
    per_worker: Vec<Vec<(String, Device)>>,
}

#[derive(Default)]
struct WorkerStats {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// What the workers measured.
struct Measured {
    /// Each lifecycle's latency, sorted.
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
    seconds: f64,
}

pub async fn run(b: GuardBench) -> anyhow::Result<()> {
    ensure!(
        b.users >= b.concurrency && b.concurrency > 0,
        "--users must be at least --concurrency (> 0)"
    );
    match &b.target {
        Some(target) => {
            // Before seeding: a target the loader cannot speak to is refused first.
            wire::Target::parse(&target.url)?;
            let loaded = seed_over_http(target, b.users, b.concurrency, b.json).await?;
            if !b.json {
                eprintln!("measuring for {:?}…", b.duration);
            }
            let measured = measure(loaded, b.duration).await?;
            report(&b, &target.url, &measured, None);
        }
        None => in_process(&b).await?,
    }
    Ok(())
}

/// Starts the server in this process on a scratch database, loads it, and drops the
/// database.
async fn in_process(b: &GuardBench) -> anyhow::Result<()> {
    let scratch = super::Scratch::new(b.database_url.as_deref())?;
    let (url, schema) = (scratch.url.clone(), scratch.schema.clone());
    let store = runtime::open_store_in_schema(&url, Some(&schema), b.max_connections).await?;
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
    // At the service's default cadence.
    let cadence = pushback_server::ServerSettings::default();
    let housekeeping = pushback_server::spawn_housekeeping(
        guard.clone(),
        Duration::from_millis(cadence.housekeeping_interval_ms),
        Duration::from_millis(cadence.seal_interval_ms),
    );

    // Seed users and P-256 devices through the guard itself.
    let super::Seeded {
        app_key,
        per_worker,
        ..
    } = super::seed(&guard, &base, b.users, b.concurrency, b.json).await?;

    // Seeding left an audit entry per user, enrolment and device to chain; seal them now
    // so the measured window carries only the lifecycles' own sealing.
    while guard.store().seal_audit(10_000).await? > 0 {}
    let postgres = pushback_store::Backend::of_url(&url) == Some(pushback_store::Backend::Postgres);
    // New WAL files during the window stall every commit: worth knowing beside the p99.
    let wal_files = async || {
        if postgres {
            pushback_store::PostgresStore::wal_files(&url).await
        } else {
            None
        }
    };
    let wal_before = wal_files().await;
    if !b.json {
        eprintln!("measuring for {:?}…", b.duration);
    }
    let loaded = Loaded {
        base,
        app_key,
        per_worker,
    };
    let measured = measure(loaded, b.duration).await;
    let wal_created = wal_before.zip(wal_files().await).map(|(a, b)| b - a);
    let _ = stop_tx.send(());
    housekeeping.abort();
    let _ = server.await;
    drop(guard);
    scratch.drop().await;
    let backend = if postgres { "postgres" } else { "sqlite" };
    report(b, backend, &measured?, wal_created);
    Ok(())
}

/// An app and `users` users with P-256 devices on a running server, through its admin
/// API and the device enrolment a phone does. Names carry a random run id, so runs
/// against one server do not collide; they stay on the server afterwards.
async fn seed_over_http(
    target: &Target,
    users: usize,
    workers: usize,
    quiet: bool,
) -> anyhow::Result<Loaded> {
    let server = crate::http::ServerArgs {
        url: target.url.clone(),
        key: Some(target.admin_key.clone()),
    };
    let admin = Arc::new(crate::http::AdminApi::new(&server)?);
    let run = random_token(&SystemEntropy::new(), 6).to_ascii_lowercase();
    let app = admin
        .post(
            "/v1/admin/apps",
            Some(&json!({ "name": format!("bench-{run}") })),
        )
        .await
        .context("creating the bench app (is --key the server's admin key?)")?;
    let app_key = app["api_key"]
        .as_str()
        .context("no api_key in the app's answer")?
        .to_owned();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(workers * 2)
        .build()?;
    if !quiet {
        eprintln!(
            "seeding {users} users with P-256 devices on {}…",
            target.url
        );
    }
    let enrol_http = http.clone();
    let devices = super::in_parallel(users, move |i| {
        let (admin, http) = (admin.clone(), enrol_http.clone());
        let login = format!("bench-{run}-{i:07}");
        async move {
            admin
                .post(
                    "/v1/admin/users",
                    Some(&json!({ "login": login, "display_name": "" })),
                )
                .await?;
            let path = format!(
                "/v1/admin/users/{}/enrolments",
                crate::http::segment(&login)
            );
            let enrolment = admin.post(&path, None).await?;
            let link = enrolment["link"]
                .as_str()
                .context("no link in the enrolment's answer")?;
            let key = DeviceKey::generate(KeyType::P256)?;
            let (device, _) = Device::enrol(link, key, "bench", http).await?;
            Ok((login, device))
        }
    })
    .await?;
    Ok(Loaded {
        base: target.url.trim_end_matches('/').to_owned(),
        app_key,
        per_worker: super::deal(devices, workers),
    })
}

/// Runs one worker per user list until `duration` is up, each on a connection of its
/// own.
async fn measure(l: Loaded, duration: Duration) -> anyhow::Result<Measured> {
    let target = wire::Target::parse(&l.base)?;
    let app = wire::bearer(&l.app_key)?;
    #[allow(clippy::disallowed_methods)] // a benchmark measures elapsed time by definition
    let started = std::time::Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for users in l.per_worker {
        let users = users
            .into_iter()
            .map(User::new)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut conn = Conn::new(target.clone());
        let app = app.clone();
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
                let user = &users[i % users.len()];
                i += 1;
                match lifecycle(&mut conn, &app, user).await {
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
    let mut m = Measured {
        latencies_us: Vec::new(),
        errors: 0,
        first_error: None,
        seconds: 0.0,
    };
    for w in workers {
        let s = w.await?;
        m.latencies_us.extend(s.latencies_us);
        m.errors += s.errors;
        m.first_error = m.first_error.or(s.first_error);
    }
    m.seconds = started.elapsed().as_secs_f64();
    m.latencies_us.sort_unstable();
    Ok(m)
}

/// Prints the figures; `backend` names what was loaded (`sqlite`, `postgres`, or the
/// target's URL). `wal_created`: the net change in PostgreSQL's WAL files over the
/// measured window (files a checkpoint removed count against those created), where it
/// could be read ([`PostgresStore::wal_files`](pushback_store::PostgresStore::wal_files)).
fn report(b: &GuardBench, backend: &str, m: &Measured, wal_created: Option<i64>) {
    let lat = &m.latencies_us;
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let idx = ((lat.len() as f64 - 1.0) * p).round() as usize;
        lat[idx] as f64 / 1000.0
    };
    let per_sec = lat.len() as f64 / m.seconds;
    if b.json {
        output::json(&json!({
            "lifecycles_per_sec": (per_sec * 10.0).round() / 10.0,
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
            "errors": m.errors,
            "lifecycles": lat.len(), "users": b.users, "concurrency": b.concurrency,
            "seconds": m.seconds, "backend": backend,
            "wal_files_created": wal_created,
        }));
    } else {
        output::line(&format!(
            "{backend}: {} users, concurrency {}, {:.1} s: {} lifecycles, {:.0} lifecycles/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, {} errors",
            b.users,
            b.concurrency,
            m.seconds,
            lat.len(),
            per_sec,
            pct(0.5),
            pct(0.95),
            pct(0.99),
            m.errors
        ));
    }
    if let Some(e) = &m.first_error {
        eprintln!("first error: {e}");
    }
    if let Some(n) = wal_created.filter(|n| *n > 0) {
        eprintln!(
            "warning: PostgreSQL created {n} WAL files during the run; each stalls every commit \
             while it is filled with zeros, so the tail latency is not the service's. A new \
             cluster does this for its first gigabyte or so of WAL: run again, or CHECKPOINT \
             first (BENCHMARKS.md)."
        );
    }
}

/// A user as a worker drives it: the device, and the body that opens a challenge.
struct User {
    device: Device,
    open: Bytes,
}

impl User {
    fn new((login, device): (String, Device)) -> anyhow::Result<Self> {
        let open = serde_json::to_vec(&json!({
            "login_hint": login,
            "context": { "action": "Sign in to bench", "ip": "198.51.100.7", "location": "Bench, XX", "user_agent": "pushback-bench" },
        }))?;
        Ok(Self {
            device,
            open: open.into(),
        })
    }
}

#[derive(Deserialize)]
struct Opened {
    status: String,
    auth_req_id: Option<String>,
    user_code: Option<String>,
}

#[derive(Deserialize)]
struct PendingList {
    challenges: Vec<PendingItem>,
}

#[derive(Deserialize)]
struct Status {
    status: String,
}

/// One lifecycle: the app opens a challenge, the device fetches it (signed) and
/// approves it with the code (signed), the app polls the decision.
async fn lifecycle(conn: &mut Conn, app: &HeaderValue, user: &User) -> anyhow::Result<()> {
    const PENDING: &str = "/v1/device/pending";
    let device = &user.device;
    let open = wire::as_app(conn.request(Method::POST, "/v1/challenges"), app);
    let opened: Opened = conn.call(wire::json_body(open, user.open.clone())?).await?;
    ensure!(
        opened.status == "pending",
        "challenge not pending: {}",
        opened.status
    );
    let id = opened.auth_req_id.context("no auth_req_id")?;
    let code = opened.user_code.context("no user_code")?;

    let fetch = conn.request(Method::GET, PENDING);
    let signed = device.sign_request("GET", PENDING, b"")?;
    let pending: PendingList = conn
        .call(wire::signed(fetch, &device.device_id, signed)?)
        .await?;
    check_contexts(&pending.challenges)?;
    let item = pending
        .challenges
        .iter()
        .find(|i| i.challenge_id == id)
        .context("challenge not visible to the device")?;

    let body = serde_json::to_vec(&device.answer_body(item, Decision::Approve, &code)?)?;
    let answer = conn.request(Method::POST, "/v1/device/answers");
    let answered: Status = conn.call(wire::json_body(answer, body.into())?).await?;
    ensure!(
        answered.status == "approved",
        "answer recorded as {}",
        answered.status
    );

    let poll = wire::as_app(
        conn.request(Method::GET, &format!("/v1/challenges/{id}")),
        app,
    );
    let polled: Status = conn.call(poll.body(Full::new(Bytes::new()))?).await?;
    ensure!(polled.status == "approved", "poll says {}", polled.status);
    Ok(())
}
