//! The PostgreSQL backend.

use std::str::FromStr as _;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection as _, PgConnection, Postgres, Row as _};

use pushback_guard::store::StoreError;

use crate::sql::{
    Arg, Autocommit, Database, Decode, Offset, Session, SqlError, SqlResult, Transaction, Write,
    shift_params,
};

/// A pooled connection idle for at least this long is pinged before it is used.
const PING_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// The pool size when none is configured: twice this machine's cores, plus two.
///
/// Each connection is a backend process on the database server. More backends than the
/// server has cores to run them only queue there, at the cost of a context switch per
/// statement: on 2 cores a pool of 6 used 11% less PostgreSQL CPU per lifecycle than
/// one of 16, with the same throughput and a lower p99 (BENCHMARKS.md). The rule fits a
/// database on a machine like this one; a larger database server wants a larger pool
/// (`[database] max_connections`).
pub fn default_max_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    u32::try_from(cores.min(512)).unwrap_or(512) * 2 + 2
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

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
    kept: std::sync::Arc<crate::guard::Kept>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and runs migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_in_schema(url, None).await
    }

    /// Like [`Self::connect`], keeping every table in `schema` (created if missing):
    /// lets several independent pushback databases, or test runs, share one server.
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        Self::connect_with(url, schema, default_max_connections()).await
    }

    /// Like [`Self::connect_in_schema`], with a pool of at most `max_connections`.
    pub async fn connect_with(
        url: &str,
        schema: Option<&str>,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        if max_connections == 0 {
            return Err(StoreError::Backend(
                "the connection pool needs at least one connection".into(),
            ));
        }
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
            options = options
                .options([("search_path", schema)])
                .application_name(&format!("pushback:{schema}"));
        } else {
            options = options.application_name("pushback");
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            // sqlx pings every connection it takes from the pool by default: one round
            // trip more each time, four more on the six a challenge's lifecycle takes.
            // A connection idle for less than a second was working a second ago; an
            // older one is still pinged, and a dead one replaced.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(backend)?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migrating: {e}")))?;
        Ok(Self {
            pool,
            kept: std::sync::Arc::default(),
        })
    }

    /// Drops `schema` and everything in it (for scratch schemas such as the benchmark's).
    ///
    /// Sessions still connected to it (their `application_name` is `pushback:<schema>`)
    /// are ended first, so a transaction left open by a task that will never run again
    /// (a test's runtime that is going away) cannot hold the drop up.
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
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
        )
        .bind(format!("pushback:{schema}"))
        .execute(&mut conn)
        .await
        .map_err(backend)?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut conn)
            .await
            .map_err(backend)?;
        conn.close().await.map_err(backend)
    }
}

fn sql_error(e: sqlx::Error) -> SqlError {
    match e.as_database_error() {
        Some(db) if db.is_unique_violation() => SqlError::Unique(e.to_string()),
        _ => SqlError::Other(e.to_string()),
    }
}

fn bind<'q>(
    mut query: sqlx::query::Query<'q, Postgres, PgArguments>,
    args: &[Arg<'q>],
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    for arg in args {
        query = match *arg {
            Arg::Int(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            Arg::Blob(v) => query.bind(v),
        };
    }
    query
}

crate::sql::impl_row!(PgRow, try_get, sql_error);

/// A session on a PostgreSQL connection: a pooled one, or a transaction on one (which
/// sqlx rolls back if it is dropped).
pub(crate) struct Pg<C>(C);

pub(crate) type PgConn = Pg<PoolConnection<Postgres>>;
pub(crate) type PgTx = Pg<sqlx::Transaction<'static, Postgres>>;

#[async_trait]
impl<C> Session for Pg<C>
where
    C: std::ops::DerefMut<Target = PgConnection> + Send,
{
    async fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> SqlResult<u64> {
        let done = bind(sqlx::query(sql), args)
            .execute(&mut *self.0)
            .await
            .map_err(sql_error)?;
        Ok(done.rows_affected())
    }

    async fn exec_then_rows<T: Send + 'static>(
        &mut self,
        first: &str,
        first_args: &[Arg<'_>],
        then: &str,
        then_args: &[Arg<'_>],
        decode: Decode<T>,
    ) -> SqlResult<(u64, Vec<T>)> {
        // One row at least: the count, then `present` (NULL when `then` found nothing)
        // and `then`'s columns.
        let then = shift_params(then, first_args.len());
        let args: Vec<Arg<'_>> = first_args.iter().chain(then_args).copied().collect();
        let sql = format!(
            "WITH first AS ({first} RETURNING 1) \
             SELECT (SELECT COUNT(*) FROM first), t.* FROM (SELECT 1) AS one \
             LEFT JOIN LATERAL (SELECT TRUE AS present, x.* FROM ({then}) AS x) AS t ON TRUE"
        );
        let rows = bind(sqlx::query(&sql), &args)
            .fetch_all(&mut *self.0)
            .await
            .map_err(sql_error)?;
        let changed = match rows.first() {
            Some(row) => row.try_get::<i64, _>(0).map_err(sql_error)?,
            None => 0,
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            if row
                .try_get::<Option<bool>, _>(1)
                .map_err(sql_error)?
                .is_some()
            {
                out.push(decode(&Offset(row, 2))?);
            }
        }
        Ok((u64::try_from(changed).unwrap_or(0), out))
    }

    async fn rows<T: Send + 'static>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        decode: Decode<T>,
    ) -> SqlResult<Vec<T>> {
        let rows = bind(sqlx::query(sql), args)
            .fetch_all(&mut *self.0)
            .await
            .map_err(sql_error)?;
        rows.iter().map(|r| decode(r)).collect()
    }
}

/// PostgreSQL's SQLSTATE for a division by zero, which [`Autocommit::write_all`] raises
/// on purpose.
const DIVISION_BY_ZERO: &str = "22012";

#[async_trait]
impl Autocommit for PgConn {
    async fn write_all(&mut self, writes: &[Write<'_>]) -> SqlResult<bool> {
        if writes.is_empty() {
            return Ok(true);
        }
        let mut sql = String::from("WITH ");
        let mut args: Vec<Arg<'_>> = Vec::new();
        let mut counted = Vec::new();
        for (n, write) in writes.iter().enumerate() {
            let returning = if write.must_change {
                counted.push(format!("(SELECT COUNT(*) FROM w{n})"));
                " RETURNING 1"
            } else {
                ""
            };
            let sep = if n == 0 { "" } else { ", " };
            let body = shift_params(&write.sql, args.len());
            sql.push_str(&format!("{sep}w{n} AS ({body}{returning})"));
            args.extend_from_slice(&write.args);
        }
        // A write that had to change a row and changed none makes the statement divide
        // by zero, and the error undoes every write in it: all or nothing, in one round
        // trip and with no transaction to open and commit.
        if counted.is_empty() {
            sql.push_str(" SELECT 1");
        } else {
            sql.push_str(&format!(" SELECT 1 / LEAST({})", counted.join(", ")));
        }
        match bind(sqlx::query(&sql), &args).execute(&mut *self.0).await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_database_error().and_then(|db| db.code()).as_deref()
                    == Some(DIVISION_BY_ZERO) =>
            {
                Ok(false)
            }
            Err(e) => Err(sql_error(e)),
        }
    }
}

#[async_trait]
impl Transaction for PgTx {
    async fn commit(self) -> SqlResult<()> {
        self.0.commit().await.map_err(sql_error)
    }

    async fn rollback(self) -> SqlResult<()> {
        self.0.rollback().await.map_err(sql_error)
    }
}

#[async_trait]
impl Database for PostgresStore {
    const LOCK: &'static str = " FOR UPDATE";
    // `is_local`: the setting ends with the transaction, so it never reaches another
    // statement on the pooled connection.
    const NO_FLUSH_WAIT: &'static str =
        " AND set_config('synchronous_commit', 'off', true) = 'off'";

    type Tx = PgTx;
    type Conn = PgConn;

    async fn begin(&self) -> SqlResult<PgTx> {
        self.pool.begin().await.map(Pg).map_err(sql_error)
    }

    async fn writer(&self) -> SqlResult<PgConn> {
        self.pool.acquire().await.map(Pg).map_err(sql_error)
    }

    async fn reader(&self) -> SqlResult<PgConn> {
        self.writer().await
    }

    /// A session-level advisory lock on a connection of its own, taken out of the pool:
    /// it is held while the connection lives, and released when the lease is dropped
    /// (the connection closes) or when this node dies (PostgreSQL ends the session).
    async fn try_lease(&self, key: &str) -> SqlResult<Option<crate::sql::Lease>> {
        let digest = pushback_model::sha256(format!("pushback.lease.{key}").as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        let mut conn = self.pool.acquire().await.map_err(sql_error)?.detach();
        let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(i64::from_be_bytes(id))
            .fetch_one(&mut conn)
            .await
            .map_err(sql_error)?;
        Ok(held.then(|| Box::new(conn) as crate::sql::Lease))
    }
}

crate::guard::impl_guard_store!(PostgresStore);
crate::findings::impl_finding_store!(PostgresStore);
crate::incidents::impl_incident_store!(PostgresStore);
