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

/// The links followed in one catch-up run, to refuse one that comes round again.
#[derive(Debug, Default)]
pub(crate) struct Visited(VecDeque<String>);

impl Visited {
    const KEEP: usize = 1000;

    /// Records `link`; an error if it was already followed in this run.
    pub(crate) fn follow(&mut self, link: &str) -> Result<(), String> {
        if self.0.iter().any(|l| l == link) {
            return Err("the next link leads back to a page already read in this run".into());
        }
        if self.0.len() == Self::KEEP {
            self.0.pop_front();
        }
        self.0.push_back(link.to_owned());
        Ok(())
    }

    /// Caught up: the next run starts afresh.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
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
    fn a_link_followed_twice_in_one_run_is_a_loop() {
        let mut v = Visited::default();
        assert!(v.follow("a").is_ok());
        assert!(v.follow("b").is_ok());
        assert!(v.follow("a").is_err());
        v.clear();
        assert!(v.follow("a").is_ok());
    }
}
