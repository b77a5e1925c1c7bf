//! OSCAL output validated against NIST's JSON schemas (tests/data/oscal/SOURCE.md).

use pushback_govern::export::{duo, entra, okta};
use pushback_govern::oscal;
use pushback_govern::posture::{Inputs, assess};
use serde_json::Value;

use crate::support::{data, day, example_registry};

fn validator(schema: &str) -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(&data(&format!("oscal/{schema}"))).expect("schema is JSON");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(&schema)
        .expect("the NIST schema compiles (ECMA-262 patterns included)")
}

fn assert_valid(schema: &str, doc: &Value) {
    let v = validator(schema);
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(10)
        .collect();
    assert!(errors.is_empty(), "{schema}:\n{}", errors.join("\n"));
}

fn at() -> pushback_model::Timestamp {
    day("2026-06-01").start()
}

#[test]
fn the_component_definition_validates_and_carries_raci() {
    let doc = oscal::component_definition(&example_registry(), at());
    assert_valid("oscal_component_schema.json", &doc);
    let text = doc.to_string();
    assert!(text.contains("\"control-id\":\"helpdesk-reset\""));
    assert!(text.contains("\"value\":\"accountable\""));
    // The same registry exports the same document.
    assert_eq!(doc, oscal::component_definition(&example_registry(), at()));
}

#[test]
fn the_poam_validates_and_marks_open_exceptions_deviation_approved() {
    let reg = example_registry();
    let doc = oscal::poam(&reg, day("2026-06-01"), at());
    assert_valid("oscal_poam_schema.json", &doc);
    let risks = doc["plan-of-action-and-milestones"]["risks"]
        .as_array()
        .expect("risks");
    let erp = risks
        .iter()
        .find(|r| r["title"] == "Exception EX-2026-007")
        .expect("erp risk");
    assert_eq!(erp["status"], "deviation-approved");
    assert_eq!(erp["deadline"], "2026-08-31T00:00:00Z");
    assert_eq!(erp["mitigating-factors"].as_array().map(Vec::len), Some(2));
    // After the expiry the risk is open again.
    let later = oscal::poam(&reg, day("2026-09-01"), at());
    let erp = later["plan-of-action-and-milestones"]["risks"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["title"] == "Exception EX-2026-007"))
        .expect("erp risk")
        .clone();
    assert_eq!(erp["status"], "open");
}

#[test]
fn assessment_results_validate() {
    let f = |name: &str| data(&format!("exports/{name}.json"));
    let inputs = Inputs {
        entra_auth_methods: entra::AuthMethodsPolicy::parse(&f("entra-auth-methods-bad")).ok(),
        entra_conditional_access: entra::ConditionalAccess::parse(&f("entra-ca-good")).ok(),
        okta_authenticators: okta::Authenticators::parse(&f("okta-authenticators-good")).ok(),
        duo_settings: duo::Settings::parse(&f("duo-settings-bad")).ok(),
        ..Inputs::default()
    };
    let reg = example_registry();
    let a = assess(&inputs, Some(&reg), day("2026-06-01"));
    let doc = oscal::assessment_results(Some(&reg), &a, at());
    assert_valid("oscal_assessment-results_schema.json", &doc);
    let findings = doc["assessment-results"]["results"][0]["findings"]
        .as_array()
        .expect("findings");
    assert!(
        findings
            .iter()
            .any(|f| f["target"]["status"]["state"] == "not-satisfied")
    );
    assert!(
        findings
            .iter()
            .any(|f| f["target"]["status"]["state"] == "satisfied")
    );
    // Without a registry the document is still valid.
    assert_valid(
        "oscal_assessment-results_schema.json",
        &oscal::assessment_results(None, &a, at()),
    );
}

#[test]
fn the_validator_rejects_a_broken_document() {
    // The check above could pass vacuously if the schema accepted anything.
    let mut doc = oscal::component_definition(&example_registry(), at());
    doc["component-definition"]["uuid"] = Value::from("not-a-uuid");
    assert!(!validator("oscal_component_schema.json").is_valid(&doc));
}
