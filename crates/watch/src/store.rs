//! The storage watch needs: [`FindingStore`], a port that `pushback-store` implements on
//! SQLite and PostgreSQL.
//!
//! Findings are stored idempotently by [`finding_key`]: the same episode reported again
//! (a replay of the same log after a restart, a batch re-ingested) is recognised and not
//! stored, nor sent to sinks, twice.

use async_trait::async_trait;

use pushback_model::{Finding, Timestamp};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FindingStoreError {
    /// The database failed; the text is for logs, never for clients.
    #[error("database error: {0}")]
    Backend(String),
}

/// One stored finding: the finding, where it sits in the list, and when it was stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFinding {
    /// Increases with every finding stored; ties in `window_end` are broken by it.
    pub seq: i64,
    pub stored_at: Timestamp,
    pub finding: Finding,
}

/// What to list. Findings come newest first (by `window_end`, then by `seq`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FindingQuery {
    /// Only this rule's findings.
    pub rule_id: Option<String>,
    /// Only findings about this user.
    pub user: Option<String>,
    /// Only findings whose episode ended at or after this time.
    pub since: Option<Timestamp>,
    /// Only findings strictly after this position of an earlier page (see
    /// [`FindingPage::next`]).
    pub after: Option<FindingCursor>,
    /// The most to return.
    pub limit: u32,
}

/// A position in the newest-first list: the last finding of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FindingCursor {
    pub window_end: Timestamp,
    pub seq: i64,
}

impl FindingCursor {
    /// The opaque text form handed to clients: `<window_end ms>.<seq>`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.window_end.millis(), self.seq)
    }

    /// Parses [`FindingCursor::encode`]'s form.
    pub fn decode(text: &str) -> Option<Self> {
        let (end, seq) = text.split_once('.')?;
        Some(Self {
            window_end: Timestamp::from_millis(end.parse().ok()?),
            seq: seq.parse().ok()?,
        })
    }
}

/// One page of findings and where the next one starts, if there may be more.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FindingPage {
    pub findings: Vec<StoredFinding>,
    pub next: Option<FindingCursor>,
}

#[async_trait]
pub trait FindingStore: Send + Sync {
    /// Stores the findings not stored before (by [`finding_key`]), in one transaction;
    /// returns, for each finding in order, whether it was new.
    async fn insert_findings(
        &self,
        findings: &[Finding],
        at: Timestamp,
    ) -> Result<Vec<bool>, FindingStoreError>;

    /// A page of findings, newest first.
    async fn findings(&self, query: &FindingQuery) -> Result<FindingPage, FindingStoreError>;

    /// Where the poller of `source` (`okta`, `entra`, `duo`) stopped: the checkpoint it
    /// last saved, as text.
    async fn checkpoint(&self, source: &str) -> Result<Option<String>, FindingStoreError>;

    /// Takes the lease on polling `source`, so that of several nodes sharing the
    /// database one polls it; `None` while another node holds it. The lease lasts as
    /// long as the value returned (and ends with the node).
    async fn poller_lease(&self, source: &str) -> Result<Option<PollerLease>, FindingStoreError>;

    /// The live engine's state as last saved by [`FindingStore::save_engine_state`].
    async fn engine_state(&self) -> Result<Option<String>, FindingStoreError>;

    /// Saves the live engine's state and, in the same transaction, the checkpoints of
    /// the pollers whose records it holds: `(source, checkpoint)`.
    async fn save_engine_state(
        &self,
        state: &str,
        checkpoints: &[(String, String)],
        at: Timestamp,
    ) -> Result<(), FindingStoreError>;
}

pub use pushback_model::finding::episode_key as finding_key;

/// A held poller lease (see [`FindingStore::poller_lease`]); drop it to let another node
/// poll.
pub type PollerLease = Box<dyn std::any::Any + Send + Sync>;

#[cfg(test)]
mod tests {
    use pushback_model::{EventSource, Severity};

    use super::*;

    fn flood(user: &str, start: i64) -> Finding {
        Finding {
            rule_id: "push_flood".into(),
            title: "Push flood".into(),
            severity: Severity::High,
            user: Some(user.into()),
            source: Some(EventSource::Okta),
            window_start: Timestamp::from_millis(start),
            window_end: Timestamp::from_millis(start + 240_000),
            event_count: 5,
            event_ids: vec!["a".into(), "b".into()],
            event_ids_truncated: false,
            group: vec![("user".into(), user.into())],
            distinct: None,
            tags: Vec::new(),
        }
    }

    #[test]
    fn the_key_names_the_episode_not_the_report() {
        let a = flood("alice", 1_000);
        let mut later_report = a.clone();
        later_report.window_end = Timestamp::from_millis(9_999_999);
        later_report.event_count = 7;
        assert_eq!(finding_key(&a), finding_key(&later_report));
        assert_ne!(finding_key(&a), finding_key(&flood("bob", 1_000)));
        assert_ne!(finding_key(&a), finding_key(&flood("alice", 1_001)));
        assert_eq!(finding_key(&a).len(), 64);
    }

    #[test]
    fn single_event_findings_are_told_apart_by_event() {
        let mut a = flood("alice", 1_000);
        a.group.clear();
        let mut b = a.clone();
        b.event_ids = vec!["other".into()];
        assert_ne!(finding_key(&a), finding_key(&b));
    }

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = FindingCursor {
            window_end: Timestamp::from_millis(1_800_000_000_000),
            seq: 42,
        };
        assert_eq!(FindingCursor::decode(&c.encode()), Some(c));
        assert_eq!(FindingCursor::decode("x.1"), None);
        assert_eq!(FindingCursor::decode("12"), None);
    }
}
