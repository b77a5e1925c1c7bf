//! The store conformance suite. Every test body is written once and runs against each
//! backend: a fresh SQLite file always, and a fresh PostgreSQL schema when
//! `PUSHBACK_TEST_POSTGRES_URL` is set (otherwise a SKIPPED line goes to stderr).
//!
//! Time is a manual clock: nothing here measures wall time, and only the pool test in
//! `concurrency` sleeps (a second, for the pool to ping an idle connection).

mod audit;
mod concurrency;
mod findings;
mod incidents;
mod ingest_keys;
mod lifecycle;
mod policy;
mod refusals;
mod response;
mod support;
