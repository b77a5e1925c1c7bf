//! The SQLite backend: rusqlite on one file in WAL mode.
//!
//! One connection behind an async mutex does all the reading and writing. SQLite admits
//! one writer at a time anyway; statements run in place on the task that holds the
//! connection, because they take microseconds, far less than a hand-off to another
//! thread; and a single connection keeps its page cache, where a separate reader's is
//! thrown away after every write (both measured: BENCHMARKS.md). A background thread
//! with a connection of its own checkpoints the WAL, so no request waits for the bulk
//! of the checkpoint's copying and fsync; the requests' connection copies only the last
//! few frames, so that the WAL starts over and stays short under constant load (see
//! [`checkpoint_pass`]). Other processes (`pushback audit verify`, backups)
//! may open the file at the same time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, ToSql};
use tokio::sync::{Mutex, OwnedMutexGuard};

use pushback_guard::store::StoreError;

use crate::sql::{
    Arg, Autocommit, Database, Decode, Session, SqlError, SqlResult, Transaction, Write,
};

/// The page size of a new database file.
const PAGE_SIZE: i64 = 2048;
/// How often the background thread checkpoints the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// A WAL holding at least this many frames (64 MiB of 2 KiB pages) is made to start
/// over at the next checkpoint, with writes held for the last frames' copy. Each
/// start-over holds writes for a few milliseconds (the last copy and its fsync), so
/// it should not come every pass: at 4,000 lifecycles/s this is about every 0.4 s
/// (4,096 frames, every pass, raised the bench's p99 by about 5 ms).
const RESTART_FRAMES: i64 = 32768;
/// The checkpointer repeats its pass while more than this many frames arrived during
/// the one before (at most [`MAX_CATCH_UP_PASSES`] times), so that the request that
/// finishes the checkpoint has little to copy.
const FINISH_FRAMES: i64 = 256;
const MAX_CATCH_UP_PASSES: usize = 4;
/// What SQLite cuts the WAL file back to when it starts over (bytes).
const WAL_SIZE_LIMIT: i64 = 128 << 20;
/// Prepared statements kept per connection (the guard uses about 40).
const STATEMENT_CACHE: usize = 128;
/// How long a statement waits for another process holding the file's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The migrations, in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_guard.sql"),
    include_str!("../migrations/sqlite/0002_findings.sql"),
    include_str!("../migrations/sqlite/0003_ingest_keys.sql"),
    include_str!("../migrations/sqlite/0004_respond.sql"),
    include_str!("../migrations/sqlite/0005_engine_state.sql"),
    include_str!("../migrations/sqlite/0006_state_version.sql"),
];

/// pushback's store on one SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Set by the checkpointer when the WAL should start over: the next session
    /// finishes the checkpoint first ([`checkpoint_pass`]).
    restart: Arc<AtomicBool>,
    kept: Arc<crate::guard::Kept>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// The file a `sqlite:` URL names: `sqlite://pushback.db`, `sqlite:pushback.db` or
/// `sqlite:///var/lib/pushback.db`; a query string (`?mode=rwc`) is ignored.
fn path_of(url: &str) -> Result<&str, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Backend(format!("not a sqlite: URL: {url:?}")))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Backend(
            "a SQLite database must be a file, e.g. sqlite://pushback.db".into(),
        ));
    }
    Ok(path)
}

fn sql_error(e: rusqlite::Error) -> SqlError {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation)
            if matches!(
                e.sqlite_error().map(|f| f.extended_code),
                Some(
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                )
            ) =>
        {
            SqlError::Unique(e.to_string())
        }
        _ => SqlError::Other(e.to_string()),
    }
}

fn open(path: &str, flags: OpenFlags) -> Result<Connection, StoreError> {
    let setup = || -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "temp_store", "memory")?;
        Ok(conn)
    };
    setup().map_err(|e| StoreError::Backend(format!("opening {path}: {e}")))
}

/// Brings the schema up to date. A file made by the sqlx-based builds (which kept
/// `_sqlx_migrations`) has migration 1 already.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let mut applied: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if applied == 0 {
        let legacy: i64 = conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            [],
            |r| r.get(0),
        )?;
        if legacy == 1 {
            applied = conn.query_row(
                "SELECT COUNT(*) FROM _sqlx_migrations WHERE success",
                [],
                |r| r.get(0),
            )?;
            conn.pragma_update(None, "user_version", applied)?;
        }
    }
    for (done, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", done + 1)?;
        tx.commit()?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path.db`) and runs
    /// migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let path = path_of(url)?;
        let mut conn = open(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let setup = |conn: &mut Connection| -> rusqlite::Result<()> {
            // Takes effect only while the file is empty. Every commit appends each page
            // it touched to the WAL, and a lifecycle touches about twenty; 2 KiB pages
            // halve those bytes (measured: BENCHMARKS.md).
            conn.pragma_update(None, "page_size", PAGE_SIZE)?;
            conn.pragma_update(None, "journal_mode", "wal")?;
            // In WAL, NORMAL survives an application crash; a power cut may lose the
            // last transactions but never corrupts the file.
            conn.pragma_update(None, "synchronous", "normal")?;
            // The checkpointer thread does this instead.
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            // A burst (a bulk import, seeding) may grow the WAL; it shrinks back when it
            // starts over.
            conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
            migrate(conn)
        };
        setup(&mut conn).map_err(|e| StoreError::Backend(format!("migrating {path}: {e}")))?;
        let checkpointer = open(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let conn = Arc::new(Mutex::new(conn));
        let restart = Arc::new(AtomicBool::new(false));
        let alive = Arc::downgrade(&conn);
        let wanted = Arc::clone(&restart);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_while(&alive, &checkpointer, &wanted))
            .map_err(|e| StoreError::Backend(format!("starting the checkpointer: {e}")))?;
        Ok(Self {
            conn,
            restart,
            kept: Arc::default(),
        })
    }
}

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] until the store is gone.
fn checkpoint_while(alive: &Weak<Mutex<Connection>>, conn: &Connection, restart: &AtomicBool) {
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if alive.strong_count() == 0 {
            return;
        }
        match checkpoint_pass(conn) {
            Ok(true) => restart.store(true, Ordering::Release),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries"),
        }
    }
}

/// One checkpoint of the WAL into the database file, on the checkpointer's own
/// connection; true when the WAL is long enough to be made to start over.
///
/// A PASSIVE checkpoint never blocks a request: it copies what it can while requests
/// go on. But the WAL starts over only when a write begins with every frame copied,
/// and under constant load new frames arrive during every copy, so it never did: the
/// file grew without end (4 GB after seeding 100,000 users, BENCHMARKS.md) and every
/// page lookup searched more of it. So when the WAL is long, the next session on the
/// requests' connection first checkpoints again ([`SqliteStore::writer`]): nothing else
/// writes meanwhile, only the frames that arrived during this pass are left to copy,
/// and its own write then starts the WAL over, cutting the file back to
/// [`WAL_SIZE_LIMIT`]. That last copy runs on the request's own thread: handing the
/// connection to this thread instead would stall every request until the scheduler ran
/// it.
fn checkpoint_pass(conn: &Connection) -> rusqlite::Result<bool> {
    let mut log = passive_checkpoint(conn)?;
    if log < RESTART_FRAMES {
        return Ok(false);
    }
    // Each pass copies what arrived during the one before; a few passes leave little
    // for the request that finishes.
    for _ in 0..MAX_CATCH_UP_PASSES {
        let before = log;
        log = passive_checkpoint(conn)?;
        if log - before < FINISH_FRAMES {
            break;
        }
    }
    Ok(log >= RESTART_FRAMES)
}

/// `PRAGMA wal_checkpoint(PASSIVE)` on `conn`; returns the frames in the WAL.
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}

/// A connection held for the length of a session.
pub(crate) struct SqliteConn {
    conn: OwnedMutexGuard<Connection>,
    /// In a transaction that has been neither committed nor rolled back.
    open_tx: bool,
}

impl ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Arg::Int(Some(v)) => ToSqlOutput::Owned(Value::Integer(v)),
            Arg::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Arg::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Arg::Int(None) | Arg::Text(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// PostgreSQL's `$7` becomes SQLite's `?7`: SQLite reads `$7` as a *named* parameter
/// numbered by first appearance, which would misbind `… = $2 WHERE id = $1`.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

crate::sql::impl_row!(rusqlite::Row<'_>, get, sql_error);

impl SqliteConn {
    fn exec_now(&self, sql: &str, args: &[Arg<'_>]) -> SqlResult<u64> {
        let mut stmt = self
            .conn
            .prepare_cached(&numbered(sql))
            .map_err(sql_error)?;
        let changed = stmt
            .execute(rusqlite::params_from_iter(args))
            .map_err(sql_error)?;
        Ok(changed as u64)
    }

    fn rows_now<T>(&self, sql: &str, args: &[Arg<'_>], decode: Decode<T>) -> SqlResult<Vec<T>> {
        let mut stmt = self
            .conn
            .prepare_cached(&numbered(sql))
            .map_err(sql_error)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args))
            .map_err(sql_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(sql_error)? {
            out.push(decode(row)?);
        }
        Ok(out)
    }

    fn finish(&mut self, sql: &str) -> SqlResult<()> {
        self.open_tx = false;
        self.conn.execute_batch(sql).map_err(sql_error)
    }
}

impl Drop for SqliteConn {
    fn drop(&mut self) {
        if self.open_tx {
            // An early return or a failed statement: nothing of it may stay.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

#[async_trait]
impl Session for SqliteConn {
    async fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> SqlResult<u64> {
        self.exec_now(sql, args)
    }

    async fn rows<T: Send + 'static>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        decode: Decode<T>,
    ) -> SqlResult<Vec<T>> {
        self.rows_now(sql, args, decode)
    }
}

#[async_trait]
impl Autocommit for SqliteConn {
    async fn write_all(&mut self, writes: &[Write<'_>]) -> SqlResult<bool> {
        if writes.is_empty() {
            return Ok(true);
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(sql_error)?;
        self.open_tx = true;
        for write in writes {
            let changed = match self.exec_now(&write.sql, &write.args) {
                Ok(changed) => changed,
                Err(e) => {
                    // The statement's own error is the one to report.
                    let _ = self.finish("ROLLBACK");
                    return Err(e);
                }
            };
            if write.must_change && changed == 0 {
                self.finish("ROLLBACK")?;
                return Ok(false);
            }
        }
        self.finish("COMMIT")?;
        Ok(true)
    }
}

#[async_trait]
impl Transaction for SqliteConn {
    async fn commit(mut self) -> SqlResult<()> {
        self.finish("COMMIT")
    }

    async fn rollback(mut self) -> SqlResult<()> {
        self.finish("ROLLBACK")
    }
}

#[async_trait]
impl Database for SqliteStore {
    const LOCK: &'static str = "";
    const NO_FLUSH_WAIT: &'static str = "";

    /// One process serves a SQLite file: the lease is always free.
    async fn try_lease(&self, _key: &str) -> SqlResult<Option<crate::sql::Lease>> {
        Ok(Some(Box::new(())))
    }

    type Tx = SqliteConn;
    type Conn = SqliteConn;

    async fn begin(&self) -> SqlResult<SqliteConn> {
        let mut conn = self.writer().await?;
        // IMMEDIATE takes the write lock now, so no statement inside can meet
        // SQLITE_BUSY half-way through.
        conn.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(sql_error)?;
        conn.open_tx = true;
        Ok(conn)
    }

    async fn writer(&self) -> SqlResult<SqliteConn> {
        let conn = Arc::clone(&self.conn).lock_owned().await;
        if self.restart.swap(false, Ordering::AcqRel) {
            // See `checkpoint_pass`. A failure leaves the WAL as it was.
            if let Err(e) = passive_checkpoint(&conn) {
                tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries");
            }
        }
        Ok(SqliteConn {
            conn,
            open_tx: false,
        })
    }

    async fn reader(&self) -> SqlResult<SqliteConn> {
        self.writer().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_parameters_become_numbered() {
        assert_eq!(
            numbered("UPDATE t SET a = $2 WHERE id = $1 AND b = '$x'"),
            "UPDATE t SET a = ?2 WHERE id = ?1 AND b = '$x'"
        );
    }

    #[test]
    fn a_file_migrated_by_sqlx_is_not_migrated_again() -> rusqlite::Result<()> {
        let mut conn = Connection::open_in_memory()?;
        conn.execute_batch(MIGRATIONS[0])?;
        conn.execute_batch(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, success BOOLEAN NOT NULL);
             INSERT INTO _sqlx_migrations VALUES (1, TRUE);",
        )?;
        migrate(&mut conn)?;
        let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        assert_eq!(version, MIGRATIONS.len(), "only the later migrations ran");
        migrate(&mut conn)?;
        Ok(())
    }

    /// The WAL header's salts, which SQLite draws afresh each time the WAL starts over.
    fn wal_salts(wal: &std::path::Path) -> [u8; 8] {
        use std::io::Read as _;
        let mut header = [0u8; 24];
        std::fs::File::open(wal)
            .and_then(|mut f| f.read_exact(&mut header))
            .expect("the WAL has a header");
        let mut salts = [0u8; 8];
        salts.copy_from_slice(&header[16..24]);
        salts
    }

    /// Writes without a pause, as a busy service does, while the checkpointer runs
    /// beside them: the WAL must start over. (It never did when the checkpointer only
    /// ran PASSIVE checkpoints of its own: every copy met new frames.) The loop ends as
    /// soon as the WAL's salts change; its bound is far beyond what that takes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_constant_writes() {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let db = dir.path().join("wal.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("opens");
        let wal = dir.path().join("wal.db-wal");
        let conn = store.writer().await.expect("the connection");
        conn.conn
            .execute_batch("CREATE TABLE filler (id INTEGER PRIMARY KEY, v BLOB)")
            .expect("a scratch table");
        drop(conn);
        let first = wal_salts(&wal);
        for i in 0..500_000u32 {
            let conn = store.writer().await.expect("the connection");
            // About three 2 KiB pages per transaction.
            conn.conn
                .execute("INSERT INTO filler (v) VALUES (zeroblob(4000))", [])
                .expect("a write");
            drop(conn);
            if i % 512 == 0 && wal_salts(&wal) != first {
                let size = std::fs::metadata(&wal).expect("the WAL").len();
                let limit = u64::try_from(WAL_SIZE_LIMIT).expect("positive");
                assert!(size <= limit, "cut back to the limit: {size} bytes");
                return;
            }
        }
        panic!("500,000 writes and the WAL never started over");
    }

    #[test]
    fn urls_name_files() {
        assert_eq!(path_of("sqlite://pushback.db").ok(), Some("pushback.db"));
        assert_eq!(path_of("sqlite:a.db?mode=rwc").ok(), Some("a.db"));
        assert_eq!(path_of("sqlite:///var/p.db").ok(), Some("/var/p.db"));
        assert!(path_of("sqlite::memory:").is_err());
        assert!(path_of("postgres://x").is_err());
    }
}

crate::guard::impl_guard_store!(SqliteStore);
crate::findings::impl_finding_store!(SqliteStore);
crate::incidents::impl_incident_store!(SqliteStore);
