//! The one HTTP path every connector takes: build a fresh request per attempt (so
//! dates and signatures are current), send it, classify the answer, retry per
//! [`RetryPolicy`], and honour the server's rate-limit hints.
//!
//! Redirects are never followed: a vendor API that redirects is misconfigured, and a
//! redirect must not carry a credential elsewhere. Bodies are read up to a limit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

use pushback_model::{Clock, Timestamp};

use crate::error::ConnectorError;
use crate::retry::{Pause, RateHints, RetryPolicy, TokioPause};

/// The largest answer body read (a Graph page of 1,000 sign-ins is a few MB).
const MAX_BODY: usize = 64 << 20;

/// An HTTP client with a connector's retry policy, clock and pause.
#[derive(Clone)]
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    policy: RetryPolicy,
    pub(crate) clock: Arc<dyn Clock>,
    pause: Arc<dyn Pause>,
    /// No call before this instant: an Okta rate-limit window was spent.
    not_before: Arc<Mutex<Option<Timestamp>>>,
}

/// A final answer: a 2xx, or a 4xx other than 429.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Http {
    /// A client whose requests time out after `timeout_ms` and retry per `policy`.
    pub(crate) fn new(
        timeout_ms: u64,
        policy: &RetryPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout_ms.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("pushback/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectorError::Config {
                detail: format!("building the HTTP client: {e}"),
            })?;
        Ok(Self {
            client,
            policy: policy.clone(),
            clock,
            pause: Arc::new(TokioPause),
            not_before: Arc::new(Mutex::new(None)),
        })
    }

    /// `base` with `segments` appended to its path, each percent-encoded.
    pub(crate) fn endpoint(base: &reqwest::Url, segments: &[&str]) -> reqwest::Url {
        let mut url = base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    pub(crate) fn set_pause(&mut self, pause: Arc<dyn Pause>) {
        self.pause = pause;
    }

    /// Sends what `build` makes until a final answer, retrying 5xx, 429, timeouts and
    /// connection failures per the policy.
    pub(crate) async fn send(
        &self,
        op: &str,
        mut build: impl FnMut() -> Result<RequestBuilder, ConnectorError>,
    ) -> Result<Answer, ConnectorError> {
        let attempts = self.policy.attempts();
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.wait_for_window(op).await?;
            let request = build()?;
            let (retry_wait, failure) = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let hints = RateHints::read(&headers, self.clock.now());
                    let retryable = status.is_server_error() || status.as_u16() == 429;
                    if !retryable {
                        // A retry below waits on its own; a final answer that spent
                        // the window holds the next call.
                        self.note_window(&hints);
                        let body = read_body(op, response).await?;
                        tracing::debug!(
                            op,
                            status = status.as_u16(),
                            attempt,
                            "connector call answered"
                        );
                        return Ok(Answer {
                            status,
                            headers,
                            body,
                        });
                    }
                    let server_wait = hints.wait(self.clock.now());
                    let failure = if status.as_u16() == 429 {
                        ConnectorError::RateLimited {
                            op: op.to_owned(),
                            retry_after: server_wait,
                        }
                    } else {
                        ConnectorError::ServerError {
                            op: op.to_owned(),
                            status: status.as_u16(),
                            attempts: attempt,
                        }
                    };
                    (server_wait, failure)
                }
                Err(e) => {
                    let detail = if e.is_timeout() {
                        "timed out".to_owned()
                    } else {
                        cause_chain(e)
                    };
                    let failure = ConnectorError::Unreachable {
                        op: op.to_owned(),
                        attempts: attempt,
                        detail,
                    };
                    (None, failure)
                }
            };
            if attempt >= attempts {
                tracing::warn!(op, attempt, error = %failure, "connector call gave up");
                return Err(failure);
            }
            let wait = match retry_wait {
                Some(w) if w > self.policy.max_retry_after() => {
                    tracing::warn!(
                        op,
                        wait_secs = w.as_secs(),
                        "server asks for a longer wait than the policy allows"
                    );
                    return Err(ConnectorError::RateLimited {
                        op: op.to_owned(),
                        retry_after: Some(w),
                    });
                }
                Some(w) => w,
                None => self.policy.backoff(attempt),
            };
            tracing::info!(op, attempt, wait_ms = wait.as_millis() as u64, error = %failure, "connector call failed; retrying");
            self.pause.pause(wait).await;
        }
    }

    /// Waits out a spent Okta window before calling again (or fails the call when the
    /// wait is longer than the policy allows).
    async fn wait_for_window(&self, op: &str) -> Result<(), ConnectorError> {
        let until = match self.not_before.lock() {
            Ok(guard) => *guard,
            Err(_) => None,
        };
        let Some(until) = until else { return Ok(()) };
        let ms = until.millis().saturating_sub(self.clock.now().millis());
        let wait = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        if wait > self.policy.max_retry_after() {
            // The window stays spent: the next call is held (or refused) too.
            return Err(ConnectorError::RateLimited {
                op: op.to_owned(),
                retry_after: Some(wait),
            });
        }
        if let Ok(mut guard) = self.not_before.lock() {
            *guard = None;
        }
        if wait.is_zero() {
            return Ok(());
        }
        tracing::info!(
            op,
            wait_ms = wait.as_millis() as u64,
            "rate-limit window spent; waiting for its reset"
        );
        self.pause.pause(wait).await;
        Ok(())
    }

    fn note_window(&self, hints: &RateHints) {
        if let Some(until) = hints.exhausted_until()
            && let Ok(mut guard) = self.not_before.lock()
        {
            *guard = Some(until);
        }
    }
}

/// A transport error and its causes (`error sending request: client error
/// (Connect): tcp connect error: Connection refused`), without the URL: a webhook
/// URL may carry a token in its query.
fn cause_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

async fn read_body(op: &str, mut response: reqwest::Response) -> Result<Vec<u8>, ConnectorError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(ConnectorError::malformed(
                        op,
                        format!("the answer is larger than {MAX_BODY} bytes"),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(ConnectorError::Unreachable {
                    op: op.to_owned(),
                    attempts: 1,
                    detail: format!("reading the answer: {}", e.without_url()),
                });
            }
        }
    }
}

impl Answer {
    /// This answer if it is a 2xx; a 4xx becomes [`ConnectorError::Refused`] with the
    /// vendor's error text.
    pub(crate) fn success(self, op: &str) -> Result<Self, ConnectorError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(self.refused(op))
        }
    }

    pub(crate) fn refused(&self, op: &str) -> ConnectorError {
        ConnectorError::Refused {
            op: op.to_owned(),
            status: self.status.as_u16(),
            summary: error_summary(&self.body),
        }
    }

    /// The body as `T`, or a clear error naming what was wrong with it.
    pub(crate) fn json<T: DeserializeOwned>(&self, op: &str) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| ConnectorError::malformed(op, e))
    }
}

/// The vendor's own error text from an error body: Okta (`errorSummary`, first
/// `errorCauses[].errorSummary`), Graph (`error.code`, `error.message`), OAuth
/// (`error`, `error_description`), Duo (`message`, `message_detail`); else the start
/// of the body as text.
pub fn error_summary(body: &[u8]) -> String {
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let okta = text(v.get("errorSummary")).map(|s| {
            let code = text(v.get("errorCode")).unwrap_or_default();
            let cause = v
                .get("errorCauses")
                .and_then(|c| c.get(0))
                .and_then(|c| text(c.get("errorSummary")));
            let mut out = if code.is_empty() {
                s
            } else {
                format!("{code} {s}")
            };
            if let Some(cause) = cause {
                out = format!("{out} ({cause})");
            }
            out
        });
        let graph = v.get("error").filter(|e| e.is_object()).map(|e| {
            let code = text(e.get("code")).unwrap_or_default();
            let msg = text(e.get("message")).unwrap_or_default();
            format!("{code}: {msg}")
        });
        let oauth = text(v.get("error")).map(|e| match text(v.get("error_description")) {
            Some(d) => format!("{e}: {d}"),
            None => e,
        });
        let duo = text(v.get("message")).map(|m| match text(v.get("message_detail")) {
            Some(d) => format!("{m} ({d})"),
            None => m,
        });
        if let Some(s) = okta.or(graph).or(oauth).or(duo) {
            return clip(&s);
        }
    }
    clip(&String::from_utf8_lossy(body))
}

/// At most 300 printable characters on one line.
fn clip(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    let trimmed = one_line.trim();
    if trimmed.is_empty() {
        "(no body)".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_summaries_read_each_vendors_shape() {
        let okta = br#"{"errorCode":"E0000001","errorSummary":"Api validation failed: lifecycle","errorCauses":[{"errorSummary":"Cannot suspend a user that is not active"}]}"#;
        assert_eq!(
            error_summary(okta),
            "E0000001 Api validation failed: lifecycle (Cannot suspend a user that is not active)"
        );
        let graph = br#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist"}}"#;
        assert_eq!(
            error_summary(graph),
            "Request_ResourceNotFound: Resource 'x' does not exist"
        );
        let oauth = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#;
        assert_eq!(
            error_summary(oauth),
            "invalid_client: AADSTS7000215: Invalid client secret provided."
        );
        let duo =
            br#"{"stat":"FAIL","code":40103,"message":"Invalid signature in request credentials"}"#;
        assert_eq!(
            error_summary(duo),
            "Invalid signature in request credentials"
        );
        assert_eq!(
            error_summary(b"<html>\n oops</html>"),
            "<html>  oops</html>"
        );
        assert_eq!(error_summary(b""), "(no body)");
        assert_eq!(error_summary(&[b'x'; 1000]).len(), 300);
    }
}
