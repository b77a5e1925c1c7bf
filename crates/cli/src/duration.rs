//! Durations on the command line: `500ms`, `10s`, `5m`, `2h`, `7d`.

use std::time::Duration;

use anyhow::{Context as _, bail};

/// Parses a whole number and a unit (`ms`, `s`, `m`, `h`, `d`; none means seconds).
pub fn parse(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().with_context(|| format!("bad duration {s:?}"))?;
    let secs = |per: u64| {
        n.checked_mul(per)
            .map(Duration::from_secs)
            .with_context(|| format!("duration {s:?} is too long"))
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => secs(1),
        "m" => secs(60),
        "h" => secs(3_600),
        "d" => secs(86_400),
        _ => bail!("bad duration {s:?}: use e.g. 500ms, 10s, 5m, 2h, 7d"),
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
        assert!(parse("5w").is_err());
        assert!(parse("m").is_err());
        assert!(parse("99999999999999999999d").is_err());
        assert!(parse(&format!("{}d", u64::MAX)).is_err());
    }
}
