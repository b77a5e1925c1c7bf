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

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::duo::DuoConfig;
use crate::error::ConnectorError;
use crate::graph::GraphConfig;
use crate::okta::OktaConfig;
use crate::webhook::WebhookConfig;

/// The `[connectors]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorsConfig {
    pub okta: Option<OktaConfig>,
    pub graph: Option<GraphConfig>,
    pub duo: Option<DuoConfig>,
    pub webhook: Option<WebhookConfig>,
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
