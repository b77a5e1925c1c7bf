//! respond, live: guard's "not me" reports and lockouts and watch's new findings become
//! [`Trigger`]s on one queue; a task hands each to the [`Responder`], which runs the
//! playbook's actions concurrently and records them on the incident.
//!
//! ```text
//! guard ── RespondObserver ──┐
//!                             ├─► Triggers (unbounded) ─► respond task ─► Responder ─► actuators
//! live engine (new findings) ─┘                                              │           (guard, IdPs, webhooks)
//!                                                                            ▼
//!                                                                   IncidentStore (timeline)
//! ```
//!
//! The queue is unbounded on purpose: a trigger is a signed "not me", a lockout or a
//! finding that was stored once per episode, so its rate is bounded upstream, and a
//! response must never be dropped for want of room.

mod connectors;
mod guard_actuator;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use pushback_guard::policy::LockReason;
use pushback_guard::{ChallengeEvent, ChallengeStep, Observer, Resolution};
use pushback_model::{Clock, Finding};
use pushback_respond::{Responder, Trigger};

pub use connectors::{AlertActuator, CompromiseActuator, IdpActuator, actuators};
pub use guard_actuator::GuardActuator;

/// The sending side of the trigger queue; cheap to clone.
#[derive(Clone, Debug)]
pub struct Triggers(mpsc::UnboundedSender<Trigger>);

/// The receiving side, for [`start`].
#[derive(Debug)]
pub struct TriggerQueue(mpsc::UnboundedReceiver<Trigger>);

/// A new, empty trigger queue.
pub fn channel() -> (Triggers, TriggerQueue) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Triggers(tx), TriggerQueue(rx))
}

impl Triggers {
    pub fn send(&self, trigger: Trigger) {
        if self.0.send(trigger).is_err() {
            tracing::error!("the responder has stopped; a trigger was not handled");
        }
    }

    /// A new finding from watch.
    pub fn finding(&self, finding: &Finding, clock: &dyn Clock) {
        self.send(Trigger::finding(clock.now(), finding.clone()));
    }
}

/// The running responder.
pub struct Responding {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Responding {
    /// Handles what is queued, waits for every response in flight to end (each ends
    /// after its last retry at the latest), and stops.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the responder ended abnormally");
        }
    }
}

/// Runs the responder over the queue, each trigger in a task of its own, until
/// [`Responding::finish`] or every sender is gone.
pub fn start(responder: Arc<Responder>, queue: TriggerQueue) -> Responding {
    let TriggerQueue(mut rx) = queue;
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut running = JoinSet::new();
        let spawn = |running: &mut JoinSet<()>, t: Trigger| {
            let r = Arc::clone(&responder);
            running.spawn(async move {
                let subject = t.subject();
                if let Err(e) = r.handle(t).await {
                    tracing::error!(%subject, error = %e, "recording a response failed");
                }
            });
        };
        loop {
            tokio::select! {
                trigger = rx.recv() => match trigger {
                    Some(t) => spawn(&mut running, t),
                    None => break,
                },
                _ = &mut stopped => {
                    while let Ok(t) = rx.try_recv() {
                        spawn(&mut running, t);
                    }
                    break;
                }
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Err(e) = done {
                        tracing::error!(error = %e, "a response task ended abnormally");
                    }
                }
            }
        }
        while running.join_next().await.is_some() {}
    });
    Responding { stop, task }
}

/// Turns guard's "not me" reports and lockouts into triggers.
pub struct RespondObserver {
    pub triggers: Triggers,
    pub clock: Arc<dyn Clock>,
}

impl Observer for RespondObserver {
    fn challenge(&self, event: &ChallengeEvent) {
        if event.step == ChallengeStep::Decided(Resolution::NotMe) {
            self.triggers.send(Trigger::not_me(
                event.at,
                &event.login,
                event.device_id.as_deref().unwrap_or_default(),
            ));
        }
    }

    fn locked(&self, login: &str, reason: LockReason) {
        // A "not me" lock is answered by the not-me trigger itself.
        if reason != LockReason::NotMe {
            self.triggers
                .send(Trigger::lockout(self.clock.now(), login));
        }
    }
}

/// The webhook's dead letters, kept in the incident store.
pub struct StoredDeadLetters(pub Arc<dyn pushback_respond::IncidentStore>);

#[async_trait::async_trait]
impl pushback_connect::DeadLetters for StoredDeadLetters {
    async fn record(&self, letter: &pushback_connect::DeadLetter) {
        let record = pushback_respond::DeadLetterRecord {
            sink: format!("webhook {}", letter.destination),
            at: letter.failed_at,
            error: format!("{} attempt(s): {}", letter.attempts, letter.error),
            body: letter.body.clone(),
        };
        if let Err(e) = self.0.record_dead_letter(&record).await {
            // The letter is lost only if the database is down too; say so loudly.
            tracing::error!(sink = %record.sink, error = %e, "a dead letter could not be stored");
        }
    }
}
