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

/// Like [`StrictJson`], but an empty body means `T::default()`.
pub struct OptionalJson<T>(pub T);

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::BadJson("could not read the request body".into())
        }
    })
}

fn strict<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadJson(format!("body is not the expected JSON: {e}")))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for StrictJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        strict(&body_bytes(req, state).await?).map(StrictJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        strict(&bytes).map(OptionalJson)
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

/// Declares an extractor that authenticates the request's bearer key with one of the
/// guard's `authenticate_*` methods; every failure is the same uniform 401.
macro_rules! bearer_extractor {
    ($(#[$doc:meta])* $name:ident($principal:ty) by $method:ident) => {
        $(#[$doc])*
        pub struct $name(pub $principal);

        impl<S> FromRequestParts<S> for $name
        where
            AppState: FromRef<S>,
            S: Send + Sync,
        {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                let state = AppState::from_ref(state);
                let key = bearer(parts).ok_or(GuardError::Unauthorized)?;
                Ok($name(state.guard.$method(key).await?))
            }
        }
    };
}

bearer_extractor!(
    /// An authenticated app client.
    App(AppRecord) by authenticate_app
);
bearer_extractor!(
    /// An authenticated admin.
    Admin(AdminPrincipal) by authenticate_admin
);
bearer_extractor!(
    /// An authenticated log source (an ingest key).
    Ingest(IngestPrincipal) by authenticate_ingest
);
