//! The access path: which step each control sits on, how a control stood at incident
//! time, and the path in words.

use super::{ControlAtIncident, ControlState, PathStep, Step};
use crate::date::Day;
use crate::posture::Status;
use crate::registry::{Control, Domain, Privilege, Registry, Standing, StepUp};
use crate::timeline::{AccountKind, Event, EventKind, Timeline};

/// The step a control belongs to: where most of its checks sit (the first listed wins
/// a tie), else where its domain puts it. Governance controls sit on no step.
pub(super) fn home_step(control: &Control) -> Option<Step> {
    const STEPS: [Step; 7] = [
        Step::User,
        Step::App,
        Step::IdpPolicy,
        Step::Factor,
        Step::Helpdesk,
        Step::Privilege,
        Step::Monitoring,
    ];
    let step_of = |check: &str| STEPS.iter().copied().find(|s| s.checks().contains(&check));
    let mut best: Option<(usize, Step)> = None;
    for check in &control.checks {
        let Some(step) = step_of(check) else { continue };
        let count = control
            .checks
            .iter()
            .filter(|k| step_of(k) == Some(step))
            .count();
        if best.is_none_or(|(n, _)| count > n) {
            best = Some((count, step));
        }
    }
    best.map(|(_, s)| s).or(match control.domain {
        Domain::IdentityPolicy => Some(Step::IdpPolicy),
        Domain::AppStepUp => Some(Step::App),
        Domain::DetectionResponse => Some(Step::Monitoring),
        Domain::ServiceDesk => Some(Step::Helpdesk),
        Domain::PrivilegedAccess => Some(Step::Privilege),
        Domain::Governance => None,
    })
}

/// How `control` stood on `day`, for this incident's app and user.
pub(super) fn classify(
    registry: &Registry,
    timeline: &Timeline,
    day: Day,
    step: Step,
    control: &Control,
) -> ControlAtIncident {
    let subjects = [timeline.app.as_str(), timeline.user.as_str()];
    let exception = registry.doc.exceptions.iter().find(|x| {
        x.standing(day) != Standing::NotInForce
            && subjects.iter().any(|s| x.covers(&control.id, Some(s)))
    });
    let posture: Vec<_> = timeline
        .posture
        .iter()
        .filter(|p| control.checks.contains(&p.check))
        .collect();
    // The app step is judged from the registry: posture evidence covers every app.
    let failing = posture
        .iter()
        .find(|p| p.status == Status::Fail)
        .filter(|_| step != Step::App);
    let bypass = timeline.bypassed.iter().find(|b| b.control == control.id);
    let approved_after_pretext = step == Step::Factor
        && control.checks.iter().any(|c| c == "push-number-context")
        && pretext_then_approval(&timeline.events);

    let (state, detail, exception_id) = if let Some(x) = exception {
        let state = match x.standing(day) {
            Standing::Expired => ControlState::ExceptionExpired,
            _ => ControlState::Excepted,
        };
        let detail = format!(
            "exception {} ({}, expires {})",
            x.id,
            x.state.as_str(),
            x.expires.map_or("never".to_owned(), |d| d.to_string())
        );
        (state, detail, Some(x.id.clone()))
    } else if let Some(p) = failing {
        let detail = p
            .evidence
            .first()
            .cloned()
            .unwrap_or_else(|| format!("{} failed", p.check));
        (ControlState::Failing, detail, None)
    } else if let Some(b) = bypass {
        (ControlState::PassingButBypassed, b.how.clone(), None)
    } else if approved_after_pretext && posture.iter().any(|p| p.status == Status::Pass) {
        (
            ControlState::PassingButBypassed,
            "the user approved after a pretext contact (the attacker read out or asked for the number)".into(),
            None,
        )
    } else if step == Step::App {
        app_state(registry, timeline)
    } else if posture.iter().any(|p| p.status == Status::Pass) {
        (
            ControlState::Passing,
            "passing at incident time".into(),
            None,
        )
    } else {
        (
            ControlState::NotAssessed,
            "no posture result at incident time".into(),
            None,
        )
    };
    let mut anchors = control.anchors.clone();
    for check in &control.checks {
        for a in crate::framework::check_anchors(check) {
            if !anchors.contains(a) {
                anchors.push(a.clone());
            }
        }
    }
    ControlAtIncident {
        step,
        control: control.id.clone(),
        title: control.title.clone(),
        state,
        detail,
        accountable: registry.accountable(control).map(str::to_owned),
        exception: exception_id,
        anchors,
    }
}

/// The app step judged from the registry when no posture result was recorded.
fn app_state(registry: &Registry, timeline: &Timeline) -> (ControlState, String, Option<String>) {
    match registry.application(&timeline.app) {
        Some(app) => match app.step_up {
            None => (
                ControlState::Failing,
                format!("{}: step-up method unknown", app.id),
                None,
            ),
            Some(StepUp::PushApproveOnly | StepUp::None)
                if app.privilege != Privilege::Standard =>
            {
                (
                    ControlState::Failing,
                    format!(
                        "{} ({}) steps up with {}",
                        app.id,
                        app.privilege.as_str(),
                        app.step_up.map_or("", StepUp::as_str)
                    ),
                    None,
                )
            }
            Some(s) => (
                ControlState::Passing,
                format!("{} steps up with {}", app.id, s.as_str()),
                None,
            ),
        },
        None => (
            ControlState::NotAssessed,
            format!("{} is not in the registry", timeline.app),
            None,
        ),
    }
}

fn pretext_then_approval(events: &[Event]) -> bool {
    let pretext = events.iter().find(|e| e.kind == EventKind::PretextContact);
    pretext.is_some_and(|p| {
        events
            .iter()
            .any(|e| e.kind == EventKind::PromptApproved && e.at >= p.at)
    })
}

pub(super) fn path(registry: &Registry, timeline: &Timeline, steps: &[Step]) -> Vec<PathStep> {
    let app = registry.application(&timeline.app);
    let count = |k: EventKind| timeline.events.iter().filter(|e| e.kind == k).count();
    steps
        .iter()
        .filter(|s| **s != Step::Monitoring)
        .map(|&step| {
            let what = match step {
                Step::User => format!(
                    "{} ({} account)",
                    timeline.user,
                    match timeline.account {
                        AccountKind::Personal => "personal",
                        AccountKind::Shared => "shared",
                        AccountKind::Service => "service",
                    }
                ),
                Step::App => match app {
                    Some(a) => format!(
                        "{} ({}; owner {}; {})",
                        a.name,
                        a.id,
                        a.owner,
                        a.privilege.as_str()
                    ),
                    None => format!("{} (not in the registry)", timeline.app),
                },
                Step::IdpPolicy => {
                    let idp = if timeline.idp.is_empty() {
                        app.map_or("unknown", |a| a.idp.as_str())
                    } else {
                        timeline.idp.as_str()
                    };
                    format!("{idp} sign-in policy")
                }
                Step::Factor => format!(
                    "{}: {} prompts, {} denied, {} unanswered, {} approved",
                    app.and_then(|a| a.step_up)
                        .map_or("unknown step-up", StepUp::as_str),
                    count(EventKind::PromptSent),
                    count(EventKind::PromptDenied),
                    count(EventKind::PromptTimeout),
                    count(EventKind::PromptApproved)
                ),
                Step::Helpdesk => {
                    let unverified = timeline
                        .events
                        .iter()
                        .filter(|e| e.kind == EventKind::HelpdeskReset && e.verified != Some(true))
                        .count();
                    format!(
                        "{} helpdesk reset(s), {unverified} without verification",
                        count(EventKind::HelpdeskReset)
                    )
                }
                Step::Privilege => format!(
                    "{} privileged action(s)",
                    count(EventKind::PrivilegedAccess)
                ),
                Step::Monitoring => String::new(),
            };
            PathStep { step, what }
        })
        .collect()
}
