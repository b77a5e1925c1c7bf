//! Checks on throttling, detection, privileged access and the account lifecycle
//! (dormant accounts, fail-open, self re-enrolment: the AA22-074A path), and on
//! pushback's own challenge settings.

use super::{Ctx, Outcome};
use crate::registry::{FailMode, Privilege};

/// Most prompts a budget may allow before stepping up and still count as a limit.
const MAX_BUDGET: u32 = 10;
/// Most denies before lockout that still count as a lockout.
const MAX_LOCKOUT: u64 = 10;
/// Longest a dormant account may live, in days.
const MAX_DORMANT_DAYS: u64 = 90;

pub(crate) fn push_throttled(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(pb) = &ctx.inputs.pushback {
        out.expect(
            pb.budget_prompts > 0 && pb.budget_prompts <= MAX_BUDGET,
            format!(
                "pushback: {} prompts per {} s before step-up",
                pb.budget_prompts, pb.budget_window_secs
            ),
            format!(
                "pushback: the prompt budget ({}) is not between 1 and {MAX_BUDGET}",
                pb.budget_prompts
            ),
        );
        out.expect(
            pb.lockout_denies > 0 && u64::from(pb.lockout_denies) <= MAX_LOCKOUT,
            format!("pushback: {} denies lock push", pb.lockout_denies),
            "pushback: denies never lock push (lockout_denies = 0)",
        );
    }
    if let Some(settings) = &ctx.inputs.duo_settings {
        let t = settings.lockout_threshold.unwrap_or(0);
        out.expect(
            t > 0 && t <= MAX_LOCKOUT,
            format!("duo: {t} failed attempts lock the user out"),
            format!("duo: lockout threshold is {t} (needs 1 to {MAX_LOCKOUT})"),
        );
    }
    if let Some(policies) = &ctx.inputs.okta_policies {
        let lockout = policies
            .active_of("PASSWORD")
            .filter_map(|p| p.lockout_attempts())
            .filter(|n| *n > 0)
            .min();
        let number_challenge = ctx
            .inputs
            .okta_authenticators
            .as_ref()
            .and_then(|a| a.get("okta_verify"))
            .and_then(|ov| ov.number_challenge())
            .is_some_and(|r| r == "ALWAYS");
        match lockout {
            Some(n) => out.expect(
                number_challenge,
                format!(
                    "okta: lockout after {n} attempts; Okta Verify push denies never count toward it, so floods are held by the number challenge and detection"
                ),
                format!(
                    "okta: lockout after {n} attempts, but Okta Verify push denies never count toward it and the number challenge is not always on: nothing throttles a push flood"
                ),
            ),
            None => out.fail("okta: no active password policy sets a lockout"),
        }
    }
    if ctx.inputs.entra_auth_methods.is_some() && !out.assessed {
        out.note("entra: push rate limits are Microsoft-managed and not in the export");
    }
    out
}

pub(crate) fn detection_active(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(pb) = &ctx.inputs.pushback {
        out.expect(
            !pb.sinks.is_empty(),
            format!("pushback: findings go to {}", pb.sinks.join(", ")),
            "pushback: no finding sink is configured ([watch.sinks]): findings reach nobody",
        );
        let rules: Vec<&str> = pb
            .rules
            .iter()
            .filter(|r| r.detects_t1621())
            .map(|r| r.name.as_str())
            .collect();
        out.expect(
            !rules.is_empty(),
            format!("pushback: T1621 rules active: {}", rules.join(", ")),
            "pushback: no active rule is tagged attack.t1621",
        );
    }
    out
}

pub(crate) fn privileged_approval(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(registry) = ctx.registry {
        for app in &registry.doc.applications {
            if app.privilege != Privilege::Privileged {
                continue;
            }
            let excepted = ctx.excepted("privileged-approval", &app.id);
            out.expect(
                app.approval_required || excepted.is_some(),
                match (app.approval_required, excepted) {
                    (false, Some(x)) => format!(
                        "registry: {} grants access without approval under exception {}",
                        app.id, x.id
                    ),
                    _ => format!(
                        "registry: privileged access to {} needs an approval",
                        app.id
                    ),
                },
                format!(
                    "registry: privileged access to {} is granted without an approval",
                    app.id
                ),
            );
        }
    }
    out
}

pub(crate) fn no_dormant_accounts(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(settings) = &ctx.inputs.duo_settings {
        let days = settings.inactive_user_expiration.unwrap_or(0);
        out.expect(
            days > 0 && days <= MAX_DORMANT_DAYS,
            format!("duo: users inactive for {days} days are removed"),
            if days == 0 {
                "duo: inactive users never expire".to_owned()
            } else {
                format!("duo: inactive users expire only after {days} days (more than {MAX_DORMANT_DAYS})")
            },
        );
    }
    out
}

pub(crate) fn fail_closed(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(registry) = ctx.registry {
        for app in &registry.doc.applications {
            match app.fail_mode {
                Some(FailMode::Open) => match ctx.excepted("fail-closed", &app.id) {
                    Some(x) => {
                        out.read();
                        out.note(format!(
                            "registry: {} fails open under exception {}",
                            app.id, x.id
                        ));
                    }
                    None => out.fail(format!(
                        "registry: {} lets users in when MFA is unreachable (fail_mode: open)",
                        app.id
                    )),
                },
                Some(FailMode::Closed) => {
                    out.read();
                }
                None => out.note(format!(
                    "registry: {} does not record its fail mode",
                    app.id
                )),
            }
        }
    }
    if ctx.inputs.pushback.is_some() {
        out.read();
        out.note("pushback: a challenge that cannot be decided is refused, never approved");
    }
    out
}

pub(crate) fn no_self_reenrolment(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(policies) = &ctx.inputs.duo_policies {
        for p in &policies.items {
            match p.new_user_behavior().as_deref() {
                Some("enroll") => out.fail(format!(
                    "duo: policy '{}' lets an unenrolled user enrol a new device at sign-in",
                    p.policy_name
                )),
                Some("no-mfa") => out.fail(format!(
                    "duo: policy '{}' lets an unenrolled user in without MFA",
                    p.policy_name
                )),
                Some(other) => out.expect(
                    true,
                    format!("duo: policy '{}' new users: {other}", p.policy_name),
                    "",
                ),
                None => {}
            }
        }
    }
    if ctx.inputs.pushback.is_some() {
        out.read();
        out.note("pushback: devices enrol only through admin-issued one-time links");
    }
    out
}

pub(crate) fn pushback_challenge(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(pb) = &ctx.inputs.pushback {
        out.expect(
            pb.code_digits >= 6,
            format!("pushback: {}-digit codes", pb.code_digits),
            format!("pushback: {}-digit codes (at least 6)", pb.code_digits),
        );
        out.expect(
            pb.challenge_mode == "code",
            "pushback: code transfer",
            format!("pushback: challenge mode {}", pb.challenge_mode),
        );
        out.expect(
            pb.budget_prompts > 0 && pb.budget_prompts <= MAX_BUDGET,
            format!("pushback: budget of {} prompts", pb.budget_prompts),
            format!("pushback: budget of {} prompts", pb.budget_prompts),
        );
        out.expect(
            pb.lockout_denies > 0,
            format!("pushback: lockout after {} denies", pb.lockout_denies),
            "pushback: no lockout",
        );
    }
    out
}

pub(crate) fn not_me_playbook(ctx: &Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    if let Some(pb) = &ctx.inputs.pushback {
        out.expect(
            pb.not_me_lock_secs > 0,
            format!(
                "pushback: \"not me\" locks push for {} s",
                pb.not_me_lock_secs
            ),
            "pushback: \"not me\" does not lock push (not_me_lock_secs = 0)",
        );
    }
    out
}
