//! The Okta System Log poller.
//!
//! The first poll asks for `since` = now − the look-back, oldest first. Every answer
//! carries a `Link: <…>; rel="next"` URL, also when it is empty (Okta's polling
//! contract: an empty page means "caught up, ask the same link again later"), and the
//! checkpoint is that link. The checkpoint also keeps the `published` time of the
//! last record and the `uuid`s of the most recent records: should a page come without
//! a next link, polling falls back to `since` = that time (inclusive), and records
//! already delivered are dropped by `uuid`.
//!
//! A next link to another origin is refused, and so is one that leads back to a
//! page already read in this run (a loop), before anything is delivered twice.

use std::collections::{HashSet, VecDeque};

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};

use crate::cursor::{Visited, next_link, same_origin};
use crate::error::ConnectorError;
use crate::poll::{Checkpoint, LogSource, Page, millis};

use super::Okta;

const OP: &str = "okta GET /api/v1/logs";
/// `uuid`s kept in the checkpoint for de-duplication.
const RECENT: usize = 200;

/// Polls `/api/v1/logs`; see the module docs for the checkpoint.
#[derive(Debug)]
pub struct OktaLogs {
    okta: Okta,
    visited: Visited,
}

/// The checkpoint, as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    /// Version of this shape.
    v: u8,
    /// The `rel="next"` link to ask next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// `published` of the last record delivered (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    /// `uuid`s of the most recent records delivered, oldest first.
    #[serde(default)]
    recent: VecDeque<String>,
}

impl OktaLogs {
    pub(super) fn new(okta: Okta) -> Self {
        Self {
            okta,
            visited: Visited::default(),
        }
    }

    fn first_url(&self, since: &str) -> Url {
        let mut url = self.okta.endpoint(&["api", "v1", "logs"]);
        url.query_pairs_mut()
            .append_pair("since", since)
            .append_pair(
                "limit",
                &self.okta.config.page_size.clamp(1, 1000).to_string(),
            )
            .append_pair("sortOrder", "ASCENDING");
        url
    }
}

#[async_trait]
impl LogSource for OktaLogs {
    fn name(&self) -> &'static str {
        "okta"
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.okta.config.poll_interval_secs)
    }

    async fn poll(&mut self, after: Option<&Checkpoint>) -> Result<Page, ConnectorError> {
        let mut state: State = match after {
            Some(cp) => cp.decode("okta")?,
            None => State {
                v: 1,
                ..State::default()
            },
        };
        let url = match (&state.next, &state.since) {
            (Some(link), _) => {
                same_origin(&self.okta.base, link).map_err(|e| ConnectorError::cursor(OP, e))?
            }
            (None, Some(since)) => self.first_url(since),
            (None, None) => {
                let lookback = millis(self.okta.config.initial_lookback_secs);
                let since = self.okta.http.clock.now().plus_millis(-lookback);
                self.first_url(&since.to_rfc3339())
            }
        };
        let answer = self
            .okta
            .http
            .send(OP, || self.okta.request(Method::GET, url.clone()))
            .await?
            .success(OP)?;
        let raw: Vec<serde_json::Value> = answer.json(OP)?;
        let link = next_link(
            answer
                .headers
                .get_all("link")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        let next = match link {
            Some(l) => {
                Some(same_origin(&self.okta.base, &l).map_err(|e| ConnectorError::cursor(OP, e))?)
            }
            None => None,
        };

        // An empty page's next link is itself (caught up: ask again later); a page
        // with records must lead on.
        self.visited.begin(url.as_str());
        match &next {
            Some(n) if !raw.is_empty() => self
                .visited
                .advance(url.as_str(), n.as_str())
                .map_err(|e| ConnectorError::cursor(OP, e))?,
            _ => self.visited.clear(),
        }

        let seen: HashSet<&str> = state.recent.iter().map(String::as_str).collect();
        let mut records = Vec::with_capacity(raw.len());
        let mut ids = Vec::new();
        let mut last_published = None;
        for record in raw.iter() {
            let id = record.get("uuid").and_then(|v| v.as_str());
            if id.is_some_and(|id| seen.contains(id)) {
                continue;
            }
            if let Some(id) = id {
                ids.push(id.to_owned());
            }
            if let Some(p) = record.get("published").and_then(|v| v.as_str()) {
                last_published = Some(p.to_owned());
            }
            records.push(record.clone());
        }
        let dropped = raw.len() - records.len();
        if dropped > 0 {
            tracing::debug!(
                connector = "okta",
                dropped,
                "records already delivered were dropped"
            );
        }
        for id in ids {
            if state.recent.len() == RECENT {
                state.recent.pop_front();
            }
            state.recent.push_back(id);
        }
        if let Some(p) = last_published {
            state.since = Some(p);
        } else if state.since.is_none() && state.next.is_none() {
            // Nothing yet: resume from where this poll started.
            state.since = url
                .query_pairs()
                .find(|(k, _)| k == "since")
                .map(|(_, v)| v.into_owned());
        }
        let more = !raw.is_empty() && next.is_some();
        state.next = next.map(String::from);
        Ok(Page {
            records,
            checkpoint: Checkpoint::encode(&state),
            more,
        })
    }
}
