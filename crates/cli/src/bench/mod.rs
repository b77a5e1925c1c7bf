//! Benchmarks: `pushback bench guard` (challenge lifecycles over HTTP),
//! `pushback bench watch` (detection throughput over a generated Okta log) and
//! `pushback bench respond` (from a "not me" or a posted flood to the revoke call).

pub mod guard;
pub mod respond;
pub mod watch;

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

/// Creates `users` users (`user0000000`, …), each with a P-256 device enrolled the way
/// a device does it, through the reference authenticator over HTTP.
pub(crate) async fn seed_devices(
    guard: &Arc<Guard>,
    admin: &AdminPrincipal,
    base: &str,
    http: &reqwest::Client,
    users: usize,
) -> anyhow::Result<Vec<(String, Device)>> {
    let tasks = 8;
    let per = users.div_ceil(tasks);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (guard, admin, base, http) =
            (guard.clone(), admin.clone(), base.to_owned(), http.clone());
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (t * per)..((t + 1) * per).min(users) {
                let login = format!("user{i:07}");
                guard.create_user(&admin, &login, "").await?;
                let e = guard.create_enrolment(&admin, &login).await?;
                let link = format!("{base}/enroll#{}", e.token);
                let key = DeviceKey::generate(KeyType::P256)?;
                let (device, _) = Device::enrol(&link, key, "bench", http.clone()).await?;
                out.push((login, device));
            }
            anyhow::Ok(out)
        }));
    }
    let mut devices = Vec::with_capacity(users);
    for h in handles {
        devices.extend(h.await??);
    }
    Ok(devices)
}
