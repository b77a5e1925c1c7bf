//! Integration tests: each connector against a local server on `127.0.0.1:0` that
//! checks the documented request and answers with documented (and broken) responses.

#![allow(clippy::unwrap_used)]

mod canary;
mod duo;
mod graph;
mod okta;
mod support;
mod webhook;
