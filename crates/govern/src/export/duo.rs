//! Duo: global settings (`GET /admin/v1/settings`) and policies
//! (`GET /admin/v2/policies`), as the Admin API returns them
//! (`{"stat": "OK", "response": …}`) or the bare `response`.

use serde::Deserialize;
use serde_json::Value;

use super::{ExportError, json, list_in, shape, typed};

const SETTINGS: &str = "a Duo settings export";
const POLICIES: &str = "a Duo policies export";

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Settings {
    /// Failed attempts before a user is locked out (0: never).
    #[serde(default)]
    pub lockout_threshold: Option<u64>,
    /// Days of inactivity after which a user is removed (0 or absent: never).
    #[serde(default)]
    pub inactive_user_expiration: Option<u64>,
    /// Email administrators when a user reports fraud.
    #[serde(default)]
    pub fraud_email_enabled: Option<bool>,
    /// Whether the helpdesk may issue bypass codes: `allow`, `limit` or `deny`.
    #[serde(default)]
    pub helpdesk_bypass: Option<String>,
}

impl Settings {
    pub fn parse(text: &str) -> Result<Self, ExportError> {
        let mut value = json(text)?;
        if let Some(inner) = value.get_mut("response") {
            value = inner.take();
        }
        let known = [
            "lockout_threshold",
            "inactive_user_expiration",
            "helpdesk_bypass",
        ];
        if !value.is_object() || known.iter().all(|k| value.get(k).is_none()) {
            return Err(shape(
                SETTINGS,
                "no lockout_threshold, inactive_user_expiration or helpdesk_bypass (export GET /admin/v1/settings)",
            ));
        }
        typed(value, SETTINGS)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Policy {
    pub policy_name: String,
    #[serde(default)]
    pub is_global_policy: bool,
    #[serde(default)]
    pub sections: Value,
}

impl Policy {
    /// `authentication_methods.allowed_auth_list`.
    pub fn allowed_methods(&self) -> Vec<String> {
        self.sections
            .pointer("/authentication_methods/allowed_auth_list")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Verified Duo Push: the user types a code shown on the login screen.
    pub fn verified_push(&self) -> bool {
        self.sections
            .pointer("/authentication_methods/require_verified_push")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `new_user.new_user_behavior`: `enroll`, `no-mfa` or `deny`.
    pub fn new_user_behavior(&self) -> Option<String> {
        self.sections
            .pointer("/new_user/new_user_behavior")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Policies {
    pub items: Vec<Policy>,
}

impl Policies {
    pub fn parse(text: &str) -> Result<Self, ExportError> {
        let items = list_in(json(text)?, "response").ok_or_else(|| {
            shape(
                POLICIES,
                "expected {\"response\": [policies]} or an array (export GET /admin/v2/policies)",
            )
        })?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            if item.get("policy_name").is_none() || item.get("sections").is_none() {
                return Err(shape(
                    POLICIES,
                    format!("item {i} has no policy_name or sections"),
                ));
            }
            out.push(typed(item, POLICIES)?);
        }
        Ok(Self { items: out })
    }
}
