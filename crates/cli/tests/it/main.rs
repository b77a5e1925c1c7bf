//! End-to-end tests of the `pushback` binary: a real server process on loopback in a
//! scratch directory, driven by the same binary's client commands and plain HTTP.

mod canary;
mod config;
mod govern;
mod guard_bench;
mod harness;
mod incidents;
mod respond_bench;
mod restart;
mod walkthrough;
mod watch;
