//! `pushback incidents list|show|ack|resolve`: the incidents the response playbook
//! opened, from a running server with the admin key.
//!
//! Errors are one line: an unknown incident is "no incident ID", a move the incident
//! cannot make is the server's own explanation; the exit status is 2, as for every
//! admin command.

use anyhow::Context as _;
use clap::Subcommand;
use serde::Deserialize;
use serde_json::{Value, json};

use pushback_model::Timestamp;
use pushback_respond::{Incident, IncidentDetail, IncidentState};

use crate::http::{self, AdminApi, ServerArgs};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum IncidentsCommand {
    /// Incidents, newest first: id, state, severity, subject, owner, opened, failed
    /// actions.
    List {
        #[arg(long)]
        state: Option<StateArg>,
        /// Only the incident(s) of this user (or a finding's group, `src_ip=…`).
        #[arg(long, value_name = "LOGIN")]
        subject: Option<String>,
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// The server's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One incident: who, what, where it stands, and its timeline in time order.
    Show {
        id: String,
        /// The server's JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an open incident: someone owns it now.
    Ack {
        id: String,
        /// Who owns it from now on; by default, the admin key used.
        #[arg(long, value_name = "WHO")]
        owner: Option<String>,
        /// A note for the timeline.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
    /// Resolve an incident (open or acknowledged).
    Resolve {
        id: String,
        /// A note for the timeline.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum StateArg {
    Open,
    Acknowledged,
    Resolved,
}

impl StateArg {
    fn state(self) -> IncidentState {
        match self {
            Self::Open => IncidentState::Open,
            Self::Acknowledged => IncidentState::Acknowledged,
            Self::Resolved => IncidentState::Resolved,
        }
    }
}

#[derive(Deserialize)]
struct List {
    incidents: Vec<Incident>,
}

pub async fn run(server: &ServerArgs, command: IncidentsCommand) -> anyhow::Result<()> {
    let api = AdminApi::new(server)?;
    match command {
        IncidentsCommand::List {
            state,
            subject,
            limit,
            json,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            query.extend(state.map(|s| ("state", s.state().as_str().to_owned())));
            query.extend(subject.map(|s| ("subject", s)));
            let answer = http::send(
                api.request(reqwest::Method::GET, "/v1/incidents")
                    .query(&query),
            )
            .await
            .map_err(|e| {
                http::not_found(e, || {
                    format!("the server at {} keeps no incidents", server.url)
                })
            })?;
            if json {
                output::json(&answer);
                return Ok(());
            }
            let list: List = decode(answer)?;
            if list.incidents.is_empty() {
                output::line("no incidents");
            } else {
                output::text(&table(&list.incidents));
            }
        }
        IncidentsCommand::Show { id, json } => {
            let answer = api
                .get(&format!("/v1/incidents/{}", http::segment(&id)))
                .await
                .map_err(|e| refused(e, &id))?;
            if json {
                output::json(&answer);
                return Ok(());
            }
            let detail: IncidentDetail = decode(answer)?;
            output::text(&show(&detail));
        }
        IncidentsCommand::Ack { id, owner, note } => {
            let mut body = json!({});
            if let Some(owner) = owner {
                body["owner"] = json!(owner);
            }
            if let Some(note) = note {
                body["note"] = json!(note);
            }
            let moved = post_move(&api, &id, "ack", body).await?;
            output::line(&format!(
                "{} acknowledged; owner {}",
                moved.id,
                moved.owner.as_deref().unwrap_or("-")
            ));
        }
        IncidentsCommand::Resolve { id, note } => {
            let body = note.map_or_else(|| json!({}), |n| json!({ "note": n }));
            let moved = post_move(&api, &id, "resolve", body).await?;
            output::line(&format!("{} resolved", moved.id));
        }
    }
    Ok(())
}

async fn post_move(api: &AdminApi, id: &str, verb: &str, body: Value) -> anyhow::Result<Incident> {
    let answer = api
        .post(
            &format!("/v1/incidents/{}/{verb}", http::segment(id)),
            Some(&body),
        )
        .await
        .map_err(|e| refused(e, id))?;
    decode(answer)
}

/// A refusal about incident `id` in a user's words: unknown → "no incident ID", a move
/// it cannot make → the server's explanation.
fn refused(error: anyhow::Error, id: &str) -> anyhow::Error {
    match error.downcast_ref::<http::Problem>() {
        Some(p) if p.status == 404 => anyhow::anyhow!("no incident {id}"),
        Some(p) if p.status == 409 => match &p.detail {
            Some(detail) => anyhow::anyhow!("{detail}"),
            None => anyhow::anyhow!("incident {id} cannot make that move"),
        },
        _ => error,
    }
}

fn decode<T: serde::de::DeserializeOwned>(answer: Value) -> anyhow::Result<T> {
    serde_json::from_value(answer).context("the server's answer is not an incident")
}

/// An instant to the second, `2026-04-14T21:02:10Z`.
pub fn when(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    match text.split_once('.') {
        Some((head, _)) => format!("{head}Z"),
        None => text,
    }
}

/// Columns padded to their widest cell, two spaces apart; the last is not padded.
fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..n)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn table(incidents: &[Incident]) -> String {
    let mut rows = vec![
        [
            "ID", "STATE", "SEVERITY", "SUBJECT", "OWNER", "OPENED", "FAILED",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    rows.extend(incidents.iter().map(|i| {
        vec![
            i.id.clone(),
            i.state.as_str().to_owned(),
            i.severity.as_str().to_owned(),
            i.subject.clone(),
            i.owner.clone().unwrap_or_else(|| "-".into()),
            when(i.opened_at),
            i.failed_actions.to_string(),
        ]
    }));
    columns(&rows)
}

fn show(detail: &IncidentDetail) -> String {
    let i = &detail.incident;
    let mut head = vec![
        ("state", i.state.as_str().to_owned()),
        ("severity", i.severity.as_str().to_owned()),
        ("subject", i.subject.clone()),
        ("owner", i.owner.clone().unwrap_or_else(|| "-".into())),
        ("opened", when(i.opened_at)),
    ];
    head.extend(i.acknowledged_at.map(|t| ("acknowledged", when(t))));
    head.extend(i.resolved_at.map(|t| ("resolved", when(t))));
    head.push(("failed actions", i.failed_actions.to_string()));
    if !detail.findings.is_empty() {
        head.push(("findings", detail.findings.join(", ")));
    }
    let mut out = format!("{}  {}\n", i.id, i.title);
    for (k, v) in head {
        out.push_str(&format!("  {:<15} {v}\n", format!("{k}:")));
    }
    out.push('\n');
    let mut entries: Vec<_> = detail.timeline.iter().collect();
    entries.sort_by_key(|e| e.at);
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| vec![when(e.at), e.kind.as_str().to_owned(), e.summary.clone()])
        .collect();
    out.push_str(&columns(&rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushback_model::Severity;
    use pushback_respond::{EntryKind, TimelineEntry};

    fn incident() -> Incident {
        Incident {
            id: "inc_1".into(),
            state: IncidentState::Acknowledged,
            severity: Severity::Critical,
            title: "Prompt reported as not theirs by alice".into(),
            subject: "alice".into(),
            owner: Some("soc-oncall".into()),
            opened_at: Timestamp::from_millis(1_776_200_530_123),
            updated_at: Timestamp::from_millis(1_776_200_600_000),
            acknowledged_at: Some(Timestamp::from_millis(1_776_200_600_000)),
            resolved_at: None,
            failed_actions: 1,
        }
    }

    #[test]
    fn the_list_is_a_table_with_one_row_per_incident() {
        let mut other = incident();
        other.id = "inc_22".into();
        other.state = IncidentState::Open;
        other.owner = None;
        other.failed_actions = 0;
        assert_eq!(
            table(&[incident(), other]),
            "ID      STATE         SEVERITY  SUBJECT  OWNER       OPENED                FAILED\n\
             inc_1   acknowledged  critical  alice    soc-oncall  2026-04-14T21:02:10Z  1\n\
             inc_22  open          critical  alice    -           2026-04-14T21:02:10Z  0\n"
        );
    }

    #[test]
    fn show_prints_the_header_and_the_timeline_in_time_order() {
        let entry = |ms, kind, summary: &str| TimelineEntry {
            at: Timestamp::from_millis(ms),
            kind,
            summary: summary.into(),
            detail: Value::Null,
        };
        let detail = IncidentDetail {
            incident: incident(),
            findings: vec![],
            timeline: vec![
                entry(
                    1_776_200_531_000,
                    EntryKind::Trigger,
                    "the user reported a prompt as not theirs",
                ),
                entry(
                    1_776_200_530_000,
                    EntryKind::Guard,
                    "challenge.not_me by device:dev_1",
                ),
            ],
        };
        let text = show(&detail);
        assert!(
            text.starts_with(
                "inc_1  Prompt reported as not theirs by alice\n  state:          acknowledged\n"
            ),
            "{text}"
        );
        assert!(text.contains("  owner:          soc-oncall\n"), "{text}");
        assert!(
            text.ends_with(
                "\n2026-04-14T21:02:10Z  guard    challenge.not_me by device:dev_1\n\
                 2026-04-14T21:02:11Z  trigger  the user reported a prompt as not theirs\n"
            ),
            "{text}"
        );
    }
}
