//! respond: what pushback does once push bombing is seen.
//!
//! A [`Trigger`] — guard's "not me" or lockout, or a watch [`Finding`](pushback_model::Finding)
//! — goes through the [`Playbook`] (data: `[[respond.playbook]]` in `pushback.toml`),
//! which answers with a [`Plan`]: actions such as locking push, requiring step-up,
//! freezing a device, revoking sessions or suspending the user at the identity provider,
//! alerting, and the incident to open. The [`Responder`] carries the plan out through
//! [`Actuator`]s (guard, the IdP connectors, webhooks), retrying per [`RetryPolicy`] and
//! recording every attempt, its result and its latency on the incident's timeline in an
//! [`IncidentStore`].
//!
//! ```
//! use pushback_model::Timestamp;
//! use pushback_respond::{Action, Playbook, Trigger, default_entries};
//!
//! let playbook = Playbook::new(default_entries()).expect("valid");
//! let plan = playbook.plan(&Trigger::not_me(Timestamp::from_millis(0), "alice", "dev_1"));
//! assert!(plan.actions.contains(&Action::RevokeSessions));
//! ```

pub mod incident;
pub mod playbook;
pub mod responder;
mod settings;

pub use incident::{
    Claim, DeadLetterRecord, EntryKind, Incident, IncidentDetail, IncidentQuery, IncidentState,
    IncidentStore, IncidentStoreError, NewIncident, TimelineEntry,
};
pub use playbook::{
    Action, Entry, GuardTrigger, Plan, Playbook, PlaybookError, Trigger, TriggerKind, When,
    default_entries,
};
pub use responder::{ActionError, Actuator, Handled, RespondError, Responder, RetryPolicy, Target};
pub use settings::RespondSettings;
