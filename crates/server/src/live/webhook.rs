//! The webhook sink: each finding is POSTed as JSON through pushback-connect's
//! [`Webhook`], the one implementation of the signed webhook (HMAC-SHA256 over
//! `"<timestamp>.<body>"` in `x-pushback-signature`, Unix seconds in
//! `x-pushback-timestamp`; 5xx, 429, timeouts and connection failures retried with
//! exponential backoff, `Retry-After` honoured; any other answer final). A finding
//! that could not be delivered becomes a dead letter: logged, handed to the
//! [`DeadLetters`] store when one is set, and reported as a failed delivery. The
//! sink's queue (see [`super::sink`]) keeps ingestion from ever waiting on it.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use pushback_connect::{DeadLetters, RetryPolicy, Secret, SecretSource, Webhook, WebhookConfig};
use pushback_model::{Clock, Finding};

use super::sink::{Sink, SinkError};

/// The `[watch.sinks.webhook]` table. Its defaults are pushback-connect's
/// [`WebhookConfig`] defaults.
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
        let c = WebhookConfig::default();
        Self {
            url: c.url,
            secret_env: None,
            secret_file: None,
            timeout_ms: c.timeout_ms,
            max_attempts: c.retry.max_attempts,
            initial_backoff_ms: c.retry.initial_backoff_ms,
            max_backoff_ms: c.retry.max_backoff_ms,
        }
    }
}

impl WebhookSettings {
    /// The connector's configuration for these settings.
    pub fn connector(&self) -> WebhookConfig {
        WebhookConfig {
            url: self.url.clone(),
            secret: SecretSource {
                env: self.secret_env.clone(),
                file: self.secret_file.clone(),
            },
            timeout_ms: self.timeout_ms,
            retry: RetryPolicy {
                max_attempts: self.max_attempts,
                initial_backoff_ms: self.initial_backoff_ms,
                max_backoff_ms: self.max_backoff_ms,
                ..RetryPolicy::default()
            },
        }
    }
}

/// The signing secret. Its `Debug` shows nothing of it.
#[derive(Clone, Debug)]
pub struct WebhookSecret(Secret);

impl WebhookSecret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Secret::new(bytes))
    }
}

#[derive(Debug)]
pub struct WebhookSink {
    hook: Webhook,
}

impl WebhookSink {
    pub fn new(
        settings: &WebhookSettings,
        secret: WebhookSecret,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SinkError> {
        let hook = Webhook::with_secret(&settings.connector(), secret.0, clock)
            .map_err(|e| SinkError::Delivery(format!("setting up the webhook: {e}")))?;
        Ok(Self { hook })
    }

    /// Hands each finding that could not be delivered to `store` as well.
    #[must_use]
    pub fn with_dead_letters(mut self, store: Arc<dyn DeadLetters>) -> Self {
        self.hook = self.hook.with_dead_letters(store);
        self
    }
}

#[async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn deliver(&mut self, finding: &Finding) -> Result<(), SinkError> {
        self.hook
            .send(finding)
            .await
            .map_err(|letter| SinkError::Delivery(letter.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_never_shows_in_debug() {
        let s = WebhookSecret::new(b"hunter2".to_vec());
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn settings_map_onto_the_connector() {
        let s = WebhookSettings {
            url: "https://h.example/x".into(),
            secret_env: Some("S".into()),
            max_attempts: 2,
            ..WebhookSettings::default()
        };
        let c = s.connector();
        assert_eq!(c.retry.max_attempts, 2);
        assert_eq!(c.secret.env.as_deref(), Some("S"));
        assert_eq!(c.timeout_ms, WebhookConfig::default().timeout_ms);
    }
}
