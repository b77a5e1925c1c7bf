//! The device API. No bearer secret: enrolment proves possession of the key, and every
//! later request is signed by it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use serde::{Deserialize, Serialize};

use pushback_guard::{
    AnswerPayload, Decision, EnrolRequest, KeyType, PendingItem, SignedAnswer, SignedRequest,
};

use crate::AppState;
use crate::extract::StrictJson;
use crate::problem::ApiError;

/// Header names of a signed device request.
pub mod headers {
    pub const DEVICE: &str = "pushback-device";
    pub const TIMESTAMP: &str = "pushback-timestamp";
    pub const NONCE: &str = "pushback-nonce";
    pub const SIGNATURE: &str = "pushback-signature";
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolBody {
    token: String,
    key_type: KeyType,
    public_key: String,
    name: String,
    signature: String,
}

#[derive(Serialize)]
pub struct EnrolReply {
    device_id: String,
    user: String,
}

pub async fn enrol(
    State(state): State<AppState>,
    StrictJson(b): StrictJson<EnrolBody>,
) -> Result<Json<EnrolReply>, ApiError> {
    let req = EnrolRequest {
        token: b.token,
        key_type: b.key_type,
        public_key: b.public_key,
        name: b.name,
        signature: b.signature,
    };
    let device = state.guard.enrol(&req).await?;
    tracing::info!(device = %device.id, user = %device.login, "device enrolled");
    Ok(Json(EnrolReply {
        device_id: device.id,
        user: device.login,
    }))
}

#[derive(Serialize)]
pub struct PendingReply {
    challenges: Vec<PendingItem>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::BadHeaders)
}

pub async fn pending(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PendingReply>, ApiError> {
    let timestamp_ms = header(&headers, headers::TIMESTAMP)?
        .parse()
        .map_err(|_| ApiError::BadHeaders)?;
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = SignedRequest {
        device_id: header(&headers, headers::DEVICE)?,
        timestamp_ms,
        nonce: header(&headers, headers::NONCE)?,
        signature: header(&headers, headers::SIGNATURE)?,
        method: method.as_str(),
        path_and_query,
        body: &body,
    };
    let (_, challenges) = state.guard.pending(&req).await?;
    Ok(Json(PendingReply { challenges }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    challenge_id: String,
    #[serde(default)]
    code: String,
    decision: Decision,
    context_sha256: String,
    device_id: String,
    timestamp: i64,
    nonce: String,
    signature: String,
}

#[derive(Serialize)]
pub struct AnswerReply {
    status: &'static str,
}

pub async fn answer(
    State(state): State<AppState>,
    StrictJson(b): StrictJson<AnswerBody>,
) -> Result<Json<AnswerReply>, ApiError> {
    let signed = SignedAnswer {
        payload: AnswerPayload {
            challenge_id: b.challenge_id,
            code: b.code,
            decision: b.decision,
            context_sha256: b.context_sha256,
            device_id: b.device_id,
            timestamp_ms: b.timestamp,
            nonce: b.nonce,
        },
        signature: b.signature,
    };
    let receipt = state.guard.answer(&signed).await?;
    Ok(Json(AnswerReply {
        status: receipt.status.as_str(),
    }))
}
