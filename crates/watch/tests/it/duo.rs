//! Duo Admin API v2 authentication records: Elastic's pipeline fixture (19 records)
//! and Panther's rule test events.

use pushback_model::{EventKind, EventSource, Timestamp};
use pushback_watch::Format;

use crate::support::{corpus, read};

const ELASTIC: &str = "elastic-integrations/cisco_duo_auth_test-auth.log";

#[test]
fn every_fixture_record_maps_to_its_documented_kind() {
    let run = read(&corpus(ELASTIC));
    assert_eq!(run.format, Some(Format::Duo));
    assert!(run.errors.is_empty(), "{:?}", run.error_texts());
    assert_eq!(run.records.len(), 19);
    use EventKind::*;
    let per_line: Vec<Vec<EventKind>> = run
        .records
        .iter()
        .map(|(_, e)| e.iter().map(|e| e.kind).collect())
        .collect();
    let mut want = vec![vec![MfaSuccess]; 3];
    want.push(vec![UserReportedFraud]);
    want.extend(vec![vec![PushDenied]; 9]);
    want.extend(vec![vec![MfaSuccess]; 3]);
    want.push(vec![Other]); // the enrollment record
    // The two records whose risk assessment names detectors get a vendor_risk twin.
    want.push(vec![MfaSuccess, VendorRisk]);
    want.push(vec![MfaSuccess, VendorRisk]);
    assert_eq!(per_line, want);
    assert!(run.events().all(|e| e.source == EventSource::Duo));
}

#[test]
fn deny_then_fraud_then_approve_for_one_user_on_one_app() {
    // Lines 5, 4 and 2 of the fixture, in time order (SOURCE.md).
    let run = read(&corpus(ELASTIC));
    let steps = [run.at_line(5), run.at_line(4), run.at_line(2)];
    let seen: Vec<_> = steps
        .iter()
        .map(|e| {
            (
                e.kind,
                e.time,
                &*e.user,
                e.app.as_deref(),
                e.reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                EventKind::PushDenied,
                Timestamp::from_millis(1_627_024_774_702),
                "narroway",
                Some("Duo Access Gateway Launcher"),
                Some("user_mistake")
            ),
            (
                EventKind::UserReportedFraud,
                Timestamp::from_millis(1_627_024_854_700),
                "narroway",
                Some("Duo Access Gateway Launcher"),
                Some("user_marked_fraud")
            ),
            (
                EventKind::MfaSuccess,
                Timestamp::from_millis(1_627_024_911_271),
                "narroway",
                Some("Duo Access Gateway Launcher"),
                Some("user_approved")
            ),
        ]
    );
    let e = run.at_line(5);
    assert_eq!(&*e.id, "e22120cd-7388-424f-aa0a-b60cad42d8f3");
    assert_eq!(e.user_id.as_deref(), Some("DU3KC77WJ06Y5HIV7XKQ"));
    assert_eq!(e.factor.as_deref(), Some("duo_push"));
    assert_eq!(e.result.as_deref(), Some("denied"));
    assert_eq!(e.session, None, "Duo has no session id");
}

#[test]
fn odd_ip_forms_in_the_fixture_lose_their_ports_not_the_event() {
    let run = read(&corpus(ELASTIC));
    let v6 = "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6".parse().ok();
    assert_eq!(run.at_line(6).src_ip, "89.160.20.112".parse().ok());
    assert_eq!(run.at_line(6).answer_ip, "192.168.225.254".parse().ok());
    for line in 7..=13 {
        let e = run.at_line(line);
        assert_eq!(e.src_ip, v6, "line {line} access_device");
        assert_eq!(e.answer_ip, v6, "line {line} auth_device");
    }
}

#[test]
fn requester_and_answering_device_are_kept_apart() {
    let run = read(&corpus(ELASTIC));
    // Line 19: the request came from 1.128.0.1 in Detroit, the phone answered from
    // 175.16.199.1.
    let e = run.at_line(19);
    assert_eq!(e.src_ip, "1.128.0.1".parse().ok());
    assert_eq!(e.src_city.as_deref(), Some("Detroit"));
    assert_eq!(e.src_country.as_deref(), Some("United States"));
    assert_eq!(e.answer_ip, "175.16.199.1".parse().ok());
    assert_eq!(e.answer_country.as_deref(), Some("United States"));
    assert_eq!(e.app.as_deref(), Some("Acme Corp"));
    // The enrollment record has no answering device at all.
    let enrol = run.at_line(17);
    assert_eq!(&*enrol.vendor_event, "enrollment");
    assert_eq!(enrol.answer_ip, None);
    assert_eq!(enrol.src_ip, "81.2.69.144".parse().ok());
}

#[test]
fn risk_based_factor_selection_verdicts_become_detections() {
    let run = read(&corpus(ELASTIC));
    let names = |line| -> Vec<String> {
        run.at_line(line)
            .risk_detections
            .iter()
            .map(|d| d.to_string())
            .collect()
    };
    let e18 = run.at_line(18);
    assert_eq!(e18.risk_level.as_deref(), Some("LOW"));
    assert_eq!(names(18), ["USER_MARKED_FRAUD"]);
    // NOVEL_ASN appears in the assessment and twice in rbfs_triggered_attacks: once.
    assert_eq!(names(19), ["NOVEL_ASN"]);
    let twin = &run.records.iter().find(|(l, _)| *l == 19).unwrap().1[1];
    assert_eq!(twin.kind, EventKind::VendorRisk);
    assert_eq!(twin.id, run.at_line(19).id);
    // Records without assessments carry none.
    assert!(run.at_line(1).risk_detections.is_empty());
    assert_eq!(run.at_line(1).risk_level, None);
}

#[test]
fn the_v2_response_envelope_yields_the_same_events() {
    let lines = String::from_utf8(corpus(ELASTIC)).unwrap();
    let records: Vec<&str> = lines.lines().collect();
    let page = format!(
        "{{\"stat\":\"OK\",\"response\":{{\"authlogs\":[\n{}\n],\"metadata\":{{\"next_offset\":[\"1627024911271\",\"fa59a691\"]}}}}}}",
        records.join(",\n")
    );
    let plain = read(lines.as_bytes());
    let wrapped = read(page.as_bytes());
    assert!(wrapped.errors.is_empty(), "{:?}", wrapped.error_texts());
    assert_eq!(wrapped.format, Some(Format::Duo));
    assert_eq!(
        wrapped.events().cloned().collect::<Vec<_>>(),
        plain.events().cloned().collect::<Vec<_>>()
    );
}

#[test]
fn panther_events_have_no_time_and_say_so_then_map_once_timed() {
    let text = String::from_utf8(corpus(
        "panther-analysis/duo_authentication_rule_test_events.jsonl",
    ))
    .unwrap();
    let mut seen = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let event = v["event"].to_string();
        // As Panther wrote them: no timestamp, so no event.
        let run = read(event.as_bytes());
        assert_eq!(
            run.error_texts(),
            ["record 1 (line 1): missing txid"],
            "{event}"
        );
        // Given a time, each maps by its reason.
        let mut timed = v["event"].clone();
        timed["timestamp"] = 1_700_000_000.into();
        timed["txid"] = "t".into();
        let run = read(timed.to_string().as_bytes());
        let e = run.events().next().unwrap();
        seen.push((v["event"]["reason"].as_str().unwrap().to_owned(), e.kind));
    }
    use EventKind::*;
    let want: Vec<(String, EventKind)> = [
        ("user_marked_fraud", UserReportedFraud),
        ("anomalous_push", VendorRisk),
        ("user_approved", MfaSuccess),
        ("out_of_date", MfaBlocked),
        ("bypass_user", SessionStart),
        ("user_approved", MfaSuccess),
        ("out_of_date", MfaBlocked),
        ("endpoint_is_not_in_management_system", MfaBlocked),
        ("endpoint_failed_google_verification", MfaBlocked),
        ("endpoint_is_not_trusted", MfaBlocked),
        ("could_not_determine_if_endpoint_was_trusted", MfaBlocked),
        ("invalid_device", MfaBlocked),
        ("user_approved", MfaSuccess),
        ("out_of_date", MfaBlocked),
    ]
    .into_iter()
    .map(|(r, k)| (r.to_owned(), k))
    .collect();
    assert_eq!(seen, want);
}
