//! Checks on the application inventory and on the exceptions register.

use super::{Ctx, Outcome};
use crate::registry::{DefectKind, Privilege, StepUp};

pub(crate) fn app_step_up(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Some(registry) = ctx.registry else {
        return out;
    };
    for app in &registry.doc.applications {
        let Some(step_up) = app.step_up else {
            out.fail(format!("registry: {}: step-up method unknown", app.id));
            out.owned_by(&app.owner, format!("owner of application {}", app.id));
            continue;
        };
        let weak = matches!(step_up, StepUp::PushApproveOnly | StepUp::None);
        if !weak {
            out.read();
            continue;
        }
        if app.privilege == Privilege::Standard {
            out.read();
            out.note(format!(
                "registry: {} (standard) steps up with {}",
                app.id,
                step_up.as_str()
            ));
            continue;
        }
        match ctx.excepted("app-step-up", &app.id) {
            Some(x) => {
                out.read();
                out.note(format!(
                    "registry: {} ({}) steps up with {} under exception {} (expires {})",
                    app.id,
                    app.privilege.as_str(),
                    step_up.as_str(),
                    x.id,
                    x.expires.map_or("never".to_owned(), |d| d.to_string())
                ));
            }
            None => {
                out.fail(format!(
                    "registry: {} is {} and steps up with {}",
                    app.id,
                    app.privilege.as_str(),
                    step_up.as_str()
                ));
                out.owned_by(&app.owner, format!("owner of application {}", app.id));
            }
        }
    }
    out
}

pub(crate) fn exception_hygiene(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Some(registry) = ctx.registry else {
        return out;
    };
    out.read();
    for d in registry.defects(ctx.today) {
        let about_exceptions = matches!(
            d.kind,
            DefectKind::ApproverIsRequester
                | DefectKind::ApproverOwnsRisk
                | DefectKind::NoExpiry
                | DefectKind::ExpiredException
                | DefectKind::ApprovalIncomplete
                | DefectKind::NoRiskOwner
                | DefectKind::NoCompensatingControls
        );
        if about_exceptions {
            out.fail(format!("{}:{}: {}", d.file, d.line, d.message));
        }
    }
    out.note(format!(
        "registry: {} exceptions read",
        registry.doc.exceptions.len()
    ));
    out
}
