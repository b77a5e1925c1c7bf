//! The accountability report: for one incident, each control on the access path as it
//! stood at incident time, and who answers for what.
//!
//! Rules, applied in this order (a role named by several collects every reason):
//!
//! | what was found | who answers |
//! | --- | --- |
//! | a control failing, or absent from the path | the control's accountable role |
//! | a control excepted | the exception's risk owner and the approver's programme, plus the owners of failed compensating controls |
//! | an exception expired at incident time | as excepted, and GRC |
//! | prompts crossed the threshold with no alert, or an alert not acted on | security operations |
//! | a helpdesk reset without verification | the service desk |
//! | a shared or service account | the owner of the shared credential |
//! | privileged access on approve-only push | the identity programme |
//!
//! Governance defects of the registry are listed apart.

use std::collections::BTreeMap;

use serde::Serialize;

mod path;
use path::{classify, home_step, path};

use crate::date::{Day, Instant};
use crate::registry::{Control, Defect, Domain, Exception, Privilege, Registry, RoleKind, StepUp};
use crate::timeline::{AccountKind, Event, EventKind, Timeline};

/// A step of the access path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    User,
    App,
    IdpPolicy,
    Factor,
    Helpdesk,
    Privilege,
    Monitoring,
}

impl Step {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::App => "app",
            Self::IdpPolicy => "idp-policy",
            Self::Factor => "factor",
            Self::Helpdesk => "helpdesk",
            Self::Privilege => "privilege",
            Self::Monitoring => "monitoring",
        }
    }

    /// The posture checks that judge the controls of this step.
    const fn checks(self) -> &'static [&'static str] {
        match self {
            Self::User => &["no-dormant-accounts", "no-self-reenrolment", "fail-closed"],
            Self::App => &["app-step-up"],
            Self::IdpPolicy => &[
                "pr-mfa-all-users",
                "mfa-exclusions-excepted",
                "legacy-auth-blocked",
                "device-code-blocked",
                "risk-and-reporting",
            ],
            Self::Factor => &[
                "push-number-context",
                "weak-factors-off",
                "push-throttled",
                "pushback-challenge",
                "not-me-playbook",
            ],
            Self::Helpdesk => &["registration-protected"],
            Self::Privilege => &["pr-mfa-privileged", "privileged-approval"],
            Self::Monitoring => &["detection-active"],
        }
    }

    /// Who owns the step when no registry control covers it.
    const fn default_owner(self) -> RoleKind {
        match self {
            Self::App => RoleKind::ApplicationOwner,
            Self::Helpdesk => RoleKind::ServiceDesk,
            Self::Monitoring => RoleKind::SecurityOperations,
            _ => RoleKind::IdentityProgramme,
        }
    }
}

/// How a control stood when the incident happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControlState {
    /// No control covers this step of the path.
    Absent,
    Failing,
    /// An open exception covered it.
    Excepted,
    /// An exception covered it, but had expired.
    ExceptionExpired,
    /// Passing, and got around.
    PassingButBypassed,
    Passing,
    /// No posture result at incident time.
    NotAssessed,
}

impl ControlState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Absent => "absent",
            Self::Failing => "failing",
            Self::Excepted => "excepted",
            Self::ExceptionExpired => "exception expired",
            Self::PassingButBypassed => "passing but bypassed",
            Self::Passing => "passing",
            Self::NotAssessed => "not assessed",
        }
    }
}

/// One hop of the access path, in words.
#[derive(Clone, Debug, Serialize)]
pub struct PathStep {
    pub step: Step,
    pub what: String,
}

/// A control on the path, classified.
#[derive(Clone, Debug, Serialize)]
pub struct ControlAtIncident {
    pub step: Step,
    /// A registry control id, or `(none)` for an absent control.
    pub control: String,
    pub title: String,
    pub state: ControlState,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accountable: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    pub anchors: Vec<String>,
}

/// A role that answers for part of the incident.
#[derive(Clone, Debug, Serialize)]
pub struct OwnerEntry {
    pub role: String,
    pub title: String,
    pub parties: Vec<String>,
    /// Why, one clause per rule that named the role, joined by "; ".
    pub reason: String,
    pub controls: Vec<String>,
}

/// The report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub incident: String,
    pub title: String,
    pub user: String,
    pub account: AccountKind,
    pub app: String,
    pub occurred: Instant,
    pub timeline: Vec<Event>,
    pub path: Vec<PathStep>,
    pub controls: Vec<ControlAtIncident>,
    pub owners: Vec<OwnerEntry>,
    pub defects: Vec<Defect>,
    /// Framework references the findings rest on.
    pub anchors: Vec<String>,
}

#[derive(Default)]
struct Owners {
    by_role: BTreeMap<String, (Vec<String>, Vec<String>)>,
    order: Vec<String>,
}

impl Owners {
    fn add(&mut self, role: &str, reason: String, control: Option<&str>) {
        let entry = self.by_role.entry(role.to_owned()).or_insert_with(|| {
            self.order.push(role.to_owned());
            (Vec::new(), Vec::new())
        });
        if !entry.0.contains(&reason) {
            entry.0.push(reason);
        }
        if let Some(c) = control
            && !entry.1.iter().any(|x| x == c)
        {
            entry.1.push(c.to_owned());
        }
    }
}

/// Builds the accountability report of `timeline` against `registry`.
pub fn report(registry: &Registry, timeline: &Timeline) -> Report {
    let occurred = timeline
        .started()
        .unwrap_or(Instant(pushback_model::Timestamp::from_millis(0)));
    let day = Day::of(occurred.0);
    let app = registry.application(&timeline.app);
    let helpdesk = timeline.has(EventKind::HelpdeskReset);
    let privileged = timeline.has(EventKind::PrivilegedAccess)
        || app.is_some_and(|a| a.privilege == Privilege::Privileged);

    let mut steps = vec![Step::User, Step::App, Step::IdpPolicy, Step::Factor];
    if helpdesk {
        steps.push(Step::Helpdesk);
    }
    if privileged {
        steps.push(Step::Privilege);
    }
    steps.push(Step::Monitoring);

    let mut controls = Vec::new();
    let mut owners = Owners::default();
    for step in steps.iter().copied() {
        let on_step: Vec<&Control> = if step == Step::App {
            // The app step is the incident app's own step-up control(s): app-step-up
            // controls its owner is accountable for.
            registry
                .doc
                .controls
                .iter()
                .filter(|c| c.domain == Domain::AppStepUp)
                .filter(|c| app.is_some_and(|a| c.raci.accountable == [a.owner.clone()]))
                .collect()
        } else {
            registry
                .doc
                .controls
                .iter()
                .filter(|c| c.domain != Domain::AppStepUp && home_step(c) == Some(step))
                .collect()
        };
        if on_step.is_empty() && step != Step::User {
            let role = match step {
                Step::App => app.map(|a| a.owner.clone()),
                _ => None,
            }
            .or_else(|| {
                registry
                    .role_of_kind(step.default_owner())
                    .map(|r| r.id.clone())
            });
            let detail = format!(
                "no registry control covers the {} step ({})",
                step.as_str(),
                step.checks().join(", ")
            );
            if let Some(role) = &role {
                owners.add(
                    role,
                    format!("no control on the {} step (absent)", step.as_str()),
                    None,
                );
            }
            controls.push(ControlAtIncident {
                step,
                control: "(none)".into(),
                title: format!("control for the {} step", step.as_str()),
                state: ControlState::Absent,
                detail,
                accountable: role,
                exception: None,
                anchors: Vec::new(),
            });
        }
        for control in on_step {
            controls.push(classify(registry, timeline, day, step, control));
        }
    }

    // Attribution by state.
    for c in &controls {
        if c.control == "(none)" {
            continue;
        }
        let accountable = c.accountable.clone();
        match c.state {
            ControlState::Failing => {
                if let Some(role) = &accountable {
                    owners.add(
                        role,
                        format!("control {} was failing", c.control),
                        Some(&c.control),
                    );
                }
            }
            ControlState::Excepted | ControlState::ExceptionExpired => {
                let Some(x) = c
                    .exception
                    .as_deref()
                    .and_then(|id| registry.doc.exceptions.iter().find(|e| e.id == id))
                else {
                    continue;
                };
                attribute_exception(registry, &controls, c, x, &mut owners);
            }
            ControlState::PassingButBypassed => {
                if let Some(role) = &accountable {
                    owners.add(
                        role,
                        format!(
                            "control {} passed but was bypassed: {}",
                            c.control, c.detail
                        ),
                        Some(&c.control),
                    );
                }
            }
            _ => {}
        }
    }

    // Detection and response.
    if let Some(role) = registry.role_of_kind(RoleKind::SecurityOperations) {
        if let Some(at) = timeline.threshold_crossed() {
            let alerted =
                timeline.alerts.iter().any(|a| {
                    a.raised_at >= Instant(at.0.minus_secs(timeline.threshold.window_secs))
                }) || timeline.has(EventKind::AlertRaised);
            if !alerted {
                owners.add(
                    &role.id,
                    format!(
                        "{} prompts within {} s by {at} raised no alert",
                        timeline.threshold.prompts, timeline.threshold.window_secs
                    ),
                    None,
                );
            }
        }
        for alert in timeline.alerts.iter().filter(|a| !a.acted_on) {
            owners.add(
                &role.id,
                format!(
                    "alert {} ({}) raised at {} was not acted on",
                    alert.id, alert.rule, alert.raised_at
                ),
                None,
            );
        }
    }
    // Helpdesk resets without verification.
    for reset in timeline
        .events
        .iter()
        .filter(|e| e.kind == EventKind::HelpdeskReset && e.verified != Some(true))
    {
        let role = registry
            .doc
            .controls
            .iter()
            .find(|c| c.domain == crate::registry::Domain::ServiceDesk)
            .and_then(|c| registry.accountable(c).map(str::to_owned))
            .or_else(|| {
                registry
                    .role_of_kind(RoleKind::ServiceDesk)
                    .map(|r| r.id.clone())
            });
        if let Some(role) = role {
            owners.add(
                &role,
                format!(
                    "helpdesk reset at {} without verifying the caller",
                    reset.at
                ),
                None,
            );
        }
    }
    // Shared credentials.
    if timeline.account != AccountKind::Personal
        && let Some(app) = app
    {
        let role = app
            .shared_accounts
            .iter()
            .find(|s| s.account.eq_ignore_ascii_case(&timeline.user))
            .and_then(|s| s.owner.clone())
            .unwrap_or_else(|| app.owner.clone());
        owners.add(
                &role,
                format!(
                    "owns the shared credential {} (several people approve its prompts, so none can tell a rogue one)",
                    timeline.user
                ),
                None,
            );
    }
    // Privileged access on approve-only push.
    if privileged
        && app.is_some_and(|a| a.step_up == Some(StepUp::PushApproveOnly))
        && let Some(role) = registry.role_of_kind(RoleKind::IdentityProgramme)
    {
        owners.add(
            &role.id,
            format!(
                "privileged access to {} rested on approve-only push",
                timeline.app
            ),
            None,
        );
    }

    let owners = owners
        .order
        .iter()
        .filter_map(|role| {
            let (reasons, controls) = owners.by_role.get(role)?;
            Some(OwnerEntry {
                role: role.clone(),
                title: registry
                    .role(role)
                    .map_or_else(String::new, |r| r.title.clone()),
                parties: registry.staff(role).to_vec(),
                reason: reasons.join("; "),
                controls: controls.clone(),
            })
        })
        .collect();

    let mut anchors: Vec<String> = vec!["T1621".into()];
    for c in &controls {
        if matches!(c.state, ControlState::Passing | ControlState::NotAssessed) {
            continue;
        }
        let excepted = matches!(
            c.state,
            ControlState::Excepted | ControlState::ExceptionExpired
        );
        let governance = if excepted {
            crate::framework::check_anchors("exception-hygiene")
        } else {
            &[]
        };
        for a in c.anchors.iter().chain(governance) {
            if !anchors.contains(a) {
                anchors.push(a.clone());
            }
        }
    }

    Report {
        incident: timeline.incident.clone(),
        title: timeline.title.clone(),
        user: timeline.user.clone(),
        account: timeline.account,
        app: timeline.app.clone(),
        occurred,
        timeline: timeline.events.clone(),
        path: path(registry, timeline, &steps),
        controls,
        owners,
        defects: registry.defects(day),
        anchors,
    }
}

fn attribute_exception(
    registry: &Registry,
    controls: &[ControlAtIncident],
    c: &ControlAtIncident,
    x: &Exception,
    owners: &mut Owners,
) {
    let expired = c.state == ControlState::ExceptionExpired;
    let how = if expired { "expired" } else { "open" };
    if let Some(risk) = registry.risk_owner(x) {
        owners.add(
            &risk,
            format!("risk owner of {how} exception {} on {}", x.id, c.control),
            Some(&c.control),
        );
    }
    if let Some(approver) = &x.approved_by {
        let roles = registry.roles_of(approver);
        // The approving programme: the approver's GRC or identity role, else any.
        let programme = roles
            .iter()
            .find(|r| matches!(r.kind, RoleKind::GrcRiskOwner | RoleKind::IdentityProgramme))
            .or_else(|| roles.first());
        if let Some(role) = programme {
            owners.add(
                &role.id,
                format!("approved exception {} ({approver})", x.id),
                Some(&c.control),
            );
        }
    }
    for comp in &x.compensating_controls {
        let failed = controls.iter().find(|o| {
            o.control == *comp
                && matches!(
                    o.state,
                    ControlState::Failing
                        | ControlState::PassingButBypassed
                        | ControlState::ExceptionExpired
                )
        });
        if let Some(o) = failed
            && let Some(role) = &o.accountable
        {
            owners.add(
                role,
                format!(
                    "compensating control {comp} of exception {} was {}",
                    x.id,
                    o.state.as_str()
                ),
                Some(comp),
            );
        }
    }
    if expired && let Some(grc) = registry.role_of_kind(RoleKind::GrcRiskOwner) {
        owners.add(
            &grc.id,
            format!(
                "exception {} expired on {} and was neither renewed nor closed",
                x.id,
                x.expires.map_or("(no date)".to_owned(), |d| d.to_string())
            ),
            Some(&c.control),
        );
    }
}
