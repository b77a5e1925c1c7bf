//! Self-contained, printable HTML: inline CSS, no scripts, everything escaped.

use std::fmt::Write as _;

use super::owner_label;
use crate::accountability::Report;
use crate::framework;
use crate::posture::{Assessment, Status};

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#111}\
table{border-collapse:collapse;width:100%;margin:1em 0}th,td{border:1px solid #bbb;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#eee}.fail,.failing,.absent,.exception-expired{color:#a00;font-weight:600}.pass,.passing{color:#060}\
.excepted,.passing-but-bypassed{color:#a60;font-weight:600}.not-assessed{color:#666}\
@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}tr{page-break-inside:avoid}}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        esc(title)
    )
}

fn class(text: &str) -> String {
    text.replace(' ', "-")
}

pub fn assessment_html(a: &Assessment) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "<h1>MFA-fatigue posture</h1>");
    let _ = writeln!(
        b,
        "<p>As of {}. Inputs: {}.</p>",
        a.as_of,
        esc(&a.inputs.join(", "))
    );
    let _ = writeln!(
        b,
        "<table><tr><th>status</th><th>severity</th><th>check</th><th>owner</th><th>evidence</th><th>anchors</th></tr>"
    );
    for f in &a.findings {
        let status = f.status.as_str();
        let _ = writeln!(
            b,
            "<tr><td class=\"{}\">{}</td><td>{}</td><td><b>{}</b><br>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            class(status),
            status,
            f.severity.as_str(),
            esc(&f.check),
            esc(&f.title),
            esc(&owner_label(&f.owner.role, &f.owner.parties)),
            f.evidence
                .iter()
                .map(|e| esc(e))
                .collect::<Vec<_>>()
                .join("<br>"),
            esc(&f.anchors.join(", "))
        );
    }
    let _ = writeln!(b, "</table>");
    let failing = a
        .findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .count();
    let _ = writeln!(
        b,
        "<p>{failing} failing of {} checks.</p>",
        a.findings.len()
    );
    page("MFA-fatigue posture", &b)
}

pub fn report_html(r: &Report) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "<h1>Accountability report: {}</h1>", esc(&r.incident));
    if !r.title.is_empty() {
        let _ = writeln!(b, "<p>{}</p>", esc(&r.title));
    }
    let _ = writeln!(
        b,
        "<p>Began {} — user {} — application {}.</p>",
        r.occurred,
        esc(&r.user),
        esc(&r.app)
    );
    let _ = writeln!(
        b,
        "<h2>Who answers</h2>\n<table><tr><th>role</th><th>parties</th><th>why</th><th>controls</th></tr>"
    );
    for o in &r.owners {
        let _ = writeln!(
            b,
            "<tr><td><b>{}</b><br>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&o.role),
            esc(&o.title),
            esc(&o.parties.join(", ")),
            esc(&o.reason).replace("; ", "<br>"),
            esc(&o.controls.join(", "))
        );
    }
    let _ = writeln!(b, "</table>\n<h2>Access path</h2>\n<ol>");
    for p in &r.path {
        let _ = writeln!(b, "<li><b>{}</b>: {}</li>", p.step.as_str(), esc(&p.what));
    }
    let _ = writeln!(
        b,
        "</ol>\n<h2>Controls at incident time</h2>\n<table><tr><th>step</th><th>control</th><th>state</th><th>accountable</th><th>detail</th></tr>"
    );
    for c in &r.controls {
        let state = c.state.as_str();
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
            c.step.as_str(),
            esc(&c.control),
            class(state),
            state,
            esc(c.accountable.as_deref().unwrap_or("—")),
            esc(&c.detail)
        );
    }
    let _ = writeln!(
        b,
        "</table>\n<h2>Timeline</h2>\n<table><tr><th>time</th><th>event</th><th>source</th><th>detail</th></tr>"
    );
    for e in &r.timeline {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.at,
            e.kind.as_str(),
            esc(&e.source),
            esc(&super::event_detail(e))
        );
    }
    let _ = writeln!(b, "</table>\n<h2>Governance defects</h2>\n<ul>");
    if r.defects.is_empty() {
        let _ = writeln!(b, "<li>None.</li>");
    }
    for d in &r.defects {
        let _ = writeln!(b, "<li>{}</li>", esc(&d.to_string()));
    }
    let _ = writeln!(b, "</ul>\n<h2>Framework references</h2>\n<ul>");
    for a in &r.anchors {
        let _ = writeln!(b, "<li>{}</li>", esc(&framework::describe(a)));
    }
    let _ = writeln!(b, "</ul>");
    page(&format!("Accountability report {}", r.incident), &b)
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn everything_is_escaped() {
        assert_eq!(
            esc("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
