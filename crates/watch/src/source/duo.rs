//! Duo Admin API v2 authentication log records (`/admin/v2/logs/authentication`; the
//! `{"response": {"authlogs": [...]}}` envelope is split by the reader).
//!
//! | `result` / `reason` | kind |
//! |---|---|
//! | `fraud`, or reason `user_marked_fraud` | `user_reported_fraud` |
//! | `success` with `remembered_device`, `trusted_network`, `trusted_location`, `bypass_user`, `allow_unenrolled_user`, `allowed_by_policy` (no second factor performed) | `session_start` |
//! | `success` otherwise (`user_approved`, `valid_passcode`, …) | `mfa_success` |
//! | `denied` with `user_mistake`, `user_declined` | `push_denied` |
//! | `denied` with `no_response`, `user_cancelled`, `timeout` | `push_timeout` |
//! | `denied` with `anomalous_push`, or a reason naming push harassment or push spray | `vendor_risk` (the reason is also a detection name) |
//! | `denied` with `invalid_passcode` or no reason; `error` | `mfa_failure` |
//! | `denied` with any other reason (`locked_out`, `denied_by_policy`, `deny_unenrolled_user`, `out_of_date`, endpoint checks, …) | `mfa_blocked` |
//! | `event_type` `enrollment`, or any other result | `other` |
//!
//! The requesting side is `access_device` and the answering phone `auth_device`, so a
//! rule can compare `src_country` with `answer_country`. Duo's risk verdicts
//! (`adaptive_trust_assessments.more_secure_auth` and `rbfs_triggered_attacks`) become
//! `risk_level` and `risk_detections`; a record with detections also yields a
//! `vendor_risk` twin.

use pushback_model::{AuthEvent, EventKind, EventSource};
use serde::Deserialize;

use super::{NormaliseError, Normalised};
use crate::address::parse_ip;
use crate::field::{Number, Text, TextList, contains_ignore_case, push_unique};
use crate::timestamp::{from_unix_secs, parse_datetime};

/// One Duo authentication log record to its event.
pub fn normalise(record: &[u8]) -> Result<Normalised, NormaliseError> {
    let r: AuthLog<'_> = serde_json::from_slice(record)?;
    let id = r.txid.get().ok_or(NormaliseError::Missing("txid"))?;
    let time = match (r.isotimestamp.get(), r.timestamp.0) {
        (Some(iso), _) => parse_datetime(iso).ok_or_else(|| NormaliseError::bad_time(iso))?,
        (None, Some(secs)) => {
            from_unix_secs(secs).ok_or_else(|| NormaliseError::bad_time(&secs.to_string()))?
        }
        (None, None) => return Err(NormaliseError::Missing("timestamp")),
    };
    let user = r
        .user
        .as_ref()
        .and_then(|u| u.name.get())
        .or(r.email.get())
        .ok_or(NormaliseError::Missing("user.name"))?;
    let event_type = r.event_type.get().unwrap_or("authentication");
    let reason = r.reason.get().unwrap_or("");
    let kind = classify(event_type, r.result.get().unwrap_or(""), reason);

    let mut ev = AuthEvent::new(id, time, EventSource::Duo, kind, user, event_type);
    ev.user_id = r.user.as_ref().and_then(|u| u.key.owned());
    if let Some(d) = &r.access_device {
        ev.src_ip = d.ip.get().and_then(parse_ip);
        if let Some(loc) = &d.location {
            ev.src_country = loc.country.owned();
            ev.src_city = loc.city.owned();
        }
    }
    if let Some(d) = &r.auth_device {
        ev.answer_ip = d.ip.get().and_then(parse_ip);
        ev.answer_country = d.location.as_ref().and_then(|l| l.country.owned());
    }
    ev.factor = r.factor.owned();
    ev.result = r.result.owned();
    ev.reason = r.reason.owned();
    ev.app = r.application.as_ref().and_then(|a| a.name.owned());

    let mut detections = Vec::new();
    if kind == EventKind::VendorRisk {
        push_unique(&mut detections, reason);
    }
    if let Some(secure) = r
        .assessments
        .as_ref()
        .and_then(|a| a.more_secure_auth.as_ref())
    {
        ev.risk_level = secure.trust_level.owned();
        for name in &secure.detectors.0 {
            push_unique(&mut detections, name);
        }
    }
    for attack in r.rbfs_triggered_attacks.iter().flatten().flatten() {
        if let Some(name) = attack.detector.get() {
            push_unique(&mut detections, name);
        }
    }
    ev.risk_detections = detections.into_boxed_slice();
    Ok(Normalised::from_event(ev))
}

fn classify(event_type: &str, result: &str, reason: &str) -> EventKind {
    if !event_type.eq_ignore_ascii_case("authentication") {
        return EventKind::Other;
    }
    if result.eq_ignore_ascii_case("fraud") || reason == "user_marked_fraud" {
        return EventKind::UserReportedFraud;
    }
    if result.eq_ignore_ascii_case("success") {
        return match reason {
            "remembered_device"
            | "trusted_network"
            | "trusted_location"
            | "bypass_user"
            | "allow_unenrolled_user"
            | "allowed_by_policy" => EventKind::SessionStart,
            _ => EventKind::MfaSuccess,
        };
    }
    if result.eq_ignore_ascii_case("denied") || result.eq_ignore_ascii_case("failure") {
        return match reason {
            "user_mistake" | "user_declined" => EventKind::PushDenied,
            "no_response" | "user_cancelled" | "timeout" => EventKind::PushTimeout,
            "anomalous_push" => EventKind::VendorRisk,
            r if contains_ignore_case(r, "harassment") || contains_ignore_case(r, "push_spray") => {
                EventKind::VendorRisk
            }
            "invalid_passcode" | "" => EventKind::MfaFailure,
            _ => EventKind::MfaBlocked,
        };
    }
    if result.eq_ignore_ascii_case("error") {
        return EventKind::MfaFailure;
    }
    EventKind::Other
}

#[derive(Deserialize)]
struct AuthLog<'a> {
    #[serde(borrow, default)]
    txid: Text<'a>,
    #[serde(default)]
    timestamp: Number,
    #[serde(borrow, default)]
    isotimestamp: Text<'a>,
    #[serde(borrow, default)]
    event_type: Text<'a>,
    #[serde(borrow, default)]
    factor: Text<'a>,
    #[serde(borrow, default)]
    result: Text<'a>,
    #[serde(borrow, default)]
    reason: Text<'a>,
    #[serde(borrow)]
    user: Option<User<'a>>,
    #[serde(borrow, default)]
    email: Text<'a>,
    #[serde(borrow)]
    application: Option<Application<'a>>,
    #[serde(borrow)]
    access_device: Option<Device<'a>>,
    #[serde(borrow)]
    auth_device: Option<Device<'a>>,
    #[serde(borrow, rename = "adaptive_trust_assessments")]
    assessments: Option<Assessments<'a>>,
    #[serde(borrow)]
    rbfs_triggered_attacks: Option<Vec<Option<Attack<'a>>>>,
}

#[derive(Deserialize)]
struct User<'a> {
    #[serde(borrow, default)]
    name: Text<'a>,
    #[serde(borrow, default)]
    key: Text<'a>,
}

#[derive(Deserialize)]
struct Application<'a> {
    #[serde(borrow, default)]
    name: Text<'a>,
}

#[derive(Deserialize)]
struct Device<'a> {
    #[serde(borrow, default)]
    ip: Text<'a>,
    #[serde(borrow)]
    location: Option<Location<'a>>,
}

#[derive(Deserialize)]
struct Location<'a> {
    #[serde(borrow, default)]
    city: Text<'a>,
    #[serde(borrow, default)]
    country: Text<'a>,
}

#[derive(Deserialize)]
struct Assessments<'a> {
    #[serde(borrow)]
    more_secure_auth: Option<Assessment<'a>>,
}

#[derive(Deserialize)]
struct Assessment<'a> {
    #[serde(borrow, default)]
    trust_level: Text<'a>,
    #[serde(default, rename = "detected_attack_detectors")]
    detectors: TextList,
}

#[derive(Deserialize)]
struct Attack<'a> {
    #[serde(borrow, default)]
    detector: Text<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(result: &str, reason: &str) -> EventKind {
        classify("authentication", result, reason)
    }

    #[test]
    fn result_and_reason_table() {
        assert_eq!(
            kind("fraud", "user_marked_fraud"),
            EventKind::UserReportedFraud
        );
        assert_eq!(kind("FRAUD", ""), EventKind::UserReportedFraud);
        assert_eq!(kind("success", "user_approved"), EventKind::MfaSuccess);
        assert_eq!(kind("SUCCESS", "valid_passcode"), EventKind::MfaSuccess);
        assert_eq!(kind("success", "bypass_user"), EventKind::SessionStart);
        assert_eq!(
            kind("success", "remembered_device"),
            EventKind::SessionStart
        );
        assert_eq!(kind("denied", "user_mistake"), EventKind::PushDenied);
        assert_eq!(kind("denied", "no_response"), EventKind::PushTimeout);
        assert_eq!(kind("denied", "user_cancelled"), EventKind::PushTimeout);
        assert_eq!(kind("denied", "anomalous_push"), EventKind::VendorRisk);
        assert_eq!(kind("denied", "invalid_passcode"), EventKind::MfaFailure);
        assert_eq!(kind("denied", "locked_out"), EventKind::MfaBlocked);
        assert_eq!(
            kind("denied", "deny_unenrolled_user"),
            EventKind::MfaBlocked
        );
        assert_eq!(kind("denied", "out_of_date"), EventKind::MfaBlocked);
        assert_eq!(kind("error", "error"), EventKind::MfaFailure);
        assert_eq!(kind("", ""), EventKind::Other);
        assert_eq!(classify("enrollment", "success", ""), EventKind::Other);
    }

    #[test]
    fn epoch_seconds_when_there_is_no_isotimestamp() {
        let json = r#"{"txid":"t1","timestamp":1627024774,"result":"denied","reason":"no_response","factor":"duo_push","user":{"name":"carol","key":"DU1"},"access_device":{"ip":"203.0.113.9:443","location":{"country":"Brazil"}},"auth_device":{"ip":"198.51.100.2","location":{"country":"Portugal"}}}"#;
        let Normalised::Events(e) = normalise(json.as_bytes()).expect("normalises") else {
            panic!("skipped");
        };
        let e = e.event;
        assert_eq!(e.time.millis(), 1_627_024_774_000);
        assert_eq!(e.kind, EventKind::PushTimeout);
        assert_eq!(e.src_ip, "203.0.113.9".parse().ok());
        assert_eq!(e.answer_ip, "198.51.100.2".parse().ok());
        assert_eq!(e.src_country.as_deref(), Some("Brazil"));
        assert_eq!(e.answer_country.as_deref(), Some("Portugal"));
        assert_eq!(e.user_id.as_deref(), Some("DU1"));
        assert_eq!(&*e.vendor_event, "authentication");
    }

    #[test]
    fn anomalous_push_names_itself_as_the_detection() {
        let json = r#"{"txid":"t2","timestamp":1627024774,"result":"denied","reason":"anomalous_push","user":{"name":"dave"}}"#;
        let Normalised::Events(e) = normalise(json.as_bytes()).expect("normalises") else {
            panic!("skipped");
        };
        assert_eq!(e.event.kind, EventKind::VendorRisk);
        assert_eq!(&*e.event.risk_detections, &[Box::from("anomalous_push")]);
        assert!(e.risk.is_none(), "a vendor_risk event has no twin");
    }
}
