//! Wiring: the one place that picks a store backend (by URL scheme), reads the server
//! secret and assembles a [`Guard`].

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use pushback_guard::store::GuardStore;
use pushback_guard::{CodeKey, Guard, GuardSettings, Observer, Observers};
use pushback_model::{Clock, Entropy as _, SystemClock, SystemEntropy};
use pushback_server::live::{JsonlSink, Sink, SinkSettings, WebhookSecret, WebhookSink};
use pushback_server::{Metrics, MetricsObserver};
use pushback_store::{Backend, PostgresStore, SqliteStore};
use pushback_watch::FindingStore;

/// One database, seen through each port that needs it.
pub struct Stores {
    pub guard: Arc<dyn GuardStore>,
    pub findings: Arc<dyn FindingStore>,
    pub incidents: Arc<dyn pushback_respond::IncidentStore>,
}

/// Opens the store a database URL names, running migrations.
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn GuardStore>> {
    open_store_in_schema(url, None, None).await
}

/// Like [`open_store`]; on PostgreSQL, keeps the tables in `schema`.
pub async fn open_store_in_schema(
    url: &str,
    schema: Option<&str>,
    max_connections: Option<u32>,
) -> anyhow::Result<Arc<dyn GuardStore>> {
    Ok(open_stores(url, schema, max_connections).await?.guard)
}

/// The database a URL names, for every port; on PostgreSQL, in `schema` if given, with
/// a pool of `max_connections` (default: [`pushback_store::default_max_connections`]).
pub async fn open_stores(
    url: &str,
    schema: Option<&str>,
    max_connections: Option<u32>,
) -> anyhow::Result<Stores> {
    Ok(match Backend::of_url(url) {
        Some(Backend::Sqlite) => {
            let store = Arc::new(
                SqliteStore::connect(url)
                    .await
                    .with_context(|| format!("opening {url}"))?,
            );
            Stores {
                guard: store.clone(),
                findings: store.clone(),
                incidents: store,
            }
        }
        Some(Backend::Postgres) => {
            let store = Arc::new(
                PostgresStore::connect_with(
                    url,
                    schema,
                    max_connections.unwrap_or_else(pushback_store::default_max_connections),
                )
                .await
                .context("connecting to PostgreSQL")?,
            );
            Stores {
                guard: store.clone(),
                findings: store.clone(),
                incidents: store,
            }
        }
        None => bail!("unsupported database URL {url:?}: use sqlite://file.db or postgres://…"),
    })
}

/// The sinks `[watch.sinks]` names. The webhook's secret is read here, from the
/// environment or a file, and goes nowhere but the sink; what it cannot deliver goes
/// to `dead_letters`.
pub fn sinks(
    settings: &SinkSettings,
    clock: Arc<dyn Clock>,
    dead_letters: Arc<dyn pushback_connect::DeadLetters>,
) -> anyhow::Result<Vec<Box<dyn Sink>>> {
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if settings.stdout {
        sinks.push(Box::new(crate::output::StdoutSink));
    }
    if let Some(path) = &settings.jsonl {
        sinks.push(Box::new(JsonlSink::new(path)));
    }
    if let Some(hook) = &settings.webhook {
        let secret = match (&hook.secret_env, &hook.secret_file) {
            (Some(var), None) => std::env::var(var)
                .with_context(|| format!("reading the webhook secret from ${var}"))?
                .into_bytes(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the webhook secret from {path}"))?
                .trim_end()
                .as_bytes()
                .to_vec(),
            _ => bail!("watch.sinks.webhook needs exactly one of secret_env and secret_file"),
        };
        if secret.len() < 16 {
            bail!("the webhook secret must be at least 16 bytes");
        }
        sinks.push(Box::new(
            WebhookSink::new(hook, WebhookSecret::new(secret), clock)
                .context("setting up the webhook sink")?
                .with_dead_letters(dead_letters),
        ));
    }
    Ok(sinks)
}

/// Reads the server secret from `path`, creating it (32 random bytes, mode 0600) if it
/// does not exist.
pub fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() >= 32 => return Ok(bytes),
        Ok(_) => bail!(
            "{} is shorter than 32 bytes; remove it to have a new one made",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let mut secret = vec![0u8; 32];
    SystemEntropy::new().fill(&mut secret);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(&secret)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}

/// A guard over `store`, reporting to `metrics`.
pub fn guard(
    store: Arc<dyn GuardStore>,
    secret: &[u8],
    settings: GuardSettings,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Guard> {
    guard_observed(store, secret, settings, metrics, Vec::new())
}

/// A guard over `store`, reporting to `metrics` and to each of `also`.
pub fn guard_observed(
    store: Arc<dyn GuardStore>,
    secret: &[u8],
    settings: GuardSettings,
    metrics: &Arc<Metrics>,
    also: Vec<Arc<dyn Observer>>,
) -> anyhow::Result<Guard> {
    let guard = Guard::new(
        store,
        Arc::new(SystemClock),
        Arc::new(SystemEntropy::new()),
        CodeKey::new(secret),
        settings,
    )
    .context("invalid settings")?;
    let mut observers: Vec<Arc<dyn Observer>> = vec![Arc::new(MetricsObserver(metrics.clone()))];
    observers.extend(also);
    Ok(guard.with_observer(Arc::new(Observers(observers))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_created_private_and_then_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s");
        let first = load_or_create_secret(&path).expect("create");
        assert_eq!(first.len(), 32);
        assert_eq!(load_or_create_secret(&path).expect("reuse"), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
