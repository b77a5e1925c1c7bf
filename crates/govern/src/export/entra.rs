//! Microsoft Entra ID: the authentication-methods policy
//! (`GET /policies/authenticationMethodsPolicy`) and conditional-access policies
//! (`GET /identity/conditionalAccess/policies`), as Graph returns them.

use serde::Deserialize;

use super::{ExportError, json, list_in, shape, typed};

const AUTH_METHODS: &str = "an Entra authentication-methods policy export";
const CONDITIONAL_ACCESS: &str = "an Entra conditional-access policies export";

/// Authentication strengths whose every combination is phishing-resistant.
pub const PHISHING_RESISTANT: [&str; 3] = [
    "windowsHelloForBusiness",
    "fido2",
    "x509CertificateMultiFactor",
];

/// The highly privileged directory roles (role template ids) ScubaGear lists.
pub const PRIVILEGED_ROLES: [(&str, &str); 8] = [
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
    ),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    (
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "SharePoint Administrator",
    ),
    (
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
    ),
    (
        "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",
        "Hybrid Identity Administrator",
    ),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
    ),
    (
        "158c047a-c907-4556-b7ef-446551a6b5f7",
        "Cloud Application Administrator",
    ),
];

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthMethodsPolicy {
    #[serde(default)]
    pub policy_migration_state: Option<String>,
    #[serde(default)]
    pub report_suspicious_activity_settings: Option<FeatureState>,
    pub authentication_method_configurations: Vec<MethodConfig>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodConfig {
    pub id: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub is_software_oath_enabled: Option<bool>,
    #[serde(default)]
    pub feature_settings: Option<AuthenticatorFeatures>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorFeatures {
    #[serde(default)]
    pub display_app_information_required_state: Option<FeatureState>,
    #[serde(default)]
    pub display_location_information_required_state: Option<FeatureState>,
    #[serde(default)]
    pub number_matching_required_state: Option<FeatureState>,
}

/// `{"state": "enabled", "includeTarget": {"targetType": "group", "id": "all_users"}}`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureState {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub include_target: Option<Target>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Target {
    #[serde(default)]
    pub id: String,
}

impl FeatureState {
    /// Enabled (or Microsoft-managed `default`, when `default_ok`) for all users.
    pub fn on_for_all(&self, default_ok: bool) -> bool {
        let on = self.state == "enabled" || (default_ok && self.state == "default");
        let all = self
            .include_target
            .as_ref()
            .is_none_or(|t| t.id == "all_users");
        on && all
    }
}

impl AuthMethodsPolicy {
    pub fn parse(text: &str) -> Result<Self, ExportError> {
        let value = json(text)?;
        if value.get("authenticationMethodConfigurations").is_none() {
            return Err(shape(
                AUTH_METHODS,
                "no authenticationMethodConfigurations (export GET /policies/authenticationMethodsPolicy)",
            ));
        }
        typed(value, AUTH_METHODS)
    }

    /// A method configuration by id (`MicrosoftAuthenticator`, `Sms`, …), any case.
    pub fn method(&self, id: &str) -> Option<&MethodConfig> {
        self.authentication_method_configurations
            .iter()
            .find(|m| m.id.eq_ignore_ascii_case(id))
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaPolicy {
    #[serde(default)]
    pub id: String,
    pub display_name: String,
    pub state: String,
    pub conditions: CaConditions,
    #[serde(default)]
    pub grant_controls: Option<GrantControls>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaConditions {
    #[serde(default)]
    pub users: Option<CaUsers>,
    #[serde(default)]
    pub applications: Option<CaApplications>,
    #[serde(default)]
    pub client_app_types: Vec<String>,
    #[serde(default)]
    pub user_risk_levels: Vec<String>,
    #[serde(default)]
    pub sign_in_risk_levels: Vec<String>,
    #[serde(default)]
    pub authentication_flows: Option<AuthenticationFlows>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaUsers {
    #[serde(default)]
    pub include_users: Vec<String>,
    #[serde(default)]
    pub exclude_users: Vec<String>,
    #[serde(default)]
    pub include_groups: Vec<String>,
    #[serde(default)]
    pub exclude_groups: Vec<String>,
    #[serde(default)]
    pub include_roles: Vec<String>,
    #[serde(default)]
    pub exclude_roles: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaApplications {
    #[serde(default)]
    pub include_applications: Vec<String>,
    #[serde(default)]
    pub exclude_applications: Vec<String>,
    #[serde(default)]
    pub include_user_actions: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationFlows {
    /// Graph writes this as a comma-separated string: `"deviceCodeFlow,authenticationTransfer"`.
    #[serde(default)]
    pub transfer_methods: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantControls {
    #[serde(default)]
    pub built_in_controls: Vec<String>,
    #[serde(default)]
    pub authentication_strength: Option<AuthenticationStrength>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationStrength {
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub allowed_combinations: Vec<String>,
}

impl CaPolicy {
    /// Enforced (report-only and disabled policies protect nobody).
    pub fn enabled(&self) -> bool {
        self.state == "enabled"
    }

    pub fn users(&self) -> CaUsers {
        self.conditions.users.clone().unwrap_or_default()
    }

    pub fn apps(&self) -> CaApplications {
        self.conditions.applications.clone().unwrap_or_default()
    }

    pub fn all_users(&self) -> bool {
        self.users().include_users.iter().any(|u| u == "All")
    }

    pub fn all_apps(&self) -> bool {
        self.apps().include_applications.iter().any(|a| a == "All")
    }

    fn grants(&self) -> &[String] {
        self.grant_controls
            .as_ref()
            .map_or(&[], |g| g.built_in_controls.as_slice())
    }

    pub fn grants_any(&self, controls: &[&str]) -> bool {
        self.grants().iter().any(|g| controls.contains(&g.as_str()))
    }

    pub fn blocks(&self) -> bool {
        self.grants_any(&["block"])
    }

    /// An authentication strength whose combinations are all phishing-resistant.
    pub fn phishing_resistant(&self) -> bool {
        self.grant_controls
            .as_ref()
            .and_then(|g| g.authentication_strength.as_ref())
            .is_some_and(|s| {
                !s.allowed_combinations.is_empty()
                    && s.allowed_combinations
                        .iter()
                        .all(|c| PHISHING_RESISTANT.contains(&c.as_str()))
            })
    }

    /// Requires MFA of some kind (the `mfa` grant or any authentication strength).
    pub fn requires_mfa(&self) -> bool {
        self.grants_any(&["mfa"])
            || self
                .grant_controls
                .as_ref()
                .is_some_and(|g| g.authentication_strength.is_some())
    }

    /// `Name (id)` for evidence.
    pub fn label(&self) -> String {
        if self.id.is_empty() {
            format!("'{}'", self.display_name)
        } else {
            format!("'{}' ({})", self.display_name, self.id)
        }
    }
}

/// All conditional-access policies of a tenant.
#[derive(Clone, Debug, Default)]
pub struct ConditionalAccess {
    pub policies: Vec<CaPolicy>,
}

impl ConditionalAccess {
    pub fn parse(text: &str) -> Result<Self, ExportError> {
        let value = json(text)?;
        let items = list_in(value, "value").ok_or_else(|| {
            shape(
                CONDITIONAL_ACCESS,
                "expected {\"value\": [policies]} or an array of policies (export GET /identity/conditionalAccess/policies)",
            )
        })?;
        let mut policies = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            if item.get("conditions").is_none() {
                return Err(shape(
                    CONDITIONAL_ACCESS,
                    format!("policy {i} has no conditions"),
                ));
            }
            policies.push(typed(item, CONDITIONAL_ACCESS)?);
        }
        Ok(Self { policies })
    }

    pub fn enabled(&self) -> impl Iterator<Item = &CaPolicy> {
        self.policies.iter().filter(|p| p.enabled())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrong_document_is_named() {
        let err = AuthMethodsPolicy::parse(r#"{"value": []}"#).expect_err("wrong shape");
        assert!(
            err.to_string()
                .starts_with("not an Entra authentication-methods policy export"),
            "{err}"
        );
        let err = ConditionalAccess::parse(r#"{"authenticationMethodConfigurations": []}"#)
            .expect_err("wrong shape");
        assert!(
            err.to_string()
                .starts_with("not an Entra conditional-access"),
            "{err}"
        );
        let err = ConditionalAccess::parse("{").expect_err("not json");
        assert!(err.to_string().starts_with("not JSON"), "{err}");
        let err =
            ConditionalAccess::parse(r#"[{"displayName": "x", "state": 3, "conditions": {}}]"#)
                .expect_err("bad type");
        assert!(err.to_string().contains("state"), "{err}");
    }
}
