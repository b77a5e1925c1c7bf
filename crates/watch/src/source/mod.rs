//! One normaliser per identity provider: a record's bytes in, an [`AuthEvent`] (or a
//! reasoned skip) out.
//!
//! Each normaliser deserialises into borrowed structs that name only the fields it uses
//! (serde skips the rest without allocating), so the one allocation per record is the
//! final event. [`Normaliser`] picks the right one for a [`Format`] and holds the little
//! state one needs (Entra's [`flow::FlowSteps`]); [`detect`] guesses the format from a
//! record's keys.

pub mod duo;
pub mod entra;
pub mod flow;
pub mod okta;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use pushback_model::AuthEvent;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use flow::FlowSteps;

/// The log a record comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Okta System Log `LogEvent`s (`/api/v1/logs`, Log Streaming, exports).
    Okta,
    /// Microsoft Entra ID sign-in logs: Graph, Log Analytics or Event Hub encoding.
    Entra,
    /// Duo Admin API v2 authentication log records.
    Duo,
}

impl Format {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Okta => "okta",
            Self::Entra => "entra",
            Self::Duo => "duo",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not `okta`, `entra` or `duo`.
#[derive(Debug, thiserror::Error)]
#[error("unknown log format {0:?} (expected okta, entra or duo)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "okta" => Ok(Self::Okta),
            "entra" | "azure" | "azuread" | "aad" => Ok(Self::Entra),
            "duo" => Ok(Self::Duo),
            _ => Err(UnknownFormat(s.to_owned())),
        }
    }
}

/// Why a well-formed record produced no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Skip {
    /// An event type that says nothing about MFA or sign-in (most of the Okta System Log).
    NotRelevant,
    /// A sign-in by a service principal or managed identity, not a person.
    NotAUser,
    /// The same MFA step already seen in an earlier row of the same Entra sign-in flow.
    RepeatedStep,
}

/// What one record turned into.
// The events are boxed: an event is a few hundred bytes and most records of a real log
// are skips, so an unboxed outcome made every record, skip or not, that large to move
// from normaliser to engine (10% of a one-thread run on a generated Okta log went to
// those copies). The engine keeps the boxes as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Normalised {
    /// One event, and its `vendor_risk` twin when the vendor named detections.
    Events(Events),
    Skipped(Skip),
}

impl Normalised {
    /// Wraps `event`, adding its `vendor_risk` twin if it has one.
    pub fn from_event(event: AuthEvent) -> Self {
        let risk = event.risk_twin().map(Box::new);
        Self::Events(Events {
            event: Box::new(event),
            risk,
        })
    }

    /// The events, in order (none for a skip).
    pub fn events(&self) -> impl Iterator<Item = &AuthEvent> {
        let (a, b) = match self {
            Self::Events(e) => (Some(&*e.event), e.risk.as_deref()),
            Self::Skipped(_) => (None, None),
        };
        a.into_iter().chain(b)
    }

    /// The events by value, in order (none for a skip).
    pub fn into_events(self) -> impl Iterator<Item = Box<AuthEvent>> {
        let (a, b) = match self {
            Self::Events(Events { event, risk }) => (Some(event), risk),
            Self::Skipped(_) => (None, None),
        };
        a.into_iter().chain(b)
    }
}

/// The event a record produced, and its `vendor_risk` twin (see
/// [`pushback_model::event`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Events {
    pub event: Box<AuthEvent>,
    pub risk: Option<Box<AuthEvent>>,
}

impl IntoIterator for Events {
    type Item = Box<AuthEvent>;
    type IntoIter = std::iter::Chain<
        std::option::IntoIter<Box<AuthEvent>>,
        std::option::IntoIter<Box<AuthEvent>>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        Some(self.event).into_iter().chain(self.risk)
    }
}

/// Why a record could not be normalised.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NormaliseError {
    /// Not JSON, not UTF-8, or a field of the wrong type; serde's message says where.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A field every event needs (id, time, user) is missing or empty.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The time field holds something that is not a date-time.
    #[error("unreadable time {0:?}")]
    BadTime(String),
    /// The record looks like none of the formats (only when the format is guessed).
    #[error("not an Okta, Entra or Duo record")]
    UnknownFormat,
}

impl NormaliseError {
    /// A `BadTime` error quoting at most 40 characters of the value.
    pub(crate) fn bad_time(raw: &str) -> Self {
        Self::BadTime(raw.chars().take(40).collect())
    }
}

/// Settings for normalising.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormaliseSettings {
    /// Entra steps remembered to count each MFA step once per flow (see [`FlowSteps`]).
    pub entra_flow_steps: usize,
}

impl Default for NormaliseSettings {
    fn default() -> Self {
        Self {
            entra_flow_steps: FlowSteps::DEFAULT_CAPACITY,
        }
    }
}

/// Normalises records of one format.
#[derive(Debug)]
pub struct Normaliser {
    format: Format,
    flows: FlowSteps,
}

impl Normaliser {
    pub fn new(format: Format, settings: &NormaliseSettings) -> Self {
        Self {
            format,
            flows: FlowSteps::new(settings.entra_flow_steps),
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// One record (a JSON object's bytes) to its events.
    pub fn normalise(&mut self, record: &[u8]) -> Result<Normalised, NormaliseError> {
        match self.format {
            Format::Okta => okta::normalise(record),
            Format::Entra => entra::normalise(record, &mut self.flows),
            Format::Duo => duo::normalise(record),
        }
    }
}

/// The format a record looks like, judged by its top-level keys: Okta's `eventType`
/// (`eventtype` in Panther's lower-cased copies), Duo's `txid` and device objects,
/// Entra's sign-in and envelope fields in any of their three spellings.
pub fn detect(record: &[u8]) -> Option<Format> {
    serde_json::from_slice::<KeyProbe>(record).ok()?.0
}

struct KeyProbe(Option<Format>);

impl<'de> de::Deserialize<'de> for KeyProbe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(KeyProbeVisitor)
    }
}

struct KeyProbeVisitor;

impl<'de> Visitor<'de> for KeyProbeVisitor {
    type Value = KeyProbe;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut okta, mut duo, mut entra) = (false, false, false);
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            map.next_value::<IgnoredAny>()?;
            match &*key {
                "eventType" | "eventtype" => okta = true,
                "txid" | "access_device" | "auth_device" => duo = true,
                "userPrincipalName" | "UserPrincipalName" | "correlationId" | "CorrelationId"
                | "createdDateTime" | "TimeGenerated" | "resultType" | "ResultType"
                | "appDisplayName" | "AppDisplayName" => entra = true,
                _ => {}
            }
        }
        Ok(KeyProbe(if okta {
            Some(Format::Okta)
        } else if duo {
            Some(Format::Duo)
        } else if entra {
            Some(Format::Entra)
        } else {
            None
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_keys() {
        assert_eq!(
            detect(br#"{"uuid":"u","eventType":"x"}"#),
            Some(Format::Okta)
        );
        assert_eq!(detect(br#"{"eventtype":"x"}"#), Some(Format::Okta));
        assert_eq!(detect(br#"{"txid":"t","user":{}}"#), Some(Format::Duo));
        assert_eq!(
            detect(br#"{"properties":{},"resultType":"0"}"#),
            Some(Format::Entra)
        );
        assert_eq!(
            detect(br#"{"UserPrincipalName":"a@b"}"#),
            Some(Format::Entra)
        );
        assert_eq!(detect(br#"{"a":1}"#), None);
        assert_eq!(detect(br#"[1]"#), None);
        assert_eq!(detect(b"{\"eventType\":"), None);
    }

    #[test]
    fn format_names() {
        for f in [Format::Okta, Format::Entra, Format::Duo] {
            assert_eq!(f.as_str().parse::<Format>().ok(), Some(f));
        }
        assert_eq!("AzureAD".parse::<Format>().ok(), Some(Format::Entra));
        assert!("splunk".parse::<Format>().is_err());
    }
}
