//! Integration tests of pushback-govern: the registry, every posture check with a
//! passing and a failing export, the worked scenarios against their golden reports, and
//! the OSCAL documents against NIST's schemas.
//!
//! Golden files live in `examples/governance/expected/`; regenerate them with
//! `PUSHBACK_BLESS=1 cargo test -p pushback-govern --test it` and review the diff.

mod oscal;
mod posture;
mod registry;
mod scenarios;
mod support;
