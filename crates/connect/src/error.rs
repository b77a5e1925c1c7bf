//! [`ConnectorError`]: every way a call to a vendor can fail, each with a message an
//! operator can act on. No variant carries a credential; `op` names the call as
//! `"okta GET /api/v1/logs"` (method and path, never the query or headers).

use std::time::Duration;

/// A connector call that failed for good (after the retries its [`RetryPolicy`] allows).
///
/// [`RetryPolicy`]: crate::RetryPolicy
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// The configuration cannot work: a missing credential, a bad URL.
    #[error("connector configuration: {detail}")]
    Config { detail: String },
    /// No HTTP answer: timeouts, refused or reset connections, on every attempt.
    #[error("{op}: no answer after {attempts} attempt(s): {detail}")]
    Unreachable {
        op: String,
        attempts: u32,
        detail: String,
    },
    /// The vendor kept answering 5xx.
    #[error("{op}: the server answered {status} on each of {attempts} attempt(s)")]
    ServerError {
        op: String,
        status: u16,
        attempts: u32,
    },
    /// The vendor kept answering 429, or asked for a wait longer than the policy
    /// allows (`retry_after`); try again later.
    #[error("{op}: rate limited{}", retry_after.map(|d| format!("; the server asks to wait {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        op: String,
        retry_after: Option<Duration>,
    },
    /// A 4xx answer other than 429: not retried. `summary` is the vendor's own error
    /// text from the body (Okta `errorSummary`, Graph `error.message`, Duo `message`).
    #[error("{op}: refused with {status}: {summary}")]
    Refused {
        op: String,
        status: u16,
        summary: String,
    },
    /// The answer is not what the vendor documents: not JSON, or missing a field.
    #[error("{op}: malformed answer: {detail}")]
    Malformed { op: String, detail: String },
    /// A pagination cursor that points to another host or leads back to where it
    /// has been; refused rather than followed.
    #[error("{op}: pagination cursor refused: {detail}")]
    Cursor { op: String, detail: String },
    /// The identity provider knows no such user.
    #[error("{op}: no user {user:?} in {connector}")]
    UnknownUser {
        op: String,
        connector: &'static str,
        user: String,
    },
    /// The vendor's API has no such action (Duo keeps no sessions to revoke).
    #[error("{connector} cannot {action}")]
    Unsupported {
        connector: &'static str,
        action: &'static str,
    },
    /// A stored checkpoint that this poller cannot read (another poller's, or damaged).
    #[error("{connector}: unreadable checkpoint: {detail}")]
    Checkpoint {
        connector: &'static str,
        detail: String,
    },
}

impl ConnectorError {
    /// True when the same call may succeed later (rate limits, outages, timeouts);
    /// false when retrying cannot help (refusals, bad config, malformed answers).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::ServerError { .. } | Self::RateLimited { .. }
        )
    }

    pub(crate) fn malformed(op: &str, detail: impl std::fmt::Display) -> Self {
        Self::Malformed {
            op: op.to_owned(),
            detail: detail.to_string(),
        }
    }

    pub(crate) fn cursor(op: &str, detail: impl std::fmt::Display) -> Self {
        Self::Cursor {
            op: op.to_owned(),
            detail: detail.to_string(),
        }
    }
}
