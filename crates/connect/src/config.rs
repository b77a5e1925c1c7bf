//! The `[connectors]` table of `pushback.toml`: one optional table per vendor, each
//! with its base URL, credential source, timeout and retry policy. Defaults live in
//! each table's `Default` and nowhere else.
//!
//! ```toml
//! [connectors.okta]
//! base_url = "https://example.okta.com"
//! token = { env = "OKTA_API_TOKEN" }
//!
//! [connectors.graph]
//! tenant = "contoso.onmicrosoft.com"
//! client_id = "00000000-0000-0000-0000-000000000000"
//! client_secret = { file = "/run/secrets/graph" }
//!
//! [connectors.duo]
//! base_url = "https://api-12345678.duosecurity.com"
//! integration_key = "DIXXXXXXXXXXXXXXXXXX"
//! secret_key = { env = "DUO_SECRET_KEY" }
//!
//! [connectors.webhook]
//! url = "https://soar.example/hooks/pushback"
//! secret = { env = "PUSHBACK_WEBHOOK_SECRET" }
//! retry = { max_attempts = 6 }
//! ```

use std::sync::Arc;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use pushback_model::Clock;

use crate::action::IdentityProvider;
use crate::duo::{Duo, DuoConfig};
use crate::error::ConnectorError;
use crate::graph::{Graph, GraphConfig};
use crate::okta::{Okta, OktaConfig};
use crate::poll::LogSource;
use crate::webhook::{Webhook, WebhookConfig};

/// The `[connectors]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorsConfig {
    pub okta: Option<OktaConfig>,
    pub graph: Option<GraphConfig>,
    pub duo: Option<DuoConfig>,
    pub webhook: Option<WebhookConfig>,
}

impl ConnectorsConfig {
    /// A client for every configured connector, credentials read from their sources.
    /// The first problem (a missing variable, a bad URL) is the error, naming the
    /// table it is in.
    pub fn build(&self, clock: Arc<dyn Clock>) -> Result<Connectors, ConnectorError> {
        let within = |table: &str, e: ConnectorError| match e {
            ConnectorError::Config { detail } => ConnectorError::Config {
                detail: format!("connectors.{table}: {detail}"),
            },
            other => other,
        };
        Ok(Connectors {
            okta: self
                .okta
                .as_ref()
                .map(|c| Okta::new(c, clock.clone()).map_err(|e| within("okta", e)))
                .transpose()?,
            graph: self
                .graph
                .as_ref()
                .map(|c| Graph::new(c, clock.clone()).map_err(|e| within("graph", e)))
                .transpose()?,
            duo: self
                .duo
                .as_ref()
                .map(|c| Duo::new(c, clock.clone()).map_err(|e| within("duo", e)))
                .transpose()?,
            webhook: self
                .webhook
                .as_ref()
                .map(|c| Webhook::new(c, clock.clone()).map_err(|e| within("webhook", e)))
                .transpose()?,
        })
    }
}

/// The configured connectors, built.
#[derive(Clone, Debug, Default)]
pub struct Connectors {
    pub okta: Option<Okta>,
    pub graph: Option<Graph>,
    pub duo: Option<Duo>,
    pub webhook: Option<Webhook>,
}

impl Connectors {
    /// The identity providers a playbook can act in, by [`IdentityProvider::name`].
    pub fn identity_providers(&self) -> Vec<Arc<dyn IdentityProvider>> {
        let mut out: Vec<Arc<dyn IdentityProvider>> = Vec::new();
        if let Some(o) = &self.okta {
            out.push(Arc::new(o.clone()));
        }
        if let Some(g) = &self.graph {
            out.push(Arc::new(g.clone()));
        }
        if let Some(d) = &self.duo {
            out.push(Arc::new(d.clone()));
        }
        out
    }

    /// One poller per configured identity provider; [`LogSource::name`] is the watch
    /// format of its records and a good key for its stored checkpoint.
    pub fn log_sources(&self) -> Vec<Box<dyn LogSource>> {
        let mut out: Vec<Box<dyn LogSource>> = Vec::new();
        if let Some(o) = &self.okta {
            out.push(Box::new(o.logs()));
        }
        if let Some(g) = &self.graph {
            out.push(Box::new(g.sign_ins()));
        }
        if let Some(d) = &self.duo {
            out.push(Box::new(d.auth_logs()));
        }
        out
    }
}

/// Parses a configured base URL: `https`, or `http` to a loopback address (local
/// test servers) only, so a credential never crosses a network in clear text.
pub(crate) fn base_url(field: &str, text: &str) -> Result<Url, ConnectorError> {
    let url = Url::parse(text).map_err(|e| ConnectorError::Config {
        detail: format!("{field} {text:?} is not a URL ({e})"),
    })?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(ConnectorError::Config {
                detail: format!("{field} must be an https URL (plain http only to loopback)"),
            });
        }
    }
    if url.host().is_none() {
        return Err(ConnectorError::Config {
            detail: format!("{field} {text:?} names no host"),
        });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_must_be_https_except_to_loopback() {
        assert!(base_url("okta.base_url", "https://x.okta.com").is_ok());
        assert!(base_url("okta.base_url", "http://127.0.0.1:8080").is_ok());
        assert!(base_url("okta.base_url", "http://localhost:1").is_ok());
        let err = base_url("okta.base_url", "http://x.okta.com")
            .expect_err("plain http")
            .to_string();
        assert!(err.contains("okta.base_url"), "{err}");
        assert!(base_url("okta.base_url", "not a url").is_err());
    }

    #[test]
    fn building_names_the_table_of_a_missing_credential_and_an_empty_table_builds_nothing() {
        let clock = Arc::new(pushback_model::ManualClock::new(
            pushback_model::Timestamp::from_millis(0),
        ));
        let none = ConnectorsConfig::default()
            .build(clock.clone())
            .expect("nothing to build");
        assert!(none.identity_providers().is_empty() && none.log_sources().is_empty());
        let c = ConnectorsConfig {
            duo: Some(DuoConfig {
                base_url: "https://api-1.duosecurity.com".into(),
                integration_key: "DI".into(),
                secret_key: crate::SecretSource::env("PUSHBACK_CONNECT_TEST_SURELY_UNSET"),
                ..DuoConfig::default()
            }),
            ..ConnectorsConfig::default()
        };
        let err = c.build(clock).expect_err("unset").to_string();
        assert!(
            err.contains("connectors.duo") && err.contains("PUSHBACK_CONNECT_TEST_SURELY_UNSET"),
            "{err}"
        );
    }

    #[test]
    fn the_connectors_table_parses_strictly() {
        let text = r#"{
            "okta": { "base_url": "https://x.okta.com", "token": { "env": "T" } },
            "duo": { "base_url": "https://api-1.duosecurity.com", "integration_key": "DI", "secret_key": { "file": "/s" } },
            "webhook": { "url": "https://h.example/x", "secret": { "env": "S" }, "retry": { "max_attempts": 2 } }
        }"#;
        let c: ConnectorsConfig = serde_json::from_str(text).expect("parses");
        let okta = c.okta.expect("okta");
        assert_eq!(okta.page_size, OktaConfig::default().page_size);
        assert_eq!(c.webhook.expect("webhook").retry.max_attempts, 2);
        assert!(c.graph.is_none());
        let typo = r#"{ "okta": { "base_url": "https://x", "tokn": { "env": "T" } } }"#;
        assert!(serde_json::from_str::<ConnectorsConfig>(typo).is_err());
    }
}
