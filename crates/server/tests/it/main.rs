//! The HTTP service over a real listener on 127.0.0.1, on real SQLite (and PostgreSQL
//! when `PUSHBACK_TEST_POSTGRES_URL` is set).
#![allow(clippy::unwrap_used)]

mod canary;
mod concurrency;
mod housekeeping;
mod input;
mod okta;
mod refusals;
mod respond;
mod support;
mod watch;
mod webhook;
