//! SQLite and PostgreSQL implementations of pushback's storage ports.
//!
//! [`SqliteStore`] is the default: one file, WAL, one connection (rusqlite) whose
//! statements run in place on the calling task. [`PostgresStore`] (sqlx) serves several
//! nodes sharing one database: per-user rows are locked `FOR UPDATE`, so counters change
//! atomically whichever node takes a request.
//!
//! Both run the same SQL and logic, written once in [`guard`] against the small
//! [`sql`] surface that each backend implements, and both pass the same conformance
//! suite (`tests/it`). Migrations live in `migrations/<backend>/`.
//!
//! The same goes for watch's [`FindingStore`](pushback_watch::FindingStore), written
//! once in [`findings`], and respond's [`IncidentStore`](pushback_respond::IncidentStore),
//! written once in [`incidents`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), pushback_guard::store::StoreError> {
//! use pushback_guard::store::GuardStore;
//! let store = pushback_store::SqliteStore::connect("sqlite://pushback.db").await?;
//! assert_eq!(store.admin_key_count().await?, 0);
//! # Ok(()) }
//! ```

mod findings;
mod guard;
mod incidents;
mod postgres;
mod sql;
mod sqlite;

pub use postgres::{PostgresStore, default_max_connections};
pub use sqlite::SqliteStore;

/// Which backend a database URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `sqlite:` → SQLite; `postgres:` or `postgresql:` → PostgreSQL.
    pub fn of_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next()?.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            _ => None,
        }
    }
}
