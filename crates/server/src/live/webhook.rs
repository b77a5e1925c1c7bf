//! The webhook sink: each finding is POSTed as JSON, signed so the receiver can tell it
//! came from us and is fresh.
//!
//! - `x-pushback-timestamp`: Unix seconds at sending (from the clock);
//! - `x-pushback-signature`: `sha256=<hex HMAC-SHA256 over "<timestamp>.<body>">`, keyed
//!   by the shared secret. A receiver recomputes it, compares in constant time, and
//!   refuses timestamps far from its own clock.
//!
//! A 5xx, a 429, a timeout or a connection failure is retried with exponential backoff
//! (a `Retry-After` in seconds is honoured, within the backoff cap); any other answer
//! is final. The sink's queue (see [`super::sink`]) keeps ingestion from ever waiting
//! on it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ring::hmac;
use serde::{Deserialize, Serialize};

use pushback_model::{Clock, Finding};

use super::sink::{Sink, SinkError};

/// The `[watch.sinks.webhook]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Where to POST findings.
    pub url: String,
    /// The environment variable holding the signing secret…
    pub secret_env: Option<String>,
    /// …or a file holding it (trailing whitespace ignored). One of the two is required.
    pub secret_file: Option<String>,
    /// How long one attempt may take, in milliseconds.
    pub timeout_ms: u64,
    /// Attempts per finding, the first included.
    pub max_attempts: u32,
    /// Wait before the first retry, in milliseconds; doubles per retry.
    pub initial_backoff_ms: u64,
    /// Longest wait between attempts, in milliseconds.
    pub max_backoff_ms: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret_env: None,
            secret_file: None,
            timeout_ms: 5_000,
            max_attempts: 6,
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
        }
    }
}

/// The signing secret. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The `x-pushback-signature` value for `body` sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("sha256={}", hex::encode(ctx.sign().as_ref()))
}

pub struct WebhookSink {
    url: String,
    key: WebhookSecret,
    settings: WebhookSettings,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    pub fn new(
        settings: &WebhookSettings,
        secret: WebhookSecret,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SinkError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.timeout_ms.max(1)))
            .build()
            .map_err(|e| SinkError::Delivery(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            url: settings.url.clone(),
            key: secret,
            settings: settings.clone(),
            http,
            clock,
        })
    }

    /// One attempt: `Ok` when delivered, `Err((retry, why, retry_after))` otherwise.
    async fn attempt(&self, body: &[u8]) -> Result<(), (bool, String, Option<Duration>)> {
        let timestamp = (self.clock.now().millis() / 1000).to_string();
        let sent = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-pushback-timestamp", &timestamp)
            .header(
                "x-pushback-signature",
                signature(&self.key.0, &timestamp, body),
            )
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => {
                let status = r.status();
                let retry = status.is_server_error() || status.as_u16() == 429;
                let after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Err((retry, format!("answered {status}"), after))
            }
            // Timeouts, refused connections, resets: worth another try.
            Err(e) => Err((true, format!("{e}"), None)),
        }
    }
}

#[async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn deliver(&mut self, finding: &Finding) -> Result<(), SinkError> {
        let body = serde_json::to_vec(finding)
            .map_err(|e| SinkError::Delivery(format!("serialising: {e}")))?;
        let cap = Duration::from_millis(self.settings.max_backoff_ms);
        let mut wait = Duration::from_millis(self.settings.initial_backoff_ms).min(cap);
        let attempts = self.settings.max_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            match self.attempt(&body).await {
                Ok(()) => return Ok(()),
                Err((retry, why, after)) => {
                    tracing::debug!(attempt, error = %why, "webhook attempt failed");
                    last = why;
                    if !retry || attempt == attempts {
                        break;
                    }
                    tokio::time::sleep(after.map_or(wait, |a| a.min(cap))).await;
                    wait = (wait * 2).min(cap);
                }
            }
        }
        Err(SinkError::Delivery(format!(
            "webhook gave up after {attempts} attempt(s): {last}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let direct = hmac::sign(&key, b"1700000000.{\"a\":1}");
        assert_eq!(
            signature(b"Jefe", "1700000000", b"{\"a\":1}"),
            format!("sha256={}", hex::encode(direct.as_ref()))
        );
        // RFC 4231 test case 2: ring's HMAC is the standard one.
        assert_eq!(
            hex::encode(hmac::sign(&key, b"what do ya want for nothing?").as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        let s = WebhookSecret::new(b"hunter2".to_vec());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
