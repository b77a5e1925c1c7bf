//! Okta: the Users API for response actions and the System Log for polling.
//!
//! | call | request | success |
//! |---|---|---|
//! | look up a user | `GET /api/v1/users/{login}` | 200 with `id`, `status`; 404 `E0000007` → unknown user |
//! | revoke sessions | `DELETE /api/v1/users/{id}/sessions?oauthTokens=true` | 204 |
//! | suspend | `POST /api/v1/users/{id}/lifecycle/suspend` | 200 |
//! | System Log | `GET /api/v1/logs?since=…&limit=…&sortOrder=ASCENDING`, then the `Link: rel="next"` URL | 200 with a JSON array of `LogEvent`s ([`OktaLogs`]) |
//!
//! Every request carries `Authorization: SSWS <token>`. Okta's rate-limit headers
//! are honoured: a 429 waits until `X-Rate-Limit-Reset` (or `Retry-After`), and a
//! success with `X-Rate-Limit-Remaining: 0` holds the next call until the reset.
//!
//! **Idempotent suspend.** Okta answers a suspend of a user that is not `ACTIVE` with
//! 400 `E0000001` ("Cannot suspend a user that is not active"), the same code as any
//! other validation failure. So the user's `status` is read first: `SUSPENDED` (or
//! `DEPROVISIONED`, who cannot sign in either) is [`Outcome::AlreadyDone`] without a
//! call; and a 400 from the suspend itself is followed by a second read, which turns
//! it into `AlreadyDone` if the user is suspended by then (a race with an admin or
//! another node) and into a refusal with Okta's error text otherwise.

mod logs;

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::{Deserialize, Serialize};

use pushback_model::Clock;

use crate::action::{Action, ActionReceipt, IdentityProvider, Outcome, UserRef};
use crate::config::base_url;
use crate::error::ConnectorError;
use crate::http::Http;
use crate::retry::{Pause, RetryPolicy};
use crate::secret::{Secret, SecretSource};

pub use logs::OktaLogs;

/// The `[connectors.okta]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OktaConfig {
    /// The org URL, e.g. `https://example.okta.com`.
    pub base_url: String,
    /// The API token (sent as `SSWS <token>`). Needs the rights to read users, clear
    /// their sessions, suspend them and read the System Log.
    pub token: SecretSource,
    /// How long one request may take, in milliseconds.
    pub timeout_ms: u64,
    pub retry: RetryPolicy,
    /// System Log records per page (`limit`, at most 1000).
    pub page_size: u32,
    /// Seconds between polls of the System Log once caught up.
    pub poll_interval_secs: u64,
    /// How far back the first poll (no checkpoint yet) starts, in seconds.
    pub initial_lookback_secs: u64,
}

impl Default for OktaConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            token: SecretSource::default(),
            timeout_ms: 10_000,
            retry: RetryPolicy::default(),
            page_size: 1000,
            poll_interval_secs: 30,
            initial_lookback_secs: 3600,
        }
    }
}

/// An Okta org: response actions ([`IdentityProvider`]) and the System Log
/// ([`Okta::logs`]). Cheap to clone; clones share the rate-limit state.
#[derive(Clone)]
pub struct Okta {
    base: Url,
    token: Secret,
    http: Http,
    config: OktaConfig,
}

impl std::fmt::Debug for Okta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Okta")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// The fields of an Okta `User` we read.
#[derive(Debug, Deserialize)]
struct OktaUser {
    id: String,
    #[serde(default)]
    status: String,
}

impl Okta {
    /// A client for `config`, reading the token from its source.
    pub fn new(config: &OktaConfig, clock: Arc<dyn Clock>) -> Result<Self, ConnectorError> {
        Self::with_token(config, config.token.load()?, clock)
    }

    /// A client for `config` with a token already in hand.
    pub fn with_token(
        config: &OktaConfig,
        token: Secret,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        let base = base_url("connectors.okta.base_url", &config.base_url)?;
        token.expose_str()?;
        let http = Http::new(config.timeout_ms, &config.retry, clock)?;
        Ok(Self {
            base,
            token,
            http,
            config: config.clone(),
        })
    }

    /// Waits through `pause` instead of the tokio timer (tests record the waits).
    #[must_use]
    pub fn with_pause(mut self, pause: Arc<dyn Pause>) -> Self {
        self.http.set_pause(pause);
        self
    }

    /// The System Log poller over this client.
    pub fn logs(&self) -> OktaLogs {
        OktaLogs::new(self.clone())
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        Http::endpoint(&self.base, segments)
    }

    fn request(&self, method: Method, url: Url) -> Result<RequestBuilder, ConnectorError> {
        let token = self.token.expose_str()?;
        Ok(self
            .http
            .client
            .request(method, url)
            .header("authorization", format!("SSWS {token}"))
            .header("accept", "application/json"))
    }

    async fn user(&self, user: &UserRef) -> Result<OktaUser, ConnectorError> {
        let op = "okta GET /api/v1/users/{login}";
        let url = self.endpoint(&["api", "v1", "users", user.as_str()]);
        let answer = self
            .http
            .send(op, || self.request(Method::GET, url.clone()))
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Err(ConnectorError::UnknownUser {
                op: op.to_owned(),
                connector: "okta",
                user: user.to_string(),
            });
        }
        answer.success(op)?.json(op)
    }
}

#[async_trait]
impl IdentityProvider for Okta {
    fn name(&self) -> &'static str {
        "okta"
    }

    async fn revoke_sessions(&self, user: &UserRef) -> Result<ActionReceipt, ConnectorError> {
        let op = "okta DELETE /api/v1/users/{id}/sessions";
        let found = self.user(user).await?;
        let mut url = self.endpoint(&["api", "v1", "users", &found.id, "sessions"]);
        url.query_pairs_mut().append_pair("oauthTokens", "true");
        self.http
            .send(op, || self.request(Method::DELETE, url.clone()))
            .await?
            .success(op)?;
        tracing::info!(connector = "okta", user = %user, id = %found.id, "sessions and OAuth tokens cleared");
        Ok(ActionReceipt::new(
            "okta",
            Action::RevokeSessions,
            user,
            Some(found.id),
            Outcome::Done,
        ))
    }

    async fn suspend(&self, user: &UserRef) -> Result<ActionReceipt, ConnectorError> {
        let op = "okta POST /api/v1/users/{id}/lifecycle/suspend";
        let found = self.user(user).await?;
        let receipt = |outcome| {
            ActionReceipt::new(
                "okta",
                Action::Suspend,
                user,
                Some(found.id.clone()),
                outcome,
            )
        };
        if cannot_sign_in(&found.status) {
            tracing::info!(connector = "okta", user = %user, status = %found.status, "user already suspended");
            return Ok(receipt(Outcome::AlreadyDone));
        }
        let url = self.endpoint(&["api", "v1", "users", &found.id, "lifecycle", "suspend"]);
        let answer = self
            .http
            .send(op, || self.request(Method::POST, url.clone()))
            .await?;
        if answer.status.is_success() {
            tracing::info!(connector = "okta", user = %user, id = %found.id, "user suspended");
            return Ok(receipt(Outcome::Done));
        }
        if answer.status == StatusCode::BAD_REQUEST {
            let again = self.user(user).await?;
            if cannot_sign_in(&again.status) {
                tracing::info!(connector = "okta", user = %user, status = %again.status, "user was suspended meanwhile");
                return Ok(receipt(Outcome::AlreadyDone));
            }
        }
        Err(answer.refused(op))
    }
}

/// Okta statuses in which the user cannot sign in, so a suspend has nothing to do.
fn cannot_sign_in(status: &str) -> bool {
    matches!(status, "SUSPENDED" | "DEPROVISIONED")
}
