//! Governance defects: a registry that parses but cannot answer "who is accountable".

use std::fmt;

use serde::Serialize;

use super::{ExceptionState, Registry, RoleKind};
use crate::date::Day;
use crate::position::{Pos, Step};

/// What is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum DefectKind {
    /// A control with no accountable role.
    NoAccountable,
    /// A control with more than one accountable role.
    SeveralAccountable,
    /// A role nobody holds.
    UnstaffedRole,
    /// No role of a kind the accountability rules need (security operations, …).
    MissingRoleKind,
    /// An exception approved by the party that requested it.
    ApproverIsRequester,
    /// An exception approved by a party holding its risk-owner role.
    ApproverOwnsRisk,
    /// An approved exception without an expiry.
    NoExpiry,
    /// An approved exception past its expiry, neither renewed nor closed.
    ExpiredException,
    /// An approved exception without approver or approval date.
    ApprovalIncomplete,
    /// An exception whose risk owner cannot be determined.
    NoRiskOwner,
    /// An approved exception without compensating controls.
    NoCompensatingControls,
}

impl DefectKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoAccountable => "no-accountable",
            Self::SeveralAccountable => "several-accountable",
            Self::UnstaffedRole => "unstaffed-role",
            Self::MissingRoleKind => "missing-role-kind",
            Self::ApproverIsRequester => "approver-is-requester",
            Self::ApproverOwnsRisk => "approver-owns-risk",
            Self::NoExpiry => "no-expiry",
            Self::ExpiredException => "expired-exception",
            Self::ApprovalIncomplete => "approval-incomplete",
            Self::NoRiskOwner => "no-risk-owner",
            Self::NoCompensatingControls => "no-compensating-controls",
        }
    }
}

/// One governance defect, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Defect {
    pub kind: DefectKind,
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The id of the control, role or exception concerned.
    pub subject: String,
    pub message: String,
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file,
            self.line,
            self.column,
            self.kind.as_str(),
            self.message
        )
    }
}

fn key(k: &str) -> Step {
    Step::Key(k.to_owned())
}

/// Role kinds the accountability rules route to.
const NEEDED_KINDS: [RoleKind; 4] = [
    RoleKind::IdentityProgramme,
    RoleKind::SecurityOperations,
    RoleKind::GrcRiskOwner,
    RoleKind::ServiceDesk,
];

impl Registry {
    /// Governance defects as of `today`, in file order.
    pub fn defects(&self, today: Day) -> Vec<Defect> {
        let mut out = Vec::new();
        let mut add = |pos: Pos, kind: DefectKind, subject: &str, message: String| {
            out.push(Defect {
                kind,
                file: self.file.clone(),
                line: pos.line,
                column: pos.column,
                subject: subject.to_owned(),
                message,
            });
        };
        for (i, c) in self.doc.controls.iter().enumerate() {
            let at = [key("controls"), Step::Index(i)];
            match c.raci.accountable.len() {
                0 => add(
                    self.pos(&at),
                    DefectKind::NoAccountable,
                    &c.id,
                    format!("control `{}` has no accountable role", c.id),
                ),
                1 => {}
                n => add(
                    self.pos(&[
                        key("controls"),
                        Step::Index(i),
                        key("raci"),
                        key("accountable"),
                    ]),
                    DefectKind::SeveralAccountable,
                    &c.id,
                    format!(
                        "control `{}` has {n} accountable roles ({}); exactly one answers for it",
                        c.id,
                        c.raci.accountable.join(", ")
                    ),
                ),
            }
        }
        for (i, role) in self.doc.roles.iter().enumerate() {
            if self.staff(&role.id).is_empty() {
                add(
                    self.pos(&[key("roles"), Step::Index(i)]),
                    DefectKind::UnstaffedRole,
                    &role.id,
                    format!(
                        "role `{}` is held by nobody (add it under staffing)",
                        role.id
                    ),
                );
            }
        }
        for kind in NEEDED_KINDS {
            if self.role_of_kind(kind).is_none() {
                add(
                    self.pos(&[key("roles")]),
                    DefectKind::MissingRoleKind,
                    kind.as_str(),
                    format!(
                        "no role of kind {}: what it answers for has no owner",
                        kind.as_str()
                    ),
                );
            }
        }
        for (i, x) in self.doc.exceptions.iter().enumerate() {
            let at = |field: &str| [key("exceptions"), Step::Index(i), key(field)];
            let here = self.pos(&[key("exceptions"), Step::Index(i)]);
            if let (Some(req), Some(app)) = (&x.requested_by, &x.approved_by)
                && req == app
            {
                add(
                    self.pos(&at("approved_by")),
                    DefectKind::ApproverIsRequester,
                    &x.id,
                    format!("exception `{}` was approved by its requester `{app}`", x.id),
                );
            }
            let risk_owner = self.risk_owner(x);
            match (&risk_owner, &x.approved_by) {
                (None, _) => add(
                    here,
                    DefectKind::NoRiskOwner,
                    &x.id,
                    format!(
                        "exception `{}` has no risk_owner and no application in scope to take it from",
                        x.id
                    ),
                ),
                (Some(role), Some(approver)) if self.staff(role).iter().any(|p| p == approver) => {
                    add(
                        self.pos(&at("approved_by")),
                        DefectKind::ApproverOwnsRisk,
                        &x.id,
                        format!(
                            "exception `{}` was approved by `{approver}`, who holds its risk-owner role `{role}`",
                            x.id
                        ),
                    );
                }
                _ => {}
            }
            if x.state != ExceptionState::Approved {
                continue;
            }
            match x.expires {
                None => add(
                    here,
                    DefectKind::NoExpiry,
                    &x.id,
                    format!("approved exception `{}` has no expiry", x.id),
                ),
                Some(end) if today > end => add(
                    self.pos(&at("expires")),
                    DefectKind::ExpiredException,
                    &x.id,
                    format!(
                        "exception `{}` expired on {end} and is still marked approved: renew or close it",
                        x.id
                    ),
                ),
                Some(_) => {}
            }
            if x.approved_by.is_none() || x.approved_at.is_none() {
                add(
                    here,
                    DefectKind::ApprovalIncomplete,
                    &x.id,
                    format!(
                        "approved exception `{}` needs approved_by and approved_at",
                        x.id
                    ),
                );
            }
            if x.compensating_controls.is_empty() {
                add(
                    here,
                    DefectKind::NoCompensatingControls,
                    &x.id,
                    format!(
                        "approved exception `{}` names no compensating controls",
                        x.id
                    ),
                );
            }
        }
        out.sort_by_key(|d| (d.line, d.column, d.kind));
        out
    }
}
