//! Vendor timestamps to [`Timestamp`] without allocating: RFC 3339 as Okta, Entra and
//! Duo write it, fractions of any length (Entra writes 7 digits), and two lenient forms
//! seen in exports: a space instead of `T`, and no zone (taken as UTC).

use pushback_model::Timestamp;

/// Milliseconds since the epoch for `s`, or `None` if it is not a date-time this module
/// reads. Sub-millisecond digits are truncated.
pub(crate) fn parse_datetime(s: &str) -> Option<Timestamp> {
    let b = s.trim().as_bytes();
    let mut p = Cursor { b, i: 0 };
    let year = p.digits(4)?;
    p.expect(b'-')?;
    let month = p.digits(2)?;
    p.expect(b'-')?;
    let day = p.digits(2)?;
    match p.next()? {
        b'T' | b't' | b' ' => {}
        _ => return None,
    }
    let hour = p.digits(2)?;
    p.expect(b':')?;
    let minute = p.digits(2)?;
    p.expect(b':')?;
    let second = p.digits(2)?;
    let mut millis = 0;
    if p.peek() == Some(b'.') || p.peek() == Some(b',') {
        p.i += 1;
        let start = p.i;
        while p.peek().is_some_and(|c| c.is_ascii_digit()) {
            p.i += 1;
        }
        let frac = &b[start..p.i];
        if frac.is_empty() {
            return None;
        }
        for k in 0..3 {
            millis = millis * 10 + frac.get(k).map_or(0, |d| i64::from(d - b'0'));
        }
    }
    let offset_secs = match p.next() {
        None => 0,
        Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let h = p.digits(2)?;
            if p.peek() == Some(b':') {
                p.i += 1;
            }
            let m = p.digits(2)?;
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if sign == b'+' { secs } else { -secs }
        }
        Some(_) => return None,
    };
    if p.i != b.len() {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_secs;
    Some(Timestamp::from_millis(secs * 1000 + millis))
}

/// Milliseconds for a Unix time in seconds, if it is in a plausible range (years
/// 1970–9999).
pub(crate) fn from_unix_secs(secs: i64) -> Option<Timestamp> {
    (0..=253_402_300_799)
        .contains(&secs)
        .then(|| Timestamp::from_millis(secs * 1000))
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn digits(&mut self, n: usize) -> Option<i64> {
        let mut v = 0i64;
        for _ in 0..n {
            let c = self.next()?;
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Option<i64> {
        parse_datetime(s).map(Timestamp::millis)
    }

    #[test]
    fn vendor_forms() {
        // Duo isotimestamp; its `timestamp` field says 1627024854.
        assert_eq!(
            ms("2021-07-23T07:20:54.700050+00:00"),
            Some(1_627_024_854_700)
        );
        // Entra: 7 fraction digits and an offset, equal to the envelope's `time`.
        assert_eq!(
            ms("2019-10-18T04:45:48.0729893-05:00"),
            ms("2019-10-18T09:45:48.0729893Z")
        );
        assert_eq!(ms("2019-10-18T09:45:48.0729893Z"), Some(1_571_391_948_072));
        assert_eq!(ms("2023-11-14T22:13:20.123Z"), Some(1_700_000_000_123));
        assert_eq!(ms("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        // Panther's lower-cased Okta export: a space and no zone.
        assert_eq!(
            ms("2022-12-14 15:58:58.851"),
            ms("2022-12-14T15:58:58.851Z")
        );
        assert_eq!(ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(ms("1969-12-31T23:59:59Z"), Some(-1000));
        assert_eq!(ms("2024-02-29T00:00:00+0100"), Some(1_709_161_200_000));
    }

    #[test]
    fn rejects_what_is_not_a_date_time() {
        for bad in [
            "",
            "2021-07-23",
            "2021-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2021-07-23T24:00:00Z",
            "2021-07-23T07:20:54.Z",
            "2021-07-23T07:20:54Zjunk",
            "2021-07-23T07:20:54+25:00",
            "1627024854",
            "２０２１-07-23T07:20:54Z",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unix_seconds_in_range_only() {
        assert_eq!(
            from_unix_secs(1_627_024_854),
            Some(Timestamp::from_millis(1_627_024_854_000))
        );
        assert_eq!(from_unix_secs(-1), None);
        assert_eq!(from_unix_secs(i64::MAX), None);
    }
}
