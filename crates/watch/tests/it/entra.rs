//! Entra ID sign-in records: Elastic's Event Hub fixture (five categories, all the
//! 50140 "keep me signed in" interrupt), and MFA rows derived from it by hand.

use pushback_model::{EventKind, EventSource, Timestamp};
use pushback_watch::{Format, Skip};

use crate::support::{corpus, read};

const ELASTIC: &str = "elastic-integrations/azure_signinlogs_test-signinlogs-raw.log";

#[test]
fn user_sign_ins_are_kept_and_service_principals_skipped() {
    let run = read(&corpus(ELASTIC));
    assert_eq!(run.format, Some(Format::Entra));
    assert!(run.errors.is_empty(), "{:?}", run.error_texts());
    assert_eq!(
        run.events().map(|e| &*e.vendor_event).collect::<Vec<_>>(),
        ["SignInLogs", "NonInteractiveUserSignInLogs"]
    );
    assert_eq!(
        run.skips,
        [
            (3, Skip::NotAUser),
            (4, Skip::NotAUser),
            (5, Skip::NotAUser)
        ]
    );
}

#[test]
fn event_hub_fields_come_from_properties_first() {
    let run = read(&corpus(ELASTIC));
    let e = run.at_line(1);
    assert_eq!(e.source, EventSource::Entra);
    assert_eq!(
        e.kind,
        EventKind::Other,
        "50140 is an interrupt, not an MFA outcome"
    );
    assert_eq!(&*e.user, "test@elastic.co");
    assert_eq!(
        e.user_id.as_deref(),
        Some("8a4de8b5-095c-47d0-a96f-a75130c61d53")
    );
    // createdDateTime "2019-10-18T04:45:48.0729893-05:00" is the envelope's 09:45:48.072Z.
    assert_eq!(e.time, Timestamp::from_millis(1_571_391_948_072));
    assert_eq!(e.src_ip, "81.2.69.144".parse().ok());
    assert_eq!(e.src_country.as_deref(), Some("FR"));
    assert_eq!(e.src_city.as_deref(), Some("Champs-Sur-Marne"));
    assert_eq!(e.app.as_deref(), Some("Office 365"));
    assert_eq!(e.result.as_deref(), Some("50140"));
    assert!(
        e.reason
            .as_deref()
            .unwrap()
            .contains("'Keep me signed in' interrupt")
    );
    assert_eq!(
        e.risk_level, None,
        "riskLevelDuringSignIn \"none\" is no verdict"
    );
    // Line 2's envelope names another correlationId than its properties; the sign-in's
    // own wins, and its additionalDetails is the more specific reason.
    let e = run.at_line(2);
    assert_eq!(
        e.session.as_deref(),
        Some("8a4de8b5-095c-47d0-a96f-a75130c61d53")
    );
    assert_eq!(e.reason.as_deref(), Some("MFA required"));
    assert_eq!(&*e.user, "c3813493-bf92-5123-2717-8a8b2979c38b");
}

#[test]
fn a_records_batch_yields_the_same_events() {
    let text = String::from_utf8(corpus(ELASTIC)).unwrap();
    let batch = format!("{{\"records\": [{}]}}", text.trim_end().replace('\n', ","));
    let plain = read(text.as_bytes());
    let batched = read(batch.as_bytes());
    assert!(batched.errors.is_empty(), "{:?}", batched.error_texts());
    assert_eq!(
        batched.events().cloned().collect::<Vec<_>>(),
        plain.events().cloned().collect::<Vec<_>>()
    );
    assert_eq!(batched.skips.len(), 3);
}

/// The fixture's first record turned into a strong-authentication failure or success:
/// synthetic, built from the documented schema.
pub fn mfa_row(code: u32, detail: &str, step_time: &str, id: &str) -> String {
    let text = String::from_utf8(corpus(ELASTIC)).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    v["resultType"] = code.to_string().into();
    v["properties"]["id"] = id.into();
    v["properties"]["status"] =
        serde_json::json!({ "errorCode": code, "additionalDetails": detail });
    v["properties"]["authenticationDetails"] = serde_json::json!([
        { "authenticationStepDateTime": "2019-10-18T09:45:40Z", "authenticationMethod": "Password",
          "succeeded": true, "authenticationStepResultDetail": "Correct password" },
        { "authenticationStepDateTime": step_time, "authenticationMethod": "Mobile app notification",
          "succeeded": code == 0, "authenticationStepResultDetail": detail }
    ]);
    v.to_string()
}

#[test]
fn a_push_flood_in_event_hub_rows_counts_each_prompt_once() {
    let declined = "MFA denied; user declined the authentication";
    let silent = "MFA denied; user did not respond to mobile app notification";
    let rows = [
        mfa_row(500121, declined, "2019-10-18T09:45:41Z", "r1"),
        // Entra's next row of the same flow repeats the step.
        mfa_row(500121, declined, "2019-10-18T09:45:41Z", "r2"),
        mfa_row(500121, silent, "2019-10-18T09:46:41Z", "r3"),
        mfa_row(500121, declined, "2019-10-18T09:47:41Z", "r4"),
        mfa_row(
            500121,
            "MFA denied; Phone App Reported Fraud",
            "2019-10-18T09:48:41Z",
            "r5",
        ),
        mfa_row(
            0,
            "MFA successfully completed",
            "2019-10-18T09:49:41Z",
            "r6",
        ),
    ]
    .join("\n");
    let run = read(rows.as_bytes());
    assert!(run.errors.is_empty(), "{:?}", run.error_texts());
    use EventKind::*;
    assert_eq!(
        run.kinds(),
        [
            PushDenied,
            PushTimeout,
            PushDenied,
            UserReportedFraud,
            MfaSuccess
        ]
    );
    assert_eq!(run.skips, [(2, Skip::RepeatedStep)]);
    assert!(run.events().all(|e| &*e.user == "test@elastic.co"));
    assert!(
        run.events()
            .all(|e| e.factor.as_deref() == Some("Mobile app notification"))
    );
}
