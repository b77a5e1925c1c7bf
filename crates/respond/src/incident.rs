//! Incidents: what the playbook opened, who owns it, and everything that happened on
//! it. An incident moves open → acknowledged → resolved; a user has at most one
//! incident that is not resolved, and later triggers about them join it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use pushback_model::{Severity, Timestamp};

/// Where an incident stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    Open,
    Acknowledged,
    Resolved,
}

impl IncidentState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "acknowledged" => Some(Self::Acknowledged),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }

    /// Whether an incident may move from `self` to `to`: forward only, and resolving
    /// straight from open is allowed.
    pub fn may_become(self, to: Self) -> bool {
        self < to
    }
}

/// An incident as it is listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub state: IncidentState,
    pub severity: Severity,
    pub title: String,
    /// The user (login) or, for a finding about no one user, its group (`src_ip=…`).
    pub subject: String,
    pub owner: Option<String>,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    /// Actions that failed after their last retry.
    pub failed_actions: i64,
}

/// One line of an incident's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: Timestamp,
    pub kind: EntryKind,
    /// One line for people.
    pub summary: String,
    /// The machine-readable rest: the finding, the action's attempt and latency, …
    pub detail: serde_json::Value,
}

/// What a timeline line records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A trigger joined the incident (or opened it).
    Trigger,
    /// One attempt at an action, with its result and latency.
    Action,
    /// An action succeeded, failed for good, or was skipped.
    ActionResult,
    /// Acknowledged, resolved, severity raised, owner set.
    State,
    /// From guard's audit log: a prompt, deny, approval or report of the subject.
    Guard,
}

impl EntryKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Trigger => "trigger",
            Self::Action => "action",
            Self::ActionResult => "action_result",
            Self::State => "state",
            Self::Guard => "guard",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "trigger" => Self::Trigger,
            "action" => Self::Action,
            "action_result" => Self::ActionResult,
            "state" => Self::State,
            "guard" => Self::Guard,
            _ => return None,
        })
    }
}

/// An incident with its timeline and linked findings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: Incident,
    /// The episode keys of the watch findings linked to it.
    pub findings: Vec<String>,
    pub timeline: Vec<TimelineEntry>,
}

/// What the executor asks the store to open or join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIncident {
    /// The id to use if a new incident is opened.
    pub id: String,
    pub subject: String,
    pub severity: Severity,
    pub title: String,
    pub at: Timestamp,
    /// The finding's episode key, to link.
    pub finding_key: Option<String>,
}

/// Which incidents to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IncidentQuery {
    pub state: Option<IncidentState>,
    pub subject: Option<String>,
    pub limit: u32,
}

/// How an action's claim went: only one claimant runs an action on an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Run it.
    Granted,
    /// It already succeeded on this incident.
    Done,
    /// Another task is running it now.
    Running,
}

/// An incident store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IncidentStoreError {
    #[error("no incident {0}")]
    NotFound(String),
    /// The incident cannot make that move (it is already there, or past it).
    #[error("incident {id} is {from} and cannot become {to}")]
    Transition {
        id: String,
        from: &'static str,
        to: &'static str,
    },
    #[error("incident store: {0}")]
    Backend(String),
}

/// The storage port for incidents; `pushback-store` implements it for SQLite and
/// PostgreSQL.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// Joins the subject's unresolved incident (raising its severity if `new` is worse)
    /// or opens one; records `entry` on it and links the finding. Returns the incident
    /// and whether it was opened now.
    async fn open_or_join(
        &self,
        new: &NewIncident,
        entry: &TimelineEntry,
    ) -> Result<(Incident, bool), IncidentStoreError>;

    /// The subject's unresolved incident, if any.
    async fn open_incident_of(&self, subject: &str)
    -> Result<Option<Incident>, IncidentStoreError>;

    /// Adds a line to an incident's timeline.
    async fn append(&self, id: &str, entry: &TimelineEntry) -> Result<(), IncidentStoreError>;

    /// Claims an action (by `key`, e.g. `revoke_sessions@okta`) on an incident.
    async fn claim_action(
        &self,
        id: &str,
        key: &str,
        at: Timestamp,
    ) -> Result<Claim, IncidentStoreError>;

    /// Records how a claimed action ended; a failure counts on the incident.
    async fn finish_action(
        &self,
        id: &str,
        key: &str,
        ok: bool,
        at: Timestamp,
    ) -> Result<(), IncidentStoreError>;

    /// Moves an incident forward, recording who did it on the timeline.
    async fn transition(
        &self,
        id: &str,
        to: IncidentState,
        owner: Option<&str>,
        entry: &TimelineEntry,
    ) -> Result<Incident, IncidentStoreError>;

    /// Incidents, newest first.
    async fn incidents(&self, query: &IncidentQuery) -> Result<Vec<Incident>, IncidentStoreError>;

    /// One incident with its timeline (in time order) and findings.
    async fn incident(&self, id: &str) -> Result<Option<IncidentDetail>, IncidentStoreError>;

    /// Keeps what a sink (the webhook) could not deliver after its last try.
    async fn record_dead_letter(&self, letter: &DeadLetterRecord)
    -> Result<(), IncidentStoreError>;

    /// The most recent dead letters, newest first.
    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetterRecord>, IncidentStoreError>;
}

/// A body a sink gave up on, kept to be looked at and sent again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// Where it was going (`webhook https://soar.example/hooks/pushback`).
    pub sink: String,
    pub at: Timestamp,
    pub error: String,
    /// The JSON body as it would have been sent.
    pub body: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidents_only_move_forward() {
        use IncidentState::*;
        assert!(Open.may_become(Acknowledged));
        assert!(Open.may_become(Resolved));
        assert!(Acknowledged.may_become(Resolved));
        assert!(!Acknowledged.may_become(Open));
        assert!(!Resolved.may_become(Acknowledged));
        assert!(!Open.may_become(Open));
        for s in [Open, Acknowledged, Resolved] {
            assert_eq!(IncidentState::parse(s.as_str()), Some(s));
        }
    }
}
