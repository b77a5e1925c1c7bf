//! SQLite and PostgreSQL implementations of pushback's storage ports.
//!
//! [`SqliteStore`] is the default: one file, WAL, a single writer connection (SQLite takes
//! one writer at a time anyway; queuing in the pool avoids busy retries) and a small pool
//! of readers. [`PostgresStore`] serves several nodes sharing one database: per-user rows
//! are locked `FOR UPDATE`, so counters change atomically whichever node takes a request.
//!
//! Both run the same SQL, written once in [`guard`] (SQLite accepts PostgreSQL's `$1`
//! parameters), and both pass the same conformance suite (`tests/it`). Migrations live in
//! `migrations/<backend>/`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pushback_guard::store::StoreError> {
//! use pushback_guard::store::GuardStore;
//! let store = pushback_store::SqliteStore::connect("sqlite://pushback.db").await?;
//! assert_eq!(store.admin_key_count().await?, 0);
//! # Ok(()) }
//! ```

mod guard;
mod postgres;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use pushback_guard::store::StoreError;

pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

pub(crate) fn conflict_or_backend(e: sqlx::Error, what: &str) -> StoreError {
    match e.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => backend(e),
    }
}

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
