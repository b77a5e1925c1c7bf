//! The built-in rules against their declarative cases (`rules`), and the normalisers
//! over the third-party corpus in `tests/corpus/` (see its README) and over hand-written
//! records for the shapes the corpus lacks, through the same
//! streaming reader a user's file goes through.
#![allow(clippy::unwrap_used)]

mod duo;
mod entra;
mod okta;
mod parallel;
mod reader;
mod rules;
mod support;
