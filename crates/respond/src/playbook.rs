//! The playbook: which [`Trigger`]s lead to which [`Action`]s. It is data (the
//! `[[respond.playbook]]` entries of `pushback.toml`); [`Playbook::plan`] is a pure
//! function from a trigger to what should happen.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use pushback_model::{Finding, Severity, Timestamp};

/// What happened, as the playbook sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub kind: TriggerKind,
    pub at: Timestamp,
    /// The user it is about, when there is one (a spray grouped by address has none).
    pub login: Option<String>,
    /// The device that reported "not me".
    pub device_id: Option<String>,
    /// The watch finding behind it.
    pub finding: Option<Finding>,
}

/// The kinds of trigger a playbook entry can match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// A user answered a guard prompt with "not me".
    NotMe,
    /// guard locked a user's push after repeated denies.
    Lockout,
    /// watch reported a finding.
    Finding,
}

/// What the `guard` key of a playbook entry's `when` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardTrigger {
    NotMe,
    Lockout,
}

impl Trigger {
    pub fn not_me(at: Timestamp, login: &str, device_id: &str) -> Self {
        Self {
            kind: TriggerKind::NotMe,
            at,
            login: Some(login.to_owned()),
            device_id: Some(device_id.to_owned()),
            finding: None,
        }
    }

    pub fn lockout(at: Timestamp, login: &str) -> Self {
        Self {
            kind: TriggerKind::Lockout,
            at,
            login: Some(login.to_owned()),
            device_id: None,
            finding: None,
        }
    }

    pub fn finding(at: Timestamp, finding: Finding) -> Self {
        Self {
            kind: TriggerKind::Finding,
            at,
            login: finding.user.clone(),
            device_id: None,
            finding: Some(finding),
        }
    }

    /// How bad this is when no playbook entry says otherwise.
    pub fn severity(&self) -> Severity {
        match (&self.kind, &self.finding) {
            (TriggerKind::NotMe, _) => Severity::Critical,
            (TriggerKind::Lockout, _) => Severity::Medium,
            (TriggerKind::Finding, Some(f)) => f.severity,
            (TriggerKind::Finding, None) => Severity::Medium,
        }
    }

    /// Who or what the response is about: the user, else the finding's group
    /// (`src_ip=203.0.113.9`), else its rule.
    pub fn subject(&self) -> String {
        if let Some(login) = &self.login {
            return login.clone();
        }
        match &self.finding {
            Some(f) if !f.group.is_empty() => f
                .group
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            Some(f) => format!("rule={}", f.rule_id),
            None => "unknown".into(),
        }
    }

    /// One line for a timeline.
    pub fn summary(&self) -> String {
        match (&self.kind, &self.finding) {
            (TriggerKind::NotMe, _) => "the user reported a prompt as not theirs".into(),
            (TriggerKind::Lockout, _) => "push was locked after repeated denies".into(),
            (TriggerKind::Finding, Some(f)) => {
                format!("{} ({}, {} events)", f.title, f.rule_id, f.event_count)
            }
            (TriggerKind::Finding, None) => "a finding".into(),
        }
    }
}

/// One thing the playbook can do. In TOML an action without a parameter is a string
/// (`"revoke_sessions"`), one with a parameter a one-key table (`{ lock_push = "24h" }`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Lock the user's push in guard for this long.
    LockPush(#[serde(with = "pushback_model::duration::text")] Duration),
    /// guard answers `step_up_required` for the user until an admin lifts it.
    RequireStepUp,
    /// Freeze the device that reported "not me" (or all of the user's devices when the
    /// trigger names none) until an admin unfreezes it.
    FreezeDevice,
    /// Revoke the user's sessions at every configured identity provider.
    RevokeSessions,
    /// Suspend (Okta), disable (Entra ID) or lock (Duo) the user at every configured
    /// identity provider.
    SuspendUser,
    /// Confirm the user compromised in Entra ID Identity Protection.
    ConfirmCompromised,
    /// Post the incident to every configured webhook.
    Alert,
    /// Open an incident of this severity (or raise the user's open one to it).
    OpenIncident(Severity),
}

impl Action {
    /// The action's name as the configuration writes it, and as timelines show it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::LockPush(_) => "lock_push",
            Self::RequireStepUp => "require_step_up",
            Self::FreezeDevice => "freeze_device",
            Self::RevokeSessions => "revoke_sessions",
            Self::SuspendUser => "suspend_user",
            Self::ConfirmCompromised => "confirm_compromised",
            Self::Alert => "alert",
            Self::OpenIncident(_) => "open_incident",
        }
    }

    /// Whether the action needs a user to act on.
    pub fn needs_user(&self) -> bool {
        !matches!(self, Self::Alert | Self::OpenIncident(_))
    }
}

/// Which triggers a playbook entry answers. Every key given must match; at least one is
/// required.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// A guard event: `not_me` or `lockout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<GuardTrigger>,
    /// Findings of these rules (by rule name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Findings of at least this severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
}

impl When {
    fn matches(&self, t: &Trigger) -> bool {
        let guard = match (self.guard, t.kind) {
            (None, _) => true,
            (Some(GuardTrigger::NotMe), TriggerKind::NotMe) => true,
            (Some(GuardTrigger::Lockout), TriggerKind::Lockout) => true,
            (Some(_), _) => false,
        };
        let finding = t.finding.as_ref();
        let rules =
            self.rules.is_empty() || finding.is_some_and(|f| self.rules.contains(&f.rule_id));
        let severity = self
            .min_severity
            .is_none_or(|min| finding.is_some_and(|f| f.severity >= min));
        guard && rules && severity
    }

    fn is_empty(&self) -> bool {
        self.guard.is_none() && self.rules.is_empty() && self.min_severity.is_none()
    }
}

/// One `[[respond.playbook]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// A name for timelines and logs.
    pub name: String,
    pub when: When,
    pub actions: Vec<Action>,
}

/// What a trigger calls for: every matching entry's actions, each once, in the order
/// first named.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The entries that matched.
    pub entries: Vec<String>,
    /// The actions, without `OpenIncident` (see `incident`).
    pub actions: Vec<Action>,
    /// The severity of the incident to open or raise, when an entry asks for one.
    pub incident: Option<Severity>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.incident.is_none()
    }
}

/// A playbook entry that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlaybookError {
    /// The entry matches nothing in particular, so it would match everything.
    #[error("playbook entry {0:?}: `when` needs `guard`, `rules` or `min_severity`")]
    EmptyWhen(String),
    /// The entry does nothing.
    #[error("playbook entry {0:?} has no actions")]
    NoActions(String),
    /// Two entries share a name.
    #[error("two playbook entries are named {0:?}")]
    DuplicateName(String),
}

/// The validated playbook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Playbook {
    entries: Vec<Entry>,
}

impl Playbook {
    pub fn new(entries: Vec<Entry>) -> Result<Self, PlaybookError> {
        let mut names = std::collections::HashSet::new();
        for e in &entries {
            if e.when.is_empty() {
                return Err(PlaybookError::EmptyWhen(e.name.clone()));
            }
            if e.actions.is_empty() {
                return Err(PlaybookError::NoActions(e.name.clone()));
            }
            if !names.insert(e.name.as_str()) {
                return Err(PlaybookError::DuplicateName(e.name.clone()));
            }
        }
        Ok(Self { entries })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// What `trigger` calls for.
    pub fn plan(&self, trigger: &Trigger) -> Plan {
        let mut plan = Plan::default();
        for entry in self.entries.iter().filter(|e| e.when.matches(trigger)) {
            plan.entries.push(entry.name.clone());
            for action in &entry.actions {
                match action {
                    Action::OpenIncident(s) => {
                        plan.incident = Some(plan.incident.map_or(*s, |had| had.max(*s)));
                    }
                    a => match plan.actions.iter_mut().find(|had| had.name() == a.name()) {
                        // The same action twice: once, with the longer lock.
                        Some(Action::LockPush(had)) => {
                            if let Action::LockPush(new) = a {
                                *had = (*had).max(*new);
                            }
                        }
                        Some(_) => {}
                        None => plan.actions.push(a.clone()),
                    },
                }
            }
        }
        if trigger.login.is_none() {
            plan.actions.retain(|a| !a.needs_user());
        }
        plan
    }
}

/// The playbook pushback ships with: the defaults, written out in
/// `pushback config default`.
pub fn default_entries() -> Vec<Entry> {
    let day = Duration::from_secs(24 * 3_600);
    let entry = |name: &str, when: When, actions: Vec<Action>| Entry {
        name: name.into(),
        when,
        actions,
    };
    let rules = |names: &[&str]| When {
        rules: names.iter().map(|s| (*s).to_owned()).collect(),
        ..When::default()
    };
    vec![
        entry(
            "not-me",
            When {
                guard: Some(GuardTrigger::NotMe),
                ..When::default()
            },
            vec![
                Action::LockPush(day),
                Action::RevokeSessions,
                Action::OpenIncident(Severity::Critical),
            ],
        ),
        entry(
            "flood-then-success",
            rules(&["push_flood_then_success", "user_reported_fraud"]),
            vec![
                Action::LockPush(day),
                Action::RevokeSessions,
                Action::OpenIncident(Severity::Critical),
            ],
        ),
        entry(
            "flood",
            rules(&["push_flood", "push_flood_unanswered", "session_push_volume"]),
            vec![Action::RequireStepUp, Action::OpenIncident(Severity::High)],
        ),
        entry(
            "spray",
            rules(&["push_spray", "push_spray_net24"]),
            vec![Action::OpenIncident(Severity::High), Action::Alert],
        ),
        entry(
            "lockout",
            When {
                guard: Some(GuardTrigger::Lockout),
                ..When::default()
            },
            vec![Action::OpenIncident(Severity::Medium)],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &str, severity: Severity, user: Option<&str>) -> Finding {
        Finding {
            rule_id: rule.into(),
            title: rule.into(),
            severity,
            user: user.map(String::from),
            source: None,
            window_start: Timestamp::from_millis(0),
            window_end: Timestamp::from_millis(1),
            event_count: 5,
            event_ids: Vec::new(),
            event_ids_truncated: false,
            group: vec![("src_ip".into(), "203.0.113.9".into())],
            distinct: None,
            tags: Vec::new(),
        }
    }

    fn playbook() -> Playbook {
        Playbook::new(default_entries()).expect("the defaults are valid")
    }

    #[test]
    fn not_me_locks_for_a_day_revokes_and_opens_a_critical_incident() {
        let plan = playbook().plan(&Trigger::not_me(Timestamp::from_millis(0), "alice", "d1"));
        assert_eq!(plan.entries, ["not-me"]);
        assert_eq!(
            plan.actions,
            [
                Action::LockPush(Duration::from_secs(86_400)),
                Action::RevokeSessions
            ]
        );
        assert_eq!(plan.incident, Some(Severity::Critical));
    }

    #[test]
    fn a_flood_asks_for_step_up_and_a_high_incident() {
        let t = Trigger::finding(
            Timestamp::from_millis(0),
            finding("push_flood", Severity::High, Some("bob")),
        );
        let plan = playbook().plan(&t);
        assert_eq!(plan.actions, [Action::RequireStepUp]);
        assert_eq!(plan.incident, Some(Severity::High));
        assert_eq!(t.subject(), "bob");
    }

    #[test]
    fn a_spray_without_a_user_alerts_and_is_about_its_address() {
        let t = Trigger::finding(
            Timestamp::from_millis(0),
            finding("push_spray", Severity::High, None),
        );
        let plan = playbook().plan(&t);
        assert_eq!(plan.actions, [Action::Alert]);
        assert_eq!(t.subject(), "src_ip=203.0.113.9");
    }

    #[test]
    fn overlapping_entries_merge_actions_keep_the_longest_lock_and_the_worst_severity() {
        let mut entries = default_entries();
        entries.push(Entry {
            name: "any-high".into(),
            when: When {
                min_severity: Some(Severity::High),
                ..When::default()
            },
            actions: vec![
                Action::LockPush(Duration::from_secs(7 * 86_400)),
                Action::RevokeSessions,
                Action::OpenIncident(Severity::Medium),
            ],
        });
        let pb = Playbook::new(entries).expect("valid");
        let t = Trigger::finding(
            Timestamp::from_millis(0),
            finding("push_flood_then_success", Severity::Critical, Some("carol")),
        );
        let plan = pb.plan(&t);
        assert_eq!(plan.entries, ["flood-then-success", "any-high"]);
        assert_eq!(
            plan.actions,
            [
                Action::LockPush(Duration::from_secs(7 * 86_400)),
                Action::RevokeSessions
            ]
        );
        assert_eq!(plan.incident, Some(Severity::Critical));
        // Below the threshold, the extra entry stays quiet.
        let low = Trigger::finding(
            Timestamp::from_millis(0),
            finding("push_denial", Severity::Low, Some("carol")),
        );
        assert!(pb.plan(&low).is_empty());
    }

    #[test]
    fn entries_that_cannot_work_are_refused() {
        let bad = |when: When, actions: Vec<Action>| {
            Playbook::new(vec![Entry {
                name: "x".into(),
                when,
                actions,
            }])
        };
        assert_eq!(
            bad(When::default(), vec![Action::Alert]),
            Err(PlaybookError::EmptyWhen("x".into()))
        );
        let when = When {
            guard: Some(GuardTrigger::NotMe),
            ..When::default()
        };
        assert_eq!(
            bad(when, Vec::new()),
            Err(PlaybookError::NoActions("x".into()))
        );
        let mut twice = default_entries();
        twice.push(twice[0].clone());
        assert_eq!(
            Playbook::new(twice),
            Err(PlaybookError::DuplicateName("not-me".into()))
        );
    }
}
