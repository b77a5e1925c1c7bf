//! The Entra sign-in log poller (`/v1.0/auditLogs/signIns`).
//!
//! Graph lists sign-ins newest first and filters `createdDateTime` only with `eq`,
//! `le` and `ge`. So the poller reads closed windows: a *pass* asks for
//! `createdDateTime ge {from} and createdDateTime le {to}`, with `to` = now − the
//! settle time (Entra writes sign-ins minutes late), and follows `@odata.nextLink`
//! to the end of the window. The next pass starts at `from` = the previous `to`;
//! the sign-ins at exactly that instant were seen by both, so the checkpoint keeps
//! their `id`s and the second pass drops them. A pass interrupted by a crash resumes
//! at its stored next link, with the same window.

use std::collections::HashSet;

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cursor::{Visited, same_origin};
use crate::error::ConnectorError;
use crate::poll::{Checkpoint, LogSource, Page, millis};
use crate::query;

use super::Graph;

const OP: &str = "graph GET /v1.0/auditLogs/signIns";

/// Polls the sign-in log; see the module docs for the checkpoint.
#[derive(Debug)]
pub struct GraphSignIns {
    graph: Graph,
    visited: Visited,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    v: u8,
    /// Start of the next window (whole seconds, UTC, RFC 3339).
    from: String,
    /// Ids of the sign-ins at exactly `from`, already delivered.
    #[serde(default)]
    seen: Vec<String>,
    /// A window being read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pass: Option<Pass>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pass {
    to: String,
    next: String,
    /// Ids of the sign-ins at exactly `to` delivered so far.
    #[serde(default)]
    at_to: Vec<String>,
}

/// One page of sign-ins, read from an untrusted body: the records and the next link.
pub fn parse_page(body: &[u8]) -> Result<(Vec<serde_json::Value>, Option<String>), String> {
    #[derive(Deserialize)]
    struct Wire {
        value: Vec<serde_json::Value>,
        #[serde(rename = "@odata.nextLink", default)]
        next: Option<String>,
    }
    let wire: Wire =
        serde_json::from_slice(body).map_err(|e| format!("not a sign-in page: {e}"))?;
    Ok((wire.value, wire.next))
}

/// Whole seconds, UTC: `2026-11-28T09:00:00Z`.
fn whole_seconds(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

fn instant(text: &str) -> Option<i128> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

impl GraphSignIns {
    pub(super) fn new(graph: Graph) -> Self {
        Self {
            graph,
            visited: Visited::default(),
        }
    }

    fn window_url(&self, from: &str, to: &str) -> Url {
        let mut url = self.graph.endpoint(&["auditLogs", "signIns"]);
        let filter = format!("createdDateTime ge {from} and createdDateTime le {to}");
        let top = self.graph.config.page_size.clamp(1, 1000).to_string();
        url.set_query(Some(&query::join(&[("$filter", filter), ("$top", top)])));
        url
    }
}

#[async_trait]
impl LogSource for GraphSignIns {
    fn name(&self) -> &'static str {
        "entra"
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.graph.config.poll_interval_secs)
    }

    /// Windows end `settle_secs` before now.
    fn delay(&self) -> Duration {
        Duration::from_secs(
            self.graph
                .config
                .settle_secs
                .saturating_add(self.graph.config.poll_interval_secs),
        )
    }

    async fn poll(&mut self, after: Option<&Checkpoint>) -> Result<Page, ConnectorError> {
        let now = self.graph.http.clock.now().millis();
        let mut state: State = match after {
            Some(cp) => cp.decode("graph")?,
            None => {
                let back = millis(self.graph.config.initial_lookback_secs);
                State {
                    v: 1,
                    from: whole_seconds(now.saturating_sub(back)),
                    seen: Vec::new(),
                    pass: None,
                }
            }
        };
        let (url, to, mut at_to) = match state.pass.take() {
            Some(p) => {
                let url = same_origin(&self.graph.base, &p.next)
                    .map_err(|e| ConnectorError::cursor(OP, e))?;
                (url, p.to, p.at_to)
            }
            None => {
                let settle = millis(self.graph.config.settle_secs);
                let to = whole_seconds(now.saturating_sub(settle));
                if instant(&to) <= instant(&state.from) {
                    return Ok(Page {
                        records: Vec::new(),
                        checkpoint: Checkpoint::encode(&state),
                        more: false,
                    });
                }
                (self.window_url(&state.from, &to), to, Vec::new())
            }
        };
        self.visited.begin(url.as_str());
        let answer = self
            .graph
            .call(OP, Method::GET, &url, None)
            .await?
            .success(OP)?;
        let (raw, next) = parse_page(&answer.body).map_err(|e| ConnectorError::malformed(OP, e))?;
        let next = match next {
            Some(link) => {
                let link = same_origin(&self.graph.base, &link)
                    .map_err(|e| ConnectorError::cursor(OP, e))?;
                self.visited
                    .advance(url.as_str(), link.as_str())
                    .map_err(|e| ConnectorError::cursor(OP, e))?;
                Some(link)
            }
            None => None,
        };

        let (from_at, to_at) = (instant(&state.from), instant(&to));
        let seen: HashSet<&str> = state.seen.iter().map(String::as_str).collect();
        let mut records = Vec::with_capacity(raw.len());
        for record in raw {
            let id = record.get("id").and_then(|v| v.as_str()).map(str::to_owned);
            let at = record
                .get("createdDateTime")
                .and_then(|v| v.as_str())
                .and_then(instant);
            if let Some(id) = id {
                if at.is_some() && at == from_at && seen.contains(id.as_str()) {
                    continue;
                }
                if at.is_some() && at == to_at {
                    at_to.push(id);
                }
            }
            records.push(record);
        }

        let more = next.is_some();
        match next {
            Some(link) => {
                state.pass = Some(Pass {
                    to,
                    next: link.into(),
                    at_to,
                });
            }
            None => {
                self.visited.clear();
                state.from = to;
                state.seen = at_to;
            }
        }
        Ok(Page {
            records,
            checkpoint: Checkpoint::encode(&state),
            more,
        })
    }
}
