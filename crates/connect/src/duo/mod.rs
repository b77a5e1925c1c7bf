//! Duo Admin API: user status changes and the authentication log, every request
//! signed with the integration's secret key ([`sign`]).
//!
//! | call | request | success |
//! |---|---|---|
//! | look up a user | `GET /admin/v1/users?username=…` | `{"stat":"OK","response":[{user_id, username, status}]}`; an empty list → unknown user |
//! | disable (suspend) | `POST /admin/v1/users/{user_id}` with `{"status":"disabled"}` | `stat` OK |
//! | authentication log | `GET /admin/v2/logs/authentication?mintime=…&maxtime=…&limit=…&sort=ts:asc[&next_offset=…]` | `{"stat":"OK","response":{"authlogs":[…],"metadata":{"next_offset":[ms, txid]}}}` ([`DuoAuthLogs`]) |
//!
//! Disabling is how the Admin API locks a user out: a user's status can be set to
//! `active`, `bypass` or `disabled`; `locked out` is a state Duo sets itself after too
//! many failed attempts, not one an API client sets. A user already in
//! the asked status is [`Outcome::AlreadyDone`] (the status is read first). Duo keeps
//! no sessions an API could revoke, so [`IdentityProvider::revoke_sessions`] answers
//! [`ConnectorError::Unsupported`].

mod authlog;
pub mod sign;

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc2822;

use pushback_model::Clock;

use crate::action::{Action, ActionReceipt, IdentityProvider, Outcome, UserRef};
use crate::config::base_url;
use crate::error::ConnectorError;
use crate::http::{Answer, Http};
use crate::retry::{Pause, RetryPolicy};
use crate::secret::{Secret, SecretSource};

pub use authlog::{DuoAuthLogs, parse_page};

/// The `[connectors.duo]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DuoConfig {
    /// The API hostname as a URL, e.g. `https://api-12345678.duosecurity.com`.
    pub base_url: String,
    /// The Admin API application's integration key (not secret; shown in logs).
    pub integration_key: String,
    /// The Admin API application's secret key.
    pub secret_key: SecretSource,
    /// How long one request may take, in milliseconds.
    pub timeout_ms: u64,
    pub retry: RetryPolicy,
    /// Log records per page (`limit`, at most 1000).
    pub page_size: u32,
    /// How far behind the present the log poller stays, in seconds. Duo makes
    /// authentication records available two minutes late on purpose; the default
    /// adds a minute for clock skew.
    pub lag_secs: u64,
    /// Seconds between polls of the authentication log once caught up (Duo asks
    /// for no more than one a minute).
    pub poll_interval_secs: u64,
    /// How far back the first poll (no checkpoint yet) starts, in seconds (Duo keeps
    /// 180 days).
    pub initial_lookback_secs: u64,
}

impl Default for DuoConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            integration_key: String::new(),
            secret_key: SecretSource::default(),
            timeout_ms: 10_000,
            retry: RetryPolicy::default(),
            page_size: 1000,
            lag_secs: 180,
            poll_interval_secs: 60,
            initial_lookback_secs: 3600,
        }
    }
}

/// A Duo account's Admin API: response actions ([`IdentityProvider`],
/// [`Duo::lock`]) and the authentication log ([`Duo::auth_logs`]). Cheap to clone.
#[derive(Clone)]
pub struct Duo {
    base: Url,
    /// `host[:port]` as signed.
    host: String,
    ikey: String,
    skey: Secret,
    http: Http,
    config: DuoConfig,
}

impl std::fmt::Debug for Duo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Duo")
            .field("host", &self.host)
            .field("integration_key", &self.ikey)
            .finish_non_exhaustive()
    }
}

/// Duo's envelope: `{"stat":"OK","response":…}`.
#[derive(Deserialize)]
struct Envelope<T> {
    stat: String,
    response: Option<T>,
}

#[derive(Debug, Deserialize)]
struct DuoUser {
    user_id: String,
    #[serde(default)]
    status: String,
}

impl Duo {
    /// A client for `config`, reading the secret key from its source.
    pub fn new(config: &DuoConfig, clock: Arc<dyn Clock>) -> Result<Self, ConnectorError> {
        Self::with_secret_key(config, config.secret_key.load()?, clock)
    }

    /// A client for `config` with the secret key already in hand.
    pub fn with_secret_key(
        config: &DuoConfig,
        skey: Secret,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        let base = base_url("connectors.duo.base_url", &config.base_url)?;
        if config.integration_key.is_empty() {
            return Err(ConnectorError::Config {
                detail: "connectors.duo needs integration_key".into(),
            });
        }
        let host = match (base.host_str(), base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => String::new(),
        };
        let http = Http::new(config.timeout_ms, &config.retry, clock)?;
        Ok(Self {
            base,
            host,
            ikey: config.integration_key.clone(),
            skey,
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

    /// The authentication log poller over this client.
    pub fn auth_logs(&self) -> DuoAuthLogs {
        DuoAuthLogs::new(self.clone())
    }

    /// One signed call. GET parameters go in the query; POST ones in a JSON body.
    async fn call(
        &self,
        op: &str,
        method: Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Answer, ConnectorError> {
        let is_get = method == Method::GET;
        let fields: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = if is_get {
            Vec::new()
        } else {
            sign::json_body(&fields)
        };
        let signed_params: &[(&str, String)] = if is_get { params } else { &[] };
        let mut url = self.base.clone();
        url.set_path(path);
        let query = sign::canonical_params(signed_params);
        url.set_query((!query.is_empty()).then_some(query.as_str()));
        self.http
            .send(op, || {
                let date = time::OffsetDateTime::from_unix_timestamp(
                    self.http.clock.now().millis().div_euclid(1000),
                )
                .ok()
                .and_then(|t| t.format(&Rfc2822).ok())
                .ok_or_else(|| ConnectorError::Config {
                    detail: "the clock is out of range for a Duo date".into(),
                })?;
                let req = sign::Request {
                    date: &date,
                    method: method.as_str(),
                    host: &self.host,
                    path,
                    params: signed_params,
                    body: &body,
                };
                let auth = sign::authorization(&self.ikey, self.skey.expose(), &req);
                let mut r = self
                    .http
                    .client
                    .request(method.clone(), url.clone())
                    .header("authorization", auth)
                    .header("x-duo-date", date.as_str())
                    .header("accept", "application/json");
                if !is_get {
                    r = r
                        .header("content-type", "application/json")
                        .body(body.clone());
                }
                Ok(r)
            })
            .await
    }

    /// The `response` of a successful answer.
    fn response<T: DeserializeOwned>(op: &str, answer: Answer) -> Result<T, ConnectorError> {
        let answer = answer.success(op)?;
        let env: Envelope<T> = answer.json(op)?;
        if env.stat != "OK" {
            return Err(answer.refused(op));
        }
        env.response
            .ok_or_else(|| ConnectorError::malformed(op, "stat OK without a response"))
    }

    async fn user(&self, user: &UserRef) -> Result<DuoUser, ConnectorError> {
        let op = "duo GET /admin/v1/users";
        let answer = self
            .call(
                op,
                Method::GET,
                "/admin/v1/users",
                &[("username", user.to_string())],
            )
            .await?;
        let users: Vec<DuoUser> = Self::response(op, answer)?;
        users
            .into_iter()
            .next()
            .ok_or_else(|| ConnectorError::UnknownUser {
                op: op.to_owned(),
                connector: "duo",
                user: user.to_string(),
            })
    }

    async fn set_status(
        &self,
        user: &UserRef,
        action: Action,
        status: &str,
    ) -> Result<ActionReceipt, ConnectorError> {
        let op = "duo POST /admin/v1/users/{user_id}";
        let found = self.user(user).await?;
        let receipt =
            |outcome| ActionReceipt::new("duo", action, user, Some(found.user_id.clone()), outcome);
        if found.status.eq_ignore_ascii_case(status) {
            tracing::info!(connector = "duo", user = %user, status, "user already in that status");
            return Ok(receipt(Outcome::AlreadyDone));
        }
        let path = format!("/admin/v1/users/{}", crate::query::encode(&found.user_id));
        let answer = self
            .call(op, Method::POST, &path, &[("status", status.to_owned())])
            .await?;
        let _: serde_json::Value = Self::response(op, answer)?;
        tracing::info!(connector = "duo", user = %user, status, "user status set");
        Ok(receipt(Outcome::Done))
    }
}

#[async_trait]
impl IdentityProvider for Duo {
    fn name(&self) -> &'static str {
        "duo"
    }

    async fn revoke_sessions(&self, _user: &UserRef) -> Result<ActionReceipt, ConnectorError> {
        Err(ConnectorError::Unsupported {
            connector: "duo",
            action: "revoke sessions (the Admin API has no session call)",
        })
    }

    /// Disables the user (Duo status `disabled`).
    async fn suspend(&self, user: &UserRef) -> Result<ActionReceipt, ConnectorError> {
        self.set_status(user, Action::Suspend, "disabled").await
    }
}
