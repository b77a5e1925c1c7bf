//! pushback's outbound connectors: the calls that *respond* to MFA fatigue in the
//! identity providers an organisation runs, the pollers that *read* their logs, and
//! the signed webhook that tells everything else.
//!
//! - **Actions** — [`IdentityProvider`] (`revoke_sessions`, `suspend`) over Okta
//!   ([`Okta`]), Microsoft Graph ([`Graph`], plus `confirm_compromised`) and Duo
//!   ([`Duo`], plus `lock`). A playbook holds a `dyn IdentityProvider` and a
//!   [`UserRef`] (a login, UPN or username); each connector resolves the vendor id
//!   where its API needs one. Actions are idempotent and say so
//!   ([`Outcome::AlreadyDone`]).
//! - **Pollers** — [`LogSource`] over the Okta System Log ([`OktaLogs`]), Entra
//!   sign-ins ([`GraphSignIns`]) and the Duo authentication log ([`DuoAuthLogs`]):
//!   a [`Page`] of raw vendor records (the shape `pushback-watch`'s normalisers
//!   read) and the [`Checkpoint`] to store once they are processed (see [`poll`]
//!   for the contract: no gap, no duplicate after a restart).
//! - **Webhook** — [`Webhook`]: a JSON body (a finding, an incident, or a finding
//!   as an OCSF Detection Finding via [`ocsf::detection_finding`]) signed with
//!   HMAC-SHA256 and a timestamp, retried with backoff, and a [`DeadLetter`] after
//!   the last try.
//!
//! Underneath, every call takes one path ([`RetryPolicy`]): 5xx, 429 and timeouts
//! are retried with exponential backoff, `Retry-After` and Okta's
//! `X-Rate-Limit-*` headers are honoured, other 4xx are final with the vendor's
//! error text, pagination cursors to another host or in a loop are refused, and
//! credentials ([`Secret`], read from the environment or a file by a
//! [`SecretSource`]) never reach a log, a `Debug` or an error message. Each
//! connector is configured by a table of [`ConnectorsConfig`] (`[connectors]` in
//! `pushback.toml`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use pushback_connect::{IdentityProvider, LogSource, Okta, OktaConfig, SecretSource, UserRef};
//! use pushback_model::SystemClock;
//!
//! # async fn run() -> Result<(), pushback_connect::ConnectorError> {
//! let config = OktaConfig {
//!     base_url: "https://example.okta.com".into(),
//!     token: SecretSource::env("OKTA_API_TOKEN"),
//!     ..OktaConfig::default()
//! };
//! let okta = Okta::new(&config, Arc::new(SystemClock))?;
//!
//! // Respond: cut the sessions an approved push may have opened.
//! let receipt = okta.revoke_sessions(&UserRef::new("alice@example.com")).await?;
//! println!("{:?}", receipt.outcome);
//!
//! // Read: one page of the System Log after the stored checkpoint.
//! let mut logs = okta.logs();
//! let page = logs.poll(None).await?;
//! // … hand page.records to watch, then store page.checkpoint.as_str() …
//! # Ok(()) }
//! ```

mod action;
mod config;
mod cursor;
pub mod duo;
mod error;
pub mod graph;
mod http;
pub mod ocsf;
pub mod okta;
pub mod poll;
mod query;
mod retry;
mod secret;
pub mod webhook;

pub use action::{Action, ActionReceipt, IdentityProvider, Outcome, UserRef};
pub use config::{Connectors, ConnectorsConfig};
pub use cursor::{next_link, same_origin};
pub use duo::{Duo, DuoAuthLogs, DuoConfig};
pub use error::ConnectorError;
pub use graph::{Graph, GraphConfig, GraphSignIns};
pub use http::error_summary;
pub use okta::{Okta, OktaConfig, OktaLogs};
pub use poll::{Checkpoint, LogSource, Page};
pub use retry::{Pause, RetryPolicy, TokioPause, parse_retry_after};
pub use secret::{Secret, SecretSource};
pub use webhook::{DeadLetter, DeadLetters, Webhook, WebhookConfig};
