//! OSCAL 1.1 JSON: the registry as a component-definition (controls with their
//! responsible roles), an assessment as assessment-results, and the exceptions as a
//! plan of action and milestones (each exception a risk: `deviation-approved`, its
//! expiry the `deadline`, its compensating controls the mitigating factors).
//!
//! UUIDs are name-based (v5) from the registry's ids, so the same registry exports the
//! same documents. RACI, which OSCAL does not model, rides in a pushback-namespaced
//! `raci` property on each responsible role.

use serde_json::{Value, json};

use pushback_model::Timestamp;

use crate::date::Day;
use crate::posture::{Assessment, Status};
use crate::registry::{ExceptionState, PartyKind, Registry, Standing};

/// The OSCAL version the documents declare.
pub const OSCAL_VERSION: &str = "1.1.3";
/// The namespace of pushback's own properties.
pub const NS: &str = "https://pushback.dev/ns/oscal";
/// Where pushback's MFA-fatigue control set would be published.
const CATALOG: &str = "https://pushback.dev/oscal/mfa-fatigue-controls.json";

fn id(kind: &str, name: &str) -> String {
    let ns = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, NS.as_bytes());
    uuid::Uuid::new_v5(&ns, format!("{kind}:{name}").as_bytes()).to_string()
}

fn metadata(registry: &Registry, title: &str, at: Timestamp) -> Value {
    let roles: Vec<Value> = registry
        .doc
        .roles
        .iter()
        .map(|r| {
            json!({
                "id": token(&r.id),
                "title": r.title,
                "props": [{"name": "role-kind", "ns": NS, "value": r.kind.as_str()}],
            })
        })
        .collect();
    let parties: Vec<Value> = registry
        .doc
        .parties
        .iter()
        .map(|p| {
            let mut party = json!({
                "uuid": id("party", &p.id),
                "type": if p.kind == PartyKind::Person { "person" } else { "organization" },
                "name": p.name,
            });
            if let Some(email) = &p.email {
                party["email-addresses"] = json!([email]);
            }
            party
        })
        .collect();
    let responsible: Vec<Value> = registry
        .doc
        .staffing
        .iter()
        .filter(|(_, parties)| !parties.is_empty())
        .map(|(role, parties)| {
            json!({
                "role-id": token(role),
                "party-uuids": parties.iter().map(|p| id("party", p)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut meta = json!({
        "title": title,
        "last-modified": at.to_rfc3339(),
        "version": "1",
        "oscal-version": OSCAL_VERSION,
    });
    if !roles.is_empty() {
        meta["roles"] = Value::Array(roles);
    }
    if !parties.is_empty() {
        meta["parties"] = Value::Array(parties);
    }
    if !responsible.is_empty() {
        meta["responsible-parties"] = Value::Array(responsible);
    }
    meta
}

/// OSCAL tokens allow letters, digits, `.`, `-`, `_`, starting with a letter or `_`.
fn token(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

fn org(registry: &Registry) -> &str {
    if registry.doc.organisation.is_empty() {
        "the organisation"
    } else {
        &registry.doc.organisation
    }
}

/// The registry's controls as components, each control an implemented requirement with
/// its responsible roles (RACI as a property).
pub fn component_definition(registry: &Registry, at: Timestamp) -> Value {
    let mut groups: Vec<(String, Vec<&crate::registry::Control>)> = Vec::new();
    for c in &registry.doc.controls {
        let home = if c.implemented_in.is_empty() {
            "unspecified".to_owned()
        } else {
            c.implemented_in.clone()
        };
        match groups.iter_mut().find(|(h, _)| *h == home) {
            Some((_, list)) => list.push(c),
            None => groups.push((home, vec![c])),
        }
    }
    let components: Vec<Value> = groups
        .iter()
        .map(|(home, controls)| {
            let reqs: Vec<Value> = controls
                .iter()
                .map(|c| {
                    let mut roles = Vec::new();
                    for (raci, list) in [
                        ("accountable", &c.raci.accountable),
                        ("responsible", &c.raci.responsible),
                        ("consulted", &c.raci.consulted),
                        ("informed", &c.raci.informed),
                    ] {
                        for role in list {
                            let mut r = json!({
                                "role-id": token(role),
                                "props": [{"name": "raci", "ns": NS, "value": raci}],
                            });
                            let staff = registry.staff(role);
                            if !staff.is_empty() {
                                r["party-uuids"] = json!(staff.iter().map(|p| id("party", p)).collect::<Vec<_>>());
                            }
                            roles.push(r);
                        }
                    }
                    let mut props = vec![json!({"name": "domain", "ns": NS, "value": format!("{:?}", c.domain)})];
                    for a in &c.anchors {
                        props.push(json!({"name": "anchor", "ns": NS, "value": a}));
                    }
                    for k in &c.checks {
                        props.push(json!({"name": "posture-check", "ns": NS, "value": k}));
                    }
                    let mut req = json!({
                        "uuid": id("requirement", &c.id),
                        "control-id": token(&c.id),
                        "description": c.title,
                        "props": props,
                    });
                    if !roles.is_empty() {
                        req["responsible-roles"] = Value::Array(roles);
                    }
                    req
                })
                .collect();
            json!({
                "uuid": id("component", home),
                "type": "service",
                "title": home,
                "description": format!("Where {} implements these MFA-fatigue controls: {home}.", org(registry)),
                "control-implementations": [{
                    "uuid": id("implementation", home),
                    "source": CATALOG,
                    "description": format!("MFA-fatigue controls implemented in {home}."),
                    "implemented-requirements": reqs,
                }],
            })
        })
        .collect();
    let mut doc = json!({
        "uuid": id("component-definition", org(registry)),
        "metadata": metadata(registry, &format!("MFA-fatigue controls of {}", org(registry)), at),
    });
    if !components.is_empty() {
        doc["components"] = Value::Array(components);
    }
    json!({ "component-definition": doc })
}

/// Posture findings as one assessment result: an observation and a finding per check
/// that was assessed.
pub fn assessment_results(
    registry: Option<&Registry>,
    assessment: &Assessment,
    at: Timestamp,
) -> Value {
    let assessed: Vec<_> = assessment
        .findings
        .iter()
        .filter(|f| f.status != Status::NotAssessed)
        .collect();
    let observations: Vec<Value> = assessed
        .iter()
        .map(|f| {
            json!({
                "uuid": id("observation", &format!("{}@{}", f.check, assessment.as_of)),
                "title": f.title,
                "description": if f.evidence.is_empty() { f.title.clone() } else { f.evidence.join("\n\n") },
                "methods": ["TEST"],
                "collected": at.to_rfc3339(),
                "relevant-evidence": [{"description": format!("pushback assess inputs: {}", assessment.inputs.join(", "))}],
            })
        })
        .collect();
    let findings: Vec<Value> = assessed
        .iter()
        .map(|f| {
            let state = if f.status == Status::Pass { "satisfied" } else { "not-satisfied" };
            let mut props = vec![
                json!({"name": "severity", "ns": NS, "value": f.severity.as_str()}),
                json!({"name": "owner-role", "ns": NS, "value": token(&f.owner.role)}),
            ];
            for a in &f.anchors {
                props.push(json!({"name": "anchor", "ns": NS, "value": a}));
            }
            json!({
                "uuid": id("finding", &format!("{}@{}", f.check, assessment.as_of)),
                "title": f.title,
                "description": format!("{}: {}", f.check, f.status.as_str()),
                "props": props,
                "target": {
                    "type": "objective-id",
                    "target-id": token(&f.check),
                    "status": {"state": state},
                },
                "related-observations": [{"observation-uuid": id("observation", &format!("{}@{}", f.check, assessment.as_of))}],
            })
        })
        .collect();
    let meta = match registry {
        Some(r) => metadata(r, &format!("MFA-fatigue posture of {}", org(r)), at),
        None => json!({
            "title": "MFA-fatigue posture",
            "last-modified": at.to_rfc3339(),
            "version": "1",
            "oscal-version": OSCAL_VERSION,
        }),
    };
    let mut result = json!({
        "uuid": id("result", &assessment.as_of.to_string()),
        "title": format!("pushback assess, {}", assessment.as_of),
        "description": "Posture checks over pushback's configuration and exported identity-provider configuration.",
        "start": at.to_rfc3339(),
        "reviewed-controls": {"control-selections": [{"include-all": {}}]},
    });
    if !observations.is_empty() {
        result["observations"] = Value::Array(observations);
        result["findings"] = Value::Array(findings);
    }
    json!({
        "assessment-results": {
            "uuid": id("assessment-results", &assessment.as_of.to_string()),
            "metadata": meta,
            "import-ap": {"href": "#", "remarks": "No assessment plan: pushback runs its fixed check set."},
            "results": [result],
        }
    })
}

/// The exceptions as POA&M items and risks, as of `today`.
pub fn poam(registry: &Registry, today: Day, at: Timestamp) -> Value {
    let mut items = Vec::new();
    let mut risks = Vec::new();
    for x in &registry.doc.exceptions {
        let risk_uuid = id("risk", &x.id);
        let status = match (x.state, x.standing(today)) {
            (ExceptionState::Approved, Standing::Open) => "deviation-approved",
            (ExceptionState::Requested | ExceptionState::Draft, _) => "deviation-requested",
            (ExceptionState::Rejected | ExceptionState::Revoked, _) => "closed",
            _ => "open",
        };
        let mut props = vec![
            json!({"name": "exception-state", "ns": NS, "value": x.state.as_str()}),
            json!({"name": "exception-kind", "ns": NS, "value": format!("{:?}", x.kind).to_lowercase()}),
        ];
        if status == "deviation-approved" {
            props.push(json!({"name": "accepted", "value": "true"}));
        }
        if let Some(owner) = registry.risk_owner(x) {
            props.push(json!({"name": "risk-owner", "ns": NS, "value": token(&owner)}));
        }
        let mut risk = json!({
            "uuid": risk_uuid,
            "title": format!("Exception {}", x.id),
            "description": if x.justification.is_empty() { format!("Exception {} to {}", x.id, x.controls.join(", ")) } else { x.justification.clone() },
            "statement": format!("Controls departed from: {}. Scope: {}.", x.controls.join(", "), scope_text(x)),
            "props": props,
            "status": status,
        });
        if let Some(end) = x.expires {
            risk["deadline"] = json!(end.start().to_rfc3339());
        }
        if !x.compensating_controls.is_empty() {
            risk["mitigating-factors"] = Value::Array(
                x.compensating_controls
                    .iter()
                    .map(|c| {
                        let title = registry.control(c).map_or(c.as_str(), |k| k.title.as_str());
                        json!({"uuid": id("mitigation", &format!("{}:{c}", x.id)), "description": format!("Compensating control {c}: {title}")})
                    })
                    .collect(),
            );
        }
        let mut log = Vec::new();
        if let Some(requester) = &x.requested_by {
            let start = x.approved_at.map_or(at, Day::start);
            log.push(json!({
                "uuid": id("log", &format!("{}:submission", x.id)),
                "title": "Deviation requested",
                "start": start.to_rfc3339(),
                "logged-by": [{"party-uuid": id("party", requester)}],
                "status-change": "deviation-requested",
                "props": [{"name": "type", "value": "dr-submission"}],
            }));
        }
        if let (Some(approver), Some(day)) = (&x.approved_by, x.approved_at) {
            log.push(json!({
                "uuid": id("log", &format!("{}:approval", x.id)),
                "title": "Deviation approved",
                "start": day.start().to_rfc3339(),
                "logged-by": [{"party-uuid": id("party", approver)}],
                "status-change": "deviation-approved",
                "props": [{"name": "type", "value": "dr-approved"}],
            }));
        }
        if !log.is_empty() {
            risk["risk-log"] = json!({"entries": log});
        }
        risks.push(risk);
        items.push(json!({
            "uuid": id("poam-item", &x.id),
            "title": format!("Exception {}: {}", x.id, x.controls.join(", ")),
            "description": format!("{} (state {}, expires {})", if x.justification.is_empty() { "No justification recorded" } else { &x.justification }, x.state.as_str(), x.expires.map_or("never".to_owned(), |d| d.to_string())),
            "related-risks": [{"risk-uuid": risk_uuid}],
        }));
    }
    let mut doc = json!({
        "uuid": id("poam", org(registry)),
        "metadata": metadata(registry, &format!("MFA-fatigue exceptions of {}", org(registry)), at),
        "system-id": {"identifier-type": "https://pushback.dev", "id": token(org(registry))},
        "poam-items": items,
    });
    if !risks.is_empty() {
        doc["risks"] = Value::Array(risks);
    }
    json!({ "plan-of-action-and-milestones": doc })
}

fn scope_text(x: &crate::registry::Exception) -> String {
    let s = &x.scope;
    let mut parts = Vec::new();
    for (name, list) in [
        ("applications", &s.applications),
        ("users", &s.users),
        ("groups", &s.groups),
        ("roles", &s.roles),
    ] {
        if !list.is_empty() {
            parts.push(format!("{name} {}", list.join(", ")));
        }
    }
    if parts.is_empty() {
        "everything".into()
    } else {
        parts.join("; ")
    }
}
