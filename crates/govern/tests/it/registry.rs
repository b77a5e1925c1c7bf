//! The registry: the starter, bad input with positions, governance defects.

use pushback_govern::registry::{DefectKind, Registry};
use pushback_govern::starter::STARTER_YAML;

use crate::support::{day, registry};

#[test]
fn the_starter_parses_without_defects_and_covers_every_role_kind() {
    let r = registry(STARTER_YAML);
    assert!(
        r.defects(day("2026-06-01")).is_empty(),
        "{:?}",
        r.defects(day("2026-06-01"))
    );
    assert_eq!(r.doc.roles.len(), 6);
    // A year later its one exception has lapsed: that is a defect.
    let later = r.defects(day("2027-06-01"));
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].kind, DefectKind::ExpiredException);
}

const BAD: &str = "version: 1
parties:
  - id: a
    name: A
    kind: robot
roles:
  - {id: r, title: R, colour: red}
staffing:
  r: [a, ghost]
controls:
  - id: c
    title: C
    domain: identity-policy
    raci: {accountable: [r, nope]}
    checks: [no-such-check]
exceptions:
  - id: x
    controls: [c]
    expires: 2026-13-01
    state: approved
bogus: 1
";

#[test]
fn bad_input_reports_every_problem_with_line_and_column() {
    let err = Registry::parse("bad.yaml", BAD).expect_err("bad input");
    let lines: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
    let expected = [
        "bad.yaml:5:5: parties[0].kind: unknown variant `robot`",
        "bad.yaml:7:23: roles[0].colour: unknown field `colour`",
        "bad.yaml:9:10: staffing.r[1]: no party `ghost`",
        "bad.yaml:14:29: controls[0].raci.accountable[1]: no role `nope`",
        "bad.yaml:15:14: controls[0].checks[0]: no posture check `no-such-check`",
        "bad.yaml:19:5: exceptions[0].expires: malformed date `2026-13-01`, expected YYYY-MM-DD",
        "bad.yaml:21:1: unknown key `bogus`",
    ];
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(want),
            "{line}\n  does not start with\n{want}"
        );
    }
}

#[test]
fn invalid_yaml_and_duplicates_are_refused() {
    let err = Registry::parse("r.yaml", "version: 1\nparties: [\n").expect_err("syntax");
    assert_eq!(err.problems.len(), 1);
    assert!(err.problems[0].message.starts_with("invalid YAML"), "{err}");
    assert!(err.problems[0].pos.line >= 2);

    let dup = "version: 1\nparties:\n  - {id: a, name: A, kind: person}\n  - {id: a, name: B, kind: team}\n";
    let err = Registry::parse("r.yaml", dup).expect_err("duplicate");
    assert_eq!(
        err.to_string(),
        "r.yaml:4:6: parties[1].id: `a` is used twice"
    );
}

const DEFECTIVE: &str = "version: 1
parties:
  - {id: ann, name: Ann, kind: person}
  - {id: bob, name: Bob, kind: person}
roles:
  - {id: idp, title: Identity, kind: identity-programme}
  - {id: soc, title: SOC, kind: security-operations}
  - {id: grc, title: GRC, kind: grc-risk-owner}
  - {id: desk, title: Desk, kind: service-desk}
  - {id: orphan, title: Nobody holds this}
staffing:
  idp: [ann]
  soc: [bob]
  grc: [bob]
  desk: [bob]
controls:
  - id: none
    title: No owner
    domain: governance
    raci: {responsible: [idp]}
  - id: two
    title: Two owners
    domain: governance
    raci: {accountable: [idp, soc]}
applications:
  - {id: app, name: App, owner: idp, step_up: passkey}
exceptions:
  - id: self
    controls: [two]
    scope: {applications: [app]}
    requested_by: ann
    approved_by: ann
    approved_at: 2026-01-01
    expires: 2026-03-01
    compensating_controls: [none]
    state: approved
  - id: forever
    controls: [none]
    risk_owner: soc
    requested_by: ann
    approved_by: bob
    state: approved
";

#[test]
fn governance_defects_are_reported_with_their_lines() {
    let r = registry(DEFECTIVE);
    let defects = r.defects(day("2026-06-01"));
    let got: Vec<(DefectKind, usize, &str)> = defects
        .iter()
        .map(|d| (d.kind, d.line, d.subject.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (DefectKind::UnstaffedRole, 10, "orphan"),
            (DefectKind::NoAccountable, 17, "none"),
            (DefectKind::SeveralAccountable, 24, "two"),
            (DefectKind::ApproverIsRequester, 32, "self"),
            (DefectKind::ApproverOwnsRisk, 32, "self"),
            (DefectKind::ExpiredException, 34, "self"),
            (DefectKind::NoExpiry, 37, "forever"),
            (DefectKind::ApprovalIncomplete, 37, "forever"),
            (DefectKind::NoCompensatingControls, 37, "forever"),
            (DefectKind::ApproverOwnsRisk, 41, "forever"),
        ]
    );
    assert!(defects[2].to_string().starts_with(
        "test.yaml:24:12: several-accountable: control `two` has 2 accountable roles (idp, soc)"
    ));
}

#[test]
fn a_registry_without_the_routing_roles_says_so() {
    let r = registry(
        "version: 1\nroles: [{id: x, title: X}]\nparties: [{id: p, name: P, kind: person}]\nstaffing: {x: [p]}\n",
    );
    let missing: Vec<String> = r
        .defects(day("2026-01-01"))
        .into_iter()
        .filter(|d| d.kind == DefectKind::MissingRoleKind)
        .map(|d| d.subject)
        .collect();
    assert_eq!(
        missing,
        [
            "identity-programme",
            "security-operations",
            "grc-risk-owner",
            "service-desk"
        ]
    );
}
