//! The [`IncidentStore`](pushback_respond::IncidentStore) implementation, written once
//! against [`Database`](crate::sql::Database) and expanded per backend by
//! [`impl_incident_store!`]. A partial unique index keeps one unresolved incident per
//! subject, so two triggers about the same user racing on two nodes join one incident.

use pushback_model::{Severity, Timestamp};
use pushback_respond::{
    EntryKind, Incident, IncidentDetail, IncidentState, IncidentStoreError, TimelineEntry,
};

use crate::guard::ms;
use crate::sql::{Row, Session, SqlError, SqlResult, args};

impl From<SqlError> for IncidentStoreError {
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::Unique(msg) | SqlError::Other(msg) => IncidentStoreError::Backend(msg),
        }
    }
}

pub(crate) const INCIDENT_COLUMNS: &str = "id, state, severity, title, subject, owner, opened_at, \
     updated_at, acknowledged_at, resolved_at, failed_actions";

/// The most incidents one listing returns.
pub(crate) const MAX_LIST: u32 = 1_000;

/// How long a claimed action may run before another claimant may take it over: a node
/// that died mid-action must not block the action forever.
pub(crate) const STALE_CLAIM_MS: i64 = 10 * 60 * 1000;

/// How far before an incident opened its timeline reaches into guard's audit log.
pub(crate) const AUDIT_LOOKBACK_MS: i64 = 60 * 60 * 1000;

fn bad(what: &str, value: &str) -> SqlError {
    SqlError::Other(format!("a stored incident has an unknown {what} {value:?}"))
}

pub(crate) fn incident_row(r: &dyn Row) -> SqlResult<Incident> {
    let state = r.text(1)?;
    let severity = r.text(2)?;
    let at = |i| r.opt_int(i).map(|v| v.map(Timestamp::from_millis));
    Ok(Incident {
        id: r.text(0)?,
        state: IncidentState::parse(&state).ok_or_else(|| bad("state", &state))?,
        severity: Severity::parse(&severity).ok_or_else(|| bad("severity", &severity))?,
        title: r.text(3)?,
        subject: r.text(4)?,
        owner: r.opt_text(5)?,
        opened_at: Timestamp::from_millis(r.int(6)?),
        updated_at: Timestamp::from_millis(r.int(7)?),
        acknowledged_at: at(8)?,
        resolved_at: at(9)?,
        failed_actions: r.int(10)?,
    })
}

fn entry_row(r: &dyn Row) -> SqlResult<TimelineEntry> {
    let kind = r.text(1)?;
    let detail = r.text(3)?;
    Ok(TimelineEntry {
        at: Timestamp::from_millis(r.int(0)?),
        kind: EntryKind::parse(&kind).ok_or_else(|| bad("timeline kind", &kind))?,
        summary: r.text(2)?,
        detail: serde_json::from_str(&detail)
            .map_err(|e| SqlError::Other(format!("a timeline entry does not parse: {e}")))?,
    })
}

/// guard's audit entries about the subject, as timeline lines.
fn audit_entry_row(r: &dyn Row) -> SqlResult<TimelineEntry> {
    let kind = r.text(1)?;
    let actor = r.text(2)?;
    let detail = r.text(3)?;
    Ok(TimelineEntry {
        at: Timestamp::from_millis(r.int(0)?),
        kind: EntryKind::Guard,
        summary: format!("{kind} by {actor}"),
        detail: serde_json::json!({
            "audit": kind,
            "actor": actor,
            "detail": serde_json::from_str::<serde_json::Value>(&detail).unwrap_or(serde_json::Value::String(detail)),
        }),
    })
}

pub(crate) async fn append(
    s: &mut impl Session,
    id: &str,
    e: &TimelineEntry,
) -> Result<(), IncidentStoreError> {
    s.exec(
        "INSERT INTO incident_timeline (incident_id, at, kind, summary, detail) VALUES ($1, $2, $3, $4, $5)",
        args![id, e.at.millis(), e.kind.as_str(), &e.summary, &e.detail.to_string()],
    )
    .await?;
    Ok(())
}

pub(crate) async fn unresolved(
    s: &mut impl Session,
    subject: &str,
    lock: &str,
) -> Result<Option<Incident>, IncidentStoreError> {
    let sql = format!(
        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE subject = $1 AND state <> 'resolved'{lock}"
    );
    Ok(s.opt(&sql, args![subject], incident_row).await?)
}

pub(crate) async fn by_id(
    s: &mut impl Session,
    id: &str,
    lock: &str,
) -> Result<Option<Incident>, IncidentStoreError> {
    let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1{lock}");
    Ok(s.opt(&sql, args![id], incident_row).await?)
}

/// The incident, its findings and its timeline merged with the subject's guard audit
/// entries from an hour before it opened until it was resolved.
pub(crate) async fn detail(
    s: &mut impl Session,
    id: &str,
) -> Result<Option<IncidentDetail>, IncidentStoreError> {
    let Some(incident) = by_id(s, id, "").await? else {
        return Ok(None);
    };
    let findings = s
        .rows(
            "SELECT finding_key FROM incident_findings WHERE incident_id = $1 ORDER BY finding_key",
            args![id],
            crate::sql::text,
        )
        .await?;
    let recorded = s
        .rows(
            "SELECT at, kind, summary, detail FROM incident_timeline WHERE incident_id = $1 ORDER BY at, seq",
            args![id],
            entry_row,
        )
        .await?;
    let mut timeline = s
        .rows(
            "SELECT at, kind, actor, detail FROM audit_log WHERE subject = $1 AND at >= $2 AND ($3 IS NULL OR at <= $3) \
             ORDER BY at, id LIMIT 1000",
            args![
                &incident.subject,
                incident.opened_at.millis().saturating_sub(AUDIT_LOOKBACK_MS),
                ms(incident.resolved_at)
            ],
            audit_entry_row,
        )
        .await?;
    timeline.extend(recorded);
    // Stable: at the same instant guard's entries (the causes) come first, and each
    // source keeps its own order.
    timeline.sort_by_key(|e| e.at);
    Ok(Some(IncidentDetail {
        incident,
        findings,
        timeline,
    }))
}

/// Expands the incident store for one backend type.
macro_rules! impl_incident_store {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;

            use pushback_model::Timestamp;
            use pushback_respond::{
                Claim, DeadLetterRecord, EntryKind, Incident, IncidentDetail, IncidentQuery, IncidentState,
                IncidentStore, IncidentStoreError, NewIncident, TimelineEntry,
            };

            use $crate::incidents::*;
            use $crate::sql::{self, args, Database as _, Session as _, Transaction as _};

            const LOCK: &str = <$store as $crate::sql::Database>::LOCK;

            #[async_trait]
            impl IncidentStore for $store {
                async fn open_or_join(&self, new: &NewIncident, entry: &TimelineEntry) -> Result<(Incident, bool), IncidentStoreError> {
                    let mut tx = self.begin().await?;
                    let opened = tx
                        .exec(
                            "INSERT INTO incidents (id, state, severity, title, subject, opened_at, updated_at) \
                             VALUES ($1, 'open', $2, $3, $4, $5, $5) ON CONFLICT (subject) WHERE state <> 'resolved' DO NOTHING",
                            args![&new.id, new.severity.as_str(), &new.title, &new.subject, new.at.millis()],
                        )
                        .await? == 1;
                    let mut incident = unresolved(&mut tx, &new.subject, LOCK).await?
                        .ok_or_else(|| IncidentStoreError::Backend("the subject's open incident vanished".into()))?;
                    if !opened && new.severity > incident.severity {
                        tx.exec(
                            "UPDATE incidents SET severity = $2, updated_at = $3 WHERE id = $1",
                            args![&incident.id, new.severity.as_str(), new.at.millis()],
                        )
                        .await?;
                        append(&mut tx, &incident.id, &TimelineEntry {
                            at: new.at,
                            kind: EntryKind::State,
                            summary: format!("severity raised from {} to {}", incident.severity.as_str(), new.severity.as_str()),
                            detail: serde_json::json!({ "severity": new.severity }),
                        })
                        .await?;
                        incident.severity = new.severity;
                    }
                    append(&mut tx, &incident.id, entry).await?;
                    if let Some(key) = &new.finding_key {
                        tx.exec(
                            "INSERT INTO incident_findings (incident_id, finding_key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                            args![&incident.id, key],
                        )
                        .await?;
                    }
                    tx.commit().await?;
                    Ok((incident, opened))
                }

                async fn open_incident_of(&self, subject: &str) -> Result<Option<Incident>, IncidentStoreError> {
                    unresolved(&mut self.reader().await?, subject, "").await
                }

                async fn append(&self, id: &str, entry: &TimelineEntry) -> Result<(), IncidentStoreError> {
                    append(&mut self.writer().await?, id, entry).await
                }

                async fn claim_action(&self, id: &str, key: &str, at: Timestamp) -> Result<Claim, IncidentStoreError> {
                    let mut w = self.writer().await?;
                    let fresh = w
                        .exec(
                            "INSERT INTO incident_actions (incident_id, step, state, updated_at) VALUES ($1, $2, 'running', $3) \
                             ON CONFLICT (incident_id, step) DO NOTHING",
                            args![id, key, at.millis()],
                        )
                        .await?;
                    if fresh == 1 {
                        return Ok(Claim::Granted);
                    }
                    let retaken = w
                        .exec(
                            "UPDATE incident_actions SET state = 'running', updated_at = $3 \
                             WHERE incident_id = $1 AND step = $2 AND (state = 'failed' OR (state = 'running' AND updated_at < $4))",
                            args![id, key, at.millis(), at.millis().saturating_sub(STALE_CLAIM_MS)],
                        )
                        .await?;
                    if retaken == 1 {
                        return Ok(Claim::Granted);
                    }
                    let state = w
                        .opt("SELECT state FROM incident_actions WHERE incident_id = $1 AND step = $2", args![id, key], sql::text)
                        .await?;
                    Ok(if state.as_deref() == Some("done") { Claim::Done } else { Claim::Running })
                }

                async fn finish_action(&self, id: &str, key: &str, ok: bool, at: Timestamp) -> Result<(), IncidentStoreError> {
                    let mut tx = self.begin().await?;
                    tx.exec(
                        "UPDATE incident_actions SET state = $3, updated_at = $4 WHERE incident_id = $1 AND step = $2",
                        args![id, key, if ok { "done" } else { "failed" }, at.millis()],
                    )
                    .await?;
                    let count = if ok { "" } else { ", failed_actions = failed_actions + 1" };
                    tx.exec(&format!("UPDATE incidents SET updated_at = $2{count} WHERE id = $1"), args![id, at.millis()])
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn transition(&self, id: &str, to: IncidentState, owner: Option<&str>, entry: &TimelineEntry) -> Result<Incident, IncidentStoreError> {
                    let mut tx = self.begin().await?;
                    let Some(mut incident) = by_id(&mut tx, id, LOCK).await? else {
                        tx.rollback().await?;
                        return Err(IncidentStoreError::NotFound(id.to_owned()));
                    };
                    if !incident.state.may_become(to) {
                        tx.rollback().await?;
                        return Err(IncidentStoreError::Transition { id: id.to_owned(), from: incident.state.as_str(), to: to.as_str() });
                    }
                    let at = entry.at;
                    let column = match to {
                        IncidentState::Acknowledged => "acknowledged_at",
                        _ => "resolved_at",
                    };
                    tx.exec(
                        &format!("UPDATE incidents SET state = $2, {column} = $3, updated_at = $3, owner = COALESCE($4, owner) WHERE id = $1"),
                        args![id, to.as_str(), at.millis(), owner],
                    )
                    .await?;
                    append(&mut tx, id, entry).await?;
                    tx.commit().await?;
                    incident.state = to;
                    incident.updated_at = at;
                    match to {
                        IncidentState::Acknowledged => incident.acknowledged_at = Some(at),
                        _ => incident.resolved_at = Some(at),
                    }
                    if let Some(owner) = owner {
                        incident.owner = Some(owner.to_owned());
                    }
                    Ok(incident)
                }

                async fn incidents(&self, q: &IncidentQuery) -> Result<Vec<Incident>, IncidentStoreError> {
                    let sql = format!(
                        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR subject = $2) \
                         ORDER BY opened_at DESC, id DESC LIMIT $3"
                    );
                    let limit = i64::from(q.limit.clamp(1, MAX_LIST));
                    Ok(self
                        .reader()
                        .await?
                        .rows(&sql, args![q.state.map(IncidentState::as_str), q.subject.as_deref(), limit], incident_row)
                        .await?)
                }

                async fn incident(&self, id: &str) -> Result<Option<IncidentDetail>, IncidentStoreError> {
                    detail(&mut self.reader().await?, id).await
                }

                async fn record_dead_letter(&self, d: &DeadLetterRecord) -> Result<(), IncidentStoreError> {
                    self.writer()
                        .await?
                        .exec(
                            "INSERT INTO dead_letters (sink, created_at, error, body) VALUES ($1, $2, $3, $4)",
                            args![&d.sink, d.at.millis(), &d.error, &d.body],
                        )
                        .await?;
                    Ok(())
                }

                async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetterRecord>, IncidentStoreError> {
                    Ok(self
                        .reader()
                        .await?
                        .rows(
                            "SELECT sink, created_at, error, body FROM dead_letters ORDER BY seq DESC LIMIT $1",
                            args![i64::from(limit.clamp(1, MAX_LIST))],
                            |r| Ok(DeadLetterRecord { sink: r.text(0)?, at: Timestamp::from_millis(r.int(1)?), error: r.text(2)?, body: r.text(3)? }),
                        )
                        .await?)
                }
            }
        };
    };
}

pub(crate) use impl_incident_store;
