//! Every error the API returns, mapped in one place to RFC 9457 `application/problem+json`.
//!
//! Device refusals are deliberately uniform: a replay, a bad signature, an expired or
//! superseded challenge and a wrong code all get the same status and body, so a caller
//! learns nothing from the difference. The cause goes to the log and to metrics.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use pushback_guard::GuardError;

#[derive(Debug)]
pub enum ApiError {
    Guard(GuardError),
    /// The body is not valid JSON of the expected shape.
    BadJson(String),
    TooLarge,
    /// Missing or malformed signature headers.
    BadHeaders,
    /// A part of the service (the detection engine) has stopped.
    Unavailable,
    /// The resource is not in a state that allows the request; the text says why.
    WrongState(String),
    /// A failure the client must not see the details of; they go to the log.
    Internal(String),
}

impl From<GuardError> for ApiError {
    fn from(e: GuardError) -> Self {
        Self::Guard(e)
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

pub(crate) fn problem(
    status: StatusCode,
    kind: &str,
    title: &str,
    detail: Option<String>,
) -> Response {
    let body = Problem {
        kind,
        title,
        status: status.as_u16(),
        detail,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// The one answer to every refused device request.
pub(crate) fn refused() -> Response {
    problem(
        StatusCode::FORBIDDEN,
        "https://pushback.dev/problems/refused",
        "Request refused",
        Some("The device request was not accepted.".into()),
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Guard(GuardError::Unauthorized) => {
                let mut r = problem(
                    StatusCode::UNAUTHORIZED,
                    "https://pushback.dev/problems/unauthorized",
                    "Unauthorized",
                    None,
                );
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            Self::Guard(GuardError::NotFound) => problem(
                StatusCode::NOT_FOUND,
                "https://pushback.dev/problems/not-found",
                "Not found",
                None,
            ),
            Self::Guard(GuardError::Invalid(detail)) | Self::BadJson(detail) => problem(
                StatusCode::BAD_REQUEST,
                "https://pushback.dev/problems/invalid-request",
                "Invalid request",
                Some(detail),
            ),
            Self::Guard(GuardError::Refused(cause)) => {
                tracing::info!(cause = cause.as_str(), "device request refused");
                refused()
            }
            Self::BadHeaders => {
                tracing::info!(cause = "bad_headers", "device request refused");
                refused()
            }
            Self::Guard(GuardError::Conflict(what)) => problem(
                StatusCode::CONFLICT,
                "https://pushback.dev/problems/conflict",
                "Conflict",
                Some(format!("{what} already exists")),
            ),
            Self::WrongState(detail) => problem(
                StatusCode::CONFLICT,
                "https://pushback.dev/problems/wrong-state",
                "Not allowed in this state",
                Some(detail),
            ),
            Self::TooLarge => problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "https://pushback.dev/problems/too-large",
                "Request body too large",
                None,
            ),
            Self::Unavailable => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "https://pushback.dev/problems/unavailable",
                "Service unavailable",
                None,
            ),
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "https://pushback.dev/problems/internal",
                    "Internal error",
                    None,
                )
            }
            Self::Guard(other) => {
                tracing::error!(error = %other, "internal error");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "https://pushback.dev/problems/internal",
                    "Internal error",
                    None,
                )
            }
        }
    }
}
