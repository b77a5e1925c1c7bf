//! A small JSON client for pushback's own API, turning problem+json answers into errors.

use anyhow::{Context as _, bail};
use serde_json::Value;

pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("pushback/", env!("CARGO_PKG_VERSION")))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

/// Sends `req`; returns the JSON body of a success (or `null` for an empty one).
pub async fn send(req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = req
        .send()
        .await
        .context("could not reach the pushback server")?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .context("reading the server's answer")?;
    if status.is_success() {
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(&bytes).context("the server's answer is not JSON");
    }
    let problem: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let title = problem["title"].as_str().unwrap_or("request failed");
    match problem["detail"].as_str() {
        Some(detail) => bail!("{title} ({}): {detail}", status.as_u16()),
        None => bail!("{title} ({})", status.as_u16()),
    }
}
