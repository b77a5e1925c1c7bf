//! Microsoft Graph (Entra ID): response actions and the sign-in log.
//!
//! | call | request | success |
//! |---|---|---|
//! | token | `POST {login_url}/{tenant}/oauth2/v2.0/token`, form `client_id`, `scope`, `client_secret`, `grant_type=client_credentials` | 200 `{token_type, expires_in, access_token}` ([`token`]) |
//! | revoke sessions | `POST /v1.0/users/{upn}/revokeSignInSessions` | 200 `{"value": true}` |
//! | look up a user | `GET /v1.0/users/{upn}?$select=id,accountEnabled` | 200; 404 → unknown user |
//! | disable (suspend) | `PATCH /v1.0/users/{id}` with `{"accountEnabled": false}` | 204 |
//! | confirm compromised | `POST /v1.0/identityProtection/riskyUsers/confirmCompromised` with `{"userIds": [id]}` | 204 |
//! | sign-ins | `GET /v1.0/auditLogs/signIns?$filter=createdDateTime ge … and createdDateTime le …&$top=…`, then `@odata.nextLink` | 200 `{"value": [signIn…]}` ([`GraphSignIns`]) |
//!
//! Calls carry `Authorization: Bearer <token>`; the token is cached until shortly
//! before it expires, and a 401 drops it and tries once more with a fresh one.
//! Application permissions needed: `User.RevokeSessions.All` (or
//! `User.ReadWrite.All`), `User.EnableDisableAccount.All`,
//! `IdentityRiskyUser.ReadWrite.All`, `AuditLog.Read.All`.
//!
//! A user already disabled is [`Outcome::AlreadyDone`] (read first). Revoking
//! sessions and confirming a compromise are idempotent on Graph's side and report
//! [`Outcome::Done`].

mod signins;
pub mod token;

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::json;

use pushback_model::Clock;

use crate::action::{Action, ActionReceipt, IdentityProvider, Outcome, UserRef};
use crate::config::base_url;
use crate::error::ConnectorError;
use crate::http::{Answer, Http};
use crate::retry::{Pause, RetryPolicy};
use crate::secret::{Secret, SecretSource};

pub use signins::{GraphSignIns, parse_page};
use token::TokenCache;

/// The `[connectors.graph]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphConfig {
    /// The tenant id or domain (`contoso.onmicrosoft.com`).
    pub tenant: String,
    /// The app registration's application (client) id.
    pub client_id: String,
    /// The app registration's client secret.
    pub client_secret: SecretSource,
    /// Microsoft Graph (`https://graph.microsoft.com`; national clouds differ).
    pub graph_url: String,
    /// The Microsoft identity platform (`https://login.microsoftonline.com`).
    pub login_url: String,
    /// The token's scope.
    pub scope: String,
    /// How long one request may take, in milliseconds.
    pub timeout_ms: u64,
    pub retry: RetryPolicy,
    /// Sign-ins per page (`$top`, at most 1000).
    pub page_size: u32,
    /// How far behind the present the sign-in poller stays, in seconds: Entra writes
    /// sign-ins with a delay of minutes, and a window closed too early would miss
    /// the late ones.
    pub settle_secs: u64,
    /// Seconds between polls of the sign-in log once caught up.
    pub poll_interval_secs: u64,
    /// How far back the first poll (no checkpoint yet) starts, in seconds.
    pub initial_lookback_secs: u64,
}

impl Default for GraphConfig {
    fn default() -> Self {
        Self {
            tenant: String::new(),
            client_id: String::new(),
            client_secret: SecretSource::default(),
            graph_url: "https://graph.microsoft.com".into(),
            login_url: "https://login.microsoftonline.com".into(),
            scope: "https://graph.microsoft.com/.default".into(),
            timeout_ms: 10_000,
            retry: RetryPolicy::default(),
            page_size: 1000,
            settle_secs: 300,
            poll_interval_secs: 60,
            initial_lookback_secs: 3600,
        }
    }
}

/// A Microsoft Graph tenant: response actions ([`IdentityProvider`],
/// [`Graph::confirm_compromised`]) and sign-ins ([`Graph::sign_ins`]). Cheap to
/// clone; clones share the token cache.
#[derive(Clone)]
pub struct Graph {
    base: Url,
    http: Http,
    tokens: Arc<TokenCache>,
    config: GraphConfig,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("base", &self.base.as_str())
            .field("tenant", &self.config.tenant)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphUser {
    id: String,
    #[serde(default)]
    account_enabled: Option<bool>,
}

impl Graph {
    /// A client for `config`, reading the client secret from its source.
    pub fn new(config: &GraphConfig, clock: Arc<dyn Clock>) -> Result<Self, ConnectorError> {
        Self::with_secret(config, config.client_secret.load()?, clock)
    }

    /// A client for `config` with the client secret already in hand.
    pub fn with_secret(
        config: &GraphConfig,
        client_secret: Secret,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        let base = base_url("connectors.graph.graph_url", &config.graph_url)?;
        let login = base_url("connectors.graph.login_url", &config.login_url)?;
        if config.tenant.is_empty() || config.client_id.is_empty() {
            return Err(ConnectorError::Config {
                detail: "connectors.graph needs tenant and client_id".into(),
            });
        }
        client_secret.expose_str()?;
        let http = Http::new(config.timeout_ms, &config.retry, clock)?;
        let tokens = TokenCache::new(login, config, client_secret);
        Ok(Self {
            base,
            http,
            tokens: Arc::new(tokens),
            config: config.clone(),
        })
    }

    /// Waits through `pause` instead of the tokio timer (tests record the waits).
    #[must_use]
    pub fn with_pause(mut self, pause: Arc<dyn Pause>) -> Self {
        self.http.set_pause(pause);
        self
    }

    /// The sign-in log poller over this client.
    pub fn sign_ins(&self) -> GraphSignIns {
        GraphSignIns::new(self.clone())
    }

    /// `/v1.0/` + segments.
    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut all = vec!["v1.0"];
        all.extend_from_slice(segments);
        Http::endpoint(&self.base, &all)
    }

    /// One Graph call with a bearer token; a 401 drops the cached token and tries
    /// once more with a fresh one.
    async fn call(
        &self,
        op: &str,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ConnectorError> {
        let mut fresh = false;
        loop {
            let token = self.tokens.get(&self.http).await?;
            let answer = self
                .http
                .send(op, || {
                    let mut r = self
                        .http
                        .client
                        .request(method.clone(), url.clone())
                        .bearer_auth(token.expose_str()?)
                        .header("accept", "application/json");
                    if let Some(b) = body {
                        r = r.json(b);
                    }
                    Ok(r)
                })
                .await?;
            if answer.status == StatusCode::UNAUTHORIZED && !fresh {
                tracing::info!(
                    connector = "graph",
                    op,
                    "token refused; fetching a fresh one"
                );
                self.tokens.forget().await;
                fresh = true;
                continue;
            }
            return Ok(answer);
        }
    }

    fn unknown(op: &str, user: &UserRef) -> ConnectorError {
        ConnectorError::UnknownUser {
            op: op.to_owned(),
            connector: "graph",
            user: user.to_string(),
        }
    }

    async fn user(&self, user: &UserRef) -> Result<GraphUser, ConnectorError> {
        let op = "graph GET /v1.0/users/{upn}";
        let mut url = self.endpoint(&["users", user.as_str()]);
        url.query_pairs_mut()
            .append_pair("$select", "id,accountEnabled");
        let answer = self.call(op, Method::GET, &url, None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Err(Self::unknown(op, user));
        }
        answer.success(op)?.json(op)
    }

    /// Identity Protection: confirms the user compromised, which sets their user risk
    /// to high so risk-based Conditional Access acts on it.
    pub async fn confirm_compromised(
        &self,
        user: &UserRef,
    ) -> Result<ActionReceipt, ConnectorError> {
        let op = "graph POST /v1.0/identityProtection/riskyUsers/confirmCompromised";
        let found = self.user(user).await?;
        let url = self.endpoint(&["identityProtection", "riskyUsers", "confirmCompromised"]);
        let body = json!({ "userIds": [found.id] });
        self.call(op, Method::POST, &url, Some(&body))
            .await?
            .success(op)?;
        tracing::info!(connector = "graph", user = %user, id = %found.id, "user confirmed compromised");
        Ok(ActionReceipt::new(
            "graph",
            Action::ConfirmCompromised,
            user,
            Some(found.id),
            Outcome::Done,
        ))
    }
}

#[async_trait]
impl IdentityProvider for Graph {
    fn name(&self) -> &'static str {
        "graph"
    }

    async fn revoke_sessions(&self, user: &UserRef) -> Result<ActionReceipt, ConnectorError> {
        let op = "graph POST /v1.0/users/{upn}/revokeSignInSessions";
        let url = self.endpoint(&["users", user.as_str(), "revokeSignInSessions"]);
        let answer = self.call(op, Method::POST, &url, None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Err(Self::unknown(op, user));
        }
        answer.success(op)?;
        tracing::info!(connector = "graph", user = %user, "sign-in sessions revoked");
        Ok(ActionReceipt::new(
            "graph",
            Action::RevokeSessions,
            user,
            None,
            Outcome::Done,
        ))
    }

    async fn suspend(&self, user: &UserRef) -> Result<ActionReceipt, ConnectorError> {
        let op = "graph PATCH /v1.0/users/{id}";
        let found = self.user(user).await?;
        if found.account_enabled == Some(false) {
            tracing::info!(connector = "graph", user = %user, "account already disabled");
            return Ok(ActionReceipt::new(
                "graph",
                Action::Suspend,
                user,
                Some(found.id),
                Outcome::AlreadyDone,
            ));
        }
        let url = self.endpoint(&["users", &found.id]);
        let body = json!({ "accountEnabled": false });
        self.call(op, Method::PATCH, &url, Some(&body))
            .await?
            .success(op)?;
        tracing::info!(connector = "graph", user = %user, id = %found.id, "account disabled");
        Ok(ActionReceipt::new(
            "graph",
            Action::Suspend,
            user,
            Some(found.id),
            Outcome::Done,
        ))
    }
}
