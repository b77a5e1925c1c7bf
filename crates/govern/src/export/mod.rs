//! Exported identity-provider configuration, read offline: Entra ID (Graph JSON), Okta
//! (API JSON), Duo (Admin API JSON), and pushback's own configuration.
//!
//! Each parser reads only the fields the posture checks need and ignores the rest, but
//! refuses a document that is not the documented shape with a message naming what it
//! expected ("not an Entra authentication-methods policy export: …").

pub mod duo;
pub mod entra;
pub mod okta;
pub mod pushback;

use serde::de::DeserializeOwned;

/// Largest export accepted, in bytes.
const MAX_BYTES: usize = 64 << 20;

/// An export that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Not JSON at all.
    #[error("not JSON (line {line}, column {column}): {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// JSON, but not the documented shape.
    #[error("not {expected}: {why}")]
    Shape { expected: &'static str, why: String },
    #[error("larger than {MAX_BYTES} bytes")]
    TooLarge,
}

pub(crate) fn json(text: &str) -> Result<serde_json::Value, ExportError> {
    if text.len() > MAX_BYTES {
        return Err(ExportError::TooLarge);
    }
    serde_json::from_str(text).map_err(|e| ExportError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// Deserialises `value` as `T`, naming the path that did not fit.
pub(crate) fn typed<T: DeserializeOwned>(
    value: serde_json::Value,
    expected: &'static str,
) -> Result<T, ExportError> {
    serde_path_to_error::deserialize(value).map_err(|e| ExportError::Shape {
        expected,
        why: format!("at {}: {}", e.path(), e.inner()),
    })
}

pub(crate) fn shape(expected: &'static str, why: impl Into<String>) -> ExportError {
    ExportError::Shape {
        expected,
        why: why.into(),
    }
}

/// A Graph collection (`{"value": [...]}`), an API envelope (`{"response": [...]}`) or
/// a bare array: the list inside.
pub(crate) fn list_in(value: serde_json::Value, envelope: &str) -> Option<Vec<serde_json::Value>> {
    match value {
        serde_json::Value::Array(items) => Some(items),
        serde_json::Value::Object(mut map) => match map.remove(envelope) {
            Some(serde_json::Value::Array(items)) => Some(items),
            _ => None,
        },
        _ => None,
    }
}
