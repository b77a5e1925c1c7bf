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
//!
//! The hot path (opening, fetching, answering) commits in groups: see [`Group`].

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, ToSql};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

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
/// Sessions sharing one group's transaction at most.
const GROUP_LIMIT: usize = 16;
/// How long a session waits for its group's commit before taking the connection to
/// commit it itself: only when the session due to commit went away first (a request
/// cancelled while it waited for the connection).
const GROUP_WAIT: Duration = Duration::from_millis(50);

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
    inner: Arc<Inner>,
    kept: Arc<crate::guard::Kept>,
}

struct Inner {
    shared: Arc<Mutex<Shared>>,
    /// Tasks waiting for the connection: while there are some, a grouped session
    /// leaves its group open for them to join.
    waiting: AtomicUsize,
    /// Set by the checkpointer when the WAL should start over: the next session
    /// finishes the checkpoint first ([`checkpoint_pass`]).
    restart: Arc<AtomicBool>,
}

/// The requests' connection, and the group open on it.
struct Shared {
    conn: Connection,
    group: Option<Group>,
}

/// One transaction that the writes of several requests share, committed once for all.
///
/// Every commit appends each page it touched to the WAL and takes and drops the
/// file's locks; consecutive lifecycles touch the same pages (the tails of the
/// challenge, nonce and audit tables and their indexes), so a group writes them once.
/// A grouped session ([`Database::grouped`]) joins the open group or opens one, and
/// runs its reads and each [`Autocommit::write_all`] batch inside it, the batch in a
/// savepoint so that a batch that must be undone is undone alone. When it is done
/// ([`Autocommit::settle`]) it commits the group if no other task is waiting for the
/// connection (or the group is full), and otherwise lets the next task in and waits for
/// the commit. Either way nothing it read or wrote is reported before it is committed:
/// what it read may have been written by another member, and stands or falls with the
/// group. A commit that fails is every member's error. A session that is not grouped
/// commits the open group before its first statement, so it sees only what is
/// committed; a grouped session that ends without settling (a refusal, an error)
/// commits the group as it ends.
struct Group {
    members: usize,
    done: watch::Sender<Option<Result<(), String>>>,
}

/// Why a group ended without its commit: SQLite rolled the whole transaction back
/// under it (a full disk, an I/O error).
const GROUP_LOST: &str = "the shared transaction was rolled back by an earlier error";

/// How a group ended, as each of its members learns it.
type GroupDone = watch::Receiver<Option<Result<(), String>>>;

impl Inner {
    /// Takes the connection, counted among the waiting while it waits.
    async fn lock(&self) -> OwnedMutexGuard<Shared> {
        if let Ok(guard) = Arc::clone(&self.shared).try_lock_owned() {
            return guard;
        }
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiting);
        Arc::clone(&self.shared).lock_owned().await
    }
}

impl Shared {
    /// Joins the open group, or opens one.
    fn join_group(&mut self) -> SqlResult<GroupDone> {
        if let Some(group) = &mut self.group {
            if !self.conn.is_autocommit() {
                group.members += 1;
                return Ok(group.done.subscribe());
            }
            // An error SQLite answers by rolling the whole transaction back (a full
            // disk, an I/O error) ended the group early: its members learn it here.
            let _ = self.commit_group();
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(sql_error)?;
        let (done, joined) = watch::channel(None);
        self.group = Some(Group { members: 1, done });
        Ok(joined)
    }

    /// Commits the open group, if any, and tells its members how that went.
    fn commit_group(&mut self) -> SqlResult<()> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let result = if self.conn.is_autocommit() {
            Err(GROUP_LOST.to_string())
        } else {
            self.conn.execute_batch("COMMIT").map_err(|e| {
                let _ = self.conn.execute_batch("ROLLBACK");
                e.to_string()
            })
        };
        group.done.send_replace(Some(result.clone()));
        result.map_err(SqlError::Other)
    }

    fn group_is_full(&self) -> bool {
        self.group
            .as_ref()
            .is_some_and(|g| g.members >= GROUP_LIMIT)
    }
}

/// What a member of a group that ended reports.
fn group_outcome(done: &Option<Result<(), String>>) -> SqlResult<()> {
    match done {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(SqlError::Other(format!(
            "committing a group of writes: {e}"
        ))),
        None => Err(SqlError::Other(
            "the store closed before the group's commit".into(),
        )),
    }
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
        let shared = Arc::new(Mutex::new(Shared { conn, group: None }));
        let restart = Arc::new(AtomicBool::new(false));
        let alive = Arc::downgrade(&shared);
        let wanted = Arc::clone(&restart);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_while(&alive, &checkpointer, &wanted))
            .map_err(|e| StoreError::Backend(format!("starting the checkpointer: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                waiting: AtomicUsize::new(0),
                restart,
            }),
            kept: Arc::default(),
        })
    }
}

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] until the store is gone.
fn checkpoint_while(alive: &Weak<Mutex<Shared>>, conn: &Connection, restart: &AtomicBool) {
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

/// A session: the connection, held from its first statement to its end (a grouped
/// session lets it go when it settles, and takes it again if it goes on).
pub(crate) struct SqliteConn {
    inner: Arc<Inner>,
    held: Option<OwnedMutexGuard<Shared>>,
    /// Shares the open group's transaction ([`Group`]).
    grouped: bool,
    /// The group this session ran statements in, until it settles.
    joined: Option<GroupDone>,
    /// In a transaction of its own that has been neither committed nor rolled back.
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

fn exec_on(conn: &Connection, sql: &str, args: &[Arg<'_>]) -> SqlResult<u64> {
    let mut stmt = conn.prepare_cached(&numbered(sql)).map_err(sql_error)?;
    let changed = stmt
        .execute(rusqlite::params_from_iter(args))
        .map_err(sql_error)?;
    Ok(changed as u64)
}

fn rows_on<T>(
    conn: &Connection,
    sql: &str,
    args: &[Arg<'_>],
    decode: Decode<T>,
) -> SqlResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(&numbered(sql)).map_err(sql_error)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(args))
        .map_err(sql_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sql_error)? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Runs `writes` in order; false at the first required write that changed nothing.
fn run_writes(conn: &Connection, writes: &[Write<'_>]) -> SqlResult<bool> {
    for write in writes {
        if exec_on(conn, &write.sql, &write.args)? == 0 && write.must_change {
            return Ok(false);
        }
    }
    Ok(true)
}

impl SqliteConn {
    /// The connection, taken (again) if the session does not hold it. A grouped
    /// session joins the open group or opens one; any other commits the open group
    /// first, so that it sees only what is committed.
    async fn conn(&mut self) -> SqlResult<&mut Shared> {
        if self.held.is_none() {
            let mut shared = self.inner.lock().await;
            if !self.grouped {
                // A failure is the group's members' to report; this session goes on
                // with the connection as the failed commit left it.
                let _ = shared.commit_group();
            }
            if shared.group.is_none() && self.inner.restart.swap(false, Ordering::AcqRel) {
                // See `checkpoint_pass`. A failure leaves the WAL as it was.
                if let Err(e) = passive_checkpoint(&shared.conn) {
                    tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries");
                }
            }
            self.held = Some(shared);
        }
        let Some(shared) = self.held.as_mut() else {
            unreachable!("taken above");
        };
        if self.grouped && self.joined.is_none() {
            self.joined = Some(shared.join_group()?);
        } else if self.grouped && shared.conn.is_autocommit() {
            // An error SQLite answers by rolling the whole transaction back ended the
            // group under this session: nothing more of it may run outside one.
            self.joined = None;
            let _ = shared.commit_group();
            return Err(SqlError::Other(GROUP_LOST.into()));
        }
        Ok(shared)
    }

    fn finish(&mut self, sql: &str) -> SqlResult<()> {
        self.open_tx = false;
        let Some(shared) = self.held.as_mut() else {
            return Err(SqlError::Other(
                "the transaction's connection is gone".into(),
            ));
        };
        shared.conn.execute_batch(sql).map_err(sql_error)
    }

    /// Waits for the group's commit, taking the connection to commit it if the task
    /// due to commit it went away.
    async fn wait_for_commit(&mut self, mut done: GroupDone) -> SqlResult<()> {
        match tokio::time::timeout(GROUP_WAIT, done.wait_for(Option::is_some)).await {
            Ok(Ok(ended)) => return group_outcome(&ended),
            Ok(Err(_)) => return group_outcome(&None),
            Err(_) => {}
        }
        let mut shared = self.inner.lock().await;
        if done.borrow().is_none() {
            // Groups end in order, so the open group is this session's.
            let _ = shared.commit_group();
        }
        drop(shared);
        let ended = done.borrow().clone();
        group_outcome(&ended)
    }
}

impl Drop for SqliteConn {
    fn drop(&mut self) {
        let Some(shared) = self.held.as_mut() else {
            return;
        };
        if self.open_tx {
            // An early return or a failed statement: nothing of it may stay.
            let _ = shared.conn.execute_batch("ROLLBACK");
        }
        if self.joined.take().is_some() {
            // A grouped session that did not settle (a refusal, an error, a request
            // cancelled) may have read what the group wrote: its outcome must not
            // leave before the group is committed.
            if let Err(e) = shared.commit_group() {
                tracing::error!(error = ?e, "committing a group of writes failed");
            }
        }
    }
}

#[async_trait]
impl Session for SqliteConn {
    async fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> SqlResult<u64> {
        exec_on(&self.conn().await?.conn, sql, args)
    }

    async fn rows<T: Send + 'static>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        decode: Decode<T>,
    ) -> SqlResult<Vec<T>> {
        rows_on(&self.conn().await?.conn, sql, args, decode)
    }
}

#[async_trait]
impl Autocommit for SqliteConn {
    async fn write_all(&mut self, writes: &[Write<'_>]) -> SqlResult<bool> {
        if writes.is_empty() {
            return Ok(true);
        }
        let grouped = self.grouped;
        let conn = &self.conn().await?.conn;
        let (begin, keep, undo) = if grouped {
            (
                "SAVEPOINT batch",
                "RELEASE batch",
                "ROLLBACK TO batch; RELEASE batch",
            )
        } else {
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        };
        conn.execute_batch(begin).map_err(sql_error)?;
        let ran = run_writes(conn, writes);
        if !matches!(ran, Ok(true)) {
            // A failed statement's own error is the one to report. An error that
            // ended the whole transaction left nothing to undo.
            if !conn.is_autocommit() {
                let undone = conn.execute_batch(undo).map_err(sql_error);
                if ran.is_ok() {
                    undone?;
                }
            }
            return ran;
        }
        conn.execute_batch(keep).map_err(sql_error)?;
        self.settle().await?;
        Ok(true)
    }

    async fn settle(&mut self) -> SqlResult<()> {
        let Some(done) = self.joined.take() else {
            return Ok(());
        };
        let Some(mut shared) = self.held.take() else {
            unreachable!("a session holds the connection while it is in a group");
        };
        if self.inner.waiting.load(Ordering::Acquire) == 0 || shared.group_is_full() {
            return shared.commit_group();
        }
        drop(shared);
        self.wait_for_commit(done).await
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

impl SqliteStore {
    async fn session(&self, grouped: bool) -> SqlResult<SqliteConn> {
        let mut session = SqliteConn {
            inner: Arc::clone(&self.inner),
            held: None,
            grouped,
            joined: None,
            open_tx: false,
        };
        session.conn().await?;
        Ok(session)
    }
}

#[async_trait]
impl Database for SqliteStore {
    const LOCK: &'static str = "";
    const NO_FLUSH_WAIT: &'static str = "";
    const WRITES_IN_WITH: bool = false;
    const SEAL_ROWS: &'static str = "SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS seq, \
         json_extract(value, '$[2]') AS prev_hash, json_extract(value, '$[3]') AS hash FROM json_each($1)";

    /// By key: the table is `WITHOUT ROWID`.
    fn purge_nonces_sql(limit: i64) -> String {
        format!(
            "DELETE FROM device_nonces WHERE (device_id, nonce) IN \
             (SELECT device_id, nonce FROM device_nonces WHERE expires_at < $1 ORDER BY expires_at LIMIT {limit})"
        )
    }

    /// One process serves a SQLite file: the lease is always free.
    async fn try_lease(&self, _key: &str) -> SqlResult<Option<crate::sql::Lease>> {
        Ok(Some(Box::new(())))
    }

    type Tx = SqliteConn;
    type Conn = SqliteConn;

    async fn begin(&self) -> SqlResult<SqliteConn> {
        let mut session = self.session(false).await?;
        // IMMEDIATE takes the write lock now, so no statement inside can meet
        // SQLITE_BUSY half-way through.
        session
            .conn()
            .await?
            .conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(sql_error)?;
        session.open_tx = true;
        Ok(session)
    }

    async fn writer(&self) -> SqlResult<SqliteConn> {
        self.session(false).await
    }

    async fn reader(&self) -> SqlResult<SqliteConn> {
        self.session(false).await
    }

    async fn grouped(&self) -> SqlResult<SqliteConn> {
        self.session(true).await
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
        let mut conn = store.writer().await.expect("the connection");
        conn.exec("CREATE TABLE filler (id INTEGER PRIMARY KEY, v BLOB)", &[])
            .await
            .expect("a scratch table");
        drop(conn);
        let first = wal_salts(&wal);
        for i in 0..500_000u32 {
            let mut conn = store.writer().await.expect("the connection");
            // About three 2 KiB pages per transaction.
            conn.exec("INSERT INTO filler (v) VALUES (zeroblob(4000))", &[])
                .await
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

    /// A store on a fresh file with a scratch table, and a second connection to the
    /// file that sees only what is committed.
    async fn scratch(schema: &str) -> (tempfile::TempDir, SqliteStore, Connection) {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let db = dir.path().join("group.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("opens");
        let mut conn = store.writer().await.expect("the connection");
        for statement in schema.split(';').filter(|s| !s.trim().is_empty()) {
            conn.exec(statement, &[]).await.expect("the scratch schema");
        }
        drop(conn);
        let outside = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("a second connection");
        (dir, store, outside)
    }

    fn committed(outside: &Connection, table: &str) -> Vec<i64> {
        let mut stmt = outside
            .prepare(&format!("SELECT id FROM {table} ORDER BY id"))
            .expect("a query");
        stmt.query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<rusqlite::Result<_>>()
            .expect("ids")
    }

    /// Lets other tasks run until `n` of them wait for the connection.
    async fn until_waiting(store: &SqliteStore, n: usize) {
        for _ in 0..10_000_000 {
            if store.inner.waiting.load(Ordering::Acquire) == n {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("{n} tasks never came to wait for the connection");
    }

    /// A grouped session that has run `sql` in its group.
    async fn grouped_after(store: &SqliteStore, sql: &str) -> SqliteConn {
        let mut session = store.grouped().await.expect("a grouped session");
        session
            .exec(sql, &[])
            .await
            .expect("a statement in the group");
        session
    }

    fn insert(id: i64) -> Write<'static> {
        Write::must_change("INSERT INTO t (id) VALUES ($1)", &[Arg::Int(Some(id))])
    }

    /// A grouped session that settles while another waits leaves the group open for
    /// it, and learns of success only when the group is committed: never earlier.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grouped_writes_are_reported_only_once_their_group_is_committed() {
        let (_dir, store, outside) = scratch("CREATE TABLE t (id INTEGER PRIMARY KEY)").await;
        let mut first = grouped_after(&store, "INSERT INTO t (id) VALUES (1)").await;

        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let second = tokio::spawn({
            let store = store.clone();
            async move {
                let mut second = grouped_after(&store, "INSERT INTO t (id) VALUES (2)").await;
                wait.await.expect("the signal");
                second.settle().await
            }
        });
        until_waiting(&store, 1).await;
        let first = tokio::spawn(async move { first.settle().await });
        // The first lets the second in and waits, longer than GROUP_WAIT: its fallback
        // waits for the connection, which the second holds.
        tokio::time::sleep(GROUP_WAIT * 4).await;
        assert!(
            !first.is_finished(),
            "reported before the group was committed"
        );
        assert!(
            committed(&outside, "t").is_empty(),
            "nothing is committed yet"
        );

        go.send(()).expect("the second is waiting");
        second.await.expect("joins").expect("the group commits");
        first.await.expect("joins").expect("the group commits");
        assert_eq!(committed(&outside, "t"), [1, 2]);
    }

    /// A commit that fails is the error of every member of the group, and none of their
    /// writes stays; the store goes on with the next group.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_group_commit_is_every_members_error() {
        let (_dir, store, outside) = scratch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY,
                 t_id INTEGER REFERENCES t (id) DEFERRABLE INITIALLY DEFERRED)",
        )
        .await;
        // A row whose parent is missing: refused only at commit.
        let mut first = grouped_after(&store, "INSERT INTO child (id, t_id) VALUES (1, 99)").await;
        let second = tokio::spawn({
            let store = store.clone();
            async move {
                let mut second = store.grouped().await.expect("a grouped session");
                second.write_all(&[insert(1)]).await
            }
        });
        until_waiting(&store, 1).await;
        let first = first.settle().await;
        let second = second.await.expect("joins");
        assert!(first.is_err(), "the first member: {first:?}");
        assert!(second.is_err(), "the second member: {second:?}");
        assert!(committed(&outside, "t").is_empty());
        assert!(committed(&outside, "child").is_empty());

        let mut next = store.grouped().await.expect("a grouped session");
        assert!(next.write_all(&[insert(2)]).await.expect("commits"));
        assert_eq!(committed(&outside, "t"), [2]);
    }

    /// A grouped session that ends without settling commits its group as it ends, and
    /// a session that is not grouped commits an open group before its first statement.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_group_is_committed_before_anything_else_reads() {
        let (_dir, store, outside) = scratch("CREATE TABLE t (id INTEGER PRIMARY KEY)").await;
        let first = grouped_after(&store, "INSERT INTO t (id) VALUES (1)").await;
        drop(first);
        assert_eq!(committed(&outside, "t"), [1]);

        let mut second = grouped_after(&store, "INSERT INTO t (id) VALUES (2)").await;
        let reader = tokio::spawn({
            let store = store.clone();
            async move {
                let mut reader = store.reader().await.expect("a reader");
                let seen = reader
                    .rows("SELECT id FROM t ORDER BY id", &[], crate::sql::int)
                    .await;
                (seen, committed_now(&reader))
            }
        });
        until_waiting(&store, 1).await;
        second.settle().await.expect("the reader commits the group");
        let (seen, outside_saw) = reader.await.expect("joins");
        assert_eq!(seen.expect("reads"), [1, 2]);
        assert!(outside_saw, "the reader's connection was in no transaction");
        assert_eq!(committed(&outside, "t"), [1, 2]);
    }

    fn committed_now(session: &SqliteConn) -> bool {
        session
            .held
            .as_ref()
            .is_some_and(|s| s.conn.is_autocommit() && s.group.is_none())
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
