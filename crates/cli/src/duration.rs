//! Durations on the command line: `500ms`, `10s`, `5m`, `2h`, `7d` (the parser is
//! [`pushback_model::duration`], shared with the configuration).

use std::time::Duration;

/// Parses a whole number and a unit (`ms`, `s`, `m`, `h`, `d`; none means seconds).
pub fn parse(s: &str) -> anyhow::Result<Duration> {
    Ok(pushback_model::duration::parse(s)?)
}
