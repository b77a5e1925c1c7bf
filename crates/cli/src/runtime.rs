//! Wiring: the one place that picks a store backend (by URL scheme), reads the server
//! secret and assembles a [`Guard`].

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};

use pushback_guard::store::GuardStore;
use pushback_guard::{CodeKey, Guard, GuardSettings};
use pushback_model::{Entropy as _, SystemClock, SystemEntropy};
use pushback_server::{Metrics, MetricsObserver};
use pushback_store::{Backend, PostgresStore, SqliteStore};

/// Opens the store a database URL names, running migrations.
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn GuardStore>> {
    open_store_in_schema(url, None).await
}

/// Like [`open_store`]; on PostgreSQL, keeps the tables in `schema`.
pub async fn open_store_in_schema(
    url: &str,
    schema: Option<&str>,
) -> anyhow::Result<Arc<dyn GuardStore>> {
    Ok(match Backend::of_url(url) {
        Some(Backend::Sqlite) => Arc::new(
            SqliteStore::connect(url)
                .await
                .with_context(|| format!("opening {url}"))?,
        ),
        Some(Backend::Postgres) => Arc::new(
            PostgresStore::connect_in_schema(url, schema)
                .await
                .context("connecting to PostgreSQL")?,
        ),
        None => bail!("unsupported database URL {url:?}: use sqlite://file.db or postgres://…"),
    })
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
    let guard = Guard::new(
        store,
        Arc::new(SystemClock),
        Arc::new(SystemEntropy::new()),
        CodeKey::new(secret),
        settings,
    )
    .context("invalid settings")?;
    Ok(guard.with_observer(Arc::new(MetricsObserver(metrics.clone()))))
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
