//! Benchmarks: `pushback bench guard` (challenge lifecycles over HTTP) and
//! `pushback bench watch` (detection throughput over a generated Okta log).

pub mod guard;
pub mod watch;
