//! Okta System Log `LogEvent`s.
//!
//! | `eventType` | kind |
//! |---|---|
//! | `system.push.send_factor_verify_push` | `push_sent` (`mfa_blocked` if the outcome is DENY) |
//! | `system.sms.send_factor_verify_message`, `system.voice.send_mfa_challenge_call` | `otp_sent` (`mfa_blocked` if DENY: Okta's send limit) |
//! | `user.mfa.okta_verify.deny_push` (Classic) | `push_denied` |
//! | `user.authentication.auth_via_mfa` | by `debugContext.debugData`: `pushWithNumberChallengeResponseType=OV_WITH_CHALLENGE_RESPONSE_INVALID` → `number_challenge_failed`; `pushOnlyResponseType=OV_RESPONSE_DENY` → `push_denied`; SUCCESS → `mfa_success`; FAILURE with a push factor and reason `INVALID_CREDENTIALS` (how OIE writes a denied push) → `push_denied`; other FAILURE → `mfa_failure` |
//! | `user.authentication.sso`, `user.session.start`, `user.authentication.verify` | SUCCESS/ALLOW → `session_start`, else `other` |
//! | `user.account.report_suspicious_activity_by_enduser` | `user_reported_fraud` |
//! | `security.threat.detected`, `user.risk.detect` | `vendor_risk` |
//! | session clears/ends, locks, factor suspends and resets, `deny_push_upgrade_needed`, `user.risk.change` | `other` |
//! | anything else | skipped ([`Skip::NotRelevant`]) |
//!
//! **Skipping without parsing.** Most of the System Log is event types listed as
//! skipped above, and parsing a 1.5 KB record costs far more than finding its type. So
//! when a record holds the key `"eventType":` exactly once, written compactly (as Okta's
//! API, Log Streaming and exports write it) with a plain string value, and that value is
//! not one of the types above, the record is skipped as [`Skip::NotRelevant`] without
//! being parsed. Everything else (pretty-printed records, escapes in the value, the key
//! twice or not at all, Panther's `eventtype`) is parsed in full. One consequence: a
//! malformed record of a skipped type is counted as not relevant rather than unreadable.
//!
//! The user is `target[type=User]` when there is one (admin actions and system-actor
//! events name the affected user there), else the actor. Top-level keys are also read
//! in the lower case Panther stores them in (`eventtype`, `debugcontext`, …).

use std::sync::LazyLock;

use memchr::memmem::Finder;
use pushback_model::{AuthEvent, CompactString, EventKind, EventSource};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::{NormaliseError, Normalised, Skip};
use crate::address::parse_ip;
use crate::field::{Number, Text, contains_ignore_case};
use crate::timestamp::parse_datetime;

const PUSH_FACTOR: &str = "OKTA_VERIFY_PUSH";

/// One Okta System Log record to its event.
pub fn normalise(record: &[u8]) -> Result<Normalised, NormaliseError> {
    if quick_event_type(record).is_some_and(|t| !relevant(t)) {
        return Ok(Normalised::Skipped(Skip::NotRelevant));
    }
    // Checking UTF-8 once for the whole record is cheaper than once per string; serde
    // says where the record is broken when it is not.
    let e: LogEvent<'_> = match std::str::from_utf8(record) {
        Ok(text) => serde_json::from_str(text)?,
        Err(_) => serde_json::from_slice(record)?,
    };
    let event_type = e
        .event_type
        .get()
        .ok_or(NormaliseError::Missing("eventType"))?;
    let Some(kind) = classify(event_type, &e) else {
        return Ok(Normalised::Skipped(Skip::NotRelevant));
    };
    let id = e.uuid.get().ok_or(NormaliseError::Missing("uuid"))?;
    let published = e
        .published
        .get()
        .ok_or(NormaliseError::Missing("published"))?;
    let time = parse_datetime(published).ok_or_else(|| NormaliseError::bad_time(published))?;

    let (user, user_id) = match (&e.target.user, &e.actor) {
        (Some(t), _) if t.alternate_id.get().is_some() => (&t.alternate_id, &t.id),
        (_, Some(a)) => (&a.alternate_id, &a.id),
        (Some(t), None) => (&t.alternate_id, &t.id),
        (None, None) => return Err(NormaliseError::Missing("actor")),
    };
    let user = user.get().ok_or(NormaliseError::Missing("user"))?;

    let mut ev = AuthEvent::new(
        id,
        time,
        EventSource::Okta,
        kind,
        user,
        interned(event_type),
    );
    ev.user_id = user_id.owned();
    if let Some(ctx) = &e.authentication_context {
        ev.session = ctx.external_session_id.owned();
    }
    if let Some(client) = &e.client {
        ev.src_ip = client.ip_address.get().and_then(parse_ip);
        if let Some(geo) = &client.geographical_context {
            ev.src_country = geo.country.owned();
            ev.src_city = geo.city.owned();
        }
    }
    if let Some(sec) = &e.security_context {
        ev.asn = sec.as_number.0.and_then(|n| u32::try_from(n).ok());
    }
    let debug = e.debug_context.as_ref().and_then(|d| d.debug_data.as_ref());
    ev.factor = debug.and_then(|d| d.factor.owned()).or_else(|| {
        matches!(
            event_type,
            "system.push.send_factor_verify_push" | "user.mfa.okta_verify.deny_push"
        )
        .then(|| CompactString::const_new(PUSH_FACTOR))
    });
    if let Some(outcome) = &e.outcome {
        ev.result = outcome.result.owned();
        ev.reason = outcome.reason.owned();
    }
    if ev.reason.is_none() {
        ev.reason = debug.and_then(|d| {
            d.number_challenge_response
                .get()
                .filter(|v| *v != "OV_WITH_CHALLENGE_RESPONSE_NOT_APPLICABLE")
                .or(d.push_only_response.get())
                .map(CompactString::from)
        });
    }
    ev.app = e.target.app.as_ref().and_then(|a| a.display_name.owned());
    ev.risk_level = debug
        .and_then(|d| d.risk.get())
        .and_then(risk_level)
        .map(CompactString::from);
    Ok(Normalised::from_event(ev))
}

const EVENT_TYPE_KEY: &[u8] = br#""eventType":"#;

/// The value of the record's only compact `"eventType":` key, if it is a string without
/// escapes (see the module documentation). A key inside a JSON string cannot match: its
/// quotes would be escaped.
fn quick_event_type(record: &[u8]) -> Option<&[u8]> {
    static FINDER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(EVENT_TYPE_KEY));
    let finder = &*FINDER;
    let at = finder.find(record)?;
    let rest = &record[at + EVENT_TYPE_KEY.len()..];
    if finder.find(rest).is_some() {
        return None;
    }
    let value = rest.strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', value)?;
    (value[end] == b'"').then(|| &value[..end])
}

/// Writes [`relevant`] and [`interned`] from one list of event types.
macro_rules! mapped_event_types {
    ($($t:literal)|+) => {
        /// Whether an event type is one [`classify`] maps to an event (the rows of the
        /// table in the module documentation).
        fn relevant(event_type: &[u8]) -> bool {
            matches!(event_type, $($t)|+)
        }

        /// A mapped event type as a static string, so that the event's `vendor_event`
        /// needs no allocation; other types are copied.
        fn interned(event_type: &str) -> CompactString {
            match event_type.as_bytes() {
                $($t => CompactString::const_new(const {
                    match std::str::from_utf8($t) {
                        Ok(s) => s,
                        Err(_) => panic!("an event type is not UTF-8"),
                    }
                }),)+
                _ => CompactString::from(event_type),
            }
        }
    };
}

mapped_event_types!(
    b"system.push.send_factor_verify_push"
        | b"system.sms.send_factor_verify_message"
        | b"system.voice.send_mfa_challenge_call"
        | b"user.mfa.okta_verify.deny_push"
        | b"user.authentication.auth_via_mfa"
        | b"user.authentication.sso"
        | b"user.session.start"
        | b"user.authentication.verify"
        | b"user.account.report_suspicious_activity_by_enduser"
        | b"security.threat.detected"
        | b"user.risk.detect"
        | b"user.mfa.okta_verify.deny_push_upgrade_needed"
        | b"user.session.clear"
        | b"user.session.end"
        | b"user.session.expire"
        | b"user.session.context.change"
        | b"user.authentication.universal_logout"
        | b"user.account.lock"
        | b"user.account.lock.limit"
        | b"user.lifecycle.suspend"
        | b"user.mfa.factor.suspend"
        | b"user.mfa.factor.reset_all"
        | b"user.account.reset_password"
        | b"user.risk.change"
);

fn classify(event_type: &str, e: &LogEvent<'_>) -> Option<EventKind> {
    let result = e
        .outcome
        .as_ref()
        .and_then(|o| o.result.get())
        .unwrap_or("");
    let succeeded = matches!(result, "SUCCESS" | "ALLOW");
    let denied = result == "DENY";
    Some(match event_type {
        "system.push.send_factor_verify_push" if denied => EventKind::MfaBlocked,
        "system.push.send_factor_verify_push" => EventKind::PushSent,
        "system.sms.send_factor_verify_message" | "system.voice.send_mfa_challenge_call" => {
            if denied {
                EventKind::MfaBlocked
            } else {
                EventKind::OtpSent
            }
        }
        "user.mfa.okta_verify.deny_push" => EventKind::PushDenied,
        "user.authentication.auth_via_mfa" => classify_mfa(e, result),
        "user.authentication.sso" | "user.session.start" | "user.authentication.verify" => {
            if succeeded {
                EventKind::SessionStart
            } else {
                EventKind::Other
            }
        }
        "user.account.report_suspicious_activity_by_enduser" => EventKind::UserReportedFraud,
        "security.threat.detected" | "user.risk.detect" => EventKind::VendorRisk,
        "user.mfa.okta_verify.deny_push_upgrade_needed"
        | "user.session.clear"
        | "user.session.end"
        | "user.session.expire"
        | "user.session.context.change"
        | "user.authentication.universal_logout"
        | "user.account.lock"
        | "user.account.lock.limit"
        | "user.lifecycle.suspend"
        | "user.mfa.factor.suspend"
        | "user.mfa.factor.reset_all"
        | "user.account.reset_password"
        | "user.risk.change" => EventKind::Other,
        _ => return None,
    })
}

/// `user.authentication.auth_via_mfa`, Classic and OIE.
fn classify_mfa(e: &LogEvent<'_>, result: &str) -> EventKind {
    let debug = e.debug_context.as_ref().and_then(|d| d.debug_data.as_ref());
    let number = debug.and_then(|d| d.number_challenge_response.get());
    let push_only = debug.and_then(|d| d.push_only_response.get());
    let factor = debug.and_then(|d| d.factor.get());
    let reason = e
        .outcome
        .as_ref()
        .and_then(|o| o.reason.get())
        .unwrap_or("");

    if number == Some("OV_WITH_CHALLENGE_RESPONSE_INVALID") {
        return EventKind::NumberChallengeFailed;
    }
    if push_only == Some("OV_RESPONSE_DENY") {
        return EventKind::PushDenied;
    }
    match result {
        "SUCCESS" | "ALLOW" => EventKind::MfaSuccess,
        "FAILURE" | "DENY" => {
            let push = factor == Some(PUSH_FACTOR)
                || push_only.is_some()
                || number.is_some_and(|n| n != "OV_WITH_CHALLENGE_RESPONSE_NOT_APPLICABLE");
            if !push {
                EventKind::MfaFailure
            } else if reason == "INVALID_CREDENTIALS"
                || contains_ignore_case(reason, "reject")
                || contains_ignore_case(reason, "denied")
            {
                EventKind::PushDenied
            } else if contains_ignore_case(reason, "timeout")
                || contains_ignore_case(reason, "timed out")
                || contains_ignore_case(reason, "expired")
            {
                // Not documented by Okta; a push that expires unanswered, should one be
                // logged with such a reason, is a timeout rather than a failure.
                EventKind::PushTimeout
            } else {
                EventKind::MfaFailure
            }
        }
        _ => EventKind::Other,
    }
}

/// `HIGH` from a `debugData.risk` value such as `{reasons=New Device, level=HIGH}`.
fn risk_level(risk: &str) -> Option<&str> {
    let start = risk.find("level=")? + "level=".len();
    let rest = &risk[start..];
    let end = rest.find([',', '}', ' ']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|l| !l.is_empty())
}

#[derive(Deserialize)]
struct LogEvent<'a> {
    #[serde(borrow, default)]
    uuid: Text<'a>,
    #[serde(borrow, default)]
    published: Text<'a>,
    #[serde(borrow, default, rename = "eventType", alias = "eventtype")]
    event_type: Text<'a>,
    #[serde(borrow)]
    actor: Option<Principal<'a>>,
    #[serde(borrow, default)]
    target: Targets<'a>,
    #[serde(
        borrow,
        rename = "authenticationContext",
        alias = "authenticationcontext"
    )]
    authentication_context: Option<AuthenticationContext<'a>>,
    #[serde(borrow)]
    outcome: Option<Outcome<'a>>,
    #[serde(borrow)]
    client: Option<Client<'a>>,
    #[serde(rename = "securityContext", alias = "securitycontext")]
    security_context: Option<SecurityContext>,
    #[serde(borrow, rename = "debugContext", alias = "debugcontext")]
    debug_context: Option<DebugContext<'a>>,
}

#[derive(Deserialize)]
struct Principal<'a> {
    #[serde(borrow, default)]
    id: Text<'a>,
    #[serde(borrow, default, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow, default, rename = "alternateId")]
    alternate_id: Text<'a>,
    #[serde(borrow, default, rename = "displayName")]
    display_name: Text<'a>,
}

/// `target[]`, keeping only the first `User` and the first `AppInstance` so that no
/// vector is allocated per record.
#[derive(Default)]
struct Targets<'a> {
    user: Option<Principal<'a>>,
    app: Option<Principal<'a>>,
}

impl<'de: 'a, 'a> de::Deserialize<'de> for Targets<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TargetsVisitor(std::marker::PhantomData))
    }
}

struct TargetsVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for TargetsVisitor<'a> {
    type Value = Targets<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of targets")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Targets::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Targets::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Targets::default();
        while let Some(t) = seq.next_element::<Option<Principal<'a>>>()? {
            let Some(t) = t else { continue };
            match t.kind.get() {
                Some("User") if out.user.is_none() => out.user = Some(t),
                Some("AppInstance") if out.app.is_none() => out.app = Some(t),
                _ => {}
            }
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
struct AuthenticationContext<'a> {
    #[serde(borrow, default, rename = "externalSessionId")]
    external_session_id: Text<'a>,
}

#[derive(Deserialize)]
struct Outcome<'a> {
    #[serde(borrow, default)]
    result: Text<'a>,
    #[serde(borrow, default)]
    reason: Text<'a>,
}

#[derive(Deserialize)]
struct Client<'a> {
    #[serde(borrow, default, rename = "ipAddress")]
    ip_address: Text<'a>,
    #[serde(borrow, rename = "geographicalContext")]
    geographical_context: Option<Geo<'a>>,
}

#[derive(Deserialize)]
struct Geo<'a> {
    #[serde(borrow, default)]
    city: Text<'a>,
    #[serde(borrow, default)]
    country: Text<'a>,
}

#[derive(Deserialize)]
struct SecurityContext {
    #[serde(default, rename = "asNumber")]
    as_number: Number,
}

#[derive(Deserialize)]
struct DebugContext<'a> {
    #[serde(borrow, rename = "debugData")]
    debug_data: Option<DebugData<'a>>,
}

#[derive(Deserialize)]
struct DebugData<'a> {
    #[serde(borrow, default)]
    factor: Text<'a>,
    #[serde(borrow, default, rename = "pushOnlyResponseType")]
    push_only_response: Text<'a>,
    #[serde(borrow, default, rename = "pushWithNumberChallengeResponseType")]
    number_challenge_response: Text<'a>,
    #[serde(borrow, default)]
    risk: Text<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(json: &str) -> AuthEvent {
        match normalise(json.as_bytes()).expect("normalises") {
            Normalised::Events(e) => *e.event,
            Normalised::Skipped(s) => panic!("skipped: {s:?}"),
        }
    }

    const BASE: &str = r#""uuid":"u-1","published":"2024-03-18T12:00:00.000Z","actor":{"id":"00u1","type":"User","alternateId":"alice@example.com"},"client":{"ipAddress":"198.51.100.7","geographicalContext":{"city":"Lisbon","country":"Portugal"}},"securityContext":{"asNumber":64500},"authenticationContext":{"externalSessionId":"idx-s1"}"#;

    fn event(event_type: &str, outcome: &str, debug: &str) -> String {
        format!(
            r#"{{{BASE},"eventType":"{event_type}","outcome":{outcome},"debugContext":{{"debugData":{debug}}}}}"#
        )
    }

    #[test]
    fn oie_denied_push_by_response_type_and_by_reason() {
        let e = one(&event(
            "user.authentication.auth_via_mfa",
            r#"{"result":"FAILURE","reason":"INVALID_CREDENTIALS"}"#,
            r#"{"factor":"OKTA_VERIFY_PUSH","pushOnlyResponseType":"OV_RESPONSE_DENY"}"#,
        ));
        assert_eq!(e.kind, EventKind::PushDenied);
        assert_eq!(e.reason.as_deref(), Some("INVALID_CREDENTIALS"));
        let e = one(&event(
            "user.authentication.auth_via_mfa",
            r#"{"result":"FAILURE","reason":"INVALID_CREDENTIALS"}"#,
            r#"{"factor":"OKTA_VERIFY_PUSH"}"#,
        ));
        assert_eq!(e.kind, EventKind::PushDenied);
        // The same failure with a code factor is a wrong code, not a denied push.
        let e = one(&event(
            "user.authentication.auth_via_mfa",
            r#"{"result":"FAILURE","reason":"INVALID_CREDENTIALS"}"#,
            r#"{"factor":"SOFT_TOKEN"}"#,
        ));
        assert_eq!(e.kind, EventKind::MfaFailure);
    }

    #[test]
    fn number_challenge_outcomes() {
        let e = one(&event(
            "user.authentication.auth_via_mfa",
            r#"{"result":"FAILURE"}"#,
            r#"{"factor":"OKTA_VERIFY_PUSH","pushWithNumberChallengeResponseType":"OV_WITH_CHALLENGE_RESPONSE_INVALID"}"#,
        ));
        assert_eq!(e.kind, EventKind::NumberChallengeFailed);
        assert_eq!(
            e.reason.as_deref(),
            Some("OV_WITH_CHALLENGE_RESPONSE_INVALID")
        );
        let e = one(&event(
            "user.authentication.auth_via_mfa",
            r#"{"result":"SUCCESS"}"#,
            r#"{"factor":"OKTA_VERIFY_PUSH","pushWithNumberChallengeResponseType":"OV_WITH_CHALLENGE_RESPONSE_VALID"}"#,
        ));
        assert_eq!(e.kind, EventKind::MfaSuccess);
        assert_eq!(e.factor.as_deref(), Some("OKTA_VERIFY_PUSH"));
    }

    #[test]
    fn requester_side_fields() {
        let e = one(&event(
            "system.push.send_factor_verify_push",
            r#"{"result":"SUCCESS"}"#,
            r#"{"risk":"{reasons=Anomalous Location, New Device, level=HIGH}"}"#,
        ));
        assert_eq!(e.kind, EventKind::PushSent);
        assert_eq!(&*e.user, "alice@example.com");
        assert_eq!(e.user_id.as_deref(), Some("00u1"));
        assert_eq!(e.session.as_deref(), Some("idx-s1"));
        assert_eq!(e.src_ip, "198.51.100.7".parse().ok());
        assert_eq!(e.src_country.as_deref(), Some("Portugal"));
        assert_eq!(e.src_city.as_deref(), Some("Lisbon"));
        assert_eq!(e.asn, Some(64500));
        assert_eq!(e.factor.as_deref(), Some("OKTA_VERIFY_PUSH"));
        assert_eq!(e.risk_level.as_deref(), Some("HIGH"));
        assert_eq!(e.time.millis(), 1_710_763_200_000);
    }

    #[test]
    fn system_actor_takes_the_user_from_the_target() {
        let json = r#"{"uuid":"u-2","published":"2024-03-18T12:00:00Z","eventType":"system.push.send_factor_verify_push","actor":{"id":"0oa","type":"SystemPrincipal","alternateId":"system@okta.com"},"target":[{"id":"app1","type":"AppInstance","displayName":"Salesforce"},{"id":"00u9","type":"User","alternateId":"bob@example.com"}],"outcome":{"result":"SUCCESS"}}"#;
        let e = one(json);
        assert_eq!(&*e.user, "bob@example.com");
        assert_eq!(e.user_id.as_deref(), Some("00u9"));
        assert_eq!(e.app.as_deref(), Some("Salesforce"));
    }

    #[test]
    fn the_quick_skip_agrees_with_classify_for_every_documented_type() {
        let doc: serde_json::Value = serde_json::from_slice(include_bytes!(
            "../../tests/corpus/okta-developer-docs/mfa-relevant-event-types.json"
        ))
        .expect("corpus parses");
        let mut types: Vec<String> = doc["eventTypes"]
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect();
        assert!(types.len() > 20, "{} types", types.len());
        types.extend(["user.lifecycle.create", "policy.evaluate_sign_on"].map(String::from));
        let mut relevant_seen = 0;
        for t in &types {
            for outcome in ["SUCCESS", "FAILURE", "DENY"] {
                let json = event(t, &format!(r#"{{"result":"{outcome}"}}"#), "{}");
                let e: LogEvent<'_> = serde_json::from_str(&json).expect("parses");
                assert_eq!(
                    relevant(t.as_bytes()),
                    classify(t, &e).is_some(),
                    "{t} with {outcome}"
                );
                assert_eq!(quick_event_type(json.as_bytes()), Some(t.as_bytes()));
            }
            relevant_seen += usize::from(relevant(t.as_bytes()));
        }
        assert!(
            relevant_seen >= 10,
            "{relevant_seen} relevant types in the corpus"
        );
    }

    #[test]
    fn the_quick_skip_only_trusts_a_single_compact_plain_key() {
        let skip = |json: &str| quick_event_type(json.as_bytes()).map(|t| t.to_vec());
        assert_eq!(skip(r#"{"eventType":"a.b","x":1}"#), Some(b"a.b".to_vec()));
        assert_eq!(skip(r#"{"eventType" : "a.b"}"#), None);
        assert_eq!(skip(r#"{"eventType":"a\u002eb"}"#), None);
        assert_eq!(skip(r#"{"eventType":"a","t":[{"eventType":"b"}]}"#), None);
        assert_eq!(
            skip(r#"{"m":"say \"eventType\":\"x\"","eventtype":"y"}"#),
            None
        );
        // A relevant type behind a decoy is parsed in full and found.
        let json = r#"{"uuid":"u","published":"2024-03-18T12:00:00Z","actor":{"alternateId":"a"},"eventType":"user.mfa.okta_verify.deny_push","d":{"eventType":"policy.evaluate_sign_on"}}"#;
        assert!(matches!(
            normalise(json.as_bytes()),
            Ok(Normalised::Events(_))
        ));
    }

    #[test]
    fn unrelated_types_are_skipped_and_gaps_are_errors() {
        let skipped = normalise(event("user.lifecycle.create", "{}", "{}").as_bytes());
        assert!(matches!(
            skipped,
            Ok(Normalised::Skipped(Skip::NotRelevant))
        ));
        let no_time = r#"{"uuid":"u","eventType":"user.mfa.okta_verify.deny_push","actor":{"alternateId":"a"}}"#;
        assert!(matches!(
            normalise(no_time.as_bytes()),
            Err(NormaliseError::Missing("published"))
        ));
        let bad_time = r#"{"uuid":"u","published":"yesterday","eventType":"user.mfa.okta_verify.deny_push","actor":{"alternateId":"a"}}"#;
        assert!(matches!(
            normalise(bad_time.as_bytes()),
            Err(NormaliseError::BadTime(_))
        ));
        let wrong_type = r#"{"uuid":"u","published":"2024-03-18T12:00:00Z","eventType":"user.mfa.okta_verify.deny_push","actor":"alice"}"#;
        assert!(matches!(
            normalise(wrong_type.as_bytes()),
            Err(NormaliseError::Json(_))
        ));
    }
}
