//! The app API, shaped like OpenID CIBA: ask for a challenge, then poll it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use pushback_guard::{BindingContext, ChallengeAnswer, ChallengeRequest, ChallengeView};

use crate::AppState;
use crate::extract::{App, StrictJson};
use crate::problem::ApiError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeBody {
    login_hint: String,
    context: BindingContext,
    #[serde(default)]
    requested_expiry: Option<i64>,
}

/// How often the app should poll, in seconds (CIBA's `interval`).
const POLL_INTERVAL_SECS: u32 = 2;

#[derive(Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChallengeReply {
    Pending {
        auth_req_id: String,
        /// Show this on the login screen.
        user_code: String,
        mode: &'static str,
        expires_in: i64,
        expires_at: String,
        interval: u32,
    },
    Wait {
        retry_after: i64,
    },
    Locked {
        until: Option<String>,
        reason: &'static str,
    },
    StepUpRequired {
        reason: &'static str,
    },
}

pub async fn create(
    State(state): State<AppState>,
    App(app): App,
    StrictJson(body): StrictJson<ChallengeBody>,
) -> Result<Response, ApiError> {
    let req = ChallengeRequest {
        login_hint: body.login_hint,
        context: body.context,
        requested_expiry: body.requested_expiry,
    };
    let now = state.guard.now();
    let answer = state.guard.open(&app, &req).await?;
    let reply = match answer {
        ChallengeAnswer::Pending {
            auth_req_id,
            user_code,
            mode,
            expires_at,
            ..
        } => ChallengeReply::Pending {
            auth_req_id,
            user_code,
            mode: mode.as_str(),
            expires_in: now.secs_until(expires_at),
            expires_at: expires_at.to_rfc3339(),
            interval: POLL_INTERVAL_SECS,
        },
        ChallengeAnswer::Wait { until } => ChallengeReply::Wait {
            retry_after: now.secs_until(until).max(1),
        },
        ChallengeAnswer::Locked { until, reason } => ChallengeReply::Locked {
            until: (until != pushback_guard::policy::INDEFINITE).then(|| until.to_rfc3339()),
            reason: reason.as_str(),
        },
        ChallengeAnswer::StepUpRequired { reason } => ChallengeReply::StepUpRequired {
            reason: reason.as_str(),
        },
    };
    let retry_after = match &reply {
        ChallengeReply::Wait { retry_after } => Some(*retry_after),
        _ => None,
    };
    let mut response = Json(reply).into_response();
    if let Some(v) = retry_after.and_then(|secs| HeaderValue::from_str(&secs.to_string()).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Serialize)]
pub struct StatusReply {
    auth_req_id: String,
    status: &'static str,
    expires_at: String,
    decided_at: Option<String>,
}

pub async fn status(
    State(state): State<AppState>,
    App(app): App,
    Path(id): Path<String>,
) -> Result<Json<StatusReply>, ApiError> {
    let ChallengeView {
        auth_req_id,
        status,
        expires_at,
        decided_at,
    } = state.guard.status(&app, &id).await?;
    Ok(Json(StatusReply {
        auth_req_id,
        status: status.as_str(),
        expires_at: expires_at.to_rfc3339(),
        decided_at: decided_at.map(|t| t.to_rfc3339()),
    }))
}
