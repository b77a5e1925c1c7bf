//! Time as pushback sees it: milliseconds since the Unix epoch, read through a [`Clock`].

use std::sync::atomic::{AtomicI64, Ordering};

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    /// This instant plus `ms` milliseconds (saturating).
    #[must_use]
    pub const fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// This instant plus `secs` seconds (saturating).
    #[must_use]
    pub const fn plus_secs(self, secs: i64) -> Self {
        self.plus_millis(secs.saturating_mul(1000))
    }

    /// This instant minus `secs` seconds (saturating).
    #[must_use]
    pub const fn minus_secs(self, secs: i64) -> Self {
        self.plus_millis(secs.saturating_mul(-1000))
    }

    /// Whole seconds from `self` until `later`, rounded up, never negative.
    pub fn secs_until(self, later: Timestamp) -> i64 {
        let ms = later.0.saturating_sub(self.0).max(0);
        (ms + 999) / 1000
    }

    /// RFC 3339 form, e.g. `2026-11-28T05:01:26.123Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(dt) => dt
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| self.0.to_string()),
            Err(_) => self.0.to_string(),
        }
    }
}

/// A source of the current time. Domain code takes one of these instead of reading the
/// wall clock, so tests can drive time exactly.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The wall clock. The only place in pushback that reads it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned wall-clock read
    fn now(&self) -> Timestamp {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told to: for tests.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start.0))
    }

    pub fn advance_millis(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn advance_secs(&self, secs: i64) {
        self.advance_millis(secs * 1000);
    }

    pub fn set(&self, at: Timestamp) {
        self.0.store(at.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secs_until_rounds_up_and_never_goes_negative() {
        let t = Timestamp::from_millis(10_000);
        assert_eq!(t.secs_until(t.plus_millis(1)), 1);
        assert_eq!(t.secs_until(t.plus_millis(10_000)), 10);
        assert_eq!(t.secs_until(t.minus_secs(5)), 0);
    }

    #[test]
    fn rfc3339_is_utc() {
        assert_eq!(
            Timestamp::from_millis(1_700_000_000_123).to_rfc3339(),
            "2023-11-14T22:13:20.123Z"
        );
    }
}
