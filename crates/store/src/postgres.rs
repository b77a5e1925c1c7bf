//! The PostgreSQL backend.

use std::str::FromStr as _;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use pushback_guard::store::StoreError;

use crate::backend;

/// Schema names are spliced into SQL, so only these characters are allowed.
fn valid_schema(schema: &str) -> bool {
    !schema.is_empty()
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// pushback's store on PostgreSQL.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and runs migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_in_schema(url, None).await
    }

    /// Like [`Self::connect`], keeping every table in `schema` (created if missing):
    /// lets several independent pushback databases, or test runs, share one server.
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let mut options = PgConnectOptions::from_str(url).map_err(backend)?;
        if let Some(schema) = schema {
            if !valid_schema(schema) {
                return Err(StoreError::Backend(
                    "schema names are lower-case letters, digits and _".into(),
                ));
            }
            let mut conn = sqlx::PgConnection::connect_with(&options)
                .await
                .map_err(backend)?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&mut conn)
                .await
                .map_err(backend)?;
            conn.close().await.map_err(backend)?;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await
            .map_err(backend)?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migrating: {e}")))?;
        Ok(Self { pool })
    }

    /// Drops `schema` and everything in it (for scratch schemas such as the benchmark's).
    pub async fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
        if !valid_schema(schema) {
            return Err(StoreError::Backend(
                "schema names are lower-case letters, digits and _".into(),
            ));
        }
        let options = PgConnectOptions::from_str(url).map_err(backend)?;
        let mut conn = sqlx::PgConnection::connect_with(&options)
            .await
            .map_err(backend)?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut conn)
            .await
            .map_err(backend)?;
        conn.close().await.map_err(backend)
    }

    pub(crate) fn writer(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn reader(&self) -> &PgPool {
        &self.pool
    }
}

crate::guard::impl_guard_store!(PostgresStore, sqlx::Postgres, " FOR UPDATE");
