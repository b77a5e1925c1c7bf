//! The worked scenarios of `examples/governance/`: who answers, and the golden reports.

use pushback_govern::accountability::{ControlState, Report, report};
use pushback_govern::render;
use pushback_govern::timeline::Timeline;

use crate::support::{example_registry, golden, read};

const SCENARIOS: [&str; 6] = [
    "push-flood-pretext",
    "helpdesk-reset-admin",
    "shared-service-account",
    "privileged-approve-only",
    "legacy-app-excepted",
    "legacy-app-expired",
];

fn scenario(name: &str) -> Report {
    let path = format!("examples/governance/scenarios/{name}.yaml");
    let timeline = Timeline::parse(&path, &read(&path)).unwrap_or_else(|e| panic!("{e}"));
    report(&example_registry(), &timeline)
}

/// The reason given for `role`, or "" when the role does not answer.
fn why(r: &Report, role: &str) -> String {
    r.owners
        .iter()
        .find(|o| o.role == role)
        .map(|o| o.reason.clone())
        .unwrap_or_default()
}

fn state(r: &Report, control: &str) -> ControlState {
    r.controls
        .iter()
        .find(|c| c.control == control)
        .map(|c| c.state)
        .unwrap_or_else(|| panic!("{control} is not on the path"))
}

#[test]
fn the_golden_reports_match() {
    for name in SCENARIOS {
        let r = scenario(name);
        golden(
            &format!("examples/governance/expected/{name}.md"),
            &render::report_markdown(&r),
        );
        golden(
            &format!("examples/governance/expected/{name}.json"),
            &format!("{}\n", render::report_json(&r)),
        );
    }
    golden(
        "examples/governance/expected/helpdesk-reset-admin.html",
        &render::report_html(&scenario("helpdesk-reset-admin")),
    );
}

#[test]
fn an_accepted_push_flood_puts_the_unworked_alert_on_security_operations() {
    let r = scenario("push-flood-pretext");
    assert!(
        why(&r, "secops").contains("alert ALERT-8812 (push_flood)"),
        "{r:#?}"
    );
    assert!(why(&r, "identity-programme").contains("push-hardening was failing"));
    assert_eq!(state(&r, "vpn-step-up"), ControlState::Passing);
    assert_eq!(
        why(&r, "owner-vpn"),
        "",
        "the VPN's number-matched step-up held"
    );
}

#[test]
fn an_unverified_helpdesk_reset_names_the_service_desk() {
    let r = scenario("helpdesk-reset-admin");
    assert!(
        why(&r, "service-desk")
            .contains("helpdesk reset at 2026-05-06T14:19:00Z without verifying the caller")
    );
    assert!(why(&r, "identity-programme").contains("approve-only push"));
    assert_eq!(state(&r, "privileged-access"), ControlState::Failing);
}

#[test]
fn a_shared_account_names_the_owner_of_the_credential() {
    let r = scenario("shared-service-account");
    assert!(why(&r, "owner-build").contains("owns the shared credential svc-deploy"));
    let owner = r
        .owners
        .iter()
        .find(|o| o.role == "owner-build")
        .expect("owner");
    assert_eq!(owner.parties, ["platform-team"]);
}

#[test]
fn privileged_access_on_approve_only_push_names_the_identity_programme() {
    let r = scenario("privileged-approve-only");
    assert!(
        why(&r, "identity-programme")
            .contains("privileged access to admin-console rested on approve-only push")
    );
    // Six prompts in five minutes and no alert: security operations answers too.
    assert!(
        why(&r, "secops").contains("raised no alert"),
        "{}",
        why(&r, "secops")
    );
}

#[test]
fn an_open_exception_puts_the_risk_on_its_owner_and_approver_not_grc_expiry() {
    let r = scenario("legacy-app-excepted");
    assert_eq!(state(&r, "erp-step-up"), ControlState::Excepted);
    assert!(why(&r, "owner-erp").contains("risk owner of open exception EX-2026-007"));
    assert_eq!(why(&r, "grc"), "approved exception EX-2026-007 (lena)");
    assert!(why(&r, "secops").contains("compensating control t1621-detection"));
    assert!(r.defects.is_empty(), "{:?}", r.defects);
}

#[test]
fn the_same_incident_after_expiry_adds_grc_and_a_defect() {
    let r = scenario("legacy-app-expired");
    assert_eq!(state(&r, "erp-step-up"), ControlState::ExceptionExpired);
    assert!(why(&r, "owner-erp").contains("risk owner of expired exception EX-2026-007"));
    assert!(why(&r, "grc").contains("expired on 2026-08-31 and was neither renewed nor closed"));
    assert_eq!(r.defects.len(), 1);
    assert_eq!(r.defects[0].subject, "EX-2026-007");
}

#[test]
fn the_json_report_lists_owners_with_role_parties_reason_and_controls() {
    let json: serde_json::Value =
        serde_json::from_str(&render::report_json(&scenario("legacy-app-expired"))).expect("json");
    let owners = json["owners"].as_array().expect("owners");
    let grc = owners
        .iter()
        .find(|o| o["role"] == "grc")
        .expect("grc answers");
    assert_eq!(
        grc["parties"],
        serde_json::json!(["risk-committee", "lena"])
    );
    assert_eq!(grc["controls"], serde_json::json!(["erp-step-up"]));
    assert!(grc["reason"].as_str().expect("reason").contains("expired"));
}

#[test]
fn a_timeline_with_an_unknown_key_or_bad_time_is_refused_with_its_line() {
    let err = Timeline::parse(
        "t.yaml",
        "incident: X\nuser: u\napp: a\nevents:\n  - {at: \"yesterday\", kind: note}\n",
    )
    .expect_err("bad time");
    assert!(err.to_string().starts_with("t.yaml:5:"), "{err}");
    assert!(
        err.to_string().contains("malformed time `yesterday`"),
        "{err}"
    );
    let err = Timeline::parse(
        "t.yaml",
        "incident: X\nuser: u\napp: a\nevents:\n  - {at: \"2026-01-01T00:00:00Z\", kind: coffee}\n  - {at: \"2026-01-01T00:01:00Z\", kind: note, mood: calm}\nseverity: 3\n",
    )
    .expect_err("unknown key");
    let problems: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 3, "every problem at once: {problems:#?}");
    assert!(
        problems[0].starts_with("t.yaml:5:34: events[0].kind: unknown variant `coffee`"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("t.yaml:6:46: events[1].mood: unknown field `mood`"),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with("t.yaml:7:1: severity: unknown field `severity`"),
        "{problems:#?}"
    );
}

#[test]
fn a_timeline_naming_what_the_registry_lacks_is_refused_with_positions() {
    let text = "incident: X\nuser: u\napp: payroll\nevents:\n  - {at: \"2026-01-01T00:00:00Z\", kind: note}\nposture:\n  - {check: push-number-context, status: pass}\n  - {check: no-such-check, status: fail}\nbypassed:\n  - {control: ghost, how: x}\n";
    let timeline = Timeline::parse("t.yaml", text).expect("parses");
    let problems: Vec<String> = timeline
        .unresolved("t.yaml", text, &example_registry())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "t.yaml:3:1: app: no application `payroll` in the registry",
            "t.yaml:8:6: posture[1].check: no posture check `no-such-check`",
            "t.yaml:10:6: bypassed[0].control: no control `ghost` in the registry",
        ]
    );
    let ok = read("examples/governance/scenarios/legacy-app-excepted.yaml");
    let t = Timeline::parse("s.yaml", &ok).expect("parses");
    assert!(t.unresolved("s.yaml", &ok, &example_registry()).is_empty());
}
