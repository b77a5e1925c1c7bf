//! Credentials: where one is read from ([`SecretSource`]) and the value itself
//! ([`Secret`]), which never shows in `Debug`, `Display` or logs.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::ConnectorError;

/// A credential: an API token, a client secret, an HMAC key. `Debug` and `Display`
/// print `<redacted>`; the bytes are reached only through [`Secret::expose`].
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// Wraps bytes already in hand (tests, or a secret store of the caller's own).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Arc::from(bytes.into()))
    }

    /// The credential itself, for signing or for an `Authorization` header. Never log it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The credential as text (API tokens and client secrets are text).
    pub(crate) fn expose_str(&self) -> Result<&str, ConnectorError> {
        std::str::from_utf8(&self.0).map_err(|_| ConnectorError::Config {
            detail: "the credential is not UTF-8 text".into(),
        })
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a credential is read from: exactly one of an environment variable or a file
/// (trailing whitespace, such as a final newline, is ignored). In `pushback.toml`:
/// `token = { env = "OKTA_API_TOKEN" }` or `token = { file = "/run/secrets/okta" }`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// The environment variable holding the credential…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// …or a file holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl SecretSource {
    /// From an environment variable.
    pub fn env(name: &str) -> Self {
        Self {
            env: Some(name.to_owned()),
            file: None,
        }
    }

    /// From a file.
    pub fn file(path: &str) -> Self {
        Self {
            env: None,
            file: Some(path.to_owned()),
        }
    }

    /// Reads the credential. The error names the variable or file, never the value.
    pub fn load(&self) -> Result<Secret, ConnectorError> {
        let (bytes, from) = match (&self.env, &self.file) {
            (Some(var), None) => {
                let value = std::env::var_os(var).ok_or_else(|| ConnectorError::Config {
                    detail: format!("the environment variable {var} is not set"),
                })?;
                (value.into_encoded_bytes(), format!("${var}"))
            }
            (None, Some(path)) => {
                let bytes = std::fs::read(path).map_err(|e| ConnectorError::Config {
                    detail: format!("reading the credential file {path}: {e}"),
                })?;
                (bytes, path.clone())
            }
            _ => {
                return Err(ConnectorError::Config {
                    detail: "a credential needs exactly one of env and file".into(),
                });
            }
        };
        let end = bytes
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        if end == 0 {
            return Err(ConnectorError::Config {
                detail: format!("the credential in {from} is empty"),
            });
        }
        let mut bytes = bytes;
        bytes.truncate(end);
        Ok(Secret::new(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_or_display() {
        let s = Secret::new(b"hunter2-canary".to_vec());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), b"hunter2-canary");
    }

    #[test]
    fn a_file_source_trims_the_final_newline_and_refuses_empty_or_ambiguous() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").expect("write");
        let src = SecretSource::file(path.to_str().expect("utf-8 path"));
        assert_eq!(src.load().expect("loads").expose(), b"s3cret");

        std::fs::write(&path, " \n").expect("write");
        let err = src.load().expect_err("empty").to_string();
        assert!(err.contains("empty"), "{err}");

        let both = SecretSource {
            env: Some("X".into()),
            file: Some("y".into()),
        };
        assert!(both.load().is_err());
        assert!(SecretSource::default().load().is_err());
        let missing = SecretSource::env("PUSHBACK_CONNECT_TEST_SURELY_UNSET");
        let err = missing.load().expect_err("unset").to_string();
        assert!(err.contains("PUSHBACK_CONNECT_TEST_SURELY_UNSET"), "{err}");
    }
}
