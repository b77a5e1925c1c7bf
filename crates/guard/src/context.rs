//! What the user sees on the device, and the hash the device signs over it
//! ("what you see is what you approve").
//!
//! [`DisplayContext`] has only string, integer and string-list fields, declared in
//! alphabetical order, so its `serde_json` form is its RFC 8785 (JCS) canonical form: any
//! client can recompute the hash from the object it was given.

use serde::{Deserialize, Serialize};

use pushback_model::{Timestamp, sha256};

/// The binding context an app sends with a challenge request (CIBA's `binding_message`,
/// made structured). The app's own name is not in it: it comes from the app's
/// registration, so one client cannot pose as another.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingContext {
    /// What is being approved, e.g. "Sign in to Payroll".
    pub action: String,
    /// The IP address the login request came from.
    pub ip: String,
    /// Location text for the IP, as the app resolved it, e.g. "Berlin, DE".
    #[serde(default)]
    pub location: String,
    /// The requesting browser's user agent.
    #[serde(default)]
    pub user_agent: String,
}

/// Longest accepted text field, in characters.
pub const MAX_FIELD_CHARS: usize = 256;

impl BindingContext {
    /// Refuses context that could not be shown faithfully.
    pub fn validate(&self) -> Result<(), String> {
        if self.action.trim().is_empty() {
            return Err("context.action must not be empty".into());
        }
        if self.ip.parse::<std::net::IpAddr>().is_err() {
            return Err("context.ip must be an IPv4 or IPv6 address".into());
        }
        for (name, value) in [
            ("action", &self.action),
            ("location", &self.location),
            ("user_agent", &self.user_agent),
        ] {
            if value.chars().count() > MAX_FIELD_CHARS {
                return Err(format!(
                    "context.{name} is longer than {MAX_FIELD_CHARS} characters"
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(format!(
                    "context.{name} must not contain control characters"
                ));
            }
        }
        Ok(())
    }
}

/// Exactly what the device shows. Fields stay in alphabetical order (see module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayContext {
    pub action: String,
    pub app: String,
    pub expires_at: i64,
    pub ip: String,
    pub location: String,
    /// `code`: the user types the code from the login screen; `pick3`: the user picks it.
    pub mode: String,
    /// In `pick3` mode, the numbers offered; empty otherwise.
    pub options: Vec<String>,
    pub requested_at: i64,
    pub user_agent: String,
}

impl DisplayContext {
    pub fn new(
        app: &str,
        ctx: &BindingContext,
        mode: crate::CodeMode,
        options: Option<&[String]>,
        requested_at: Timestamp,
        expires_at: Timestamp,
    ) -> Self {
        Self {
            action: ctx.action.clone(),
            app: app.to_owned(),
            expires_at: expires_at.millis(),
            ip: ctx.ip.clone(),
            location: ctx.location.clone(),
            mode: mode.as_str().to_owned(),
            options: options.map(<[String]>::to_vec).unwrap_or_default(),
            requested_at: requested_at.millis(),
            user_agent: ctx.user_agent.clone(),
        }
    }

    /// The canonical bytes.
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).expect("a struct of strings and integers always serialises")
    }

    /// Lower-case hex SHA-256 of [`Self::canonical`].
    pub fn sha256_hex(&self) -> String {
        hex::encode(sha256(self.canonical().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CodeMode;

    fn ctx() -> BindingContext {
        BindingContext {
            action: "Sign in to Payroll".into(),
            ip: "203.0.113.9".into(),
            location: "Berlin, DE".into(),
            user_agent: "Firefox".into(),
        }
    }

    #[test]
    fn canonical_form_has_sorted_keys_and_no_spaces() {
        let d = DisplayContext::new(
            "Payroll",
            &ctx(),
            CodeMode::Code,
            None,
            Timestamp::from_millis(1),
            Timestamp::from_millis(2),
        );
        let text = d.canonical();
        assert!(
            text.starts_with(
                r#"{"action":"Sign in to Payroll","app":"Payroll","expires_at":2,"ip":"#
            )
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        let keys: Vec<_> = v.as_object().expect("object").keys().cloned().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn any_change_to_what_is_shown_changes_the_hash() {
        let base = DisplayContext::new(
            "Payroll",
            &ctx(),
            CodeMode::Code,
            None,
            Timestamp::from_millis(1),
            Timestamp::from_millis(2),
        );
        let mut other = base.clone();
        other.location = "Lagos, NG".into();
        assert_ne!(base.sha256_hex(), other.sha256_hex());
    }

    #[test]
    fn bad_context_is_refused() {
        let mut c = ctx();
        c.ip = "not an ip".into();
        assert!(c.validate().is_err());
        let mut c = ctx();
        c.action = "a\u{7}b".into();
        assert!(c.validate().is_err());
        let mut c = ctx();
        c.location = "x".repeat(MAX_FIELD_CHARS + 1);
        assert!(c.validate().is_err());
        assert!(ctx().validate().is_ok());
    }
}
