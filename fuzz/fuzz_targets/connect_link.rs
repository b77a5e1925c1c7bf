//! Pagination cursors from untrusted answers: the `Link` header parser and the
//! same-origin check never panic, and a link the check accepts stays on the origin.

#![no_main]

use libfuzzer_sys::fuzz_target;

use pushback_connect::{next_link, same_origin};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let origin = reqwest::Url::parse("https://example.okta.com").expect("a URL");
    let headers: Vec<&str> = text.split('\n').collect();
    if let Some(link) = next_link(headers.iter().copied()) {
        assert!(text.contains(link.as_str()), "the link comes from the header");
        if let Ok(url) = same_origin(&origin, &link) {
            assert_eq!(url.host_str(), Some("example.okta.com"));
            assert_eq!(url.scheme(), "https");
            assert_eq!(url.port_or_known_default(), Some(443));
        }
    }
});
