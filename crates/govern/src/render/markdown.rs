//! Markdown renderings.

use std::fmt::Write as _;

use super::owner_label;
use crate::accountability::Report;
use crate::framework;
use crate::posture::Assessment;

/// Escapes text for a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
}

pub fn assessment_markdown(a: &Assessment) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# MFA-fatigue posture\n");
    let _ = writeln!(
        out,
        "As of {}. Inputs: {}.\n",
        a.as_of,
        if a.inputs.is_empty() {
            "none".to_owned()
        } else {
            a.inputs.join(", ")
        }
    );
    let _ = writeln!(out, "| status | severity | check | owner | evidence |");
    let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
    for f in &a.findings {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            f.status.as_str(),
            f.severity.as_str(),
            cell(&f.check),
            cell(&owner_label(&f.owner.role, &f.owner.parties)),
            cell(&f.evidence.join("; "))
        );
    }
    let _ = writeln!(out, "\n## Findings\n");
    for f in a.failed() {
        let _ = writeln!(out, "### {} — {}\n", f.check, f.title);
        let _ = writeln!(
            out,
            "- Severity: {}\n- Owner: {} — {}",
            f.severity.as_str(),
            owner_label(&f.owner.role, &f.owner.parties),
            f.owner.via
        );
        let _ = writeln!(out, "- Evidence:");
        for e in &f.evidence {
            let _ = writeln!(out, "  - {e}");
        }
        let _ = writeln!(out, "- Anchors: {}\n", f.anchors.join(", "));
    }
    out
}

pub fn report_markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Accountability report: {}\n", r.incident);
    if !r.title.is_empty() {
        let _ = writeln!(out, "{}\n", r.title);
    }
    let _ = writeln!(
        out,
        "Began {} — user {} — application {}.\n",
        r.occurred, r.user, r.app
    );
    let _ = writeln!(out, "## Who answers\n");
    if r.owners.is_empty() {
        let _ = writeln!(out, "Nobody: every control on the path held.\n");
    }
    let _ = writeln!(out, "| role | parties | why | controls |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    for o in &r.owners {
        let role = if o.title.is_empty() {
            o.role.clone()
        } else {
            format!("{} ({})", o.title, o.role)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&role),
            cell(&o.parties.join(", ")),
            cell(&o.reason),
            cell(&o.controls.join(", "))
        );
    }
    let _ = writeln!(out, "\n## Access path\n");
    let path: Vec<String> = r
        .path
        .iter()
        .map(|p| format!("{}: {}", p.step.as_str(), p.what))
        .collect();
    for p in &path {
        let _ = writeln!(out, "1. {p}");
    }
    let _ = writeln!(out, "\n## Controls at incident time\n");
    let _ = writeln!(out, "| step | control | state | accountable | detail |");
    let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
    for c in &r.controls {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            c.step.as_str(),
            cell(&c.control),
            c.state.as_str(),
            cell(c.accountable.as_deref().unwrap_or("—")),
            cell(&c.detail)
        );
    }
    let _ = writeln!(out, "\n## Timeline\n");
    let _ = writeln!(out, "| time | event | source | detail |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    for e in &r.timeline {
        let detail = super::event_detail(e);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            e.at,
            e.kind.as_str(),
            cell(&e.source),
            cell(&detail)
        );
    }
    let _ = writeln!(out, "\n## Governance defects\n");
    if r.defects.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for d in &r.defects {
        let _ = writeln!(out, "- {d}");
    }
    let _ = writeln!(out, "\n## Framework references\n");
    for a in &r.anchors {
        let _ = writeln!(out, "- {}", framework::describe(a));
    }
    out
}
