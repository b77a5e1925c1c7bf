//! Checks on how the identity provider asks for MFA: phishing resistance, exclusions,
//! push design, weak factors, legacy and device-code flows, registration, risk.

use super::{Ctx, Outcome};
use crate::export::entra::{CaPolicy, PRIVILEGED_ROLES};

pub(crate) fn pr_mfa_all_users(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(ca) = &ctx.inputs.entra_conditional_access {
        let hit = ca.enabled().find(|p| {
            p.all_users()
                && p.all_apps()
                && p.phishing_resistant()
                && p.users().exclude_roles.is_empty()
        });
        out.expect(
            hit.is_some(),
            format!(
                "entra: {} requires a phishing-resistant strength for all users and apps",
                hit.map(CaPolicy::label).unwrap_or_default()
            ),
            "entra: no enabled conditional-access policy requires a phishing-resistant strength (FIDO2, Windows Hello, certificate) for All users and All apps without excluded roles",
        );
    }
    if let Some(policies) = &ctx.inputs.okta_policies {
        let mut any = false;
        for p in policies.active_of("ACCESS_POLICY") {
            for r in p.rules.iter().filter(|r| r.active() && r.allows()) {
                any = true;
                if !r.phishing_resistant() {
                    out.fail(format!(
                        "okta: access policy '{}' rule '{}' allows access without a phishing-resistant factor",
                        p.name, r.name
                    ));
                }
            }
        }
        if any {
            out.read();
            out.note("okta: active access-policy rules were read");
        } else {
            out.fail("okta: no active access-policy rule that allows access was found");
        }
    }
    if let Some(policies) = &ctx.inputs.duo_policies {
        for p in &policies.items {
            let methods = p.allowed_methods();
            if methods.is_empty() {
                continue;
            }
            let weak: Vec<_> = methods
                .iter()
                .filter(|m| !m.starts_with("webauthn"))
                .collect();
            out.expect(
                weak.is_empty(),
                format!("duo: policy '{}' allows only WebAuthn", p.policy_name),
                format!(
                    "duo: policy '{}' allows {} besides WebAuthn",
                    p.policy_name,
                    join(&weak)
                ),
            );
        }
    }
    out
}

pub(crate) fn pr_mfa_privileged(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(ca) = &ctx.inputs.entra_conditional_access {
        let pr: Vec<&CaPolicy> = ca
            .enabled()
            .filter(|p| p.phishing_resistant() && p.all_apps())
            .collect();
        let mut missing = Vec::new();
        for (id, name) in PRIVILEGED_ROLES {
            let covered = pr.iter().any(|p| {
                let u = p.users();
                (p.all_users() || u.include_roles.iter().any(|r| r == id))
                    && !u.exclude_roles.iter().any(|r| r == id)
            });
            if !covered {
                missing.push(name);
            }
        }
        out.expect(
            missing.is_empty(),
            "entra: every highly privileged role is under a phishing-resistant policy",
            format!(
                "entra: no enabled phishing-resistant policy covers {}",
                missing.join(", ")
            ),
        );
    }
    if let Some(policies) = &ctx.inputs.okta_policies {
        let admin: Vec<_> = policies
            .active_of("ACCESS_POLICY")
            .filter(|p| p.name.to_ascii_lowercase().contains("admin"))
            .collect();
        if admin.is_empty() {
            out.fail("okta: no active access policy for the Admin Console was found");
        }
        for p in admin {
            let weak: Vec<_> = p
                .rules
                .iter()
                .filter(|r| r.active() && r.allows() && !r.phishing_resistant())
                .map(|r| r.name.clone())
                .collect();
            out.expect(
                weak.is_empty(),
                format!("okta: admin policy '{}' requires phishing-resistant factors", p.name),
                format!(
                    "okta: admin policy '{}' rules {} allow access without a phishing-resistant factor",
                    p.name,
                    join(&weak)
                ),
            );
        }
    }
    if let Some(registry) = ctx.registry {
        use crate::registry::{Privilege, StepUp};
        for app in &registry.doc.applications {
            if app.privilege == Privilege::Privileged {
                out.expect(
                    app.step_up == Some(StepUp::Passkey)
                        || ctx.excepted("pr-mfa-privileged", &app.id).is_some(),
                    format!(
                        "registry: privileged app {} steps up with a passkey (or is excepted)",
                        app.id
                    ),
                    format!(
                        "registry: privileged app {} steps up with {}",
                        app.id,
                        app.step_up.map_or("an unknown method", StepUp::as_str)
                    ),
                );
            }
        }
    }
    out
}

pub(crate) fn mfa_exclusions_excepted(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(ca) = &ctx.inputs.entra_conditional_access {
        out.read();
        for p in ca.enabled().filter(|p| p.requires_mfa()) {
            let u = p.users();
            let a = p.apps();
            let excluded = [
                ("user", &u.exclude_users),
                ("group", &u.exclude_groups),
                ("role", &u.exclude_roles),
                ("application", &a.exclude_applications),
            ];
            for (kind, list) in excluded {
                for id in list {
                    match ctx.exclusion_excepted(id) {
                        Some(x) => out.note(format!(
                            "entra: {} excludes {kind} {id}, under exception {}",
                            p.label(),
                            x.id
                        )),
                        None => out.fail(format!(
                            "entra: {} excludes {kind} {id} without an open exception",
                            p.label()
                        )),
                    }
                }
            }
        }
    }
    if let Some(policies) = &ctx.inputs.okta_policies {
        out.read();
        for p in policies.items.iter().filter(|p| p.active()) {
            for r in p.rules.iter().filter(|r| r.active()) {
                for (kind, id) in r.exclusions() {
                    match ctx.exclusion_excepted(&id) {
                        Some(x) => out.note(format!(
                            "okta: policy '{}' rule '{}' excludes {kind} {id}, under exception {}",
                            p.name, r.name, x.id
                        )),
                        None => out.fail(format!(
                            "okta: policy '{}' rule '{}' excludes {kind} {id} without an open exception",
                            p.name, r.name
                        )),
                    }
                }
            }
        }
    }
    out
}

pub(crate) fn push_number_context(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(methods) = &ctx.inputs.entra_auth_methods {
        match methods.method("MicrosoftAuthenticator") {
            Some(m) if m.state == "enabled" => {
                let f = m.feature_settings.clone().unwrap_or_default();
                let on = |s: &Option<crate::export::entra::FeatureState>, default_ok: bool| {
                    s.as_ref().is_some_and(|s| s.on_for_all(default_ok))
                };
                out.expect(
                    m.is_software_oath_enabled != Some(true),
                    "entra: Authenticator OTP (software OATH) is off",
                    "entra: Authenticator OTP (isSoftwareOathEnabled) is on",
                );
                out.expect(
                    on(&f.display_app_information_required_state, false),
                    "entra: push shows the application name to all users",
                    "entra: push does not show the application name to all users",
                );
                out.expect(
                    on(&f.display_location_information_required_state, false),
                    "entra: push shows the sign-in location to all users",
                    "entra: push does not show the sign-in location to all users",
                );
                // Microsoft enforces number matching since May 2023; `default` is on.
                out.expect(
                    f.number_matching_required_state
                        .as_ref()
                        .is_none_or(|s| s.on_for_all(true)),
                    "entra: number matching applies to all users",
                    "entra: number matching is not required for all users",
                );
            }
            _ => {
                out.read();
                out.note("entra: Microsoft Authenticator is disabled: no push to judge");
            }
        }
    }
    if let Some(auths) = &ctx.inputs.okta_authenticators {
        match auths.get("okta_verify").filter(|a| a.active()) {
            Some(ov) => {
                let nc = ov.number_challenge();
                out.expect(
                    nc.as_deref() == Some("ALWAYS"),
                    "okta: Okta Verify number challenge is required always",
                    format!(
                        "okta: Okta Verify number challenge is {}",
                        nc.map_or("off".to_owned(), |r| format!("required only {r}"))
                    ),
                );
                out.expect(
                    !ov.method_active("totp"),
                    "okta: Okta Verify OTP is off",
                    "okta: Okta Verify OTP (totp method) is active",
                );
            }
            None => {
                out.read();
                out.note("okta: Okta Verify is not active: no push to judge");
            }
        }
    }
    if let Some(policies) = &ctx.inputs.duo_policies {
        for p in &policies.items {
            if p.allowed_methods().iter().any(|m| m == "duo-push") {
                out.expect(
                    p.verified_push(),
                    format!("duo: policy '{}' requires Verified Duo Push", p.policy_name),
                    format!(
                        "duo: policy '{}' allows Duo Push without Verified Push (approve-only)",
                        p.policy_name
                    ),
                );
            }
        }
    }
    if let Some(pb) = &ctx.inputs.pushback {
        out.expect(
            pb.challenge_mode == "code",
            "pushback: challenges use code transfer",
            format!(
                "pushback: challenge mode is {} (a blind guess wins one time in three); use code",
                pb.challenge_mode
            ),
        );
    }
    out
}

pub(crate) fn weak_factors_off(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(methods) = &ctx.inputs.entra_auth_methods {
        for id in ["Sms", "Voice", "Email"] {
            let on = methods.method(id).is_some_and(|m| m.state == "enabled");
            out.expect(
                !on,
                format!("entra: {id} is disabled"),
                format!("entra: {id} is enabled"),
            );
        }
    }
    if let Some(auths) = &ctx.inputs.okta_authenticators {
        for key in ["phone_number", "okta_email"] {
            let on = auths.get(key).is_some_and(|a| a.active());
            out.expect(
                !on,
                format!("okta: {key} authenticator is inactive"),
                format!("okta: {key} authenticator is active"),
            );
        }
    }
    if let Some(policies) = &ctx.inputs.duo_policies {
        for p in &policies.items {
            let weak: Vec<String> = p
                .allowed_methods()
                .into_iter()
                .filter(|m| m == "sms" || m == "phonecall")
                .collect();
            if !p.allowed_methods().is_empty() {
                out.expect(
                    weak.is_empty(),
                    format!(
                        "duo: policy '{}' allows no SMS or phone call",
                        p.policy_name
                    ),
                    format!("duo: policy '{}' allows {}", p.policy_name, join(&weak)),
                );
            }
        }
    }
    out
}

pub(crate) fn legacy_auth_blocked(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(ca) = &ctx.inputs.entra_conditional_access {
        let hit = ca.enabled().find(|p| {
            let types = &p.conditions.client_app_types;
            p.all_users()
                && p.all_apps()
                && p.blocks()
                && types.iter().any(|t| t == "exchangeActiveSync")
                && types.iter().any(|t| t == "other")
        });
        out.expect(
            hit.is_some(),
            format!("entra: {} blocks legacy clients", hit.map(CaPolicy::label).unwrap_or_default()),
            "entra: no enabled policy blocks legacy clients (exchangeActiveSync and other) for All users and All apps",
        );
    }
    out
}

pub(crate) fn registration_protected(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(ca) = &ctx.inputs.entra_conditional_access {
        let hit = ca.enabled().find(|p| {
            p.apps()
                .include_user_actions
                .iter()
                .any(|a| a == "urn:user:registersecurityinfo")
                && p.grants_any(&["compliantDevice", "domainJoinedDevice"])
        });
        out.expect(
            hit.is_some(),
            format!(
                "entra: {} requires a managed device to register security info",
                hit.map(CaPolicy::label).unwrap_or_default()
            ),
            "entra: registering security info does not require a managed device",
        );
    }
    if let Some(settings) = &ctx.inputs.duo_settings
        && let Some(bypass) = &settings.helpdesk_bypass
    {
        out.expect(
            bypass != "allow",
            format!("duo: helpdesk bypass codes are {bypass}"),
            "duo: the helpdesk may issue bypass codes without limit",
        );
    }
    if let Some(registry) = ctx.registry {
        use crate::registry::Domain;
        let procedure = registry
            .doc
            .controls
            .iter()
            .find(|c| c.domain == Domain::ServiceDesk);
        match procedure {
            Some(c) => {
                let staffed = registry
                    .accountable(c)
                    .is_some_and(|r| !registry.staff(r).is_empty());
                out.expect(
                    staffed,
                    format!(
                        "registry: helpdesk reset procedure {} has a staffed accountable role",
                        c.id
                    ),
                    format!(
                        "registry: helpdesk reset procedure {} has no staffed accountable role",
                        c.id
                    ),
                );
            }
            None => out.fail(
                "registry: no service-desk control (helpdesk reset and re-enrolment procedure)",
            ),
        }
    }
    out
}

pub(crate) fn device_code_blocked(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(ca) = &ctx.inputs.entra_conditional_access {
        let hit = ca.enabled().find(|p| {
            p.blocks()
                && p.all_users()
                && p.conditions.authentication_flows.as_ref().is_some_and(|f| {
                    f.transfer_methods
                        .split(',')
                        .any(|m| m.trim() == "deviceCodeFlow")
                })
        });
        out.expect(
            hit.is_some(),
            format!(
                "entra: {} blocks the device-code flow",
                hit.map(CaPolicy::label).unwrap_or_default()
            ),
            "entra: no enabled policy blocks the device-code flow for all users",
        );
    }
    out
}

pub(crate) fn risk_and_reporting(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(ca) = &ctx.inputs.entra_conditional_access {
        let hit = ca
            .enabled()
            .find(|p| p.all_users() && p.conditions.user_risk_levels.iter().any(|l| l == "high"));
        out.expect(
            hit.is_some(),
            format!(
                "entra: {} acts on high user risk",
                hit.map(CaPolicy::label).unwrap_or_default()
            ),
            "entra: no enabled policy acts on high user risk for all users",
        );
    }
    if let Some(methods) = &ctx.inputs.entra_auth_methods {
        let on = methods
            .report_suspicious_activity_settings
            .as_ref()
            .is_some_and(|s| s.on_for_all(false));
        out.expect(
            on,
            "entra: users can report suspicious activity (raises their user risk)",
            "entra: \"report suspicious activity\" is not enabled for all users",
        );
    }
    if let Some(settings) = &ctx.inputs.duo_settings {
        out.expect(
            settings.fraud_email_enabled == Some(true),
            "duo: fraud reports are emailed to administrators",
            "duo: fraud reports reach nobody (fraud_email_enabled is off)",
        );
    }
    out
}

fn join(items: &[impl AsRef<str>]) -> String {
    items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ")
}
