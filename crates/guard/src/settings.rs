//! The guard's settings: the `[challenge]` and `[policy]` tables of `pushback.toml`.
//! Doc comments here are the reference; defaults live in one place, the `Default` impls.

use serde::{Deserialize, Serialize};

use crate::code::CodeMode;

/// Both tables together.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardSettings {
    pub challenge: ChallengeSettings,
    pub policy: PolicySettings,
}

/// How challenges are issued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChallengeSettings {
    /// `code`: the login screen shows a code that the user types on the device (code
    /// transfer, NIST SP 800-63B-4 §3.1.3). `pick3`: the login screen shows a number and
    /// the device offers three to pick from (compatibility; weaker: a blind guess wins
    /// one time in three). An app client may override this.
    pub mode: CodeMode,
    /// Digits in a transfer code; 6 to 10 (NIST SP 800-63B-4 asks for at least 6).
    pub code_digits: u32,
    /// Lifetime of a challenge when the app does not ask for one, in seconds.
    pub default_expiry_secs: i64,
    /// Longest lifetime an app may ask for, in seconds (at most 600: NIST's 10 minutes).
    pub max_expiry_secs: i64,
}

impl Default for ChallengeSettings {
    fn default() -> Self {
        Self {
            mode: CodeMode::Code,
            code_digits: 6,
            default_expiry_secs: 120,
            max_expiry_secs: 600,
        }
    }
}

/// The fatigue policy: when a push may be sent at all, and what a failure costs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySettings {
    /// Prompts allowed since the last approval within the rolling budget window; past
    /// it the answer is `step_up_required` (NIST SP 800-63B-4: cap pushes since the last
    /// success).
    pub budget_prompts: u32,
    /// The rolling budget window, in seconds.
    pub budget_window_secs: i64,
    /// Wait imposed after the first unanswered or denied prompt, in seconds; it doubles
    /// with each further one and resets on approval.
    pub backoff_initial_secs: i64,
    /// Longest backoff wait, in seconds.
    pub backoff_max_secs: i64,
    /// Explicit denies (a wrong code counts as one) within `lockout_window_secs` that
    /// lock push for the user. Timeouts never count here.
    pub lockout_denies: u32,
    /// Window in which denies are counted, in seconds.
    pub lockout_window_secs: i64,
    /// How long push stays locked after too many denies, in seconds.
    pub lockout_secs: i64,
    /// Consecutive failures (denies, wrong codes, timeouts, "not me") after which push
    /// is locked until an admin unlocks it. NIST SP 800-63B-4 caps this at 100.
    pub failure_cap: u32,
    /// How long push stays locked after the user reports "not me", in seconds.
    pub not_me_lock_secs: i64,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            budget_prompts: 5,
            budget_window_secs: 3600,
            backoff_initial_secs: 10,
            backoff_max_secs: 900,
            lockout_denies: 3,
            lockout_window_secs: 900,
            lockout_secs: 3600,
            failure_cap: 100,
            not_me_lock_secs: 86_400,
        }
    }
}

/// A setting outside what pushback will run with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid setting `{field}`: {why}")]
pub struct InvalidSetting {
    pub field: &'static str,
    pub why: &'static str,
}

impl GuardSettings {
    /// Refuses settings that would weaken the service below its guarantees.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let c = &self.challenge;
        let p = &self.policy;
        let checks: [(bool, &'static str, &'static str); 10] = [
            (
                (6..=10).contains(&c.code_digits),
                "challenge.code_digits",
                "must be 6 to 10",
            ),
            (
                (1..=600).contains(&c.max_expiry_secs),
                "challenge.max_expiry_secs",
                "must be 1 to 600 (10 minutes)",
            ),
            (
                (1..=c.max_expiry_secs).contains(&c.default_expiry_secs),
                "challenge.default_expiry_secs",
                "must be 1 to max_expiry_secs",
            ),
            (
                p.budget_prompts >= 1,
                "policy.budget_prompts",
                "must be at least 1",
            ),
            (
                p.budget_window_secs >= 1,
                "policy.budget_window_secs",
                "must be positive",
            ),
            (
                (1..=p.backoff_max_secs).contains(&p.backoff_initial_secs),
                "policy.backoff_initial_secs",
                "must be 1 to backoff_max_secs",
            ),
            (
                p.lockout_denies >= 1 && p.lockout_window_secs >= 1,
                "policy.lockout_denies",
                "lockout_denies and lockout_window_secs must be positive",
            ),
            (
                p.lockout_secs >= 1,
                "policy.lockout_secs",
                "must be positive",
            ),
            (
                (1..=100).contains(&p.failure_cap),
                "policy.failure_cap",
                "must be 1 to 100 (NIST SP 800-63B-4)",
            ),
            (
                p.not_me_lock_secs >= 1,
                "policy.not_me_lock_secs",
                "must be positive",
            ),
        ];
        for (ok, field, why) in checks {
            if !ok {
                return Err(InvalidSetting { field, why });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_documented_policy() {
        let s = GuardSettings::default();
        s.validate().expect("defaults must be valid");
        assert_eq!(s.policy.budget_prompts, 5);
        assert_eq!(s.policy.backoff_max_secs, 15 * 60);
        assert_eq!(s.challenge.default_expiry_secs, 120);
    }

    #[test]
    fn weakening_settings_are_refused() {
        let mut s = GuardSettings::default();
        s.challenge.code_digits = 4;
        assert_eq!(
            s.validate().expect_err("4 digits").field,
            "challenge.code_digits"
        );
        let mut s = GuardSettings::default();
        s.challenge.max_expiry_secs = 601;
        assert!(s.validate().is_err());
        let mut s = GuardSettings::default();
        s.policy.failure_cap = 101;
        assert!(s.validate().is_err());
    }
}
