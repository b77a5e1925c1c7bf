//! Benchmarks: `pushback bench guard` (challenge lifecycles over HTTP),
//! `pushback bench watch` (detection throughput over a generated Okta log) and
//! `pushback bench respond` (from a "not me" or a posted flood to the revoke call).

pub mod guard;
pub mod respond;
pub mod watch;
mod wire;

use std::sync::Arc;

use anyhow::Context as _;

use pushback_guard::{AdminPrincipal, DeviceKey, Guard, KeyType};
use pushback_model::{SystemEntropy, random_token};

use crate::device::Device;

/// Where a benchmark keeps its data: a fresh SQLite file in a scratch directory, or a
/// fresh schema (`bench_<random>`) on the PostgreSQL server `--database-url` names.
pub(crate) struct Scratch {
    pub url: String,
    pub schema: String,
    _dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new(database_url: Option<&str>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("creating a scratch directory")?;
        let url = database_url.map_or_else(
            || format!("sqlite://{}", dir.path().join("bench.db").display()),
            str::to_owned,
        );
        let schema = format!(
            "bench_{}",
            random_token(&SystemEntropy::new(), 6)
                .to_ascii_lowercase()
                .replace('-', "_")
        );
        Ok(Self {
            url,
            schema,
            _dir: dir,
        })
    }

    /// Drops the PostgreSQL schema (the SQLite directory goes with `self`).
    pub async fn drop(self) {
        if pushback_store::Backend::of_url(&self.url) == Some(pushback_store::Backend::Postgres)
            && let Err(e) =
                pushback_store::PostgresStore::drop_schema(&self.url, &self.schema).await
        {
            eprintln!("could not drop the scratch schema {}: {e}", self.schema);
        }
    }
}

/// What a loader needs once seeding is done: an admin, an app's key, a client, and the
/// users with their devices dealt out to the workers.
pub(crate) struct Seeded {
    pub admin: AdminPrincipal,
    pub app_key: String,
    pub http: reqwest::Client,
    /// Worker *w* has users *w*, *w + C*, *w + 2C*, …: no two workers share a user.
    pub per_worker: Vec<Vec<(String, Device)>>,
}

/// An admin, an app called `bench`, and `users` users with P-256 devices, split among
/// `workers` workers.
pub(crate) async fn seed(
    guard: &Arc<Guard>,
    base: &str,
    users: usize,
    workers: usize,
    quiet: bool,
) -> anyhow::Result<Seeded> {
    let admin_key = guard.create_admin_key().await?;
    let admin = guard.authenticate_admin(&admin_key).await?;
    let (_, app_key) = guard.create_app(&admin, "bench", None).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(workers * 2)
        .build()?;
    if !quiet {
        eprintln!("seeding {users} users with P-256 devices…");
    }
    let devices = seed_devices(guard, &admin, base, &http, users).await?;
    Ok(Seeded {
        admin,
        app_key,
        http,
        per_worker: deal(devices, workers),
    })
}

/// Deals `devices` out to `workers`: worker *w* gets *w*, *w + workers*, …
pub(crate) fn deal<T>(devices: Vec<T>, workers: usize) -> Vec<Vec<T>> {
    let mut per_worker: Vec<Vec<T>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, d) in devices.into_iter().enumerate() {
        per_worker[i % workers].push(d);
    }
    per_worker
}

/// Runs `one(i)` for every `i` below `users`, eight at a time (enrolment is a few
/// requests each, so the server and the signing share the cores); returns the results
/// in order of `i`.
pub(crate) async fn in_parallel<T, F, Fut>(users: usize, one: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send,
{
    let tasks = 8;
    let per = users.div_ceil(tasks);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let one = one.clone();
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (t * per)..((t + 1) * per).min(users) {
                out.push(one(i).await?);
            }
            anyhow::Ok(out)
        }));
    }
    let mut all = Vec::with_capacity(users);
    for h in handles {
        all.extend(h.await??);
    }
    Ok(all)
}

/// Creates `users` users (`user0000000`, …), each with a P-256 device enrolled the way
/// a device does it, through the reference authenticator over HTTP.
async fn seed_devices(
    guard: &Arc<Guard>,
    admin: &AdminPrincipal,
    base: &str,
    http: &reqwest::Client,
    users: usize,
) -> anyhow::Result<Vec<(String, Device)>> {
    let (guard, admin, base, http) = (guard.clone(), admin.clone(), base.to_owned(), http.clone());
    in_parallel(users, move |i| {
        let (guard, admin, base, http) = (guard.clone(), admin.clone(), base.clone(), http.clone());
        async move {
            let login = format!("user{i:07}");
            guard.create_user(&admin, &login, "").await?;
            let e = guard.create_enrolment(&admin, &login).await?;
            let link = format!("{base}/enroll#{}", e.token);
            let key = DeviceKey::generate(KeyType::P256)?;
            let (device, _) = Device::enrol(&link, key, "bench", http).await?;
            Ok((login, device))
        }
    })
    .await
}
