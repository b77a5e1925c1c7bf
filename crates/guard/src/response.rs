//! What the response playbook asks of the guard: lock a user's push, require a stronger
//! factor, freeze devices. Each is audited in the hash-chained log with the incident as
//! its actor, and an admin undoes each ([`Guard::unlock`], [`Guard::lift_step_up`],
//! [`Guard::unfreeze_device`]).

use std::time::Duration;

use pushback_model::Timestamp;

use crate::{Guard, GuardError, GuardResult};

impl Guard {
    /// Locks `login`'s push for `duration` (a longer lock in force stays); returns
    /// until when push is locked.
    pub async fn response_lock(
        &self,
        login: &str,
        duration: Duration,
        actor: &str,
    ) -> GuardResult<Timestamp> {
        let user = self.user(login).await?;
        let now = self.now();
        let secs = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        let state = self
            .store
            .response_lock(&user, now.plus_secs(secs), now, actor)
            .await?;
        state.locked_until.ok_or_else(|| {
            GuardError::Store(crate::store::StoreError::Backend(
                "a response lock left no lock in force".into(),
            ))
        })
    }

    /// Requires a stronger factor for `login` until an admin lifts it; false when one
    /// was already required.
    pub async fn require_step_up(&self, login: &str, actor: &str) -> GuardResult<bool> {
        let user = self.user(login).await?;
        Ok(self
            .store
            .set_step_up(&user, true, self.now(), actor)
            .await?)
    }

    /// Freezes `device` of `login`, or every live device of the user when `device` is
    /// `None`; how many were frozen now (0 when they already were).
    pub async fn freeze_devices(
        &self,
        login: &str,
        device: Option<&str>,
        actor: &str,
    ) -> GuardResult<u64> {
        let user = self.user(login).await?;
        Ok(self
            .store
            .freeze_devices(&user, device, self.now(), actor)
            .await?)
    }
}
