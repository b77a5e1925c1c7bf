//! Posture checks: pushback's own configuration and exported IdP configuration, judged
//! against the MFA-fatigue control set. Each finding names its accountable owner from
//! the registry, its severity, its evidence and its framework anchors.
//!
//! A check whose inputs were not given is `not-assessed`, never a silent pass.

mod apps;
mod identity;
mod operations;

use serde::Serialize;

use pushback_model::Severity;

use crate::date::Day;
use crate::export::{duo, entra, okta, pushback::PushbackPosture};
use crate::registry::{Exception, Registry, RoleKind, Standing};

/// What a check is, independent of any input.
#[derive(Clone, Copy, Debug)]
pub struct CheckInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    /// Who owns the outcome when no registry control lists the check.
    pub default_owner: RoleKind,
    run: fn(&Ctx<'_>) -> Outcome,
}

/// Every posture check, in report order.
pub const CHECKS: &[CheckInfo] = &[
    check(
        "pr-mfa-all-users",
        "Phishing-resistant MFA enforced for all users",
        Severity::High,
        RoleKind::IdentityProgramme,
        identity::pr_mfa_all_users,
    ),
    check(
        "pr-mfa-privileged",
        "Phishing-resistant MFA for every privileged role",
        Severity::Critical,
        RoleKind::IdentityProgramme,
        identity::pr_mfa_privileged,
    ),
    check(
        "mfa-exclusions-excepted",
        "Every MFA exclusion matched to an open, unexpired exception",
        Severity::High,
        RoleKind::IdentityProgramme,
        identity::mfa_exclusions_excepted,
    ),
    check(
        "push-number-context",
        "Push asks for a code or number and shows app and location; authenticator OTP off",
        Severity::High,
        RoleKind::IdentityProgramme,
        identity::push_number_context,
    ),
    check(
        "weak-factors-off",
        "SMS, voice and email factors off",
        Severity::High,
        RoleKind::IdentityProgramme,
        identity::weak_factors_off,
    ),
    check(
        "legacy-auth-blocked",
        "Legacy authentication blocked",
        Severity::High,
        RoleKind::IdentityProgramme,
        identity::legacy_auth_blocked,
    ),
    check(
        "registration-protected",
        "MFA registration from managed devices; helpdesk reset procedure owned",
        Severity::Medium,
        RoleKind::ServiceDesk,
        identity::registration_protected,
    ),
    check(
        "device-code-blocked",
        "Device-code flow blocked",
        Severity::Medium,
        RoleKind::IdentityProgramme,
        identity::device_code_blocked,
    ),
    check(
        "risk-and-reporting",
        "User-risk policy and \"report suspicious activity\" on",
        Severity::Medium,
        RoleKind::IdentityProgramme,
        identity::risk_and_reporting,
    ),
    check(
        "push-throttled",
        "Push rate limit or lockout in place",
        Severity::High,
        RoleKind::IdentityProgramme,
        operations::push_throttled,
    ),
    check(
        "detection-active",
        "Logs reach the security team and a T1621 detection is active",
        Severity::High,
        RoleKind::SecurityOperations,
        operations::detection_active,
    ),
    check(
        "privileged-approval",
        "Privileged access granted through an approval",
        Severity::High,
        RoleKind::IdentityProgramme,
        operations::privileged_approval,
    ),
    check(
        "no-dormant-accounts",
        "Dormant accounts expire in the MFA system",
        Severity::Medium,
        RoleKind::IdentityProgramme,
        operations::no_dormant_accounts,
    ),
    check(
        "fail-closed",
        "No application fails open when MFA is unreachable",
        Severity::High,
        RoleKind::IdentityProgramme,
        operations::fail_closed,
    ),
    check(
        "no-self-reenrolment",
        "Unenrolled users cannot enrol a device themselves",
        Severity::High,
        RoleKind::IdentityProgramme,
        operations::no_self_reenrolment,
    ),
    check(
        "app-step-up",
        "Every app's step-up known; no approve-only push for privileged apps",
        Severity::High,
        RoleKind::ApplicationOwner,
        apps::app_step_up,
    ),
    check(
        "exception-hygiene",
        "Exceptions have a risk owner, an independent approver, compensating controls and a live expiry",
        Severity::Medium,
        RoleKind::GrcRiskOwner,
        apps::exception_hygiene,
    ),
    check(
        "pushback-challenge",
        "pushback challenges use code transfer, prompt budgets and lockout",
        Severity::High,
        RoleKind::IdentityProgramme,
        operations::pushback_challenge,
    ),
    check(
        "not-me-playbook",
        "A \"not me\" answer locks push",
        Severity::Medium,
        RoleKind::IdentityProgramme,
        operations::not_me_playbook,
    ),
];

const fn check(
    id: &'static str,
    title: &'static str,
    severity: Severity,
    default_owner: RoleKind,
    run: fn(&Ctx<'_>) -> Outcome,
) -> CheckInfo {
    CheckInfo {
        id,
        title,
        severity,
        default_owner,
        run,
    }
}

/// Everything a posture assessment may read. Absent inputs leave the checks that need
/// them `not-assessed`.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub pushback: Option<PushbackPosture>,
    pub entra_auth_methods: Option<entra::AuthMethodsPolicy>,
    pub entra_conditional_access: Option<entra::ConditionalAccess>,
    pub okta_authenticators: Option<okta::Authenticators>,
    pub okta_policies: Option<okta::Policies>,
    pub duo_settings: Option<duo::Settings>,
    pub duo_policies: Option<duo::Policies>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    NotAssessed,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::NotAssessed => "not-assessed",
        }
    }
}

/// Who answers for a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// The role id, or `(none)` when the registry has no role to route to.
    pub role: String,
    pub parties: Vec<String>,
    /// The registry control the role is accountable for, if one lists the check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control: Option<String>,
    /// How the owner was found.
    pub via: String,
}

/// One check's result.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub check: String,
    pub title: String,
    pub status: Status,
    pub severity: Severity,
    pub owner: Owner,
    pub evidence: Vec<String>,
    pub anchors: Vec<String>,
}

/// A whole assessment.
#[derive(Clone, Debug, Serialize)]
pub struct Assessment {
    /// The day the assessment is as of (exception expiry is judged against it).
    pub as_of: Day,
    /// The inputs that were read, by kind.
    pub inputs: Vec<String>,
    pub findings: Vec<Finding>,
}

impl Assessment {
    pub fn failed(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status == Status::Fail)
    }
}

pub(crate) struct Ctx<'a> {
    pub inputs: &'a Inputs,
    pub registry: Option<&'a Registry>,
    pub today: Day,
}

impl Ctx<'_> {
    /// An open exception covering `subject` for a control that `check` assesses.
    pub fn excepted(&self, check: &str, subject: &str) -> Option<&Exception> {
        let registry = self.registry?;
        let controls = registry.controls_for_check(check);
        registry.doc.exceptions.iter().find(|x| {
            x.standing(self.today) == Standing::Open
                && controls.iter().any(|c| x.covers(&c.id, Some(subject)))
        })
    }

    /// An open exception whose scope names `subject` explicitly, for any control
    /// (ScubaGear's CapExclusions semantics: an exclusion must be pre-approved).
    pub fn exclusion_excepted(&self, subject: &str) -> Option<&Exception> {
        let registry = self.registry?;
        registry.doc.exceptions.iter().find(|x| {
            x.standing(self.today) == Standing::Open
                && [
                    &x.scope.users,
                    &x.scope.groups,
                    &x.scope.roles,
                    &x.scope.applications,
                ]
                .iter()
                .any(|l| l.iter().any(|s| s.eq_ignore_ascii_case(subject)))
        })
    }
}

/// What one check found: failing evidence, notes, and whether anything was read.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    assessed: bool,
    fails: Vec<String>,
    notes: Vec<String>,
    /// For per-application checks: the role owning the first failing application,
    /// which answers rather than a registry-wide control.
    owner_role: Option<(String, String)>,
}

impl Outcome {
    pub fn read(&mut self) {
        self.assessed = true;
    }

    pub fn fail(&mut self, evidence: impl Into<String>) {
        self.assessed = true;
        self.fails.push(evidence.into());
    }

    pub fn note(&mut self, evidence: impl Into<String>) {
        self.notes.push(evidence.into());
    }

    /// Names the role that owns what failed (`why` says how it was found).
    pub fn owned_by(&mut self, role: &str, why: String) {
        if self.owner_role.is_none() {
            self.owner_role = Some((role.to_owned(), why));
        }
    }

    /// Records a pass or a failure on one condition.
    pub fn expect(&mut self, ok: bool, pass: impl Into<String>, fail: impl Into<String>) {
        self.assessed = true;
        if ok {
            self.notes.push(pass.into());
        } else {
            self.fails.push(fail.into());
        }
    }
}

/// Runs every check. `registry` supplies owners and exceptions; without it, owners are
/// `(none)` and nothing counts as excepted.
pub fn assess(inputs: &Inputs, registry: Option<&Registry>, today: Day) -> Assessment {
    let ctx = Ctx {
        inputs,
        registry,
        today,
    };
    let findings = CHECKS
        .iter()
        .map(|info| {
            let outcome = (info.run)(&ctx);
            let status = if !outcome.assessed {
                Status::NotAssessed
            } else if outcome.fails.is_empty() {
                Status::Pass
            } else {
                Status::Fail
            };
            let owner = match (&outcome.owner_role, registry, status) {
                (Some((role, why)), Some(reg), Status::Fail) => Owner {
                    role: role.clone(),
                    parties: reg.staff(role).to_vec(),
                    control: reg
                        .controls_for_check(info.id)
                        .into_iter()
                        .find(|c| reg.accountable(c) == Some(role.as_str()))
                        .map(|c| c.id.clone()),
                    via: why.clone(),
                },
                _ => owner_of(registry, info),
            };
            let mut evidence = outcome.fails;
            evidence.extend(outcome.notes);
            Finding {
                check: info.id.to_owned(),
                title: info.title.to_owned(),
                status,
                severity: info.severity,
                owner,
                evidence,
                anchors: crate::framework::check_anchors(info.id).to_vec(),
            }
        })
        .collect();
    Assessment {
        as_of: today,
        inputs: input_names(inputs),
        findings,
    }
}

fn input_names(inputs: &Inputs) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |present: bool, name: &str| {
        if present {
            out.push(name.to_owned());
        }
    };
    add(inputs.pushback.is_some(), "pushback");
    add(inputs.entra_auth_methods.is_some(), "entra-auth-methods");
    add(
        inputs.entra_conditional_access.is_some(),
        "entra-conditional-access",
    );
    add(inputs.okta_authenticators.is_some(), "okta-authenticators");
    add(inputs.okta_policies.is_some(), "okta-policies");
    add(inputs.duo_settings.is_some(), "duo-settings");
    add(inputs.duo_policies.is_some(), "duo-policies");
    out
}

/// The accountable role of the first registry control that lists the check, else the
/// first role of the check's default kind.
pub(crate) fn owner_of(registry: Option<&Registry>, info: &CheckInfo) -> Owner {
    let Some(registry) = registry else {
        return Owner {
            role: "(none)".into(),
            parties: Vec::new(),
            control: None,
            via: "no registry given".into(),
        };
    };
    for control in registry.controls_for_check(info.id) {
        if let Some(role) = registry.accountable(control) {
            return Owner {
                role: role.to_owned(),
                parties: registry.staff(role).to_vec(),
                control: Some(control.id.clone()),
                via: format!("accountable for control {}", control.id),
            };
        }
    }
    match registry.role_of_kind(info.default_owner) {
        Some(role) => Owner {
            role: role.id.clone(),
            parties: registry.staff(&role.id).to_vec(),
            control: None,
            via: format!(
                "no registry control lists this check; default owner ({})",
                info.default_owner.as_str()
            ),
        },
        None => Owner {
            role: "(none)".into(),
            parties: Vec::new(),
            control: None,
            via: format!(
                "no role of kind {} in the registry",
                info.default_owner.as_str()
            ),
        },
    }
}
