//! The executor: a [`Trigger`] goes in; the playbook's plan comes out as an incident
//! with every action attempted, retried and recorded on its timeline.
//!
//! Actions run concurrently (a lock in guard never waits for an IdP's answer), each
//! through every [`Actuator`] that handles it. Before an action runs it is claimed on
//! the incident, so a second trigger about the same user does not revoke the same
//! sessions twice, and an action that failed for good may be tried again by a later
//! trigger. Nothing is dropped quietly: an action no actuator handles is recorded as
//! skipped, and one that fails after its last retry is recorded as failed and counted
//! on the incident.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinSet;

use pushback_model::{Clock, Entropy, random_token};

use crate::incident::{
    Claim, EntryKind, Incident, IncidentStore, IncidentStoreError, NewIncident, TimelineEntry,
};
use crate::playbook::{Action, Playbook, Trigger};

/// How often and how patiently a failed action is tried again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the second attempt; it doubles after each failure.
    #[serde(with = "pushback_model::duration::text")]
    pub first_delay: Duration,
    /// The longest wait between two attempts.
    #[serde(with = "pushback_model::duration::text")]
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `n` (1-based).
    pub fn delay_after(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// What an actuator is asked to act on.
#[derive(Clone, Debug)]
pub struct Target {
    pub incident: Incident,
    pub trigger: Trigger,
}

/// Why an action failed, and whether trying again could help.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ActionError {
    pub message: String,
    pub retryable: bool,
}

impl ActionError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// Something that carries out actions: guard itself, an identity provider's
/// connector, a webhook. The server builds one per configured connector.
#[async_trait]
pub trait Actuator: Send + Sync {
    /// A short name for timelines: `guard`, `okta`, `graph`, `duo`, `webhook`.
    fn name(&self) -> &str;
    /// Whether this actuator carries out `action`.
    fn handles(&self, action: &Action) -> bool;
    /// Carries it out; on success, a short receipt for the timeline. Must be
    /// idempotent: it may run again after a timeout whose request did arrive.
    async fn perform(&self, action: &Action, target: &Target) -> Result<String, ActionError>;
}

/// A responder failure: the store could not record what happened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RespondError {
    #[error(transparent)]
    Store(#[from] IncidentStoreError),
}

/// What handling one trigger did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handled {
    pub incident: Incident,
    pub opened: bool,
    /// Per action step (`revoke_sessions@okta`): whether it succeeded. Steps that
    /// were skipped (already done, running elsewhere, or nothing handles them) are
    /// absent.
    pub steps: Vec<(String, bool)>,
}

/// The playbook, the incident store and the actuators, put to work.
pub struct Responder {
    playbook: Playbook,
    store: Arc<dyn IncidentStore>,
    actuators: Vec<Arc<dyn Actuator>>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
}

impl Responder {
    pub fn new(
        playbook: Playbook,
        store: Arc<dyn IncidentStore>,
        actuators: Vec<Arc<dyn Actuator>>,
        retry: RetryPolicy,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Self {
        Self {
            playbook,
            store,
            actuators,
            retry,
            clock,
            entropy,
        }
    }

    pub fn playbook(&self) -> &Playbook {
        &self.playbook
    }

    /// Plans `trigger`, opens or joins its incident and runs every action to its end
    /// (success, or failure after the last retry). `None` when the playbook asks for
    /// nothing.
    pub async fn handle(
        self: &Arc<Self>,
        trigger: Trigger,
    ) -> Result<Option<Handled>, RespondError> {
        let plan = self.playbook.plan(&trigger);
        if plan.is_empty() {
            return Ok(None);
        }
        let severity = plan.incident.unwrap_or_else(|| trigger.severity());
        let subject = trigger.subject();
        let new = NewIncident {
            id: format!("inc_{}", random_token(self.entropy.as_ref(), 12)),
            title: title(&trigger, &subject),
            subject,
            severity,
            at: trigger.at,
            finding_key: trigger
                .finding
                .as_ref()
                .map(pushback_model::finding::episode_key),
        };
        let entry = TimelineEntry {
            at: trigger.at,
            kind: EntryKind::Trigger,
            summary: trigger.summary(),
            detail: json!({
                "trigger": trigger.kind,
                "playbook": plan.entries,
                "device": trigger.device_id,
                "finding": trigger.finding,
            }),
        };
        let (incident, opened) = self.store.open_or_join(&new, &entry).await?;
        tracing::info!(incident = %incident.id, subject = %incident.subject, opened, actions = plan.actions.len(), "responding");

        let target = Arc::new(Target {
            incident: incident.clone(),
            trigger,
        });
        let mut steps = JoinSet::new();
        for action in plan.actions {
            let handlers: Vec<_> = self
                .actuators
                .iter()
                .filter(|a| a.handles(&action))
                .cloned()
                .collect();
            if handlers.is_empty() {
                self.note(
                    &incident.id,
                    format!(
                        "{} skipped: no connector is configured for it",
                        action.name()
                    ),
                    json!({ "action": action.name(), "result": "skipped" }),
                )
                .await?;
                continue;
            }
            for actuator in handlers {
                let this = Arc::clone(self);
                let (action, target) = (action.clone(), Arc::clone(&target));
                steps.spawn(async move { this.run_step(actuator, action, target).await });
            }
        }
        let mut results = Vec::new();
        while let Some(done) = steps.join_next().await {
            match done {
                Ok(Ok(Some(step))) => results.push(step),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => return Err(e),
                Err(join) => {
                    tracing::error!(incident = %incident.id, error = %join, "an action task ended abnormally");
                }
            }
        }
        results.sort();
        Ok(Some(Handled {
            incident,
            opened,
            steps: results,
        }))
    }

    async fn note(
        &self,
        id: &str,
        summary: String,
        detail: serde_json::Value,
    ) -> Result<(), RespondError> {
        let entry = TimelineEntry {
            at: self.clock.now(),
            kind: EntryKind::ActionResult,
            summary,
            detail,
        };
        Ok(self.store.append(id, &entry).await?)
    }

    /// Claims one action step and tries it until it succeeds, fails for good or runs
    /// out of attempts, recording each attempt.
    async fn run_step(
        &self,
        actuator: Arc<dyn Actuator>,
        action: Action,
        target: Arc<Target>,
    ) -> Result<Option<(String, bool)>, RespondError> {
        let id = target.incident.id.as_str();
        let key = format!("{}@{}", action.name(), actuator.name());
        match self.store.claim_action(id, &key, self.clock.now()).await? {
            Claim::Granted => {}
            Claim::Done => {
                self.note(
                    id,
                    format!("{key} skipped: already done on this incident"),
                    json!({ "step": key, "result": "already_done" }),
                )
                .await?;
                return Ok(None);
            }
            Claim::Running => return Ok(None),
        }
        let attempts = self.retry.attempts.max(1);
        let mut last_error = None;
        for attempt in 1..=attempts {
            let started = self.clock.now();
            let outcome = actuator.perform(&action, &target).await;
            let ended = self.clock.now();
            let latency_ms = ended.millis().saturating_sub(started.millis());
            let (summary, detail, retry) = match &outcome {
                Ok(receipt) => (
                    format!("{key}: done ({receipt})"),
                    json!({ "step": key, "attempt": attempt, "ok": true, "latency_ms": latency_ms, "receipt": receipt }),
                    false,
                ),
                Err(e) => (
                    format!("{key}: attempt {attempt} of {attempts} failed: {e}"),
                    json!({ "step": key, "attempt": attempt, "ok": false, "latency_ms": latency_ms, "error": e.message, "retryable": e.retryable }),
                    e.retryable && attempt < attempts,
                ),
            };
            self.store
                .append(
                    id,
                    &TimelineEntry {
                        at: ended,
                        kind: EntryKind::Action,
                        summary,
                        detail,
                    },
                )
                .await?;
            match outcome {
                Ok(_) => {
                    self.store.finish_action(id, &key, true, ended).await?;
                    return Ok(Some((key, true)));
                }
                Err(e) => {
                    tracing::warn!(incident = %id, step = %key, attempt, retryable = e.retryable, "an action failed");
                    last_error = Some(e);
                    if !retry {
                        break;
                    }
                    tokio::time::sleep(self.retry.delay_after(attempt)).await;
                }
            }
        }
        let why = last_error.map_or_else(String::new, |e| e.message);
        let at = self.clock.now();
        self.store.finish_action(id, &key, false, at).await?;
        self.note(
            id,
            format!("{key} FAILED: {why}"),
            json!({ "step": key, "result": "failed", "error": why }),
        )
        .await?;
        Ok(Some((key, false)))
    }
}

fn title(trigger: &Trigger, subject: &str) -> String {
    match &trigger.finding {
        Some(f) => format!("{} — {subject}", f.title),
        None => match trigger.kind {
            crate::TriggerKind::NotMe => format!("Prompt reported as not theirs by {subject}"),
            crate::TriggerKind::Lockout => {
                format!("Push locked after repeated denies for {subject}")
            }
            crate::TriggerKind::Finding => format!("Finding about {subject}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let p = RetryPolicy {
            attempts: 6,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let delays: Vec<_> = (1..=5).map(|n| p.delay_after(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
    }
}
