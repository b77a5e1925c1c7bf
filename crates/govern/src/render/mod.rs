//! Renderings of assessments and accountability reports: Markdown, self-contained
//! HTML, JSON and a plain-text table. Strings only; the CLI prints them.

mod html;
mod markdown;

pub use html::{assessment_html, report_html};
pub use markdown::{assessment_markdown, report_markdown};

use crate::accountability::Report;
use crate::posture::{Assessment, Status};

/// Pretty JSON of an assessment.
pub fn assessment_json(assessment: &Assessment) -> String {
    serde_json::to_string_pretty(assessment).unwrap_or_default()
}

/// Pretty JSON of a report (with its `owners` list).
pub fn report_json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// An aligned plain-text table, one line per check.
pub fn assessment_table(assessment: &Assessment) -> String {
    let rows: Vec<[String; 5]> = assessment
        .findings
        .iter()
        .map(|f| {
            [
                f.status.as_str().to_uppercase(),
                f.severity.as_str().to_owned(),
                f.check.clone(),
                owner_label(&f.owner.role, &f.owner.parties),
                f.evidence.first().cloned().unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["STATUS", "SEVERITY", "CHECK", "OWNER", "EVIDENCE"].map(str::to_owned);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (w, cell) in widths.iter().zip(row.iter()) {
            out.push_str(cell);
            out.push_str(&" ".repeat(w - cell.chars().count() + 2));
        }
        out.push_str(&row[4]);
        out.push('\n');
    }
    let failed = assessment
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .count();
    let skipped = assessment
        .findings
        .iter()
        .filter(|f| f.status == Status::NotAssessed)
        .count();
    out.push_str(&format!(
        "\n{failed} failing, {skipped} not assessed, {} checks, as of {}\n",
        assessment.findings.len(),
        assessment.as_of
    ));
    out
}

/// An event's detail, with whether a helpdesk caller was verified.
pub(crate) fn event_detail(e: &crate::timeline::Event) -> String {
    match e.verified {
        Some(true) => format!("{} (caller verified)", e.detail),
        Some(false) => format!("{} (caller not verified)", e.detail),
        None => e.detail.clone(),
    }
}

pub(crate) fn owner_label(role: &str, parties: &[String]) -> String {
    if parties.is_empty() {
        role.to_owned()
    } else {
        format!("{role} ({})", parties.join(", "))
    }
}
