//! The PostgreSQL backend.

use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgRow};
use sqlx::{Connection as _, Executor as _, PgConnection, Postgres, Row as _};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

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
    conns: Arc<Conns>,
    kept: Arc<crate::guard::Kept>,
}

/// The store's connections to the server, at most one per permit.
///
/// Not sqlx's pool: that one follows every release with a round trip (a `Sync` and its
/// `ReadyForQuery`, in a task spawned for it), one more for each of the three
/// statements of a lifecycle. Here a session's connection goes back to the idle list as
/// the session is dropped, unless a statement on it was cut short (a cancelled request)
/// or failed for a reason other than the server's answer (a broken link): such a
/// connection is closed, and a new one made when next needed. A transaction left open
/// is rolled back before the connection's next use; a connection idle for a second or
/// more is pinged first, and replaced if it does not answer.
struct Conns {
    options: PgConnectOptions,
    idle: Mutex<Vec<Idle>>,
    permits: Arc<Semaphore>,
    /// Statements sent on the store's sessions, each one round trip
    /// ([`PostgresStore::statements`]).
    statements: AtomicU64,
}

struct Idle {
    conn: PgConnection,
    since: Instant,
    /// Went idle inside a transaction, which must be rolled back first.
    in_tx: bool,
}

impl std::fmt::Debug for Conns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the options: they may hold a password.
        f.debug_struct("Conns")
            .field("available", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Conns {
    async fn connect(&self) -> SqlResult<PgConnection> {
        PgConnection::connect_with(&self.options)
            .await
            .map_err(sql_error)
    }

    /// A session on an idle connection, or on a new one while the pool has room.
    async fn session(self: &Arc<Self>) -> SqlResult<PgSession> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| SqlError::Other("the connection pool is closed".into()))?;
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(idle) => self.revive(idle).await?,
            None => self.connect().await?,
        };
        Ok(PgSession {
            conn: Some(conn),
            conns: Arc::clone(self),
            _permit: permit,
            reusable: true,
            in_tx: false,
        })
    }

    /// An idle connection made ready for use, or a new one in its place.
    async fn revive(&self, idle: Idle) -> SqlResult<PgConnection> {
        let Idle {
            mut conn,
            since,
            in_tx,
        } = idle;
        let checked = if in_tx {
            conn.execute("ROLLBACK").await.map(drop)
        } else if since.elapsed() >= PING_IF_IDLE_FOR {
            conn.ping().await
        } else {
            return Ok(conn);
        };
        match checked {
            Ok(()) => Ok(conn),
            Err(_) => self.connect().await,
        }
    }
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
        let mut first = PgConnection::connect_with(&options)
            .await
            .map_err(backend)?;
        sqlx::migrate!("migrations/postgres")
            .run(&mut first)
            .await
            .map_err(|e| StoreError::Backend(format!("migrating: {e}")))?;
        let permits = usize::try_from(max_connections).unwrap_or(usize::MAX);
        let conns = Conns {
            options,
            idle: Mutex::new(vec![Idle {
                conn: first,
                since: Instant::now(),
                in_tx: false,
            }]),
            permits: Arc::new(Semaphore::new(permits.min(Semaphore::MAX_PERMITS))),
            statements: AtomicU64::new(0),
        };
        Ok(Self {
            conns: Arc::new(conns),
            kept: Arc::default(),
        })
    }

    /// How many statements this store has sent on its sessions, each one round trip
    /// to the server (the checks of idle connections not counted): for tests and
    /// diagnosis of how many a request costs.
    pub fn statements(&self) -> u64 {
        self.conns.statements.load(Ordering::Relaxed)
    }

    /// How many files the server at `url` holds in its write-ahead log directory, or
    /// `None` when the role may not list it (`pg_ls_waldir` needs superuser or
    /// `pg_monitor`). A count that grows under load means PostgreSQL is creating WAL
    /// files, filling each 16 MB with zeros while every commit waits, instead of reusing
    /// old ones: what a new cluster does with its first gigabyte or so of WAL. The
    /// benchmark reports it, since such stalls are most of a run's p99.
    pub async fn wal_files(url: &str) -> Option<i64> {
        let options = PgConnectOptions::from_str(url).ok()?;
        let mut conn = PgConnection::connect_with(&options).await.ok()?;
        let count = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pg_ls_waldir()")
            .fetch_one(&mut conn)
            .await
            .ok();
        let _ = conn.close().await;
        count
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

/// A session on one of the store's connections ([`Conns`]), in a transaction of its
/// own or not.
pub(crate) struct PgSession {
    conn: Option<PgConnection>,
    conns: Arc<Conns>,
    _permit: OwnedSemaphorePermit,
    /// False while a statement runs and after one failed other than by the server's
    /// answer: the connection's state is unknown, and it is closed when the session ends.
    reusable: bool,
    in_tx: bool,
}

impl PgSession {
    /// The connection, for one statement: see [`PgSession::ran`].
    fn start(&mut self) -> SqlResult<&mut PgConnection> {
        self.reusable = false;
        self.conns.statements.fetch_add(1, Ordering::Relaxed);
        self.conn
            .as_mut()
            .ok_or_else(|| SqlError::Other("the session has no connection".into()))
    }

    /// Notes how the statement begun with [`PgSession::start`] ended.
    fn ran<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        self.reusable = matches!(result, Ok(_) | Err(sqlx::Error::Database(_)));
        result
    }

    async fn simple(&mut self, sql: &str) -> SqlResult<()> {
        let done = self.start()?.execute(sql).await.map(drop);
        self.ran(done).map_err(sql_error)
    }
}

impl Drop for PgSession {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.reusable {
            let idle = Idle {
                conn,
                since: Instant::now(),
                in_tx: self.in_tx,
            };
            self.conns
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(idle);
        }
        // Otherwise the connection closes here, and the permit (dropped after this)
        // lets a new one be made.
    }
}

#[async_trait]
impl Session for PgSession {
    async fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> SqlResult<u64> {
        let done = bind(sqlx::query(sql), args).execute(self.start()?).await;
        Ok(self.ran(done).map_err(sql_error)?.rows_affected())
    }

    async fn exec_planned(&mut self, sql: &str, args: &[Arg<'_>]) -> SqlResult<u64> {
        // The unnamed statement: parsed and planned for these parameters each time.
        let query = bind(sqlx::query(sql).persistent(false), args);
        let done = query.execute(self.start()?).await;
        Ok(self.ran(done).map_err(sql_error)?.rows_affected())
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
            .fetch_all(self.start()?)
            .await;
        let rows = self.ran(rows).map_err(sql_error)?;
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
        let rows = bind(sqlx::query(sql), args).fetch_all(self.start()?).await;
        let rows = self.ran(rows).map_err(sql_error)?;
        rows.iter().map(|r| decode(r)).collect()
    }
}

/// PostgreSQL's SQLSTATE for a division by zero, which [`Autocommit::write_all`] raises
/// on purpose.
const DIVISION_BY_ZERO: &str = "22012";

#[async_trait]
impl Autocommit for PgSession {
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
        let done = bind(sqlx::query(&sql), &args).execute(self.start()?).await;
        match self.ran(done) {
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
impl Transaction for PgSession {
    async fn commit(mut self) -> SqlResult<()> {
        self.simple("COMMIT").await?;
        self.in_tx = false;
        Ok(())
    }

    async fn rollback(mut self) -> SqlResult<()> {
        self.simple("ROLLBACK").await?;
        self.in_tx = false;
        Ok(())
    }
}

#[async_trait]
impl Database for PostgresStore {
    const LOCK: &'static str = " FOR UPDATE";
    // `is_local`: the setting ends with the transaction, so it never reaches another
    // statement on the pooled connection.
    const NO_FLUSH_WAIT: &'static str =
        " AND set_config('synchronous_commit', 'off', true) = 'off'";
    const SEAL_ROWS: &'static str = "SELECT (e->>0)::BIGINT AS id, (e->>1)::BIGINT AS seq, e->>2 AS prev_hash, e->>3 AS hash \
         FROM jsonb_array_elements($1::jsonb) AS e";
    const WRITES_IN_WITH: bool = true;

    type Tx = PgSession;
    type Conn = PgSession;

    /// By `ctid` (a TID scan), with the limit a literal: joined by key instead, a
    /// plan could hash the whole table to find the few rows to delete.
    fn purge_nonces_sql(limit: i64) -> String {
        format!(
            "DELETE FROM device_nonces WHERE ctid = ANY(ARRAY(\
             SELECT ctid FROM device_nonces WHERE expires_at < $1 ORDER BY expires_at LIMIT {limit}))"
        )
    }

    async fn begin(&self) -> SqlResult<PgSession> {
        let mut session = self.conns.session().await?;
        // Set first: a BEGIN cut short leaves the connection closed anyway.
        session.in_tx = true;
        session.simple("BEGIN").await?;
        Ok(session)
    }

    async fn writer(&self) -> SqlResult<PgSession> {
        self.conns.session().await
    }

    async fn reader(&self) -> SqlResult<PgSession> {
        self.writer().await
    }

    /// A session-level advisory lock on a connection of its own, taken out of the pool:
    /// it is held while the connection lives, and released when the lease is dropped
    /// (the connection closes) or when this node dies (PostgreSQL ends the session).
    async fn try_lease(&self, key: &str) -> SqlResult<Option<crate::sql::Lease>> {
        let digest = pushback_model::sha256(format!("pushback.lease.{key}").as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        let mut conn = self.conns.connect().await?;
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

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::time::Duration;

    use super::*;
    use crate::sql::int;
    use pushback_guard::store::GuardStore as _;
    use pushback_model::{Entropy as _, Timestamp};

    /// A store on a scratch schema with a pool of one connection, when the conformance
    /// suite's PostgreSQL is configured (CI always configures it).
    async fn pool_of_one() -> Option<(PostgresStore, String, String)> {
        const PG_ENV: &str = "PUSHBACK_TEST_POSTGRES_URL";
        let Some(url) = std::env::var(PG_ENV).ok().filter(|u| !u.trim().is_empty()) else {
            assert!(std::env::var_os("CI").is_none(), "CI must set {PG_ENV}");
            let _ = writeln!(
                std::io::stderr(),
                "*** SKIPPED PostgreSQL: {PG_ENV} is unset ***"
            );
            return None;
        };
        let mut bytes = [0u8; 8];
        pushback_model::SystemEntropy::new().fill(&mut bytes);
        let schema = format!("p_{}", hex::encode(bytes));
        let store = PostgresStore::connect_with(&url, Some(&schema), 1)
            .await
            .expect("a scratch store");
        let mut session = store.writer().await.expect("a session");
        session
            .exec("CREATE TABLE t (id BIGINT PRIMARY KEY)", &[])
            .await
            .expect("a scratch table");
        Some((store, url, schema))
    }

    /// The one integer `sql` returns, read on a session of the store's.
    async fn scalar(store: &PostgresStore, sql: &str) -> i64 {
        let mut session = store.writer().await.expect("a session");
        session.one(sql, &[], int).await.expect(sql)
    }

    /// Runs `sql` on a session of the store's, which then goes back to the pool.
    async fn run(store: &PostgresStore, sql: &str) {
        let mut session = store.writer().await.expect("a session");
        session.exec(sql, &[]).await.expect(sql);
    }

    async fn backend_pid(store: &PostgresStore) -> i64 {
        scalar(store, "SELECT pg_backend_pid()::BIGINT").await
    }

    /// The WAL directory's file count is read where the role may list it, and is
    /// `None`, not an error, where it may not.
    #[tokio::test]
    async fn wal_files_are_counted_where_the_role_may_list_them() {
        let Some((store, url, _)) = pool_of_one().await else {
            return;
        };
        let files = PostgresStore::wal_files(&url).await;
        assert!(
            files.is_some_and(|n| n >= 1),
            "the test role (a superuser) may list pg_wal: {files:?}"
        );
        // A role of no privilege (trust authentication lets it log in).
        run(
            &store,
            "DO $$ BEGIN CREATE ROLE pushback_unprivileged LOGIN; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
        )
        .await;
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let unprivileged = format!("{scheme}://pushback_unprivileged@{host}");
        let mut conn = PgConnection::connect(&unprivileged)
            .await
            .expect("the unprivileged role logs in");
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut conn)
            .await
            .expect("and queries");
        assert_eq!(one, 1);
        assert_eq!(PostgresStore::wal_files(&unprivileged).await, None);
    }

    /// A statement cut short (its request cancelled) leaves the connection mid-answer:
    /// it is closed, and the next session gets a new one at once instead of waiting
    /// for the old statement to end.
    #[tokio::test]
    async fn a_connection_whose_statement_was_cut_short_is_not_reused() {
        let Some((store, url, schema)) = pool_of_one().await else {
            return;
        };
        let before = backend_pid(&store).await;
        let mut session = store.writer().await.expect("a session");
        let slow = session.exec("SELECT pg_sleep(30)", &[]);
        assert!(
            tokio::time::timeout(Duration::from_millis(200), slow)
                .await
                .is_err()
        );
        drop(session);
        let pid = backend_pid(&store).await;
        assert_ne!(pid, before, "a new connection");
        // An error that is the server's answer leaves the connection as it was.
        let mut session = store.writer().await.expect("a session");
        session
            .exec("INSERT INTO t (id) VALUES (1)", &[])
            .await
            .expect("a row");
        let again = session.exec("INSERT INTO t (id) VALUES (1)", &[]).await;
        assert!(matches!(again, Err(SqlError::Unique(_))), "{again:?}");
        drop(session);
        assert_eq!(backend_pid(&store).await, pid, "the same connection");
        PostgresStore::drop_schema(&url, &schema)
            .await
            .expect("drops");
    }

    /// Purging expired nonces never reads the live ones, even after many passes over
    /// an empty table (where a plan kept from then would scan it), and on any plan.
    #[tokio::test]
    async fn purging_nonces_never_scans_the_table() {
        let Some((store, url, schema)) = pool_of_one().await else {
            return;
        };
        let now = Timestamp::from_millis(1_800_000_000_000);
        // More passes than PostgreSQL runs before it may keep a generic plan.
        for _ in 0..8 {
            store.purge_nonces(now, 500).await.expect("a purge");
        }
        run(
            &store,
            "INSERT INTO device_nonces (device_id, nonce, expires_at) \
             SELECT 'device-' || (g % 100), md5(g::text), 4000000000000 + g FROM generate_series(1, 20000) g",
        )
        .await;
        let before = rows_scanned(&store).await;
        assert_eq!(store.purge_nonces(now, 500).await.expect("a purge"), 0);
        let scanned = rows_scanned(&store).await - before;
        assert!(
            scanned < 1_000,
            "a purge read {scanned} nonces sequentially"
        );
        PostgresStore::drop_schema(&url, &schema)
            .await
            .expect("drops");
    }

    /// Rows of `device_nonces` read by sequential scans so far, this backend's counts
    /// included (a pool of one: the store's only backend).
    async fn rows_scanned(store: &PostgresStore) -> i64 {
        run(store, "SELECT pg_stat_force_next_flush()").await;
        scalar(
            store,
            "SELECT COALESCE(seq_tup_read, 0) FROM pg_stat_user_tables \
             WHERE relid = 'device_nonces'::regclass",
        )
        .await
    }

    /// A transaction dropped without a commit is rolled back before its connection's
    /// next use: its writes are gone, and the next session's writes are not held in it.
    #[tokio::test]
    async fn a_transaction_left_open_is_rolled_back_before_the_next_use() {
        let Some((store, url, schema)) = pool_of_one().await else {
            return;
        };
        let mut tx = store.begin().await.expect("a transaction");
        tx.exec("INSERT INTO t (id) VALUES (1)", &[])
            .await
            .expect("a row");
        drop(tx);
        run(&store, "INSERT INTO t (id) VALUES (2)").await;
        let mut outside = PgConnection::connect_with(
            &PgConnectOptions::from_str(&url)
                .expect("the URL")
                .options([("search_path", schema.as_str())]),
        )
        .await
        .expect("a connection of the test's own");
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM t ORDER BY id")
            .fetch_all(&mut outside)
            .await
            .expect("the rows");
        assert_eq!(ids, [2], "the first rolled back, the second committed");
        outside.close().await.expect("closes");
        PostgresStore::drop_schema(&url, &schema)
            .await
            .expect("drops");
    }
}
