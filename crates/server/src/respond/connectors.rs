//! The connectors as [`Actuator`]s: each identity provider revokes sessions and
//! suspends users, Graph also confirms a user compromised, and the webhook carries
//! `alert`. A connector retries transient failures itself (its `[connectors.*.retry]`);
//! the responder then retries what is still transient (its `[respond.retry]`), and
//! records every attempt it makes.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use pushback_connect::{
    ActionReceipt, ConnectorError, Connectors, Graph, IdentityProvider, Outcome, UserRef, Webhook,
};
use pushback_respond::{Action, ActionError, Actuator, Target};

/// Every actuator `connectors` offers.
pub fn actuators(connectors: &Connectors) -> Vec<Arc<dyn Actuator>> {
    let mut out: Vec<Arc<dyn Actuator>> = connectors
        .identity_providers()
        .into_iter()
        .map(|idp| Arc::new(IdpActuator(idp)) as Arc<dyn Actuator>)
        .collect();
    if let Some(graph) = &connectors.graph {
        out.push(Arc::new(CompromiseActuator(graph.clone())));
    }
    if let Some(hook) = &connectors.webhook {
        out.push(Arc::new(AlertActuator(hook.clone())));
    }
    out
}

fn failed(e: &ConnectorError) -> ActionError {
    ActionError {
        message: e.to_string(),
        retryable: e.is_transient(),
    }
}

fn receipt(r: &ActionReceipt) -> String {
    let outcome = match r.outcome {
        Outcome::Done => "done",
        Outcome::AlreadyDone => "already done",
    };
    match &r.vendor_id {
        Some(id) => format!("{outcome}, {} id {id}", r.connector),
        None => outcome.to_owned(),
    }
}

fn user(target: &Target) -> Result<UserRef, ActionError> {
    target
        .trigger
        .login
        .as_deref()
        .map(UserRef::new)
        .ok_or_else(|| ActionError::permanent("the trigger names no user"))
}

/// An identity provider: `revoke_sessions` (not Duo, whose Admin API has no session
/// call) and `suspend_user`.
pub struct IdpActuator(pub Arc<dyn IdentityProvider>);

#[async_trait]
impl Actuator for IdpActuator {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn handles(&self, action: &Action) -> bool {
        match action {
            Action::RevokeSessions => self.0.name() != "duo",
            Action::SuspendUser => true,
            _ => false,
        }
    }

    async fn perform(&self, action: &Action, target: &Target) -> Result<String, ActionError> {
        let who = user(target)?;
        let done = match action {
            Action::RevokeSessions => self.0.revoke_sessions(&who).await,
            Action::SuspendUser => self.0.suspend(&who).await,
            other => {
                return Err(ActionError::permanent(format!(
                    "{} does not {}",
                    self.0.name(),
                    other.name()
                )));
            }
        };
        done.map(|r| receipt(&r)).map_err(|e| failed(&e))
    }
}

/// Entra ID Identity Protection: confirm the user compromised.
pub struct CompromiseActuator(pub Graph);

#[async_trait]
impl Actuator for CompromiseActuator {
    fn name(&self) -> &str {
        "graph"
    }

    fn handles(&self, action: &Action) -> bool {
        *action == Action::ConfirmCompromised
    }

    async fn perform(&self, _action: &Action, target: &Target) -> Result<String, ActionError> {
        let who = user(target)?;
        self.0
            .confirm_compromised(&who)
            .await
            .map(|r| receipt(&r))
            .map_err(|e| failed(&e))
    }
}

/// The webhook: `alert` posts the incident, with the finding behind it as an OCSF
/// Detection Finding when there is one.
pub struct AlertActuator(pub Webhook);

#[async_trait]
impl Actuator for AlertActuator {
    fn name(&self) -> &str {
        "webhook"
    }

    fn handles(&self, action: &Action) -> bool {
        *action == Action::Alert
    }

    async fn perform(&self, _action: &Action, target: &Target) -> Result<String, ActionError> {
        let body = json!({
            "type": "pushback.incident",
            "incident": target.incident,
            "trigger": target.trigger.kind,
            "subject": target.trigger.subject(),
            "finding": target.trigger.finding.as_ref().map(pushback_connect::ocsf::detection_finding),
        });
        // The webhook retried on its own and recorded a dead letter before giving up.
        self.0
            .send(&body)
            .await
            .map(|()| "delivered".to_owned())
            .map_err(|dead| ActionError::permanent(dead.to_string()))
    }
}
