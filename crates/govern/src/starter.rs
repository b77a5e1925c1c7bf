//! The commented starter registry `pushback govern init` writes.

/// A registry to copy and edit: every section, every field, comments on what each means.
pub const STARTER_YAML: &str = r#"# pushback governance registry: who owns each MFA-fatigue control, which exceptions
# were accepted by whom, and who answers for an incident.
# Keep it in git next to your identity configuration; check it with
#   pushback govern check registry.yaml
version: 1
organisation: Example Org

# People, teams and organisations. kind: person | team | org
parties:
  - id: ines
    name: Ines Ortega
    kind: person
    email: ines@example.org
  - id: sam
    name: Sam Lee
    kind: person
  - id: soc
    name: Security Operations Centre
    kind: team
  - id: grc-board
    name: Risk committee
    kind: team
  - id: servicedesk
    name: IT service desk
    kind: team
  - id: priya
    name: Priya Natarajan
    kind: person

# Roles. kind tells pushback what a role answers for in an incident report:
# identity-programme | application-owner | security-operations | grc-risk-owner |
# service-desk | custom
roles:
  - id: identity-programme
    title: Identity programme owner
    kind: identity-programme
  - id: app-owner-crm
    title: Application owner, CRM
    kind: application-owner
  - id: secops
    title: Security operations
    kind: security-operations
  - id: grc
    title: GRC risk owner
    kind: grc-risk-owner
  - id: service-desk
    title: Service desk manager
    kind: service-desk
  - id: identity-engineering
    title: Identity engineering
    kind: custom

# Role → the parties that hold it. A role nobody holds is a defect.
staffing:
  identity-programme: [ines]
  app-owner-crm: [priya]
  secops: [soc]
  grc: [grc-board]
  service-desk: [servicedesk]
  identity-engineering: [sam]

# Controls. Exactly one accountable role each (a list of two is a defect).
# domain: identity-policy | app-step-up | detection-response | governance |
#         service-desk | privileged-access
# checks: the posture checks that assess the control (`pushback assess --list`).
controls:
  - id: phishing-resistant-mfa
    title: Phishing-resistant MFA for all users and privileged roles
    domain: identity-policy
    raci:
      accountable: identity-programme
      responsible: [identity-engineering]
      consulted: [grc]
      informed: [app-owner-crm]
    anchors: [MS.AAD.3.1v1, MS.AAD.3.6v1, M1032]
    implemented_in: IdP sign-in policy
    checks: [pr-mfa-all-users, pr-mfa-privileged, mfa-exclusions-excepted, legacy-auth-blocked, device-code-blocked]
  - id: push-hardening
    title: Push with number matching or code, context shown, weak factors off, throttled
    domain: identity-policy
    raci:
      accountable: identity-programme
      responsible: [identity-engineering]
    anchors: [MS.AAD.3.3v2, MS.AAD.3.5v2, CIS-M365-5.2.3.1]
    implemented_in: IdP authentication methods
    checks: [push-number-context, weak-factors-off, push-throttled, pushback-challenge, not-me-playbook, risk-and-reporting]
  - id: account-lifecycle
    title: Dormant accounts expire; no fail-open; no self re-enrolment
    domain: identity-policy
    raci:
      accountable: identity-programme
    anchors: [AA22-074A]
    implemented_in: IdP and MFA system
    checks: [no-dormant-accounts, fail-closed, no-self-reenrolment]
  - id: crm-step-up
    title: CRM asks for strong step-up
    domain: app-step-up
    raci:
      accountable: app-owner-crm
      consulted: [identity-programme]
    implemented_in: CRM login flow
    checks: [app-step-up]
  - id: t1621-detection
    title: Prompt floods detected and acted on
    domain: detection-response
    raci:
      accountable: secops
      informed: [identity-programme, grc]
    anchors: [DET0160, CC7.2]
    implemented_in: pushback watch and the SIEM
    checks: [detection-active]
  - id: privileged-access
    title: Privileged access only through approval
    domain: privileged-access
    raci:
      accountable: identity-programme
    anchors: [MS.AAD.7.6v1, A.8.2]
    implemented_in: PIM
    checks: [privileged-approval]
  - id: helpdesk-reset
    title: Helpdesk verifies callers before any reset or re-enrolment
    domain: service-desk
    raci:
      accountable: service-desk
      consulted: [identity-programme]
    anchors: [A.5.17, MS.AAD.3.8v1]
    implemented_in: Service desk runbook
    checks: [registration-protected]
  - id: exception-process
    title: Exceptions approved independently, with expiry and compensating controls
    domain: governance
    raci:
      accountable: grc
    anchors: [CA-6, GOVERN 2.3]
    implemented_in: Risk register
    checks: [exception-hygiene]

# Applications. privilege: standard | sensitive | privileged
# step_up: passkey | push-with-code | push-with-number | push-approve-only | none
# (leave it out only if nobody knows: that is a finding)
applications:
  - id: crm
    name: CRM
    owner: app-owner-crm
    privilege: sensitive
    step_up: push-approve-only
    idp: okta
    approval_required: false
    fail_mode: closed
    shared_accounts: []

# Exceptions. state: draft | requested | approved | rejected | expired | revoked
# risk_owner defaults to the owner of the applications in scope; approved_by must
# not be requested_by; expires is required.
exceptions:
  - id: EX-001
    kind: policy
    controls: [crm-step-up]
    scope:
      applications: [crm]
    justification: The CRM vendor supports only approve-only push until its 2027 release.
    compensating_controls: [t1621-detection, push-hardening]
    risk_owner: app-owner-crm
    requested_by: priya
    approved_by: grc-board
    approved_at: 2026-01-15
    expires: 2026-12-31
    state: approved
"#;
