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

/// One table cell: HTML already escaped, and a class for the state cells.
struct Cell {
    class: Option<String>,
    html: String,
}

/// Escaped text.
fn t(text: &str) -> Cell {
    Cell {
        class: None,
        html: esc(text),
    }
}

/// A state or status, styled by its name.
fn state(text: &str) -> Cell {
    Cell {
        class: Some(class(text)),
        html: esc(text),
    }
}

/// Markup built from escaped parts.
fn raw(html: String) -> Cell {
    Cell { class: None, html }
}

fn table(b: &mut String, headers: &[&str], rows: impl IntoIterator<Item = Vec<Cell>>) {
    b.push_str("<table><tr>");
    for h in headers {
        let _ = write!(b, "<th>{h}</th>");
    }
    b.push_str("</tr>\n");
    for row in rows {
        b.push_str("<tr>");
        for cell in row {
            match cell.class {
                Some(c) => {
                    let _ = write!(b, "<td class=\"{c}\">{}</td>", cell.html);
                }
                None => {
                    let _ = write!(b, "<td>{}</td>", cell.html);
                }
            }
        }
        b.push_str("</tr>\n");
    }
    b.push_str("</table>\n");
}

fn list(b: &mut String, tag: &str, items: impl IntoIterator<Item = String>) {
    let _ = writeln!(b, "<{tag}>");
    for item in items {
        let _ = writeln!(b, "<li>{item}</li>");
    }
    let _ = writeln!(b, "</{tag}>");
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
    table(
        &mut b,
        &[
            "status", "severity", "check", "owner", "evidence", "anchors",
        ],
        a.findings.iter().map(|f| {
            let evidence: Vec<String> = f.evidence.iter().map(|e| esc(e)).collect();
            vec![
                state(f.status.as_str()),
                t(f.severity.as_str()),
                raw(format!("<b>{}</b><br>{}", esc(&f.check), esc(&f.title))),
                t(&owner_label(&f.owner.role, &f.owner.parties)),
                raw(evidence.join("<br>")),
                t(&f.anchors.join(", ")),
            ]
        }),
    );
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
    b.push_str("<h2>Who answers</h2>\n");
    table(
        &mut b,
        &["role", "parties", "why", "controls"],
        r.owners.iter().map(|o| {
            vec![
                raw(format!("<b>{}</b><br>{}", esc(&o.role), esc(&o.title))),
                t(&o.parties.join(", ")),
                raw(esc(&o.reason).replace("; ", "<br>")),
                t(&o.controls.join(", ")),
            ]
        }),
    );
    b.push_str("<h2>Access path</h2>\n");
    list(
        &mut b,
        "ol",
        r.path
            .iter()
            .map(|p| format!("<b>{}</b>: {}", p.step.as_str(), esc(&p.what))),
    );
    b.push_str("<h2>Controls at incident time</h2>\n");
    table(
        &mut b,
        &["step", "control", "state", "accountable", "detail"],
        r.controls.iter().map(|c| {
            vec![
                t(c.step.as_str()),
                t(&c.control),
                state(c.state.as_str()),
                t(c.accountable.as_deref().unwrap_or("—")),
                t(&c.detail),
            ]
        }),
    );
    b.push_str("<h2>Timeline</h2>\n");
    table(
        &mut b,
        &["time", "event", "source", "detail"],
        r.timeline.iter().map(|e| {
            vec![
                t(&e.at.to_string()),
                t(e.kind.as_str()),
                t(&e.source),
                t(&super::event_detail(e)),
            ]
        }),
    );
    b.push_str("<h2>Governance defects</h2>\n");
    let defects: Vec<String> = if r.defects.is_empty() {
        vec!["None.".to_owned()]
    } else {
        r.defects.iter().map(|d| esc(&d.to_string())).collect()
    };
    list(&mut b, "ul", defects);
    b.push_str("<h2>Framework references</h2>\n");
    list(
        &mut b,
        "ul",
        r.anchors.iter().map(|a| esc(&framework::describe(a))),
    );
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
