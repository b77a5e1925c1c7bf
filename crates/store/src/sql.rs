//! The small SQL surface the stores are written against, so that their SQL and logic
//! exist once for both backends.
//!
//! A [`Session`] runs one statement at a time with [`Arg`]s bound to `$1`, `$2`, … and
//! hands each result row to a decoder as a [`Row`]. [`Database`] opens sessions: a
//! transaction on the writer, the writer alone (autocommit) or a reader. PostgreSQL
//! implements it with sqlx; SQLite with rusqlite, called in place on the async task
//! (a statement is a few microseconds, and handing each one to a worker thread cost
//! ten times that: see BENCHMARKS.md).

use async_trait::async_trait;

use pushback_guard::store::StoreError;

pub(crate) type SqlResult<T> = Result<T, SqlError>;

/// A failed statement.
#[derive(Debug)]
pub(crate) enum SqlError {
    /// A UNIQUE or PRIMARY KEY constraint refused the row.
    Unique(String),
    /// Anything else the database or the driver reported.
    Other(String),
}

impl From<SqlError> for StoreError {
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::Unique(msg) | SqlError::Other(msg) => StoreError::Backend(msg),
        }
    }
}

/// Maps a unique violation to [`StoreError::Conflict`] naming `what`.
pub(crate) fn conflict(what: &str) -> impl FnOnce(SqlError) -> StoreError + '_ {
    move |e| match e {
        SqlError::Unique(_) => StoreError::Conflict(what.to_owned()),
        other => other.into(),
    }
}

/// One bound parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    Blob(&'a [u8]),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Blob(v)
    }
}

impl<'a> From<&'a Vec<u8>> for Arg<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Arg::Blob(v)
    }
}

/// `args![a, b, …]`: the parameters `$1`, `$2`, … of one statement.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        &[$($crate::sql::Arg::from($arg)),*]
    };
}
pub(crate) use args;

/// One result row; columns by position.
pub(crate) trait Row {
    fn int(&self, i: usize) -> SqlResult<i64>;
    fn opt_int(&self, i: usize) -> SqlResult<Option<i64>>;
    fn text(&self, i: usize) -> SqlResult<String>;
    fn opt_text(&self, i: usize) -> SqlResult<Option<String>>;
    fn blob(&self, i: usize) -> SqlResult<Vec<u8>>;
}

/// Implements [`Row`] for a driver's row type whose `$get(index)` decodes any column
/// type, mapping its errors with `$err`.
macro_rules! impl_row {
    ($row:ty, $get:ident, $err:path) => {
        impl $crate::sql::Row for $row {
            fn int(&self, i: usize) -> $crate::sql::SqlResult<i64> {
                self.$get(i).map_err($err)
            }
            fn opt_int(&self, i: usize) -> $crate::sql::SqlResult<Option<i64>> {
                self.$get(i).map_err($err)
            }
            fn text(&self, i: usize) -> $crate::sql::SqlResult<String> {
                self.$get(i).map_err($err)
            }
            fn opt_text(&self, i: usize) -> $crate::sql::SqlResult<Option<String>> {
                self.$get(i).map_err($err)
            }
            fn blob(&self, i: usize) -> $crate::sql::SqlResult<Vec<u8>> {
                self.$get(i).map_err($err)
            }
        }
    };
}
pub(crate) use impl_row;

/// A row read from column `.1` on: column `i` is the row's column `.1 + i`, for a
/// decoder written for a query whose columns come after others.
pub(crate) struct Offset<'r>(pub &'r dyn Row, pub usize);

impl Row for Offset<'_> {
    fn int(&self, i: usize) -> SqlResult<i64> {
        self.0.int(self.1 + i)
    }
    fn opt_int(&self, i: usize) -> SqlResult<Option<i64>> {
        self.0.opt_int(self.1 + i)
    }
    fn text(&self, i: usize) -> SqlResult<String> {
        self.0.text(self.1 + i)
    }
    fn opt_text(&self, i: usize) -> SqlResult<Option<String>> {
        self.0.opt_text(self.1 + i)
    }
    fn blob(&self, i: usize) -> SqlResult<Vec<u8>> {
        self.0.blob(self.1 + i)
    }
}

/// Turns a row into a value.
pub(crate) type Decode<T> = fn(&dyn Row) -> SqlResult<T>;

/// Runs statements on one connection (inside a transaction or not).
#[async_trait]
pub(crate) trait Session: Send {
    /// Runs a statement; returns the number of rows it changed.
    async fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> SqlResult<u64>;

    /// Runs a statement planned for this run alone rather than kept prepared: for a
    /// rare statement whose best plan depends on how much its table holds. PostgreSQL
    /// may keep a generic plan after a prepared statement's fifth run, made for the
    /// table as it was then (empty, at a node's start), and autovacuum's statistics
    /// are what would have it planned again. SQLite's planner does not go by the
    /// table's size, so it runs the statement as [`exec`](Self::exec) does.
    async fn exec_planned(&mut self, sql: &str, args: &[Arg<'_>]) -> SqlResult<u64> {
        self.exec(sql, args).await
    }

    /// Runs a query and decodes every row.
    async fn rows<T: Send + 'static>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        decode: Decode<T>,
    ) -> SqlResult<Vec<T>>;

    /// Runs `first`, a write, then the query `then`; returns the number of rows `first`
    /// changed and `then`'s rows. PostgreSQL runs both in one round trip (`first` as a
    /// data-modifying `WITH`, so it must have no `RETURNING` of its own): both see the
    /// same snapshot, so `then` must not depend on what `first` wrote. `then` runs
    /// whatever `first` did; a caller that has no use for its rows then ignores them.
    async fn exec_then_rows<T: Send + 'static>(
        &mut self,
        first: &str,
        first_args: &[Arg<'_>],
        then: &str,
        then_args: &[Arg<'_>],
        decode: Decode<T>,
    ) -> SqlResult<(u64, Vec<T>)> {
        let changed = self.exec(first, first_args).await?;
        Ok((changed, self.rows(then, then_args, decode).await?))
    }

    /// The first row, if any.
    async fn opt<T: Send + 'static>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        decode: Decode<T>,
    ) -> SqlResult<Option<T>> {
        Ok(self.rows(sql, args, decode).await?.into_iter().next())
    }

    /// Exactly one row.
    async fn one<T: Send + 'static>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        decode: Decode<T>,
    ) -> SqlResult<T> {
        self.opt(sql, args, decode)
            .await?
            .ok_or_else(|| SqlError::Other("the query returned no row".into()))
    }
}

/// One write of a batch run by [`Autocommit::write_all`].
pub(crate) struct Write<'a> {
    /// Borrowed when the statement is a constant; built for a batch of audit entries.
    pub(crate) sql: std::borrow::Cow<'a, str>,
    pub(crate) args: Vec<Arg<'a>>,
    /// The batch is undone unless this write changes a row.
    pub(crate) must_change: bool,
}

impl<'a> Write<'a> {
    /// A write whose batch stands whether or not it changes a row.
    pub(crate) fn new(sql: impl Into<std::borrow::Cow<'a, str>>, args: &[Arg<'a>]) -> Self {
        Write {
            sql: sql.into(),
            args: args.to_vec(),
            must_change: false,
        }
    }

    /// A write without which the batch is undone: a compare-and-set, or an update that
    /// must still find its row as it was read.
    pub(crate) fn must_change(sql: impl Into<std::borrow::Cow<'a, str>>, args: &[Arg<'a>]) -> Self {
        Write {
            must_change: true,
            ..Write::new(sql, args)
        }
    }
}

/// A session outside any transaction of the caller's.
#[async_trait]
pub(crate) trait Autocommit: Session {
    /// Runs `writes` in order, all or nothing: true when every write marked
    /// [`must_change`](Write::must_change) changed a row; otherwise nothing stays and
    /// false. PostgreSQL runs the batch as one statement, of data-modifying `WITH`s on
    /// one snapshot, so no write may depend on what another wrote, none may touch a row
    /// another touches, and none may have a `RETURNING` of its own. SQLite runs it in a
    /// transaction of its own, or in a grouped session ([`Database::grouped`]) in a
    /// savepoint of the group's, and returns true only once the group is committed.
    async fn write_all(&mut self, writes: &[Write<'_>]) -> SqlResult<bool>;

    /// Returns once everything this session read or wrote is committed, with the
    /// commit's error if it failed. Only a grouped session ([`Database::grouped`]) has
    /// anything to wait for; it should settle before reporting what it read, so that a
    /// failed commit is its error rather than a log line (one that ends without
    /// settling commits as it is dropped).
    async fn settle(&mut self) -> SqlResult<()> {
        Ok(())
    }
}

/// A transaction: rolled back unless committed, including when dropped.
#[async_trait]
pub(crate) trait Transaction: Session {
    async fn commit(self) -> SqlResult<()>;
    async fn rollback(self) -> SqlResult<()>;
}

/// A backend: where sessions come from, and its one dialect difference.
#[async_trait]
pub(crate) trait Database: Send + Sync {
    /// Appended to a `SELECT` that must lock its row until commit: empty on SQLite,
    /// whose single writer already serialises transactions.
    const LOCK: &'static str;
    /// Appended to the `WHERE` of the one write of a transaction whose loss in a crash
    /// is harmless: its commit does not wait for the log to reach the disk. On
    /// PostgreSQL, asynchronous commit for that transaction alone (a crash may lose
    /// it, never half of it, and later commits still wait); empty on SQLite, whose
    /// commits in WAL mode with `synchronous = NORMAL` never wait for the disk.
    const NO_FLUSH_WAIT: &'static str;
    /// The rows `(id, seq, prev_hash, hash)` of one seal, read from `$1`: a JSON array
    /// of `[id, seq, prev_hash, hash]` arrays. One statement text for any number of
    /// entries, so that a seal prepares nothing new (a `VALUES` list made a new
    /// statement of four parameters an entry for each size of batch).
    const SEAL_ROWS: &'static str;
    /// Whether a `WITH` clause may hold writes (PostgreSQL's data-modifying common table
    /// expressions), so that a read and the writes that depend on it can share one
    /// statement: one round trip where a read and then a write take two. SQLite has no
    /// such clause, and needs none: its statements are calls in the process.
    const WRITES_IN_WITH: bool;

    type Tx: Transaction;
    type Conn: Autocommit;

    /// Deletes up to `limit` nonces that expired before `$1`, the oldest first, reading
    /// no others: the expired ones are found by walking the expiry index in order (it
    /// stops at the first live nonce), and each is deleted by its row's address or
    /// key; it runs planned afresh ([`Session::exec_planned`]). Purging runs every
    /// second on a table that holds five minutes of requests (about a million nonces
    /// at 1,700 lifecycles a second); before, PostgreSQL kept a plan made while the
    /// table was empty, and read all of them on every pass to find none expired.
    fn purge_nonces_sql(limit: i64) -> String;

    /// A transaction on the writer.
    async fn begin(&self) -> SqlResult<Self::Tx>;
    /// The writer, one statement (or [`Autocommit::write_all`] batch) per transaction.
    async fn writer(&self) -> SqlResult<Self::Conn>;
    /// A connection for reading.
    async fn reader(&self) -> SqlResult<Self::Conn>;
    /// The writer, for the hot path's sessions: on SQLite they share one transaction
    /// per group of requests (see `sqlite::Group`), on PostgreSQL it is
    /// [`writer`](Self::writer).
    async fn grouped(&self) -> SqlResult<Self::Conn> {
        self.writer().await
    }

    /// Takes the node-wide lease `key` if no other node holds it: something that must
    /// run on one node at a time (a log poller). The lease lasts as long as the value
    /// returned; `None` when another node holds it.
    async fn try_lease(&self, key: &str) -> SqlResult<Option<Lease>>;
}

/// A held lease (see [`Database::try_lease`]); dropping it lets another node take it.
pub(crate) type Lease = Box<dyn std::any::Any + Send + Sync>;

/// `sql` with each parameter `$n` renumbered `$(n + by)`, for statements joined into one.
pub(crate) fn shift_params(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(n) = rest[..digits].parse::<usize>() {
            out.push_str(&(n + by).to_string());
        } else {
            out.push_str(&rest[..digits]);
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// Decoders for the one-column rows queries often return.
pub(crate) fn int(r: &dyn Row) -> SqlResult<i64> {
    r.int(0)
}

pub(crate) fn text(r: &dyn Row) -> SqlResult<String> {
    r.text(0)
}

pub(crate) fn blob(r: &dyn Row) -> SqlResult<Vec<u8>> {
    r.blob(0)
}

#[cfg(test)]
mod tests {
    use super::shift_params;

    #[test]
    fn parameters_are_renumbered_and_nothing_else_changes() {
        assert_eq!(
            shift_params("INSERT INTO t (a, b) VALUES ($1, $12) -- $x, $", 3),
            "INSERT INTO t (a, b) VALUES ($4, $15) -- $x, $"
        );
        assert_eq!(shift_params("SELECT 1", 5), "SELECT 1");
    }
}
