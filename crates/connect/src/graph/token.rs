//! The OAuth 2.0 client-credentials token for Graph, cached until a minute before it
//! expires.

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;
use tokio::sync::Mutex;

use pushback_model::Timestamp;

use crate::error::ConnectorError;
use crate::http::Http;
use crate::secret::Secret;

use super::GraphConfig;

const OP: &str = "graph POST /{tenant}/oauth2/v2.0/token";
/// A token is renewed this long before Entra says it expires.
const EARLY: Duration = Duration::from_secs(60);

/// A token answer, read from an untrusted body.
#[derive(Debug)]
pub struct Token {
    /// The bearer token; never logged.
    pub access_token: Secret,
    /// Seconds it is valid for.
    pub expires_in: u64,
}

#[derive(Deserialize)]
struct Wire {
    token_type: Option<String>,
    access_token: Option<String>,
    /// A number, or a string of one (older endpoints).
    expires_in: Option<serde_json::Value>,
}

/// Reads a token endpoint's answer: `access_token`, a `Bearer` `token_type` (if
/// given) and `expires_in` seconds (a number or a numeric string).
pub fn parse(body: &[u8]) -> Result<Token, String> {
    let wire: Wire =
        serde_json::from_slice(body).map_err(|e| format!("not a token answer: {e}"))?;
    if let Some(t) = &wire.token_type
        && !t.eq_ignore_ascii_case("bearer")
    {
        return Err(format!("token_type {t:?} is not Bearer"));
    }
    let access_token = wire
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or("no access_token")?;
    let expires_in = match wire.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or("no numeric expires_in")?;
    Ok(Token {
        access_token: Secret::new(access_token),
        expires_in,
    })
}

struct Cached {
    token: Secret,
    renew_at: Timestamp,
}

/// The token endpoint, the client credentials, and the current token.
pub(crate) struct TokenCache {
    url: Url,
    client_id: String,
    scope: String,
    secret: Secret,
    current: Mutex<Option<Cached>>,
}

impl TokenCache {
    pub(crate) fn new(login: Url, config: &GraphConfig, secret: Secret) -> Self {
        Self {
            url: Http::endpoint(&login, &[&config.tenant, "oauth2", "v2.0", "token"]),
            client_id: config.client_id.clone(),
            scope: config.scope.clone(),
            secret,
            current: Mutex::new(None),
        }
    }

    /// The cached token, or a new one. Callers wait on each other rather than each
    /// fetching a token.
    pub(crate) async fn get(&self, http: &Http) -> Result<Secret, ConnectorError> {
        let mut current = self.current.lock().await;
        let now = http.clock.now();
        if let Some(c) = current.as_ref()
            && now < c.renew_at
        {
            return Ok(c.token.clone());
        }
        let secret = self.secret.expose_str()?;
        let form = [
            ("client_id", self.client_id.as_str()),
            ("scope", self.scope.as_str()),
            ("client_secret", secret),
            ("grant_type", "client_credentials"),
        ];
        let answer = http
            .send(OP, || {
                Ok(http
                    .client
                    .post(self.url.clone())
                    .header("accept", "application/json")
                    .form(&form))
            })
            .await?
            .success(OP)?;
        let token = parse(&answer.body).map_err(|e| ConnectorError::malformed(OP, e))?;
        let lifetime = Duration::from_secs(token.expires_in).saturating_sub(EARLY);
        let renew_at = now.plus_millis(i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX));
        tracing::debug!(
            connector = "graph",
            expires_in = token.expires_in,
            "new access token"
        );
        *current = Some(Cached {
            token: token.access_token.clone(),
            renew_at,
        });
        Ok(token.access_token)
    }

    /// Drops the cached token (Graph refused it).
    pub(crate) async fn forget(&self) {
        *self.current.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_are_read_strictly() {
        let ok = parse(br#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0"}"#)
            .expect("documented shape");
        assert_eq!(ok.access_token.expose(), b"eyJ0");
        assert_eq!(ok.expires_in, 3599);
        assert_eq!(
            parse(br#"{"expires_in":"3600","access_token":"a"}"#)
                .expect("string expiry")
                .expires_in,
            3600
        );
        for bad in [
            &br#"{"token_type":"mac","expires_in":1,"access_token":"a"}"#[..],
            br#"{"expires_in":1}"#,
            br#"{"access_token":"a"}"#,
            br#"{"access_token":"","expires_in":1}"#,
            b"<html>",
        ] {
            assert!(parse(bad).is_err());
        }
    }
}
