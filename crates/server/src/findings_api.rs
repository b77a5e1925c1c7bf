//! `GET /v1/findings`: what watch found, newest first, for admins.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use pushback_guard::GuardError;
use pushback_model::{Finding, Timestamp};
use pushback_watch::store::{FindingCursor, FindingQuery};

use crate::AppState;
use crate::extract::Admin;
use crate::problem::ApiError;

/// Findings per page unless `limit` says otherwise; `limit` may not exceed [`MAX_LIMIT`].
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    rule_id: Option<String>,
    user: Option<String>,
    /// Only episodes that ended at or after this time (RFC 3339, or Unix milliseconds).
    since: Option<String>,
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize)]
pub struct Page {
    findings: Vec<Finding>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

fn parse_since(text: &str) -> Option<Timestamp> {
    if let Ok(ms) = text.parse::<i64>() {
        return Some(Timestamp::from_millis(ms));
    }
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .ok()
        .map(Timestamp::from_millis)
}

pub async fn list(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let watch = state.watch.as_ref().ok_or(GuardError::NotFound)?;
    let Query(p) = params.map_err(|e| GuardError::Invalid(e.body_text()))?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(GuardError::Invalid(format!("limit must be 1 to {MAX_LIMIT}")).into());
    }
    let after = match p.cursor.as_deref() {
        Some(c) => Some(
            FindingCursor::decode(c)
                .ok_or_else(|| GuardError::Invalid("cursor is not one we gave out".into()))?,
        ),
        None => None,
    };
    let since = match p.since.as_deref() {
        Some(s) => Some(parse_since(s).ok_or_else(|| {
            GuardError::Invalid("since must be RFC 3339 or Unix milliseconds".into())
        })?),
        None => None,
    };
    let page = watch
        .findings
        .findings(&FindingQuery {
            rule_id: p.rule_id,
            user: p.user,
            since,
            after,
            limit,
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(Page {
        findings: page.findings.into_iter().map(|f| f.finding).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}
