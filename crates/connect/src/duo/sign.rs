//! Duo's request signing, signature version 5 (the current default of Duo's own
//! client libraries), as the Admin API documents it:
//!
//! ```text
//! canonical = date            (RFC 2822, also sent as X-Duo-Date)
//!           \n METHOD          (upper case)
//!           \n host            (lower case)
//!           \n /path
//!           \n params          (sorted key=value pairs, RFC 3986 encoded, joined by &;
//!                               empty for a JSON body)
//!           \n hex(SHA-512(body))      (of "" when there is none)
//!           \n hex(SHA-512(x-duo headers))  (none are sent: SHA-512 of "")
//! Authorization: Basic base64(ikey ":" hex(HMAC-SHA512(skey, canonical)))
//! ```
//!
//! GET parameters go in the query string, encoded exactly as signed; POST parameters
//! go in a JSON body (keys sorted, no spaces), which the body hash covers.

use std::collections::BTreeMap;

use base64::Engine as _;
use ring::{digest, hmac};

use crate::query;

/// What to sign about one request.
#[derive(Debug)]
pub struct Request<'a> {
    /// RFC 2822, e.g. `Tue, 21 Aug 2012 17:29:18 +0000`.
    pub date: &'a str,
    pub method: &'a str,
    /// `api-xxxxxxxx.duosecurity.com` (with `:port` when not the default).
    pub host: &'a str,
    pub path: &'a str,
    /// Query parameters (GET) — empty for a JSON body.
    pub params: &'a [(&'a str, String)],
    /// The body as sent; empty for GET.
    pub body: &'a [u8],
}

/// The canonical string of `req` (see the module docs).
pub fn canonical(req: &Request<'_>) -> String {
    [
        req.date.to_owned(),
        req.method.to_ascii_uppercase(),
        req.host.to_ascii_lowercase(),
        req.path.to_owned(),
        canonical_params(req.params),
        hex::encode(digest::digest(&digest::SHA512, req.body)),
        hex::encode(digest::digest(&digest::SHA512, b"")),
    ]
    .join("\n")
}

/// The `Authorization` header value for `req`.
pub fn authorization(ikey: &str, skey: &[u8], req: &Request<'_>) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA512, skey);
    let sig = hex::encode(hmac::sign(&key, canonical(req).as_bytes()));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ikey}:{sig}"));
    format!("Basic {basic}")
}

/// Sorted by encoded key, then value; RFC 3986 encoding.
pub fn canonical_params(params: &[(&str, String)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (query::encode(k), query::encode(v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A JSON object of string fields, keys sorted, no spaces: Duo's canonical JSON body.
pub fn json_body(fields: &[(&str, &str)]) -> Vec<u8> {
    let map: BTreeMap<&str, &str> = fields.iter().copied().collect();
    // A map of strings always serialises.
    serde_json::to_vec(&map).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_string_has_seven_lines_in_order() {
        let params = [
            ("username", "jo smith".to_owned()),
            ("realname", "Jo".to_owned()),
        ];
        let req = Request {
            date: "Tue, 21 Aug 2012 17:29:18 +0000",
            method: "get",
            host: "API-XXXXXXXX.duosecurity.com",
            path: "/admin/v1/users",
            params: &params,
            body: b"",
        };
        let c = canonical(&req);
        let lines: Vec<&str> = c.split('\n').collect();
        assert_eq!(lines.len(), 7);
        assert_eq!(lines[1], "GET");
        assert_eq!(lines[2], "api-xxxxxxxx.duosecurity.com");
        assert_eq!(lines[4], "realname=Jo&username=jo%20smith");
        // SHA-512 of the empty string.
        assert!(lines[5].starts_with("cf83e1357eefb8bdf1542850d66d8007"));
        assert_eq!(lines[5], lines[6]);
    }

    #[test]
    fn the_authorization_is_basic_ikey_and_hmac_sha512_hex() {
        let req = Request {
            date: "d",
            method: "POST",
            host: "h",
            path: "/p",
            params: &[],
            body: &json_body(&[("status", "disabled"), ("a", "b")]),
        };
        assert_eq!(req.body, br#"{"a":"b","status":"disabled"}"#);
        let auth = authorization("DIKEY", b"skey", &req);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.strip_prefix("Basic ").expect("basic"))
            .expect("base64");
        let text = String::from_utf8(decoded).expect("utf-8");
        let (ikey, sig) = text.split_once(':').expect("ikey:sig");
        assert_eq!(ikey, "DIKEY");
        assert_eq!(sig.len(), 128, "hex of a 64-byte HMAC-SHA512");
        let key = hmac::Key::new(hmac::HMAC_SHA512, b"skey");
        let raw = hex::decode(sig).expect("hex");
        assert!(hmac::verify(&key, canonical(&req).as_bytes(), &raw).is_ok());
    }
}
