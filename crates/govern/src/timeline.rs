//! The input of the accountability report: what happened in an incident, in order.
//!
//! `pushback report --timeline FILE` reads a [`Timeline`] from YAML or JSON. The
//! incident store (issue #4) is meant to build the same value from an incident in the
//! database and pass it to [`crate::accountability::report`]: one report function, two
//! ways in.

use serde::{Deserialize, Serialize};

use crate::date::Instant;
use crate::position::{PositionIndex, Step};
use crate::posture::Status;
use crate::registry::Registry;
use crate::registry::load::{Loader, ParseError, Problem};

/// One incident.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeline {
    /// The incident id (`INC-2026-0412`).
    pub incident: String,
    #[serde(default)]
    pub title: String,
    /// The account that was used.
    pub user: String,
    #[serde(default)]
    pub account: AccountKind,
    /// The registry application that was reached.
    pub app: String,
    /// The identity provider whose policy applied (`entra`, `okta`, `duo`, `pushback`).
    #[serde(default)]
    pub idp: String,
    /// At least one.
    #[serde(default)]
    pub events: Vec<Event>,
    /// Alerts and findings raised during the incident, and whether anyone acted.
    #[serde(default)]
    pub alerts: Vec<Alert>,
    /// Posture check results as they stood at incident time (from `pushback assess
    /// --output json` taken then, or from the store).
    #[serde(default)]
    pub posture: Vec<PostureAtIncident>,
    /// Controls that were in place and passing, and how they were got around.
    #[serde(default)]
    pub bypassed: Vec<Bypass>,
    /// When prompt volume should have raised an alert; default: 5 prompts in 10
    /// minutes (Elastic's push-bombing threshold, pushback's `push_flood` rule).
    #[serde(default)]
    pub threshold: Threshold,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountKind {
    #[default]
    Personal,
    /// Several people use it (and approve its prompts).
    Shared,
    /// A non-human identity someone signed in with.
    Service,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub at: Instant,
    pub kind: EventKind,
    /// Where it was seen: `okta`, `entra`, `duo`, `pushback`, `helpdesk-ticket`, `interview`.
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub detail: String,
    /// For a helpdesk reset: whether the caller's identity was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    PromptSent,
    PromptDenied,
    PromptTimeout,
    PromptApproved,
    /// A call or message from the attacker posing as IT or support.
    PretextContact,
    HelpdeskReset,
    FactorEnrolled,
    SignIn,
    PrivilegedAccess,
    PolicyChange,
    AlertRaised,
    AlertAcknowledged,
    Contained,
    Note,
}

impl EventKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PromptSent => "prompt-sent",
            Self::PromptDenied => "prompt-denied",
            Self::PromptTimeout => "prompt-timeout",
            Self::PromptApproved => "prompt-approved",
            Self::PretextContact => "pretext-contact",
            Self::HelpdeskReset => "helpdesk-reset",
            Self::FactorEnrolled => "factor-enrolled",
            Self::SignIn => "sign-in",
            Self::PrivilegedAccess => "privileged-access",
            Self::PolicyChange => "policy-change",
            Self::AlertRaised => "alert-raised",
            Self::AlertAcknowledged => "alert-acknowledged",
            Self::Contained => "contained",
            Self::Note => "note",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    pub id: String,
    #[serde(default)]
    pub rule: String,
    pub raised_at: Instant,
    pub acted_on: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acted_at: Option<Instant>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostureAtIncident {
    pub check: String,
    pub status: Status,
    #[serde(default)]
    pub evidence: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bypass {
    /// A registry control id.
    pub control: String,
    pub how: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub prompts: usize,
    pub window_secs: i64,
}

impl Default for Threshold {
    fn default() -> Self {
        Self {
            prompts: 5,
            window_secs: 600,
        }
    }
}

impl Timeline {
    /// Reads a timeline from YAML (JSON is YAML too): every problem at once, each with
    /// its line and column (events, alerts, posture and bypass entries are read one by
    /// one, so a bad one does not hide the next).
    pub fn parse(file: &str, text: &str) -> Result<Self, ParseError> {
        let mut top = Loader::document(file, text, "an incident timeline (a mapping)")?;
        let mut loader = Loader::new(file, text);
        let mut take = |key: &str| top.remove(key).unwrap_or(serde_norway::Value::Null);
        let (events, alerts, posture, bypassed) = (
            take("events"),
            take("alerts"),
            take("posture"),
            take("bypassed"),
        );
        let head: Option<Self> = loader.typed(&[], serde_norway::Value::Mapping(top));
        let mut events: Vec<Event> = loader.list("events", events);
        let alerts = loader.list("alerts", alerts);
        let posture = loader.list("posture", posture);
        let bypassed = loader.list("bypassed", bypassed);
        if events.is_empty() && loader.problems.is_empty() {
            loader.problem(
                &[Step::Key("events".into())],
                "events: an incident timeline needs at least one event",
            );
        }
        loader.finish()?;
        let mut timeline = head.expect("a head that failed to parse left a problem behind");
        events.sort_by_key(|e| e.at);
        timeline.events = events;
        timeline.alerts = alerts;
        timeline.posture = posture;
        timeline.bypassed = bypassed;
        Ok(timeline)
    }

    /// What this timeline names that `registry` does not know: the application, posture
    /// check ids and bypassed controls, each at its place in `text` (the document it was
    /// parsed from).
    pub fn unresolved(&self, file: &str, text: &str, registry: &Registry) -> Vec<Problem> {
        let index = PositionIndex::build(text);
        let key = |k: &str| Step::Key(k.to_owned());
        let mut out = Vec::new();
        let mut add = |path: Vec<Step>, message: String| {
            out.push(Problem {
                file: file.to_owned(),
                pos: index.find(&path),
                message,
            });
        };
        if registry.application(&self.app).is_none() {
            add(
                vec![key("app")],
                format!("app: no application `{}` in the registry", self.app),
            );
        }
        for (i, p) in self.posture.iter().enumerate() {
            if !crate::posture::CHECKS.iter().any(|c| c.id == p.check) {
                add(
                    vec![key("posture"), Step::Index(i), key("check")],
                    format!("posture[{i}].check: no posture check `{}`", p.check),
                );
            }
        }
        for (i, b) in self.bypassed.iter().enumerate() {
            if registry.control(&b.control).is_none() {
                add(
                    vec![key("bypassed"), Step::Index(i), key("control")],
                    format!(
                        "bypassed[{i}].control: no control `{}` in the registry",
                        b.control
                    ),
                );
            }
        }
        out
    }

    /// When the incident began: its first event.
    pub fn started(&self) -> Option<Instant> {
        self.events.first().map(|e| e.at)
    }

    pub fn has(&self, kind: EventKind) -> bool {
        self.events.iter().any(|e| e.kind == kind)
    }

    /// The first moment prompt volume reached the threshold, if it did: prompts sent,
    /// or (when the log has no sends) denied and unanswered prompts.
    pub fn threshold_crossed(&self) -> Option<Instant> {
        let sent: Vec<Instant> = self
            .events
            .iter()
            .filter(|e| e.kind == EventKind::PromptSent)
            .map(|e| e.at)
            .collect();
        let prompts = if sent.is_empty() {
            self.events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::PromptDenied | EventKind::PromptTimeout))
                .map(|e| e.at)
                .collect()
        } else {
            sent
        };
        let n = self.threshold.prompts.max(1);
        let window_ms = self.threshold.window_secs.saturating_mul(1000);
        prompts.windows(n).find_map(|w| {
            let (first, last) = (w[0], w[n - 1]);
            (last.0.millis() - first.0.millis() <= window_ms).then_some(last)
        })
    }
}
