//! Log pollers: [`LogSource`] fetches one page of raw vendor records after a
//! [`Checkpoint`] and says where the next page starts.
//!
//! The contract, the same for every vendor:
//!
//! 1. Call [`LogSource::poll`] with the checkpoint stored last (`None` the first time).
//! 2. Hand `page.records` to watch (each record is one vendor log object, in the shape
//!    `pushback_watch::source::{okta, entra, duo}` read).
//! 3. Only then store `page.checkpoint`, ideally in the same transaction as whatever
//!    the records caused. A crash between 2 and 3 re-delivers that one page.
//! 4. If `page.more`, poll again now; otherwise wait for the poll interval.
//!
//! An error leaves the stored checkpoint as it was: nothing is skipped, and the next
//! poll tries the same page again. Each poller's checkpoint is its own JSON shape
//! (versioned); store it as text ([`Checkpoint::as_str`]).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::ConnectorError;

/// Where a poller resumes: opaque JSON text, owned by the poller that wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Checkpoint(String);

impl Checkpoint {
    /// A checkpoint read back from storage.
    pub fn from_stored(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The text to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn encode<T: Serialize>(state: &T) -> Self {
        // A struct of strings and numbers always serialises.
        Self(serde_json::to_string(state).unwrap_or_default())
    }

    pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
        &self,
        connector: &'static str,
    ) -> Result<T, ConnectorError> {
        serde_json::from_str(&self.0).map_err(|e| ConnectorError::Checkpoint {
            connector,
            detail: e.to_string(),
        })
    }
}

/// One page of raw records and the checkpoint to store once they are processed.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// Vendor log objects, oldest first where the vendor allows, duplicates of
    /// records delivered before this checkpoint removed.
    pub records: Vec<serde_json::Value>,
    /// Store this after the records are processed.
    pub checkpoint: Checkpoint,
    /// More records are ready now: poll again without waiting.
    pub more: bool,
}

/// A vendor log, read page by page after a checkpoint.
#[async_trait]
pub trait LogSource: Send {
    /// `okta`, `entra` or `duo`: the watch format of the records.
    fn name(&self) -> &'static str;

    /// How long to wait after a page with `more == false` (the configured
    /// `poll_interval_secs`).
    fn poll_interval(&self) -> Duration;

    /// How old a record can be, at most, when this poller delivers it in normal
    /// operation: the provider's own delay that the poller waits out, plus one poll
    /// interval. A live engine must tolerate events this late.
    fn delay(&self) -> Duration {
        self.poll_interval()
    }

    /// The page after `after` (from the configured look-back when `None`).
    async fn poll(&mut self, after: Option<&Checkpoint>) -> Result<Page, ConnectorError>;
}

/// A configured number of seconds as milliseconds, saturating.
pub(crate) fn millis(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000)
}
