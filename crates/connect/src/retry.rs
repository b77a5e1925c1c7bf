//! When to try again: [`RetryPolicy`] (exponential backoff with a cap and a number of
//! attempts), the server's own hints (`Retry-After`, Okta's `X-Rate-Limit-*`), and
//! [`Pause`], the one place a connector waits, so tests can record waits instead of
//! sleeping.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};

use pushback_model::Timestamp;

/// How a connector retries a call that failed in a way that may pass: a 5xx, a 429,
/// a timeout or a broken connection. Any other 4xx is final.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Wait before the first retry, in milliseconds; doubles per retry.
    pub initial_backoff_ms: u64,
    /// Longest backoff between attempts, in milliseconds.
    pub max_backoff_ms: u64,
    /// Longest wait a server may ask for (`Retry-After`, Okta's rate-limit reset), in
    /// milliseconds. A longer request fails the call at once as rate limited, so a
    /// poller can come back later instead of holding a task for minutes.
    pub max_retry_after_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
            max_retry_after_ms: 120_000,
        }
    }
}

impl RetryPolicy {
    /// The backoff before attempt `attempt + 1` (attempt counts from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(32);
        let ms = self
            .initial_backoff_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_backoff_ms);
        Duration::from_millis(ms)
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.max_attempts.max(1)
    }

    pub(crate) fn max_retry_after(&self) -> Duration {
        Duration::from_millis(self.max_retry_after_ms)
    }
}

/// Where a connector waits between attempts. The default sleeps on the tokio timer;
/// tests pass one that records the requested waits and returns at once.
#[async_trait]
pub trait Pause: Send + Sync {
    async fn pause(&self, wait: Duration);
}

/// Sleeps on the tokio timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioPause;

#[async_trait]
impl Pause for TokioPause {
    async fn pause(&self, wait: Duration) {
        tokio::time::sleep(wait).await;
    }
}

/// What a server said about when to come back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RateHints {
    /// `Retry-After`, as a wait from now.
    pub retry_after: Option<Duration>,
    /// Okta: `X-Rate-Limit-Remaining`.
    pub remaining: Option<u64>,
    /// Okta: `X-Rate-Limit-Reset`, the end of the window (UTC epoch seconds).
    pub reset: Option<Timestamp>,
}

impl RateHints {
    pub(crate) fn read(headers: &HeaderMap, now: Timestamp) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Self {
            retry_after: text("retry-after").and_then(|v| parse_retry_after(v, now)),
            remaining: text("x-rate-limit-remaining").and_then(|v| v.trim().parse().ok()),
            reset: text("x-rate-limit-reset")
                .and_then(|v| v.trim().parse::<i64>().ok())
                .map(|secs| Timestamp::from_millis(secs.saturating_mul(1000))),
        }
    }

    /// How long to wait before the next call: `Retry-After` if given, else until
    /// the reset of an exhausted Okta window.
    pub(crate) fn wait(&self, now: Timestamp) -> Option<Duration> {
        self.retry_after.or_else(|| {
            let reset = self.reset?;
            let ms = reset.millis().saturating_sub(now.millis()).max(0);
            Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
        })
    }

    /// The instant before which no call should be made, when the window is spent.
    pub(crate) fn exhausted_until(&self) -> Option<Timestamp> {
        (self.remaining == Some(0)).then_some(self.reset).flatten()
    }
}

/// `Retry-After` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let at_ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()?;
    let ms = at_ms.saturating_sub(now.millis()).max(0);
    Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            initial_backoff_ms: 100,
            max_backoff_ms: 350,
            ..RetryPolicy::default()
        };
        let waits: Vec<u64> = (1..=4).map(|a| p.backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, vec![100, 200, 350, 350]);
        assert_eq!(p.backoff(200), Duration::from_millis(350), "no overflow");
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = Timestamp::from_millis(1_700_000_000_000);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        // 2023-11-14T22:13:30Z is ten seconds after `now`.
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn an_exhausted_okta_window_waits_until_its_reset() {
        let now = Timestamp::from_millis(1_000_000);
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-remaining", "0".parse().expect("header"));
        h.insert("x-rate-limit-reset", "1003".parse().expect("header"));
        let hints = RateHints::read(&h, now);
        assert_eq!(
            hints.exhausted_until(),
            Some(Timestamp::from_millis(1_003_000))
        );
        assert_eq!(hints.wait(now), Some(Duration::from_secs(3)));
    }
}
