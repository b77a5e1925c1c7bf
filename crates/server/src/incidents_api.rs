//! Incidents, for admins: `GET /v1/incidents`, `GET /v1/incidents/{id}` (with its
//! timeline: triggers, every action attempt with its result and latency, state changes,
//! and guard's audit entries about the subject), and the moves
//! `POST /v1/incidents/{id}/ack` and `…/resolve`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::json;

use pushback_guard::GuardError;
use pushback_respond::{
    EntryKind, Incident, IncidentDetail, IncidentQuery, IncidentState, IncidentStoreError,
    TimelineEntry,
};

use crate::AppState;
use crate::extract::{Admin, OptionalJson};
use crate::problem::ApiError;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

impl From<IncidentStoreError> for ApiError {
    fn from(e: IncidentStoreError) -> Self {
        match e {
            IncidentStoreError::NotFound(_) => ApiError::Guard(GuardError::NotFound),
            t @ IncidentStoreError::Transition { .. } => ApiError::WrongState(t.to_string()),
            other => ApiError::Guard(GuardError::Store(
                pushback_guard::store::StoreError::Backend(other.to_string()),
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// open, acknowledged or resolved.
    state: Option<String>,
    /// A user's login (or a finding's group, `src_ip=…`).
    subject: Option<String>,
    limit: Option<u32>,
}

#[derive(Serialize)]
pub struct List {
    incidents: Vec<Incident>,
}

pub async fn list(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Json<List>, ApiError> {
    let store = state.incidents.as_ref().ok_or(GuardError::NotFound)?;
    let Query(p) = params.map_err(|e| GuardError::Invalid(e.body_text()))?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(GuardError::Invalid(format!("limit must be 1 to {MAX_LIMIT}")).into());
    }
    let wanted = match p.state.as_deref() {
        None => None,
        Some(s) => Some(IncidentState::parse(s).ok_or_else(|| {
            GuardError::Invalid("state must be open, acknowledged or resolved".into())
        })?),
    };
    let incidents = store
        .incidents(&IncidentQuery {
            state: wanted,
            subject: p.subject,
            limit,
        })
        .await?;
    Ok(Json(List { incidents }))
}

pub async fn show(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let store = state.incidents.as_ref().ok_or(GuardError::NotFound)?;
    Ok(Json(
        store.incident(&id).await?.ok_or(GuardError::NotFound)?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    /// Who owns the incident from now on; the acknowledging admin when absent.
    owner: Option<String>,
    note: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    note: Option<String>,
}

async fn transition(
    state: &AppState,
    actor: String,
    id: &str,
    to: IncidentState,
    owner: Option<&str>,
    note: Option<String>,
) -> Result<Json<Incident>, ApiError> {
    let store = state.incidents.as_ref().ok_or(GuardError::NotFound)?;
    if owner.is_some_and(|o| o.trim().is_empty() || o.len() > 200) {
        return Err(GuardError::Invalid("owner must be 1 to 200 characters".into()).into());
    }
    if note.as_ref().is_some_and(|n| n.len() > 4000) {
        return Err(GuardError::Invalid("note must be at most 4000 characters".into()).into());
    }
    let verb = match to {
        IncidentState::Acknowledged => "acknowledged",
        _ => "resolved",
    };
    let entry = TimelineEntry {
        at: state.guard.now(),
        kind: EntryKind::State,
        summary: format!("{verb} by {actor}"),
        detail: json!({ "state": to, "by": actor, "owner": owner, "note": note }),
    };
    let incident = store.transition(id, to, owner, &entry).await?;
    tracing::info!(incident = %id, state = verb, by = %actor, "incident moved");
    Ok(Json(incident))
}

pub async fn ack(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<Ack>,
) -> Result<Json<Incident>, ApiError> {
    let actor = admin.actor();
    let owner = b.owner.unwrap_or_else(|| actor.clone());
    transition(
        &state,
        actor,
        &id,
        IncidentState::Acknowledged,
        Some(&owner),
        b.note,
    )
    .await
}

pub async fn resolve(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    OptionalJson(b): OptionalJson<Resolve>,
) -> Result<Json<Incident>, ApiError> {
    transition(
        &state,
        admin.actor(),
        &id,
        IncidentState::Resolved,
        None,
        b.note,
    )
    .await
}
