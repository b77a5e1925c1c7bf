//! The generic webhook: a JSON body (a finding, an incident, an OCSF detection
//! finding — whatever the caller serialises) POSTed and signed so the receiver can
//! tell it came from us and is fresh.
//!
//! - `x-pushback-timestamp`: Unix seconds at sending (from the clock);
//! - `x-pushback-signature`: `sha256=<hex HMAC-SHA256 over "<timestamp>.<body>">`,
//!   keyed by the shared secret. A receiver recomputes it, compares in constant
//!   time, and refuses timestamps far from its own clock.
//!
//! A 5xx, a 429, a timeout or a connection failure is retried with exponential
//! backoff (`Retry-After` honoured); any other answer is final. After the last try
//! the body becomes a [`DeadLetter`]: returned to the caller and handed to the
//! [`DeadLetters`] store if one is set, never silently dropped.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Url;
use ring::hmac;
use serde::{Deserialize, Serialize};

use pushback_model::{Clock, Timestamp};

use crate::error::ConnectorError;
use crate::http::Http;
use crate::retry::{Pause, RetryPolicy};
use crate::secret::{Secret, SecretSource};

/// The `[connectors.webhook]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Where to POST (`http` or `https`).
    pub url: String,
    /// The shared signing secret (at least 16 bytes).
    pub secret: SecretSource,
    /// How long one attempt may take, in milliseconds.
    pub timeout_ms: u64,
    pub retry: RetryPolicy,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret: SecretSource::default(),
            timeout_ms: 5_000,
            retry: RetryPolicy {
                max_attempts: 6,
                ..RetryPolicy::default()
            },
        }
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

/// A body the webhook could not deliver, with why. Persist it to send again later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The destination without its query (which may hold a token): scheme, host,
    /// port and path.
    pub destination: String,
    /// The JSON body as it would have been sent.
    pub body: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last failure.
    pub error: String,
    /// When the last attempt failed.
    pub failed_at: Timestamp,
}

impl std::fmt::Display for DeadLetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "webhook {} gave up after {} attempt(s): {}",
            self.destination, self.attempts, self.error
        )
    }
}

/// Where dead letters go (the lead's store persists them).
#[async_trait]
pub trait DeadLetters: Send + Sync {
    async fn record(&self, letter: &DeadLetter);
}

/// A signed JSON webhook.
#[derive(Clone)]
pub struct Webhook {
    url: Url,
    destination: String,
    key: Secret,
    http: Http,
    dead: Option<Arc<dyn DeadLetters>>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("destination", &self.destination)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// A webhook for `config`, reading the secret from its source.
    pub fn new(config: &WebhookConfig, clock: Arc<dyn Clock>) -> Result<Self, ConnectorError> {
        Self::with_secret(config, config.secret.load()?, clock)
    }

    /// A webhook for `config` with the secret already in hand.
    pub fn with_secret(
        config: &WebhookConfig,
        secret: Secret,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        let url = Url::parse(&config.url).map_err(|e| ConnectorError::Config {
            detail: format!("the webhook url is not a URL ({e})"),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ConnectorError::Config {
                detail: "the webhook url must be an http(s) URL".into(),
            });
        }
        if secret.len() < 16 {
            return Err(ConnectorError::Config {
                detail: "the webhook secret must be at least 16 bytes".into(),
            });
        }
        let mut bare = url.clone();
        bare.set_query(None);
        bare.set_fragment(None);
        let _ = bare.set_username("");
        let _ = bare.set_password(None);
        let http = Http::new(config.timeout_ms, &config.retry, clock)?;
        Ok(Self {
            url,
            destination: bare.into(),
            key: secret,
            http,
            dead: None,
        })
    }

    /// Waits through `pause` instead of the tokio timer (tests record the waits).
    #[must_use]
    pub fn with_pause(mut self, pause: Arc<dyn Pause>) -> Self {
        self.http.set_pause(pause);
        self
    }

    /// Hands every dead letter to `store` as well as returning it.
    #[must_use]
    pub fn with_dead_letters(mut self, store: Arc<dyn DeadLetters>) -> Self {
        self.dead = Some(store);
        self
    }

    /// Serialises `body` and delivers it; see [`Webhook::send_json`].
    pub async fn send<T: Serialize + ?Sized>(&self, body: &T) -> Result<(), Box<DeadLetter>> {
        match serde_json::to_vec(body) {
            Ok(bytes) => self.send_json(bytes).await,
            Err(e) => Err(self
                .bury(String::new(), 0, format!("serialising the body: {e}"))
                .await),
        }
    }

    /// Delivers a JSON body, retrying per the policy; after the last try, the
    /// [`DeadLetter`] (also given to the [`DeadLetters`] store, if set).
    pub async fn send_json(&self, body: Vec<u8>) -> Result<(), Box<DeadLetter>> {
        let op = format!("webhook POST {}", self.destination);
        let mut attempts = 0u32;
        let sent = self
            .http
            .send(&op, || {
                attempts += 1;
                let timestamp = (self.http.clock.now().millis().div_euclid(1000)).to_string();
                Ok(self
                    .http
                    .client
                    .post(self.url.clone())
                    .header("content-type", "application/json")
                    .header("x-pushback-timestamp", &timestamp)
                    .header(
                        "x-pushback-signature",
                        signature(self.key.expose(), &timestamp, &body),
                    )
                    .body(body.clone()))
            })
            .await
            .and_then(|answer| answer.success(&op));
        match sent {
            Ok(_) => Ok(()),
            Err(e) => {
                let text = String::from_utf8_lossy(&body).into_owned();
                Err(self.bury(text, attempts, e.to_string()).await)
            }
        }
    }

    async fn bury(&self, body: String, attempts: u32, error: String) -> Box<DeadLetter> {
        let letter = DeadLetter {
            destination: self.destination.clone(),
            body,
            attempts,
            error,
            failed_at: self.http.clock.now(),
        };
        tracing::warn!(destination = %letter.destination, attempts, error = %letter.error, "webhook delivery failed for good; dead letter recorded");
        if let Some(store) = &self.dead {
            store.record(&letter).await;
        }
        Box::new(letter)
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
}
