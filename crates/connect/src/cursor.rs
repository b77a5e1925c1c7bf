//! Pagination cursors from untrusted answers: Okta's `Link: <…>; rel="next"` header
//! (RFC 8288) and Graph's `@odata.nextLink`. A cursor is followed only when it stays
//! on the configured origin (scheme, host and port) and does not lead back to a page
//! already fetched in the same catch-up run.

use std::collections::VecDeque;

use reqwest::Url;

/// The target of the first `rel="next"` link in `Link` header values (each value may
/// hold several comma-separated links).
pub fn next_link<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    values.into_iter().find_map(|value| {
        split_links(value).into_iter().find_map(|link| {
            let (target, params) = parse_link(link)?;
            params
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("rel") && rel_has_next(v))
                .then(|| target.to_owned())
        })
    })
}

fn rel_has_next(value: &str) -> bool {
    value
        .split_ascii_whitespace()
        .any(|r| r.eq_ignore_ascii_case("next"))
}

/// Splits a header value on the commas between links (not those inside `<…>` or
/// quoted strings).
fn split_links(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut in_uri, mut in_quote, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' if !in_uri => in_quote = !in_quote,
            '<' if !in_quote => in_uri = true,
            '>' if !in_quote => in_uri = false,
            ',' if !in_uri && !in_quote => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// `<target>; k=v; k="v"` → target and parameters.
fn parse_link(link: &str) -> Option<(&str, Vec<(&str, &str)>)> {
    let link = link.trim();
    let rest = link.strip_prefix('<')?;
    let end = rest.find('>')?;
    let target = rest[..end].trim();
    let params = rest[end + 1..]
        .split(';')
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim(), v.trim().trim_matches('"')))
        })
        .collect();
    Some((target, params))
}

/// `link` resolved against `origin`, if it stays on the same scheme, host and port.
pub fn same_origin(origin: &Url, link: &str) -> Result<Url, String> {
    let url = origin
        .join(link)
        .map_err(|e| format!("the next link is not a URL ({e})"))?;
    if url.scheme() != origin.scheme()
        || url.host_str() != origin.host_str()
        || url.port_or_known_default() != origin.port_or_known_default()
    {
        return Err(format!(
            "the next link points to {}://{}, not the configured {}://{}",
            url.scheme(),
            url.host_str().unwrap_or("?"),
            origin.scheme(),
            origin.host_str().unwrap_or("?"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the next link carries credentials".into());
    }
    Ok(url)
}

/// The pages read in one catch-up run (a chain of next links), to refuse a next link
/// that leads back into the chain. A poll that does not continue the chain — a
/// restart, or a caller polling a page again because it could not store what came
/// after — starts a new run, so only the server's own links can make a loop.
#[derive(Debug, Default)]
pub(crate) struct Visited {
    read: VecDeque<String>,
    /// The next link handed out last: where a continuing poll starts.
    expected: Option<String>,
}

impl Visited {
    const KEEP: usize = 1000;

    /// A poll starts reading at `at`.
    pub(crate) fn begin(&mut self, at: &str) {
        if self.expected.as_deref() != Some(at) {
            self.read.clear();
        }
        self.expected = None;
    }

    /// The page at `current` points to `next`: an error if `next` was already read in
    /// this run (the page itself included).
    pub(crate) fn advance(&mut self, current: &str, next: &str) -> Result<(), String> {
        if !self.read.iter().any(|l| l == current) {
            if self.read.len() == Self::KEEP {
                self.read.pop_front();
            }
            self.read.push_back(current.to_owned());
        }
        if self.read.iter().any(|l| l == next) {
            return Err("the next link leads back to a page already read in this run".into());
        }
        self.expected = Some(next.to_owned());
        Ok(())
    }

    /// Caught up: the next run starts afresh.
    pub(crate) fn clear(&mut self) {
        self.read.clear();
        self.expected = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_several_in_one_or_more_headers() {
        let okta = [
            r#"<https://x.okta.com/api/v1/logs?since=2026-01-01T00%3A00%3A00Z>; rel="self""#,
            r#"<https://x.okta.com/api/v1/logs?after=1700000000000_1>; rel="next""#,
        ];
        assert_eq!(
            next_link(okta).as_deref(),
            Some("https://x.okta.com/api/v1/logs?after=1700000000000_1")
        );
        let combined =
            r#"<https://a/x?a=1,2>; rel="prev", <https://a/y>; title="a, b"; rel="last next""#;
        assert_eq!(next_link([combined]).as_deref(), Some("https://a/y"));
        assert_eq!(next_link([r#"<https://a/y>; rel="self""#]), None);
        assert_eq!(next_link(["garbage", "<unterminated; rel=next"]), None);
    }

    #[test]
    fn a_link_to_another_origin_is_refused() {
        let origin = Url::parse("https://x.okta.com").expect("url");
        assert!(same_origin(&origin, "https://x.okta.com/api/v1/logs?after=1").is_ok());
        assert!(same_origin(&origin, "/api/v1/logs?after=1").is_ok());
        for bad in [
            "https://evil.example/api/v1/logs",
            "http://x.okta.com/api/v1/logs",
            "https://x.okta.com:8443/api/v1/logs",
            "https://user:pw@x.okta.com/api/v1/logs",
        ] {
            assert!(same_origin(&origin, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_next_link_back_into_the_run_is_a_loop_but_a_page_polled_again_is_not() {
        let mut v = Visited::default();
        v.begin("a");
        assert!(v.advance("a", "b").is_ok());
        v.begin("b");
        assert!(v.advance("b", "c").is_ok());
        v.begin("c");
        assert!(v.advance("c", "a").is_err(), "back to the start");
        v.begin("c");
        assert!(v.advance("c", "c").is_err(), "to itself");

        // The caller could not store c's successor and polls c again: a new run.
        let mut v = Visited::default();
        v.begin("a");
        assert!(v.advance("a", "b").is_ok());
        v.begin("a");
        assert!(v.advance("a", "b").is_ok(), "a rewind is not a loop");
        v.clear();
        v.begin("b");
        assert!(v.advance("b", "a").is_ok(), "a new run after catching up");
    }
}
