//! Calendar days (`2026-09-30`) and instants (RFC 3339), strictly parsed.

use std::fmt;

use pushback_model::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar day, written `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(time::Date);

impl Day {
    /// Parses `YYYY-MM-DD`; `None` for anything else, including impossible dates.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if !(all_digits(y) && all_digits(m) && all_digits(d)) {
            return None;
        }
        let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
        time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?)
            .ok()
            .map(Self)
    }

    /// The UTC day `at` falls on.
    pub fn of(at: Timestamp) -> Self {
        let nanos = i128::from(at.millis()) * 1_000_000;
        let date = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map(|t| t.date())
            .unwrap_or(time::Date::MIN);
        Self(date)
    }

    /// Midnight UTC at the start of this day.
    pub fn start(self) -> Timestamp {
        let secs = self.0.midnight().assume_utc().unix_timestamp();
        Timestamp::from_millis(secs.saturating_mul(1000))
    }

    /// Whole days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Day) -> i64 {
        (later.0 - self.0).whole_days()
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = (self.0.year(), u8::from(self.0.month()), self.0.day());
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("malformed date `{text}`, expected YYYY-MM-DD"))
        })
    }
}

/// An instant written in RFC 3339 (`2026-04-12T09:14:03Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub Timestamp);

impl Instant {
    pub fn parse(s: &str) -> Option<Self> {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        let ms = t.unix_timestamp_nanos() / 1_000_000;
        Some(Self(Timestamp::from_millis(i64::try_from(ms).ok()?)))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Whole seconds read better in reports; sub-second input keeps its millis.
        let text = self.0.to_rfc3339();
        match text
            .strip_suffix(".0Z")
            .or_else(|| text.strip_suffix(".000Z"))
        {
            Some(head) => write!(f, "{head}Z"),
            None => f.write_str(&text),
        }
    }
}

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "malformed time `{text}`, expected RFC 3339 such as 2026-04-12T09:14:03Z"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_strictly() {
        assert_eq!(
            Day::parse("2026-09-30").map(|d| d.to_string()).as_deref(),
            Some("2026-09-30")
        );
        for bad in [
            "2026-9-30",
            "2026-02-30",
            "30/09/2026",
            "2026-09-30T00:00:00Z",
            "",
        ] {
            assert!(Day::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn instants_round_trip_and_days_compare() {
        let t = Instant::parse("2026-04-12T09:14:03Z").expect("parses");
        assert_eq!(t.to_string(), "2026-04-12T09:14:03Z");
        let day = Day::of(t.0);
        assert_eq!(day.to_string(), "2026-04-12");
        let later = Day::parse("2026-04-22").expect("day");
        assert_eq!(day.days_until(later), 10);
        assert!(Instant::parse("yesterday").is_none());
    }
}
