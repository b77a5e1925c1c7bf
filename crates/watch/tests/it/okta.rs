//! Okta System Log: Panther's two rule test events, Okta's own event-type catalog, and
//! hand-written push, deny and number-challenge events (the corpus has none).

use pushback_model::{EventKind, EventSource, Timestamp};
use pushback_watch::{Format, Skip};

use crate::support::{corpus, read};

fn panther_event(test_name: &str) -> String {
    let text = String::from_utf8(corpus(
        "panther-analysis/okta_systemlog_rule_test_events.jsonl",
    ))
    .unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["_source"]["test_name"] == test_name)
        .map(|v| v["event"].to_string())
        .unwrap()
}

#[test]
fn a_user_report_of_suspicious_activity_is_a_fraud_report() {
    // Panther stores some keys lower-cased (`eventtype`, `debugcontext`, …) and
    // `published` without a zone; both are read.
    let run = read(panther_event("Suspicious Report Event").as_bytes());
    assert_eq!(run.format, Some(Format::Okta));
    assert!(run.errors.is_empty(), "{:?}", run.error_texts());
    let e = run.at_line(1);
    assert_eq!(e.kind, EventKind::UserReportedFraud);
    assert_eq!(e.source, EventSource::Okta);
    assert_eq!(&*e.id, "ABC1234");
    assert_eq!(&*e.user, "homer.simpson@duff.com");
    assert_eq!(e.user_id.as_deref(), Some("01234"), "the target user's id");
    assert_eq!(e.time, Timestamp::from_millis(1_671_033_538_851));
    assert_eq!(e.session.as_deref(), Some("aaa1234"));
    assert_eq!(e.src_ip, "1.2.3.4".parse().ok());
    assert_eq!(e.src_country.as_deref(), Some("United States"));
    assert_eq!(e.src_city.as_deref(), Some("Springfield"));
    assert_eq!(e.asn, Some(11427));
    assert_eq!(e.result.as_deref(), Some("SUCCESS"));
    assert_eq!(
        &*e.vendor_event,
        "user.account.report_suspicious_activity_by_enduser"
    );
}

#[test]
fn an_admin_action_names_the_target_user_not_the_admin() {
    let run = read(panther_event("Other Event").as_bytes());
    let e = run.at_line(1);
    assert_eq!(e.kind, EventKind::Other);
    assert_eq!(&*e.vendor_event, "user.mfa.factor.reset_all");
    assert_eq!(&*e.user, "peter.griffin@company.com");
    assert_eq!(e.asn, Some(701));
}

#[test]
fn mapped_event_types_exist_in_oktas_catalog_and_the_rest_are_skipped() {
    let catalog: serde_json::Value =
        serde_json::from_slice(&corpus("okta-developer-docs/mfa-relevant-event-types.json"))
            .unwrap();
    let ids: Vec<String> = catalog["eventTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    use EventKind::*;
    let mapped = [
        ("system.push.send_factor_verify_push", PushSent),
        ("system.sms.send_factor_verify_message", OtpSent),
        ("system.voice.send_mfa_challenge_call", OtpSent),
        ("user.mfa.okta_verify.deny_push", PushDenied),
        ("user.authentication.auth_via_mfa", MfaSuccess),
        ("user.authentication.sso", SessionStart),
        ("user.session.start", SessionStart),
        ("user.authentication.verify", SessionStart),
        (
            "user.account.report_suspicious_activity_by_enduser",
            UserReportedFraud,
        ),
        ("security.threat.detected", VendorRisk),
        ("user.risk.detect", VendorRisk),
        ("user.mfa.okta_verify.deny_push_upgrade_needed", Other),
        ("user.session.clear", Other),
        ("user.session.end", Other),
        ("user.session.expire", Other),
        ("user.session.context.change", Other),
        ("user.authentication.universal_logout", Other),
        ("user.account.lock", Other),
        ("user.account.lock.limit", Other),
        ("user.lifecycle.suspend", Other),
        ("user.mfa.factor.suspend", Other),
        ("user.mfa.factor.reset_all", Other),
        ("user.account.reset_password", Other),
        ("user.risk.change", Other),
    ];
    let mut lines = String::new();
    for id in &ids {
        lines.push_str(&format!(
            "{{\"uuid\":\"{id}\",\"published\":\"2024-03-18T12:00:00Z\",\"eventType\":\"{id}\",\"actor\":{{\"type\":\"User\",\"alternateId\":\"alice@example.com\"}},\"outcome\":{{\"result\":\"SUCCESS\"}}}}\n"
        ));
    }
    let run = read(lines.as_bytes());
    assert!(run.errors.is_empty(), "{:?}", run.error_texts());
    let got: Vec<(String, EventKind)> = run.events().map(|e| (e.id.to_string(), e.kind)).collect();
    for (id, kind) in mapped {
        assert!(ids.iter().any(|i| i == id), "{id} is not in Okta's catalog");
        assert!(
            got.contains(&(id.to_owned(), kind)),
            "{id} should map to {kind}"
        );
    }
    assert_eq!(
        got.len(),
        mapped.len(),
        "only the mapped types become events: {got:?}"
    );
    assert_eq!(run.skips.len(), ids.len() - mapped.len());
    assert!(run.skips.iter().all(|(_, s)| *s == Skip::NotRelevant));
}

/// A push-bombing sequence against one Okta session: synthetic, written from the
/// System Log schema (the corpus has no push events).
fn event(uuid: &str, at: &str, event_type: &str, outcome: &str, debug: &str) -> String {
    format!(
        r#"{{"uuid":"{uuid}","published":"{at}","eventType":"{event_type}","actor":{{"id":"00u1","type":"User","alternateId":"victim@example.com"}},"client":{{"ipAddress":"203.0.113.66","geographicalContext":{{"city":"Minsk","country":"Belarus"}}}},"securityContext":{{"asNumber":64511}},"authenticationContext":{{"externalSessionId":"idxATTACK"}},"outcome":{outcome},"debugContext":{{"debugData":{debug}}},"target":[{{"id":"0oa1","type":"AppInstance","displayName":"Okta Dashboard"}}]}}"#
    )
}

#[test]
fn classic_and_oie_denies_number_challenges_and_the_final_approval() {
    let push = r#"{"factor":"OKTA_VERIFY_PUSH"}"#;
    let lines = [
        event("1", "2024-03-18T12:00:00.000Z", "system.push.send_factor_verify_push", r#"{"result":"SUCCESS"}"#, "{}"),
        event("2", "2024-03-18T12:00:10.000Z", "user.mfa.okta_verify.deny_push", r#"{"result":"FAILURE","reason":"User rejected Okta push verify"}"#, "{}"),
        event("3", "2024-03-18T12:00:20.000Z", "system.push.send_factor_verify_push", r#"{"result":"SUCCESS"}"#, "{}"),
        event("4", "2024-03-18T12:00:30.000Z", "user.authentication.auth_via_mfa", r#"{"result":"FAILURE","reason":"INVALID_CREDENTIALS"}"#, r#"{"factor":"OKTA_VERIFY_PUSH","pushOnlyResponseType":"OV_RESPONSE_DENY"}"#),
        event("5", "2024-03-18T12:00:40.000Z", "user.authentication.auth_via_mfa", r#"{"result":"FAILURE","reason":"INVALID_CREDENTIALS"}"#, push),
        event("6", "2024-03-18T12:00:50.000Z", "user.authentication.auth_via_mfa", r#"{"result":"FAILURE"}"#, r#"{"factor":"OKTA_VERIFY_PUSH","pushWithNumberChallengeResponseType":"OV_WITH_CHALLENGE_RESPONSE_INVALID"}"#),
        event("7", "2024-03-18T12:01:00.000Z", "user.authentication.auth_via_mfa", r#"{"result":"SUCCESS"}"#, r#"{"factor":"OKTA_VERIFY_PUSH","pushWithNumberChallengeResponseType":"OV_WITH_CHALLENGE_RESPONSE_VALID"}"#),
        event("8", "2024-03-18T12:01:01.000Z", "user.authentication.sso", r#"{"result":"SUCCESS"}"#, "{}"),
        event("9", "2024-03-18T12:01:02.000Z", "policy.evaluate_sign_on", r#"{"result":"ALLOW"}"#, "{}"),
    ]
    .join("\n");
    let run = read(lines.as_bytes());
    assert!(run.errors.is_empty(), "{:?}", run.error_texts());
    use EventKind::*;
    assert_eq!(
        run.kinds(),
        [
            PushSent,
            PushDenied,
            PushSent,
            PushDenied,
            PushDenied,
            NumberChallengeFailed,
            MfaSuccess,
            SessionStart
        ]
    );
    assert_eq!(run.skips, [(9, Skip::NotRelevant)]);
    for e in run.events() {
        assert_eq!(&*e.user, "victim@example.com");
        assert_eq!(e.session.as_deref(), Some("idxATTACK"));
        assert_eq!(e.src_ip, "203.0.113.66".parse().ok());
        assert_eq!(e.src_country.as_deref(), Some("Belarus"));
        assert_eq!(e.asn, Some(64511));
        assert_eq!(e.app.as_deref(), Some("Okta Dashboard"));
    }
    let denies: Vec<_> = run.events().filter(|e| e.kind == PushDenied).collect();
    assert!(
        denies
            .iter()
            .all(|e| e.factor.as_deref() == Some("OKTA_VERIFY_PUSH"))
    );
    assert_eq!(
        run.at_line(6).reason.as_deref(),
        Some("OV_WITH_CHALLENGE_RESPONSE_INVALID")
    );
    assert_eq!(
        run.at_line(1).time,
        Timestamp::from_millis(1_710_763_200_000)
    );
}

#[test]
fn an_okta_api_page_is_a_json_array() {
    let page = format!(
        "[{},\n{}]",
        event(
            "a",
            "2024-03-18T12:00:00Z",
            "system.push.send_factor_verify_push",
            r#"{"result":"SUCCESS"}"#,
            "{}"
        ),
        event(
            "b",
            "2024-03-18T12:00:05Z",
            "user.mfa.okta_verify.deny_push",
            r#"{"result":"FAILURE"}"#,
            "{}"
        )
    );
    let run = read(page.as_bytes());
    assert_eq!(run.kinds(), [EventKind::PushSent, EventKind::PushDenied]);
    assert_eq!(
        run.records.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        [1, 2]
    );
}
