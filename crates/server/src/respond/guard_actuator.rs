//! The guard as an [`Actuator`]: locks push, requires step-up and freezes devices, with
//! the incident as the audit log's actor.

use std::sync::Arc;

use async_trait::async_trait;

use pushback_guard::{Guard, GuardError};
use pushback_respond::{Action, ActionError, Actuator, Target};

pub struct GuardActuator(pub Arc<Guard>);

fn failed(e: GuardError) -> ActionError {
    match e {
        GuardError::NotFound => ActionError::permanent("no such user in guard"),
        GuardError::Store(e) => ActionError::retryable(format!("guard's store: {e}")),
        other => ActionError::permanent(other.to_string()),
    }
}

#[async_trait]
impl Actuator for GuardActuator {
    fn name(&self) -> &str {
        "guard"
    }

    fn handles(&self, action: &Action) -> bool {
        matches!(
            action,
            Action::LockPush(_) | Action::RequireStepUp | Action::FreezeDevice
        )
    }

    async fn perform(&self, action: &Action, target: &Target) -> Result<String, ActionError> {
        let login = target
            .trigger
            .login
            .as_deref()
            .ok_or_else(|| ActionError::permanent("the trigger names no user"))?;
        let actor = format!("respond:{}", target.incident.id);
        let guard = &self.0;
        match action {
            Action::LockPush(duration) => {
                let until = guard
                    .response_lock(login, *duration, &actor)
                    .await
                    .map_err(failed)?;
                Ok(format!("push locked until {}", until.to_rfc3339()))
            }
            Action::RequireStepUp => Ok(
                match guard.require_step_up(login, &actor).await.map_err(failed)? {
                    true => "step-up required".into(),
                    false => "step-up was already required".into(),
                },
            ),
            Action::FreezeDevice => {
                let device = target
                    .trigger
                    .device_id
                    .as_deref()
                    .filter(|d| !d.is_empty());
                let n = guard
                    .freeze_devices(login, device, &actor)
                    .await
                    .map_err(failed)?;
                Ok(format!("{n} device(s) frozen"))
            }
            other => Err(ActionError::permanent(format!(
                "guard does not {}",
                other.name()
            ))),
        }
    }
}
