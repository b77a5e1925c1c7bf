//! A small JSON client for pushback's own API, turning problem+json answers into errors.

use anyhow::Context as _;
use serde_json::Value;

pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("pushback/", env!("CARGO_PKG_VERSION")))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

/// A refusal from the server: its status and RFC 9457 problem, for callers that turn a
/// particular status into their own words (`downcast_ref` on the error of [`send`]).
#[derive(Debug)]
pub struct Problem {
    pub status: u16,
    pub title: String,
    pub detail: Option<String>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.title, self.status)?;
        match &self.detail {
            Some(detail) => write!(f, ": {detail}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Problem {}

impl Problem {
    /// The status of a refused request, if `error` is one.
    pub fn status_of(error: &anyhow::Error) -> Option<u16> {
        error.downcast_ref::<Self>().map(|p| p.status)
    }
}

/// A 404 in the caller's words; any other error as it is.
pub fn not_found(error: anyhow::Error, say: impl FnOnce() -> String) -> anyhow::Error {
    match Problem::status_of(&error) {
        Some(404) => anyhow::anyhow!(say()),
        _ => error,
    }
}

/// Sends `req`; returns the JSON body of a success (or `null` for an empty one). A
/// refusal is a [`Problem`].
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
    Err(Problem {
        status: status.as_u16(),
        title: problem["title"]
            .as_str()
            .unwrap_or("request failed")
            .to_owned(),
        detail: problem["detail"].as_str().map(str::to_owned),
    }
    .into())
}

/// How client commands reach a running server with the admin key (`pushback admin`,
/// `pushback incidents`).
#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    #[arg(long, env = "PUSHBACK_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The admin API key printed at first start.
    #[arg(long, env = "PUSHBACK_ADMIN_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

/// The admin API of one server: its base URL, the key and a client.
pub struct AdminApi {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl AdminApi {
    /// Fails without a key: every admin route needs one.
    pub fn new(server: &ServerArgs) -> anyhow::Result<Self> {
        let key = server
            .key
            .clone()
            .context("no admin key: pass --key or set PUSHBACK_ADMIN_KEY")?;
        Ok(Self {
            base: server.url.trim_end_matches('/').to_owned(),
            key,
            http: client()?,
        })
    }

    /// A request to `path` (which starts with `/`), carrying the key.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        send(self.request(reqwest::Method::GET, path)).await
    }

    /// A POST with `body` as JSON, or with no body at all.
    pub async fn post(&self, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let req = self.request(reqwest::Method::POST, path);
        send(match body {
            Some(b) => req.json(b),
            None => req,
        })
        .await
    }
}

/// Percent-encodes a path segment.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
