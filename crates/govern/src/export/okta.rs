//! Okta Identity Engine: authenticators (`GET /api/v1/authenticators`, optionally with
//! each one's `methods`) and policies (`GET /api/v1/policies?type=…`, each optionally
//! carrying its `rules` from `GET /api/v1/policies/{id}/rules`).

use serde::Deserialize;
use serde_json::Value;

use super::{ExportError, json, list_in, shape, typed};

const AUTHENTICATORS: &str = "an Okta authenticators export";
const POLICIES: &str = "an Okta policies export";

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Authenticator {
    pub key: String,
    #[serde(default)]
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub settings: Value,
    /// `GET /api/v1/authenticators/{id}/methods`, when the export includes it.
    #[serde(default)]
    pub methods: Vec<Method>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Method {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub settings: Value,
}

impl Authenticator {
    pub fn active(&self) -> bool {
        self.status == "ACTIVE"
    }

    /// Okta Verify's number challenge: `channelBinding {style: NUMBER_CHALLENGE,
    /// required: ALWAYS | HIGH_RISK_ONLY | NEVER}`, on the authenticator or its push
    /// method.
    pub fn number_challenge(&self) -> Option<String> {
        let on = |settings: &Value| {
            let binding = settings.get("channelBinding")?;
            if binding.get("style")?.as_str()? != "NUMBER_CHALLENGE" {
                return None;
            }
            binding.get("required")?.as_str().map(str::to_owned)
        };
        on(&self.settings).or_else(|| {
            self.methods
                .iter()
                .filter(|m| m.kind == "push")
                .find_map(|m| on(&m.settings))
        })
    }

    /// An active method of `kind` (`totp`, `sms`, `voice`, …).
    pub fn method_active(&self, kind: &str) -> bool {
        self.methods
            .iter()
            .any(|m| m.kind == kind && m.status == "ACTIVE")
    }
}

#[derive(Clone, Debug, Default)]
pub struct Authenticators {
    pub items: Vec<Authenticator>,
}

impl Authenticators {
    pub fn parse(text: &str) -> Result<Self, ExportError> {
        let items = list_in(json(text)?, "authenticators")
            .ok_or_else(|| shape(AUTHENTICATORS, "expected an array of authenticators"))?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            if item.get("key").is_none() {
                return Err(shape(
                    AUTHENTICATORS,
                    format!("item {i} has no key (okta_verify, phone_number, …)"),
                ));
            }
            out.push(typed(item, AUTHENTICATORS)?);
        }
        Ok(Self { items: out })
    }

    pub fn get(&self, key: &str) -> Option<&Authenticator> {
        self.items.iter().find(|a| a.key == key)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Policy {
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    #[serde(default)]
    pub settings: Value,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Rule {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub conditions: Value,
    #[serde(default)]
    pub actions: Value,
}

impl Rule {
    pub fn active(&self) -> bool {
        self.status.is_empty() || self.status == "ACTIVE"
    }

    /// Allows access (an access-policy rule whose `appSignOn.access` is `ALLOW`).
    pub fn allows(&self) -> bool {
        self.actions
            .pointer("/appSignOn/access")
            .and_then(Value::as_str)
            == Some("ALLOW")
    }

    /// Requires a phishing-resistant possession factor.
    pub fn phishing_resistant(&self) -> bool {
        let Some(constraints) = self
            .actions
            .pointer("/appSignOn/verificationMethod/constraints")
            .and_then(Value::as_array)
        else {
            return false;
        };
        !constraints.is_empty()
            && constraints.iter().all(|c| {
                c.pointer("/possession/phishingResistant")
                    .and_then(Value::as_str)
                    == Some("REQUIRED")
            })
    }

    /// Users and groups this rule excludes.
    pub fn exclusions(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (kind, ptr) in [
            ("user", "/people/users/exclude"),
            ("group", "/people/groups/exclude"),
        ] {
            if let Some(list) = self.conditions.pointer(ptr).and_then(Value::as_array) {
                out.extend(
                    list.iter()
                        .filter_map(Value::as_str)
                        .map(|id| (kind, id.to_owned())),
                );
            }
        }
        out
    }
}

impl Policy {
    pub fn active(&self) -> bool {
        self.status == "ACTIVE"
    }

    /// The password policy's lockout threshold (`settings.password.lockout.maxAttempts`).
    pub fn lockout_attempts(&self) -> Option<u64> {
        self.settings
            .pointer("/password/lockout/maxAttempts")
            .and_then(Value::as_u64)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Policies {
    pub items: Vec<Policy>,
}

impl Policies {
    pub fn parse(text: &str) -> Result<Self, ExportError> {
        let items = list_in(json(text)?, "policies")
            .ok_or_else(|| shape(POLICIES, "expected an array of policies"))?;
        let mut out = Vec::with_capacity(items.len());
        for (i, mut item) in items.into_iter().enumerate() {
            if item.get("type").is_none() {
                return Err(shape(
                    POLICIES,
                    format!("item {i} has no type (ACCESS_POLICY, PASSWORD, …)"),
                ));
            }
            // Rules fetched with `expand=rules` sit under `_embedded`.
            if item.get("rules").is_none()
                && let Some(rules) = item.pointer("/_embedded/rules").cloned()
                && let Some(obj) = item.as_object_mut()
            {
                obj.insert("rules".into(), rules);
            }
            out.push(typed(item, POLICIES)?);
        }
        Ok(Self { items: out })
    }

    pub fn active_of(&self, kind: &str) -> impl Iterator<Item = &Policy> {
        let kind = kind.to_owned();
        self.items
            .iter()
            .filter(move |p| p.active() && p.kind == kind)
    }
}
