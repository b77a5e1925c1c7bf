//! The Duo authentication log poller (`/admin/v2/logs/authentication`).
//!
//! Duo makes a record available two minutes after it happens, and its `mintime` and
//! `maxtime` (milliseconds) are both inclusive. So the poller reads closed windows
//! that end `lag_secs` before now: a pass asks for `mintime = from`, `maxtime = to`,
//! oldest first, and follows `metadata.next_offset` (`"<ms>,<txid>"`) with the same
//! window until Duo gives none. The next window starts at `to + 1`: windows never
//! overlap, so nothing is delivered twice, and none is left out. A pass interrupted
//! by a crash resumes at its stored `next_offset`, with the same window.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::cursor::Visited;
use crate::error::ConnectorError;
use crate::poll::{Checkpoint, LogSource, Page, millis};

use super::Duo;

const OP: &str = "duo GET /admin/v2/logs/authentication";
const PATH: &str = "/admin/v2/logs/authentication";
/// Duo keeps 180 days; an older `mintime` is refused, so it is raised to this.
const RETENTION_MS: i64 = 180 * 24 * 3600 * 1000 - 3600 * 1000;

/// Polls the authentication log; see the module docs for the checkpoint.
#[derive(Debug)]
pub struct DuoAuthLogs {
    duo: Duo,
    visited: Visited,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    v: u8,
    /// `mintime` of the window being read, or of the next one.
    from: i64,
    /// `maxtime` of the window being read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<i64>,
    /// Where in that window to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_offset: Option<String>,
}

/// One page of the authentication log, read from an untrusted body: the records and
/// the `next_offset` to send for the next page (as `"<ms>,<txid>"`).
pub fn parse_page(body: &[u8]) -> Result<(Vec<serde_json::Value>, Option<String>), String> {
    #[derive(Deserialize)]
    struct Wire {
        stat: String,
        response: Option<Response>,
    }
    #[derive(Deserialize)]
    struct Response {
        authlogs: Vec<serde_json::Value>,
        #[serde(default)]
        metadata: Option<Metadata>,
    }
    #[derive(Deserialize)]
    struct Metadata {
        #[serde(default)]
        next_offset: Option<serde_json::Value>,
    }
    let wire: Wire =
        serde_json::from_slice(body).map_err(|e| format!("not an authentication log page: {e}"))?;
    if wire.stat != "OK" {
        return Err(format!("stat is {:?}, not OK", wire.stat));
    }
    let response = wire.response.ok_or("stat OK without a response")?;
    let offset = match response.metadata.and_then(|m| m.next_offset) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Array(parts)) if parts.is_empty() => None,
        Some(serde_json::Value::Array(parts)) => {
            let parts: Option<Vec<String>> = parts
                .iter()
                .map(|p| match p {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect();
            Some(
                parts
                    .ok_or("next_offset holds something other than text")?
                    .join(","),
            )
        }
        Some(serde_json::Value::String(s)) => Some(s),
        Some(_) => return Err("next_offset is neither a list nor text".into()),
    };
    Ok((response.authlogs, offset))
}

impl DuoAuthLogs {
    pub(super) fn new(duo: Duo) -> Self {
        Self {
            duo,
            visited: Visited::default(),
        }
    }
}

#[async_trait]
impl LogSource for DuoAuthLogs {
    fn name(&self) -> &'static str {
        "duo"
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.duo.config.poll_interval_secs)
    }

    /// Records are asked for up to `lag_secs` before now.
    fn delay(&self) -> Duration {
        Duration::from_secs(
            self.duo
                .config
                .lag_secs
                .saturating_add(self.duo.config.poll_interval_secs),
        )
    }

    async fn poll(&mut self, after: Option<&Checkpoint>) -> Result<Page, ConnectorError> {
        let now = self.duo.http.clock.now().millis();
        let mut state: State = match after {
            Some(cp) => cp.decode("duo")?,
            None => State {
                v: 1,
                from: now.saturating_sub(millis(self.duo.config.initial_lookback_secs)),
                to: None,
                next_offset: None,
            },
        };
        let oldest = now.saturating_sub(RETENTION_MS);
        if state.to.is_none() && state.from < oldest {
            tracing::warn!(
                connector = "duo",
                from = state.from,
                oldest,
                "checkpoint older than Duo's retention; records before it are gone"
            );
            state.from = oldest;
        }
        let to = match state.to {
            Some(to) => to,
            None => {
                let to = now.saturating_sub(millis(self.duo.config.lag_secs));
                if to < state.from {
                    return Ok(Page {
                        records: Vec::new(),
                        checkpoint: Checkpoint::encode(&state),
                        more: false,
                    });
                }
                to
            }
        };
        let mut params = vec![
            ("mintime", state.from.to_string()),
            ("maxtime", to.to_string()),
            (
                "limit",
                self.duo.config.page_size.clamp(1, 1000).to_string(),
            ),
            ("sort", "ts:asc".to_owned()),
        ];
        if let Some(offset) = &state.next_offset {
            params.push(("next_offset", offset.clone()));
        }
        let answer = self
            .duo
            .call(OP, Method::GET, PATH, &params)
            .await?
            .success(OP)?;
        let (records, next) =
            parse_page(&answer.body).map_err(|e| ConnectorError::malformed(OP, e))?;
        let next = next.filter(|_| !records.is_empty());
        let here = state
            .next_offset
            .as_deref()
            .unwrap_or("start of the window");
        self.visited.begin(here);
        if let Some(n) = &next {
            self.visited
                .advance(here, n)
                .map_err(|e| ConnectorError::cursor(OP, e))?;
        }
        let more = next.is_some();
        match next {
            Some(n) => {
                state.to = Some(to);
                state.next_offset = Some(n);
            }
            None => {
                self.visited.clear();
                state.from = to.saturating_add(1);
                state.to = None;
                state.next_offset = None;
            }
        }
        Ok(Page {
            records,
            checkpoint: Checkpoint::encode(&state),
            more,
        })
    }
}
