//! [`AuthEvent`]: one MFA-relevant moment, normalised from whichever identity provider
//! logged it. This is the log source that pushback's detection rules are written against
//! (Sigma: `product: pushback`, `category: mfa`), so its field names are a stable
//! interface: they are added to, never renamed.
//!
//! # Fields
//!
//! | field | type | meaning | Okta System Log | Entra ID sign-in | Duo v2 authentication log |
//! |---|---|---|---|---|---|
//! | `id` | string | the vendor's id of the record | `uuid` | `id` (`Id`) | `txid` |
//! | `time` | integer, ms since the Unix epoch, UTC | when it happened | `published` | `createdDateTime` (`CreatedDateTime`, `TimeGenerated`, envelope `time`) | `isotimestamp`, else `timestamp` (s) |
//! | `source` | `okta` \| `entra` \| `duo` \| `pushback` | who logged it | | | |
//! | `kind` | [`EventKind`] | what happened, see below | | | |
//! | `user` | string | the login name, as logged (case kept) | `target[type=User].alternateId`, else `actor.alternateId` | `userPrincipalName` | `user.name`, else `email` |
//! | `user_id` | string? | the vendor's immutable user id | the same object's `id` | `userId` | `user.key` |
//! | `session` | string? | what ties the steps of one sign-in together | `authenticationContext.externalSessionId` | `correlationId` | — (Duo has none; `txid` is one transaction) |
//! | `src_ip` | IP? | the requesting side: the browser or client that asked for the login | `client.ipAddress` | `ipAddress` | `access_device.ip` (ports and odd separators removed) |
//! | `src_country` | string? | country of `src_ip`, as the vendor names it | `client.geographicalContext.country` | `location.countryOrRegion` | `access_device.location.country` |
//! | `src_city` | string? | city of `src_ip` | `client.geographicalContext.city` | `location.city` | `access_device.location.city` |
//! | `asn` | integer? | autonomous system of `src_ip` | `securityContext.asNumber` | `autonomousSystemNumber` | — |
//! | `answer_ip` | IP? | the device that answered the prompt (the phone) | — | — | `auth_device.ip` |
//! | `answer_country` | string? | country of the answering device | — | — | `auth_device.location.country` |
//! | `factor` | string? | the second factor, raw vendor value | `debugContext.debugData.factor` (`OKTA_VERIFY_PUSH`, implied for push sends and classic denies) | the deciding `authenticationDetails[].authenticationMethod` | `factor` (`duo_push`, …) |
//! | `result` | string? | the vendor's outcome, raw | `outcome.result` | error code (`status.errorCode`, `ResultType`) | `result` |
//! | `reason` | string? | the vendor's reason or detail, raw | `outcome.reason`, else the push / number-challenge response type | the deciding step's result detail, else `status.additionalDetails`, `failureReason`, `ResultDescription` | `reason` |
//! | `app` | string? | the application signed in to | `target[type=AppInstance].displayName` | `appDisplayName` | `application.name` |
//! | `vendor_event` | string | the vendor's event type or log category | `eventType` | `category` (or `signIn`) | `event_type` |
//! | `risk_level` | string? | the vendor's risk verdict | `level=` inside `debugData.risk` | `riskLevelDuringSignIn` (not `none`) | `adaptive_trust_assessments.more_secure_auth.trust_level` |
//! | `risk_detections` | list of strings | names of the vendor's detections that fired | — | `riskEventTypes_v2` | `…more_secure_auth.detected_attack_detectors` and `rbfs_triggered_attacks[].detector` |
//!
//! Fields marked `?` are absent (not serialised) when the log does not carry them;
//! `risk_detections` is omitted when empty.
//!
//! # Kinds
//!
//! See [`EventKind`] for what each vendor record maps to. A record whose vendor named
//! detections (`risk_detections` not empty) on an event of another kind is reported a
//! second time as a `vendor_risk` event with the same `id`, so a rule can count
//! approvals and react to vendor detections without knowing which vendor fires which.

use std::net::IpAddr;

pub use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Which system logged the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    Okta,
    Entra,
    Duo,
    /// pushback's own guard.
    Pushback,
}

impl EventSource {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Okta => "okta",
            Self::Entra => "entra",
            Self::Duo => "duo",
            Self::Pushback => "pushback",
        }
    }
}

impl std::fmt::Display for EventSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened. The set is closed on purpose: a rule can list every kind it cares
/// about. The vendor detail stays in `result`, `reason` and `factor`.
///
/// There is no separate "push approved" or "number challenge passed": an approved push,
/// with or without a correct number, is an `mfa_success` whose `factor` names the push
/// (`OKTA_VERIFY_PUSH`, `duo_push`, `Mobile app notification`), so that a
/// flood-then-success rule needs one kind, not three.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A push prompt was sent to the user's device. Okta
    /// `system.push.send_factor_verify_push`. (Entra and Duo log outcomes, not sends.)
    PushSent,
    /// A one-time code was sent by SMS, voice call or e-mail. Okta
    /// `system.sms.send_factor_verify_message`, `system.voice.send_mfa_challenge_call`.
    OtpSent,
    /// The user rejected an out-of-band prompt. Okta `user.mfa.okta_verify.deny_push`
    /// (Classic) and `user.authentication.auth_via_mfa` FAILURE with
    /// `pushOnlyResponseType=OV_RESPONSE_DENY`, or with a push factor and reason
    /// `INVALID_CREDENTIALS` (OIE); Entra 500121 "declined" / "denied"; Duo `denied`
    /// with `user_mistake` or `user_declined`.
    PushDenied,
    /// A prompt ended without an answer. Entra 500121 "did not respond" / "timed out";
    /// Duo `denied` with `no_response`, `user_cancelled` or `timeout`.
    PushTimeout,
    /// MFA succeeded with a factor the user performed (an approved push, a correct code).
    /// Okta `auth_via_mfa` SUCCESS; Entra result 0 with a multi-factor step that
    /// succeeded; Duo `success` with `user_approved`, `valid_passcode`, ….
    MfaSuccess,
    /// A second factor failed for a reason other than a denied or unanswered push: a
    /// wrong code, an error, or a failure the log does not explain. Okta `auth_via_mfa`
    /// FAILURE with another factor; Entra 500121 without a recognised detail, 50158;
    /// Duo `invalid_passcode`, `error`.
    MfaFailure,
    /// The vendor refused the attempt without asking the user: locked out, denied by
    /// policy, unenrolled user, telephony cap. Duo `locked_out`, `denied_by_policy`,
    /// `deny_unenrolled_user`, …; Entra 50088, 53004.
    MfaBlocked,
    /// A sign-in completed without a new second factor being performed here. Okta
    /// `user.authentication.sso`, `user.session.start`, `user.authentication.verify`
    /// with SUCCESS; Entra result 0 without an MFA step (or satisfied by a token); Duo
    /// `success` by `remembered_device`, `trusted_network`, `bypass_user`, ….
    SessionStart,
    /// The user said the prompt was not theirs. Okta
    /// `user.account.report_suspicious_activity_by_enduser`; Entra 500121 "Fraud Code
    /// Entered" / "Phone App Reported Fraud"; Duo `fraud` / `user_marked_fraud`.
    UserReportedFraud,
    /// The user picked the wrong number in a number challenge. Okta
    /// `pushWithNumberChallengeResponseType=OV_WITH_CHALLENGE_RESPONSE_INVALID`.
    NumberChallengeFailed,
    /// The vendor's own risk engine flagged the sign-in. Okta `security.threat.detected`,
    /// `user.risk.detect`; Duo `anomalous_push`; and the second event of any record that
    /// names detections (see the module documentation).
    VendorRisk,
    /// A record of a related type whose outcome names none of the kinds above (Entra
    /// interrupts such as 50074 or 50140, Okta session clears and locks, Duo
    /// enrollments). Kept so rules can match on `vendor_event`, `result`, `reason`.
    Other,
}

impl EventKind {
    pub const ALL: [EventKind; 12] = [
        Self::PushSent,
        Self::OtpSent,
        Self::PushDenied,
        Self::PushTimeout,
        Self::MfaSuccess,
        Self::MfaFailure,
        Self::MfaBlocked,
        Self::SessionStart,
        Self::UserReportedFraud,
        Self::NumberChallengeFailed,
        Self::VendorRisk,
        Self::Other,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PushSent => "push_sent",
            Self::OtpSent => "otp_sent",
            Self::PushDenied => "push_denied",
            Self::PushTimeout => "push_timeout",
            Self::MfaSuccess => "mfa_success",
            Self::MfaFailure => "mfa_failure",
            Self::MfaBlocked => "mfa_blocked",
            Self::SessionStart => "session_start",
            Self::UserReportedFraud => "user_reported_fraud",
            Self::NumberChallengeFailed => "number_challenge_failed",
            Self::VendorRisk => "vendor_risk",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One normalised MFA event. The module documentation has the field table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthEvent {
    pub id: CompactString,
    pub time: Timestamp,
    pub source: EventSource,
    pub kind: EventKind,
    pub user: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_country: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_city: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_country: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<CompactString>,
    pub vendor_event: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_level: Option<CompactString>,
    #[serde(default, skip_serializing_if = "<[_]>::is_empty")]
    pub risk_detections: Box<[Box<str>]>,
}

impl AuthEvent {
    /// An event with the required fields and nothing else, for sources to fill in.
    pub fn new(
        id: impl Into<CompactString>,
        time: Timestamp,
        source: EventSource,
        kind: EventKind,
        user: impl Into<CompactString>,
        vendor_event: impl Into<CompactString>,
    ) -> Self {
        Self {
            id: id.into(),
            time,
            source,
            kind,
            user: user.into(),
            user_id: None,
            session: None,
            src_ip: None,
            src_country: None,
            src_city: None,
            asn: None,
            answer_ip: None,
            answer_country: None,
            factor: None,
            result: None,
            reason: None,
            app: None,
            vendor_event: vendor_event.into(),
            risk_level: None,
            risk_detections: Box::default(),
        }
    }

    /// The `vendor_risk` twin of an event that names vendor detections, or `None` when
    /// it names none or is itself a `vendor_risk` event.
    pub fn risk_twin(&self) -> Option<AuthEvent> {
        if self.risk_detections.is_empty() || self.kind == EventKind::VendorRisk {
            return None;
        }
        let mut twin = self.clone();
        twin.kind = EventKind::VendorRisk;
        Some(twin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialise_as_their_documented_names_and_parse_back() {
        for kind in EventKind::ALL {
            let json = serde_json::to_string(&kind).expect("kind serialises");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("push_approved"), None);
    }

    #[test]
    fn absent_fields_are_left_out_and_present_ones_round_trip() {
        let mut e = AuthEvent::new(
            "u1",
            Timestamp::from_millis(1_700_000_000_000),
            EventSource::Duo,
            EventKind::PushDenied,
            "alice",
            "authentication",
        );
        let bare = serde_json::to_string(&e).expect("serialises");
        assert_eq!(
            bare,
            r#"{"id":"u1","time":1700000000000,"source":"duo","kind":"push_denied","user":"alice","vendor_event":"authentication"}"#
        );
        e.src_ip = Some("2a02:cf40::1".parse().expect("ip"));
        e.asn = Some(701);
        e.risk_detections = vec![Box::from("NOVEL_ASN")].into_boxed_slice();
        let json = serde_json::to_string(&e).expect("serialises");
        assert!(json.contains(r#""src_ip":"2a02:cf40::1""#), "{json}");
        assert!(
            json.contains(r#""risk_detections":["NOVEL_ASN"]"#),
            "{json}"
        );
        let back: AuthEvent = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, e);
    }

    #[test]
    fn only_events_naming_detections_have_a_risk_twin() {
        let mut e = AuthEvent::new(
            "t",
            Timestamp::from_millis(0),
            EventSource::Duo,
            EventKind::MfaSuccess,
            "bob",
            "authentication",
        );
        assert!(e.risk_twin().is_none());
        e.risk_detections = vec![Box::from("NOVEL_ASN")].into_boxed_slice();
        let twin = e.risk_twin().expect("twin");
        assert_eq!(twin.kind, EventKind::VendorRisk);
        assert_eq!(twin.id, e.id);
        assert!(twin.risk_twin().is_none());
    }
}
