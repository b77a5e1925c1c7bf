//! Durations as people write them in configuration and on the command line: `500ms`,
//! `10s`, `5m`, `2h`, `7d`.

use std::time::Duration;

/// A duration that does not parse, with the text that was given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a whole number followed by one of the units.
    #[error("bad duration {0:?}: use e.g. 500ms, 10s, 5m, 2h, 7d")]
    Malformed(String),
    /// More seconds than a `u64` holds.
    #[error("duration {0:?} is too long")]
    TooLong(String),
}

/// Parses a whole number and a unit (`ms`, `s`, `m`, `h`, `d`; none means seconds).
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let malformed = || DurationError::Malformed(s.to_owned());
    let n: u64 = num.parse().map_err(|_| {
        if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) {
            DurationError::TooLong(s.to_owned())
        } else {
            malformed()
        }
    })?;
    let secs = |per: u64| {
        n.checked_mul(per)
            .map(Duration::from_secs)
            .ok_or_else(|| DurationError::TooLong(s.to_owned()))
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => secs(1),
        "m" => secs(60),
        "h" => secs(3_600),
        "d" => secs(86_400),
        _ => Err(malformed()),
    }
}

/// Writes a duration back in the largest unit that divides it exactly.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    [(86_400, "d"), (3_600, "h"), (60, "m")]
        .into_iter()
        .find(|(per, _)| s != 0 && s.is_multiple_of(*per))
        .map_or_else(
            || format!("{s}s"),
            |(per, unit)| format!("{}{unit}", s / per),
        )
}

/// Serde for a `Duration` field written as text (`"24h"`).
pub mod text {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("500ms").ok(), Some(Duration::from_millis(500)));
        assert_eq!(parse("10").ok(), Some(Duration::from_secs(10)));
        assert_eq!(parse("5m").ok(), Some(Duration::from_secs(300)));
        assert_eq!(parse("2h").ok(), Some(Duration::from_secs(7_200)));
        assert_eq!(parse("7d").ok(), Some(Duration::from_secs(604_800)));
        assert!(matches!(parse("5w"), Err(DurationError::Malformed(_))));
        assert!(matches!(parse("m"), Err(DurationError::Malformed(_))));
        assert!(matches!(
            parse("99999999999999999999d"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            parse(&format!("{}d", u64::MAX)),
            Err(DurationError::TooLong(_))
        ));
    }

    #[test]
    fn formatting_picks_the_largest_exact_unit_and_parses_back() {
        for (d, text) in [
            (Duration::from_secs(86_400), "1d"),
            (Duration::from_secs(7_200), "2h"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(0), "0s"),
            (Duration::from_millis(1_500), "1500ms"),
        ] {
            assert_eq!(format(d), text);
            assert_eq!(parse(text), Ok(d));
        }
    }
}
