//! The fatigue policy, as pure functions over a user's counters.
//!
//! [`admit`] decides, before anything is sent, whether a push may go out. The `on_*`
//! methods of [`UserState`] apply what an outcome costs. The store runs both inside one
//! transaction per user, so counters change atomically and a new challenge never resets
//! them (NIST SP 800-63B-4).

use serde::Serialize;

use pushback_model::Timestamp;

use crate::PolicySettings;

/// Why push is locked for a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockReason {
    /// Too many explicit denies in the lockout window.
    Denies,
    /// The user reported a prompt they did not start.
    NotMe,
    /// The consecutive-failure cap was reached; only an admin unlocks.
    FailureCap,
    /// The response playbook locked it (after a "not me" or a detected flood).
    Response,
}

impl LockReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Denies => "denies",
            Self::NotMe => "not_me",
            Self::FailureCap => "failure_cap",
            Self::Response => "response",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "denies" => Some(Self::Denies),
            "not_me" => Some(Self::NotMe),
            "failure_cap" => Some(Self::FailureCap),
            "response" => Some(Self::Response),
            _ => None,
        }
    }
}

/// A lock that only an admin lifts.
pub const INDEFINITE: Timestamp = Timestamp::from_millis(i64::MAX);

/// A user's fatigue counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UserState {
    pub last_approval_at: Option<Timestamp>,
    /// Unanswered or denied prompts since the last approval; drives the backoff.
    pub backoff_level: u32,
    pub backoff_until: Option<Timestamp>,
    /// Consecutive failures since the last approval, capped at the policy's cap.
    pub failures: u32,
    pub locked_until: Option<Timestamp>,
    pub lock_reason: Option<LockReason>,
    /// When an admin last unlocked: prompts and denies before it no longer count.
    pub reset_at: Option<Timestamp>,
    /// Since when the response playbook requires a stronger factor than push; until an
    /// admin lifts it, every challenge request is answered `step_up_required`.
    pub step_up_since: Option<Timestamp>,
}

/// What the policy says about sending a push now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    Push,
    /// Backoff in force.
    Wait {
        until: Timestamp,
    },
    /// Push is locked.
    Locked {
        until: Timestamp,
        reason: LockReason,
    },
    /// The policy will not push; the app should use a stronger factor.
    StepUp {
        reason: StepUpReason,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepUpReason {
    /// The prompt budget since the last approval is spent.
    BudgetSpent,
    /// There is no device to push to (or no such user: the two look the same).
    PushUnavailable,
    /// The response playbook requires a stronger factor for this user until an admin
    /// lifts it.
    Required,
}

impl StepUpReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BudgetSpent => "budget_spent",
            Self::PushUnavailable => "push_unavailable",
            Self::Required => "required",
        }
    }
}

fn latest(a: Timestamp, others: [Option<Timestamp>; 2]) -> Timestamp {
    others.into_iter().flatten().fold(a, Ord::max)
}

impl UserState {
    /// Prompts created after this instant count against the budget.
    pub fn budget_since(&self, p: &PolicySettings, now: Timestamp) -> Timestamp {
        latest(
            now.minus_secs(p.budget_window_secs),
            [self.last_approval_at, self.reset_at],
        )
    }

    /// Denies decided after this instant count toward lockout.
    pub fn denies_since(&self, p: &PolicySettings, now: Timestamp) -> Timestamp {
        latest(now.minus_secs(p.lockout_window_secs), [self.reset_at, None])
    }

    pub fn locked_at(&self, now: Timestamp) -> Option<(Timestamp, LockReason)> {
        match (self.locked_until, self.lock_reason) {
            (Some(until), Some(reason)) if until > now => Some((until, reason)),
            _ => None,
        }
    }

    /// A prompt went unanswered: it expired, or a new one superseded it.
    pub fn on_unanswered(&mut self, p: &PolicySettings, at: Timestamp) {
        self.fail(p, at);
    }

    /// An explicit deny or a wrong code. `denies_in_window` counts this one too.
    pub fn on_denied(&mut self, p: &PolicySettings, at: Timestamp, denies_in_window: u32) {
        self.fail(p, at);
        if denies_in_window >= p.lockout_denies {
            self.lock(LockReason::Denies, at.plus_secs(p.lockout_secs));
        }
    }

    /// The user said the prompt was not theirs.
    pub fn on_not_me(&mut self, p: &PolicySettings, at: Timestamp) {
        self.fail(p, at);
        self.lock(LockReason::NotMe, at.plus_secs(p.not_me_lock_secs));
    }

    pub fn on_approved(&mut self, at: Timestamp) {
        self.last_approval_at = Some(at);
        self.backoff_level = 0;
        self.backoff_until = None;
        self.failures = 0;
    }

    /// An admin lifted the lock: counters start afresh.
    pub fn on_unlocked(&mut self, at: Timestamp) {
        // Unlocking lifts locks and counters, not a step-up requirement: that one is
        // lifted on its own, by an admin who has looked at the incident.
        *self = Self {
            last_approval_at: self.last_approval_at,
            reset_at: Some(at),
            step_up_since: self.step_up_since,
            ..Self::default()
        };
    }

    fn fail(&mut self, p: &PolicySettings, at: Timestamp) {
        self.failures = (self.failures + 1).min(p.failure_cap);
        self.backoff_level = self.backoff_level.saturating_add(1);
        self.backoff_until = Some(at.plus_secs(backoff_secs(p, self.backoff_level)));
        if self.failures >= p.failure_cap {
            self.lock(LockReason::FailureCap, INDEFINITE);
        }
    }

    /// The response playbook locks push until `until`. A lock already in force that
    /// lasts as long or longer stays, with its own reason.
    pub fn on_response_lock(&mut self, until: Timestamp) {
        if self.locked_until.is_none_or(|current| until > current) {
            self.lock(LockReason::Response, until);
        }
    }

    fn lock(&mut self, reason: LockReason, until: Timestamp) {
        let current = self
            .locked_until
            .unwrap_or(Timestamp::from_millis(i64::MIN));
        if until >= current {
            self.locked_until = Some(until);
            self.lock_reason = Some(reason);
        }
    }
}

/// The wait after the `level`-th consecutive unanswered or denied prompt.
pub fn backoff_secs(p: &PolicySettings, level: u32) -> i64 {
    let doublings = level.saturating_sub(1).min(40);
    p.backoff_initial_secs
        .saturating_mul(1i64 << doublings)
        .min(p.backoff_max_secs)
}

/// Whether a push may be sent now. `prompts_in_budget` counts prompts created since
/// [`UserState::budget_since`].
pub fn admit(
    state: &UserState,
    prompts_in_budget: u32,
    p: &PolicySettings,
    now: Timestamp,
) -> Admission {
    if let Some((until, reason)) = state.locked_at(now) {
        return Admission::Locked { until, reason };
    }
    if state.step_up_since.is_some() {
        return Admission::StepUp {
            reason: StepUpReason::Required,
        };
    }
    if let Some(until) = state.backoff_until.filter(|u| *u > now) {
        return Admission::Wait { until };
    }
    if prompts_in_budget >= p.budget_prompts {
        return Admission::StepUp {
            reason: StepUpReason::BudgetSpent,
        };
    }
    Admission::Push
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_000_000_000);

    #[test]
    fn backoff_doubles_from_ten_seconds_to_fifteen_minutes() {
        let p = PolicySettings::default();
        let waits: Vec<i64> = (1..=9).map(|l| backoff_secs(&p, l)).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 900, 900]);
        assert_eq!(backoff_secs(&p, u32::MAX), 900);
    }

    #[test]
    fn unanswered_prompts_back_off_but_never_lock_out() {
        let p = PolicySettings::default();
        let mut s = UserState::default();
        for i in 0..10 {
            s.on_unanswered(&p, T0.plus_secs(i * 1000));
        }
        assert_eq!(s.locked_at(T0.plus_secs(9000)), None);
        assert_eq!(s.backoff_until, Some(T0.plus_secs(9000 + 900)));
        assert_eq!(
            admit(&s, 0, &p, T0.plus_secs(9001)),
            Admission::Wait {
                until: T0.plus_secs(9900)
            }
        );
    }

    #[test]
    fn three_denies_lock_for_an_hour() {
        let p = PolicySettings::default();
        let mut s = UserState::default();
        s.on_denied(&p, T0, 1);
        s.on_denied(&p, T0.plus_secs(60), 2);
        assert_eq!(s.locked_at(T0.plus_secs(60)), None);
        s.on_denied(&p, T0.plus_secs(120), 3);
        assert_eq!(
            s.locked_at(T0.plus_secs(121)),
            Some((T0.plus_secs(120 + 3600), LockReason::Denies))
        );
        assert!(matches!(
            admit(&s, 0, &p, T0.plus_secs(200)),
            Admission::Locked { .. }
        ));
    }

    #[test]
    fn approval_resets_backoff_and_failures_and_opens_a_new_budget() {
        let p = PolicySettings::default();
        let mut s = UserState::default();
        s.on_denied(&p, T0, 1);
        s.on_approved(T0.plus_secs(30));
        assert_eq!(s.failures, 0);
        assert_eq!(s.backoff_until, None);
        assert_eq!(s.budget_since(&p, T0.plus_secs(40)), T0.plus_secs(30));
    }

    #[test]
    fn budget_is_spent_at_five_prompts() {
        let p = PolicySettings::default();
        let s = UserState::default();
        assert_eq!(admit(&s, 4, &p, T0), Admission::Push);
        assert_eq!(
            admit(&s, 5, &p, T0),
            Admission::StepUp {
                reason: StepUpReason::BudgetSpent
            }
        );
    }

    #[test]
    fn failure_cap_locks_until_an_admin_unlocks() {
        let p = PolicySettings {
            failure_cap: 100,
            ..PolicySettings::default()
        };
        let mut s = UserState::default();
        for i in 0..150 {
            s.on_unanswered(&p, T0.plus_secs(i));
        }
        assert_eq!(s.failures, 100);
        assert_eq!(
            s.locked_at(T0.plus_secs(10_000_000)).map(|l| l.1),
            Some(LockReason::FailureCap)
        );
        s.on_unlocked(T0.plus_secs(200));
        assert_eq!(s.locked_at(T0.plus_secs(201)), None);
        assert_eq!(s.failures, 0);
    }

    #[test]
    fn not_me_locks_for_a_day_and_a_shorter_lock_never_shortens_it() {
        let p = PolicySettings::default();
        let mut s = UserState::default();
        s.on_not_me(&p, T0);
        s.on_denied(&p, T0.plus_secs(1), 3);
        assert_eq!(
            s.locked_at(T0.plus_secs(2)),
            Some((T0.plus_secs(86_400), LockReason::NotMe))
        );
    }
}
