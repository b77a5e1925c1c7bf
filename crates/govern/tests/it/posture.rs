//! Every posture check with a passing and a failing export.

use pushback_govern::export::pushback::{PushbackPosture, RuleInfo};
use pushback_govern::export::{duo, entra, okta};
use pushback_govern::posture::{Assessment, CHECKS, Inputs, Status, assess};
use pushback_govern::registry::Registry;

use crate::support::{data, day, registry};

/// Roles, owners and exceptions for a well-run tenant: the break-glass exclusions are
/// excepted, the privileged app uses passkeys behind an approval.
const GOOD_REGISTRY: &str = "version: 1
parties:
  - {id: ines, name: Ines, kind: person}
  - {id: lena, name: Lena, kind: person}
  - {id: soc, name: SOC, kind: team}
  - {id: desk, name: Desk, kind: team}
roles:
  - {id: identity, title: Identity programme, kind: identity-programme}
  - {id: secops, title: Security operations, kind: security-operations}
  - {id: grc, title: GRC, kind: grc-risk-owner}
  - {id: service-desk, title: Service desk, kind: service-desk}
staffing: {identity: [ines], secops: [soc], grc: [lena], service-desk: [desk]}
controls:
  - id: mfa
    title: MFA
    domain: identity-policy
    raci: {accountable: identity}
    checks: [pr-mfa-all-users, mfa-exclusions-excepted]
  - id: detection
    title: Detection
    domain: detection-response
    raci: {accountable: secops}
    checks: [detection-active]
  - id: helpdesk
    title: Helpdesk verification
    domain: service-desk
    raci: {accountable: service-desk}
applications:
  - {id: admin, name: Admin, owner: identity, privilege: privileged, step_up: passkey, approval_required: true, fail_mode: closed}
  - {id: wiki, name: Wiki, owner: identity, step_up: push-with-number, fail_mode: closed}
exceptions:
  - id: EX-BG
    controls: [mfa]
    scope: {users: [bg-0001, 00u-breakglass]}
    justification: break-glass
    compensating_controls: [detection]
    risk_owner: identity
    requested_by: ines
    approved_by: lena
    approved_at: 2026-01-01
    expires: 2026-12-31
    state: approved
";

/// The same tenant gone wrong: approve-only privileged access without approval, an
/// app failing open, an app nobody knows the step-up of, a self-approved exception.
const BAD_REGISTRY: &str = "version: 1
parties:
  - {id: ines, name: Ines, kind: person}
roles:
  - {id: identity, title: Identity programme, kind: identity-programme}
staffing: {identity: [ines]}
controls:
  - id: mfa
    title: MFA
    domain: identity-policy
    raci: {accountable: identity}
    checks: [pr-mfa-all-users]
applications:
  - {id: admin, name: Admin, owner: identity, privilege: privileged, step_up: push-approve-only, fail_mode: open}
  - {id: mystery, name: Mystery, owner: identity}
exceptions:
  - id: EX-SELF
    controls: [mfa]
    scope: {applications: [admin]}
    requested_by: ines
    approved_by: ines
    approved_at: 2026-01-01
    expires: 2026-12-31
    compensating_controls: [mfa]
    state: approved
";

fn good_pushback() -> PushbackPosture {
    PushbackPosture {
        challenge_mode: "code".into(),
        code_digits: 6,
        budget_prompts: 5,
        budget_window_secs: 3600,
        lockout_denies: 3,
        not_me_lock_secs: 86_400,
        sinks: vec!["jsonl:findings.jsonl".into()],
        rules: vec![RuleInfo {
            name: "push_flood".into(),
            title: "Push flood".into(),
            tags: vec!["attack.credential-access".into(), "attack.t1621".into()],
        }],
    }
}

fn bad_pushback() -> PushbackPosture {
    PushbackPosture {
        challenge_mode: "pick3".into(),
        code_digits: 6,
        budget_prompts: 0,
        budget_window_secs: 3600,
        lockout_denies: 0,
        not_me_lock_secs: 0,
        sinks: vec![],
        rules: vec![RuleInfo {
            name: "location_mismatch".into(),
            title: "Location mismatch".into(),
            tags: vec![],
        }],
    }
}

fn inputs(kind: &str) -> Inputs {
    let f = |name: &str| data(&format!("exports/{name}-{kind}.json"));
    Inputs {
        pushback: Some(if kind == "good" {
            good_pushback()
        } else {
            bad_pushback()
        }),
        entra_auth_methods: Some(
            entra::AuthMethodsPolicy::parse(&f("entra-auth-methods")).expect("parses"),
        ),
        entra_conditional_access: Some(
            entra::ConditionalAccess::parse(&f("entra-ca")).expect("parses"),
        ),
        okta_authenticators: Some(
            okta::Authenticators::parse(&f("okta-authenticators")).expect("parses"),
        ),
        okta_policies: Some(okta::Policies::parse(&f("okta-policies")).expect("parses")),
        duo_settings: Some(duo::Settings::parse(&f("duo-settings")).expect("parses")),
        duo_policies: Some(duo::Policies::parse(&f("duo-policies")).expect("parses")),
    }
}

fn run(inputs: &Inputs, registry: Option<&Registry>) -> Assessment {
    assess(inputs, registry, day("2026-06-01"))
}

fn finding<'a>(a: &'a Assessment, check: &str) -> &'a pushback_govern::posture::Finding {
    a.findings
        .iter()
        .find(|f| f.check == check)
        .expect("every check reports")
}

#[test]
fn every_check_passes_on_the_good_exports() {
    let reg = registry(GOOD_REGISTRY);
    let a = run(&inputs("good"), Some(&reg));
    for f in &a.findings {
        assert_eq!(f.status, Status::Pass, "{}: {:#?}", f.check, f.evidence);
    }
    assert_eq!(a.findings.len(), CHECKS.len());
    // Owners come from the registry: the control that lists the check, else the kind.
    assert_eq!(finding(&a, "detection-active").owner.role, "secops");
    assert_eq!(
        finding(&a, "detection-active").owner.control.as_deref(),
        Some("detection")
    );
    assert_eq!(finding(&a, "exception-hygiene").owner.role, "grc");
    assert!(
        finding(&a, "mfa-exclusions-excepted")
            .evidence
            .iter()
            .any(|e| e.contains("excludes user bg-0001, under exception EX-BG"))
    );
}

#[test]
fn every_check_fails_on_the_bad_exports_and_says_why() {
    let reg = registry(BAD_REGISTRY);
    let a = run(&inputs("bad"), Some(&reg));
    let expect = [
        (
            "pr-mfa-all-users",
            "entra: no enabled conditional-access policy requires a phishing-resistant strength",
        ),
        (
            "pr-mfa-privileged",
            "entra: no enabled phishing-resistant policy covers Global Administrator",
        ),
        (
            "mfa-exclusions-excepted",
            "entra: 'MFA for everyone' (b1) excludes user u-legacy-kiosk without an open exception",
        ),
        (
            "push-number-context",
            "entra: Authenticator OTP (isSoftwareOathEnabled) is on",
        ),
        ("weak-factors-off", "entra: Sms is enabled"),
        (
            "legacy-auth-blocked",
            "entra: no enabled policy blocks legacy clients",
        ),
        (
            "registration-protected",
            "entra: registering security info does not require a managed device",
        ),
        (
            "device-code-blocked",
            "entra: no enabled policy blocks the device-code flow",
        ),
        (
            "risk-and-reporting",
            "entra: no enabled policy acts on high user risk",
        ),
        (
            "push-throttled",
            "pushback: the prompt budget (0) is not between 1 and 10",
        ),
        (
            "detection-active",
            "pushback: no finding sink is configured",
        ),
        (
            "privileged-approval",
            "registry: privileged access to admin is granted without an approval",
        ),
        ("no-dormant-accounts", "duo: inactive users never expire"),
        (
            "fail-closed",
            "registry: admin lets users in when MFA is unreachable",
        ),
        (
            "no-self-reenrolment",
            "duo: policy 'Global Policy' lets an unenrolled user enrol a new device",
        ),
        (
            "app-step-up",
            "registry: admin is privileged and steps up with push-approve-only",
        ),
        (
            "exception-hygiene",
            "exception `EX-SELF` was approved by its requester `ines`",
        ),
        ("pushback-challenge", "pushback: challenge mode pick3"),
        ("not-me-playbook", "pushback: \"not me\" does not lock push"),
    ];
    assert_eq!(expect.len(), CHECKS.len(), "one line per check");
    for (check, evidence) in expect {
        let f = finding(&a, check);
        assert_eq!(f.status, Status::Fail, "{check}: {:#?}", f.evidence);
        assert!(
            f.evidence.iter().any(|e| e.contains(evidence)),
            "{check}: no evidence containing {evidence:?} in {:#?}",
            f.evidence
        );
        assert!(!f.anchors.is_empty(), "{check} cites no framework");
    }
}

/// One export at a time: each IdP decides the checks it can answer on its own.
#[test]
fn each_export_alone_passes_good_and_fails_bad() {
    type Pick = fn(&Inputs) -> Inputs;
    let cases: [(&str, Pick, &[&str]); 4] = [
        (
            "entra",
            |i| Inputs {
                entra_auth_methods: i.entra_auth_methods.clone(),
                entra_conditional_access: i.entra_conditional_access.clone(),
                ..Inputs::default()
            },
            &[
                "pr-mfa-all-users",
                "pr-mfa-privileged",
                "push-number-context",
                "weak-factors-off",
                "legacy-auth-blocked",
                "registration-protected",
                "device-code-blocked",
                "risk-and-reporting",
            ],
        ),
        (
            "okta",
            |i| Inputs {
                okta_authenticators: i.okta_authenticators.clone(),
                okta_policies: i.okta_policies.clone(),
                ..Inputs::default()
            },
            &[
                "pr-mfa-all-users",
                "pr-mfa-privileged",
                "push-number-context",
                "weak-factors-off",
                "push-throttled",
            ],
        ),
        (
            "duo",
            |i| Inputs {
                duo_settings: i.duo_settings.clone(),
                duo_policies: i.duo_policies.clone(),
                ..Inputs::default()
            },
            &[
                "pr-mfa-all-users",
                "weak-factors-off",
                "registration-protected",
                "risk-and-reporting",
                "push-throttled",
                "no-dormant-accounts",
                "no-self-reenrolment",
            ],
        ),
        (
            "pushback",
            |i| Inputs {
                pushback: i.pushback.clone(),
                ..Inputs::default()
            },
            &[
                "push-number-context",
                "push-throttled",
                "detection-active",
                "pushback-challenge",
                "not-me-playbook",
            ],
        ),
    ];
    let (good, bad) = (inputs("good"), inputs("bad"));
    for (name, pick, checks) in cases {
        let g = run(&pick(&good), None);
        let b = run(&pick(&bad), None);
        for check in checks {
            assert_eq!(
                finding(&g, check).status,
                Status::Pass,
                "{name} good {check}: {:#?}",
                finding(&g, check).evidence
            );
            assert_eq!(
                finding(&b, check).status,
                Status::Fail,
                "{name} bad {check}: {:#?}",
                finding(&b, check).evidence
            );
        }
    }
}

#[test]
fn the_okta_lockout_does_not_count_push_denies() {
    // A lockout alone, with the number challenge only for risky sign-ins, does not
    // throttle a push flood: Okta never counts a denied push toward it.
    let mut i = Inputs {
        okta_policies: Some(
            okta::Policies::parse(&data("exports/okta-policies-good.json")).expect("parses"),
        ),
        okta_authenticators: Some(
            okta::Authenticators::parse(&data("exports/okta-authenticators-bad.json"))
                .expect("parses"),
        ),
        ..Inputs::default()
    };
    let a = run(&i, None);
    let f = finding(&a, "push-throttled");
    assert_eq!(f.status, Status::Fail);
    assert!(
        f.evidence[0].contains("push denies never count"),
        "{:?}",
        f.evidence
    );
    i.okta_authenticators = Some(
        okta::Authenticators::parse(&data("exports/okta-authenticators-good.json"))
            .expect("parses"),
    );
    assert_eq!(
        finding(&run(&i, None), "push-throttled").status,
        Status::Pass
    );
}

#[test]
fn an_exclusion_whose_exception_expired_fails() {
    let reg = registry(GOOD_REGISTRY);
    let i = Inputs {
        entra_conditional_access: inputs("good").entra_conditional_access,
        ..Inputs::default()
    };
    let before = assess(&i, Some(&reg), day("2026-12-31"));
    assert_eq!(
        finding(&before, "mfa-exclusions-excepted").status,
        Status::Pass
    );
    let after = assess(&i, Some(&reg), day("2027-01-01"));
    let f = finding(&after, "mfa-exclusions-excepted");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(
        f.evidence,
        [
            "entra: 'Phishing-resistant MFA for everyone' (a1) excludes user bg-0001 without an open exception"
        ]
    );
    // Without a registry nothing is excepted.
    assert_eq!(
        finding(
            &assess(&i, None, day("2026-06-01")),
            "mfa-exclusions-excepted"
        )
        .status,
        Status::Fail
    );
}

#[test]
fn checks_without_their_inputs_are_not_assessed() {
    let a = run(&Inputs::default(), None);
    assert!(a.findings.iter().all(|f| f.status == Status::NotAssessed));
    assert!(a.findings.iter().all(|f| f.owner.role == "(none)"));
}

#[test]
fn an_export_of_the_wrong_shape_is_named() {
    let ca = data("exports/entra-ca-good.json");
    let err = entra::AuthMethodsPolicy::parse(&ca)
        .expect_err("a CA export is not an auth-methods policy");
    assert!(
        err.to_string()
            .starts_with("not an Entra authentication-methods policy export"),
        "{err}"
    );
    let err = okta::Authenticators::parse(r#"{"stat": "OK"}"#).expect_err("not okta");
    assert!(
        err.to_string()
            .starts_with("not an Okta authenticators export"),
        "{err}"
    );
    let err = okta::Policies::parse("[{\"name\": \"x\"}]").expect_err("no type");
    assert!(err.to_string().contains("has no type"), "{err}");
    let err = duo::Settings::parse(&data("exports/duo-policies-good.json"))
        .expect_err("policies, not settings");
    assert!(
        err.to_string().starts_with("not a Duo settings export"),
        "{err}"
    );
    let err = duo::Policies::parse(&data("exports/duo-settings-good.json"))
        .expect_err("settings, not policies");
    assert!(
        err.to_string().starts_with("not a Duo policies export"),
        "{err}"
    );
}
