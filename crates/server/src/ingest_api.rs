//! The ingest API: identity-provider logs posted in batches, authenticated by an ingest
//! key, normalised by watch's reader and handed to the live engine.
//!
//! - `POST /v1/ingest/{okta|entra|duo}`: any batch shape the reader takes (a JSON array,
//!   JSON lines, an Event Hub `{"records": […]}`, a Duo `{"response": …}` page, gzip or
//!   not) and Okta event hooks' `{"data": {"events": […]}}`. The answer is `202` with
//!   the records accepted and rejected and the first few reasons.
//! - `GET /v1/ingest/okta` with `x-okta-verification-challenge`: Okta's one-time event
//!   hook verification, answered `{"verification": "<the header's value>"}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use pushback_guard::GuardError;
use pushback_model::{AuthEvent, EventSource};
use pushback_watch::Format;
use pushback_watch::input::{EventReader, ReaderSettings};

use crate::AppState;
use crate::extract::Ingest;
use crate::problem::ApiError;

/// Reasons reported per request; the rest are only counted.
const SHOWN_ERRORS: usize = 10;

/// The header Okta sends its verification value in.
pub const OKTA_VERIFICATION: &str = "x-okta-verification-challenge";

#[derive(Serialize)]
pub struct RecordProblem {
    /// 1-based position of the record in the batch.
    record: u64,
    line: u64,
    reason: String,
}

#[derive(Serialize)]
pub struct IngestReply {
    /// Records read and understood (including those that describe nothing watch uses).
    accepted: u64,
    rejected: u64,
    /// Events handed to the engine.
    events: u64,
    errors: Vec<RecordProblem>,
}

/// The reader format and event source a log source's name (`okta`, `entra`, `duo`:
/// the ingest path, and a poller's name) stands for.
pub(crate) fn format_of(source: &str) -> Option<(Format, EventSource)> {
    match source {
        "okta" => Some((Format::Okta, EventSource::Okta)),
        "entra" => Some((Format::Entra, EventSource::Entra)),
        "duo" => Some((Format::Duo, EventSource::Duo)),
        _ => None,
    }
}

#[derive(Deserialize)]
struct OktaHook {
    data: OktaHookData,
}

#[derive(Deserialize)]
struct OktaHookData {
    events: Vec<serde_json::Value>,
}

/// An Okta event hook delivery's events as a JSON array; `None` when `body` is not one.
fn okta_hook_events(body: &[u8]) -> Option<Vec<u8>> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    if body[start] != b'{' || mentions_data(body).is_none() {
        return None;
    }
    let hook: OktaHook = serde_json::from_slice(body).ok()?;
    serde_json::to_vec(&hook.data.events).ok()
}

/// Where `"data"` occurs, if anywhere: a cheap test before parsing the whole body.
fn mentions_data(body: &[u8]) -> Option<usize> {
    body.windows(6).position(|w| w == b"\"data\"")
}

pub(crate) struct Batch {
    pub(crate) events: Vec<AuthEvent>,
    pub(crate) accepted: u64,
    pub(crate) rejected: u64,
    errors: Vec<RecordProblem>,
}

pub(crate) fn read_batch(format: Format, body: &[u8]) -> Batch {
    let unwrapped = match format {
        Format::Okta => okta_hook_events(body),
        _ => None,
    };
    let bytes = unwrapped.as_deref().unwrap_or(body);
    let settings = ReaderSettings {
        format: Some(format),
        ..ReaderSettings::default()
    };
    let mut batch = Batch {
        events: Vec::new(),
        accepted: 0,
        rejected: 0,
        errors: Vec::new(),
    };
    for item in EventReader::new(bytes, settings) {
        match item {
            Ok(record) => {
                batch.accepted += 1;
                batch
                    .events
                    .extend(record.outcome.into_events().map(|e| *e));
            }
            Err(e) => {
                batch.rejected += 1;
                if batch.errors.len() < SHOWN_ERRORS {
                    batch.errors.push(RecordProblem {
                        record: e.number,
                        line: e.line,
                        reason: e.problem.to_string(),
                    });
                }
                if e.is_fatal() {
                    break;
                }
            }
        }
    }
    batch
}

pub async fn ingest(
    State(state): State<AppState>,
    Ingest(key): Ingest,
    Path(source): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IngestReply>), ApiError> {
    let watch = state.watch.as_ref().ok_or(GuardError::NotFound)?;
    let (format, event_source) = format_of(&source).ok_or(GuardError::NotFound)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::BadJson("could not read the request body".into())
        }
    })?;
    let batch = tokio::task::spawn_blocking(move || read_batch(format, &body))
        .await
        .map_err(|_| ApiError::Unavailable)?;
    crate::live::count_ingest(&state.metrics, event_source, batch.accepted, batch.rejected);
    let events = batch.events.len() as u64;
    watch
        .live
        .submit(batch.events)
        .await
        .map_err(|_| ApiError::Unavailable)?;
    tracing::info!(source = %source, key = key.key_id(), accepted = batch.accepted, rejected = batch.rejected, events, "batch ingested");
    Ok((
        StatusCode::ACCEPTED,
        Json(IngestReply {
            accepted: batch.accepted,
            rejected: batch.rejected,
            events,
            errors: batch.errors,
        }),
    ))
}

#[derive(Serialize)]
pub struct Verification {
    verification: String,
}

/// Okta's one-time event hook verification: the header's value, echoed.
pub async fn verify(
    State(state): State<AppState>,
    Ingest(_key): Ingest,
    Path(source): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Verification>, ApiError> {
    state.watch.as_ref().ok_or(GuardError::NotFound)?;
    if source != "okta" {
        return Err(GuardError::NotFound.into());
    }
    let value = headers
        .get(OKTA_VERIFICATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 1024)
        .ok_or_else(|| GuardError::Invalid(format!("the {OKTA_VERIFICATION} header is missing")))?;
    Ok(Json(Verification {
        verification: value.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn okta_hook_envelopes_are_unwrapped_and_other_bodies_left_alone() {
        let hook =
            br#"{"eventType":"com.okta.event_hook","data":{"events":[{"uuid":"a"},{"uuid":"b"}]}}"#;
        assert_eq!(
            okta_hook_events(hook).as_deref(),
            Some(&br#"[{"uuid":"a"},{"uuid":"b"}]"#[..])
        );
        assert_eq!(okta_hook_events(br#"[{"uuid":"a"}]"#), None);
        assert_eq!(okta_hook_events(br#"{"uuid":"a","eventType":"x"}"#), None);
        // A System Log record that merely has a "data" key is not a hook delivery.
        assert_eq!(okta_hook_events(br#"{"uuid":"a","data":{"x":1}}"#), None);
    }
}
