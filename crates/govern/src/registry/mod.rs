//! The registry: who the parties are, which roles they staff, which controls exist and
//! who is accountable for each, which applications there are, and which exceptions
//! were accepted by whom. Kept by its users as YAML in their own repository.
//!
//! [`Registry::parse`] refuses bad input (syntax, unknown keys, wrong types, malformed
//! dates, dangling references, duplicate ids) with every problem at once, each with its
//! line and column; [`Registry::defects`] reports governance defects in a registry that
//! parsed (a control without exactly one accountable role, an unstaffed role, …).

mod defects;
pub(crate) mod load;

use serde::{Deserialize, Deserializer, Serialize};

use crate::date::Day;
use crate::position::{Pos, PositionIndex, Step};

pub use defects::{Defect, DefectKind};
pub use load::{ParseError, Problem};

/// A parsed registry, with the positions of what it holds.
#[derive(Debug)]
pub struct Registry {
    /// The file name used in messages.
    pub file: String,
    pub doc: RegistryDoc,
    index: PositionIndex,
}

/// The registry file, as written.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryDoc {
    /// Format version; 1.
    pub version: u32,
    /// The organisation the registry describes.
    #[serde(default)]
    pub organisation: String,
    #[serde(default)]
    pub parties: Vec<Party>,
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Role id → the party ids that hold it.
    #[serde(default)]
    pub staffing: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub controls: Vec<Control>,
    #[serde(default)]
    pub applications: Vec<Application>,
    #[serde(default)]
    pub exceptions: Vec<Exception>,
}

/// A person, a team or an organisation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub id: String,
    pub name: String,
    pub kind: PartyKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartyKind {
    Person,
    Team,
    Org,
}

/// A role a party can hold. `kind` tells pushback what the role answers for.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub kind: RoleKind,
}

/// What a role answers for, in the accountability rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoleKind {
    /// Owns MFA method policy, conditional access, challenge design.
    IdentityProgramme,
    /// Owns one application and how it asks for step-up.
    ApplicationOwner,
    /// Detection, alerting and response.
    SecurityOperations,
    /// Risk acceptance and the exceptions process.
    GrcRiskOwner,
    /// Helpdesk resets and re-enrolment.
    ServiceDesk,
    #[default]
    Custom,
}

impl RoleKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::IdentityProgramme => "identity-programme",
            Self::ApplicationOwner => "application-owner",
            Self::SecurityOperations => "security-operations",
            Self::GrcRiskOwner => "grc-risk-owner",
            Self::ServiceDesk => "service-desk",
            Self::Custom => "custom",
        }
    }
}

/// A control and its RACI.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    pub id: String,
    pub title: String,
    pub domain: Domain,
    pub raci: Raci,
    /// Framework ids (see `pushback_govern::framework`), e.g. `MS.AAD.3.1v1`, `T1621`.
    #[serde(default)]
    pub anchors: Vec<String>,
    /// Where it is implemented: "Entra ID conditional access", "SOC SIEM", …
    #[serde(default)]
    pub implemented_in: String,
    /// Posture checks that assess this control (ids from `pushback assess --list`).
    #[serde(default)]
    pub checks: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Domain {
    IdentityPolicy,
    AppStepUp,
    DetectionResponse,
    Governance,
    ServiceDesk,
    PrivilegedAccess,
}

/// Responsible, Accountable, Consulted, Informed: role ids.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raci {
    /// Exactly one role should be here; one id or a list is accepted so that a
    /// registry with several (a defect) still parses and can be reported.
    #[serde(default, deserialize_with = "one_or_many")]
    pub accountable: Vec<String>,
    #[serde(default)]
    pub responsible: Vec<String>,
    #[serde(default)]
    pub consulted: Vec<String>,
    #[serde(default)]
    pub informed: Vec<String>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    match Option::<OneOrMany>::deserialize(d) {
        Ok(None) => Ok(Vec::new()),
        Ok(Some(OneOrMany::One(s))) => Ok(vec![s]),
        Ok(Some(OneOrMany::Many(v))) => Ok(v),
        Err(_) => Err(serde::de::Error::custom(
            "expected a role id or a list of role ids",
        )),
    }
}

/// An application users sign in to.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub id: String,
    pub name: String,
    /// The role that owns the application (usually of kind `application-owner`).
    pub owner: String,
    #[serde(default)]
    pub privilege: Privilege,
    /// How the application asks for step-up; unset means nobody knows, a finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up: Option<StepUp>,
    /// The identity provider in front of it: entra, okta, duo, pushback, …
    #[serde(default)]
    pub idp: String,
    /// Privileged access goes through an approval (PIM/PAM) before it is granted.
    #[serde(default)]
    pub approval_required: bool,
    /// What the app's MFA integration does when the MFA service is unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_mode: Option<FailMode>,
    /// Shared or service accounts that sign in here; the app owner owns their
    /// credentials unless the account names another role.
    #[serde(default)]
    pub shared_accounts: Vec<SharedAccount>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Privilege {
    #[default]
    Standard,
    Sensitive,
    Privileged,
}

impl Privilege {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Sensitive => "sensitive",
            Self::Privileged => "privileged",
        }
    }
}

/// The step-up method an application asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepUp {
    /// WebAuthn / FIDO2: phishing-resistant.
    Passkey,
    /// Push where the user types a code shown on the login screen.
    PushWithCode,
    /// Push where the user picks or types a number (number matching).
    PushWithNumber,
    /// Push that only asks approve or deny: fatigue-prone.
    PushApproveOnly,
    None,
}

impl StepUp {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Passkey => "passkey",
            Self::PushWithCode => "push-with-code",
            Self::PushWithNumber => "push-with-number",
            Self::PushApproveOnly => "push-approve-only",
            Self::None => "none",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailMode {
    Open,
    Closed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedAccount {
    pub account: String,
    /// The role owning the shared credential; default: the application's owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// An accepted departure from a control.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub id: String,
    #[serde(default)]
    pub kind: ExceptionKind,
    /// The controls departed from.
    pub controls: Vec<String>,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default)]
    pub justification: String,
    /// Controls that stand in while the exception lasts.
    #[serde(default)]
    pub compensating_controls: Vec<String>,
    /// The role carrying the residual risk; default: the owner of the applications in
    /// scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_owner: Option<String>,
    /// Party ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<Day>,
    /// Required: an exception without an end date is a defect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Day>,
    pub state: ExceptionState,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExceptionKind {
    /// Someone must act against a policy ("app X cannot do FIDO2").
    #[default]
    Policy,
    /// A decision to accept a residual risk.
    Risk,
    /// A requirement that does not apply.
    Compliance,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExceptionState {
    Draft,
    Requested,
    Approved,
    Rejected,
    Expired,
    Revoked,
}

impl ExceptionState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Requested => "requested",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// What an exception covers. Identity-provider object ids or names, as the exports
/// name them (a conditional-access exclusion must be listed here to be excepted).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default)]
    pub applications: Vec<String>,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Scope {
    pub fn is_empty(&self) -> bool {
        self.applications.is_empty()
            && self.users.is_empty()
            && self.groups.is_empty()
            && self.roles.is_empty()
    }
}

/// How an exception stands on a given day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    /// Approved and not past its expiry.
    Open,
    /// Approved (or marked expired) and past its expiry.
    Expired,
    /// Draft, requested, rejected or revoked: covers nothing.
    NotInForce,
}

impl Exception {
    /// Open on `day` when approved and `day` is on or before `expires`.
    pub fn standing(&self, day: Day) -> Standing {
        match self.state {
            ExceptionState::Approved => match self.expires {
                Some(end) if day > end => Standing::Expired,
                // Without an expiry it is a defect, but it was accepted.
                _ => Standing::Open,
            },
            ExceptionState::Expired => Standing::Expired,
            _ => Standing::NotInForce,
        }
    }

    /// Does this exception name `control` and cover `subject` (an application, user,
    /// group or role id)? An empty scope covers everything.
    pub fn covers(&self, control: &str, subject: Option<&str>) -> bool {
        if !self.controls.iter().any(|c| c == control) {
            return false;
        }
        let Some(subject) = subject else {
            return true;
        };
        self.scope.is_empty()
            || [
                &self.scope.applications,
                &self.scope.users,
                &self.scope.groups,
                &self.scope.roles,
            ]
            .iter()
            .any(|list| list.iter().any(|s| s.eq_ignore_ascii_case(subject)))
    }
}

impl Registry {
    pub fn control(&self, id: &str) -> Option<&Control> {
        self.doc.controls.iter().find(|c| c.id == id)
    }

    pub fn role(&self, id: &str) -> Option<&Role> {
        self.doc.roles.iter().find(|r| r.id == id)
    }

    pub fn party(&self, id: &str) -> Option<&Party> {
        self.doc.parties.iter().find(|p| p.id == id)
    }

    pub fn application(&self, id: &str) -> Option<&Application> {
        self.doc
            .applications
            .iter()
            .find(|a| a.id == id || a.name.eq_ignore_ascii_case(id))
    }

    /// The parties holding `role`, in the order written.
    pub fn staff(&self, role: &str) -> &[String] {
        self.doc.staffing.get(role).map_or(&[], Vec::as_slice)
    }

    /// The first role of `kind`, in the order written.
    pub fn role_of_kind(&self, kind: RoleKind) -> Option<&Role> {
        self.doc.roles.iter().find(|r| r.kind == kind)
    }

    /// The roles `party` holds.
    pub fn roles_of(&self, party: &str) -> Vec<&Role> {
        self.doc
            .roles
            .iter()
            .filter(|r| self.staff(&r.id).iter().any(|p| p == party))
            .collect()
    }

    /// Controls that list `check` among their checks.
    pub fn controls_for_check(&self, check: &str) -> Vec<&Control> {
        self.doc
            .controls
            .iter()
            .filter(|c| c.checks.iter().any(|k| k == check))
            .collect()
    }

    /// The single accountable role of a control, when there is exactly one.
    pub fn accountable<'c>(&self, control: &'c Control) -> Option<&'c str> {
        match control.raci.accountable.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        }
    }

    /// The role carrying an exception's risk: its `risk_owner`, else the owner of the
    /// first application in scope.
    pub fn risk_owner(&self, exception: &Exception) -> Option<String> {
        exception.risk_owner.clone().or_else(|| {
            exception
                .scope
                .applications
                .iter()
                .find_map(|a| self.application(a).map(|app| app.owner.clone()))
        })
    }

    /// Line and column of a path in the registry file.
    pub(crate) fn pos(&self, path: &[Step]) -> Pos {
        self.index.find(path)
    }
}
