//! Extractors: a strict JSON body, and the credentials of apps, admins and log sources.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use pushback_guard::store::AppRecord;
use pushback_guard::{AdminPrincipal, GuardError, IngestPrincipal};

use crate::AppState;
use crate::problem::ApiError;

/// A JSON body that must parse as `T` (whose serde derive refuses unknown fields); any
/// failure is a problem+json 400, and an oversized body a 413.
pub struct StrictJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for StrictJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge
            } else {
                ApiError::BadJson("could not read the request body".into())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(StrictJson)
            .map_err(|e| ApiError::BadJson(format!("body is not the expected JSON: {e}")))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// An authenticated app client.
pub struct App(pub AppRecord);

impl<S> FromRequestParts<S> for App
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let key = bearer(parts).ok_or(GuardError::Unauthorized)?;
        Ok(App(state.guard.authenticate_app(key).await?))
    }
}

/// An authenticated admin.
pub struct Admin(pub AdminPrincipal);

impl<S> FromRequestParts<S> for Admin
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let key = bearer(parts).ok_or(GuardError::Unauthorized)?;
        Ok(Admin(state.guard.authenticate_admin(key).await?))
    }
}

/// An authenticated log source (an ingest key).
pub struct Ingest(pub IngestPrincipal);

impl<S> FromRequestParts<S> for Ingest
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let key = bearer(parts).ok_or(GuardError::Unauthorized)?;
        Ok(Ingest(state.guard.authenticate_ingest(key).await?))
    }
}
